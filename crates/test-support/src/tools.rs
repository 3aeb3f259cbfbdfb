//! The built tools the test suites run, where the repository's build scripts put them.

use std::path::{Path, PathBuf};

/// `$APPFLOW_HELM_BIN`, or the helm `hack/helm/build.sh` builds into `<repo>/.cache/helm/bin`;
/// panics with what to run when it is not there.
pub fn helm_bin() -> PathBuf {
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let path = std::env::var_os("APPFLOW_HELM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".cache/helm/bin/helm"));
    assert!(
        path.is_file(),
        "helm not found at {}: run hack/helm/build.sh (or set APPFLOW_HELM_BIN)",
        path.display()
    );
    path
}
