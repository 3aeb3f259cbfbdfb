//! Per-object pacing of AWS calls, the state: each object's backoff attempts and the time of
//! its last describe, by UID. The arithmetic is core's ([`conninfo_core::pacing`]), given a
//! random unit drawn here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

use conninfo_core::pacing::{
    DEFAULT_MIN_GAP, MAX_WAIT, delay, gap_remaining, jittered, next_wait, unit_interval,
};
use conninfo_core::reason::Retry;

/// A describe slot taken by [`Pacing::claim_call`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Claim(Option<Instant>);

#[derive(Default)]
struct ObjectPace {
    attempts: u32,
    last_call: Option<Instant>,
}

/// Attempts since the last success and the time of the last describe, per object UID.
pub struct Pacing {
    min_gap: Duration,
    objects: Mutex<HashMap<String, ObjectPace>>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self::new(DEFAULT_MIN_GAP)
    }
}

impl Pacing {
    pub fn new(min_gap: Duration) -> Self {
        Self {
            min_gap,
            objects: Mutex::default(),
        }
    }

    pub fn min_gap(&self) -> Duration {
        self.min_gap
    }

    fn with<T>(&self, uid: &str, f: impl FnOnce(&mut ObjectPace) -> T) -> T {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        f(objects.entry(uid.to_owned()).or_default())
    }

    /// Claims a describe for this object now, or says how long it must wait for the gap.
    /// The claim holds the time of the call it replaced, for [`Pacing::unclaim`].
    pub fn claim_call(&self, uid: &str, now: Instant) -> Result<Claim, Duration> {
        self.with(uid, |pace| {
            match gap_remaining(pace.last_call, now, self.min_gap) {
                Some(wait) => Err(wait),
                None => Ok(Claim(pace.last_call.replace(now))),
            }
        })
    }

    /// Gives a claim back when no describe happened after all (the rate limit had no token),
    /// so the object may try again as soon as there is one.
    pub fn unclaim(&self, uid: &str, claim: Claim) {
        self.with(uid, |pace| pace.last_call = claim.0);
    }

    /// When to retry an object that waits for a rate-limit token: just after it is due, spread
    /// over a tenth of the wait so the objects waiting on one key do not all come at once.
    pub fn token_retry(&self, wait: Duration) -> Duration {
        let spread = (wait / 10).mul_f64(unit_interval(rand::rng().random()));
        wait.saturating_add(spread).min(MAX_WAIT)
    }

    /// The next backoff delay for this object, counting the attempt.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        let attempt = self.with(uid, |pace| {
            let attempt = pace.attempts;
            pace.attempts = attempt.saturating_add(1);
            attempt
        });
        delay(attempt, rand::rng().random()).max(self.min_gap)
    }

    /// When to reconcile next after an outcome (see [`next_wait`]), counting a backoff
    /// attempt or resetting the count.
    pub fn schedule(&self, uid: &str, retry: Retry, refresh: Duration) -> Option<Duration> {
        let attempt = self.with(uid, |pace| {
            let attempt = pace.attempts;
            pace.attempts = match retry {
                Retry::Backoff => attempt.saturating_add(1),
                _ => 0,
            };
            attempt
        });
        next_wait(retry, refresh, attempt, rand::rng().random(), self.min_gap)
    }

    /// The requeue for an object that is due in `due`: jittered like a refresh, never closer
    /// than the gap.
    pub fn due_in(&self, due: Duration) -> Duration {
        jittered(due, rand::rng().random()).clamp(self.min_gap.min(MAX_WAIT), MAX_WAIT)
    }

    /// Drops everything known about a deleted object.
    pub fn forget(&self, uid: &str) {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }

    /// Objects with a pace kept (for the count of per-object state).
    pub fn len(&self) -> usize {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn attempts(&self, uid: &str) -> u32 {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .map_or(0, |pace| pace.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const GAP: Duration = Duration::from_secs(10);

    #[test]
    fn gap_defers_a_second_call() {
        let pacing = Pacing::new(GAP);
        let start = Instant::now();
        assert_eq!(pacing.claim_call("a", start), Ok(Claim(None)));
        assert_eq!(
            pacing.claim_call("a", start + Duration::from_secs(3)),
            Err(Duration::from_secs(7))
        );
        assert!(pacing.claim_call("b", start).is_ok(), "per object");
        let claim = pacing.claim_call("a", start + GAP).unwrap();
        assert_eq!(claim, Claim(Some(start)));
        // No call happened after all: the object may try again at once.
        pacing.unclaim("a", claim);
        assert!(pacing.claim_call("a", start + GAP).is_ok());
    }

    #[test]
    fn counts_backoff_per_object_and_resets_on_success() {
        let pacing = Pacing::new(Duration::ZERO);
        assert!(pacing.schedule("a", Retry::Backoff, HOUR).unwrap() <= Duration::from_secs(2));
        pacing.schedule("a", Retry::Backoff, HOUR);
        let third = pacing.schedule("a", Retry::Backoff, HOUR).unwrap();
        assert!(
            third >= Duration::from_secs(4) && third <= Duration::from_secs(8),
            "{third:?}"
        );
        assert_eq!(pacing.attempts("a"), 3);
        assert_eq!(pacing.attempts("b"), 0);
        pacing.schedule("a", Retry::AfterRefresh, HOUR);
        assert_eq!(pacing.attempts("a"), 0);
        pacing.forget("a");
        pacing.forget("b");
        assert_eq!(pacing.len(), 0);
    }
}
