//! The end-to-end cases. Each test owns a control plane and an operator, so that one failing
//! scenario hides no other.

use std::time::{Duration, Instant};

use conninfo_core::crd::{AuthMode, ConnectorType, Usage};
use conninfo_test_support::builders::connector_info;
use serde_json::json;

use super::cluster::{Cluster, REPO};

/// A manifest as a user types it, for the admission cases (most of them cannot be built from
/// the typed spec).
fn conninfo(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: appflow.connectorinfo.dev/v1beta1\nkind: ConnectorInfo\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// A ConnectorInfo named after the custom connector `label` it observes.
fn custom(label: &str) -> String {
    connector_info(label, ConnectorType::CustomConnector)
        .label(label)
        .manifest()
}

/// A control plane with an operator that describes each object at most once a second: a short
/// per-object gap keeps the fault and recovery steps quick (the hostile-input suite tests the
/// gap itself).
fn operator_cluster() -> Cluster {
    let mut cluster = Cluster::start();
    cluster.start_operator(&[
        "--default-refresh-interval",
        "1h",
        "--min-describe-interval",
        "1s",
    ]);
    cluster
}

#[test]
fn crd_is_structural_documented_and_rejects_bad_input() {
    let cluster = Cluster::start();
    let explain = cluster.kubectl_ok(&["explain", "conninfo.spec"]);
    for text in [
        "connectorType",
        "connectorLabel",
        "label of a custom connector",
        "refreshInterval",
        "requirements",
    ] {
        assert!(explain.contains(text), "explain lacks {text}:\n{explain}");
    }
    let explain = cluster.kubectl_ok(&["explain", "conninfo.spec.requirements.authModes"]);
    assert!(
        explain.contains("Authentication modes that must all be supported"),
        "{explain}"
    );

    cluster.create_namespace("admission");
    let long_label = "a".repeat(257);
    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (
            conninfo("unknown-type", "  connectorType: Salesforse\n"),
            "Unsupported value: \"Salesforse\"",
            vec![],
        ),
        (
            conninfo("no-label", "  connectorType: CustomConnector\n"),
            "spec.connectorLabel is required when spec.connectorType is CustomConnector",
            vec![],
        ),
        (
            conninfo(
                "bad-label",
                "  connectorType: CustomConnector\n  connectorLabel: \"-acme crm\"\n",
            ),
            "spec.connectorLabel: Invalid value",
            vec![],
        ),
        (
            conninfo(
                "long-label",
                &format!("  connectorType: CustomConnector\n  connectorLabel: {long_label}\n"),
            ),
            "may not be more than 256",
            vec![],
        ),
        (
            conninfo(
                "unknown-field",
                "  connectorType: Slack\n  connectorLable: typo\n",
            ),
            "unknown field \"spec.connectorLable\"",
            vec!["--validate=strict"],
        ),
        (
            conninfo(
                "bad-requirement",
                "  connectorType: Slack\n  requirements:\n    authModes: [OAuth3]\n",
            ),
            "Unsupported value: \"OAuth3\"",
            vec![],
        ),
        (
            conninfo(
                "bad-interval",
                "  connectorType: Slack\n  refreshInterval: soon\n",
            ),
            "spec.refreshInterval: Invalid value",
            vec![],
        ),
        (
            conninfo(
                "absurd-interval",
                "  connectorType: Slack\n  refreshInterval: \"99999999999999999999h\"\n",
            ),
            "spec.refreshInterval in body should match",
            vec![],
        ),
        (
            conninfo(
                "tiny-interval",
                "  connectorType: Slack\n  refreshInterval: 1ms\n",
            ),
            "refreshInterval must be 0s (describe only when the spec or refresh annotation changes) or between 1m and 720h (30 days)",
            vec![],
        ),
        (
            conninfo(
                "long-interval",
                "  connectorType: Slack\n  refreshInterval: 721h\n",
            ),
            "between 1m and 720h",
            vec![],
        ),
        (
            conninfo(
                "many-auth-types",
                &format!(
                    "  connectorType: Slack\n  requirements:\n    customAuthTypes: [{}]\n",
                    (0..17)
                        .map(|i| format!("T{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            "must have at most 16 items",
            vec![],
        ),
        (
            conninfo(
                "long-auth-type",
                &format!(
                    "  connectorType: Slack\n  requirements:\n    customAuthTypes: [{}]\n",
                    "H".repeat(257)
                ),
            ),
            "may not be more than 256",
            vec![],
        ),
    ];
    // Every case is tried, and every wrong answer reported: one does not hide the others.
    let mut wrong = Vec::new();
    for (manifest, expected, flags) in &cases {
        let mut args = vec!["apply", "-n", "admission", "-f", "-"];
        args.extend(flags);
        let output = cluster.kubectl_stdin(&args, manifest);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            wrong.push(format!("accepted:\n{manifest}"));
        } else if !stderr.contains(expected) {
            wrong.push(format!("expected {expected:?} in:\n{stderr}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let stored = cluster.kubectl_ok(&["get", "conninfo", "-n", "admission", "-o", "name"]);
    assert_eq!(stored.trim(), "", "nothing is stored");
}

#[test]
fn samples_reach_their_conditions() {
    let cluster = operator_cluster();
    cluster.create_namespace("samples");
    cluster.kubectl_ok(&[
        "apply",
        "-n",
        "samples",
        "-f",
        &format!("{REPO}/deploy/samples/"),
    ]);
    for name in ["salesforce", "datadog", "snowflake", "acme-crm"] {
        cluster.wait_ready("samples", name);
    }
    cluster.wait_reason("samples", "slack-as-destination", "RequirementsNotMet");
    let slack = cluster.get("samples", "slack-as-destination");
    let met = slack["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "RequirementsMet")
        .unwrap();
    assert_eq!(met["status"], "False");
    let message = met["message"].as_str().unwrap();
    assert!(
        message.contains("auth mode ApiKey") && message.contains("destination"),
        "{message}"
    );

    let acme = cluster.get("samples", "acme-crm");
    assert_eq!(acme["status"]["authModes"], json!(["OAuth2", "Custom"]));
    assert_eq!(acme["status"]["authModesSummary"], "OAuth2,Custom");
    assert_eq!(
        acme["status"]["connectorConfiguration"]["connectorLabel"],
        "acme-crm"
    );
    assert_eq!(acme["status"]["observedGeneration"], 1);

    let table = cluster.kubectl_ok(&["get", "conninfo", "-n", "samples"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "TYPE", "LABEL", "AUTH", "READY", "REASON", "AGE"]
    );
    let acme_row = table.lines().find(|l| l.starts_with("acme-crm")).unwrap();
    assert!(
        acme_row.contains(" OAuth2,Custom ")
            && acme_row.contains("CustomConnector")
            && acme_row.contains("True")
            && acme_row.contains("Described"),
        "{table}"
    );

    // Events on the transition: one Normal Described for a Ready object.
    let events = cluster.kubectl_ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "samples",
        "--field-selector",
        "regarding.name=salesforce",
        "-o",
        "json",
    ]);
    let events: serde_json::Value = serde_json::from_str(&events).unwrap();
    let reasons: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["Described"]);

    let metrics = cluster.metrics();
    for line in [
        "appflow_connector_operator_connectorinfos{condition=\"Ready\",status=\"True\"} 4",
        "appflow_connector_operator_connectorinfos{condition=\"Ready\",status=\"False\"} 1",
        "appflow_connector_operator_appflow_api_calls_total{operation=\"DescribeConnector\",outcome=\"Described\"} 5",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[test]
fn faults_map_to_reasons() {
    let cluster = operator_cluster();
    cluster.create_namespace("faults");
    let cases = [
        (
            "validation",
            json!({"errorCode": "ValidationException"}),
            "InvalidRequest",
        ),
        (
            "denied",
            json!({"errorCode": "AccessDeniedException"}),
            "AccessDenied",
        ),
        (
            "throttled",
            json!({"errorCode": "ThrottlingException"}),
            "Throttled",
        ),
        (
            "internal",
            json!({"errorCode": "InternalServerException"}),
            "ServiceError",
        ),
        ("garbage", json!({"garbageBody": true}), "InvalidResponse"),
        ("slow", json!({"latencyMs": 5000}), "ServiceUnreachable"),
    ];
    for (label, fault, _) in &cases {
        cluster.register_connector(label);
        cluster.set_fault(&format!("CustomConnector/{label}"), fault.clone());
        cluster.apply("faults", &custom(label));
    }
    cluster.apply("faults", &custom("ghost"));
    cluster.wait_reason("faults", "ghost", "ConnectorNotFound");
    for (label, _, reason) in &cases {
        cluster.wait_reason("faults", label, reason);
        let object = cluster.get("faults", label);
        let synced = object["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Synced")
            .unwrap();
        assert_eq!(synced["status"], "False");
        // The request id changes on every call: it goes into the Event, never the condition
        // (or every retry would be a status write).
        assert!(
            !synced["message"].as_str().unwrap().contains("request id"),
            "{synced}"
        );
        let events: serde_json::Value = serde_json::from_str(&cluster.kubectl_ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "faults",
            "--field-selector",
            &format!("regarding.name={label}"),
            "-o",
            "json",
        ]))
        .unwrap();
        let notes: Vec<&str> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == *reason)
            .filter_map(|e| e["note"].as_str())
            .collect();
        assert_eq!(notes.len(), 1, "one Event for the transition: {events}");
        assert!(
            notes[0].contains("request id") || *reason == "ServiceUnreachable",
            "{notes:?}"
        );
    }
    // Terminal reasons stall, transient ones keep reconciling.
    let stalled = |name: &str| {
        let object = cluster.get("faults", name);
        let conditions = object["status"]["conditions"].as_array().unwrap().clone();
        let get = |t: &str| {
            conditions.iter().find(|c| c["type"] == t).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        (get("Stalled"), get("Reconciling"))
    };
    assert_eq!(
        stalled("validation"),
        ("True".to_owned(), "False".to_owned())
    );
    assert_eq!(stalled("ghost"), ("True".to_owned(), "False".to_owned()));
    assert_eq!(
        stalled("throttled"),
        ("False".to_owned(), "True".to_owned())
    );

    // A connector registered later is found by the not-found poll once forced to look.
    cluster.register_connector("ghost");
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        "faults",
        "conninfo/ghost",
        "appflow.connectorinfo.dev/refresh=registered",
    ]);
    cluster.wait_ready("faults", "ghost");
}

#[test]
fn transient_fault_keeps_last_good_configuration() {
    let cluster = operator_cluster();
    cluster.create_namespace("transient");
    cluster.register_connector("flaky");
    cluster.register_connector("recovering");
    cluster.set_fault(
        "CustomConnector/recovering",
        json!({"errorCode": "ThrottlingException", "count": 2}),
    );
    cluster.apply("transient", &custom("recovering"));
    cluster.apply("transient", &custom("flaky"));
    cluster.wait_ready("transient", "recovering");
    assert!(
        cluster.calls("CustomConnector/recovering") >= 3,
        "two failures, then success"
    );

    cluster.wait_ready("transient", "flaky");
    let good = cluster.get("transient", "flaky")["status"]["connectorConfiguration"].clone();
    assert!(good.is_object());
    cluster.set_fault(
        "CustomConnector/flaky",
        json!({"errorCode": "InternalServerException"}),
    );
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        "transient",
        "conninfo/flaky",
        "appflow.connectorinfo.dev/refresh=1",
    ]);
    cluster.wait_reason("transient", "flaky", "ServiceError");
    let during = cluster.get("transient", "flaky");
    assert_eq!(
        during["status"]["connectorConfiguration"], good,
        "last good configuration kept"
    );
    cluster.set_fault("CustomConnector/flaky", serde_json::Value::Null);
    cluster.wait_ready("transient", "flaky");
}

#[test]
fn spec_change_and_refresh_annotation_redescribe() {
    let cluster = operator_cluster();
    cluster.create_namespace("changes");
    cluster.register_connector("changing");
    let key = "CustomConnector/changing";
    cluster.apply("changes", &custom("changing"));
    cluster.wait_ready("changes", "changing");
    let before = cluster.calls(key);

    require_source_usage(&cluster, "changes", "changing");
    // The connector is the same (same cache key) and its answer younger than the refresh
    // interval: the new generation is judged on the shared answer, without an AWS call.
    assert_eq!(
        cluster.calls(key),
        before,
        "the new generation is judged on the cached answer"
    );

    refresh_now(&cluster, "changes", "changing");
    assert_eq!(
        cluster.calls(key),
        before + 1,
        "the annotation forced one describe"
    );
}

/// Re-applies the described custom connector `name` with a requirement added, and waits until
/// its new generation (2) is judged and Ready.
fn require_source_usage(cluster: &Cluster, namespace: &str, name: &str) {
    cluster.apply(
        namespace,
        &connector_info(name, ConnectorType::CustomConnector)
            .label(name)
            .usable_as(&[Usage::Source])
            .manifest(),
    );
    cluster.wait_jsonpath(namespace, name, "{.status.observedGeneration}", "2");
    cluster.wait_ready(namespace, name);
}

/// Sets the refresh annotation to `now` and waits until the operator has acted on it.
fn refresh_now(cluster: &Cluster, namespace: &str, name: &str) {
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        namespace,
        &format!("conninfo/{name}"),
        "appflow.connectorinfo.dev/refresh=now",
    ]);
    cluster.wait_jsonpath(namespace, name, "{.status.lastHandledRefresh}", "now");
}

#[test]
fn steady_state_writes_nothing() {
    let cluster = operator_cluster();
    // An object that has been through what may trigger a loop: a first describe, a new
    // generation and a handled refresh annotation.
    cluster.create_namespace("steady");
    cluster.register_connector("settled");
    cluster.apply("steady", &custom("settled"));
    cluster.wait_ready("steady", "settled");
    require_source_usage(&cluster, "steady", "settled");
    refresh_now(&cluster, "steady", "settled");

    let before = cluster.get("steady", "settled");
    let calls = cluster.calls("CustomConnector/settled");
    // An observation window, not a readiness wait: a self-triggering loop would write or
    // describe within it.
    std::thread::sleep(Duration::from_secs(5));
    let after = cluster.get("steady", "settled");
    assert_eq!(
        before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
        "no status writes on an unchanged object"
    );
    assert_eq!(
        cluster.calls("CustomConnector/settled"),
        calls,
        "no describes on an unchanged object"
    );
}

#[test]
fn deleting_leaves_nothing_behind() {
    let cluster = operator_cluster();
    cluster.create_namespace("deleting");
    cluster.register_connector("doomed");
    cluster.apply("deleting", &custom("doomed"));
    cluster.wait_ready("deleting", "doomed");

    cluster.kubectl_ok(&[
        "delete",
        "-n",
        "deleting",
        "conninfo/doomed",
        "--wait=true",
        "--timeout=30s",
    ]);
    let output = cluster.kubectl(&["get", "-n", "deleting", "conninfo/doomed"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("NotFound"));
    let left = cluster.kubectl_ok(&["get", "conninfo", "-n", "deleting", "-o", "name"]);
    assert_eq!(left.trim(), "");
}

#[test]
fn operator_survives_apiserver_restart() {
    let mut cluster = Cluster::start();
    cluster.start_operator(&[]);
    cluster.create_namespace("restart");
    cluster.apply(
        "restart",
        &connector_info("before", ConnectorType::Slack).manifest(),
    );
    cluster.wait_ready("restart", "before");

    cluster
        .control_plane
        .restart_apiserver()
        .expect("restart apiserver");

    let restarted = Instant::now();
    cluster.apply(
        "restart",
        &connector_info("after", ConnectorType::Zendesk).manifest(),
    );
    // The watches retry every 4 s at most and the controller does not pause its triggers on
    // top (docs/design.md, "Watch recovery"; `restarts::` measures it): seconds, where kube's
    // default backoffs took up to two minutes.
    cluster.wait_ready("restart", "after");
    eprintln!(
        "a new object Ready {:.1}s after the API server came back",
        restarted.elapsed().as_secs_f64()
    );
    cluster.apply(
        "restart",
        &connector_info("before", ConnectorType::Slack)
            .auth_modes(&[AuthMode::OAuth2])
            .manifest(),
    );
    cluster.wait_jsonpath("restart", "before", "{.status.observedGeneration}", "2");
    let log = cluster.operator_log();
    assert!(
        log.lines()
            .any(|l| l.contains("initial lists of ConnectorInfos") && l.contains("mode=Streaming")),
        "the pinned API server streams lists, and the operator did not choose them:\n{log}"
    );

    let status = cluster.terminate_operator();
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        cluster.operator_log()
    );
}

/// The value of one metric line, e.g. `name{label="x"}`, or 0 when absent.
fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn objects_naming_one_connector_share_one_describe_and_a_restart_describes_none() {
    let mut cluster = Cluster::start();
    cluster.start_operator(&["--concurrency", "4"]);
    cluster.register_connector("shared");
    cluster.create_namespace("fleet");
    let manifests: Vec<String> = (0..20)
        .map(|i| {
            connector_info(&format!("fleet-{i}"), ConnectorType::CustomConnector)
                .label("shared")
                .manifest()
        })
        .collect();
    cluster.apply("fleet", &manifests.join("---\n"));
    for i in 0..20 {
        cluster.wait_ready("fleet", &format!("fleet-{i}"));
    }
    assert_eq!(
        cluster.calls("CustomConnector/shared"),
        1,
        "one call for 20 objects"
    );
    let metrics = cluster.metrics();
    let written = "appflow_connector_operator_status_writes_total{result=\"written\"}";
    assert_eq!(
        metric(&metrics, written),
        20,
        "one status write each\n{metrics}"
    );
    let cache = |result: &str| {
        metric(
            &metrics,
            &format!("appflow_connector_operator_describe_cache_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(cache("called"), 1);
    assert_eq!(cache("hit") + cache("joined"), 19);

    // A restart: every object was described for its generation and is not due, so the new
    // process neither describes nor writes.
    let status = cluster.terminate_operator();
    assert!(status.success(), "{status:?}");
    cluster.start_operator(&["--concurrency", "4"]);
    let fresh = "appflow_connector_operator_reconciliations_total{result=\"fresh\"}";
    cluster.eventually("every object to be seen fresh", || {
        metric(&cluster.metrics(), fresh) >= 20
    });
    // Once each: the namespace and binding watches' first lists re-trigger nothing.
    let metrics = cluster.metrics();
    assert_eq!(metric(&metrics, fresh), 20, "one reconcile each\n{metrics}");
    assert_eq!(
        cluster.calls("CustomConnector/shared"),
        1,
        "no describe after a restart"
    );
    assert_eq!(
        metric(&cluster.metrics(), written),
        0,
        "no write after a restart"
    );
}
