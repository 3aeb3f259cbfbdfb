//! Change notifications on the real control plane: a connector changed in the emulator while
//! the operator runs is reported once, as a field-level diff in a `ConfigurationChanged` Event,
//! with `lastChangedTime` and the digest moved and the broken requirement named; an unchanged
//! refresh says nothing; a retried failure that persists turns `Stalled` and back.

use std::time::{Duration, Instant};

use conninfo_core::crd::{AuthMode, ConnectorType};
use conninfo_test_support::builders::connector_info;
use serde_json::{Value, json};

use super::cluster::Cluster;

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
