//! The built tools the test suites run, where the repository's build scripts put them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `$APPFLOW_HELM_BIN`, or the helm `hack/helm/build.sh` builds into `<repo>/.cache/helm/bin`;
/// panics with what to run when it is not there.
pub fn helm_bin() -> PathBuf {
    let path = std::env::var_os("APPFLOW_HELM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/helm/bin/helm"));
    assert!(
        path.is_file(),
        "helm not found at {}: run hack/helm/build.sh (or set APPFLOW_HELM_BIN)",
        path.display()
    );
    path
}

/// The directory of the release pipeline's tools (actionlint, cosign, crane, krew), built by
/// `hack/release/tools/build.sh` when they are missing or stale (instant when they are not), so
/// a fresh clone's `cargo test` runs the tests that need them (given Go and the module proxy).
pub fn release_tools_dir() -> PathBuf {
    built_by("hack/release/tools/build.sh")
}

/// What an idempotent build script under hack/ prints on stdout (a path); panics naming the
/// script when it fails. Its progress goes to the test's stderr.
fn built_by(script: &str) -> PathBuf {
    let path = repo().join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !printed.is_empty(),
        "{} failed ({})",
        path.display(),
        out.status
    );
    PathBuf::from(printed)
}
