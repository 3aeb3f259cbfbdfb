//! A connector key's error budget on the real control plane: twenty objects naming one
//! connector that answers AccessDenied cost one call per step of the key's backoff (holds of
//! 5, 10, 20 s …), not one per object's retry; a spec change still retries at once; and a
//! restarted operator resumes the key's schedule from the objects' statuses instead of calling
//! at once.

use std::time::{Duration, Instant};

use conninfo_core::crd::{AuthMode, ConnectorType};
use conninfo_test_support::builders::connector_info;
use serde_json::json;

use super::cluster::Cluster;

/// When each call of a failing key may go out, from its first: after holds of 5, 10, 20, 40 s.
const STEPS: [u64; 5] = [0, 5, 15, 35, 75];
/// How long the calls are watched after the first one (the fourth step is at 35 s).
const WATCH: Duration = Duration::from_secs(25);

/// Steps of the key's backoff that have begun `elapsed` after its first call.
fn steps_begun(elapsed: Duration) -> u64 {
    STEPS
        .iter()
        .filter(|step| Duration::from_secs(**step) <= elapsed)
        .count() as u64
}

#[test]
fn twenty_objects_on_a_denied_connector_call_once_per_backoff_step_and_a_spec_change_retries() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("budget");
    cluster.start_operator(&["--min-describe-interval", "1s"]);
    cluster.set_fault("Slack", json!({"errorCode": "AccessDeniedException"}));
    let fleet: Vec<String> = (0..20)
        .map(|i| connector_info(&format!("denied-{i}"), ConnectorType::Slack).manifest())
        .collect();
    cluster.apply("budget", &fleet.join("\n---\n"));
    cluster.eventually("the first call", || cluster.calls("Slack") >= 1);
    let first = Instant::now();

    // Every object retries on its own backoff (from 1 s, the minimum gap); the key answers
    // them with its shared failure until its hold ends.
    let mut last_call = (1, first);
    while first.elapsed() < WATCH {
        let calls = cluster.calls("Slack");
        // `first` was noted up to a poll after the first call: count steps from a little
        // earlier.
        let allowed = steps_begun(first.elapsed() + Duration::from_millis(600));
        assert!(
            calls <= allowed,
            "{calls} calls {:.1?} after the first (steps begun: {allowed})",
            first.elapsed()
        );
        if calls > last_call.0 {
            last_call = (calls, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(200)); // a poll interval, not a readiness wait
    }
    assert!(last_call.0 >= 2, "the key was retried: {last_call:?}");
    for i in [0, 19] {
        cluster.wait_reason("budget", &format!("denied-{i}"), "AccessDenied");
    }

    // A spec change is not held by the key's backoff: it is described again at once (the last
    // call is more than the 5 s a failure is shared with everyone).
    assert!(
        last_call.1.elapsed() > Duration::from_secs(5),
        "{last_call:?}"
    );
    let before = cluster.calls("Slack");
    let changed = Instant::now();
    cluster.apply(
        "budget",
        &connector_info("denied-0", ConnectorType::Slack)
            .auth_modes(&[AuthMode::OAuth2])
            .manifest(),
    );
    cluster.eventually("the changed object's call", || {
        cluster.calls("Slack") > before
    });
    let retried = changed.elapsed();
    assert!(
        retried < Duration::from_secs(2),
        "retried after {retried:?}"
    );
    cluster.wait_jsonpath("budget", "denied-0", "{.status.observedGeneration}", "2");
    assert_eq!(cluster.calls("Slack"), before + 1, "the others stay held");
    let metrics = cluster.metrics();
    assert!(
        metrics.contains("appflow_connector_operator_describe_keys_backing_off 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("backing_off"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A restart (an upgrade's new pod): the new process resumes the key's streak from the
    // statuses (`Synced` False since the first denial) and calls when the schedule's next step
    // is due, not at once. `Synced`'s time has whole seconds: steps may come up to 1 s early.
    let status = cluster.terminate_operator();
    assert!(status.success(), "{status:?}");
    let spec_change = 1;
    cluster.start_operator(&["--min-describe-interval", "1s"]);
    while first.elapsed() < Duration::from_secs(45) {
        let calls = cluster.calls("Slack");
        let allowed = steps_begun(first.elapsed() + Duration::from_millis(1600)) + spec_change;
        assert!(
            calls <= allowed,
            "{calls} calls {:.1?} after the first, across a restart (allowed: {allowed})",
            first.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200)); // a poll interval, not a readiness wait
    }
    let held = "appflow_connector_operator_reconciliations_total{result=\"held\"}";
    cluster.eventually("an object held by the resumed budget", || {
        cluster.metric(held) >= 1.0
    });
    cluster.eventually("the step due 35 s into the streak", || {
        cluster.calls("Slack") == steps_begun(Duration::from_secs(35)) + spec_change
    });
}
