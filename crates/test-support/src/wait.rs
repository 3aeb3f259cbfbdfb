//! Waiting in tests: a readiness check polled until it holds, never a fixed sleep.

use std::time::{Duration, Instant};

/// Polls `check` every `poll` until it holds; after `timeout`, panics naming `what` with
/// `report()` (what the caller can tell about the state: a log, the pods).
pub fn eventually(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut check: impl FnMut() -> bool,
    report: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}\n{}", report());
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_check_holds() {
        let mut calls = 0;
        eventually(
            "the third call",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                calls += 1;
                calls == 3
            },
            String::new,
        );
        assert_eq!(calls, 3);
    }

    #[test]
    #[should_panic(expected = "timed out waiting for never\nthe state")]
    fn panics_with_the_report_after_the_timeout() {
        eventually(
            "never",
            Duration::from_millis(20),
            Duration::from_millis(5),
            || false,
            || "the state".to_owned(),
        );
    }
}
