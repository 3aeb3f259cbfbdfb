//! Leader election with real operator processes on the real control plane: one leader works,
//! the standby calls AWS and writes nothing, `kill -9` of the leader hands over within a lease
//! duration, SIGTERM hands over at once.

use std::time::{Duration, Instant};

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::connector_info;

use super::cluster::{Cluster, Replica};

/// The lease duration the replicas use (seconds).
const LEASE: u64 = 6;
/// A standby takes an expired Lease after up to 1 s of random back-off (kube-lease-manager),
/// and notices it through its watch: the slack above the lease duration allowed for failover.
const TAKEOVER_SLACK: Duration = Duration::from_secs(3);

const WRITTEN: &str = "appflow_connector_operator_status_writes_total{result=\"written\"}";
const CALLS: &str = "appflow_connector_operator_appflow_api_calls_total{operation=\"DescribeConnector\",outcome=\"Described\"}";
const EVENTS: &str = "appflow_connector_operator_events_total{result=\"published\"}";

/// The name of the ConnectorInfo for `connector_type`: the type in lower case.
fn name(connector_type: ConnectorType) -> String {
    connector_type.as_str().to_lowercase()
}

fn conninfo(connector_type: ConnectorType) -> String {
    connector_info(&name(connector_type), connector_type).manifest()
}

fn flags() -> Vec<String> {
    [
        "--leader-elect",
        "--leader-election-namespace",
        "default",
        "--leader-election-lease-duration",
        &format!("{LEASE}s"),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn start(cluster: &Cluster, name: &str) -> Replica {
    let flags = flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    cluster.start_replica(name, &flags)
}

/// `reportingInstance` of each `Described` Event in `namespace`, by object name.
fn described_by(cluster: &Cluster, namespace: &str) -> Vec<(String, String)> {
    let events = cluster.events(namespace);
    let mut described: Vec<(String, String)> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["reason"] == "Described")
        .map(|e| {
            (
                e["regarding"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["reportingInstance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    described.sort();
    described
}

#[test]
fn one_leader_works_and_the_standby_takes_over_on_kill_and_on_sigterm() {
    let cluster = Cluster::start();
    cluster.create_namespace("ha");
    let mut a = start(&cluster, "op-a");
    cluster.eventually("op-a to lead", || a.leads());
    let b = start(&cluster, "op-b");
    // Ready (start_replica waited for /readyz) with a warm cache, but standing by.
    assert!(!b.leads(), "two leaders");

    let first = [
        ConnectorType::Salesforce,
        ConnectorType::Slack,
        ConnectorType::Zendesk,
        ConnectorType::Marketo,
        ConnectorType::Datadog,
    ];
    for connector_type in first {
        cluster.apply("ha", &conninfo(connector_type));
    }
    for connector_type in first {
        cluster.wait_ready("ha", &name(connector_type));
    }
    // One DescribeConnector per object (five keys), not one per object per replica.
    assert_eq!(cluster.total_calls(), 5);
    assert_eq!(a.metric(CALLS), 5.0);
    assert_eq!(a.metric(WRITTEN), 5.0);
    for series in [CALLS, WRITTEN, EVENTS] {
        assert_eq!(b.metric(series), 0.0, "the standby: {series}");
    }
    cluster.eventually("one Described Event per object", || {
        described_by(&cluster, "ha").len() == 5
    });
    assert!(
        described_by(&cluster, "ha")
            .iter()
            .all(|(_, instance)| instance == "op-a"),
        "{:?}",
        described_by(&cluster, "ha")
    );

    // kill -9: the Lease is not released; the standby takes it once it expires.
    a.kill();
    let killed = Instant::now();
    for connector_type in [ConnectorType::Amplitude, ConnectorType::Infornexus] {
        cluster.apply("ha", &conninfo(connector_type));
    }
    cluster.eventually("op-b to lead", || b.leads());
    let failover = killed.elapsed();
    eprintln!("failover after kill -9 of the leader: {failover:.1?} (lease {LEASE}s)");
    assert!(
        failover <= Duration::from_secs(LEASE) + TAKEOVER_SLACK,
        "failover took {failover:?}\n{}",
        b.log()
    );
    // Objects created during the failover are described by the new leader.
    for name in ["amplitude", "infornexus"] {
        cluster.wait_ready("ha", name);
    }
    assert_eq!(
        cluster.total_calls(),
        7,
        "the new leader re-describes nothing that is fresh"
    );
    let described = described_by(&cluster, "ha");
    assert_eq!(described.len(), 7, "{described:?}");
    for (name, instance) in &described {
        let expected = if ["amplitude", "infornexus"].contains(&name.as_str()) {
            "op-b"
        } else {
            "op-a"
        };
        assert_eq!(instance, expected, "{name}");
    }

    // SIGTERM: the leader stops and releases the Lease; a standby leads at once.
    let mut b = b;
    let c = start(&cluster, "op-c");
    assert!(!c.leads());
    let terminated = Instant::now();
    assert!(
        b.terminate().success(),
        "clean exit on SIGTERM\n{}",
        b.log()
    );
    cluster.eventually("op-c to lead", || c.leads());
    let handover = terminated.elapsed();
    eprintln!("hand-over on SIGTERM: {handover:.1?} (lease {LEASE}s)");
    assert!(
        handover < Duration::from_secs(LEASE / 2),
        "the Lease was not released: {handover:?}\n{}",
        c.log()
    );
    assert!(
        b.log().contains("leader-election Lease released"),
        "{}",
        b.log()
    );
    cluster.apply("ha", &conninfo(ConnectorType::Singular));
    cluster.wait_ready("ha", "singular");
    assert_eq!(cluster.total_calls(), 8);
}
