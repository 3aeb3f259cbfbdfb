//! Per-object pacing of AWS calls: exponential backoff with jitter for failures (kube-runtime
//! has none per object), jitter for refreshes, and a minimum gap between two describes of the
//! same object, so no object can call AWS faster than that whatever its spec or annotations
//! say. Pure and saturating: the random unit is the caller's; the per-object state that uses
//! it is the runtime's (`conninfo_runtime::pacing::Pacing`).

use std::time::{Duration, Instant};

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
pub fn unit_interval(unit: f64) -> f64 {
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
    fn the_gap_remaining_is_what_is_left_of_it() {
        let start = Instant::now();
        assert_eq!(gap_remaining(None, start, GAP), None);
        assert_eq!(
            gap_remaining(Some(start), start + Duration::from_secs(3), GAP),
            Some(Duration::from_secs(7))
        );
        assert_eq!(gap_remaining(Some(start), start + GAP, GAP), None);
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
}
