//! Back within seconds after API-server restarts (docs/design.md, "Watch recovery"): the
//! operator, with leader election as the chart runs it, sees a ConnectorInfo created right after
//! the API server answers again and makes it Ready within [`BOUND`], after one restart and after
//! three in a row; every watch's `watch_up` goes to 0 while the server is away and back to 1.
//!
//! `APPFLOW_E2E_RESTART_ROUNDS` (default `1,1,3`) lists the rounds: how many restarts in a row
//! each has. The figures are printed with their p50 and max per kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::connector_info;

use super::cluster::Cluster;

/// The longest a new object may take to be Ready after the API server answers again.
const BOUND: Duration = Duration::from_secs(15);
/// The operator's watches, as `watch_up`'s `watch` label names them.
const WATCHES: [&str; 4] = ["appflowaccounts", "connectorinfos", "lease", "namespaces"];
const NAMESPACE: &str = "restarts";

#[test]
fn new_objects_are_ready_within_seconds_of_apiserver_restarts() {
    let mut cluster = Cluster::start();
    cluster.start_operator(&["--leader-elect"]);
    cluster.create_namespace(NAMESPACE);
    cluster.apply(
        NAMESPACE,
        &connector_info("before", ConnectorType::Slack).manifest(),
    );
    cluster.wait_ready(NAMESPACE, "before");
    cluster.eventually("every watch to be up", || all_up(&cluster.metrics()));

    let mut figures: Vec<(usize, Duration)> = Vec::new();
    for (round, restarts) in rounds().into_iter().enumerate() {
        let failures = failures(&cluster.metrics());
        let lowest = restart_watched(&mut cluster, restarts);
        let answered = Instant::now();
        let name = format!("after-{round}");
        cluster.apply(
            NAMESPACE,
            &connector_info(&name, ConnectorType::Zendesk).manifest(),
        );
        cluster.wait_ready_within(NAMESPACE, &name, 120);
        let took = answered.elapsed();
        eprintln!(
            "round {round}: {restarts} restart(s); a new object Ready {:.2}s after the API server answered",
            took.as_secs_f64()
        );
        figures.push((restarts, took));
        assert_watches_went_down_and_came_back(&cluster, &lowest, &failures);
    }
    print_figures(&figures);
    let slow: Vec<_> = figures.iter().filter(|(_, took)| *took > BOUND).collect();
    assert!(
        slow.is_empty(),
        "Ready later than {BOUND:?} after a restart: {slow:?}\noperator log:\n{}",
        cluster.operator_log()
    );
}

/// How many restarts in a row each round has.
fn rounds() -> Vec<usize> {
    std::env::var("APPFLOW_E2E_RESTART_ROUNDS")
        .unwrap_or_else(|_| "1,1,3".to_owned())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("APPFLOW_E2E_RESTART_ROUNDS: numbers")
        })
        .collect()
}

/// Restarts the API server `times` in a row (each time once it is ready again) while a thread
/// scrapes the operator's `/metrics` (its own server: it answers while the API server is
/// away), and returns the lowest `watch_up` seen per watch.
fn restart_watched(cluster: &mut Cluster, times: usize) -> BTreeMap<String, f64> {
    let port = cluster.metrics_port;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let scraper = scope.spawn(|| {
            let mut lowest: BTreeMap<String, f64> = BTreeMap::new();
            while !done.load(Ordering::Relaxed) {
                for (watch, up) in watch_up(&scrape(port)) {
                    let low = lowest.entry(watch).or_insert(up);
                    *low = low.min(up);
                }
                // The scrape interval of an observation, not a wait for a condition.
                std::thread::sleep(Duration::from_millis(100));
            }
            lowest
        });
        for _ in 0..times {
            cluster
                .control_plane
                .restart_apiserver()
                .expect("restart apiserver");
        }
        done.store(true, Ordering::Relaxed);
        scraper.join().expect("scraper")
    })
}

fn scrape(port: u16) -> String {
    ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

/// The samples of one family by their `watch` label.
fn by_watch(metrics: &str, family: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{watch=\"");
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (watch, value) = rest.split_once("\"} ")?;
            Some((watch.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

fn watch_up(metrics: &str) -> BTreeMap<String, f64> {
    by_watch(metrics, "appflow_connector_operator_watch_up")
}

fn failures(metrics: &str) -> BTreeMap<String, f64> {
    by_watch(metrics, "appflow_connector_operator_watch_failures_total")
}

fn all_up(metrics: &str) -> bool {
    let up = watch_up(metrics);
    WATCHES.iter().all(|w| up.get(*w) == Some(&1.0))
}

/// Every watch was seen down (`watch_up` 0) while the API server was away and counted a
/// failure, and all are up again.
fn assert_watches_went_down_and_came_back(
    cluster: &Cluster,
    lowest: &BTreeMap<String, f64>,
    failures_before: &BTreeMap<String, f64>,
) {
    cluster.eventually("every watch to be up again", || all_up(&cluster.metrics()));
    let failures_after = failures(&cluster.metrics());
    for watch in WATCHES {
        assert_eq!(
            lowest.get(watch),
            Some(&0.0),
            "watch {watch} was never seen down: {lowest:?}"
        );
        let counted = failures_after.get(watch).copied().unwrap_or(0.0)
            - failures_before.get(watch).copied().unwrap_or(0.0);
        assert!(counted >= 1.0, "watch {watch} counted no failure");
    }
    let log = cluster.operator_log();
    for watch in WATCHES {
        assert!(
            log.lines()
                .any(|l| l.contains("watch back after") && l.contains(watch)),
            "no \"watch back\" line for {watch}:\n{log}"
        );
    }
}

/// Each kind of round's figures, their p50 and max.
fn print_figures(figures: &[(usize, Duration)]) {
    let mut kinds: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (restarts, took) in figures {
        kinds.entry(*restarts).or_default().push(took.as_secs_f64());
    }
    for (restarts, mut seconds) in kinds {
        seconds.sort_by(f64::total_cmp);
        let p50 = seconds[(seconds.len() - 1) / 2];
        let max = seconds[seconds.len() - 1];
        let each: Vec<String> = seconds.iter().map(|s| format!("{s:.2}")).collect();
        eprintln!(
            "{restarts} restart(s) in a row, {} run(s): new object Ready after p50 {p50:.2}s, max {max:.2}s (each: {})",
            each.len(),
            each.join(", ")
        );
    }
}
