//! Per-object exponential backoff with jitter (kube-runtime has none per object), and the
//! jitter applied to refresh intervals.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

pub const BASE: Duration = Duration::from_secs(2);
pub const CAP: Duration = Duration::from_secs(300);

/// Pure: the delay before retry number `attempt` (0-based), given a random `unit` in [0, 1):
/// "equal jitter" between half and all of `BASE * 2^attempt`, capped at `CAP`.
pub fn delay(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(CAP);
    ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// Pure: `interval` spread by ±10%, given a random `unit` in [0, 1).
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
}

/// Attempts so far per object UID; reset on success.
#[derive(Default)]
pub struct Backoff {
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The next delay for this object, counting the attempt.
    pub fn next(&self, uid: &str) -> Duration {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let attempt = attempts.entry(uid.to_owned()).or_insert(0);
        let wait = delay(*attempt, rand::rng().random());
        *attempt = attempt.saturating_add(1);
        wait
    }

    pub fn reset(&self, uid: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    pub fn attempts(&self, uid: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_and_caps() {
        assert_eq!(delay(0, 0.0), Duration::from_secs(1));
        assert_eq!(delay(0, 1.0), Duration::from_secs(2));
        assert_eq!(delay(3, 1.0), Duration::from_secs(16));
        assert_eq!(delay(3, 0.0), Duration::from_secs(8));
        assert_eq!(delay(20, 1.0), CAP);
        assert_eq!(delay(u32::MAX, 0.0), CAP / 2);
    }

    #[test]
    fn counts_per_object_and_resets() {
        let backoff = Backoff::default();
        let first = backoff.next("a");
        assert!(first <= Duration::from_secs(2));
        backoff.next("a");
        let third = backoff.next("a");
        assert!(
            third >= Duration::from_secs(4) && third <= Duration::from_secs(8),
            "{third:?}"
        );
        assert_eq!(backoff.attempts("a"), 3);
        assert_eq!(backoff.attempts("b"), 0);
        backoff.reset("a");
        assert_eq!(backoff.attempts("a"), 0);
    }

    #[test]
    fn refresh_jitter_is_ten_percent() {
        let hour = Duration::from_secs(3600);
        assert_eq!(jittered(hour, 0.0), Duration::from_secs(3240));
        assert_eq!(jittered(hour, 1.0), Duration::from_secs(3960));
    }
}
