//! Hostile input: specs that once stopped, looped or hammered the operator. Each test owns a
//! control plane and an operator; objects "stored before the bounds" are written with the
//! CRD's bounds removed for a moment, as an older CRD would have let them in.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{CRD, Cluster, REPO, condition_message};

const ABSURD: &str = "99999999999999999999h";

fn custom(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: appflow.connectorinfo.dev/v1beta1\nkind: ConnectorInfo\nmetadata:\n  name: {name}\nspec:\n  connectorType: CustomConnector\n  connectorLabel: {name}\n{extra}"
    )
}

/// Replaces the CRD with one whose refreshInterval has no bounds, runs `store`, and puts
/// the real CRD back (waiting until the API server enforces it again).
fn with_interval_bounds_removed(cluster: &Cluster, store: impl FnOnce()) {
    let mut crd: Value = serde_json::from_str(&cluster.kubectl_ok(&[
        "get",
        "crd",
        "connectorinfos.appflow.connectorinfo.dev",
        "-o",
        "json",
    ]))
    .expect("crd json");
    let interval =
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["refreshInterval"]
            .as_object_mut()
            .expect("refreshInterval schema");
    for bound in ["pattern", "maxLength", "x-kubernetes-validations"] {
        assert!(interval.remove(bound).is_some(), "the CRD bounds {bound}");
    }
    let output = cluster.kubectl_stdin(&["replace", "-f", "-"], &crd.to_string());
    assert!(output.status.success(), "{output:?}");
    store();
    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &format!("{REPO}/{CRD}"),
    ]);
    cluster.eventually("the interval bounds to be enforced again", || {
        !cluster
            .kubectl_stdin(
                &["apply", "--dry-run=server", "-n", "default", "-f", "-"],
                &custom("probe", "  refreshInterval: 1ms\n"),
            )
            .status
            .success()
    });
}

fn synced_message(cluster: &Cluster, namespace: &str, name: &str) -> String {
    condition_message(&cluster.get(namespace, name), "Synced")
}

/// The per-object gap of the hostile operator.
const GAP: Duration = Duration::from_secs(5);

/// The operator as the hostile-input tests run it: a 5 s per-object gap and two allowed
/// regions.
fn start_operator(cluster: &mut Cluster) {
    cluster.start_operator(&[
        "--min-describe-interval",
        "5s",
        "--allowed-regions",
        "us-east-1,eu-west-1",
    ]);
}

/// A control plane with namespace `hostile`, these custom connectors registered and the
/// hostile operator running.
fn hostile_cluster(labels: &[&str]) -> Cluster {
    let mut cluster = Cluster::start();
    cluster.create_namespace("hostile");
    for label in labels {
        cluster.register_connector(label);
    }
    start_operator(&mut cluster);
    cluster
}

#[test]
fn specs_stored_before_the_bounds_neither_stop_nor_loop_the_operator() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("hostile");
    for label in ["absurd", "tiny", "neighbour"] {
        cluster.register_connector(label);
    }

    // Stored before the bounds: the API server accepts them once the CRD has no bounds (the
    // update takes effect asynchronously, so retry until it does).
    with_interval_bounds_removed(&cluster, || {
        for (name, interval) in [("absurd", ABSURD), ("tiny", "1ms")] {
            let manifest = custom(name, &format!("  refreshInterval: \"{interval}\"\n"));
            cluster.eventually(&format!("{name} to be stored without bounds"), || {
                cluster
                    .kubectl_stdin(&["apply", "-n", "hostile", "-f", "-"], &manifest)
                    .status
                    .success()
            });
        }
    });

    start_operator(&mut cluster);
    let started = Instant::now();

    // The absurd interval no longer panics the controller: it is clamped to 720h, the object
    // is described once, and other objects (created afterwards, elsewhere) still reconcile.
    cluster.wait_ready("hostile", "absurd");
    cluster.wait_ready("hostile", "tiny");
    cluster.create_namespace("neighbours");
    cluster.apply("neighbours", &custom("neighbour", ""));
    cluster.wait_ready("neighbours", "neighbour");
    assert_eq!(cluster.healthz(), 200);
    assert!(
        cluster.wait_operator_exit(Duration::ZERO).is_none(),
        "operator alive"
    );

    // The stored 1ms interval is clamped to 1m: no hot loop. An observation window, not a
    // readiness wait: unclamped, the interval would let a describe through every gap, so
    // three gaps would show three calls where one is allowed.
    std::thread::sleep((GAP * 3).saturating_sub(started.elapsed()));
    let elapsed = started.elapsed();
    let tiny = cluster.calls("CustomConnector/tiny");
    println!(
        "refreshInterval 1ms: {tiny} calls in {:.1}s",
        elapsed.as_secs_f64()
    );
    assert!(
        tiny <= 1 + elapsed.as_secs() / 60,
        "{tiny} calls in {elapsed:?}"
    );
    assert_eq!(cluster.calls("CustomConnector/absurd"), 1);

    let metrics = cluster.metrics();
    assert!(
        metrics.contains("appflow_connector_operator_status_writes_total{result=\"written\"}"),
        "{metrics}"
    );
    let status = cluster.terminate_operator();
    assert!(status.success(), "{status:?}\n{}", cluster.operator_log());
}

#[test]
fn a_disallowed_region_is_refused_before_any_aws_call() {
    let cluster = hostile_cluster(&["faraway"]);
    // A disallowed region is a terminal InvalidRequest that names the allowed regions, and
    // AWS is never called for it.
    cluster.apply("hostile", &custom("faraway", "  region: ap-south-1\n"));
    cluster.wait_reason("hostile", "faraway", "InvalidRequest");
    let message = synced_message(&cluster, "hostile", "faraway");
    assert!(
        message.contains("ap-south-1") && message.contains("allowed regions: eu-west-1, us-east-1"),
        "{message}"
    );
    assert_eq!(cluster.calls("CustomConnector/faraway"), 0);
}

#[test]
fn refresh_annotation_churn_is_coalesced_to_one_describe_per_gap() {
    let cluster = hostile_cluster(&["churn"]);
    // 30 edits in a burst coalesce into at most one describe per gap.
    cluster.apply("hostile", &custom("churn", ""));
    cluster.wait_ready("hostile", "churn");
    let before = cluster.calls("CustomConnector/churn");
    let burst = Instant::now();
    for i in 0..30 {
        cluster.kubectl_ok(&[
            "annotate",
            "--overwrite",
            "-n",
            "hostile",
            "conninfo/churn",
            &format!("appflow.connectorinfo.dev/refresh=edit-{i}"),
        ]);
    }
    cluster.wait_jsonpath(
        "hostile",
        "churn",
        "{.status.lastHandledRefresh}",
        "edit-29",
    );
    let churn_calls = cluster.calls("CustomConnector/churn") - before;
    let window = burst.elapsed();
    let allowed = 1 + window.as_secs().div_ceil(GAP.as_secs());
    println!(
        "annotation churn: 30 edits in {:.1}s -> {churn_calls} DescribeConnector calls (gap {GAP:?})",
        window.as_secs_f64()
    );
    assert!(
        churn_calls >= 1 && churn_calls <= allowed,
        "{churn_calls} calls for 30 edits in {window:?}, at most {allowed} allowed"
    );
}

/// A controller loop that dies takes the process with it (non-zero, with the reason on
/// stderr), so the kubelet restarts it instead of trusting a green /healthz.
#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "needs the failpoints feature (make test enables it)"
)]
fn a_dead_controller_loop_exits_the_process() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("dead-loop");
    cluster.start_operator_env(
        &["--watch-namespace", "dead-loop"],
        &[("FAILPOINTS", "reconcile=panic(injected by the e2e suite)")],
    );
    assert_eq!(cluster.healthz(), 200);
    cluster.apply("dead-loop", &custom("trigger", ""));
    let status = cluster
        .wait_operator_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("operator still running:\n{}", cluster.operator_log()));
    assert!(!status.success(), "{status:?}");
    let log = cluster.operator_log();
    assert!(
        log.contains("fatal: controller loop panicked")
            && log.contains("injected by the e2e suite"),
        "{log}"
    );
    assert_eq!(cluster.healthz(), 0, "nothing answers for a dead process");
}
