//! The compat tier: what the operator needs of the API server, on the Kubernetes version the
//! control plane was built for (`KUBERNETES_VERSION`, default 1.37; `make compat` runs it on
//! 1.33, 1.35 and 1.37). One cluster, every dependency once: CRD install (server-side apply)
//! and CEL admission, the initial list (streaming or paged, as the server offers), server-side
//! apply status writes, leader election, Events, secure metrics (TokenReview and
//! SubjectAccessReview), an AppFlowAccount binding, and a new object Ready soon after the API
//! server restarts, once and three times in a row.

use std::time::{Duration, Instant};

use conninfo_core::crd::{ConnectorType, LABEL_REQUIRED_MESSAGE};
use conninfo_test_support::builders::connector_info;
use serde_json::Value;

use super::cluster::{Cluster, condition};
use super::metrics_auth::{https_client, scrape, scrapers};

const NAMESPACE: &str = "compat";

/// A new object must be Ready this soon after the API server answers again.
const BACK_WITHIN: Duration = Duration::from_secs(15);

const BINDING: &str = "apiVersion: appflow.connectorinfo.dev/v1beta1
kind: AppFlowAccount
metadata: {name: compat-team}
spec: {namespaces: [compat], useOperatorIdentity: true}
";

/// The API server's version, as `kubectl version` reports it (`v1.37.2`).
fn server_version(cluster: &Cluster) -> String {
    let text = cluster.kubectl_ok(&["version", "-o", "json"]);
    let version: Value = serde_json::from_str(&text).expect("version json");
    version["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Restarts the API server `times` in a row, then times a new object to Ready.
fn ready_after_restarts(cluster: &mut Cluster, times: usize, name: &str) -> Duration {
    for _ in 0..times {
        cluster
            .control_plane
            .restart_apiserver()
            .expect("API server back");
    }
    let back = Instant::now();
    cluster.apply(
        NAMESPACE,
        &connector_info(name, ConnectorType::Zendesk).manifest(),
    );
    cluster.wait_ready(NAMESPACE, name);
    back.elapsed()
}

#[test]
fn the_operator_works_on_this_kubernetes_version() {
    let mut cluster = Cluster::start();
    let version = server_version(&cluster);
    eprintln!("compat: kube-apiserver {version}");
    if let Ok(minor) = std::env::var("KUBERNETES_VERSION") {
        assert!(
            version.starts_with(&format!("v{minor}.")),
            "{version}, asked for {minor}"
        );
    }
    cluster.create_namespace(NAMESPACE);

    // CEL admission: the CRD's rule refuses a custom connector without a label.
    let refused = cluster.kubectl_stdin(
        &["apply", "-n", NAMESPACE, "-f", "-"],
        &connector_info("unlabelled", ConnectorType::CustomConnector).manifest(),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(LABEL_REQUIRED_MESSAGE));

    let (reader, stranger) = scrapers(&cluster);
    let applied = cluster.kubectl_stdin(&["apply", "-f", "-"], BINDING);
    assert!(applied.status.success(), "{applied:?}");
    cluster.start_operator(&[
        "--metrics-secure=true",
        "--leader-elect",
        "--leader-election-namespace",
        NAMESPACE,
    ]);
    cluster.apply(
        NAMESPACE,
        &connector_info("chat", ConnectorType::Slack).manifest(),
    );
    cluster.wait_ready(NAMESPACE, "chat");

    // The status came by server-side apply under the operator's field manager, from the
    // binding, with its Event.
    let text = cluster.kubectl_ok(&[
        "get",
        "conninfo",
        "chat",
        "-n",
        NAMESPACE,
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let chat: Value = serde_json::from_str(&text).expect("object json");
    assert_eq!(chat["status"]["accountBinding"], "compat-team");
    assert_eq!(condition(&chat, "Synced")["reason"], "Described");
    let managers: Vec<&str> = chat["metadata"]["managedFields"]
        .as_array()
        .map(|f| f.iter().filter_map(|m| m["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        managers.contains(&"appflow-connector-operator"),
        "{managers:?}"
    );
    cluster.eventually("the Described Event", || {
        cluster
            .kubectl_ok(&["events", "-n", NAMESPACE, "--for", "conninfo/chat"])
            .contains("Described")
    });
    cluster.eventually("the binding Ready", || {
        let text = cluster.kubectl_ok(&["get", "afaccount", "compat-team", "-o", "json"]);
        let binding: Value = serde_json::from_str(&text).unwrap_or_default();
        condition(&binding, "Ready")["status"] == "True"
    });
    // Leader election: the operator holds its Lease.
    let leases = cluster.kubectl_ok(&["get", "lease", "-n", NAMESPACE, "-o", "json"]);
    assert!(leases.contains("holderIdentity"), "{leases}");

    // Secure metrics: TokenReview and SubjectAccessReview decide.
    let port = cluster.secure_metrics_port.expect("the HTTPS metrics port");
    let url = format!("https://127.0.0.1:{port}/metrics");
    let agent = https_client(None);
    assert_eq!(scrape(&agent, &url, Some(&reader)).0, 200);
    assert_eq!(scrape(&agent, &url, Some(&stranger)).0, 403);

    // Back soon after restarts, however many in a row.
    let once = ready_after_restarts(&mut cluster, 1, "after-one-restart");
    let thrice = ready_after_restarts(&mut cluster, 3, "after-three-restarts");
    eprintln!(
        "compat {version}: a new object Ready {once:.1?} after one API-server restart, \
         {thrice:.1?} after three in a row"
    );
    assert!(
        once <= BACK_WITHIN && thrice <= BACK_WITHIN,
        "{once:?}, {thrice:?}"
    );
    let log = cluster.operator_log();
    assert!(
        log.contains("initial lists of ConnectorInfos"),
        "the list mode is logged:\n{log}"
    );
}
