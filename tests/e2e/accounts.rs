//! Multi-account access on the real control plane: AppFlowAccount bindings choose the AWS
//! account per namespace (the emulator's STS hands out per-account credentials), never a
//! tenant; unbound namespaces under `deny`, roles that cannot be assumed, conflicts, rotating
//! credentials and the bindings' own status.

use std::time::{Duration, Instant};

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::{self, AppFlowAccountBuilder, connector_info};
use serde_json::Value;

use super::cluster::{CRD, Cluster, REPO, condition, condition_message};

const ROLE_A: &str = "arn:aws:iam::222222222222:role/appflow-connector-operator";
const ROLE_B: &str = "arn:aws:iam::333333333333:role/appflow-connector-operator";
const UNTRUSTED: &str = "arn:aws:iam::333333333333:role/not-trusted";

fn custom(name: &str, label: &str) -> String {
    connector_info(name, ConnectorType::CustomConnector)
        .label(label)
        .manifest()
}

/// Applies these bindings in one `kubectl apply`.
fn binding(cluster: &Cluster, bindings: impl IntoIterator<Item = AppFlowAccountBuilder>) {
    let yaml = bindings
        .into_iter()
        .map(AppFlowAccountBuilder::manifest)
        .collect::<Vec<_>>()
        .join("---\n");
    let output = cluster.kubectl_stdin(&["apply", "-f", "-"], &yaml);
    assert!(
        output.status.success(),
        "apply binding: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn account(cluster: &Cluster, name: &str) -> Value {
    serde_json::from_str(&cluster.kubectl_ok(&["get", "afaccount", name, "-o", "json"]))
        .expect("binding json")
}

/// Waits until a binding's condition has this status and reason.
fn wait_binding(cluster: &Cluster, name: &str, type_: &str, status: &str, reason: &str) {
    cluster.eventually(&format!("{name} {type_}={status} ({reason})"), || {
        let found = account(cluster, name);
        let c = condition(&found, type_);
        c["status"] == status && c["reason"] == reason
    });
}

fn ready_message(object: &Value) -> String {
    condition_message(object, "Ready")
}

#[test]
fn bindings_choose_the_account_per_namespace_and_tenants_cannot() {
    let mut cluster = Cluster::start();
    for ns in ["team-a", "team-b", "team-c", "free"] {
        cluster.create_namespace(ns);
    }
    cluster.kubectl_ok(&["label", "namespace", "team-b", "tenant=team-b"]);
    binding(
        &cluster,
        [
            builders::account("team-a")
                .namespaces(&["team-a"])
                .role_arn(ROLE_A)
                .external_id("team-a-7f3c")
                .regions(&["us-east-1"]),
            builders::account("team-b")
                .namespace_labels(&[("tenant", "team-b")])
                .role_arn(ROLE_B),
            builders::account("team-c")
                .namespaces(&["team-c"])
                .role_arn(UNTRUSTED),
        ],
    );
    cluster.start_operator(&[
        "--unmapped-namespaces",
        "deny",
        "--min-describe-interval",
        "1s",
    ]);

    // Each team sees its own account's custom connector, and not the other's.
    cluster.apply("team-a", &custom("own", "team-a-crm"));
    cluster.apply("team-a", &custom("other", "team-b-erp"));
    cluster.apply("team-b", &custom("own", "team-b-erp"));
    cluster.apply("team-b", &custom("other", "team-a-crm"));
    cluster.wait_ready("team-a", "own");
    cluster.wait_ready("team-b", "own");
    cluster.wait_reason("team-a", "other", "ConnectorNotFound");
    cluster.wait_reason("team-b", "other", "ConnectorNotFound");
    let own_a = cluster.get("team-a", "own");
    assert_eq!(own_a["status"]["accountId"], "222222222222");
    assert_eq!(own_a["status"]["accountBinding"], "team-a");
    let own_b = cluster.get("team-b", "own");
    assert_eq!(own_b["status"]["accountId"], "333333333333");
    assert_eq!(own_b["status"]["accountBinding"], "team-b");
    // The operator's own identity (account 123456789012) was never used for them.
    let stats = cluster.emulator_stats();
    assert_eq!(
        stats["accounts"]["123456789012"]["total"]
            .as_u64()
            .unwrap_or(0),
        0,
        "{stats}"
    );
    assert_eq!(stats["sts"]["assumeRole"][ROLE_A]["refused"], 0, "{stats}");

    // A region the binding does not allow is refused before any call.
    cluster.apply(
        "team-a",
        &connector_info("elsewhere", ConnectorType::Slack)
            .region("eu-west-1")
            .manifest(),
    );
    cluster.wait_reason("team-a", "elsewhere", "InvalidRequest");
    assert!(ready_message(&cluster.get("team-a", "elsewhere")).contains("AppFlowAccount team-a"));

    // A role that cannot be assumed: AccessDenied, naming the role, never the credentials.
    cluster.apply("team-c", &custom("crm", "team-a-crm"));
    cluster.wait_reason("team-c", "crm", "AccessDenied");
    let denied = ready_message(&cluster.get("team-c", "crm"));
    assert!(
        denied.contains(&format!("cannot assume role {UNTRUSTED}")),
        "{denied}"
    );
    assert!(denied.contains("AccessDenied"), "{denied}");
    for secret in ["AKIDTEST", "test-secret", "ASIA"] {
        assert!(!denied.contains(secret), "{denied}");
    }

    // Under deny, an unbound namespace is a terminal InvalidRequest naming what is missing.
    cluster.apply("free", &custom("crm", "team-a-crm"));
    cluster.wait_reason("free", "crm", "InvalidRequest");
    let unbound = ready_message(&cluster.get("free", "crm"));
    assert!(unbound.contains("namespace free is not bound"), "{unbound}");
    assert!(unbound.contains("--unmapped-namespaces=deny"), "{unbound}");
    // A binding to the operator's own identity serves it (and shows the operator's account).
    binding(
        &cluster,
        [builders::account("operator-account")
            .namespaces(&["free"])
            .operator_identity()],
    );
    cluster.wait_reason("free", "crm", "ConnectorNotFound");
    cluster.apply("free", &custom("acme", "acme-crm"));
    cluster.wait_ready("free", "acme");
    assert_eq!(
        cluster.get("free", "acme")["status"]["accountId"],
        "123456789012"
    );

    // The bindings' status.
    wait_binding(&cluster, "team-a", "Ready", "True", "Bound");
    let a = account(&cluster, "team-a");
    assert_eq!(a["status"]["accountId"], "222222222222");
    assert_eq!(a["status"]["namespaceCount"], 1);
    wait_binding(&cluster, "team-c", "Ready", "False", "AccessDenied");
    let c = account(&cluster, "team-c");
    let message = condition_message(&c, "Ready");
    assert!(message.contains(UNTRUSTED), "{message}");
    // The gauge the AppFlowAccountNotReady alert reads names the binding, and only it.
    let metrics = cluster.metrics();
    assert!(
        metrics.contains(
            "appflow_connector_operator_appflowaccounts_not_ready{appflowaccount=\"team-c\",reason=\"AccessDenied\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("appflowaccounts_not_ready{appflowaccount=\"team-a\""),
        "{metrics}"
    );
    wait_binding(
        &cluster,
        "operator-account",
        "RoleAssumed",
        "True",
        "OperatorIdentity",
    );
    let listed = cluster.kubectl_ok(&["get", "afaccount"]);
    for column in ["ROLE", "ACCOUNT", "NAMESPACES", "READY", "REASON"] {
        assert!(listed.contains(column), "{listed}");
    }

    // A namespace matched by two bindings is described with neither; both say so.
    binding(
        &cluster,
        [builders::account("overlap")
            .namespaces(&["team-a"])
            .role_arn(ROLE_B)],
    );
    cluster.wait_reason("team-a", "own", "InvalidRequest");
    let conflict = ready_message(&cluster.get("team-a", "own"));
    assert!(
        conflict.contains("more than one AppFlowAccount (overlap, team-a)"),
        "{conflict}"
    );
    wait_binding(
        &cluster,
        "team-a",
        "Conflicted",
        "True",
        "NamespaceConflict",
    );
    wait_binding(
        &cluster,
        "overlap",
        "Conflicted",
        "True",
        "NamespaceConflict",
    );
    // The last good configuration stays while refused.
    assert_eq!(
        cluster.get("team-a", "own")["status"]["accountId"],
        "222222222222"
    );
    cluster.kubectl_ok(&["delete", "afaccount", "overlap"]);
    cluster.wait_ready("team-a", "own");
    wait_binding(&cluster, "team-a", "Conflicted", "False", "NoConflict");

    // A namespace's labels decide too: unlabelled, team-b is unbound.
    cluster.kubectl_ok(&["label", "namespace", "team-b", "tenant-"]);
    cluster.wait_reason("team-b", "own", "InvalidRequest");
    cluster.kubectl_ok(&["label", "namespace", "team-b", "tenant=team-b"]);
    cluster.wait_ready("team-b", "own");

    // Rotating credentials: team B's sessions last 20 s; refreshes over 45 s never fail.
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < Duration::from_secs(45) {
        round += 1;
        let token = format!("rotate-{round}");
        cluster.kubectl_ok(&[
            "annotate",
            "-n",
            "team-b",
            "conninfo/own",
            "--overwrite",
            &format!("appflow.connectorinfo.dev/refresh={token}"),
        ]);
        cluster.wait_jsonpath("team-b", "own", "{.status.lastHandledRefresh}", &token);
        cluster.wait_jsonpath(
            "team-b",
            "own",
            "{.status.conditions[?(@.type==\"Synced\")].reason}",
            "Described",
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let stats = cluster.emulator_stats();
    let assumed = &stats["sts"]["assumeRole"][ROLE_B];
    assert!(
        assumed["succeeded"].as_u64().unwrap_or(0) >= 3,
        "credentials rotated: {stats}"
    );
    eprintln!(
        "rotation: {round} forced describes in {:.0?}, {} AssumeRole calls for 20 s sessions, 0 failed",
        start.elapsed(),
        assumed["succeeded"]
    );
    assert_eq!(assumed["refused"], 0, "{stats}");
    assert_eq!(stats["sts"]["errors"].get("ExpiredToken"), None, "{stats}");
    let warnings: Vec<Value> = cluster.events("team-b")["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "Warning" && e["regarding"]["name"] == "own")
        .filter(|e| e["reason"] != "InvalidRequest") // the unlabelled moment above
        .cloned()
        .collect();
    assert!(
        warnings.is_empty(),
        "no failed describe while rotating: {warnings:#?}"
    );
    assert!(
        !cluster.operator_log().contains("test-secret"),
        "no secret in the operator's log"
    );
}

#[test]
fn a_tenant_cannot_create_or_edit_bindings() {
    let cluster = Cluster::start();
    cluster.create_namespace("team-a");
    // The tenant administers its own namespace's objects, as namespace admins do (the built-in
    // `admin` role does not let them edit the Namespace itself: its labels select bindings).
    cluster.kubectl_ok(&["create", "serviceaccount", "tenant", "-n", "team-a"]);
    cluster.kubectl_ok(&[
        "create",
        "role",
        "everything",
        "-n",
        "team-a",
        "--verb=*",
        "--resource=connectorinfos.appflow.connectorinfo.dev,configmaps,secrets,serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
    ]);
    cluster.kubectl_ok(&[
        "create",
        "rolebinding",
        "tenant-everything",
        "-n",
        "team-a",
        "--role=everything",
        "--serviceaccount=team-a:tenant",
    ]);
    let platform = std::fs::read_to_string(format!("{REPO}/deploy/samples/accounts/teams.yaml"))
        .expect("sample");
    let output = cluster.kubectl_stdin(&["apply", "-f", "-"], &platform);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let tenant = cluster.service_account_kubeconfig("team-a", "tenant");
    let yes = cluster.kubectl_as(
        &tenant,
        &[
            "auth",
            "can-i",
            "create",
            "connectorinfos.appflow.connectorinfo.dev",
            "-n",
            "team-a",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&yes.stdout).trim(), "yes");
    for verb in ["create", "update", "patch", "delete"] {
        let answer = cluster.kubectl_as(
            &tenant,
            &[
                "auth",
                "can-i",
                verb,
                "appflowaccounts.appflow.connectorinfo.dev",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&answer.stdout).trim(),
            "no",
            "{verb}"
        );
    }
    let forbidden = |args: &[&str], stdin: Option<&str>| {
        let output = match stdin {
            Some(stdin) => {
                let mut full = vec!["--kubeconfig", tenant.to_str().unwrap()];
                full.extend(args);
                cluster.kubectl_stdin(&full, stdin)
            }
            None => cluster.kubectl_as(&tenant, args),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("Forbidden"),
            "{args:?}: {stderr}"
        );
    };
    forbidden(
        &["apply", "-f", "-"],
        Some(
            &builders::account("mine")
                .namespaces(&["team-a"])
                .role_arn(ROLE_B)
                .manifest(),
        ),
    );
    forbidden(
        &[
            "patch",
            "afaccount",
            "team-a",
            "--type=merge",
            &format!("-p={{\"spec\":{{\"roleArn\":\"{ROLE_B}\"}}}}"),
        ],
        None,
    );
    forbidden(
        &[
            "label",
            "namespace",
            "team-a",
            "appflow.connectorinfo.dev/account=team-b",
        ],
        None,
    );
    forbidden(&["delete", "afaccount", "team-a"], None);
    assert_eq!(account(&cluster, "team-a")["spec"]["roleArn"], ROLE_A);
}

#[test]
fn without_the_binding_crd_every_namespace_is_unbound_and_it_says_so() {
    // As where CRDs are managed apart from the chart (crds.install=false) and only one applied.
    let mut cluster = Cluster::start_without_crd();
    cluster.kubectl_ok(&["apply", "--server-side", "-f", &format!("{REPO}/{CRD}")]);
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/connectorinfos.appflow.connectorinfo.dev",
        "--timeout=60s",
    ]);
    cluster.eventually("the CRD to be served", || {
        cluster
            .kubectl(&["explain", "conninfo.spec"])
            .status
            .success()
    });
    cluster.create_namespace("team-a");
    cluster.start_operator(&[]);
    cluster.apply("team-a", &custom("acme", "acme-crm"));
    cluster.wait_ready("team-a", "acme");
    assert_eq!(
        cluster.get("team-a", "acme")["status"]["accountId"],
        "123456789012"
    );
    assert!(
        cluster
            .operator_log()
            .contains("the AppFlowAccount CRD is not installed"),
        "{}",
        cluster.operator_log()
    );
}
