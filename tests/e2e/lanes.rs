//! Lanes on the real control plane: while a forced refresh of 300 objects is queued behind one
//! worker, a new object on a new connector key is described and Ready first, and the refresh
//! still finishes (docs/design.md, "Lanes").

use std::time::{Duration, Instant};

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::connector_info;
use serde_json::{Value, json};

use super::cluster::{Cluster, sample as metric};

const FLEET: usize = 300;
const TOKEN: &str = "fleet-wide";

/// Objects of the fleet whose refresh request is not handled yet.
fn refresh_pending(cluster: &Cluster) -> usize {
    let list: Value = serde_json::from_str(
        &cluster.kubectl_ok(&["get", "conninfo", "-n", "lanes", "-o", "json"]),
    )
    .expect("list");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|o| o["metadata"]["name"] != "newcomer")
        .filter(|o| o["status"]["lastHandledRefresh"] != TOKEN)
        .count()
}

#[test]
fn a_new_object_overtakes_a_forced_refresh_in_progress() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("lanes");
    // One worker, and a connector answering in 50 ms: the refresh queues up.
    cluster.start_operator(&["--concurrency", "1", "--min-describe-interval", "0s"]);
    cluster.set_fault("Slack", json!({"latencyMs": 50}));
    let fleet: Vec<String> = (0..FLEET)
        .map(|i| connector_info(&format!("fleet-{i}"), ConnectorType::Slack).manifest())
        .collect();
    cluster.apply("lanes", &fleet.join("\n---\n"));
    let ready = "appflow_connector_operator_connectorinfos{condition=\"Ready\",status=\"True\"}";
    cluster.eventually("the fleet Ready", || {
        metric(&cluster.metrics(), ready) as usize == FLEET
    });
    cluster.register_connector("newcomer");

    cluster.kubectl_ok(&[
        "annotate",
        "conninfo",
        "--all",
        "-n",
        "lanes",
        &format!("appflow.connectorinfo.dev/refresh={TOKEN}"),
    ]);
    let created = Instant::now();
    cluster.apply(
        "lanes",
        &connector_info("newcomer", ConnectorType::CustomConnector)
            .label("newcomer")
            .manifest(),
    );
    cluster.wait_ready("lanes", "newcomer");
    let to_ready = created.elapsed();
    let pending = refresh_pending(&cluster);
    eprintln!("newcomer Ready {to_ready:.2?} after creation; {pending} refreshes still queued");
    assert!(
        pending >= 10,
        "the new object did not overtake the refresh: {pending} of {FLEET} left"
    );
    assert!(to_ready < Duration::from_secs(5), "{to_ready:?}");

    // The refresh is not starved: every object handles it.
    cluster.eventually("every refresh handled", || refresh_pending(&cluster) == 0);
    let metrics = cluster.metrics();
    for lane in ["changed", "refresh"] {
        let served = metric(
            &metrics,
            &format!("appflow_connector_operator_queue_wait_seconds_count{{lane=\"{lane}\"}}"),
        );
        assert!(served >= 1.0, "{lane}: {served}");
    }
    assert_eq!(
        metric(
            &metrics,
            "appflow_connector_operator_queue_depth{lane=\"refresh\"}"
        ),
        0.0
    );
}
