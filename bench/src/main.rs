//! `make bench`: the operator at fleet scale, on the real local control plane (kube-apiserver +
//! etcd from Go modules) and the AppFlow emulator answering in 50 ms under an account quota of
//! 10 requests/s. For each N (`BENCH_SIZES`, default `1000,10000`) it creates N ConnectorInfos
//! in 20 namespaces over 50 distinct connector keys, measures the API server's own ceiling for
//! N server-side applies of the same statuses at the operator's concurrency, then starts the
//! release operator and measures, phase by phase (`phases`): time to all Ready, AWS calls per
//! key, status writes; a steady window; a refresh request on every object at once with one
//! value; a fleet-wide forced refresh applied as a slow client would, with probes on a new key
//! and on a cached key timed to Ready; an API-server restart
//! and the relist's peak RSS; peak RSS and CPU. Writes `target/bench/results.json`,
//! `results.md` and `chart.svg`.
//!
//! `appflow-bench budget` (`make bench-budget`) runs objects on failing keys instead and
//! prints what the error budget lets them cost.
//!
//! A benchmark, not a test: it prints numbers and asserts nothing.

mod config;
mod fleet;
mod phases;
mod probe;
mod procs;
mod report;

use std::time::Instant;

use conninfo_test_support::controlplane::ControlPlane;

use crate::config::{KEYS, concurrency};
use crate::phases::first_sync::{FirstSync, Steady};
use crate::phases::forced::{AtOnce, Forced};
use crate::phases::relist::Relist;
use crate::procs::{Emulator, Operator, cpu_seconds, memory_mib, repo};
use crate::report::{Results, Run};

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn run_size(n: usize, idle: &mut Option<f64>) -> Result<Run, Error> {
    let mut cluster = ControlPlane::start()?;
    let kubeconfig = cluster.kubeconfig().to_path_buf();
    let client = fleet::client(&kubeconfig).await?;
    fleet::install_crd(&client).await?;
    let emulator = Emulator::start(cluster.work_dir(), true, &[])?;
    if idle.is_none() {
        let operator = Operator::start(&kubeconfig, &emulator.url)?;
        *idle = Some(memory_mib(operator.pid()).1);
    }

    eprintln!("bench: creating {n} ConnectorInfos");
    fleet::create_objects(&client, n).await?;
    eprintln!(
        "bench: API server ceiling: {n} status applies at concurrency {}",
        concurrency()
    );
    let statuses = fleet::statuses_by_key(&Emulator::start(cluster.work_dir(), false, &[])?.url)?;
    let ceiling = fleet::apiserver_ceiling(&client, n, &statuses).await?;

    eprintln!("bench: operator first sync");
    let started = Instant::now();
    let operator = Operator::start(&kubeconfig, &emulator.url)?;
    let first = phases::first_sync::run(&operator, &emulator, n, started).await?;
    let mut peaks = PhasePeaks::default();
    peaks.end("first sync", &operator);
    eprintln!("bench: steady window of {} s", config::steady().as_secs());
    let steady = phases::first_sync::steady(&operator, &emulator, &first, config::steady()).await?;
    peaks.end("steady window", &operator);
    eprintln!("bench: every object annotated at once with one value");
    let at_once = phases::forced::at_once(&client, &operator, &emulator, n).await?;
    peaks.end("one value at once", &operator);
    eprintln!(
        "bench: forced refresh of all {n} objects over {:.0} s, with probes",
        config::refresh_spread(n).as_secs_f64()
    );
    let forced = phases::forced::run(&client, &operator, &emulator, n).await?;
    peaks.end("spread refresh", &operator);
    let throttled = emulator.stats()?["throttled"].as_u64().unwrap_or(0);
    eprintln!("bench: API-server restart and relist");
    let relist = phases::relist::run(&mut cluster, &client, &operator, n).await?;
    let cpu_seconds = cpu_seconds(operator.pid())?;
    Ok(Measured {
        n,
        ceiling,
        first,
        steady,
        at_once,
        forced,
        throttled,
        relist,
        phase_peak_rss_mib: peaks.highest,
        cpu_seconds,
    }
    .into_run())
}

/// What one size's phases measured, in the order they ran.
struct Measured {
    n: usize,
    ceiling: f64,
    first: FirstSync,
    steady: Steady,
    at_once: AtOnce,
    forced: Forced,
    throttled: u64,
    relist: Relist,
    /// The highest of the phases' peaks before the relist, which has its own.
    phase_peak_rss_mib: f64,
    cpu_seconds: f64,
}

impl Measured {
    /// The run's row, with the ratios the report compares across sizes.
    fn into_run(self) -> Run {
        let Measured {
            n,
            ceiling,
            first,
            steady,
            at_once,
            forced,
            throttled,
            relist,
            phase_peak_rss_mib,
            cpu_seconds,
        } = self;
        Run {
            objects: n,
            keys: KEYS,
            seconds_to_all_ready: first.seconds_to_all_ready,
            apiserver_ceiling_seconds: ceiling,
            ratio_to_ceiling: first.seconds_to_all_ready / ceiling,
            describe_calls_first_sync: first.describe_calls,
            calls_per_key_first_sync: first.describe_calls as f64 / KEYS as f64,
            status_writes_per_object_to_ready: first.status_writes / n as f64,
            steady_window_seconds: steady.seconds,
            steady_status_writes: steady.status_writes,
            steady_describe_calls: steady.describe_calls,
            throttled_answers: throttled,
            refresh_at_once_seconds: at_once.seconds,
            describe_calls_refresh_at_once: at_once.calls_on_fleet_keys,
            calls_per_key_refresh_at_once: at_once.calls_on_fleet_keys as f64 / KEYS as f64,
            forced_refresh_spread_seconds: forced.spread_seconds,
            forced_refresh_seconds: forced.seconds,
            describe_calls_forced_refresh: forced.calls_on_fleet_keys,
            calls_per_key_forced_refresh: forced.calls_on_fleet_keys as f64 / KEYS as f64,
            probes_new_key: forced.new_key,
            probes_cached_key: forced.cached_key,
            forced_refresh_longest: forced.longest,
            peak_rss_mib: phase_peak_rss_mib.max(relist.run_peak_rss_mib),
            steady_rss_mib: relist.steady_rss_mib,
            steady_rss_anon_mib: relist.steady_rss_anon_mib,
            steady_rss_file_mib: relist.steady_rss_file_mib,
            relist_peak_rss_mib: relist.relist_peak_rss_mib,
            relist_peak_ratio: relist.relist_peak_rss_mib / relist.steady_rss_mib,
            relist_peak_from_hwm: relist.peak_from_hwm,
            relist_list_requests: relist.lists,
            relist_watch_events: relist.watch_events,
            relist_restarts: relist.restarts,
            cpu_seconds,
        }
    }
}

/// The operator's peak RSS per phase (VmHWM read at each phase's end, then reset), printed as
/// each phase ends, so a run's peak can be placed; the highest is the run's peak.
#[derive(Default)]
struct PhasePeaks {
    highest: f64,
}

impl PhasePeaks {
    fn end(&mut self, phase: &str, operator: &Operator) {
        let (peak, rss) = memory_mib(operator.pid());
        self.highest = self.highest.max(peak);
        let reset = procs::reset_peak_rss(operator.pid());
        eprintln!(
            "bench: {phase}: peak RSS {peak:.1} MiB, RSS at its end {rss:.1} MiB (peak reset: {reset})"
        );
    }
}

async fn fleet() -> Result<(), Error> {
    let mut idle = None;
    let mut runs = Vec::new();
    for n in config::sizes()? {
        let run = run_size(n, &mut idle).await?;
        eprintln!("bench: {}", serde_json::to_string(&run)?);
        runs.push(run);
    }
    let results = Results {
        machine: report::machine(),
        concurrency: concurrency(),
        operator_args: config::extra_operator_args(),
        idle_rss_mib: idle.unwrap_or(0.0),
        runs,
    };
    let out = repo().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    let table = report::markdown(&results);
    std::fs::write(out.join("results.md"), &table)?;
    report::chart(&results, &out.join("chart.svg"))?;
    println!("{table}");
    println!("written: target/bench/results.json, results.md, chart.svg");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    match std::env::args().nth(1).as_deref() {
        None => fleet().await,
        Some("budget") => phases::budget::run().await,
        Some(other) => Err(format!("unknown mode {other:?}: none (the fleet) or `budget`").into()),
    }
}
