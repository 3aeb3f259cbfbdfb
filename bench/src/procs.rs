//! The processes the bench starts (emulator, operator) and what it reads of them: the
//! emulator's control API, the operator's `/metrics`, and /proc.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use conninfo_test_support::process;

use crate::Error;
use crate::config::{self, KEYS, VENDED};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn release_bin(name: &str) -> PathBuf {
    repo().join("target/release").join(name)
}

/// The operator binary: `BENCH_OPERATOR_BIN` (e.g. a build with symbols for a profile), else
/// the release build.
fn operator_bin() -> PathBuf {
    std::env::var_os("BENCH_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| release_bin("appflow-connector-operator"))
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(url: &str) -> Result<String, Error> {
    Ok(ureq::get(url).call()?.body_mut().read_to_string()?)
}

/// The AppFlow emulator and its control API.
pub struct Emulator {
    _proc: Proc,
    pub url: String,
}

impl Emulator {
    /// Starts the emulator (50 ms per answer; with `quota`, an account quota of 10/s burst 10)
    /// with the fleet's custom keys and `extra_labels`.
    pub fn start(work: &Path, quota: bool, extra_labels: &[&str]) -> Result<Emulator, Error> {
        let labels = (0..KEYS - VENDED.len())
            .map(|i| format!("bench-{i}"))
            .chain(extra_labels.iter().map(|l| (*l).to_owned()));
        let data: String = labels.map(|l| format!("  - label: {l}\n")).collect();
        let path = work.join(format!("emulator-data-{}.yaml", u8::from(quota)));
        std::fs::write(&path, format!("customConnectors:\n{data}"))?;
        let mut child = Command::new(release_bin("appflow-emulator"))
            .args(["--listen", "127.0.0.1:0", "--latency-ms", "50"])
            .args(if quota {
                &["--rate-limit", "10", "--burst", "10"][..]
            } else {
                &[]
            })
            .args(["--log-level", "warn", "--data"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no emulator stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Emulator {
            _proc: Proc(child),
            url,
        })
    }

    pub fn stats(&self) -> Result<Value, Error> {
        Ok(serde_json::from_str(&http_get(&format!(
            "{}/_emulator/stats",
            self.url
        ))?)?)
    }

    fn post(&self, path: &str, body: &Value) -> Result<(), Error> {
        ureq::post(&format!("{}{path}", self.url)).send_json(body)?;
        Ok(())
    }

    /// Registers a custom connector: a connector key the operator has never described.
    pub fn register_connector(&self, label: &str) -> Result<(), Error> {
        self.post(
            "/_emulator/connectors",
            &serde_json::json!({"label": label}),
        )
    }

    /// Makes every call to `key` fail with AccessDenied from now on.
    pub fn deny(&self, key: &str) -> Result<(), Error> {
        let fault =
            serde_json::json!({"key": key, "fault": {"errorCode": "AccessDeniedException"}});
        self.post("/_emulator/faults", &fault)
    }
}

/// DescribeConnector calls so far to `key` (a connector type or `CustomConnector/<label>`).
pub fn calls_to(stats: &Value, key: &str) -> u64 {
    stats["calls"][key].as_u64().unwrap_or(0)
}

/// The operator under test and its `/metrics` endpoint: every scrape goes through here.
pub struct Operator {
    pub proc: Proc,
    metrics_url: String,
}

/// How the operator serves `/metrics` to this harness: plain HTTP on loopback, on the probe
/// port (`--health-addr`), without HTTPS or token reviews.
const METRICS_SERVING_ARGS: &[&str] = &["--metrics-secure=false"];

impl Operator {
    pub fn start(kubeconfig: &Path, emulator: &str) -> Result<Operator, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let wrapper = config::operator_wrapper();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                // Its own process group, so that stopping it reaches the operator too.
                c.args(args).arg(operator_bin()).process_group(0);
                c
            }
            None => Command::new(operator_bin()),
        };
        let child = command
            .args(["run", "--endpoint-url", emulator, "--region", "us-east-1"])
            .args(["--log-level", &config::operator_log_level()])
            .args(["--concurrency", &config::concurrency().to_string()])
            .args(["--health-addr", &format!("127.0.0.1:{port}")])
            .args(METRICS_SERVING_ARGS)
            .args(config::extra_operator_args())
            .env("KUBECONFIG", kubeconfig)
            .envs(fake_aws_credentials())
            .stdout(Stdio::null())
            .stderr(match config::operator_log() {
                Some(path) => Stdio::from(std::fs::File::create(path)?),
                None => Stdio::null(),
            })
            .spawn()?;
        let operator = Operator {
            proc: Proc(child),
            metrics_url: format!("http://127.0.0.1:{port}"),
        };
        operator.wait_ready()?;
        Ok(operator)
    }

    fn wait_ready(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while http_get(&format!("{}/readyz", self.metrics_url)).is_err() {
            if Instant::now() > deadline {
                return Err("operator not ready within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(50)); // poll interval of a readiness check
        }
        Ok(())
    }

    /// One scrape of `/metrics`.
    pub fn scrape(&self) -> Result<Metrics, Error> {
        Ok(Metrics(http_get(&format!("{}/metrics", self.metrics_url))?))
    }

    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}

impl Drop for Operator {
    /// SIGTERM first, to the process group when wrapped (a profiler writes its file as the
    /// operator exits); `Proc` kills whatever is left.
    fn drop(&mut self) {
        let target = if config::operator_wrapper().is_empty() {
            self.pid().to_string()
        } else {
            format!("-{}", self.pid())
        };
        let _ = Command::new("kill").args(["-TERM", "--", &target]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.proc.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50)); // poll interval of an exit check
        }
    }
}

/// The environment that makes the AWS SDK sign with made-up keys and look nowhere else.
pub fn fake_aws_credentials() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

/// A scrape of the operator's `/metrics`.
pub struct Metrics(String);

pub const READY_SERIES: &str =
    "appflow_connector_operator_connectorinfos{condition=\"Ready\",status=\"True\"}";
pub const WRITTEN_SERIES: &str =
    "appflow_connector_operator_status_writes_total{result=\"written\"}";

impl Metrics {
    /// The cumulative buckets of one histogram (`name` without `_bucket`) whose labels other
    /// than `le` are exactly `labels` (e.g. `lane="changed"`, or empty), as (upper bound,
    /// count).
    pub fn buckets(&self, name: &str, labels: &str) -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{");
        self.0
            .lines()
            .filter_map(|line| {
                let (set, count) = line.strip_prefix(&prefix)?.split_once("} ")?;
                let mut le = None;
                let others: Vec<&str> = set
                    .split(',')
                    .filter(|label| match label.strip_prefix("le=") {
                        Some(bound) => {
                            le = Some(bound.trim_matches('"'));
                            false
                        }
                        None => true,
                    })
                    .collect();
                if others.join(",") != labels {
                    return None;
                }
                let le = match le? {
                    "+Inf" => f64::INFINITY,
                    bound => bound.parse().ok()?,
                };
                Some((le, count.trim().parse().ok()?))
            })
            .collect()
    }

    /// The value of one series (0 when absent).
    pub fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    }
}

/// The upper bound of the bucket holding the longest observation made between two scrapes of
/// a histogram's cumulative buckets (`None`: nothing observed meanwhile).
pub fn longest_between(before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<f64> {
    let earlier = |le: f64| {
        before
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0.0, |(_, count)| *count)
    };
    let total = after.last().map(|(le, count)| count - earlier(*le))?;
    if total <= 0.0 {
        return None;
    }
    after
        .iter()
        .find(|(le, count)| count - earlier(*le) >= total)
        .map(|(le, _)| *le)
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((ticks(11) + ticks(12)) / 100.0) // USER_HZ
}

/// (VmHWM, VmRSS) of a process in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    process::memory_mib(pid)
}

pub use process::rss_split_mib;

/// Resets the process's peak RSS (VmHWM) to its current RSS (`5` into /proc/PID/clear_refs,
/// Linux ≥ 4.0; allowed for a process we may ptrace). Whether it took: VmHWM read back is
/// within a MiB of VmRSS.
pub fn reset_peak_rss(pid: u32) -> bool {
    if std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_err() {
        return false;
    }
    let (peak, rss) = memory_mib(pid);
    peak > 0.0 && peak - rss < 1.0
}

/// The highest VmRSS seen by polling every 100 ms on a thread, until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut highest: f64 = 0.0;
            while !stopped.load(Ordering::Relaxed) {
                highest = highest.max(memory_mib(pid).1);
                std::thread::sleep(Duration::from_millis(100)); // the sampling period
            }
            highest
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling; the highest RSS seen, in MiB.
    pub fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_observation_between_scrapes_is_bounded_by_its_bucket() {
        let scrape = Metrics(
            "w_bucket{le=\"0.5\",lane=\"changed\"} 3\nw_bucket{le=\"1.0\",lane=\"changed\"} 4\n\
             w_bucket{le=\"+Inf\",lane=\"changed\"} 5\nw_bucket{le=\"0.5\",lane=\"refresh\"} 9\n\
             r_bucket{le=\"0.5\"} 7\n"
                .into(),
        );
        assert_eq!(scrape.buckets("r", ""), vec![(0.5, 7.0)]);
        let after = scrape.buckets("w", "lane=\"changed\"");
        assert_eq!(after, vec![(0.5, 3.0), (1.0, 4.0), (f64::INFINITY, 5.0)]);
        let before = vec![(0.5, 3.0), (1.0, 3.0), (f64::INFINITY, 3.0)];
        // Two observations since: one ≤ 1.0, one beyond every bound.
        assert_eq!(longest_between(&before, &after), Some(f64::INFINITY));
        let before = vec![(0.5, 3.0), (1.0, 3.0), (f64::INFINITY, 4.0)];
        assert_eq!(longest_between(&before, &after), Some(1.0));
        let before = vec![(0.5, 2.0), (1.0, 3.0), (f64::INFINITY, 4.0)];
        assert_eq!(longest_between(&before, &after), Some(0.5));
        assert_eq!(longest_between(&after, &after), None);
    }
}
