//! Change notifications on the real control plane: a connector changed in the emulator while
//! the operator runs is reported once, as a field-level diff in a `ConfigurationChanged` Event,
//! with `lastChangedTime` and the digest moved and the broken requirement named; an unchanged
//! refresh says nothing; a retried failure that persists turns `Stalled` and back. A refresh
//! request is answered only by a DescribeConnector that started after it, and requests made
//! while a connector's forced calls are spaced wait for the next one.

use std::time::{Duration, Instant};

use conninfo_core::crd::{AuthMode, ConnectorType};
use conninfo_test_support::builders::connector_info;
use serde_json::{Value, json};

use super::cluster::{Cluster, condition_message};

/// Notes of the Events with `reason` about object `name`.
fn notes(cluster: &Cluster, namespace: &str, name: &str, reason: &str) -> Vec<String> {
    cluster.events(namespace)["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["regarding"]["name"] == name && e["reason"] == reason)
        .map(|e| e["note"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn condition(object: &Value, type_: &str) -> (String, String) {
    object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .unwrap_or_default()
}

fn refresh(cluster: &Cluster, namespace: &str, name: &str, token: &str) {
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        namespace,
        &format!("conninfo/{name}"),
        "--overwrite",
        &format!("appflow.connectorinfo.dev/refresh={token}"),
    ]);
    cluster.wait_jsonpath(namespace, name, "{.status.lastHandledRefresh}", token);
}

#[test]
fn a_changed_connector_is_reported_once_with_its_diff_and_a_persistent_failure_stalls() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("changes");
    cluster.start_operator(&["--stalled-after", "20s", "--min-describe-interval", "1s"]);
    cluster.apply(
        "changes",
        &connector_info("chat", ConnectorType::Slack)
            .auth_modes(&[AuthMode::OAuth2])
            .manifest(),
    );
    cluster.wait_ready("changes", "chat");
    let before = cluster.get("changes", "chat");
    let digest = before["status"]["configurationDigest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let changed_at = before["status"]["lastChangedTime"]
        .as_str()
        .expect("lastChangedTime")
        .to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(
        notes(&cluster, "changes", "chat", "ConfigurationChanged").is_empty(),
        "no change Event on the first describe"
    );

    // A refresh with nothing changed: no Event, nothing moved.
    refresh(&cluster, "changes", "chat", "same");
    let same = cluster.get("changes", "chat");
    assert_eq!(same["status"]["configurationDigest"], digest.as_str());
    assert_eq!(same["status"]["lastChangedTime"], changed_at.as_str());
    assert!(notes(&cluster, "changes", "chat", "ConfigurationChanged").is_empty());

    // AWS drops OAuth2 from Slack (lastChangedTime has second precision: let one pass).
    std::thread::sleep(Duration::from_millis(1100)); // timestamps must differ, not a readiness wait
    cluster.set_override(
        "Slack",
        json!({"authenticationConfig": {"isOAuth2Supported": false}}),
    );
    refresh(&cluster, "changes", "chat", "flipped");
    let after = cluster.get("changes", "chat");
    assert_eq!(
        condition(&after, "RequirementsMet"),
        ("False".into(), "RequirementsNotMet".into())
    );
    assert_ne!(after["status"]["configurationDigest"], digest.as_str());
    assert!(
        after["status"]["lastChangedTime"].as_str().expect("moved") > changed_at.as_str(),
        "{} then {}",
        changed_at,
        after["status"]["lastChangedTime"]
    );
    cluster.eventually("the ConfigurationChanged Event", || {
        !notes(&cluster, "changes", "chat", "ConfigurationChanged").is_empty()
    });
    let changed = notes(&cluster, "changes", "chat", "ConfigurationChanged");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(
        changed[0].contains("authenticationConfig.isOAuth2Supported: true → false"),
        "{changed:?}"
    );
    // As a user sees it.
    let shown = cluster.kubectl_ok(&["events", "-n", "changes", "--for", "conninfo/chat"]);
    assert!(shown.contains("ConfigurationChanged"), "{shown}");
    eprintln!("kubectl events -n changes --for conninfo/chat\n{shown}");
    cluster.eventually("the RequirementsNotMet Warning", || {
        notes(&cluster, "changes", "chat", "RequirementsNotMet")
            .iter()
            .any(|n| {
                n.starts_with("After a configuration change") && n.contains("auth mode OAuth2")
            })
    });

    // A retried failure that lasts past --stalled-after (20s) stalls; a success clears it.
    cluster.set_fault("Slack", json!({"errorCode": "AccessDeniedException"}));
    let failing = Instant::now();
    refresh(&cluster, "changes", "chat", "denied");
    let denied = cluster.get("changes", "chat");
    assert_eq!(condition(&denied, "Synced").1, "AccessDenied");
    assert_eq!(condition(&denied, "Stalled").0, "False", "not stalled yet");
    cluster.eventually("Stalled=True after --stalled-after", || {
        condition(&cluster.get("changes", "chat"), "Stalled")
            == ("True".into(), "AccessDenied".into())
    });
    let stalled_after = failing.elapsed();
    eprintln!("Stalled=True {stalled_after:.1?} after the failures began (--stalled-after 20s)");
    // The failure's start is the Synced condition's lastTransitionTime, which Kubernetes
    // keeps to the second: the operator may count up to one second more than this clock.
    assert!(
        stalled_after >= Duration::from_secs(19),
        "{stalled_after:?}"
    );
    let stalled = cluster.get("changes", "chat");
    assert!(
        stalled["status"]["connectorConfiguration"].is_object(),
        "the last good configuration stays"
    );
    assert_eq!(
        condition(&stalled, "Reconciling").0,
        "True",
        "retries go on"
    );
    // The key's error budget may hold its failure for a minute or more by now: the fix is
    // announced with the refresh annotation, which goes through at once.
    cluster.set_fault("Slack", Value::Null);
    refresh(&cluster, "changes", "chat", "fixed");
    cluster.eventually("Stalled cleared by a success", || {
        condition(&cluster.get("changes", "chat"), "Synced").0 == "True"
    });
    // Requirements are still unmet (OAuth2 is gone), so Stalled stays True for that reason.
    assert_eq!(
        condition(&cluster.get("changes", "chat"), "Stalled"),
        ("True".into(), "RequirementsNotMet".into())
    );
    cluster.set_override("Slack", Value::Null);
    refresh(&cluster, "changes", "chat", "restored");
    cluster.wait_ready("changes", "chat");
    assert_eq!(
        condition(&cluster.get("changes", "chat"), "Stalled").0,
        "False"
    );
    let metrics = cluster.metrics();
    assert!(
        metrics.contains(
            "appflow_connector_operator_configuration_changes_total{connector_type=\"Slack\"} 2"
        ),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("configuration_change"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Annotates with `value` and returns when `lastHandledRefresh` says it was answered.
fn refresh_timed(cluster: &Cluster, name: &str, value: &str) -> Duration {
    let asked = Instant::now();
    refresh(cluster, "promise", name, value);
    asked.elapsed()
}

#[test]
fn a_refresh_request_is_answered_only_by_a_call_started_after_it() {
    let mut cluster = Cluster::start();
    cluster.create_namespace("promise");
    // Forced calls 10 s apart stand for the default 60 s: the same promise, a shorter wait.
    let interval = Duration::from_secs(10);
    cluster.start_operator(&[
        "--forced-refresh-interval",
        "10s",
        "--min-describe-interval",
        "1s",
    ]);
    cluster.apply(
        "promise",
        &connector_info("chat", ConnectorType::Slack)
            .auth_modes(&[AuthMode::OAuth2])
            .manifest(),
    );
    cluster.wait_ready("promise", "chat");
    let ready = cluster.get("promise", "chat");
    let changed_at = ready["status"]["lastChangedTime"]
        .as_str()
        .expect("lastChangedTime")
        .to_owned();
    assert_eq!(cluster.calls("Slack"), 1);

    // Moments after the describe that made it Ready, AWS drops OAuth2 and the user annotates
    // as docs/status.md says (`date +%s`). That describe is older than the request: a new
    // call answers it at once (only forced calls are spaced, and none was made yet).
    std::thread::sleep(Duration::from_millis(1100)); // lastChangedTime has second precision
    cluster.set_override(
        "Slack",
        json!({"authenticationConfig": {"isOAuth2Supported": false}}),
    );
    let unix_now = jiff::Timestamp::now().as_second().to_string();
    let first = refresh_timed(&cluster, "chat", &unix_now);
    eprintln!("a request after an ordinary describe: answered in {first:.2?}");
    // 2 s, plus what is left of the 1 s minimum gap since the last describe.
    assert!(first <= Duration::from_secs(3), "{first:?}");
    let after = cluster.get("promise", "chat");
    assert_eq!(
        condition(&after, "RequirementsMet"),
        ("False".into(), "RequirementsNotMet".into())
    );
    assert!(after["status"]["lastChangedTime"].as_str().expect("moved") > changed_at.as_str());
    cluster.eventually("the ConfigurationChanged Event", || {
        notes(&cluster, "promise", "chat", "ConfigurationChanged").len() == 1
    });
    assert!(
        notes(&cluster, "promise", "chat", "ConfigurationChanged")[0]
            .contains("authenticationConfig.isOAuth2Supported: true → false")
    );
    assert_eq!(cluster.calls("Slack"), 2);

    // AWS gives OAuth2 back and the user asks again at once, twice (RFC 3339, as Flux
    // writes its requestedAt): the last forced call is younger than the interval and started
    // before these requests, so they wait for the next one, which answers both.
    cluster.set_override("Slack", Value::Null);
    let asked = Instant::now();
    let second = jiff::Timestamp::now().to_string();
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        "promise",
        "conninfo/chat",
        "--overwrite",
        &format!("appflow.connectorinfo.dev/refresh={second}"),
    ]);
    cluster.wait_jsonpath(
        "promise",
        "chat",
        "{.status.conditions[?(@.type==\"Reconciling\")].reason}",
        "RefreshPending",
    );
    let waiting = cluster.get("promise", "chat");
    let message = condition_message(&waiting, "Reconciling");
    assert!(
        message
            .starts_with("Waiting for a refresh: the next DescribeConnector of Slack starts at "),
        "{message}"
    );
    assert_eq!(
        condition(&waiting, "Ready").0,
        "False",
        "the last answer stands meanwhile"
    );
    assert_eq!(waiting["status"]["lastHandledRefresh"], unix_now.as_str());
    let third = jiff::Timestamp::now().to_string();
    let answered = refresh_timed(&cluster, "chat", &third);
    let waited = asked.elapsed();
    eprintln!(
        "requests within the interval: answered {waited:.2?} after the first (interval {interval:?})"
    );
    assert!(waited <= interval + Duration::from_secs(2), "{waited:?}");
    assert!(
        answered > Duration::from_secs(1),
        "it waited for the next call: {answered:?}"
    );
    let restored = cluster.get("promise", "chat");
    assert_eq!(
        condition(&restored, "RequirementsMet"),
        ("True".into(), "Described".into())
    );
    assert_eq!(condition(&restored, "Reconciling").0, "False");
    assert_eq!(cluster.calls("Slack"), 3, "one call answered both requests");
    cluster.eventually("the second ConfigurationChanged Event", || {
        notes(&cluster, "promise", "chat", "ConfigurationChanged").len() == 2
    });
}
