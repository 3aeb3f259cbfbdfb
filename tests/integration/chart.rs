//! The chart's files against their sources, with no cluster: its CRD copies (`files/crds/`)
//! are `crds/` byte for byte, `deploy/manifests/` is what hack/render-manifests.sh renders
//! now, the CRDs the chart renders are `crds/` plus only the chart's metadata, its Artifact
//! Hub metadata names the real CRDs, samples and image, and the release's chart package pins
//! the image by digest. helm is the one hack/helm/build.sh builds (`make tools`).

use std::path::Path;
use std::process::Command;

use conninfo_test_support::tools::helm_bin;
use serde::Deserialize;
use serde_json::{Value, json};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = "charts/appflow-connector-operator";
const CRD_FILES: [&str; 2] = [
    "appflowaccounts.appflow.connectorinfo.dev.yaml",
    "connectorinfos.appflow.connectorinfo.dev.yaml",
];
const IMAGE: &str = "ghcr.io/appflow-connector-operator/appflow-connector-operator";

/// helm with its own directories and no cluster; its stdout.
fn helm(args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("helm home");
    let output = Command::new(helm_bin())
        .args(args)
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .env("KUBECONFIG", home.path().join("no-cluster"))
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|value| !value.is_null())
        .collect()
}

fn yaml_file(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(REPO).join(path)).expect(path);
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn chart_crds(extra: &[&str]) -> Vec<Value> {
    let chart = format!("{REPO}/{CHART}");
    let mut args = vec![
        "template",
        "appflow",
        &chart,
        "--namespace",
        "appflow-system",
    ];
    args.extend(extra);
    documents(&helm(&args))
        .into_iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect()
}

#[test]
fn chart_crds_are_identical_to_crds() {
    for file in CRD_FILES {
        let root = std::fs::read(format!("{REPO}/crds/{file}")).expect("root CRD");
        let copy = std::fs::read(format!("{REPO}/{CHART}/files/crds/{file}")).expect("chart CRD");
        assert!(
            root == copy,
            "{CHART}/files/crds/{file} differs from crds/{file}: run hack/render-manifests.sh"
        );
    }
    let mut in_chart: Vec<String> = std::fs::read_dir(format!("{REPO}/{CHART}/files/crds"))
        .expect("files/crds")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    in_chart.sort();
    assert_eq!(in_chart, CRD_FILES, "files/crds holds exactly the two CRDs");
    // A crds/ directory would make Helm install the CRDs its own way too, and never upgrade them.
    assert!(!Path::new(REPO).join(CHART).join("crds").exists());
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn deploy_manifests_are_in_sync_with_the_chart() {
    let out = tempfile::tempdir().expect("tempdir");
    let status = Command::new("bash")
        .arg(format!("{REPO}/hack/render-manifests.sh"))
        .arg(out.path())
        .env("APPFLOW_HELM_BIN", helm_bin())
        .status()
        .expect("run hack/render-manifests.sh");
    assert!(status.success(), "hack/render-manifests.sh failed");
    let committed = Path::new(REPO).join("deploy/manifests");
    assert_eq!(
        listing(&committed),
        listing(out.path()),
        "deploy/manifests/ has other files than hack/render-manifests.sh writes"
    );
    for name in listing(out.path()) {
        let want = std::fs::read_to_string(out.path().join(&name)).expect("rendered");
        let have = std::fs::read_to_string(committed.join(&name)).expect("committed");
        assert!(
            want == have,
            "deploy/manifests/{name} is out of date: run hack/render-manifests.sh"
        );
    }
    // The plain manifests carry the CRDs of crds/ as they are, once: not the chart's.
    let manifest_crd = std::fs::read_to_string(committed.join("crd.yaml")).expect("crd.yaml");
    for file in CRD_FILES {
        let crd = std::fs::read_to_string(format!("{REPO}/crds/{file}")).expect("CRD");
        assert!(
            manifest_crd.contains(&crd),
            "deploy/manifests/crd.yaml: {file}"
        );
    }
    let operator = std::fs::read_to_string(committed.join("operator.yaml")).expect("operator");
    assert!(!operator.contains("kind: CustomResourceDefinition"));
}

#[test]
fn the_chart_renders_the_crds_of_crds_with_only_its_metadata_added() {
    let rendered = chart_crds(&[]);
    assert_eq!(rendered.len(), 2, "{rendered:#?}");
    for file in CRD_FILES {
        let name = file.trim_end_matches(".yaml");
        let crd = rendered
            .iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} not rendered"));
        let labels = &crd["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/component"], "crd", "{name}");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm", "{name}");
        assert_eq!(labels["app.kubernetes.io/instance"], "appflow", "{name}");
        assert_eq!(
            crd["metadata"]["annotations"],
            json!({"helm.sh/resource-policy": "keep"}),
            "{name}: uninstall must never delete the CRDs (crds.keep)"
        );
        let mut bare = crd.clone();
        let metadata = bare["metadata"].as_object_mut().expect("metadata");
        metadata.remove("labels");
        metadata.remove("annotations");
        assert_eq!(bare, yaml_file(&format!("crds/{file}")), "{name}");
    }
    for crd in chart_crds(&["--set", "crds.keep=false"]) {
        assert!(crd["metadata"].get("annotations").is_none(), "{crd:#}");
    }
    assert!(chart_crds(&["--set", "crds.install=false"]).is_empty());
}

#[test]
fn without_a_cluster_the_chart_renders_no_adoption_hook() {
    // The hook is rendered only when `lookup` finds a CRD no release owns (e2e::helm).
    let chart = format!("{REPO}/{CHART}");
    let rendered = documents(&helm(&["template", "appflow", &chart]));
    assert!(
        rendered.iter().all(|o| !o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .ends_with("-crd-adopt")),
        "{rendered:#?}"
    );
}

/// A YAML list kept in a Chart.yaml annotation.
fn annotation(chart: &Value, key: &str) -> Value {
    let text = chart["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("Chart.yaml has no annotation {key}"));
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The version a CRD file stores.
fn storage_version(crd: &Value) -> String {
    crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .expect("a storage version")
        .to_owned()
}

#[test]
fn artifact_hub_metadata_names_the_crds_their_samples_and_the_image() {
    let chart = yaml_file(&format!("{CHART}/Chart.yaml"));
    assert_eq!(chart["kubeVersion"], ">=1.33.0-0 <1.38.0-0");
    let crds = annotation(&chart, "artifacthub.io/crds");
    let examples = annotation(&chart, "artifacthub.io/crdsExamples");
    let samples: Vec<Value> = [
        "deploy/samples/oauth2-salesforce.yaml",
        "deploy/samples/accounts/teams.yaml",
    ]
    .iter()
    .flat_map(|path| documents(&std::fs::read_to_string(Path::new(REPO).join(path)).expect(path)))
    .collect();
    for file in CRD_FILES {
        let crd = yaml_file(&format!("crds/{file}"));
        let kind = &crd["spec"]["names"]["kind"];
        let entry = crds
            .as_array()
            .and_then(|list| list.iter().find(|c| c["kind"] == *kind))
            .unwrap_or_else(|| panic!("artifacthub.io/crds lacks {kind}"));
        assert_eq!(entry["name"], crd["metadata"]["name"]);
        assert_eq!(entry["version"], storage_version(&crd).as_str());
        assert!(entry["description"].as_str().is_some_and(|d| d.len() > 40));
        let example = examples
            .as_array()
            .and_then(|list| list.iter().find(|e| e["kind"] == *kind))
            .unwrap_or_else(|| panic!("artifacthub.io/crdsExamples lacks {kind}"));
        assert!(
            samples.contains(example),
            "{kind}'s example is not a sample: {example:#}"
        );
        assert_eq!(
            example["apiVersion"],
            format!("appflow.connectorinfo.dev/{}", storage_version(&crd)),
        );
    }
    // The image the chart installs by default; the release adds its digest (below).
    let values = yaml_file(&format!("{CHART}/values.yaml"));
    assert_eq!(values["image"]["repository"], IMAGE);
    let app_version = chart["appVersion"].as_str().expect("appVersion");
    let images = annotation(&chart, "artifacthub.io/images");
    assert_eq!(images[0]["image"], format!("{IMAGE}:{app_version}"));
    assert_eq!(
        images[0]["platforms"],
        json!(["linux/amd64", "linux/arm64"])
    );
    let kinds = [
        "added",
        "changed",
        "deprecated",
        "removed",
        "fixed",
        "security",
    ];
    for change in annotation(&chart, "artifacthub.io/changes")
        .as_array()
        .expect("changes")
    {
        assert!(
            kinds.contains(&change["kind"].as_str().unwrap_or_default()),
            "{change}"
        );
        assert!(change["description"].is_string(), "{change}");
    }
    // Artifact Hub refuses a sign key without a URL.
    let sign_key = annotation(&chart, "artifacthub.io/signKey");
    assert!(
        sign_key["url"]
            .as_str()
            .is_some_and(|u| u.contains("docs/releasing.md"))
    );
}

#[test]
fn the_release_package_pins_the_image_by_digest() {
    let out = tempfile::tempdir().expect("tempdir");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let run = |digest: &str| {
        Command::new(Path::new(REPO).join("hack/release/package-chart.sh"))
            .arg(out.path())
            .arg(digest)
            .env("APPFLOW_HELM_BIN", helm_bin())
            .output()
            .expect("package-chart.sh")
    };
    let packaged = run(&digest);
    assert!(
        packaged.status.success(),
        "{}",
        String::from_utf8_lossy(&packaged.stderr)
    );
    let archive = String::from_utf8(packaged.stdout).expect("utf-8");
    let archive = archive.trim();
    let chart: Value = serde_yaml_ng::from_str(&helm(&["show", "chart", archive])).expect("chart");
    let app_version = chart["appVersion"].as_str().expect("appVersion");
    assert_eq!(
        annotation(&chart, "artifacthub.io/images")[0]["image"],
        format!("{IMAGE}:{app_version}@{digest}")
    );
    // The package carries the CRDs as files the templates read, and no crds/ directory.
    let listing = Command::new("tar")
        .args(["-tzf", archive])
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in CRD_FILES {
        assert!(listing.contains(&format!("appflow-connector-operator/files/crds/{file}")));
    }
    assert!(
        !listing.contains("appflow-connector-operator/crds/"),
        "{listing}"
    );
    // The work tree's chart is left as it is.
    let tree = yaml_file(&format!("{CHART}/Chart.yaml"));
    assert_eq!(
        annotation(&tree, "artifacthub.io/images")[0]["image"],
        format!("{IMAGE}:{app_version}")
    );
    assert!(!run("latest").status.success(), "a tag is not a digest");
}
