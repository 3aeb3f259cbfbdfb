//! The error budget of a connector key: how long a key that keeps failing for a reason retrying
//! cannot fix (AccessDenied, ConnectorNotFound, a rejected request) shares its failure before
//! AWS is asked again, whatever the number of objects naming it (docs/design.md, "Reasons and
//! the retry table").
//!
//! Each object has its own backoff ([`crate::pacing`]), but twenty objects naming one broken
//! connector would each spend it: the key backs off as one instead. Its failure is shared for
//! [`FIRST_HOLD`], doubled with each consecutive failure of the key, and for [`MAX_HOLD`] once
//! the streak is [`RAMP`] old, so after its first hour a key costs at most
//! `24h / MAX_HOLD` = 24 calls a day ([`MAX_CALLS_PER_DAY_AFTER_RAMP`]). A success ends the
//! streak. Throttling and server errors are not budgeted here: they say nothing about the key.

use std::time::{Duration, Instant};

use crate::backoff::Doubling;
use crate::reason::Reason;

/// How long the first failure of a key is shared: what every failure was shared for before
/// keys had a budget.
pub const FIRST_HOLD: Duration = Duration::from_secs(5);

/// The longest a key's failure is shared.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);

/// A streak this old holds its failures for [`MAX_HOLD`] whatever its length, so the day bound
/// does not depend on how often objects happened to ask during the first hour.
pub const RAMP: Duration = Duration::from_secs(3600);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The bound the schedule keeps: AWS calls in any day that starts after the streak's first
/// hour.
pub const MAX_CALLS_PER_DAY_AFTER_RAMP: u64 = DAY.as_secs() / MAX_HOLD.as_secs();

/// Pure: whether failing with `reason` spends the key's budget: the failures that say the key
/// itself is wrong (the same call will fail again until someone changes something).
pub fn is_budgeted(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::AccessDenied | Reason::ConnectorNotFound | Reason::InvalidRequest
    )
}

/// Pure: how long the failure of the key's `failures`-th consecutive call (1-based) is
/// shared, when that call started `since_first` after the streak's first one:
/// [`FIRST_HOLD`] doubled per failure, capped at [`MAX_HOLD`], and [`MAX_HOLD`] past the
/// [`RAMP`]. Saturating for any input.
pub fn hold(failures: u32, since_first: Duration) -> Duration {
    if since_first >= RAMP {
        return MAX_HOLD;
    }
    Doubling {
        first: FIRST_HOLD,
        cap: MAX_HOLD,
    }
    .at(failures.saturating_sub(1))
}

/// A key's run of consecutive budgeted failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streak {
    /// Consecutive budgeted failures, at least 1.
    pub failures: u32,
    /// How long the streak had run when its last failing call started (zero for the first).
    pub age: Duration,
    /// When its last failing call started.
    pub last: Instant,
}

impl Streak {
    /// The streak after a budgeted failure of a call started at `started` (`None`: the key had
    /// none).
    pub fn failed(streak: Option<Streak>, started: Instant) -> Streak {
        match streak {
            Some(s) => Streak {
                failures: s.failures.saturating_add(1),
                age: s.age + started.saturating_duration_since(s.last),
                last: started.max(s.last),
            },
            None => Streak {
                failures: 1,
                age: Duration::ZERO,
                last: started,
            },
        }
    }

    /// How long the last failure is shared.
    pub fn hold(&self) -> Duration {
        hold(self.failures, self.age)
    }

    /// Until when the last failure is shared: no object's routine retry calls AWS before then.
    pub fn until(&self) -> Instant {
        self.last + self.hold()
    }

    /// Whether the key is backing off at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        now < self.until()
    }
}

/// Pure: the streak of a key that has failed for `failing_for` without a break, as an
/// object's status tells a process that has not called the key yet (a restart, an upgrade's
/// new pod), taken to its next call: the calls an unbroken streak makes ([`hold`] after each,
/// the first at zero) up to `failing_for`, with `last` the instant its next one is due (`now`
/// or later). Until then the key waits; a budgeted failure of that call continues the streak.
/// So a restart does not start a key's budget again, and the day bound holds across it.
pub fn resume(failing_for: Duration, now: Instant) -> Streak {
    let (mut failures, mut at) = (1u32, Duration::ZERO);
    loop {
        if at >= RAMP {
            // Past the ramp every hold is MAX_HOLD: skip whole periods at once.
            let periods = failing_for.saturating_sub(at).as_secs() / MAX_HOLD.as_secs();
            at += Duration::from_secs(periods.saturating_mul(MAX_HOLD.as_secs()));
            failures = failures.saturating_add(u32::try_from(periods).unwrap_or(u32::MAX));
        }
        let next = at + hold(failures, at);
        if next >= failing_for {
            return Streak {
                failures,
                age: next,
                last: now + (next - failing_for),
            };
        }
        (failures, at) = (failures.saturating_add(1), next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_from_the_first_hold_and_caps_at_an_hour() {
        assert_eq!(hold(1, Duration::ZERO), FIRST_HOLD);
        assert_eq!(hold(0, Duration::ZERO), FIRST_HOLD, "saturates below 1");
        assert_eq!(hold(2, 5 * SECOND), 10 * SECOND);
        assert_eq!(hold(10, 2555 * SECOND), 2560 * SECOND);
        assert_eq!(hold(11, 3599 * SECOND), MAX_HOLD);
        assert_eq!(hold(u32::MAX, Duration::ZERO), MAX_HOLD);
        // Past the first hour a short streak (objects asked rarely) holds for the cap too.
        assert_eq!(hold(2, RAMP), MAX_HOLD);
        assert_eq!(MAX_CALLS_PER_DAY_AFTER_RAMP, 24);
    }

    #[test]
    fn a_streak_counts_consecutive_failures_from_its_first() {
        let t0 = Instant::now();
        let first = Streak::failed(None, t0);
        assert_eq!(first.hold(), FIRST_HOLD);
        assert!(first.holds_at(t0 + 4 * SECOND) && !first.holds_at(t0 + FIRST_HOLD));
        let second = Streak::failed(Some(first), t0 + 6 * SECOND);
        assert_eq!((second.failures, second.age), (2, 6 * SECOND));
        assert_eq!(second.until(), t0 + 16 * SECOND);
    }

    /// Calls a failing key makes in `span` when `objects` objects each ask on their own
    /// per-object backoff (the slowest jitter draw, which asks most often) and an ask inside
    /// the key's hold takes the shared failure. Returns the start of every call.
    fn simulate(objects: u32, span: Duration) -> Vec<Duration> {
        let mut next_ask: Vec<Duration> = (0..objects).map(|i| i * SECOND / 10).collect();
        let mut attempts = vec![0u32; objects as usize];
        let (t0, mut streak, mut calls) = (Instant::now(), None::<Streak>, Vec::new());
        loop {
            let (object, at) = next_ask
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, at)| *at)
                .expect("objects");
            if at >= span {
                return calls;
            }
            if !streak.is_some_and(|s| s.holds_at(t0 + at)) {
                streak = Some(Streak::failed(streak, t0 + at));
                calls.push(at);
            }
            let wait = pacing::delay(attempts[object], 0.0).max(pacing::DEFAULT_MIN_GAP);
            attempts[object] += 1;
            next_ask[object] = at + wait;
        }
    }

    /// The most calls in any day starting after the first hour.
    fn most_in_a_day_after_the_ramp(calls: &[Duration]) -> usize {
        calls
            .iter()
            .filter(|start| **start >= RAMP)
            .map(|start| {
                calls
                    .iter()
                    .filter(|c| **c >= *start && **c < *start + DAY)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_day_of_a_broken_key_costs_the_same_for_1_and_20_objects() {
        for objects in [1, 20] {
            let calls = simulate(objects, 2 * DAY);
            let first_day = calls.iter().filter(|c| **c < DAY).count();
            let first_hour = calls.iter().filter(|c| **c < RAMP).count();
            assert!(
                first_hour <= 10,
                "{objects} objects: {first_hour} in the first hour"
            );
            assert!(
                first_day <= 10 + 23,
                "{objects} objects: {first_day} on day one"
            );
            let worst = most_in_a_day_after_the_ramp(&calls);
            assert!(
                worst as u64 <= MAX_CALLS_PER_DAY_AFTER_RAMP,
                "{objects} objects: {worst} calls in a day after the first hour"
            );
            // Each object alone would retry every 5 minutes: 288 calls a day each.
            assert!(first_day < 288, "{objects} objects: {first_day}");
        }
    }

    #[test]
    fn a_resumed_streak_waits_for_the_schedules_next_call() {
        let now = Instant::now();
        // Calls of an unbroken streak: 0, 5, 15, 35, 75, 155 s ...
        let at = |failing_for: u32| resume(failing_for * SECOND, now);
        assert_eq!(
            at(0),
            Streak {
                failures: 1,
                age: 5 * SECOND,
                last: now + 5 * SECOND
            }
        );
        assert_eq!(
            at(3),
            Streak {
                failures: 1,
                age: 5 * SECOND,
                last: now + 2 * SECOND
            }
        );
        assert_eq!(at(15).last, now, "a call falls due exactly now");
        assert_eq!(
            (at(40).failures, at(40).age, at(40).last),
            (4, 75 * SECOND, now + 35 * SECOND)
        );
        // Its next failure holds as the unbroken streak's would.
        let next = Streak::failed(Some(at(40)), now + 35 * SECOND);
        assert_eq!((next.failures, next.hold()), (5, 80 * SECOND));
    }

    #[test]
    fn a_streak_past_the_ramp_resumes_on_the_hourly_beat() {
        let now = Instant::now();
        for failing_for in [RAMP, 3 * DAY + 17 * SECOND, 400 * DAY] {
            let resumed = resume(failing_for, now);
            let wait = resumed.last - now;
            assert!(wait <= MAX_HOLD, "{failing_for:?}: waits {wait:?}");
            assert_eq!(resumed.age, failing_for + wait);
            assert_eq!(Streak::failed(Some(resumed), resumed.last).hold(), MAX_HOLD);
        }
        // Saturating for any input.
        let _ = resume(Duration::MAX / 2, now);
    }

    #[test]
    fn a_restarted_process_keeps_the_day_bound() {
        // One object, the process restarted every 10 minutes for a day: each new process
        // resumes from the status (failing since 0) instead of calling at once.
        let t0 = Instant::now();
        let mut calls = 0;
        for restart in 0..(DAY.as_secs() / 600) {
            let started = Duration::from_secs(restart * 600);
            let resumed = resume(started, t0 + started);
            let (mut streak, mut due) = (resumed, resumed.last);
            while due < t0 + started + Duration::from_secs(600) {
                calls += 1;
                streak = Streak::failed(Some(streak), due);
                due = streak.until();
            }
        }
        assert!(calls <= 10 + 23, "{calls} calls in a day of restarts");
    }

    #[test]
    fn only_failures_of_the_key_itself_are_budgeted() {
        assert!(is_budgeted(Reason::AccessDenied));
        assert!(is_budgeted(Reason::ConnectorNotFound));
        assert!(is_budgeted(Reason::InvalidRequest));
        for transient in [
            Reason::Throttled,
            Reason::ServiceError,
            Reason::ServiceUnreachable,
            Reason::CredentialsUnavailable,
            Reason::InvalidResponse,
            Reason::Described,
        ] {
            assert!(!is_budgeted(transient), "{transient}");
        }
    }
}
