//! `appflow-bench budget` (`make bench-budget`): objects on keys that answer AccessDenied to
//! every call, 1 object on one key and 20 on another, for `BUDGET_MINUTES` (default 10). Prints
//! the calls each key cost, per hour over the window, and the schedule's bounds
//! (crates/core/src/budget.rs): the most calls its holds allow in the same window, and the day
//! bound after the first hour, which a window of minutes cannot measure.

use std::time::{Duration, Instant};

use conninfo_core::budget;
use conninfo_test_support::controlplane::ControlPlane;
use serde::Serialize;
use serde_json::json;

use crate::Error;
use crate::fleet::{client, connector_info, create_namespace, install_crd};
use crate::procs::{Emulator, Operator, calls_to, repo};
use crate::{config, report};

const NAMESPACE: &str = "bench-budget";
const FIRST_HOUR: Duration = Duration::from_secs(3600);
/// (custom connector label, objects naming it).
const KEYS: &[(&str, usize)] = &[("denied-1", 1), ("denied-20", 20)];

#[derive(Serialize)]
pub struct KeyBudget {
    pub key: String,
    pub objects: usize,
    pub window_minutes: u64,
    pub calls: u64,
    pub calls_per_hour: f64,
    pub schedule_max_calls_in_window: u64,
    /// Calls after the key's first hour of failing (windows over an hour only).
    pub calls_after_first_hour: Option<u64>,
    /// The most calls the schedule allows in that part of the window.
    pub schedule_max_calls_after_first_hour: Option<u64>,
    pub schedule_max_calls_per_day_after_first_hour: u64,
}

pub async fn run() -> Result<(), Error> {
    let minutes = config::budget_minutes();
    let cluster = ControlPlane::start()?;
    let client = client(cluster.kubeconfig()).await?;
    install_crd(&client).await?;
    let labels: Vec<&str> = KEYS.iter().map(|(label, _)| *label).collect();
    let emulator = Emulator::start(cluster.work_dir(), false, &labels)?;
    for label in &labels {
        emulator.deny(&format!("CustomConnector/{label}"))?;
    }
    create_namespace(&client, NAMESPACE).await?;
    let _operator = Operator::start(cluster.kubeconfig(), &emulator.url)?;
    let started = Instant::now();
    create_denied_objects(&client).await?;
    let mut at_first_hour = None;
    for minute in 1..=minutes {
        tokio::time::sleep_until((started + Duration::from_secs(60 * minute)).into()).await; // the window itself
        let stats = emulator.stats()?;
        let calls: Vec<String> = labels
            .iter()
            .map(|l| format!("{l}: {}", calls_to(&stats, &format!("CustomConnector/{l}"))))
            .collect();
        eprintln!("bench-budget: minute {minute}: {}", calls.join(", "));
        if minute == 60 {
            at_first_hour = Some(stats);
        }
    }
    let stats = emulator.stats()?;
    let window = Duration::from_secs(60 * minutes);
    let results: Vec<KeyBudget> = KEYS
        .iter()
        .map(|(label, objects)| {
            let key = format!("CustomConnector/{label}");
            let calls = calls_to(&stats, &key);
            let after_first_hour = at_first_hour
                .as_ref()
                .map(|hour| calls - calls_to(hour, &key));
            KeyBudget {
                key: format!("CustomConnector/{label}"),
                objects: *objects,
                window_minutes: minutes,
                calls,
                calls_per_hour: calls as f64 * 60.0 / minutes as f64,
                schedule_max_calls_in_window: schedule_calls(window),
                calls_after_first_hour: after_first_hour,
                schedule_max_calls_after_first_hour: after_first_hour
                    .map(|_| schedule_calls(window) - schedule_calls(FIRST_HOUR)),
                schedule_max_calls_per_day_after_first_hour: budget::MAX_CALLS_PER_DAY_AFTER_RAMP,
            }
        })
        .collect();
    write(&results)
}

async fn create_denied_objects(client: &kube::Client) -> Result<(), Error> {
    let api = kube::Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &crate::fleet::conninfo_resource(),
    );
    for (label, objects) in KEYS {
        for i in 0..*objects {
            let spec = json!({"connectorType": "CustomConnector", "connectorLabel": label});
            let object = connector_info(&format!("{label}-{i}"), spec)?;
            api.create(&Default::default(), &object).await?;
        }
    }
    Ok(())
}

fn write(results: &[KeyBudget]) -> Result<(), Error> {
    let out = repo().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("budget.json"),
        serde_json::to_string_pretty(results)?,
    )?;
    let table = report::budget_markdown(results);
    std::fs::write(out.join("budget.md"), &table)?;
    println!("{table}");
    println!("written: target/bench/budget.json, budget.md");
    Ok(())
}

/// The most calls a failing key's schedule allows in `window` from its first failure: one at
/// the start, then one as each hold ends (some object always asking).
pub fn schedule_calls(window: Duration) -> u64 {
    let (mut at, mut calls) = (Duration::ZERO, 0u32);
    while at < window {
        calls += 1;
        at += budget::hold(calls, at);
    }
    u64::from(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_ramps_from_five_seconds_doubling() {
        // Calls at 0, 5, 15, 35, 75, 155, 315 s; the next at 635.
        assert_eq!(schedule_calls(Duration::from_secs(600)), 7);
        assert_eq!(schedule_calls(Duration::from_secs(636)), 8);
        // … 1275, 2555; then 5115 s (past the first hour) and every hour after: 24 a day.
        assert_eq!(schedule_calls(Duration::from_secs(3600)), 10);
        assert_eq!(
            schedule_calls(Duration::from_secs(3600 + 24 * 3600)),
            10 + 24
        );
    }
}
