//! The Helm chart (`charts/appflow-connector-operator`), checked with a helm built from Go
//! modules (`hack/helm/build.sh`) and against the real kube-apiserver: lint and schema for
//! every documented values combination, server-side dry-run of each rendering, then `helm
//! install` with the operator binary running on the host *as the chart's ServiceAccount* (a
//! token from the TokenRequest API) — the RBAC suffices, and grants nothing more — and `helm
//! uninstall`; and upgrades from the last release (0.1.0, from git history), by helm and by
//! the plain manifests. The chart's files against their sources (CRD copies,
//! `deploy/manifests/`) are checked without a cluster, in `integration::chart`.
//!
//! The control plane has no nodes, scheduler or controllers: the Deployment is stored but no
//! pod ever runs, so the host process stands in for the pod, with the Deployment's own args;
//! likewise for the CRD adoption hook's Job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use conninfo_test_support::tools::helm_bin;
use serde::Deserialize;
use serde_json::{Value, json};

use super::cluster::{BIN, Cluster, REPO};
use super::metrics_auth::{https_client, scrape};

pub(super) const CHART: &str = "charts/appflow-connector-operator";
/// With this release name the objects are called `<RELEASE>-appflow-connector-operator`.
const RELEASE: &str = "appflow";
const FULLNAME: &str = "appflow-appflow-connector-operator";
/// The chart's CRDs, by name.
const CRDS: [&str; 2] = [
    "connectorinfos.appflow.connectorinfo.dev",
    "appflowaccounts.appflow.connectorinfo.dev",
];

/// helm with its own config, cache and data directories, so tests never read or write the
/// user's repositories and plugins.
fn helm_command(args: &[&str], kubeconfig: Option<&Path>) -> Command {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut cmd = Command::new(helm_bin());
    cmd.args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    match kubeconfig {
        Some(path) => cmd.env("KUBECONFIG", path),
        None => cmd.env("KUBECONFIG", home.join("no-cluster")),
    };
    cmd
}

fn helm(args: &[&str], kubeconfig: Option<&Path>) -> Output {
    helm_command(args, kubeconfig).output().expect("run helm")
}

pub(super) fn helm_ok(args: &[&str], kubeconfig: Option<&Path>) -> String {
    let output = helm(args, kubeconfig);
    assert!(
        output.status.success(),
        "helm {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn chart() -> String {
    format!("{REPO}/{CHART}")
}

/// The documented values combinations: `ci/*-values.yaml`, by name.
fn value_files() -> BTreeMap<String, PathBuf> {
    let files: BTreeMap<_, _> = std::fs::read_dir(format!("{REPO}/{CHART}/ci"))
        .expect("chart ci/ directory")
        .map(|entry| entry.expect("dir entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.strip_suffix("-values.yaml")?;
            Some((name.to_owned(), path.clone()))
        })
        .collect();
    for name in [
        "default",
        "namespace-scoped",
        "leader-election",
        "servicemonitor",
        "pdb",
        "static-credentials",
        "irsa",
        "no-account-bindings",
        "deny-unmapped",
        "networkpolicy",
        "metrics-certificate",
        "insecure-metrics",
    ] {
        assert!(files.contains_key(name), "ci/{name}-values.yaml is missing");
    }
    files
}

/// `helm template` in namespace `appflow-system` with extra helm arguments.
pub(super) fn template(extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec!["template", RELEASE, &chart, "--namespace", "appflow-system"];
    args.extend(extra);
    helm_ok(&args, None)
}

/// The YAML documents of a multi-document stream, parsed; empty documents are dropped.
pub(super) fn objects(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|value| !value.is_null())
        .collect()
}

pub(super) fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    kinds
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn args(deployment: &Value) -> Vec<String> {
    container(deployment)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The operator's rules, whatever the scope: exactly these, nothing else.
/// The `-accounts` ClusterRole: read bindings and namespaces, write only the bindings' status.
fn account_rules() -> Value {
    json!([
        {"apiGroups": ["appflow.connectorinfo.dev"], "resources": ["appflowaccounts"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["appflow.connectorinfo.dev"], "resources": ["appflowaccounts/status"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    ])
}

/// The `-metrics-auth` ClusterRole: the reviews behind HTTPS /metrics, create only.
fn metrics_auth_rules() -> Value {
    json!([
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ])
}

/// The `-metrics-reader` ClusterRole, for scrapers: get /metrics, nothing else.
fn metrics_reader_rules() -> Value {
    json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
}

fn operator_rules() -> Value {
    json!([
        {"apiGroups": ["appflow.connectorinfo.dev"], "resources": ["connectorinfos"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["appflow.connectorinfo.dev"], "resources": ["connectorinfos/status"], "verbs": ["get", "patch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

#[test]
fn chart_lints_strict_and_renders_each_documented_combination() {
    let chart = chart();
    for (name, file) in value_files() {
        let file = file.to_str().unwrap();
        let lint = helm_ok(&["lint", "--strict", &chart, "-f", file], None);
        assert!(lint.contains("0 chart(s) failed"), "{name}: {lint}");
        assert!(!lint.contains("[WARNING]"), "{name}: {lint}");

        let rendered = objects(&template(&["-f", file]));
        let deployment = find(&rendered, "Deployment", FULLNAME);
        let args = args(deployment);
        let env = container(deployment)["env"].as_array().unwrap().clone();
        let env_names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
        // Pod security: restricted everywhere.
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(pod["securityContext"]["runAsUser"], 65532, "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        let security = &container(deployment)["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["capabilities"]["drop"], json!(["ALL"]), "{name}");
        assert_eq!(
            container(deployment)["livenessProbe"]["httpGet"]["path"],
            "/healthz",
            "{name}"
        );
        assert_eq!(
            container(deployment)["readinessProbe"]["httpGet"]["path"],
            "/readyz",
            "{name}"
        );
        // The kubelet probes the plain port, which never needs a token.
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(
                container(deployment)[probe]["httpGet"]["port"],
                "health",
                "{name}"
            );
        }
        metrics_are_https_unless_turned_off(&name, &rendered, &args);
        assert_eq!(env_names[0], "POD_NAME", "{name}");
        assert_eq!(env_names[1], "POD_NAMESPACE", "{name}");
        assert_eq!(
            env[1]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace",
            "{name}"
        );
        assert_eq!(
            env[0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
            "{name}"
        );
        // Credentials never come from values: every AWS_* variable is a secretKeyRef.
        for var in &env {
            if var["name"].as_str().unwrap().starts_with("AWS_") {
                assert!(var.get("value").is_none(), "{name}: {var}");
                assert!(!var["valueFrom"]["secretKeyRef"].is_null(), "{name}: {var}");
            }
        }
        assert!(
            !rendered.iter().any(|o| o["kind"] == "Secret"),
            "{name}: the chart must not create Secrets"
        );
        // Every role grants the operator's rules, nothing more (leases only for election).
        for role in rendered
            .iter()
            .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        {
            if role["metadata"]["name"] == format!("{FULLNAME}-leader-election") {
                assert_eq!(
                    role["rules"],
                    json!([
                        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [FULLNAME], "verbs": ["get", "list", "watch", "update", "patch"]},
                    ]),
                    "{name}"
                );
            } else if role["metadata"]["name"] == format!("{FULLNAME}-accounts") {
                assert_eq!(
                    role["kind"], "ClusterRole",
                    "{name}: bindings are cluster-scoped"
                );
                assert_eq!(role["rules"], account_rules(), "{name}");
            } else if role["metadata"]["name"] == format!("{FULLNAME}-metrics-auth") {
                assert_eq!(
                    role["kind"], "ClusterRole",
                    "{name}: reviews are cluster-scoped"
                );
                assert_eq!(role["rules"], metrics_auth_rules(), "{name}");
            } else if role["metadata"]["name"] == format!("{FULLNAME}-metrics-reader") {
                assert_eq!(role["kind"], "ClusterRole", "{name}");
                assert_eq!(role["rules"], metrics_reader_rules(), "{name}");
                assert!(
                    !rendered
                        .iter()
                        .any(|o| o["roleRef"]["name"] == role["metadata"]["name"]),
                    "{name}: the reader role is for scrapers; the chart binds it to no one"
                );
            } else {
                assert_eq!(role["rules"], operator_rules(), "{name}");
            }
        }
        let watch = args.iter().find(|a| a.starts_with("--watch-namespace="));

        match name.as_str() {
            "default" => {
                assert_eq!(
                    kinds(&rendered),
                    [
                        // The operator's, the one for AppFlowAccount bindings, the
                        // reviews behind HTTPS /metrics, and the scrapers' reader role.
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "ClusterRoleBinding",
                        "ClusterRoleBinding",
                        // Both CRDs (crds.install): integration::chart compares them with crds/.
                        "CustomResourceDefinition",
                        "CustomResourceDefinition",
                        "Deployment",
                        // The Lease, its Role and binding: leader election is on by default.
                        "Lease",
                        "Role",
                        "RoleBinding",
                        "Service",
                        "ServiceAccount"
                    ]
                );
                assert_eq!(
                    args,
                    [
                        "run",
                        "--health-addr=0.0.0.0:8081",
                        "--metrics-secure=true",
                        "--metrics-addr=0.0.0.0:8443",
                        "--default-refresh-interval=1h",
                        "--concurrency=4",
                        "--min-describe-interval=10s",
                        "--forced-refresh-interval=60s",
                        "--lane-bounds=1s,30s,5m",
                        "--initial-list=auto",
                        "--stalled-after=10m",
                        "--aws-timeout=10s",
                        "--aws-max-attempts=2",
                        "--aws-rate-limit=5",
                        "--aws-burst=10",
                        "--log-level=info",
                        "--log-format=json",
                        "--account-bindings=true",
                        "--unmapped-namespaces=operator-identity",
                        "--leader-elect",
                        "--leader-election-id=appflow-appflow-connector-operator",
                        "--leader-election-namespace=appflow-system",
                        "--leader-election-lease-duration=15s",
                    ]
                );
                assert_eq!(env_names, ["POD_NAME", "POD_NAMESPACE"]);
                assert_eq!(deployment["spec"]["replicas"], 1);
                // The new pod of a rollout waits as a standby for the old one's Lease.
                assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
                assert_eq!(
                    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                    0
                );
                assert!(
                    rendered
                        .iter()
                        .all(|doc| doc["kind"] != "PodDisruptionBudget"),
                    "no PodDisruptionBudget unless asked for"
                );
                let labels = &deployment["metadata"]["labels"];
                for key in [
                    "app.kubernetes.io/name",
                    "app.kubernetes.io/instance",
                    "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by",
                    "helm.sh/chart",
                ] {
                    assert!(labels.get(key).is_some(), "label {key}: {labels}");
                }
            }
            "namespace-scoped" => {
                assert_eq!(
                    kinds(&rendered),
                    [
                        // Bindings, namespaces and reviews are cluster-scoped whatever the
                        // scope; the reader role too.
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRole",
                        "ClusterRoleBinding",
                        "ClusterRoleBinding",
                        "CustomResourceDefinition",
                        "CustomResourceDefinition",
                        "Deployment",
                        "Lease",
                        "Role",
                        "Role",
                        "RoleBinding",
                        "RoleBinding",
                        "Service",
                        "ServiceAccount"
                    ]
                );
                assert_eq!(watch.map(String::as_str), Some("--watch-namespace=team-a"));
                // The operator's own Role in the watched namespace; the Lease's in its own.
                let lease_role = find(&rendered, "Role", &format!("{FULLNAME}-leader-election"));
                assert_eq!(lease_role["metadata"]["namespace"], "appflow-system");
                let role = find(&rendered, "Role", FULLNAME);
                assert_eq!(role["metadata"]["namespace"], "team-a");
                let binding = find(&rendered, "RoleBinding", FULLNAME);
                assert_eq!(binding["metadata"]["namespace"], "team-a");
                assert_eq!(binding["subjects"][0]["namespace"], "appflow-system");
            }
            "leader-election" => {
                let role = find(&rendered, "Role", &format!("{FULLNAME}-leader-election"));
                assert_eq!(role["metadata"]["namespace"], "appflow-system");
                find(
                    &rendered,
                    "RoleBinding",
                    &format!("{FULLNAME}-leader-election"),
                );
                find(&rendered, "ClusterRole", FULLNAME);
                assert_eq!(deployment["spec"]["replicas"], 2);
                // Two replicas, one leader: the binary is told to elect one on the Lease
                // the Role names.
                for flag in ["--leader-elect", "--leader-election-lease-duration=10s"] {
                    assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
                }
                let rules = role["rules"].as_array().expect("rules");
                assert!(
                    rules.iter().any(|rule| rule["resourceNames"][0] == FULLNAME
                        && rule["verbs"]
                            .as_array()
                            .is_some_and(|v| v.contains(&"watch".into()))),
                    "the own Lease can be watched: {rules:?}"
                );
            }
            "servicemonitor" => {
                let monitor = find(&rendered, "ServiceMonitor", FULLNAME);
                let endpoint = &monitor["spec"]["endpoints"][0];
                assert_eq!(endpoint["port"], "metrics");
                // HTTPS with Prometheus' own token; the self-signed certificate is not
                // verified.
                assert_eq!(endpoint["scheme"], "https");
                assert_eq!(
                    endpoint["bearerTokenFile"],
                    "/var/run/secrets/kubernetes.io/serviceaccount/token"
                );
                assert_eq!(endpoint["tlsConfig"], json!({"insecureSkipVerify": true}));
                assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
                let rule = find(&rendered, "PrometheusRule", FULLNAME);
                assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
                let dashboard = find(&rendered, "ConfigMap", &format!("{FULLNAME}-dashboard"));
                assert_eq!(dashboard["metadata"]["namespace"], "monitoring");
            }
            "pdb" => {
                let pdb = find(&rendered, "PodDisruptionBudget", FULLNAME);
                assert_eq!(pdb["spec"]["minAvailable"], 1);
                assert_eq!(
                    deployment["spec"]["replicas"], 2,
                    "one pod may always be evicted"
                );
            }
            "static-credentials" => {
                assert_eq!(
                    env_names,
                    [
                        "POD_NAME",
                        "POD_NAMESPACE",
                        "AWS_ACCESS_KEY_ID",
                        "AWS_SECRET_ACCESS_KEY",
                    ]
                );
                assert!(args.contains(&"--region=eu-west-1".to_owned()), "{args:?}");
                assert!(
                    args.iter()
                        .any(|a| a.starts_with("--endpoint-url=https://")),
                    "{args:?}"
                );
                assert!(args.contains(&"--log-format=plain".to_owned()), "{args:?}");
            }
            "irsa" => {
                let account = find(&rendered, "ServiceAccount", FULLNAME);
                assert_eq!(
                    account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
                    "arn:aws:iam::111122223333:role/appflow-connector-operator"
                );
                assert!(
                    args.iter()
                        .any(|a| a == "--allowed-regions=us-east-1,eu-west-1"),
                    "{args:?}"
                );
            }
            "no-account-bindings" => {
                assert!(
                    args.contains(&"--account-bindings=false".to_owned()),
                    "{args:?}"
                );
                assert!(
                    !rendered
                        .iter()
                        .any(|o| o["metadata"]["name"] == format!("{FULLNAME}-accounts")),
                    "no cluster-wide read of namespaces without bindings"
                );
            }
            "deny-unmapped" => {
                assert!(
                    args.contains(&"--unmapped-namespaces=deny".to_owned()),
                    "{args:?}"
                );
                find(&rendered, "ClusterRole", &format!("{FULLNAME}-accounts"));
            }
            "networkpolicy" => {
                let policy = find(&rendered, "NetworkPolicy", FULLNAME);
                assert_eq!(policy["spec"], network_policy_of_the_ci_values());
            }
            "metrics-certificate" => {
                let cert_dir = "--metrics-cert-dir=/etc/appflow-connector-operator/metrics-tls";
                assert!(args.iter().any(|a| a == cert_dir), "{args:?}");
                let pod = &deployment["spec"]["template"]["spec"];
                assert_eq!(
                    pod["volumes"][0]["secret"]["secretName"],
                    "appflow-metrics-cert"
                );
                let mount = &container(deployment)["volumeMounts"][0];
                assert_eq!(
                    mount["mountPath"],
                    "/etc/appflow-connector-operator/metrics-tls"
                );
                assert_eq!(mount["readOnly"], true);
                let monitor = find(&rendered, "ServiceMonitor", FULLNAME);
                assert_eq!(
                    monitor["spec"]["endpoints"][0]["tlsConfig"],
                    json!({
                        "ca": {"secret": {"name": "appflow-metrics-cert", "key": "ca.crt"}},
                        "serverName": format!("{FULLNAME}-metrics.appflow-system.svc"),
                    })
                );
            }
            "insecure-metrics" => {
                let monitor = find(&rendered, "ServiceMonitor", FULLNAME);
                assert_eq!(monitor["spec"]["endpoints"][0]["scheme"], "http");
                assert!(monitor["spec"]["endpoints"][0]["tlsConfig"].is_null());
                // No metrics namespace named: nothing may connect in.
                let policy = find(&rendered, "NetworkPolicy", FULLNAME);
                assert_eq!(policy["spec"]["ingress"], json!([]));
            }
            other => panic!("ci/{other}-values.yaml has no assertions here"),
        }
        assert!(
            name == "namespace-scoped" || watch.is_none(),
            "{name}: {args:?}"
        );
    }
}

/// `/metrics` is HTTPS on its own port, with the rights to review tokens, unless
/// `metrics.secure=false` puts it, plain, on the probe port (ci/insecure-metrics-values.yaml).
fn metrics_are_https_unless_turned_off(name: &str, rendered: &[Value], args: &[String]) {
    let deployment = find(rendered, "Deployment", FULLNAME);
    let service = find(rendered, "Service", &format!("{FULLNAME}-metrics"));
    let secure = name != "insecure-metrics";
    let has = |flag: &str| args.iter().any(|a| a == flag);
    assert!(has("--health-addr=0.0.0.0:8081"), "{name}: {args:?}");
    assert!(
        has(&format!("--metrics-secure={secure}")),
        "{name}: {args:?}"
    );
    let health = json!({"name": "health", "containerPort": 8081, "protocol": "TCP"});
    let review_roles = [
        ("ClusterRole", format!("{FULLNAME}-metrics-auth")),
        ("ClusterRoleBinding", format!("{FULLNAME}-metrics-auth")),
        ("ClusterRole", format!("{FULLNAME}-metrics-reader")),
    ];
    let present = |(kind, object): &(&str, String)| {
        rendered
            .iter()
            .any(|o| o["kind"] == *kind && o["metadata"]["name"] == object.as_str())
    };
    if secure {
        let metrics = json!({"name": "metrics", "containerPort": 8443, "protocol": "TCP"});
        assert_eq!(
            container(deployment)["ports"],
            json!([health, metrics]),
            "{name}"
        );
        assert!(has("--metrics-addr=0.0.0.0:8443"), "{name}: {args:?}");
        assert_eq!(
            service["spec"]["ports"],
            json!([{"name": "metrics", "port": 8443, "targetPort": "metrics", "protocol": "TCP"}]),
            "{name}"
        );
        assert!(review_roles.iter().all(present), "{name}");
        let binding = find(
            rendered,
            "ClusterRoleBinding",
            &format!("{FULLNAME}-metrics-auth"),
        );
        assert_eq!(binding["subjects"][0]["name"], FULLNAME, "{name}");
    } else {
        assert_eq!(container(deployment)["ports"], json!([health]), "{name}");
        assert!(
            !args.iter().any(|a| a.starts_with("--metrics-addr")),
            "{name}"
        );
        assert_eq!(
            service["spec"]["ports"],
            json!([{"name": "metrics", "port": 8081, "targetPort": "health", "protocol": "TCP"}]),
            "{name}"
        );
        assert!(!review_roles.iter().any(present), "{name}");
    }
}

/// The NetworkPolicy ci/networkpolicy-values.yaml asks for: the metrics port from two
/// namespaces; the API server by address, HTTPS, DNS, and the extra rule as given.
fn network_policy_of_the_ci_values() -> Value {
    json!({
        "podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "appflow-connector-operator",
            "app.kubernetes.io/instance": RELEASE,
        }},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{
            "from": [{"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": ["monitoring", "observability"],
            }]}}],
            "ports": [{"port": "metrics", "protocol": "TCP"}],
        }],
        "egress": [
            {
                "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
                "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "172.20.0.0/16"}}],
            },
            {"ports": [{"port": 443, "protocol": "TCP"}]},
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            {
                "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}],
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
        ],
    })
}

#[test]
fn bad_values_are_rejected_with_clear_messages() {
    let chart = chart();
    let cases = [
        (
            "logging: {format: xml}",
            "at '/logging/format': value must be one of 'plain', 'json'",
        ),
        (
            "controller: {concurrency: -1}",
            "at '/controller/concurrency': minimum: got -1, want 1",
        ),
        (
            "controller: {defaultRefreshInterval: soon}",
            "at '/controller/defaultRefreshInterval': 'soon' does not match pattern",
        ),
        (
            "aws: {timeout: 10}",
            "at '/aws/timeout': got number, want string",
        ),
        (
            "aws: {maxAttempts: 11}",
            "at '/aws/maxAttempts': maximum: got 11, want 10",
        ),
        (
            "aws: {region: US-East}",
            "at '/aws/region': 'US-East' does not match pattern",
        ),
        (
            "rbac: {scope: everywhere}",
            "at '/rbac/scope': value must be one of 'cluster', 'namespace'",
        ),
        (
            "metrics: {port: 0}",
            "at '/metrics/port': minimum: got 0, want 1",
        ),
        (
            "health: {port: 0}",
            "at '/health/port': minimum: got 0, want 1",
        ),
        (
            // HTTPS and plain HTTP cannot share a port.
            "health: {port: 8443}",
            "metrics.port and health.port must differ",
        ),
        (
            "metrics: {secure: false, tls: {secretName: metrics-cert}}",
            "metrics.tls.secretName needs metrics.secure",
        ),
        (
            "metrics: {secure: maybe}",
            "at '/metrics/secure': got string, want boolean",
        ),
        (
            "networkPolicy: {metricsNamespaces: [Monitoring]}",
            "at '/networkPolicy/metricsNamespaces/0': 'Monitoring' does not match pattern",
        ),
        (
            "networkPolicy: {apiServer: {cidrs: [10.0.0.1]}}",
            "at '/networkPolicy/apiServer/cidrs/0': '10.0.0.1' does not match pattern",
        ),
        (
            "replicaCout: 2",
            "additional properties 'replicaCout' not allowed",
        ),
        (
            // Keys never go into values: only a Secret's name.
            "aws: {credentialsSecret: {accessKeyId: AKIAEXAMPLE}}",
            "at '/aws/credentialsSecret': additional properties 'accessKeyId' not allowed",
        ),
        (
            "{replicaCount: 2, leaderElection: {enabled: false}}",
            "at '/leaderElection/enabled': value must be true",
        ),
        (
            // Two controllers side by side during a rollout.
            "leaderElection: {enabled: false}",
            "at '/updateStrategy/type': value must be 'Recreate'",
        ),
        (
            "leaderElection: {leaseDuration: 1s}",
            "at '/leaderElection/leaseDuration'",
        ),
        (
            "accounts: {unmappedNamespaces: allow}",
            "at '/accounts/unmappedNamespaces': value must be one of 'operator-identity', 'deny'",
        ),
        (
            // Deny needs the bindings it checks namespaces against.
            "accounts: {bindings: false, unmappedNamespaces: deny}",
            "at '/accounts/bindings': value must be true",
        ),
        (
            // A budget that never lets the only pod go blocks every node drain.
            "podDisruptionBudget: {enabled: true, minAvailable: 1}",
            "blocks every node drain",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    // Every case is tried, and every wrong answer reported: one does not hide the others.
    let mut wrong = Vec::new();
    for (i, (values, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad-{i}.yaml"));
        std::fs::write(&file, values).expect("write values");
        let file = file.to_str().unwrap();
        let output = helm(&["template", RELEASE, &chart, "-f", file], None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            wrong.push(format!("accepted: {values}"));
        } else if !stderr.contains(expected) {
            wrong.push(format!("{values}: expected {expected:?} in:\n{stderr}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // lint applies the same schema.
    let file = dir.path().join("bad-0.yaml");
    let output = helm(
        &["lint", "--strict", &chart, "-f", file.to_str().unwrap()],
        None,
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("value must be one of 'plain', 'json'")
    );
}

/// `kubectl apply --dry-run=server` of a rendering; returns kubectl's stderr (warnings).
pub(super) fn dry_run(cluster: &Cluster, yaml: &str) -> String {
    let output = cluster.kubectl_stdin(
        &["apply", "--dry-run=server", "--validate=strict", "-f", "-"],
        yaml,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "server dry-run failed: {stderr}\n{yaml}"
    );
    stderr
}

#[test]
fn rendered_chart_passes_server_side_dry_run() {
    let cluster = Cluster::start();
    // The release namespace warns on anything the restricted Pod Security Standard forbids
    // (for Deployments admission warns; it enforces on pods, which never exist here).
    for namespace in ["appflow-system", "team-a", "monitoring"] {
        cluster.create_namespace(namespace);
    }
    cluster.kubectl_ok(&[
        "label",
        "namespace",
        "appflow-system",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    for (name, file) in value_files() {
        let rendered = template(&["-f", file.to_str().unwrap()]);
        // The Prometheus Operator's CRDs are not installed here: its objects are validated
        // against them in e2e::monitoring. The chart's own CRDs are installed for real by the
        // install and upgrade tests (a client-side apply over the cluster's would only warn
        // that they lack kubectl's last-applied annotation).
        let objects: Vec<Value> = objects(&rendered)
            .into_iter()
            .filter(|o| {
                ![
                    "ServiceMonitor",
                    "PrometheusRule",
                    "CustomResourceDefinition",
                ]
                .contains(&o["kind"].as_str().unwrap_or_default())
            })
            .collect();
        let yaml: String = objects
            .iter()
            .map(|o| format!("---\n{}", serde_yaml_ng::to_string(o).unwrap()))
            .collect();
        let warnings = dry_run(&cluster, &yaml);
        assert!(
            !warnings.contains("Warning"),
            "{name}: warnings from the API server:\n{warnings}"
        );
        // The NetworkPolicy, rendered with each combination, is valid to the API server.
        let with_policy = template(&[
            "-f",
            file.to_str().unwrap(),
            "--set",
            "networkPolicy.enabled=true",
        ]);
        let policy: Vec<Value> = super::helm::objects(&with_policy)
            .into_iter()
            .filter(|o| o["kind"] == "NetworkPolicy")
            .collect();
        assert_eq!(policy.len(), 1, "{name}");
        let warnings = dry_run(&cluster, &serde_json::to_string(&policy[0]).unwrap());
        assert!(!warnings.contains("Warning"), "{name}: {warnings}");
    }
    // Names that YAML 1.1 reads as booleans stay strings (labels are quoted).
    let chart = chart();
    let rendered = helm_ok(
        &[
            "template",
            "y",
            &chart,
            "--namespace",
            "appflow-system",
            "--set",
            "crds.install=false",
        ],
        None,
    );
    dry_run(&cluster, &rendered);
    // The Pod Security check is live: a privileged setting is reported.
    let rendered = template(&["--set", "securityContext.allowPrivilegeEscalation=true"]);
    let warnings = dry_run(&cluster, &rendered);
    assert!(
        warnings.contains("would violate PodSecurity \"restricted:latest\"")
            && warnings.contains("allowPrivilegeEscalation"),
        "{warnings}"
    );

    // deploy/manifests applies as it is (namespace with restricted enforcement, CRD, operator).
    let output = cluster.kubectl(&[
        "apply",
        "--server-side",
        "--validate=strict",
        "-k",
        &format!("{REPO}/deploy/manifests"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "apply -k: {stderr}");
    assert!(!stderr.contains("Warning"), "apply -k: {stderr}");
    cluster.kubectl_ok(&[
        "get",
        "-n",
        "appflow-connector-operator",
        "deployment/appflow-connector-operator",
        "serviceaccount/appflow-connector-operator",
        "service/appflow-connector-operator-metrics",
    ]);
    cluster.kubectl_ok(&[
        "get",
        "clusterrole/appflow-connector-operator",
        "clusterrolebinding/appflow-connector-operator",
    ]);
}

/// `helm install` into the cluster (the chart installs the CRDs, as templates).
fn install(cluster: &Cluster, namespace: &str, set: &[&str]) {
    let chart = chart();
    let endpoint = format!("aws.endpointUrl={}", cluster.emulator_url);
    let mut args = vec![
        "install",
        RELEASE,
        &chart,
        "--namespace",
        namespace,
        "--create-namespace",
        "--set",
        "aws.region=us-east-1",
        "--set",
        &endpoint,
        "--set",
        "aws.maxAttempts=1",
        "--set",
        "aws.timeout=2s",
    ];
    for value in set {
        args.extend(["--set", value]);
    }
    let notes = helm_ok(&args, Some(cluster.control_plane.kubeconfig()));
    assert!(
        notes.contains("kubectl wait --for=condition=Ready conninfo/"),
        "{notes}"
    );
    cluster.wait_crd_served();
}

/// Starts the operator on the host with the installed Deployment's own args (its probe and
/// metrics addresses replaced by loopback ports), authenticated as the chart's ServiceAccount.
/// Returns the ServiceAccount's kubeconfig.
fn run_as_service_account(cluster: &mut Cluster, namespace: &str) -> PathBuf {
    let deployment: Value = serde_json::from_str(&cluster.kubectl_ok(&[
        "get",
        "deployment",
        FULLNAME,
        "-n",
        namespace,
        "-o",
        "json",
    ]))
    .unwrap();
    // No scheduler, controllers or nodes: the Deployment is stored, nothing runs it.
    assert!(deployment["status"].get("readyReplicas").is_none());
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(account, FULLNAME);
    let args: Vec<String> = args(&deployment)
        .into_iter()
        .filter(|a| !a.starts_with("--metrics-addr=") && !a.starts_with("--health-addr="))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let kubeconfig = cluster.service_account_kubeconfig(namespace, &account);
    let whoami = cluster.kubectl_as(
        &kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        format!("system:serviceaccount:{namespace}:{account}")
    );
    cluster.start_operator_as(&kubeconfig, &args);
    kubeconfig
}

/// The samples reach their conditions in `namespace`, with Events published.
fn samples_reach_their_conditions(cluster: &Cluster, namespace: &str) {
    for name in ["salesforce", "datadog", "snowflake", "acme-crm"] {
        cluster.wait_ready(namespace, name);
    }
    cluster.wait_reason(namespace, "slack-as-destination", "RequirementsNotMet");
    let events = cluster.events(namespace);
    let reasons: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "appflow-connector-operator")
        .map(|e| {
            (
                e["regarding"]["name"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    for name in ["salesforce", "datadog", "snowflake", "acme-crm"] {
        assert!(reasons.contains(&(name, "Described")), "{reasons:?}");
    }
    assert!(
        reasons.contains(&("slack-as-destination", "RequirementsNotMet")),
        "{reasons:?}"
    );
    let log = cluster.operator_log().to_lowercase();
    assert!(
        !log.contains("forbidden") && !log.contains("could not publish event"),
        "the operator hit a permission error:\n{log}"
    );
}

/// `kubectl auth can-i` as `kubeconfig`: (verb, resource, namespace or "" for all, expected).
/// `resource` is TYPE or TYPE/NAME; TYPE#SUBRESOURCE asks about a subresource.
fn assert_can_i(cluster: &Cluster, kubeconfig: &Path, cases: &[(&str, &str, &str, bool)]) {
    for (verb, resource, namespace, expected) in cases {
        let (resource, subresource) = match resource.split_once('#') {
            Some((resource, sub)) => (resource, Some(format!("--subresource={sub}"))),
            None => (*resource, None),
        };
        let mut args = vec!["auth", "can-i", *verb, resource];
        args.extend(subresource.as_deref());
        if namespace.is_empty() {
            args.push("--all-namespaces");
        } else {
            args.extend(["-n", namespace]);
        }
        let output = cluster.kubectl_as(kubeconfig, &args);
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(
            answer,
            if *expected { "yes" } else { "no" },
            "can-i {verb} {resource} in {namespace:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Runs kubectl as `kubeconfig` and asserts the API server answers Forbidden.
fn assert_forbidden(cluster: &Cluster, kubeconfig: &Path, args: &[&str]) {
    let output = cluster.kubectl_as(kubeconfig, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("Forbidden"),
        "kubectl {args:?} was not forbidden: {stderr}"
    );
}

/// After `helm uninstall`: none of the release's objects, no release record; the CRD stays.
fn uninstall_leaves_nothing_behind(cluster: &mut Cluster, namespaces: &[&str]) {
    cluster.terminate_operator();
    helm_ok(
        &["uninstall", RELEASE, "--namespace", namespaces[0], "--wait"],
        Some(cluster.control_plane.kubeconfig()),
    );
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    for namespace in namespaces {
        let left = cluster.kubectl_ok(&[
            "get",
            "deployments,serviceaccounts,services,roles,rolebindings,poddisruptionbudgets,secrets,configmaps,leases",
            "-n",
            namespace,
            "-l",
            &selector,
            "-o",
            "name",
        ]);
        assert_eq!(left.trim(), "", "left in {namespace}");
        let records = cluster.kubectl_ok(&[
            "get",
            "secrets",
            "-n",
            namespace,
            "-l",
            "owner=helm",
            "-o",
            "name",
        ]);
        assert_eq!(records.trim(), "", "helm release records in {namespace}");
    }
    let left = cluster.kubectl_ok(&[
        "get",
        "clusterroles,clusterrolebindings",
        "-l",
        &selector,
        "-o",
        "name",
    ]);
    assert_eq!(left.trim(), "", "cluster-scoped objects left");
    // crds.keep: Helm leaves the CRDs, so ConnectorInfos survive.
    for crd in CRDS {
        cluster.kubectl_ok(&["get", "crd", crd]);
    }
}

/// `/metrics` over HTTPS, with the operator running as the chart's ServiceAccount: its RBAC
/// lets it review tokens; a scraper bound to the chart's `-metrics-reader` ClusterRole reads
/// the metrics, one without gets 403, no token 401.
fn metrics_need_the_reader_role(cluster: &Cluster, namespace: &str) {
    for account in ["scraper", "stranger"] {
        cluster.kubectl_ok(&["create", "serviceaccount", account, "-n", namespace]);
    }
    cluster.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        &format!("{namespace}-scraper"),
        &format!("--clusterrole={FULLNAME}-metrics-reader"),
        &format!("--serviceaccount={namespace}:scraper"),
    ]);
    let token = |account: &str| {
        cluster
            .kubectl_ok(&["create", "token", account, "-n", namespace])
            .trim()
            .to_owned()
    };
    let port = cluster
        .secure_metrics_port
        .expect("the chart turns HTTPS /metrics on");
    let url = format!("https://127.0.0.1:{port}/metrics");
    let agent = https_client(None);
    let (status, body) = scrape(&agent, &url, Some(&token("scraper")));
    assert_eq!(status, 200, "{body}\n{}", cluster.operator_log());
    assert!(
        body.contains("appflow_connector_operator_ready 1"),
        "{body}"
    );
    assert_eq!(scrape(&agent, &url, Some(&token("stranger"))).0, 403);
    assert_eq!(scrape(&agent, &url, None).0, 401);
}

fn apply_samples(cluster: &Cluster, namespace: &str) {
    cluster.kubectl_ok(&[
        "apply",
        "-n",
        namespace,
        "-f",
        &format!("{REPO}/deploy/samples/"),
    ]);
}

#[test]
fn helm_install_cluster_wide_rbac_suffices_and_grants_no_more() {
    let mut cluster = Cluster::start_without_crd();
    install(&cluster, "appflow-system", &[]);
    let kubeconfig = run_as_service_account(&mut cluster, "appflow-system");
    cluster.create_namespace("samples");
    apply_samples(&cluster, "samples");
    samples_reach_their_conditions(&cluster, "samples");
    metrics_need_the_reader_role(&cluster, "appflow-system");

    assert_can_i(
        &cluster,
        &kubeconfig,
        &[
            ("list", "connectorinfos.appflow.connectorinfo.dev", "", true),
            (
                "watch",
                "connectorinfos.appflow.connectorinfo.dev",
                "",
                true,
            ),
            (
                "patch",
                "connectorinfos.appflow.connectorinfo.dev#status",
                "samples",
                true,
            ),
            ("create", "events.events.k8s.io", "samples", true),
            ("patch", "events.events.k8s.io", "samples", true),
            // Nothing else: no spec writes, no core events, no secrets, and of the Leases
            // only its own in its namespace (leader election is on by default).
            (
                "patch",
                "connectorinfos.appflow.connectorinfo.dev",
                "samples",
                false,
            ),
            (
                "update",
                "connectorinfos.appflow.connectorinfo.dev",
                "samples",
                false,
            ),
            (
                "create",
                "connectorinfos.appflow.connectorinfo.dev",
                "samples",
                false,
            ),
            (
                "delete",
                "connectorinfos.appflow.connectorinfo.dev",
                "samples",
                false,
            ),
            (
                "update",
                "connectorinfos.appflow.connectorinfo.dev#status",
                "samples",
                false,
            ),
            ("create", "events", "samples", false),
            ("list", "events.events.k8s.io", "samples", false),
            ("get", "secrets", "appflow-system", false),
            ("list", "secrets", "", false),
            ("list", "configmaps", "", false),
            ("list", "pods", "", false),
            (
                "create",
                "leases.coordination.k8s.io",
                "appflow-system",
                true,
            ),
            ("create", "leases.coordination.k8s.io", "samples", false),
            (
                "list",
                "leases.coordination.k8s.io",
                "appflow-system",
                false,
            ),
            (
                "delete",
                &format!("leases.coordination.k8s.io/{FULLNAME}"),
                "appflow-system",
                false,
            ),
            ("get", "deployments.apps", "appflow-system", false),
            // Multi-account: read the bindings and namespaces, write only the bindings' status.
            (
                "list",
                "appflowaccounts.appflow.connectorinfo.dev",
                "",
                true,
            ),
            (
                "watch",
                "appflowaccounts.appflow.connectorinfo.dev",
                "",
                true,
            ),
            (
                "patch",
                "appflowaccounts.appflow.connectorinfo.dev#status",
                "",
                true,
            ),
            (
                "patch",
                "appflowaccounts.appflow.connectorinfo.dev",
                "",
                false,
            ),
            (
                "create",
                "appflowaccounts.appflow.connectorinfo.dev",
                "",
                false,
            ),
            (
                "delete",
                "appflowaccounts.appflow.connectorinfo.dev",
                "",
                false,
            ),
            ("watch", "namespaces", "", true),
            ("patch", "namespaces", "", false),
            // HTTPS /metrics: review scrapers' tokens, and nothing more on those APIs.
            ("create", "tokenreviews.authentication.k8s.io", "", true),
            (
                "create",
                "subjectaccessreviews.authorization.k8s.io",
                "",
                true,
            ),
            (
                "create",
                "localsubjectaccessreviews.authorization.k8s.io",
                "appflow-system",
                false,
            ),
            ("create", "serviceaccounts#token", "appflow-system", false),
        ],
    );
    assert_forbidden(
        &cluster,
        &kubeconfig,
        &["get", "secrets", "-n", "appflow-system"],
    );
    assert_forbidden(
        &cluster,
        &kubeconfig,
        &[
            "patch",
            "conninfo",
            "salesforce",
            "-n",
            "samples",
            "--type=merge",
            "-p",
            r#"{"spec":{"refreshInterval":"5m"}}"#,
        ],
    );
    assert_forbidden(
        &cluster,
        &kubeconfig,
        &["delete", "conninfo", "salesforce", "-n", "samples"],
    );

    uninstall_leaves_nothing_behind(&mut cluster, &["appflow-system"]);
    assert_eq!(
        cluster
            .kubectl_ok(&["get", "conninfo", "-n", "samples", "-o", "name"])
            .lines()
            .count(),
        5,
        "ConnectorInfos outlive the operator"
    );
}

#[test]
fn helm_install_namespace_scoped_watches_one_namespace_only() {
    let mut cluster = Cluster::start_without_crd();
    // The watched namespace exists before the install (the chart puts its Role there).
    for namespace in ["team-b", "team-c"] {
        cluster.create_namespace(namespace);
    }
    install(
        &cluster,
        "appflow-ops",
        &[
            "rbac.scope=namespace",
            "controller.watchNamespace=team-b",
            "leaderElection.enabled=true",
            "aws.credentialsSecret.name=appflow-credentials",
        ],
    );
    // The static credentials' Secret: the pod would get it from the kubelet as env vars; the
    // ServiceAccount itself cannot read it (below). The host process has test credentials.
    cluster.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "appflow-credentials",
        "-n",
        "appflow-ops",
        "--from-literal=AWS_ACCESS_KEY_ID=AKIDTEST",
        "--from-literal=AWS_SECRET_ACCESS_KEY=test-secret",
    ]);
    let kubeconfig = run_as_service_account(&mut cluster, "appflow-ops");
    apply_samples(&cluster, "team-b");
    apply_samples(&cluster, "team-c");
    samples_reach_their_conditions(&cluster, "team-b");
    // The reviews are cluster-scoped: their ClusterRole comes whatever rbac.scope says.
    metrics_need_the_reader_role(&cluster, "appflow-ops");
    // The other namespace's objects are never seen, so never get a status.
    let statuses = cluster.kubectl_ok(&[
        "get",
        "conninfo",
        "-n",
        "team-c",
        "-o",
        "jsonpath={.items[*].status}",
    ]);
    assert_eq!(statuses.trim(), "", "team-c was reconciled");

    assert_can_i(
        &cluster,
        &kubeconfig,
        &[
            (
                "list",
                "connectorinfos.appflow.connectorinfo.dev",
                "team-b",
                true,
            ),
            (
                "patch",
                "connectorinfos.appflow.connectorinfo.dev#status",
                "team-b",
                true,
            ),
            ("create", "events.events.k8s.io", "team-b", true),
            (
                "list",
                "connectorinfos.appflow.connectorinfo.dev",
                "",
                false,
            ),
            (
                "list",
                "connectorinfos.appflow.connectorinfo.dev",
                "team-c",
                false,
            ),
            (
                "patch",
                "connectorinfos.appflow.connectorinfo.dev#status",
                "team-c",
                false,
            ),
            ("create", "events.events.k8s.io", "team-c", false),
            (
                "patch",
                "connectorinfos.appflow.connectorinfo.dev",
                "team-b",
                false,
            ),
            ("get", "secrets", "appflow-ops", false),
            ("get", "secrets", "team-b", false),
            // Leader election: create Leases in the release namespace, and use only its own.
            ("create", "leases.coordination.k8s.io", "appflow-ops", true),
            ("create", "leases.coordination.k8s.io", "team-b", false),
            ("list", "leases.coordination.k8s.io", "appflow-ops", false),
        ],
    );
    let lease = format!("leases.coordination.k8s.io/{FULLNAME}");
    assert_can_i(
        &cluster,
        &kubeconfig,
        &[
            ("get", &lease, "appflow-ops", true),
            ("update", &lease, "appflow-ops", true),
            (
                "get",
                "leases.coordination.k8s.io/kube-controller-manager",
                "appflow-ops",
                false,
            ),
            ("delete", &lease, "appflow-ops", false),
        ],
    );
    assert_forbidden(
        &cluster,
        &kubeconfig,
        &["get", "secret", "appflow-credentials", "-n", "appflow-ops"],
    );
    assert_forbidden(&cluster, &kubeconfig, &["get", "conninfo", "-A"]);
    assert_forbidden(&cluster, &kubeconfig, &["get", "conninfo", "-n", "team-c"]);
    assert_forbidden(
        &cluster,
        &kubeconfig,
        &[
            "patch",
            "conninfo",
            "salesforce",
            "-n",
            "team-b",
            "--type=merge",
            "-p",
            r#"{"spec":{"refreshInterval":"5m"}}"#,
        ],
    );

    // The Deployment maps the Secret's keys; it never holds a key itself.
    let deployment = cluster.kubectl_ok(&[
        "get",
        "deployment",
        FULLNAME,
        "-n",
        "appflow-ops",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[*].valueFrom.secretKeyRef.name}",
    ]);
    assert_eq!(
        deployment.split_whitespace().collect::<Vec<_>>(),
        ["appflow-credentials"; 2]
    );

    uninstall_leaves_nothing_behind(&mut cluster, &["appflow-ops", "team-b"]);
}

// Upgrades from the last release, 0.1.0. Its chart installed the CRDs from its crds/ directory
// (v1alpha1 only; Helm installs that directory once and marks nothing as the release's), and
// its plain manifests were applied with `kubectl apply --server-side -k`.

/// The commit release 0.1.0 was built from, as hack/upgrade/previous-release records it.
fn previous_release_commit() -> String {
    let record = std::fs::read_to_string(Path::new(REPO).join("hack/upgrade/previous-release"))
        .expect("hack/upgrade/previous-release");
    record
        .lines()
        .find_map(|line| line.strip_prefix("PREVIOUS_COMMIT="))
        .expect("PREVIOUS_COMMIT= in hack/upgrade/previous-release")
        .trim()
        .to_owned()
}
const NAMESPACE: &str = "appflow-system";

/// A ConnectorInfo as 0.1.0's users wrote it.
const LEGACY_CONNECTOR_INFO: &str = "apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: crm, namespace: legacy}
spec: {connectorType: Salesforce}
";

/// `paths` as they were in 0.1.0 (`git archive` of its commit), under a temporary directory.
pub(super) fn previous_release(paths: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("release.tar");
    let commit = previous_release_commit();
    let archive = Command::new("git")
        .arg("archive")
        .arg(format!("--output={}", tar.display()))
        .arg(&commit)
        .args(paths)
        .current_dir(REPO)
        .output()
        .expect("git archive");
    assert!(
        archive.status.success(),
        "git archive {commit} (a full clone is needed): {}",
        String::from_utf8_lossy(&archive.stderr)
    );
    let extract = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(extract.success(), "tar -xf {}", tar.display());
    dir
}

fn crd_json(cluster: &Cluster, name: &str) -> Value {
    serde_json::from_str(&cluster.kubectl_ok(&["get", "crd", name, "-o", "json"])).expect("crd")
}

/// A CRD's versions as (name, storage, deprecated), all of them served, by name.
fn versions(crd: &Value) -> Vec<(String, bool, bool)> {
    let mut versions: Vec<(String, bool, bool)> = crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            assert_eq!(v["served"], true, "{v}");
            (
                v["name"].as_str().expect("name").to_owned(),
                v["storage"] == true,
                v["deprecated"] == true,
            )
        })
        .collect();
    versions.sort();
    versions
}

/// 0.1.0's CRDs: v1alpha1 only, and no Helm release's.
fn assert_previous_crds(cluster: &Cluster) {
    for name in CRDS {
        let crd = crd_json(cluster, name);
        assert_eq!(
            versions(&crd),
            [("v1alpha1".to_owned(), true, false)],
            "{name}"
        );
        assert!(
            crd["metadata"]["annotations"]["meta.helm.sh/release-name"].is_null(),
            "{name}: {}",
            crd["metadata"]
        );
    }
}

/// This release's CRDs: v1beta1 stored, v1alpha1 served and deprecated.
fn assert_current_versions(cluster: &Cluster) {
    for name in CRDS {
        assert_eq!(
            versions(&crd_json(cluster, name)),
            [
                ("v1alpha1".to_owned(), false, true),
                ("v1beta1".to_owned(), true, false)
            ],
            "{name}"
        );
    }
}

/// The CRDs carry Helm's marks for the release, and the keep policy.
fn assert_crds_owned_by_the_release(cluster: &Cluster) {
    for name in CRDS {
        let metadata = crd_json(cluster, name)["metadata"].clone();
        assert_eq!(
            metadata["labels"]["app.kubernetes.io/managed-by"], "Helm",
            "{name}"
        );
        let annotations = &metadata["annotations"];
        assert_eq!(annotations["meta.helm.sh/release-name"], RELEASE, "{name}");
        assert_eq!(
            annotations["meta.helm.sh/release-namespace"], NAMESPACE,
            "{name}"
        );
        assert_eq!(annotations["helm.sh/resource-policy"], "keep", "{name}");
    }
}

/// The v1alpha1 object is still there, served as both versions.
fn assert_legacy_object_served(cluster: &Cluster, versions: &[&str]) {
    for version in versions {
        let resource = format!("connectorinfos.{version}.appflow.connectorinfo.dev");
        let object: Value = serde_json::from_str(
            &cluster.kubectl_ok(&["get", &resource, "crm", "-n", "legacy", "-o", "json"]),
        )
        .expect("object");
        assert_eq!(
            object["apiVersion"],
            format!("appflow.connectorinfo.dev/{version}")
        );
        assert_eq!(object["spec"]["connectorType"], "Salesforce");
    }
}

fn create_legacy_object(cluster: &Cluster) {
    cluster.create_namespace("legacy");
    let applied = cluster.kubectl_stdin(&["create", "-f", "-"], LEGACY_CONNECTOR_INFO);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

/// `crd adopt` run by hand (as the cluster's admin) with both CRDs as the binary renders them.
fn crd_adopt(cluster: &Cluster, release: &str) -> Output {
    let file = cluster.control_plane.work_dir().join("both-crds.yaml");
    let rendered = Command::new(BIN).arg("crd").output().expect("crd");
    std::fs::write(&file, rendered.stdout).expect("write CRDs");
    Command::new(BIN)
        .args(["crd", "adopt", "--release-name", release])
        .args(["--release-namespace", NAMESPACE, "-f"])
        .arg(&file)
        .env("KUBECONFIG", cluster.control_plane.kubeconfig())
        .output()
        .expect("crd adopt")
}

/// The Job's pod is admitted where the restricted Pod Security Standard is enforced, as the
/// operator's is (a server-side dry run of a pod with its spec).
fn assert_restricted(cluster: &Cluster, pod: &Value) {
    cluster.kubectl_ok(&[
        "label",
        "namespace",
        NAMESPACE,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
        "--overwrite",
    ]);
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crd-adopt-admission", "namespace": NAMESPACE},
        "spec": pod,
    });
    let output = cluster.kubectl_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        &manifest.to_string(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("Warning"), "{stderr}");
}

/// The hook's ServiceAccount may read and replace the two CRDs, and nothing else.
fn assert_hook_rbac(cluster: &Cluster, kubeconfig: &Path) {
    let mut cases = Vec::new();
    for crd in CRDS {
        let resource = format!("customresourcedefinitions.apiextensions.k8s.io/{crd}");
        cases.extend([
            ("get", resource.clone(), true),
            ("update", resource.clone(), true),
            ("delete", resource, false),
        ]);
    }
    let other = "customresourcedefinitions.apiextensions.k8s.io/leases.example.com";
    cases.extend([
        ("update", other.to_owned(), false),
        (
            "list",
            "customresourcedefinitions.apiextensions.k8s.io".to_owned(),
            false,
        ),
        (
            "create",
            "customresourcedefinitions.apiextensions.k8s.io".to_owned(),
            false,
        ),
        ("get", "secrets".to_owned(), false),
    ]);
    let cases: Vec<(&str, &str, &str, bool)> = cases
        .iter()
        .map(|(verb, resource, expected)| (*verb, resource.as_str(), "", *expected))
        .collect();
    assert_can_i(cluster, kubeconfig, &cases);
}

/// Stands in for the Job controller and the node: runs the crd-adopt Job's own command on the
/// host, as the Job's ServiceAccount, with its ConfigMap's file; then marks the Job complete.
fn run_adoption_job(cluster: &Cluster) {
    let name = format!("{FULLNAME}-crd-adopt");
    cluster.eventually("helm to create the crd-adopt Job", || {
        cluster
            .kubectl(&["get", "job", &name, "-n", NAMESPACE])
            .status
            .success()
    });
    let job: Value = serde_json::from_str(
        &cluster.kubectl_ok(&["get", "job", &name, "-n", NAMESPACE, "-o", "json"]),
    )
    .expect("job");
    let pod = &job["spec"]["template"]["spec"];
    assert_restricted(cluster, pod);
    assert_ne!(
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        "appflow-connector-operator",
        "the operator's Service and PDB would select the hook's pod"
    );
    let mount = pod["containers"][0]["volumeMounts"][0]["mountPath"]
        .as_str()
        .expect("mount");
    let config_map = pod["volumes"][0]["configMap"]["name"].as_str().expect("cm");
    let crds = cluster.kubectl_ok(&[
        "get",
        "configmap",
        config_map,
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.data.crds\\.yaml}",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("crds.yaml"), crds).expect("write crds.yaml");
    let args: Vec<String> = pod["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            a.as_str()
                .expect("arg")
                .replace(mount, &dir.path().display().to_string())
        })
        .collect();
    let account = pod["serviceAccountName"].as_str().expect("account");
    let kubeconfig = cluster.service_account_kubeconfig(NAMESPACE, account);
    assert_hook_rbac(cluster, &kubeconfig);
    let adopted = Command::new(BIN)
        .args(&args)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("crd adopt");
    let stdout = String::from_utf8_lossy(&adopted.stdout);
    assert!(
        adopted.status.success(),
        "{args:?}: {}{stdout}",
        String::from_utf8_lossy(&adopted.stderr)
    );
    for crd in CRDS {
        let line = format!("{crd}: adopted into release {NAMESPACE}/{RELEASE}");
        assert!(stdout.contains(&line), "{stdout}");
    }
    complete_job(cluster, &name);
}

/// What the Job controller writes when the Job's one pod succeeded.
fn complete_job(cluster: &Cluster, name: &str) {
    let now = jiff::Timestamp::now().to_string();
    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": "CompletionsReached",
               "message": "Reached expected number of succeeded pods",
               "lastProbeTime": now, "lastTransitionTime": now})
    };
    let status = json!({"status": {
        "startTime": now, "completionTime": now, "succeeded": 1, "active": 0,
        "uncountedTerminatedPods": {},
        "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
    }});
    cluster.kubectl_ok(&[
        "patch",
        "job",
        name,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
}

/// `helm upgrade` to this chart, the adoption hook's Job run by the host meanwhile.
fn upgrade_running_the_adoption_hook(cluster: &Cluster) {
    let chart = chart();
    let args = [
        "upgrade",
        RELEASE,
        &chart,
        "-n",
        NAMESPACE,
        "--timeout",
        "120s",
    ];
    let mut upgrade = helm_command(&args, Some(cluster.control_plane.kubeconfig()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("helm upgrade");
    run_adoption_job(cluster);
    let deadline = Instant::now() + Duration::from_secs(120);
    while upgrade.try_wait().expect("helm upgrade").is_none() {
        assert!(Instant::now() < deadline, "helm upgrade did not finish");
        std::thread::sleep(Duration::from_millis(200)); // poll interval of a process exit
    }
    let output = upgrade.wait_with_output().expect("helm upgrade");
    assert!(
        output.status.success(),
        "helm upgrade: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn release_manifest(cluster: &Cluster) -> String {
    helm_ok(
        &["get", "manifest", RELEASE, "-n", NAMESPACE],
        Some(cluster.control_plane.kubeconfig()),
    )
}

/// The hook's objects are gone once it succeeded (hook-delete-policy).
fn assert_hook_cleaned_up(cluster: &Cluster) {
    let name = format!("{FULLNAME}-crd-adopt");
    for (kind, namespace) in [
        ("job", NAMESPACE),
        ("configmap", NAMESPACE),
        ("serviceaccount", NAMESPACE),
        ("clusterrole", ""),
        ("clusterrolebinding", ""),
    ] {
        let mut args = vec!["get", kind, &name, "--ignore-not-found", "-o", "name"];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        assert_eq!(cluster.kubectl_ok(&args).trim(), "", "{kind} left");
    }
}

/// `helm upgrade --dry-run=server` against the cluster shows the hook, and leaves the CRDs out
/// of the release until the hook has made them its own.
fn assert_dry_run_shows_the_hook(cluster: &Cluster) {
    let chart = chart();
    let dry_run = helm_ok(
        &[
            "upgrade",
            RELEASE,
            &chart,
            "-n",
            NAMESPACE,
            "--dry-run=server",
        ],
        Some(cluster.control_plane.kubeconfig()),
    );
    let (hooks, manifest) = dry_run.split_once("MANIFEST:").expect("MANIFEST");
    assert!(
        hooks.contains(&format!("name: {FULLNAME}-crd-adopt")) && hooks.contains("kind: Job"),
        "{hooks}"
    );
    assert!(
        !manifest.contains("kind: CustomResourceDefinition"),
        "{manifest}"
    );
}

#[test]
fn helm_upgrade_from_0_1_0_takes_its_crds_over() {
    let cluster = Cluster::start_without_crd();
    let kubeconfig = cluster.control_plane.kubeconfig().to_path_buf();
    // Absent CRDs are the release's to create: crd adopt leaves them alone.
    let absent = crd_adopt(&cluster, RELEASE);
    let stdout = String::from_utf8_lossy(&absent.stdout);
    assert!(absent.status.success(), "{stdout}");
    assert_eq!(
        stdout.matches(": absent; the release creates it").count(),
        2,
        "{stdout}"
    );

    // 0.1.0, from git history, and an object stored as v1alpha1.
    let previous = previous_release(&[CHART]);
    let previous_chart = previous.path().join(CHART);
    let previous_chart = previous_chart.to_str().expect("path");
    let install = [
        "install",
        RELEASE,
        previous_chart,
        "-n",
        NAMESPACE,
        "--create-namespace",
    ];
    helm_ok(&install, Some(&kubeconfig));
    cluster.wait_crd_served();
    assert_previous_crds(&cluster);
    create_legacy_object(&cluster);

    // The upgrade: no manual step; the hook takes the CRDs over and upgrades them.
    assert_dry_run_shows_the_hook(&cluster);
    upgrade_running_the_adoption_hook(&cluster);
    assert_current_versions(&cluster);
    assert_crds_owned_by_the_release(&cluster);
    assert_hook_cleaned_up(&cluster);
    assert_legacy_object_served(&cluster, &["v1beta1", "v1alpha1"]);
    assert!(!release_manifest(&cluster).contains("kind: CustomResourceDefinition"));

    // The next upgrade renders them as the release's (no hook: nothing would run its Job).
    let chart = chart();
    helm_ok(
        &["upgrade", RELEASE, &chart, "-n", NAMESPACE],
        Some(&kubeconfig),
    );
    let manifest = release_manifest(&cluster);
    for crd in CRDS {
        assert!(manifest.contains(&format!("name: {crd}")), "{manifest}");
    }
    assert_crds_owned_by_the_release(&cluster);
    one_release_owns_the_crds(&cluster);

    // crds.keep: uninstall leaves the CRDs and every object.
    helm_ok(
        &["uninstall", RELEASE, "-n", NAMESPACE, "--wait"],
        Some(&kubeconfig),
    );
    assert_current_versions(&cluster);
    assert_legacy_object_served(&cluster, &["v1beta1"]);
}

/// A second release with crds.install=true is refused with a message that says what to do, and
/// installs with crds.install=false; `crd adopt` refuses CRDs of another release too.
fn one_release_owns_the_crds(cluster: &Cluster) {
    let kubeconfig = cluster.control_plane.kubeconfig();
    let chart = chart();
    let second = [
        "install",
        "second",
        &chart,
        "-n",
        "team-b",
        "--create-namespace",
    ];
    let refused = helm(&second, Some(kubeconfig));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!(
            "belongs to Helm release {RELEASE} in namespace {NAMESPACE}"
        )) && stderr.contains("crds.install=false"),
        "{stderr}"
    );
    let mut without_crds = second.to_vec();
    without_crds.extend(["--set", "crds.install=false"]);
    helm_ok(&without_crds, Some(kubeconfig));
    helm_ok(
        &["uninstall", "second", "-n", "team-b", "--wait"],
        Some(kubeconfig),
    );
    assert_crds_owned_by_the_release(cluster);

    let theirs = crd_adopt(cluster, "second");
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert_eq!(theirs.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("belongs to Helm release {NAMESPACE}/{RELEASE}")),
        "{stderr}"
    );
    let ours = crd_adopt(cluster, RELEASE);
    let stdout = String::from_utf8_lossy(&ours.stdout);
    assert!(ours.status.success(), "{stdout}");
    assert_eq!(stdout.matches(": already release").count(), 2, "{stdout}");
}

#[test]
fn plain_manifests_upgrade_from_0_1_0_with_server_side_apply_alone() {
    let cluster = Cluster::start_without_crd();
    let previous = previous_release(&["deploy/manifests"]);
    let apply = |dir: &Path| {
        let output =
            cluster.kubectl(&["apply", "--server-side", "-k", dir.to_str().expect("path")]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "apply -k {}: {stderr}",
            dir.display()
        );
        stderr
    };
    apply(&previous.path().join("deploy/manifests"));
    cluster.wait_crd_served();
    assert_previous_crds(&cluster);
    create_legacy_object(&cluster);

    // As docs/install.md says: the same command with this release's manifests, no
    // --force-conflicts (kubectl's field manager owns every field it set before).
    let stderr = apply(&Path::new(REPO).join("deploy/manifests"));
    assert!(!stderr.to_lowercase().contains("conflict"), "{stderr}");
    assert_current_versions(&cluster);
    assert_legacy_object_served(&cluster, &["v1beta1", "v1alpha1"]);
    let deployment: Value = serde_json::from_str(&cluster.kubectl_ok(&[
        "get",
        "deployment",
        "appflow-connector-operator",
        "-n",
        "appflow-connector-operator",
        "-o",
        "json",
    ]))
    .expect("deployment");
    let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image");
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{image}"
    );
}

#[test]
fn helm_upgrade_from_0_1_0_with_crds_managed_separately() {
    let cluster = Cluster::start_without_crd();
    let kubeconfig = cluster.control_plane.kubeconfig().to_path_buf();
    let previous = previous_release(&[CHART]);
    let previous_chart = previous.path().join(CHART);
    let previous_chart = previous_chart.to_str().expect("path");
    let install = [
        "install",
        RELEASE,
        previous_chart,
        "-n",
        NAMESPACE,
        "--create-namespace",
    ];
    helm_ok(&install, Some(&kubeconfig));
    cluster.wait_crd_served();
    create_legacy_object(&cluster);

    // The release's crds.yaml (both CRDs, as `crd` prints them), applied as docs/install.md
    // says. Over CRDs Helm created, the first time needs --force-conflicts: Helm's field
    // manager owns .spec.versions (an atomic list), which kubectl's must take over. Later
    // applies need no flag.
    let crds = Command::new(BIN).arg("crd").output().expect("crd");
    let crds = String::from_utf8(crds.stdout).expect("utf-8");
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", "--server-side", "-f", "-"];
        args.extend(extra);
        cluster.kubectl_stdin(&args, &crds)
    };
    let conflict = apply(&[]);
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        !conflict.status.success()
            && stderr.contains(r#"conflict with "helm""#)
            && stderr.contains(".spec.versions"),
        "{stderr}"
    );
    for extra in [&["--force-conflicts"][..], &[]] {
        let applied = apply(extra);
        assert!(
            applied.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
    // Then the chart without CRDs: no hook, nothing of the release's on the CRDs.
    let chart = chart();
    let upgrade = [
        "upgrade",
        RELEASE,
        &chart,
        "-n",
        NAMESPACE,
        "--set",
        "crds.install=false",
    ];
    helm_ok(&upgrade, Some(&kubeconfig));
    assert_current_versions(&cluster);
    assert_legacy_object_served(&cluster, &["v1beta1", "v1alpha1"]);
    for name in CRDS {
        let metadata = crd_json(&cluster, name)["metadata"].clone();
        assert!(metadata["annotations"]["meta.helm.sh/release-name"].is_null());
    }
    assert!(!release_manifest(&cluster).contains("kind: CustomResourceDefinition"));
}
