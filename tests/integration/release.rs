//! The release's metadata agrees everywhere: the binary's `--version`, the image tag (the
//! crate's version: hack/image/build.sh tags the index with it), the chart's `appVersion` and
//! default image, and the GitHub workflows pass actionlint. The pipeline itself (both
//! architectures, the image index, the registry, signatures, SBOMs, krew) runs in `make static`
//! and in `e2e::node`, which installs from it.

use std::path::Path;
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const IMAGE: &str = "ghcr.io/appflow-connector-operator/appflow-connector-operator";

fn chart_file(name: &str) -> serde_yaml_ng::Value {
    let path = Path::new(REPO)
        .join("charts/appflow-connector-operator")
        .join(name);
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("chart file"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_charts_app_version_is_the_crate_version_the_image_is_tagged_with() {
    let chart = chart_file("Chart.yaml");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "Chart.yaml's appVersion and the crate's version (the image tag) drifted apart"
    );
}

#[test]
fn the_chart_installs_the_released_image_by_default() {
    let values = chart_file("values.yaml");
    assert_eq!(values["image"]["repository"].as_str(), Some(IMAGE));
    let workflow = std::fs::read_to_string(Path::new(REPO).join(".github/workflows/release.yml"))
        .expect("release.yml");
    // release.yml pushes to ghcr.io/<owner>/appflow-connector-operator, <owner> being the
    // GitHub organisation IMAGE names.
    assert!(
        workflow
            .contains("IMAGE: ghcr.io/${{ github.repository_owner }}/appflow-connector-operator"),
        "release.yml pushes somewhere else than the chart pulls from"
    );
}

#[test]
fn version_names_the_release_the_commit_and_the_build_date() {
    let out = Command::new(env!("CARGO_BIN_EXE_appflow-connector-operator"))
        .arg("--version")
        .output()
        .expect("--version");
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).expect("utf-8");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(REPO)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let prefix = format!(
        "appflow-connector-operator {} (commit {head}, built ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        line.starts_with(&prefix),
        "{line:?} should start with {prefix:?}"
    );
    let date = line[prefix.len()..].trim_end().trim_end_matches(')');
    date.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("build date {date:?}: {e}"));
}

#[test]
fn the_github_workflows_and_the_ci_example_pass_actionlint() {
    let actionlint = conninfo_test_support::tools::release_tools_dir().join("actionlint");
    let out = Command::new(&actionlint)
        .args([
            ".github/workflows/ci.yml",
            ".github/workflows/release.yml",
            // The example users copy into their repositories is a workflow too.
            "deploy/ci/github-actions.yaml",
        ])
        .current_dir(REPO)
        .output()
        .expect("actionlint");
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
