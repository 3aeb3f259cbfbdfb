//! The operator's first sync of the whole fleet, then a quiet window.

use std::time::{Duration, Instant};

use crate::Error;
use crate::phases::poll_until;
use crate::procs::{Emulator, Operator, READY_SERIES, WRITTEN_SERIES};

pub struct FirstSync {
    pub seconds_to_all_ready: f64,
    pub describe_calls: u64,
    pub status_writes: f64,
}

/// Waits until `n` objects are Ready (from `started`, the operator's start).
pub async fn run(
    operator: &Operator,
    emulator: &Emulator,
    n: usize,
    started: Instant,
) -> Result<FirstSync, Error> {
    poll_until(Duration::from_secs(1800), "not all Ready", || {
        Ok(operator.scrape()?.value(READY_SERIES) as usize >= n)
    })
    .await?;
    let seconds_to_all_ready = started.elapsed().as_secs_f64();
    Ok(FirstSync {
        seconds_to_all_ready,
        describe_calls: emulator.stats()?["total"].as_u64().unwrap_or(0),
        status_writes: operator.scrape()?.value(WRITTEN_SERIES),
    })
}

pub struct Steady {
    pub seconds: u64,
    pub status_writes: u64,
    pub describe_calls: u64,
}

/// Nothing changes for `window`: what the operator writes and calls meanwhile.
pub async fn steady(
    operator: &Operator,
    emulator: &Emulator,
    first: &FirstSync,
    window: Duration,
) -> Result<Steady, Error> {
    tokio::time::sleep(window).await; // the observation window itself, not a readiness wait
    let writes = operator.scrape()?.value(WRITTEN_SERIES) - first.status_writes;
    let calls = emulator.stats()?["total"].as_u64().unwrap_or(0);
    Ok(Steady {
        seconds: window.as_secs(),
        status_writes: writes as u64,
        describe_calls: calls.saturating_sub(first.describe_calls),
    })
}
