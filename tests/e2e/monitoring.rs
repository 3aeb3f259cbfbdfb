//! The observability pack: the chart's alerts through the real Prometheus tooling (`promtool
//! check rules` and `promtool test rules` on tests/monitoring/alerts.test.yaml), the
//! ServiceMonitor, PrometheusRule and dashboard ConfigMap against the Prometheus Operator's
//! own CRDs on the real API server, and every metric the dashboard and the alerts query
//! scraped from a running operator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::connector_info;
use serde_json::Value;

use super::cluster::{Cluster, REPO};
use super::helm::{dry_run, find, objects, template};

const FULLNAME: &str = "appflow-appflow-connector-operator";
const DASHBOARD: &str =
    "charts/appflow-connector-operator/dashboards/appflow-connector-operator.json";

/// Where `hack/monitoring/build.sh` puts promtool and the prometheus-operator CRDs.
fn monitoring_dir() -> PathBuf {
    std::env::var_os("APPFLOW_MONITORING_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".cache/monitoring"))
}

fn promtool() -> PathBuf {
    let path = monitoring_dir().join("bin/promtool");
    assert!(
        path.is_file(),
        "promtool not found at {}: run hack/monitoring/build.sh",
        path.display()
    );
    path
}

/// The chart rendered with every monitoring object on, as the promtool tests expect it.
fn rendered() -> Vec<Value> {
    objects(&template(&[
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.prometheusRule.additionalAlertLabels.team=platform",
        "--set",
        "metrics.dashboard.enabled=true",
    ]))
}

fn rules(rendered: &[Value]) -> Value {
    find(rendered, "PrometheusRule", FULLNAME)["spec"].clone()
}

fn alert_names(rules: &Value) -> BTreeSet<String> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| r["alert"].as_str().expect("alert").to_owned())
        .collect()
}

fn promtool_ok(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(promtool())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alerts_pass_promtool_and_each_is_shown_firing_and_silent() {
    let rules = rules(&rendered());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("alerts.yaml"),
        serde_yaml_ng::to_string(&rules).expect("rules yaml"),
    )
    .expect("write rules");
    let tests = std::fs::read_to_string(Path::new(REPO).join("tests/monitoring/alerts.test.yaml"))
        .expect("alert tests");
    std::fs::write(dir.path().join("alerts.test.yaml"), &tests).expect("write tests");

    let checked = promtool_ok(dir.path(), &["check", "rules", "alerts.yaml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool_ok(dir.path(), &["test", "rules", "alerts.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    // The unit tests cover every alert, each both firing and silent.
    let tests: Value = serde_yaml_ng::from_str(&tests).expect("tests yaml");
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| {
            t["alert_rule_test"]
                .as_array()
                .expect("alert_rule_test")
                .iter()
        })
        .collect();
    let with = |firing: bool| -> BTreeSet<String> {
        cases
            .iter()
            .filter(|c| {
                c["exp_alerts"]
                    .as_array()
                    .is_some_and(|a| a.is_empty() != firing)
            })
            .map(|c| c["alertname"].as_str().expect("alertname").to_owned())
            .collect()
    };
    let alerts = alert_names(&rules);
    assert_eq!(alerts.len(), 14, "{alerts:?}");
    assert_eq!(with(true), alerts, "every alert shown firing");
    assert_eq!(with(false), alerts, "every alert shown silent");
}

#[test]
fn runbook_links_follow_the_base_url() {
    let rendered = objects(&template(&[
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.prometheusRule.runbookBaseUrl=https://wiki.example.com/appflow",
    ]));
    let rules = rules(&rendered);
    let runbooks = std::fs::read_to_string(Path::new(REPO).join("docs/monitoring.md"))
        .expect("docs/monitoring.md");
    for rule in rules["groups"][0]["rules"].as_array().expect("rules") {
        let alert = rule["alert"].as_str().expect("alert");
        assert_eq!(
            rule["annotations"]["runbook_url"],
            format!("https://wiki.example.com/appflow#{}", alert.to_lowercase()),
        );
        // The runbook exists: docs/monitoring.md has a section per alert.
        assert!(runbooks.contains(&format!("### {alert}")), "{alert}");
    }
}

/// Metric names a PromQL expression uses (names are followed by `{`, `[`, `)` or a space).
fn metric_names(expression: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(r"\b([a-z_][a-z0-9_]*)\s*[\{\[]").expect("regex");
    let functions = [
        "sum",
        "max",
        "rate",
        "increase",
        "histogram_quantile",
        "absent",
        "by",
        "offset",
    ];
    pattern
        .captures_iter(expression)
        .map(|c| c[1].to_owned())
        .filter(|name| !functions.contains(&name.as_str()))
        .collect()
}

/// Every expression of the dashboard (panels and variables) and of the alerts.
fn expressions(rendered: &[Value]) -> Vec<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(REPO).join(DASHBOARD)).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut all: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("expr").to_owned())
        .collect();
    all.extend(
        dashboard["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .filter_map(|v| v["query"]["query"].as_str())
            // label_values(metric{…}, label): the metric, as a selector.
            .filter_map(|q| q.strip_prefix("label_values("))
            .map(|q| format!("{}{{}}", q.split([',', '{']).next().unwrap_or_default())),
    );
    let rules = rules(rendered);
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            all.push(rule["expr"].as_str().expect("expr").to_owned());
        }
    }
    all
}

/// Series that come from Prometheus itself (`up`) or from the kubelet's cAdvisor (the pod's
/// memory and CPU): not the operator's to export.
const NOT_OURS: [&str; 3] = [
    "up",
    "container_memory_working_set_bytes",
    "container_cpu_usage_seconds_total",
];

#[test]
fn monitoring_objects_fit_the_prometheus_operator_crds_and_query_real_metrics() {
    let mut cluster = Cluster::start();
    for crd in [
        "monitoring.coreos.com_servicemonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",
    ] {
        let path = monitoring_dir().join("crds").join(crd);
        assert!(
            path.is_file(),
            "{}: run hack/monitoring/build.sh",
            path.display()
        );
        cluster.kubectl_ok(&["apply", "--server-side", "-f", path.to_str().expect("path")]);
    }
    for crd in ["servicemonitors", "prometheusrules"] {
        cluster.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}.monitoring.coreos.com"),
            "--timeout=60s",
        ]);
    }
    cluster.eventually("the monitoring CRDs to be served", || {
        cluster
            .kubectl(&["explain", "prometheusrules.spec"])
            .status
            .success()
    });
    cluster.create_namespace("appflow-system");

    // The rendered ServiceMonitor, PrometheusRule and dashboard ConfigMap, as the API server
    // (with the Prometheus Operator's schemas) validates them.
    let rendered = rendered();
    let monitoring: Vec<String> = rendered
        .iter()
        .filter(|o| {
            ["ServiceMonitor", "PrometheusRule"].contains(&o["kind"].as_str().unwrap_or_default())
                || o["metadata"]["name"] == format!("{FULLNAME}-dashboard")
        })
        .map(|o| serde_json::to_string(o).expect("json"))
        .collect();
    assert_eq!(
        monitoring.len(),
        3,
        "ServiceMonitor, PrometheusRule, dashboard"
    );
    for object in &monitoring {
        dry_run(&cluster, object);
    }
    // The scrape as each metrics setting renders it: HTTPS with Prometheus' token and the
    // self-signed certificate unverified (the default, above), verified against a CA, or
    // plain HTTP.
    let monitor = &find(&rendered, "ServiceMonitor", FULLNAME)["spec"]["endpoints"][0];
    assert_eq!(monitor["scheme"], "https");
    assert_eq!(monitor["tlsConfig"]["insecureSkipVerify"], true);
    for settings in [
        &["metrics.serviceMonitor.caSecret.name=metrics-cert"][..],
        &["metrics.secure=false"],
    ] {
        let mut args = vec!["--set", "metrics.serviceMonitor.enabled=true"];
        for setting in settings {
            args.extend(["--set", setting]);
        }
        let variant = objects(&template(&args));
        let monitor = find(&variant, "ServiceMonitor", FULLNAME);
        dry_run(&cluster, &serde_json::to_string(monitor).expect("json"));
    }
    let dashboard = find(&rendered, "ConfigMap", &format!("{FULLNAME}-dashboard"));
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped = std::fs::read_to_string(Path::new(REPO).join(DASHBOARD)).expect("dashboard");
    assert_eq!(
        dashboard["data"]["appflow-connector-operator.json"],
        shipped.as_str()
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(REPO).join("deploy/monitoring/dashboard.json"))
            .expect("deploy copy"),
        shipped,
        "deploy/monitoring/dashboard.json is the chart's dashboard: run hack/render-manifests.sh"
    );

    // Every metric queried is one a running operator exports. A family appears once it has a
    // sample: describe a connector, then change it (configuration_changes_total).
    cluster.start_operator(&["--min-describe-interval", "1s"]);
    cluster.create_namespace("metrics");
    cluster.apply(
        "metrics",
        &connector_info("slack", ConnectorType::Slack).manifest(),
    );
    cluster.wait_ready("metrics", "slack");
    cluster.set_override("Slack", serde_json::json!({"connectorVersion": "2.1"}));
    cluster.kubectl_ok(&[
        "annotate",
        "-n",
        "metrics",
        "conninfo/slack",
        "appflow.connectorinfo.dev/refresh=changed",
    ]);
    cluster.eventually("the configuration change to be counted", || {
        cluster.metrics().contains(
            "appflow_connector_operator_configuration_changes_total{connector_type=\"Slack\"} 1",
        )
    });
    let scraped = cluster.metrics();
    let families: BTreeSet<&str> = scraped
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let exported = |name: &str| {
        ["", "_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| families.contains(base))
            })
    };
    let mut used = BTreeSet::new();
    for expression in expressions(&rendered) {
        used.extend(metric_names(&expression));
    }
    assert!(used.len() >= 12, "{used:?}");
    let unknown: Vec<&String> = used
        .iter()
        .filter(|name| !NOT_OURS.contains(&name.as_str()) && !exported(name))
        .collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}\n{scraped}");
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"sum by (le) (rate(appflow_connector_operator_x_bucket{job="a"}[5m])) / absent(up{job="a"} == 1)"#
        ),
        BTreeSet::from([
            "appflow_connector_operator_x_bucket".to_owned(),
            "up".to_owned()
        ])
    );
}
