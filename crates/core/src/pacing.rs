//! Per-object pacing of AWS calls: exponential backoff with jitter for failures (kube-runtime
//! has none per object), jitter for refreshes, and a minimum gap between two describes of the
//! same object, so no object can call AWS faster than that whatever its spec or annotations
//! say. The arithmetic is pure and saturating; the state is keyed by object UID.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::backoff::Doubling;
use crate::interval;
use crate::reason::Retry;

pub const BASE: Duration = Duration::from_secs(2);
pub const CAP: Duration = Duration::from_secs(300);

/// The default minimum gap between two describes of one object.
pub const DEFAULT_MIN_GAP: Duration = Duration::from_secs(10);

/// No requeue is ever scheduled further out than this: the longest refresh plus its jitter.
pub const MAX_WAIT: Duration = Duration::from_secs(interval::MAX.as_secs() / 10 * 11);

/// Pure: the delay before retry number `attempt` (0-based), given a random `unit` in [0, 1):
/// "equal jitter" between half and all of `BASE * 2^attempt`, capped at `CAP`.
pub fn delay(attempt: u32, unit: f64) -> Duration {
    let ceiling = Doubling {
        first: BASE,
        cap: CAP,
    }
    .at(attempt);
    ceiling.mul_f64(0.5 + 0.5 * unit_interval(unit))
}

/// Pure: `interval` spread by ±10%, given a random `unit` in [0, 1). Saturating for any input.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let tenth = interval / 10;
    interval
        .saturating_sub(tenth)
        .saturating_add((tenth * 2).mul_f64(unit_interval(unit)))
}

/// A NaN or out-of-range random unit must not make `mul_f64` panic.
fn unit_interval(unit: f64) -> f64 {
    if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    }
}

/// Pure: when to reconcile an object next after an outcome with this retry class, or `None`
/// to wait for a change. Always within [`min_gap`, `MAX_WAIT`].
pub fn next_wait(
    retry: Retry,
    refresh: Duration,
    attempt: u32,
    unit: f64,
    min_gap: Duration,
) -> Option<Duration> {
    let wait = match retry {
        Retry::Backoff => Some(delay(attempt, unit)),
        retry => retry
            .scheduled(interval::clamp(refresh).interval)
            .map(|wait| jittered(wait, unit)),
    };
    wait.map(|wait| wait.clamp(min_gap.min(MAX_WAIT), MAX_WAIT))
}

/// Pure: how long an object must still wait before its next describe, if at all.
pub fn gap_remaining(
    last_call: Option<Instant>,
    now: Instant,
    min_gap: Duration,
) -> Option<Duration> {
    let since = now.saturating_duration_since(last_call?);
    (since < min_gap).then(|| min_gap - since)
}

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

    /// Objects with pacing state (for tests: deleted objects leave none).
    pub fn tracked(&self) -> usize {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const GAP: Duration = Duration::from_secs(10);

    #[test]
    fn doubles_within_jitter_and_caps() {
        assert_eq!(delay(0, 0.0), Duration::from_secs(1));
        assert_eq!(delay(0, 1.0), Duration::from_secs(2));
        assert_eq!(delay(3, 1.0), Duration::from_secs(16));
        assert_eq!(delay(3, 0.0), Duration::from_secs(8));
        assert_eq!(delay(20, 1.0), CAP);
        assert_eq!(delay(u32::MAX, 0.0), CAP / 2);
        assert_eq!(delay(1, f64::NAN), Duration::from_secs(2));
    }

    #[test]
    fn refresh_jitter_is_ten_percent_and_saturates() {
        assert_eq!(jittered(HOUR, 0.0), Duration::from_secs(3240));
        assert_eq!(jittered(HOUR, 1.0), Duration::from_secs(3960));
        assert!(jittered(Duration::MAX, 1.0) <= Duration::MAX);
        assert_eq!(jittered(HOUR, f64::INFINITY), Duration::from_secs(3960));
    }

    #[test]
    fn next_wait_stays_within_gap_and_max() {
        // A failing object backs off, but never closer than the gap.
        assert_eq!(next_wait(Retry::Backoff, HOUR, 0, 0.0, GAP), Some(GAP));
        assert_eq!(next_wait(Retry::Backoff, HOUR, 30, 1.0, GAP), Some(CAP));
        assert_eq!(next_wait(Retry::OnChange, HOUR, 0, 0.5, GAP), None);
        assert_eq!(
            next_wait(Retry::AfterRefresh, Duration::ZERO, 0, 0.5, GAP),
            None
        );
        // Out-of-bounds intervals are clamped before they are scheduled.
        let tiny = next_wait(Retry::AfterRefresh, Duration::from_millis(1), 0, 0.0, GAP);
        assert_eq!(tiny, Some(jittered(interval::MIN, 0.0)));
        let huge = next_wait(Retry::AfterRefresh, Duration::MAX, 0, 1.0, GAP);
        assert_eq!(huge, Some(MAX_WAIT));
    }

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
        assert_eq!(gap_remaining(None, start, GAP), None);
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
        assert_eq!(pacing.tracked(), 0);
    }
}
