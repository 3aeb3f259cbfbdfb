//! `helm install` for real, from a release: the release pipeline (hack/release/publish.sh)
//! pushes the image index hack/image/build.sh built and the chart to an OCI registry on
//! loopback (go-containerregistry's, as `crane registry serve`), signs both and attaches the
//! SBOMs; hack/release/verify.sh checks the signatures as a user would and that unsigned and
//! tampered pushes are refused. Then a control plane with a node (kube-controller-manager,
//! kube-scheduler, a kubelet on Debian's containerd and runc) whose containerd pulls from that
//! registry, and `helm install oci://…/charts/appflow-connector-operator --version …` with the
//! image by digest, as a user would. The pod runs the image with the chart's restricted
//! security context and real probes; what the
//! out-of-cluster tests cannot show is shown here: the in-cluster config, the image's
//! entrypoint and user, the read-only root, the rollout, `kubectl logs`, port-forward, an
//! upgrade that rolls the pod, leader hand-over between two pods, and uninstall.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{Proc, REPO, spawn_emulator};
use super::helm::helm_ok;
use super::metrics_auth::https_client;
use conninfo_test_support::controlplane::ControlPlane;

pub(super) const NAMESPACE: &str = "appflow-system";
pub(super) const RELEASE: &str = "appflow";
pub(super) const FULLNAME: &str = "appflow-appflow-connector-operator";
/// The node's address (the launcher's bridge): pods reach the emulator there.
const NODE_IP: &str = "10.214.0.1";

/// The release tools hack/release/tools/build.sh builds (`make tools`).
pub(super) fn release_tool(name: &str) -> PathBuf {
    let path = Path::new(REPO).join(".cache/release-tools/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run hack/release/tools/build.sh",
        path.display()
    );
    path
}

/// An OCI registry on loopback: go-containerregistry's (`crane registry serve`), blobs on
/// disk, on a port the kernel picks. Killed on drop.
pub(super) struct Registry {
    _process: Proc,
    _blobs: tempfile::TempDir,
    pub(super) address: String,
}

impl Registry {
    fn start() -> Registry {
        let blobs = tempfile::tempdir().expect("registry dir");
        let mut child = Command::new(release_tool("crane"))
            .args(["registry", "serve", "--address", "127.0.0.1:0", "--disk"])
            .arg(blobs.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crane registry serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut port = None;
        let mut line = String::new();
        while port.is_none() && stderr.read_line(&mut line).expect("registry log") > 0 {
            // "2026/12/04 18:50:23 serving on port 35329"
            port = line
                .trim()
                .rsplit_once("serving on port ")
                .and_then(|(_, p)| p.parse::<u16>().ok());
            line.clear();
        }
        let port = port.expect("the registry never said its port");
        // It logs every request: keep reading, or it blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Registry {
            _process: Proc(child),
            _blobs: blobs,
            address: format!("127.0.0.1:{port}"),
        }
    }
}

/// What hack/release/publish.sh pushed (its published.json).
pub(super) struct Published {
    pub(super) image: String,
    pub(super) image_digest: String,
    pub(super) chart: String,
    pub(super) chart_version: String,
}

/// Runs one of the release scripts, its output shown, and asserts it succeeded.
fn release_script(script: &str, registry: &str, out: &Path) {
    let began = Instant::now();
    let status = Command::new(Path::new(REPO).join("hack/release").join(script))
        .arg(registry)
        .arg(out)
        .status()
        .expect(script);
    assert!(status.success(), "hack/release/{script} failed: {status}");
    eprintln!(
        "hack/release/{script}: {:.1}s",
        began.elapsed().as_secs_f64()
    );
}

/// Publishes the release to `registry` and verifies it, into `out`
/// ($APPFLOW_RELEASE_OUT, as `make release-local` sets it, or a directory of the test's).
fn publish(registry: &str) -> Published {
    let out = std::env::var_os("APPFLOW_RELEASE_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("release"));
    std::fs::create_dir_all(&out).expect("release dir");
    release_script("publish.sh", registry, &out);
    release_script("verify.sh", registry, &out);
    let published: Value =
        serde_json::from_slice(&std::fs::read(out.join("published.json")).expect("published.json"))
            .expect("published.json is JSON");
    let text = |pointer: &str| {
        published
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} in {published}"))
            .to_owned()
    };
    Published {
        image: text("/image/reference"),
        image_digest: text("/image/digest"),
        chart: text("/chart/reference"),
        chart_version: text("/chart/version"),
    }
}

// Fields drop in order: the node goes before the emulator and the registry it pulled from.
pub(super) struct Node {
    pub(super) control_plane: ControlPlane,
    _emulator: Proc,
    pub(super) emulator_url: String,
    pub(super) registry: Registry,
    pub(super) release: Published,
}

impl Node {
    pub(super) fn start() -> Node {
        let registry = Registry::start();
        let release = publish(&registry.address);
        let control_plane = ControlPlane::start_with_node(&[], &[&registry.address])
            .expect("control plane with a node");
        // Only the node's bridge exists once the launcher is up: the emulator listens there.
        let (emulator, emulator_url) = spawn_emulator(NODE_IP);
        Node {
            control_plane,
            _emulator: emulator,
            emulator_url,
            registry,
            release,
        }
    }

    pub(super) fn kubectl(&self, args: &[&str]) -> Output {
        self.control_plane
            .kubectl()
            .args(args)
            .output()
            .expect("kubectl")
    }

    pub(super) fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.pods_report()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(super) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("json")
    }

    /// Pods and recent events, for failure messages.
    pub(super) fn pods_report(&self) -> String {
        let pods = self
            .control_plane
            .kubectl()
            .args(["get", "pods", "-A", "-o", "wide"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let events = self
            .control_plane
            .kubectl()
            .args(["get", "events", "-A", "--sort-by=.lastTimestamp"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!("pods:\n{pods}\nevents:\n{events}")
    }

    pub(super) fn helm(&self, args: &[&str]) -> String {
        helm_ok(args, Some(self.control_plane.kubeconfig()))
    }

    /// Polls (a readiness check, not a fixed wait) until `check` holds or 120 s pass.
    pub(super) fn eventually(&self, what: &str, check: impl FnMut() -> bool) {
        conninfo_test_support::wait::eventually(
            what,
            Duration::from_secs(120),
            Duration::from_millis(250),
            check,
            || self.pods_report(),
        );
    }

    /// The operator pods' names, Running and Ready.
    fn ready_pods(&self) -> Vec<String> {
        let pods = self.json(&[
            "get",
            "pods",
            "-n",
            NAMESPACE,
            "-l",
            "app.kubernetes.io/name=appflow-connector-operator",
        ]);
        pods["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| p["status"]["phase"] == "Running")
            .filter(|p| {
                p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
            .map(|p| p["metadata"]["name"].as_str().expect("name").to_owned())
            .collect()
    }

    fn lease_holder(&self) -> String {
        let lease = self.json(&["get", "lease", "-n", NAMESPACE, FULLNAME]);
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `kubectl port-forward` to a pod's HTTPS metrics port (8443) on a free local port;
    /// killed on drop.
    fn port_forward(&self, target: &str) -> (Proc, u16) {
        let mut child: Child = self
            .control_plane
            .kubectl()
            .args(["port-forward", "-n", NAMESPACE, target, ":8443"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("port-forward");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("port-forward address");
        // kubectl reports every connection on stdout: keep reading, or it dies of EPIPE.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        // "Forwarding from 127.0.0.1:41234 -> 8443"
        let port = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("port-forward said {line:?}"));
        (Proc(child), port)
    }
}

/// The operator processes the node runs (as the host sees them): pid, uid, read-only root.
fn operator_processes() -> Vec<(u32, u32, bool)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !cmdline.starts_with(b"/appflow-connector-operator\0run\0") {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse().ok())
            .unwrap_or(u32::MAX);
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        let read_only_root = mounts.lines().any(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.get(4) == Some(&"/")
                && fields
                    .get(5)
                    .is_some_and(|o| o.split(',').any(|o| o == "ro"))
        });
        found.push((pid, uid, read_only_root));
    }
    found
}

/// The namespace the operator runs in: restricted Pod Security, the emulator's test keys.
pub(super) fn prepare_namespace(node: &Node, namespace: &str) {
    node.kubectl_ok(&["create", "namespace", namespace]);
    node.kubectl_ok(&[
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    node.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "aws",
        "-n",
        namespace,
        "--from-literal=AWS_ACCESS_KEY_ID=AKIDTEST",
        "--from-literal=AWS_SECRET_ACCESS_KEY=test-secret",
    ]);
}

#[test]
fn helm_install_runs_the_image_as_a_pod_and_upgrades_hands_over_and_uninstalls() {
    let node = Node::start();
    prepare_namespace(&node, NAMESPACE);
    let endpoint = format!("aws.endpointUrl={}", node.emulator_url);
    let repository = format!("image.repository={}", node.release.image);
    let digest = format!("image.digest={}", node.release.image_digest);
    let chart = node.release.chart.clone();
    let version = node.release.chart_version.clone();
    // The image by digest, pulled by the node's containerd from the registry: no pullPolicy
    // Never, no imported archive.
    let values = [
        "--version",
        &version,
        "--plain-http",
        "--set",
        &repository,
        "--set",
        &digest,
        "--set",
        "aws.region=us-east-1",
        "--set",
        &endpoint,
        "--set",
        "aws.credentialsSecret.name=aws",
        "--set",
        "leaderElection.leaseDuration=6s",
    ];

    // 1. Install: the Deployment rolls out; the pod is Running and Ready through its probes.
    let release = |command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            RELEASE,
            &chart,
            "-n",
            NAMESPACE,
            "--wait",
            "--timeout",
            "120s",
        ];
        args.extend(values);
        args.extend(extra);
        node.helm(&args);
    };
    let began = Instant::now();
    release("install", &[]);
    node.kubectl_ok(&[
        "rollout",
        "status",
        "-n",
        NAMESPACE,
        &format!("deployment/{FULLNAME}"),
        "--timeout=60s",
    ]);
    let pods = node.ready_pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    eprintln!(
        "helm install to a Ready pod: {:.1}s",
        began.elapsed().as_secs_f64()
    );

    // The image's entrypoint runs as 65532 on a read-only root, as the chart asks.
    // The node's containerd pulled it from the registry, by digest.
    let pod = node.json(&["get", "pod", "-n", NAMESPACE, &pods[0]]);
    let wanted = format!("{}@{}", node.release.image, node.release.image_digest);
    assert_eq!(pod["spec"]["containers"][0]["image"], wanted.as_str());
    let pulled = node.json(&[
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        &format!("involvedObject.name={},reason=Pulled", pods[0]),
    ]);
    assert!(
        pulled["items"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["message"]
                .as_str()
                .is_some_and(|m| m.contains("Successfully pulled")))),
        "no pull of {wanted}: {pulled}"
    );

    let processes = operator_processes();
    assert_eq!(processes.len(), 1, "{processes:?}");
    let (_, uid, read_only) = processes[0];
    assert_eq!((uid, read_only), (65532, true), "{processes:?}");

    // 2. It reconciles the samples through its in-cluster config.
    node.kubectl_ok(&["create", "namespace", "samples"]);
    node.kubectl_ok(&[
        "apply",
        "-n",
        "samples",
        "-f",
        &format!("{REPO}/deploy/samples/"),
    ]);
    for name in ["acme-crm", "datadog", "salesforce", "snowflake"] {
        node.kubectl_ok(&[
            "wait",
            "-n",
            "samples",
            &format!("conninfo/{name}"),
            "--for=condition=Ready",
            "--timeout=60s",
        ]);
    }
    node.kubectl_ok(&[
        "wait",
        "-n",
        "samples",
        "conninfo/slack-as-destination",
        "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=RequirementsNotMet",
        "--timeout=60s",
    ]);

    // 3. kubectl logs: JSON lines from the kubelet.
    let logs = node.kubectl_ok(&["logs", "-n", NAMESPACE, &format!("deployment/{FULLNAME}")]);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "cache synced, controller ready"),
        "{logs}"
    );

    // 4. /metrics over HTTPS through a port-forward (the kubelet's streaming server), with
    // the token of a ServiceAccount bound to the chart's metrics-reader ClusterRole; the
    // pod reviews it with the chart's RBAC.
    node.kubectl_ok(&["create", "serviceaccount", "scraper", "-n", NAMESPACE]);
    node.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "appflow-scraper",
        &format!("--clusterrole={FULLNAME}-metrics-reader"),
        &format!("--serviceaccount={NAMESPACE}:scraper"),
    ]);
    let token = node.kubectl_ok(&["create", "token", "scraper", "-n", NAMESPACE]);
    let (forward, port) = node.port_forward(&format!("deployment/{FULLNAME}"));
    let url = format!("https://127.0.0.1:{port}/metrics");
    let agent = https_client(None);
    let mut metrics = String::new();
    node.eventually("/metrics through the port-forward", || {
        match agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", token.trim()))
            .call()
        {
            Ok(mut response) if response.status() == 200 => {
                metrics = response.body_mut().read_to_string().unwrap_or_default();
                true
            }
            // A review the API server could not answer yet: try again.
            Ok(response) if response.status().is_server_error() => false,
            Ok(response) => panic!("/metrics answered {}", response.status()),
            Err(e) => {
                eprintln!("port-forward not answering yet: {e}");
                false
            }
        }
    });
    assert_eq!(
        agent.get(&url).call().map(|r| r.status().as_u16()).ok(),
        Some(401),
        "no token"
    );
    assert!(
        metrics.contains("appflow_connector_operator_ready 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "appflow_connector_operator_connectorinfos{condition=\"RequirementsMet\",status=\"False\"} 1"
        ),
        "{metrics}"
    );
    drop(forward);

    // 5. An upgrade with a changed value rolls the pod.
    release("upgrade", &["--set", "controller.concurrency=2"]);
    node.eventually("the upgraded pod alone", || {
        let now = node.ready_pods();
        now.len() == 1 && now != pods
    });
    let deployment = node.json(&["get", "deployment", "-n", NAMESPACE, FULLNAME]);
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--concurrency=2"), "{args}");

    // 6. Two replicas: one leads; deleting the leader's pod hands over to the other.
    release(
        "upgrade",
        &[
            "--set",
            "controller.concurrency=2",
            "--set",
            "replicaCount=2",
        ],
    );
    node.eventually("two Ready pods", || node.ready_pods().len() == 2);
    let pods = node.ready_pods();
    node.eventually("a leader among them", || {
        pods.contains(&node.lease_holder())
    });
    let leader = node.lease_holder();
    let began = Instant::now();
    node.kubectl_ok(&["delete", "pod", "-n", NAMESPACE, &leader, "--wait=false"]);
    // Normally the standby, at once (the Lease is released on SIGTERM); on a loaded node a
    // renewal may come too late, and then the replacement pod may win the expired Lease: either
    // way another pod leads and works.
    node.eventually("another pod to lead", || {
        let holder = node.lease_holder();
        !holder.is_empty() && holder != leader
    });
    eprintln!(
        "leader pod deleted -> {} leads after {:.1}s",
        node.lease_holder(),
        began.elapsed().as_secs_f64()
    );
    // The new leader still answers: a refresh is described and written.
    node.kubectl_ok(&[
        "annotate",
        "-n",
        "samples",
        "conninfo/datadog",
        "appflow.connectorinfo.dev/refresh=after-handover",
    ]);
    node.kubectl_ok(&[
        "wait",
        "-n",
        "samples",
        "conninfo/datadog",
        "--for=jsonpath={.status.lastHandledRefresh}=after-handover",
        "--timeout=60s",
    ]);

    // 7. Uninstall leaves no operator object and no operator process.
    node.helm(&[
        "uninstall",
        RELEASE,
        "-n",
        NAMESPACE,
        "--wait",
        "--timeout",
        "120s",
    ]);
    node.eventually("the operator pods gone", || {
        node.json(&["get", "pods", "-n", NAMESPACE])["items"]
            .as_array()
            .is_some_and(|items| items.is_empty())
    });
    let left = node.kubectl_ok(&[
        "get",
        "deployment,replicaset,serviceaccount,role,rolebinding,service,lease,configmap,secret",
        "-n",
        NAMESPACE,
        "-l",
        "app.kubernetes.io/instance=appflow",
        "-o",
        "name",
    ]);
    assert!(left.trim().is_empty(), "left behind: {left}");
    node.eventually("no operator process on the node", || {
        operator_processes().is_empty()
    });
}
