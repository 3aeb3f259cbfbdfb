//! A real Kubernetes control plane (etcd + kube-apiserver, v1.37 unless
//! `KUBERNETES_VERSION` says otherwise) on loopback, for integration tests; with
//! a node (controller-manager, scheduler and a kubelet on containerd) when a
//! test needs pods to run.
//!
//! It drives the `controlplane` launcher built by `hack/controlplane/build.sh`
//! over a line protocol: the launcher prints `READY <kubeconfig>` (or
//! `ERROR <msg>`) on stdout and reads `restart-apiserver` / `stop` on stdin.
//! Closing its stdin, as happens when this process dies, also tears it down.
//!
//! Environment:
//! - `KUBERNETES_VERSION`: the Kubernetes minor version to build and run
//!   (`1.33`, `1.35`, `1.37`; default `1.37`), read by `hack/controlplane/build.sh`;
//!   each has its own binaries in `<repo>/.cache/controlplane/<minor>/bin`.
//! - `APPFLOW_CONTROLPLANE_BIN_DIR`: use prebuilt binaries from this directory
//!   instead of running `hack/controlplane/build.sh` (which is idempotent and
//!   takes well under a second when nothing changed).
//! - `APPFLOW_CONTROLPLANE_KEEP=1`: keep each work dir (logs, certs, kubeconfig)
//!   for post-mortems; its path is printed on stderr.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Backstop only: the launcher gives etcd and the apiserver 90 s each.
const READY_TIMEOUT: Duration = Duration::from_secs(200);
// A node takes longer: its pods are stopped through the kubelet first.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);

pub struct ControlPlane {
    child: Child,
    stdin: Option<ChildStdin>,
    /// stdout lines, read on a thread so that waiting can time out.
    lines: Receiver<String>,
    bin_dir: PathBuf,
    work_dir: PathBuf,
    kubeconfig: PathBuf,
    keep: bool,
}

impl ControlPlane {
    /// Starts a fresh control plane and waits until the apiserver is ready.
    pub fn start() -> io::Result<ControlPlane> {
        Self::launch(&[])
    }

    /// Starts a fresh control plane whose kube-apiserver also gets `apiserver_args` (e.g.
    /// `--feature-gates=WatchList=false`), and waits until it is ready.
    pub fn start_with_apiserver_args(apiserver_args: &[&str]) -> io::Result<ControlPlane> {
        let args: Vec<std::ffi::OsString> = apiserver_args
            .iter()
            .map(|arg| format!("--apiserver-arg={arg}").into())
            .collect();
        Self::launch(&args)
    }

    /// Starts a control plane with a node (controller-manager, scheduler, a kubelet on
    /// containerd; pods on a bridge the launcher creates) with the given OCI image archives
    /// imported and the given plain-HTTP registries on this machine (`HOST:PORT`) configured
    /// for pulls, and waits until the node is Ready. Needs root, containerd, runc and the CNI
    /// plugins (Debian's packages; `make tools` installs them).
    pub fn start_with_node(images: &[&Path], registries: &[&str]) -> io::Result<ControlPlane> {
        let mut args = vec![std::ffi::OsString::from("--node")];
        for image in images {
            args.push("--image".into());
            args.push(image.as_os_str().to_owned());
        }
        for registry in registries {
            args.push("--registry".into());
            args.push(registry.into());
        }
        Self::launch(&args)
    }

    fn launch(extra: &[std::ffi::OsString]) -> io::Result<ControlPlane> {
        let bin_dir = bin_dir()?;
        let keep = std::env::var_os("APPFLOW_CONTROLPLANE_KEEP")
            .is_some_and(|v| !v.is_empty() && v != "0");
        let work_dir = unique_work_dir();

        let mut cmd = Command::new(bin_dir.join("controlplane"));
        cmd.arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--work-dir")
            .arg(&work_dir);
        cmd.args(extra);
        if keep {
            cmd.arg("--keep");
            eprintln!("controlplane work dir (kept): {}", work_dir.display());
        }
        // stderr is inherited: the launcher only writes a few lines there,
        // and its failure details are exactly what a failing test needs.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("spawning {}: {e}", bin_dir.join("controlplane").display()),
                )
            })?;

        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut cp = ControlPlane {
            stdin: child.stdin.take(),
            child,
            lines,
            bin_dir,
            work_dir,
            kubeconfig: PathBuf::new(),
            keep,
        };
        // On error `cp` is dropped here, which stops the launcher.
        cp.kubeconfig = cp.wait_ready()?;
        Ok(cp)
    }

    /// Admin kubeconfig (client certificate in group system:masters).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Directory with the logs (etcd.log, kube-apiserver.log), certs and kubeconfig.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The kubectl of the same Kubernetes release, pointed at this cluster.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// Stops the apiserver gracefully and starts it again on the same port
    /// with the same etcd, so stored objects survive; returns once ready.
    pub fn restart_apiserver(&mut self) -> io::Result<()> {
        self.send("restart-apiserver")?;
        self.wait_ready().map(|_| ())
    }

    fn send(&mut self, command: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("control plane is stopped"))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()
    }

    /// Waits for the next `READY <kubeconfig>` line.
    fn wait_ready(&mut self) -> io::Result<PathBuf> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(path) = line.strip_prefix("READY ") {
                        return Ok(PathBuf::from(path));
                    }
                    if let Some(msg) = line.strip_prefix("ERROR ") {
                        return Err(io::Error::other(format!(
                            "control plane failed: {msg} (details on stderr)"
                        )));
                    }
                    // Anything else on stdout is unexpected but harmless.
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("control plane not ready after {READY_TIMEOUT:?}"),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    return Err(io::Error::other(format!(
                        "control plane exited before READY ({status})"
                    )));
                }
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // `stop`, then close stdin (EOF also means stop) and give the
        // launcher time to shut the apiserver and etcd down in order.
        let _ = self.send("stop");
        self.stdin = None;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => {
                    // Killing the launcher kills etcd and the apiserver too
                    // (parent-death signal), but leaves the work dir behind.
                    eprintln!("controlplane did not stop within {STOP_TIMEOUT:?}, killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// `$APPFLOW_CONTROLPLANE_BIN_DIR`, or the directory `hack/controlplane/build.sh`
/// builds the `KUBERNETES_VERSION` it inherits into (`<repo>/.cache/controlplane/<minor>/bin`),
/// after making sure it is built (once per test process).
fn bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("APPFLOW_CONTROLPLANE_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = repo.join("hack/controlplane/build.sh");
            // stdout is the directory; progress and errors go to stderr.
            let out = Command::new("bash")
                .arg(&script)
                .arg("--bin-dir")
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running {}: {e}", script.display()))?;
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !dir.is_empty() {
                Ok(PathBuf::from(dir))
            } else {
                Err(format!("{} failed ({})", script.display(), out.status))
            }
        })
        .clone()
        .map_err(io::Error::other)
}

fn unique_work_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "appflow-controlplane-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}
