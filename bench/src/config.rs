//! The bench's knobs (environment variables) and the fleet's shape.

use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// Namespaces the fleet is spread over (`bench-0` … `bench-19`).
pub const NAMESPACES: usize = 20;
/// Distinct connector keys: the 23 vended types (the emulator's list, from AWS's model) and
/// 27 custom connectors `bench-0` … `bench-26`.
pub const KEYS: usize = 50;
pub const VENDED: &[&str] = appflow_emulator::VENDED_CONNECTOR_TYPES;
/// Where the forced-refresh phase creates its probes.
pub const PROBE_NAMESPACE: &str = "bench-probes";

/// A number from the environment, or `default` when unset or unparsable.
pub fn env_number<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The operator's `--concurrency` (its default, 4), and the ceiling loop's; `BENCH_CONCURRENCY`
/// changes both.
pub fn concurrency() -> usize {
    Some(env_number("BENCH_CONCURRENCY", 4))
        .filter(|c| *c > 0)
        .unwrap_or(4)
}

/// Extra operator flags, `BENCH_OPERATOR_ARGS` split on whitespace (e.g.
/// `--account-bindings=false`), to compare a feature's cost with the same harness.
pub fn extra_operator_args() -> Vec<String> {
    words("BENCH_OPERATOR_ARGS")
}

/// A command the operator runs under, `BENCH_OPERATOR_WRAPPER` split on whitespace (e.g.
/// `heaptrack -o /tmp/operator` for a heap profile). Its RSS figures are then the wrapper's.
pub fn operator_wrapper() -> Vec<String> {
    words("BENCH_OPERATOR_WRAPPER")
}

/// Where the operator's log goes, `BENCH_OPERATOR_LOG` (a file; default: nowhere), to see where
/// a phase's time went.
pub fn operator_log() -> Option<std::path::PathBuf> {
    std::env::var_os("BENCH_OPERATOR_LOG").map(Into::into)
}

/// The operator's `--log-level`, `BENCH_OPERATOR_LOG_LEVEL` (default `warn`), e.g.
/// `warn,conninfo_runtime::controller=debug` with `BENCH_OPERATOR_LOG`.
pub fn operator_log_level() -> String {
    std::env::var("BENCH_OPERATOR_LOG_LEVEL").unwrap_or_else(|_| "warn".into())
}

fn words(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `BENCH_SIZES`, default `1000,10000`.
pub fn sizes() -> Result<Vec<usize>, Error> {
    Ok(std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?)
}

/// The quiet window after the first sync, `BENCH_STEADY_SECS` (default 60).
pub fn steady() -> Duration {
    Duration::from_secs(env_number("BENCH_STEADY_SECS", 60))
}

/// How long the fleet-wide forced refresh is spread over: `BENCH_REFRESH_SECS_PER_10K` (default
/// 120) per 10,000 objects, as a client annotating at a steady rate would.
pub fn refresh_spread(objects: usize) -> Duration {
    let per_10k: f64 = env_number("BENCH_REFRESH_SECS_PER_10K", 120.0);
    Duration::from_secs_f64(per_10k.max(0.0) * objects as f64 / 10_000.0)
}

/// Probes of each kind (new key, cached key) created during the forced refresh,
/// `BENCH_PROBES` (default 20).
pub fn probes() -> usize {
    env_number("BENCH_PROBES", 20).max(1)
}

/// How long to wait for the operator's relist after the API server's restart,
/// `BENCH_RELIST_SECS` (default 120).
pub fn relist_window() -> Duration {
    Duration::from_secs(env_number("BENCH_RELIST_SECS", 120))
}

/// The budget run's length, `BUDGET_MINUTES` (default 10).
pub fn budget_minutes() -> u64 {
    env_number("BUDGET_MINUTES", 10).max(1)
}
