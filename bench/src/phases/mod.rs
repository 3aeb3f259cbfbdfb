//! The measured phases of a run, in order: first sync, steady window, forced refresh with
//! probes, API-server restart; and the separate error-budget run (`appflow-bench budget`).

pub mod budget;
pub mod first_sync;
pub mod forced;
pub mod relist;

use std::time::{Duration, Instant};

use crate::Error;

/// Polls `done` every 250 ms until it holds, or fails after `limit` with `what`.
pub async fn poll_until(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let started = Instant::now();
    while !done()? {
        if started.elapsed() > limit {
            return Err(format!("{what} within {} s", limit.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await; // poll interval of a readiness check
    }
    Ok(())
}
