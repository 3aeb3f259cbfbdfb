//! The e2e fixture: control plane + emulator process + operator process, torn down on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use conninfo_test_support::controlplane::ControlPlane;
use conninfo_test_support::process;

pub const BIN: &str = env!("CARGO_BIN_EXE_appflow-connector-operator");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const CRD: &str = "crds/connectorinfos.appflow.connectorinfo.dev.yaml";
pub const ACCOUNT_CRD: &str = "crds/appflowaccounts.appflow.connectorinfo.dev.yaml";
/// Operators started here do not space forced calls: the tests that change the emulator and
/// annotate the same connector several times in a row expect each change at once. The
/// spacing is covered by `changes::a_refresh_request_is_answered_only_by_a_call_started_after_it`
/// (which sets its own interval) and the describe cache's tests.
const IMMEDIATE_REFRESH: [&str; 2] = ["--forced-refresh-interval", "0s"];

/// A child process killed and reaped on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Fields drop in order: the operator goes before the API server, whose graceful shutdown
// otherwise waits (10 s, then a kill) for the operator's open watches.
pub struct Cluster {
    operator: Option<Proc>,
    _emulator: Proc,
    pub control_plane: ControlPlane,
    pub emulator_url: String,
    /// The plain-HTTP port: probes, and `/metrics` unless the operator runs it over HTTPS.
    pub metrics_port: u16,
    /// The HTTPS `/metrics` port of an operator started with `--metrics-secure=true`.
    pub secure_metrics_port: Option<u16>,
    pub operator_log: PathBuf,
}

impl Cluster {
    /// Starts everything and installs the CRD; the operator is started by `start_operator`.
    pub fn start() -> Cluster {
        Cluster::with_crds(Cluster::start_without_crd())
    }

    /// `start`, with more kube-apiserver flags (e.g. `--feature-gates=WatchList=false`).
    pub fn start_with_apiserver_args(args: &[&str]) -> Cluster {
        let control_plane = ControlPlane::start_with_apiserver_args(args)
            .expect("control plane (run hack/controlplane/build.sh)");
        Cluster::with_crds(Cluster::around(control_plane))
    }

    fn with_crds(cluster: Cluster) -> Cluster {
        for crd in [CRD, ACCOUNT_CRD] {
            cluster.kubectl_ok(&["apply", "--server-side", "-f", &format!("{REPO}/{crd}")]);
        }
        cluster.wait_crd_served();
        cluster
    }

    /// Starts everything but installs no CRD (for tests that install it another way).
    pub fn start_without_crd() -> Cluster {
        let control_plane =
            ControlPlane::start().expect("control plane (run hack/controlplane/build.sh)");
        Cluster::around(control_plane)
    }

    /// The emulator and an operator-to-be around a running control plane.
    fn around(control_plane: ControlPlane) -> Cluster {
        let (emulator, emulator_url) = spawn_emulator("127.0.0.1");
        let operator_log = control_plane.work_dir().join("operator.log");
        Cluster {
            control_plane,
            emulator_url,
            _emulator: emulator,
            operator: None,
            metrics_port: 0,
            secure_metrics_port: None,
            operator_log,
        }
    }

    /// Waits until both CRDs are established and served.
    pub fn wait_crd_served(&self) {
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/connectorinfos.appflow.connectorinfo.dev",
            "crd/appflowaccounts.appflow.connectorinfo.dev",
            "--timeout=60s",
        ]);
        // Established does not mean discovery and OpenAPI publish it yet; kubectl needs both.
        self.eventually("the CRDs to be served", || {
            self.kubectl(&["explain", "conninfo.spec"]).status.success()
                && self
                    .kubectl(&["explain", "afaccount.spec"])
                    .status
                    .success()
        });
    }

    /// Polls `check` (a readiness check, not a fixed wait) until it holds or 60 s pass.
    pub fn eventually(&self, what: &str, check: impl FnMut() -> bool) {
        conninfo_test_support::wait::eventually(
            what,
            Duration::from_secs(60),
            Duration::from_millis(200),
            check,
            || format!("operator log:\n{}", self.operator_log()),
        );
    }

    /// Runs the operator binary against this cluster and waits for its /readyz.
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.start_operator_env(extra, &[]);
    }

    /// `start_operator` with extra environment variables (e.g. `FAILPOINTS`).
    pub fn start_operator_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let endpoint = self.emulator_url.clone();
        let mut args = vec!["run", "--endpoint-url", &endpoint, "--region", "us-east-1"];
        args.extend([
            "--aws-max-attempts",
            "1",
            "--aws-timeout",
            "2s",
            "--log-level",
            "info",
        ]);
        if !extra.contains(&IMMEDIATE_REFRESH[0]) {
            args.extend(IMMEDIATE_REFRESH);
        }
        args.extend(extra);
        let kubeconfig = self.control_plane.kubeconfig().to_path_buf();
        self.spawn_operator(&kubeconfig, &args, env);
    }

    /// Runs the operator binary with exactly `args` (plus `--health-addr` and
    /// `--metrics-addr` on loopback ports the kernel picks, which `args` must not contain)
    /// under the identity of `kubeconfig`, with test AWS credentials, and waits for its
    /// /readyz. `/metrics` is plain on the probe port unless `args` set `--metrics-secure`.
    pub fn start_operator_as(&mut self, kubeconfig: &Path, args: &[&str]) {
        self.spawn_operator(kubeconfig, args, &[]);
    }

    fn spawn_operator(&mut self, kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) {
        let replica = self.launch(kubeconfig, args, env, &self.operator_log.clone());
        replica.wait_ready(|| self.operator_log());
        self.metrics_port = replica.metrics_port;
        self.secure_metrics_port = replica.secure_metrics_port;
        self.operator = Some(replica.proc);
    }

    /// Starts one more operator process (a replica, with its own log `<name>.log` and
    /// `POD_NAME=<name>`) with the usual test flags plus `extra`, and waits for its /readyz.
    pub fn start_replica(&self, name: &str, extra: &[&str]) -> Replica {
        let endpoint = self.emulator_url.clone();
        let mut args = vec!["run", "--endpoint-url", &endpoint, "--region", "us-east-1"];
        args.extend(["--aws-max-attempts", "1", "--aws-timeout", "2s"]);
        args.extend(IMMEDIATE_REFRESH);
        args.extend(extra);
        let log = self.control_plane.work_dir().join(format!("{name}.log"));
        let kubeconfig = self.control_plane.kubeconfig().to_path_buf();
        let replica = self.launch(&kubeconfig, &args, &[("POD_NAME", name)], &log);
        replica.wait_ready(|| replica.log());
        replica
    }

    fn launch(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Replica {
        let log_file = std::fs::File::create(log).expect("operator log");
        // Port 0: the operator binds a port the kernel picks and logs it. A port chosen here
        // and released could be taken (or handed to a parallel test's operator) before the
        // operator binds it. Plain /metrics on the probe port unless the test asks for HTTPS.
        let asked = args.iter().find(|a| a.starts_with("--metrics-secure"));
        let secure = asked.is_some_and(|a| *a != "--metrics-secure=false");
        let plain_metrics: &[&str] = if asked.is_some() {
            &[]
        } else {
            &["--metrics-secure=false"]
        };
        let mut child = Command::new(BIN)
            .args(args)
            .args([
                "--health-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(plain_metrics)
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn operator");
        let metrics_port = bound_port(&mut child, log, "over plain HTTP");
        let secure_metrics_port = secure.then(|| bound_port(&mut child, log, "over HTTPS"));
        Replica {
            proc: Proc(child),
            metrics_port,
            secure_metrics_port,
            log: log.to_path_buf(),
        }
    }

    /// The operator's `/metrics` text.
    pub fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        ureq::get(&url)
            .call()
            .expect("metrics")
            .body_mut()
            .read_to_string()
            .expect("metrics text")
    }

    /// One sample of the operator's `/metrics` (0 when absent).
    pub fn metric(&self, series: &str) -> f64 {
        sample(&self.metrics(), series)
    }

    /// The operator's exit status, once it has exited by itself within `timeout`.
    pub fn wait_operator_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let Proc(child) = self.operator.as_mut().expect("operator started");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait operator") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP status of the operator's /healthz (0 when it does not answer).
    pub fn healthz(&self) -> u16 {
        let url = format!("http://127.0.0.1:{}/healthz", self.metrics_port);
        ureq::get(&url).call().map_or(0, |r| r.status().as_u16())
    }

    /// Sends SIGTERM to the operator and returns its exit status once it has stopped.
    pub fn terminate_operator(&mut self) -> std::process::ExitStatus {
        let Proc(child) = self.operator.as_mut().expect("operator running");
        process::terminate(child)
    }

    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(&self.operator_log).unwrap_or_default()
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.control_plane
            .kubectl()
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// kubectl under another identity (a kubeconfig such as `service_account_kubeconfig`'s).
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        self.control_plane
            .kubectl()
            .arg("--kubeconfig") // the last --kubeconfig wins
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Writes a kubeconfig that authenticates as a ServiceAccount with a token from the
    /// TokenRequest API (`kubectl create token`), for this cluster's server and CA.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let token = self.kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=1h"]);
        let admin: Value = serde_json::from_str(&self.kubectl_ok(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "--flatten",
            "-o",
            "json",
        ]))
        .expect("kubeconfig json");
        let cluster = &admin["clusters"][0]["cluster"];
        let kubeconfig = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {
                "server": cluster["server"],
                "certificate-authority-data": cluster["certificate-authority-data"],
            }}],
            "users": [{"name": name, "user": {"token": token.trim()}}],
            "contexts": [{"name": name, "context": {"cluster": "local", "user": name}}],
            "current-context": name,
        });
        let path = self
            .control_plane
            .work_dir()
            .join(format!("kubeconfig-{namespace}-{name}"));
        std::fs::write(&path, kubeconfig.to_string()).expect("write kubeconfig");
        path
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .control_plane
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and panics with its stderr (and the operator log) unless it succeeds.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}\noperator log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.operator_log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn create_namespace(&self, name: &str) {
        self.kubectl_ok(&["create", "namespace", name]);
    }

    pub fn apply(&self, namespace: &str, manifest: &str) {
        let output = self.kubectl_stdin(&["apply", "-n", namespace, "-f", "-"], manifest);
        assert!(
            output.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn get(&self, namespace: &str, name: &str) -> Value {
        let text = self.kubectl_ok(&["get", "conninfo", name, "-n", namespace, "-o", "json"]);
        serde_json::from_str(&text).expect("object json")
    }

    /// `kubectl wait` on a JSONPath expression of one ConnectorInfo.
    pub fn wait_jsonpath(&self, namespace: &str, name: &str, jsonpath: &str, value: &str) {
        let output = self.kubectl(&[
            "wait",
            "-n",
            namespace,
            &format!("conninfo/{name}"),
            &format!("--for=jsonpath={jsonpath}={value}"),
            "--timeout=60s",
        ]);
        assert!(
            output.status.success(),
            "waiting for {name} {jsonpath}={value}: {}\nobject: {}\noperator log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(
                &self
                    .kubectl(&["get", "conninfo", name, "-n", namespace, "-o", "yaml"])
                    .stdout
            ),
            self.operator_log()
        );
    }

    pub fn wait_reason(&self, namespace: &str, name: &str, reason: &str) {
        self.wait_jsonpath(
            namespace,
            name,
            "{.status.conditions[?(@.type==\"Ready\")].reason}",
            reason,
        );
    }

    pub fn wait_ready(&self, namespace: &str, name: &str) {
        self.wait_ready_within(namespace, name, 60);
    }

    pub fn wait_ready_within(&self, namespace: &str, name: &str, seconds: u32) {
        self.kubectl_ok(&[
            "wait",
            "-n",
            namespace,
            &format!("conninfo/{name}"),
            "--for=condition=Ready",
            &format!("--timeout={seconds}s"),
        ]);
    }

    fn emulator(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.emulator_url);
        let mut response = match body {
            Some(body) => ureq::post(&url).send_json(&body),
            None => ureq::get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("emulator {method} {path}: {e}"));
        response.body_mut().read_json().unwrap_or(Value::Null)
    }

    pub fn set_fault(&self, key: &str, fault: Value) {
        self.emulator(
            "POST",
            "/_emulator/faults",
            Some(serde_json::json!({"key": key, "fault": fault})),
        );
    }

    pub fn register_connector(&self, label: &str) {
        self.emulator(
            "POST",
            "/_emulator/connectors",
            Some(serde_json::json!({"label": label})),
        );
    }

    /// Lays `override` over a vended connector type's answer (`Value::Null` removes it).
    pub fn set_override(&self, connector_type: &str, overlay: Value) {
        self.emulator(
            "POST",
            "/_emulator/overrides",
            Some(serde_json::json!({"connectorType": connector_type, "override": overlay})),
        );
    }

    /// The `events.k8s.io` Events of a namespace, as `kubectl get -o json` lists them.
    pub fn events(&self, namespace: &str) -> Value {
        serde_json::from_str(&self.kubectl_ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            namespace,
            "-o",
            "json",
        ]))
        .expect("events json")
    }

    /// Seeded random faults on every call (`{"rate": 0.3, "seed": 7}`), or none.
    pub fn set_random_faults(&self, spec: Option<Value>) {
        self.emulator(
            "POST",
            "/_emulator/random-faults",
            Some(spec.unwrap_or(Value::Null)),
        );
    }

    pub fn emulator_stats(&self) -> Value {
        self.emulator("GET", "/_emulator/stats", None)
    }

    /// The operator process's id.
    pub fn operator_pid(&self) -> u32 {
        self.operator.as_ref().expect("operator started").0.id()
    }

    /// Every DescribeConnector the emulator answered.
    pub fn total_calls(&self) -> u64 {
        self.emulator("GET", "/_emulator/stats", None)["total"]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn calls(&self, key: &str) -> u64 {
        self.emulator("GET", "/_emulator/stats", None)["calls"][key]
            .as_u64()
            .unwrap_or(0)
    }
}

/// The condition of this type in an object's status (ConnectorInfo or AppFlowAccount), or
/// `Null`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// The message of the condition of this type ("" without one).
pub fn condition_message(object: &Value, type_: &str) -> String {
    condition(object, type_)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The emulator process on a free port of `address`, with the demo data (the custom connector
/// the samples name), and its URL.
pub fn spawn_emulator(address: &str) -> (Proc, String) {
    let mut emulator = Command::new(emulator_bin())
        .args(["--listen", &format!("{address}:0"), "--data"])
        .arg(Path::new(REPO).join("hack/demo/emulator-data.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn emulator");
    let mut first_line = String::new();
    BufReader::new(emulator.stdout.take().expect("emulator stdout"))
        .read_line(&mut first_line)
        .expect("emulator address");
    let url = first_line
        .trim()
        .rsplit(' ')
        .next()
        .expect("url")
        .to_owned();
    assert!(
        url.starts_with(&format!("http://{address}:")),
        "{first_line}"
    );
    (Proc(emulator), url)
}

/// The `appflow-emulator` binary: `$APPFLOW_EMULATOR_BIN`, else the one cargo built beside this
/// test binary (`cargo test --workspace` and `cargo build -p appflow-emulator` build it).
pub fn emulator_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("APPFLOW_EMULATOR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/integration-<hash> -> target/<profile>/appflow-emulator
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("appflow-emulator");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p appflow-emulator` (or set APPFLOW_EMULATOR_BIN)",
        path.display()
    );
    path
}

/// One operator process of several (leader election).
pub struct Replica {
    proc: Proc,
    pub metrics_port: u16,
    secure_metrics_port: Option<u16>,
    log: PathBuf,
}

impl Replica {
    fn wait_ready(&self, log: impl Fn() -> String) {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&url).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "operator not ready; log:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100)); // poll interval of a readiness check
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/metrics`, or an empty text once the process is gone.
    pub fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }

    /// One sample of `/metrics` (0 when absent).
    pub fn metric(&self, series: &str) -> f64 {
        sample(&self.metrics(), series)
    }

    pub fn leads(&self) -> bool {
        self.metric("appflow_connector_operator_leader") == 1.0
    }

    /// SIGKILL: no chance to release anything.
    pub fn kill(&mut self) {
        self.proc.0.kill().expect("kill");
        self.proc.0.wait().expect("reap");
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        process::terminate(&mut self.proc.0)
    }
}

/// The port of the server whose "serving … {how}" line the operator logs once bound (it is
/// started on port 0): "over plain HTTP" (probes) or "over HTTPS" (secure /metrics).
fn bound_port(child: &mut std::process::Child, log: &Path, how: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .lines()
            .filter(|line| line.contains("serving /") && line.contains(how))
            .find_map(|line| {
                let after = &line[line.find("127.0.0.1:")? + "127.0.0.1:".len()..];
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
        if let Some(port) = port {
            return port;
        }
        let exited = child.try_wait().expect("wait operator");
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "operator did not serve {how} (exit: {exited:?}); log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50)); // poll interval of a log line
    }
}

/// One sample of a `/metrics` text (0 when absent).
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
