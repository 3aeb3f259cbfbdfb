//! API versions on the real control plane: objects the previous release stored as `v1alpha1`
//! are served as `v1beta1` once this release's CRDs are applied, `v1alpha1` answers with a
//! deprecation warning, and `migrate` rewrites them in the storage version and trims both
//! CRDs' `status.storedVersions` (docs/design.md, "Versioning").

use std::process::{Command, Output};

use serde_json::Value;

use super::cluster::{ACCOUNT_CRD, BIN, CRD, Cluster, REPO};

/// The previous release's CRDs (v1alpha1 only), as it installed them.
const PREVIOUS_CRDS: &str = "tests/fixtures/release-0.1.0/crds.yaml";

const CONNECTOR_INFO_V1ALPHA1: &str = "apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: crm, namespace: legacy}
spec: {connectorType: CustomConnector, connectorLabel: acme-crm, refreshInterval: 1h}
";

const ACCOUNT_V1ALPHA1: &str = "apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: AppFlowAccount
metadata: {name: legacy-team}
spec: {namespaces: [legacy], useOperatorIdentity: true}
";

fn migrate(cluster: &Cluster) -> Output {
    Command::new(BIN)
        .args(["migrate", "--kubeconfig"])
        .arg(cluster.control_plane.kubeconfig())
        .output()
        .expect("run migrate")
}

/// The object as `version` serves it (fully qualified: kubectl's discovery cache may still
/// name the version it saw before the CRDs changed).
fn get_as(cluster: &Cluster, version: &str) -> Output {
    let resource = format!("connectorinfos.{version}.appflow.connectorinfo.dev");
    cluster.kubectl(&["get", &resource, "crm", "-n", "legacy", "-o", "json"])
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("object json")
}

fn stored_versions(cluster: &Cluster, crd: &str) -> Vec<String> {
    let text = cluster.kubectl_ok(&["get", "crd", crd, "-o", "json"]);
    let crd: Value = serde_json::from_str(&text).expect("crd json");
    crd["status"]["storedVersions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const CRDS: [&str; 2] = [
    "connectorinfos.appflow.connectorinfo.dev",
    "appflowaccounts.appflow.connectorinfo.dev",
];

#[test]
fn objects_stored_by_the_previous_release_migrate_to_v1beta1() {
    let cluster = Cluster::start_without_crd();
    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{REPO}/{PREVIOUS_CRDS}"),
    ]);
    cluster.wait_crd_served();
    cluster.create_namespace("legacy");
    for manifest in [CONNECTOR_INFO_V1ALPHA1, ACCOUNT_V1ALPHA1] {
        let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], manifest);
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
    for crd in CRDS {
        assert_eq!(stored_versions(&cluster, crd), ["v1alpha1"]);
    }

    // Before this release's CRDs are in, migrate refuses and changes nothing.
    let refused = migrate(&cluster);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stores v1alpha1, not v1beta1"), "{stderr}");

    for crd in [CRD, ACCOUNT_CRD] {
        cluster.kubectl_ok(&["apply", "--server-side", "-f", &format!("{REPO}/{crd}")]);
    }
    cluster.wait_crd_served();
    for crd in CRDS {
        assert_eq!(stored_versions(&cluster, crd), ["v1alpha1", "v1beta1"]);
    }
    // The stored object is served in the new version, and the old one warns.
    let beta = json(&get_as(&cluster, "v1beta1"));
    assert_eq!(beta["apiVersion"], "appflow.connectorinfo.dev/v1beta1");
    assert_eq!(beta["spec"]["connectorLabel"], "acme-crm");
    let old = get_as(&cluster, "v1alpha1");
    assert_eq!(json(&old)["spec"], beta["spec"]);
    let warning = String::from_utf8_lossy(&old.stderr);
    assert!(
        warning.contains("appflow.connectorinfo.dev/v1alpha1 ConnectorInfo is deprecated; use appflow.connectorinfo.dev/v1beta1"),
        "{warning}"
    );
    let resource_version = beta["metadata"]["resourceVersion"].clone();

    let migrated = migrate(&cluster);
    let stdout = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    eprintln!("{stdout}");
    assert!(stdout.contains(
        "connectorinfos.appflow.connectorinfo.dev: 1 objects rewritten in v1beta1; storedVersions [v1alpha1, v1beta1] -> [v1beta1]"
    ), "{stdout}");
    assert!(
        stdout.contains("appflowaccounts.appflow.connectorinfo.dev: 1 objects rewritten"),
        "{stdout}"
    );
    for crd in CRDS {
        assert_eq!(stored_versions(&cluster, crd), ["v1beta1"]);
    }
    let after = json(&get_as(&cluster, "v1beta1"));
    assert_ne!(
        after["metadata"]["resourceVersion"], resource_version,
        "written again"
    );
    assert_eq!(after["spec"], beta["spec"]);
    assert_eq!(
        after["metadata"]["generation"], beta["metadata"]["generation"],
        "not a spec change"
    );

    // Idempotent.
    let again = migrate(&cluster);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("storedVersions [v1beta1] -> [v1beta1]")
    );
}
