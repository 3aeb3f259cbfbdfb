//! The circuit of an AWS account: when AppFlow throttles an account or fails on its side,
//! every call of that account waits, whatever its key (docs/design.md, "Reasons and the retry
//! table").
//!
//! Throttling and server errors say nothing about a connector key (so they do not spend a
//! key's error budget, [`crate::budget`]) but everything about the account: its quota is
//! shared by all its keys and by everything else in it. The rate limiter already slows down
//! (AIMD); the circuit stops the account's calls altogether for a while, [`FIRST_OPEN`] after
//! the first such failure, doubled per consecutive one up to [`MAX_OPEN`]. Nothing is
//! dropped meanwhile: objects that need a call come back when the circuit lets the next one
//! through, and a success closes it.

use std::time::{Duration, Instant};

use crate::backoff::Doubling;
use crate::reason::Reason;

/// How long the first failure keeps the account's calls waiting.
pub const FIRST_OPEN: Duration = Duration::from_secs(1);

/// The longest the circuit stays open.
pub const MAX_OPEN: Duration = Duration::from_secs(300);

/// Pure: whether failing with `reason` opens the account's circuit.
pub fn opens(reason: Reason) -> bool {
    matches!(reason, Reason::Throttled | Reason::ServiceError)
}

/// An account's run of consecutive throttled or failed calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
}

impl Circuit {
    /// Records the outcome of a call that ended at `now`; returns until when the circuit is
    /// open (`None`: closed).
    pub fn record(&mut self, reason: Option<Reason>, now: Instant) -> Option<Instant> {
        match reason {
            Some(reason) if opens(reason) => {
                self.failures = self.failures.saturating_add(1);
                let open = Doubling {
                    first: FIRST_OPEN,
                    cap: MAX_OPEN,
                };
                self.open_until = Some(now + open.at(self.failures - 1));
            }
            // A success, or a failure of the key (not of the account), closes it.
            _ => *self = Circuit::default(),
        }
        self.open_until
    }

    /// Until when no call of the account may start, if that is after `now`.
    pub fn open_at(&self, now: Instant) -> Option<Instant> {
        self.open_until.filter(|until| now < *until)
    }

    /// Consecutive failures that opened it.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn opens_on_throttling_and_server_errors_doubling_to_the_cap() {
        let t0 = Instant::now();
        let mut circuit = Circuit::default();
        assert_eq!(circuit.open_at(t0), None);
        assert_eq!(
            circuit.record(Some(Reason::Throttled), t0),
            Some(t0 + SECOND)
        );
        assert_eq!(circuit.open_at(t0 + SECOND / 2), Some(t0 + SECOND));
        assert_eq!(circuit.open_at(t0 + SECOND), None, "the next call may go");
        assert_eq!(
            circuit.record(Some(Reason::ServiceError), t0 + SECOND),
            Some(t0 + 3 * SECOND)
        );
        for _ in 0..40 {
            circuit.record(Some(Reason::Throttled), t0);
        }
        assert_eq!(circuit.open_at(t0), Some(t0 + MAX_OPEN));
        assert_eq!(circuit.failures(), 42);
    }

    #[test]
    fn a_success_or_a_keys_own_failure_closes_it() {
        let t0 = Instant::now();
        for outcome in [
            None,
            Some(Reason::AccessDenied),
            Some(Reason::ConnectorNotFound),
        ] {
            let mut circuit = Circuit::default();
            circuit.record(Some(Reason::Throttled), t0);
            assert_eq!(circuit.record(outcome, t0), None);
            assert_eq!((circuit.open_at(t0), circuit.failures()), (None, 0));
        }
        assert!(
            !opens(Reason::ServiceUnreachable),
            "the network is not the account"
        );
    }
}
