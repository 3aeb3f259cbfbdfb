//! The upgrade from the last release (hack/upgrade/previous-release: 0.1.0) to this tree on a
//! real node, as users run it. 0.1.0's image and chart are built from the commit it was built
//! from (hack/upgrade/build-previous.sh, cached) and pushed to the loopback registry beside this
//! release's (published as `node::` publishes it); 0.1.0 is installed, ConnectorInfos on
//! several keys (one AWS refuses, one with requirements, one in a namespace an AppFlowAccount
//! binds to another account) and the binding are created as `v1alpha1` and reconciled by it.
//! Then the upgrade to this tree — `helm upgrade`, or `kubectl apply --server-side -k` of the
//! plain manifests — with every object watched throughout: no `Ready` leaves True, the failing
//! object keeps its reason, no `status.connectorConfiguration` disappears, at most one AWS call
//! per key, no Event said twice, and the new pod leads within the lease duration. Last, this
//! tree's `migrate`: both CRDs end with `storedVersions: [v1beta1]`.
//!
//! `#[ignore]`d, so `make e2e` leaves them out: `make upgrade-test` runs them (root, containerd;
//! one node per machine, so they take turns).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cluster::{BIN, REPO};
use super::helm::{CHART, helm_ok, previous_release};
use super::node::{FULLNAME, NAMESPACE, Node, RELEASE, prepare_namespace, release_tool};

/// One node per machine (the launcher's bridge and addresses): the tests here take turns.
static ONE_NODE: Mutex<()> = Mutex::new(());

fn one_node() -> MutexGuard<'static, ()> {
    ONE_NODE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const CRDS: [&str; 2] = [
    "connectorinfos.appflow.connectorinfo.dev",
    "appflowaccounts.appflow.connectorinfo.dev",
];
const CONNECTOR_INFOS: &str = "connectorinfos.appflow.connectorinfo.dev";
const ACCOUNTS: &str = "appflowaccounts.appflow.connectorinfo.dev";
/// The key the emulator refuses (AccessDenied) throughout, and its object.
const FAILING_KEY: &str = "Datadog";
const FAILING: &str = "ConnectorInfo upgrade/datadog";

/// What 0.1.0's users wrote, as v1alpha1: ConnectorInfos on five keys — one AWS refuses, one
/// with requirements, one in a namespace bound to another account — and that binding.
const OBJECTS: &str = "apiVersion: v1
kind: Namespace
metadata: {name: upgrade}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: AppFlowAccount
metadata: {name: team-a}
spec:
  namespaces: [team-a]
  roleArn: arn:aws:iam::222222222222:role/appflow-connector-operator
  externalId: team-a-7f3c
  regions: [us-east-1]
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: salesforce, namespace: upgrade}
spec: {connectorType: Salesforce}
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: snowflake, namespace: upgrade}
spec: {connectorType: Snowflake}
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: acme-crm, namespace: upgrade}
spec:
  connectorType: CustomConnector
  connectorLabel: acme-crm
  requirements:
    authModes: [OAuth2, Custom]
    oauth2GrantTypes: [CLIENT_CREDENTIALS]
    customAuthTypes: [HMAC]
    usableAs: [Source]
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: datadog, namespace: upgrade}
spec: {connectorType: Datadog}
---
apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: crm, namespace: team-a}
spec: {connectorType: CustomConnector, connectorLabel: team-a-crm}
";
/// The ConnectorInfos of `OBJECTS` that end Ready, by namespace and name.
const READY: [(&str, &str); 4] = [
    ("upgrade", "salesforce"),
    ("upgrade", "snowflake"),
    ("upgrade", "acme-crm"),
    ("team-a", "crm"),
];

/// 0.1.0 in the node's registry.
struct Previous {
    image_digest: String,
    chart: String,
    chart_version: String,
}

/// hack/upgrade/build-previous.sh (a no-op once built): its KEY=VALUE lines.
fn build_previous() -> BTreeMap<String, String> {
    let began = Instant::now();
    let output = Command::new(Path::new(REPO).join("hack/upgrade/build-previous.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("hack/upgrade/build-previous.sh");
    assert!(
        output.status.success(),
        "hack/upgrade/build-previous.sh failed"
    );
    eprintln!(
        "hack/upgrade/build-previous.sh: {:.1}s",
        began.elapsed().as_secs_f64()
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// Pushes 0.1.0's image (its OCI layout, with crane) and chart (packaged from its commit's
/// tree) to the node's registry.
fn push_previous(node: &Node) -> Previous {
    let built = build_previous();
    let registry = &node.registry.address;
    let reference = format!("{}:{}", node.release.image, built["PREVIOUS_RELEASE"]);
    let pushed = Command::new(release_tool("crane"))
        .args([
            "push",
            "--insecure",
            &built["PREVIOUS_IMAGE_LAYOUT"],
            &reference,
        ])
        .output()
        .expect("crane push");
    let stdout = String::from_utf8_lossy(&pushed.stdout);
    assert!(
        pushed.status.success(),
        "crane push: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    // "<registry>/appflow-connector-operator@sha256:…"
    let (_, digest) = stdout.trim().rsplit_once('@').expect("crane push digest");

    let tree = previous_release(&[CHART]);
    let chart_dir = tree.path().join(CHART);
    let chart_yaml = std::fs::read_to_string(chart_dir.join("Chart.yaml")).expect("Chart.yaml");
    let chart_version = chart_yaml
        .lines()
        .find_map(|line| line.strip_prefix("version: "))
        .expect("version in Chart.yaml")
        .trim()
        .to_owned();
    let out = tree.path().join("packaged");
    let (chart_dir, out) = (
        chart_dir.to_str().expect("path"),
        out.to_str().expect("path"),
    );
    helm_ok(&["package", chart_dir, "--destination", out], None);
    let tgz = format!("{out}/appflow-connector-operator-{chart_version}.tgz");
    let charts = format!("oci://{registry}/charts");
    helm_ok(&["push", &tgz, &charts, "--plain-http"], None);
    eprintln!(
        "0.1.0 pushed: {reference}@{digest}, {charts}/appflow-connector-operator:{chart_version}"
    );
    Previous {
        image_digest: digest.to_owned(),
        chart: format!("{charts}/appflow-connector-operator"),
        chart_version,
    }
}

/// The emulator's control API (`/_emulator/...`).
fn emulator(node: &Node, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", node.emulator_url);
    let mut response = match body {
        Some(body) => ureq::post(&url).send_json(&body),
        None => ureq::get(&url).call(),
    }
    .unwrap_or_else(|e| panic!("emulator {path}: {e}"));
    response.body_mut().read_json().unwrap_or(Value::Null)
}

/// DescribeConnector calls the emulator answered, per key.
fn calls(node: &Node) -> BTreeMap<String, u64> {
    let stats = emulator(node, "/_emulator/stats", None);
    stats["calls"]
        .as_object()
        .map(|calls| {
            calls
                .iter()
                .map(|(key, n)| (key.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// The calls per key once they have not changed for 10 s (a quiet operator), at most 2 min.
fn settled_calls(node: &Node) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = calls(node);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(10) {
        assert!(
            Instant::now() < deadline,
            "AWS calls never settled: {last:?}"
        );
        std::thread::sleep(Duration::from_secs(1)); // poll interval of a quiet check
        let now = calls(node);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

/// The calls per key before the upgrade, once the failing key has been called and every
/// count has settled.
fn calls_before_upgrade(node: &Node) -> BTreeMap<String, u64> {
    node.eventually("0.1.0's call of the failing key", || {
        calls(node).get(FAILING_KEY).copied().unwrap_or(0) >= 1
    });
    let calls = settled_calls(node);
    eprintln!("AWS calls per key before the upgrade (0.1.0): {calls:?}");
    calls
}

/// Creates `OBJECTS` as v1alpha1 (the failing key refused first) and waits until the running
/// operator has reconciled each.
fn create_objects(node: &Node) {
    let fault = json!({"key": FAILING_KEY, "fault": {"errorCode": "AccessDeniedException"}});
    emulator(node, "/_emulator/faults", Some(fault));
    let file = node.control_plane.work_dir().join("objects-v1alpha1.yaml");
    std::fs::write(&file, OBJECTS).expect("write objects");
    node.kubectl_ok(&["create", "-f", file.to_str().expect("path")]);
    let wait = |namespace: &str, object: &str, condition: &str| {
        let mut args = vec!["wait", object, condition, "--timeout=120s"];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        node.kubectl_ok(&args);
    };
    for (namespace, name) in READY {
        let object = format!("{CONNECTOR_INFOS}/{name}");
        wait(namespace, &object, "--for=condition=Ready");
    }
    wait(
        "upgrade",
        &format!("{CONNECTOR_INFOS}/datadog"),
        "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=AccessDenied",
    );
    wait("", &format!("{ACCOUNTS}/team-a"), "--for=condition=Ready");
}

/// A thread running one kubectl command over and over until stopped — a `--watch` the API
/// server ended (as it does when a CRD changes) is started again; each start lists anew — and
/// recording every JSON document it prints, with the time it was read.
struct Recorder {
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Child>>>,
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
    thread: Option<JoinHandle<usize>>,
}

impl Recorder {
    fn start(node: &Node, args: &[&str], pause: Duration) -> Recorder {
        let base = node.control_plane.kubectl();
        let program = base.get_program().to_owned();
        let mut all: Vec<OsString> = base.get_args().map(ToOwned::to_owned).collect();
        all.extend(args.iter().map(OsString::from));
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(Mutex::new(None::<Child>));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, r, v) = (stop.clone(), running.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut runs = 0;
            loop {
                let stdout = {
                    let mut running = r.lock().expect("running");
                    if s.load(Ordering::SeqCst) {
                        return runs;
                    }
                    let mut child = Command::new(&program)
                        .args(&all)
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("kubectl");
                    let stdout = child.stdout.take().expect("stdout");
                    *running = Some(child);
                    stdout
                };
                runs += 1;
                let documents = serde_json::Deserializer::from_reader(BufReader::new(stdout));
                for document in documents.into_iter::<Value>().map_while(Result::ok) {
                    v.lock().expect("seen").push((Instant::now(), document));
                }
                if let Some(mut child) = r.lock().expect("running").take() {
                    let _ = child.wait();
                }
                std::thread::sleep(pause);
            }
        });
        Recorder {
            stop,
            running,
            seen,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("seen").len()
    }

    /// Stops it; what it saw, and how many times kubectl ran.
    fn finish(mut self) -> (Vec<(Instant, Value)>, usize) {
        let runs = self.halt();
        let seen = std::mem::take(&mut *self.seen.lock().expect("seen"));
        (seen, runs)
    }

    fn halt(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(child) = self.running.lock().expect("running").as_mut() {
            let _ = child.kill();
        }
        self.thread
            .take()
            .map_or(0, |thread| thread.join().expect("recorder thread"))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.halt();
    }
}

/// An object's `Ready` (status, reason) and whether it has `status.connectorConfiguration`.
type State = (String, String, bool);

/// Each object's states in the order the watches saw them ("Kind namespace/name" -> states,
/// repeats left out).
fn histories(seen: &[(Instant, Value)]) -> BTreeMap<String, Vec<State>> {
    let mut histories: BTreeMap<String, Vec<State>> = BTreeMap::new();
    for (_, object) in seen {
        let metadata = &object["metadata"];
        let namespace = metadata["namespace"].as_str().unwrap_or_default();
        let name = format!(
            "{} {}/{}",
            object["kind"].as_str().unwrap_or_default(),
            namespace,
            metadata["name"].as_str().unwrap_or_default()
        );
        let name = name.replace(" /", " ");
        let ready = object["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .cloned()
            .unwrap_or(Value::Null);
        let state = (
            ready["status"].as_str().unwrap_or("none").to_owned(),
            ready["reason"].as_str().unwrap_or("none").to_owned(),
            !object["status"]["connectorConfiguration"].is_null(),
        );
        let states = histories.entry(name).or_default();
        if states.last() != Some(&state) {
            states.push(state);
        }
    }
    histories
}

/// What the watches saw that must not happen: Ready leaving True, the failing object's reason
/// changing, a connectorConfiguration disappearing.
fn violations(histories: &BTreeMap<String, Vec<State>>) -> Vec<String> {
    let mut found = Vec::new();
    for (object, states) in histories {
        for pair in states.windows(2) {
            let ((was, _, had), (is, _, has)) = (&pair[0], &pair[1]);
            if was == "True" && is != "True" {
                found.push(format!("{object}: Ready left True: {states:?}"));
            }
            if *had && !has {
                found.push(format!(
                    "{object}: connectorConfiguration disappeared: {states:?}"
                ));
            }
        }
        if object == FAILING && states.iter().any(|(_, reason, _)| reason != "AccessDenied") {
            found.push(format!("{object}: reason changed: {states:?}"));
        }
    }
    found
}

/// Events about ConnectorInfos and AppFlowAccounts that say the same (object, reason, note)
/// more than once, as separate Events or as a series; and how many Events there are.
fn duplicate_events(node: &Node) -> (Vec<String>, usize) {
    let events = node.json(&["get", "events.events.k8s.io", "-A"]);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events["items"].as_array().expect("items") {
        let regarding = &event["regarding"];
        if !["ConnectorInfo", "AppFlowAccount"].contains(&regarding["kind"].as_str().unwrap_or(""))
        {
            continue;
        }
        let key = format!(
            "{} {}/{} ({}): {} {}",
            regarding["kind"].as_str().unwrap_or_default(),
            regarding["namespace"].as_str().unwrap_or_default(),
            regarding["name"].as_str().unwrap_or_default(),
            regarding["uid"].as_str().unwrap_or_default(),
            event["reason"].as_str().unwrap_or_default(),
            event["note"].as_str().unwrap_or_default()
        );
        *counts.entry(key).or_default() += event["series"]["count"].as_u64().unwrap_or(1);
    }
    let total = counts.values().sum::<u64>() as usize;
    let duplicates = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(key, n)| format!("{n}x {key}"))
        .collect();
    (duplicates, total)
}

/// The operator pods (by name) and the Lease's holder, from one `get pods,leases` sample.
fn pods_and_holder(sample: &Value, lease: &str) -> (Vec<(String, bool)>, String) {
    let mut pods = Vec::new();
    let mut holder = String::new();
    for item in sample["items"].as_array().into_iter().flatten() {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if item["kind"] == "Lease" && name == lease {
            holder = item["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        let labels = &item["metadata"]["labels"];
        if item["kind"] == "Pod" && labels["app.kubernetes.io/name"] == "appflow-connector-operator"
        {
            let terminating = !item["metadata"]["deletionTimestamp"].is_null();
            pods.push((name.to_owned(), terminating));
        }
    }
    (pods, holder)
}

/// How long after the old leader's pod was first seen terminating (or gone) another pod was
/// first seen holding the Lease (zero when it was seen leading first).
fn takeover(samples: &[(Instant, Value)], lease: &str, old_leader: &str) -> Duration {
    let mut stopping = None;
    let mut led = None;
    for (at, sample) in samples {
        let (pods, holder) = pods_and_holder(sample, lease);
        let old_running = pods.iter().any(|(name, gone)| name == old_leader && !gone);
        if stopping.is_none() && !old_running {
            stopping = Some(*at);
        }
        if led.is_none() && !holder.is_empty() && holder != old_leader {
            led = Some(*at);
        }
    }
    let stopping = stopping.expect("the old leader's pod never stopped");
    led.expect("no other pod ever led")
        .saturating_duration_since(stopping)
}

/// The Lease's holder now.
fn holder(node: &Node, namespace: &str, lease: &str) -> String {
    let sample = node.json(&["get", "pods,leases", "-n", namespace]);
    pods_and_holder(&sample, lease).1
}

/// The lease duration the Deployment runs with (`--leader-election-lease-duration`, which the
/// chart renders from `leaderElection.leaseDuration`).
fn lease_duration(node: &Node, namespace: &str, deployment: &str) -> Duration {
    let deployment = node.json(&["get", "deployment", "-n", namespace, deployment]);
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let value = args
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|a| {
            a.as_str()?
                .strip_prefix("--leader-election-lease-duration=")
        })
        .unwrap_or_else(|| panic!("no lease duration in {args}"));
    let (number, unit) = value.split_at(value.len() - 1);
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("lease duration {value}"));
    Duration::from_secs(if unit == "m" { number * 60 } else { number })
}

/// What one upgrade did.
struct Figures {
    calls: BTreeMap<String, u64>,
    takeover: Duration,
    lease_duration: Duration,
    histories: BTreeMap<String, Vec<State>>,
    watch_runs: usize,
}

/// Runs `upgrade` with every ConnectorInfo and AppFlowAccount watched and the Lease sampled,
/// until the rollout is done, another pod leads and the AWS calls have settled.
fn watched_upgrade(node: &Node, namespace: &str, name: &str, upgrade: impl FnOnce()) -> Figures {
    let old_leader = holder(node, namespace, name);
    assert!(
        !old_leader.is_empty(),
        "0.1.0 leads no Lease {namespace}/{name}"
    );
    let before = calls_before_upgrade(node);
    let watch = |resource: &str| {
        let args = ["get", resource, "-A", "--watch", "-o", "json"];
        Recorder::start(node, &args, Duration::from_millis(100))
    };
    let watches = [watch(CONNECTOR_INFOS), watch(ACCOUNTS)];
    let lease = Recorder::start(
        node,
        &["get", "pods,leases", "-n", namespace, "-o", "json"],
        Duration::from_millis(200),
    );
    node.eventually("the watches' first lists", || {
        watches[0].count() > READY.len() && watches[1].count() > 0
    });

    let began = Instant::now();
    upgrade();
    let deployment = format!("deployment/{name}");
    node.kubectl_ok(&[
        "rollout",
        "status",
        "-n",
        namespace,
        &deployment,
        "--timeout=180s",
    ]);
    node.eventually("another pod to lead", || {
        let now = holder(node, namespace, name);
        !now.is_empty() && now != old_leader
    });
    eprintln!(
        "upgrade to a new leader: {:.1}s",
        began.elapsed().as_secs_f64()
    );
    let after = settled_calls(node);
    for line in failing_object_log(node, namespace, name) {
        eprintln!("new leader's log on the failing object: {line}");
    }

    let (samples, _) = lease.finish();
    let (histories, watch_runs) = watched_histories(watches);
    let calls = after
        .iter()
        .map(|(key, n)| (key.clone(), n - before.get(key).copied().unwrap_or(0)))
        .collect();
    Figures {
        calls,
        takeover: takeover(&samples, name, &old_leader),
        lease_duration: lease_duration(node, namespace, name),
        histories,
        watch_runs,
    }
}

/// The new pod's log lines about the failing object (which of the upgrade's calls were its).
fn failing_object_log(node: &Node, namespace: &str, name: &str) -> Vec<String> {
    let deployment = format!("deployment/{name}");
    let log = node.kubectl_ok(&["logs", "-n", namespace, &deployment]);
    let object = FAILING.rsplit('/').next().expect("name");
    log.lines()
        .filter(|line| line.contains(object))
        .map(str::to_owned)
        .collect()
}

/// Stops the watches: each object's states in the order they were seen, and how many times
/// kubectl was started.
fn watched_histories(watches: [Recorder; 2]) -> (BTreeMap<String, Vec<State>>, usize) {
    let mut seen = Vec::new();
    let mut watch_runs = 0;
    for watch in watches {
        let (documents, runs) = watch.finish();
        seen.extend(documents);
        watch_runs += runs;
    }
    seen.sort_by_key(|(at, _)| *at);
    (histories(&seen), watch_runs)
}

/// The upgrade's promises (the module's doc), with its figures printed.
fn assert_upgrade(node: &Node, figures: &Figures) {
    let (duplicates, events) = duplicate_events(node);
    let flips = violations(&figures.histories);
    let states: usize = figures.histories.values().map(Vec::len).sum();
    eprintln!(
        "upgrade figures: AWS calls per key during the upgrade {:?}; takeover {:.2}s \
         (lease {}s); {} objects, {states} distinct states seen over {} watch runs, \
         {} violations; {events} Events, {} said twice",
        figures.calls,
        figures.takeover.as_secs_f64(),
        figures.lease_duration.as_secs(),
        figures.histories.len(),
        figures.watch_runs,
        flips.len(),
        duplicates.len()
    );
    for (object, states) in &figures.histories {
        eprintln!("  {object}: {states:?}");
    }
    assert_eq!(
        figures.histories.len(),
        READY.len() + 2,
        "{:?}",
        figures.histories
    );
    assert!(flips.is_empty(), "{flips:#?}");
    assert!(duplicates.is_empty(), "{duplicates:#?}");
    let many: Vec<_> = figures.calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(many.is_empty(), "more than one call per key: {many:?}");
    assert!(
        figures.takeover <= figures.lease_duration,
        "took over after {:?}\n{}",
        figures.takeover,
        node.pods_report()
    );
}

/// A CRD's `status.storedVersions`.
fn stored_versions(node: &Node, crd: &str) -> Vec<String> {
    let crd = node.json(&["get", "crd", crd]);
    crd["status"]["storedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// This tree's `migrate`, as a user runs it with the cluster's kubeconfig: every object is
/// rewritten in v1beta1, both CRDs end with `storedVersions: [v1beta1]`, and the objects read
/// as v1beta1 with their specs unchanged.
fn migrate_to_v1beta1(node: &Node) {
    for crd in CRDS {
        assert_eq!(stored_versions(node, crd), ["v1alpha1", "v1beta1"], "{crd}");
    }
    let before = node.json(&[
        "get",
        "connectorinfos.v1beta1.appflow.connectorinfo.dev",
        "-A",
    ]);
    let migrated = Command::new(BIN)
        .args(["migrate", "--kubeconfig"])
        .arg(node.control_plane.kubeconfig())
        .output()
        .expect("migrate");
    let stdout = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    eprint!("migrate: {stdout}");
    let rewritten = format!(
        "{CONNECTOR_INFOS}: {} objects rewritten in v1beta1",
        READY.len() + 1
    );
    assert!(stdout.contains(&rewritten), "{stdout}");
    assert!(
        stdout.contains(&format!("{ACCOUNTS}: 1 objects rewritten")),
        "{stdout}"
    );
    for crd in CRDS {
        assert_eq!(stored_versions(node, crd), ["v1beta1"], "{crd}");
    }
    let after = node.json(&[
        "get",
        "connectorinfos.v1beta1.appflow.connectorinfo.dev",
        "-A",
    ]);
    let specs = |list: &Value| -> Vec<(Value, Value, Value)> {
        let items = list["items"].as_array().expect("items");
        let fields = |o: &Value| {
            (
                o["apiVersion"].clone(),
                o["metadata"]["name"].clone(),
                o["spec"].clone(),
            )
        };
        items.iter().map(fields).collect()
    };
    assert_eq!(specs(&after), specs(&before));
    assert!(
        specs(&after)
            .iter()
            .all(|(v, _, _)| v == "appflow.connectorinfo.dev/v1beta1")
    );
}

/// `helm install` of 0.1.0's chart from the registry, with its image by digest.
fn helm_install_previous(node: &Node, previous: &Previous) {
    prepare_namespace(node, NAMESPACE);
    let repository = format!("image.repository={}", node.release.image);
    let endpoint = format!("aws.endpointUrl={}", node.emulator_url);
    let digest = format!("image.digest={}", previous.image_digest);
    let mut args = vec!["install", RELEASE, &previous.chart, "--version"];
    args.extend([&previous.chart_version, "--plain-http", "-n", NAMESPACE]);
    args.extend([
        "--wait",
        "--timeout",
        "180s",
        "--set",
        &repository,
        "--set",
        &digest,
    ]);
    args.extend(["--set", "aws.region=us-east-1", "--set", &endpoint]);
    args.extend(["--set", "aws.credentialsSecret.name=aws"]);
    node.helm(&args);
}

/// `helm upgrade` to this tree's chart as docs/install.md says: the last release's values over
/// the new chart's defaults (`--reset-then-reuse-values`: `--reuse-values` leaves out values
/// 0.1.0's chart did not have, and the upgrade fails rendering `crds.install`), and the new
/// image's digest.
fn helm_upgrade(node: &Node) {
    let digest = format!("image.digest={}", node.release.image_digest);
    let mut args = vec!["upgrade", RELEASE, &node.release.chart, "--version"];
    args.extend([&node.release.chart_version, "--plain-http", "-n", NAMESPACE]);
    args.extend([
        "--reset-then-reuse-values",
        "--set",
        &digest,
        "--wait",
        "--timeout",
        "180s",
    ]);
    node.helm(&args);
}

#[test]
#[ignore = "a real node and 0.1.0 built from history: make upgrade-test"]
fn helm_upgrade_from_the_last_release_on_a_node_keeps_every_object_ready() {
    let _turn = one_node();
    let node = Node::start();
    let previous = push_previous(&node);
    helm_install_previous(&node, &previous);
    create_objects(&node);
    let figures = watched_upgrade(&node, NAMESPACE, FULLNAME, || helm_upgrade(&node));
    migrate_to_v1beta1(&node);
    assert_upgrade(&node, &figures);
}

/// The plain manifests' namespace, Deployment and Lease name.
const MANIFESTS_NAME: &str = "appflow-connector-operator";

/// A kustomization over a release's deploy/manifests (copied into `dir/base`) as users
/// write one: the image by digest from the registry, the region, the emulator as the
/// endpoint and static keys from the `aws` Secret.
fn overlay(node: &Node, manifests: &Path, digest: &str, dir: &Path) -> PathBuf {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).expect("overlay dir");
    for entry in std::fs::read_dir(manifests).expect("manifests").flatten() {
        std::fs::copy(entry.path(), base.join(entry.file_name())).expect("copy manifest");
    }
    let key = |name: &str| {
        json!({"op": "add", "path": "/spec/template/spec/containers/0/env/-",
               "value": {"name": name, "valueFrom": {"secretKeyRef": {"name": "aws", "key": name}}}})
    };
    let arg = |value: String| json!({"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": value});
    let patch = json!([
        arg("--region=us-east-1".to_owned()),
        arg(format!("--endpoint-url={}", node.emulator_url)),
        key("AWS_ACCESS_KEY_ID"),
        key("AWS_SECRET_ACCESS_KEY"),
    ]);
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["base"],
        "images": [{"name": "ghcr.io/appflow-connector-operator/appflow-connector-operator",
                    "newName": node.release.image, "digest": digest}],
        "patches": [{"target": {"kind": "Deployment", "name": MANIFESTS_NAME},
                     "patch": patch.to_string()}],
    });
    // JSON is YAML.
    std::fs::write(dir.join("kustomization.yaml"), kustomization.to_string()).expect("write");
    dir.to_path_buf()
}

/// `kubectl apply --server-side -k` of a release's manifests through `overlay`, and the rollout.
fn apply_manifests(node: &Node, manifests: &Path, digest: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let overlay = overlay(node, manifests, digest, dir.path());
    let output = node.kubectl(&[
        "apply",
        "--server-side",
        "-k",
        overlay.to_str().expect("path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "apply -k {}: {stderr}",
        manifests.display()
    );
    assert!(!stderr.to_lowercase().contains("conflict"), "{stderr}");
}

#[test]
#[ignore = "a real node and 0.1.0 built from history: make upgrade-test"]
fn plain_manifests_upgrade_from_the_last_release_on_a_node_keeps_every_object_ready() {
    let _turn = one_node();
    let node = Node::start();
    let previous = push_previous(&node);
    prepare_namespace(&node, MANIFESTS_NAME);
    let tree = previous_release(&["deploy/manifests"]);
    apply_manifests(
        &node,
        &tree.path().join("deploy/manifests"),
        &previous.image_digest,
    );
    for crd in CRDS {
        let crd = format!("crd/{crd}");
        node.kubectl_ok(&["wait", "--for=condition=Established", &crd, "--timeout=60s"]);
    }
    let deployment = format!("deployment/{MANIFESTS_NAME}");
    let rollout = [
        "rollout",
        "status",
        "-n",
        MANIFESTS_NAME,
        &deployment,
        "--timeout=180s",
    ];
    node.kubectl_ok(&rollout);
    create_objects(&node);

    // As docs/install.md says: the same command with this release's manifests.
    let manifests = Path::new(REPO).join("deploy/manifests");
    let figures = watched_upgrade(&node, MANIFESTS_NAME, MANIFESTS_NAME, || {
        apply_manifests(&node, &manifests, &node.release.image_digest);
    });
    migrate_to_v1beta1(&node);
    assert_upgrade(&node, &figures);
}
