//! One DescribeConnector per connector, not per object: a describe cache with single-flight
//! between the controller and AWS, keyed by everything that determines the answer.
//!
//! - Concurrent requests for a key share one in-flight call.
//! - A successful answer is reused while it is younger than the asking object's own refresh
//!   interval.
//! - A refresh request (the annotation) is answered only by a DescribeConnector that started
//!   at or after the request, finished or still in flight. A key's calls made for refresh
//!   requests start at least the forced-refresh interval apart: a request that no call
//!   answers yet, and that only its own request makes need a call, waits for the key's next
//!   one, which answers every request made before it started. A fleet annotated with one value costs one call per key; a fleet
//!   annotated over two minutes at most one call per interval, plus one.
//! - Failures are shared for [`FAILURE_TTL`], so a thousand objects on one throttled key do
//!   not each retry. A key that keeps failing for a reason of its own (AccessDenied, not
//!   found, a rejected request) backs off as one ([`conninfo_core::budget`]): its failure is
//!   shared until the key's hold ends, except with an object that changed since it was last
//!   answered (a new generation, another binding), which may ask again at once.
//! - An entry is dropped when the last object using its key is deleted or moves to another.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::ratelimit::RateLimiter;
use conninfo_core::budget::{self, Streak};
use conninfo_core::lanes::{Bounds, Lane};
use conninfo_core::outcome::Outcome;

/// How long a failed answer is shared before the next object asks AWS again (a key's
/// budgeted failures are shared longer: [`conninfo_core::budget`]).
pub const FAILURE_TTL: Duration = budget::FIRST_HOLD;

/// `--forced-refresh-interval`'s default: the least time between two forced calls of a key.
pub const DEFAULT_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// What determines DescribeConnector's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The AWS identity that asks: the operator's own, or the role an AppFlowAccount binding
    /// assumes (docs/multi-account.md).
    pub identity: String,
    pub region: String,
    pub connector_type: String,
    pub label: Option<String>,
}

/// How a request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A cached answer, young enough for the asking object.
    Hit,
    /// An in-flight call another object started.
    Joined,
    /// A new call to AWS.
    Called,
}

/// What the asking object needs of an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Need {
    /// How old a successful answer may be (from the object's refresh interval).
    pub max_age: Duration,
    /// When the object's pending refresh request was made (a forced refresh): only a call
    /// started at or after it answers.
    pub refresh_requested: Option<Instant>,
    /// The object changed since it was last answered (a new generation, another binding):
    /// its key's budget hold does not keep it from asking.
    pub changed: bool,
    /// What asked for the object's reconciliation: ranks its key in the token queue.
    pub lane: Lane,
    /// How long the object's status says its key has failed for a reason that spends the
    /// key's budget, when this process has no answer for the key yet (a restart, an upgrade's
    /// new pod): the key resumes that streak ([`budget::resume`]) instead of calling at once.
    pub failing_for: Option<Duration>,
}

impl Need {
    /// The budget streak this object's status carries into a key new to this process: not
    /// for a changed object or a refresh request, which the budget never holds.
    fn carried_failure(&self) -> Option<Duration> {
        (!self.changed && self.refresh_requested.is_none())
            .then_some(self.failing_for)
            .flatten()
    }
}

/// The entry's last answer, as [`decide`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Last {
    /// When the call that answered started.
    pub started: Instant,
    pub answer: Answer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Succeeded,
    /// A failure that says nothing of the key (throttling, server errors, the network).
    Failed,
    /// A failure of the key itself, shared until the key's budget hold ends.
    Budgeted {
        until: Instant,
    },
}

/// Pure: how to answer a request, given the entry's last answer, the start of the call in
/// flight, and the asking object's needs. A refresh request takes only a call started at or
/// after it was made: that call's answer, or the call itself while in flight, answers it,
/// whatever its age.
pub fn decide(
    last: Option<Last>,
    in_flight_since: Option<Instant>,
    now: Instant,
    need: Need,
) -> Source {
    let good_since = need.refresh_requested;
    let since = |started: &Instant| good_since.is_none_or(|good| *started >= good);
    let last = last.filter(|last| since(&last.started));
    let in_flight_since = in_flight_since.filter(since);
    if let Some(last) = last
        && answers(last, now, need, good_since.is_some())
    {
        return Source::Hit;
    }
    match in_flight_since {
        Some(_) => Source::Joined,
        None => Source::Called,
    }
}

/// Pure: whether a call decided for `need` is a forced one: needed only for the object's
/// refresh request (without it, a cached or in-flight answer would do). Only forced calls wait
/// for the forced-refresh interval; a new key, a stale answer or a changed object's call goes
/// at once, and counts toward the interval when it was made for a refresh request too.
fn forced_only(
    last: Option<Last>,
    in_flight_since: Option<Instant>,
    now: Instant,
    need: Need,
) -> bool {
    let without_request = Need {
        refresh_requested: None,
        ..need
    };
    need.refresh_requested.is_some()
        && decide(last, in_flight_since, now, without_request) != Source::Called
}

/// Pure: whether `last` (already known to have started after the refresh request, if
/// `forced`) still answers a request at `now`.
fn answers(last: Last, now: Instant, need: Need, forced: bool) -> bool {
    let age = now.saturating_duration_since(last.started);
    let brief = FAILURE_TTL.min(need.max_age);
    match last.answer {
        // A refresh request's promise is about when the call started, not its age.
        Answer::Succeeded => forced || age < need.max_age,
        Answer::Failed => age < brief,
        Answer::Budgeted { .. } if forced => true,
        // A changed object is not held by the key's budget: only a burst shares a failure.
        Answer::Budgeted { .. } if need.changed => age < brief,
        Answer::Budgeted { until } => now < until || age < brief,
    }
}

type InFlight = Shared<BoxFuture<'static, Outcome>>;

#[derive(Default)]
struct Entry {
    last: Option<(Instant, Outcome)>,
    in_flight: Option<(Instant, InFlight)>,
    /// The key's consecutive budgeted failures, if its last answers were such failures.
    streak: Option<Streak>,
    /// When the key's last call made for a refresh request started.
    last_forced: Option<Instant>,
}

impl Entry {
    fn last(&self) -> Option<Last> {
        let (started, outcome) = self.last.as_ref()?;
        let answer = match (outcome, self.streak) {
            (Ok(_), _) => Answer::Succeeded,
            (Err(failure), Some(streak)) if budget::is_budgeted(failure.reason) => {
                Answer::Budgeted {
                    until: streak.until(),
                }
            }
            (Err(_), _) => Answer::Failed,
        };
        Some(Last {
            started: *started,
            answer,
        })
    }

    /// Records the answer of a call started at `started`, unless a later call's is recorded.
    fn answered(&mut self, started: Instant, outcome: &Outcome) {
        if self.last.as_ref().is_some_and(|(at, _)| *at >= started) {
            return;
        }
        self.last = Some((started, outcome.clone()));
        self.streak = match outcome {
            Ok(_) => None,
            Err(failure) if budget::is_budgeted(failure.reason) => {
                Some(Streak::failed(self.streak, started))
            }
            // Throttling and server errors neither spend nor reset the key's budget.
            Err(_) => self.streak,
        };
    }

    /// A key this process has not called yet, whose objects say it has failed for a budgeted
    /// reason for `failing_for`: resumes the streak, and holds until its next call is due.
    fn resume(&mut self, need: Need, now: Instant) -> Result<(), Wait> {
        if self.last.is_some() || self.in_flight.is_some() {
            return Ok(());
        }
        let Some(failing_for) = need.carried_failure() else {
            return Ok(());
        };
        let resumed = *self
            .streak
            .get_or_insert_with(|| budget::resume(failing_for, now));
        if now < resumed.last {
            return Err(Wait::Held(resumed.last));
        }
        Ok(())
    }

    /// Whether the key is holding a budgeted failure at `now`.
    fn backing_off(&self, now: Instant) -> bool {
        matches!(self.last(), Some(Last { answer: Answer::Budgeted { until }, .. }) if now < until)
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Which key each object (by UID) uses, and how many objects use each key, so unused
    /// entries can be dropped. The objects of a key share one copy of it.
    users: HashMap<String, Arc<Key>>,
    user_counts: HashMap<Arc<Key>, usize>,
}

/// The describe cache. `fetch` futures are only started for `Source::Called`, and only with a
/// token from the rate limiter of the key's identity, if there is one: without a token, the
/// key waits in the limiter's ranked queue and every request for it is told when to ask again.
#[derive(Default)]
pub struct DescribeCache {
    state: Mutex<State>,
    limits: Option<Limits>,
    /// The least time between two forced calls of a key (zero unless set).
    forced_interval: Duration,
    /// How long each lane's keys may wait for a token before they go ahead of newer ones.
    bounds: Bounds,
}

/// One rate limiter per AWS identity (AppFlow's quota is per account: one tenant's account
/// throttling must not slow the others), each with the same ceiling and burst.
struct Limits {
    template: RateLimiter,
    per_identity: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

impl Limits {
    fn of(&self, identity: &str, now: Instant) -> Arc<RateLimiter> {
        let mut limiters = self.per_identity.lock().unwrap_or_else(|p| p.into_inner());
        limiters
            .entry(identity.to_owned())
            .or_insert_with(|| Arc::new(self.template.same_limits(now)))
            .clone()
    }
}

/// The key's place in its limiter's queue.
fn ticket(key: &Key) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// Why a request that needs a new AWS call has none yet. Nothing is held meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// No token from the rate limit yet: ask again after this long.
    Token(Duration),
    /// A refresh request that no call answers yet: the key's next forced call starts at this
    /// instant (forced calls of a key are the forced-refresh interval apart).
    Refresh(Instant),
    /// The key's budget, resumed from the object's status, holds its failure until this
    /// instant: the status stands as it is.
    Held(Instant),
}

/// A request's answer: the outcome, how it was had, and when the call that gave it started.
#[derive(Clone, Debug)]
pub struct Answered {
    pub outcome: Outcome,
    pub source: Source,
    pub started: Instant,
}

/// Pure: when the key's next forced call may start, if not at `now`: forced calls start at
/// least `interval` apart.
pub fn next_forced_call(
    last_forced: Option<Instant>,
    interval: Duration,
    now: Instant,
) -> Option<Instant> {
    let next = last_forced?.checked_add(interval)?;
    (now < next).then_some(next)
}

impl DescribeCache {
    /// A cache whose calls to AWS go through a limiter like `limiter` per identity.
    pub fn with_limiter(limiter: RateLimiter) -> Self {
        Self {
            limits: Some(Limits {
                template: limiter,
                per_identity: Mutex::default(),
            }),
            ..Self::default()
        }
    }

    /// This cache, starting forced calls of a key at least `interval` apart
    /// (`--forced-refresh-interval`).
    pub fn with_forced_interval(mut self, interval: Duration) -> Self {
        self.forced_interval = interval;
        self
    }

    /// The least time between two forced calls of a key.
    pub fn forced_interval(&self) -> Duration {
        self.forced_interval
    }

    /// This cache, ranking keys that wait for a token by `bounds` (`--lane-bounds`).
    pub fn with_lane_bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Keys holding a budgeted failure at `now` (the `describe_keys_backing_off` gauge).
    pub fn keys_backing_off(&self, now: Instant) -> usize {
        self.lock()
            .entries
            .values()
            .filter(|entry| entry.backing_off(now))
            .count()
    }

    /// Until when the circuit of `identity`'s account keeps its calls waiting, if it is open.
    pub fn circuit_open_until(&self, identity: &str, now: Instant) -> Option<Instant> {
        let limits = self.limits.as_ref()?;
        let limiters = limits
            .per_identity
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        limiters.get(identity)?.circuit_open_at(now)
    }

    /// Identities whose circuit is open at `now` (the `aws_circuits_open` gauge).
    pub fn circuits_open(&self, now: Instant) -> usize {
        self.limits.as_ref().map_or(0, |limits| {
            let limiters = limits
                .per_identity
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            limiters
                .values()
                .filter(|l| l.circuit_open_at(now).is_some())
                .count()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer for `key`: cached, joined, or fetched with `fetch` — or, when a new call is
    /// needed and cannot start yet, how long to wait (nothing is held meanwhile).
    pub async fn get(
        &self,
        key: &Key,
        need: Need,
        fetch: impl FnOnce() -> BoxFuture<'static, Outcome>,
    ) -> Result<Answered, Wait> {
        self.get_at(key, need, Instant::now(), fetch).await
    }

    /// [`DescribeCache::get`] as if asked at `now` (tests play out hours of a key's budget).
    async fn get_at(
        &self,
        key: &Key,
        need: Need,
        now: Instant,
        fetch: impl FnOnce() -> BoxFuture<'static, Outcome>,
    ) -> Result<Answered, Wait> {
        let limiter = self.limits.as_ref().map(|l| l.of(&key.identity, now));
        let (started, call, source) = {
            let mut state = self.lock();
            let entry = state.entries.entry(key.clone()).or_default();
            entry.resume(need, now)?;
            let in_flight_since = entry.in_flight.as_ref().map(|(at, _)| *at);
            match decide(entry.last(), in_flight_since, now, need) {
                Source::Hit => {
                    if let Some((started, outcome)) = &entry.last {
                        return Ok(Answered {
                            outcome: outcome.clone(),
                            source: Source::Hit,
                            started: *started,
                        });
                    }
                    unreachable!("decide() answers Hit only with a last answer")
                }
                Source::Joined => {
                    let (started, call) = entry.in_flight.clone().expect("decided on a call");
                    (started, call, Source::Joined)
                }
                Source::Called => {
                    let call = self.start_call(entry, key, need, limiter.as_deref(), now, fetch)?;
                    (now, call, Source::Called)
                }
            }
        };
        let outcome = call.await;
        self.complete(key, started, &outcome);
        if let (Source::Called, Some(limiter)) = (source, &limiter) {
            let failure = outcome.as_ref().err().map(|f| f.reason);
            limiter.record(failure, Instant::now());
        }
        Ok(Answered {
            outcome,
            source,
            started,
        })
    }

    /// Starts the key's new call, unless it is a forced one that must wait for the spacing, or
    /// the rate limit has no token for it yet.
    fn start_call(
        &self,
        entry: &mut Entry,
        key: &Key,
        need: Need,
        limiter: Option<&RateLimiter>,
        now: Instant,
        fetch: impl FnOnce() -> BoxFuture<'static, Outcome>,
    ) -> Result<InFlight, Wait> {
        let in_flight_since = entry.in_flight.as_ref().map(|(at, _)| *at);
        if forced_only(entry.last(), in_flight_since, now, need)
            && let Some(next) = next_forced_call(entry.last_forced, self.forced_interval, now)
        {
            return Err(Wait::Refresh(next));
        }
        // One token per call: the first object of a key to find its turn makes the call the
        // others join.
        if let Some(limiter) = limiter {
            let deadline = self.bounds.deadline(need.lane, now);
            limiter
                .request(ticket(key), deadline, now)
                .map_err(Wait::Token)?;
        }
        let call = fetch().shared();
        entry.in_flight = Some((now, call.clone()));
        // Any call that answers a refresh request counts toward the spacing.
        if need.refresh_requested.is_some() {
            entry.last_forced = Some(now);
        }
        Ok(call)
    }

    /// Records a finished call (whoever awaited it first; later calls win).
    fn complete(&self, key: &Key, started: Instant, outcome: &Outcome) {
        let mut state = self.lock();
        let Some(entry) = state.entries.get_mut(key) else {
            return; // dropped meanwhile: nobody uses the key any more
        };
        entry.answered(started, outcome);
        if entry
            .in_flight
            .as_ref()
            .is_some_and(|(at, _)| *at == started)
        {
            entry.in_flight = None;
        }
    }

    /// Notes that object `uid` uses `key`; returns true when this dropped the entry of the
    /// key it used before (no other object uses it).
    pub fn used_by(&self, uid: &str, key: &Key) -> bool {
        let mut state = self.lock();
        if state.users.get(uid).is_some_and(|used| **used == *key) {
            return false;
        }
        let shared = match state.user_counts.get_key_value(key) {
            Some((shared, _)) => shared.clone(),
            None => Arc::new(key.clone()),
        };
        *state.user_counts.entry(shared.clone()).or_default() += 1;
        state
            .users
            .insert(uid.to_owned(), shared)
            .is_some_and(|old| Self::release(&mut state, &old))
    }

    /// Forgets a deleted object; returns true when this dropped its key's entry.
    pub fn forget(&self, uid: &str) -> bool {
        let mut state = self.lock();
        match state.users.remove(uid) {
            Some(old) => Self::release(&mut state, &old),
            None => false,
        }
    }

    /// Objects known to use a key (for the count of per-object state).
    pub fn users(&self) -> usize {
        self.lock().users.len()
    }

    /// Whether any object uses a key of this identity and region (so its SDK client stays).
    pub fn uses(&self, identity: &str, region: &str) -> bool {
        self.lock()
            .user_counts
            .keys()
            .any(|key| key.identity == identity && key.region == region)
    }

    /// One user fewer for `key`; drops its entry with the last one.
    fn release(state: &mut State, key: &Key) -> bool {
        if let Some(count) = state.user_counts.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count > 0 {
                return false;
            }
        }
        state.user_counts.remove(key);
        state.entries.remove(key).is_some()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use conninfo_core::outcome::DescribeFailure;
    use conninfo_core::reason::Reason;

    const HOUR: Duration = Duration::from_secs(3600);

    fn key(label: &str) -> Key {
        Key {
            identity: "default".into(),
            region: "us-east-1".into(),
            connector_type: "CustomConnector".into(),
            label: Some(label.into()),
        }
    }

    fn need(max_age: Duration) -> Need {
        Need {
            max_age,
            ..Need::default()
        }
    }

    /// A refresh request made at `requested` (and an hour's refresh interval).
    fn forced(requested: Option<Instant>) -> Need {
        Need {
            refresh_requested: requested,
            ..need(HOUR)
        }
    }

    /// `need` with a refresh request made at `requested`.
    fn requested(need: Need, requested: Instant) -> Need {
        Need {
            refresh_requested: Some(requested),
            ..need
        }
    }

    /// [`decide`] for a last answer that succeeded or failed transiently.
    fn decide_plain(
        last: Option<(Instant, bool)>,
        in_flight_since: Option<Instant>,
        now: Instant,
        max_age: Duration,
        refresh_requested: Option<Instant>,
    ) -> Source {
        let last = last.map(|(started, ok)| Last {
            started,
            answer: if ok {
                Answer::Succeeded
            } else {
                Answer::Failed
            },
        });
        let need = Need {
            max_age,
            refresh_requested,
            changed: false,
            lane: Lane::Periodic,
            failing_for: None,
        };
        decide(last, in_flight_since, now, need)
    }

    #[test]
    fn decisions() {
        let decide = decide_plain;
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        assert_eq!(decide(None, None, t0, HOUR, None), Source::Called);
        assert_eq!(decide(None, Some(t0), t0, HOUR, None), Source::Joined);
        assert_eq!(
            decide(Some((t0, true)), None, later(60), HOUR, None),
            Source::Hit
        );
        assert_eq!(
            decide(
                Some((t0, true)),
                None,
                later(60),
                Duration::from_secs(30),
                None
            ),
            Source::Called,
            "older than the asking object's refresh interval"
        );
        assert_eq!(
            decide(Some((t0, false)), None, later(1), HOUR, None),
            Source::Hit
        );
        assert_eq!(
            decide(Some((t0, false)), None, later(6), HOUR, None),
            Source::Called
        );
        // A refresh request takes only a call started since it was made: answered or in
        // flight.
        assert_eq!(
            decide(Some((t0, true)), None, later(1), HOUR, Some(later(1))),
            Source::Called
        );
        assert_eq!(
            decide(Some((later(2), true)), None, later(3), HOUR, Some(later(1))),
            Source::Hit,
            "a fleet-wide refresh: the first object's call answers the rest"
        );
        assert_eq!(
            decide(
                Some((later(2), false)),
                None,
                later(9),
                HOUR,
                Some(later(1))
            ),
            Source::Called,
            "a failure since then is shared only for FAILURE_TTL"
        );
        assert_eq!(
            decide(
                Some((t0, true)),
                Some(later(2)),
                later(3),
                HOUR,
                Some(later(1))
            ),
            Source::Joined
        );
        assert_eq!(
            decide(Some((t0, true)), Some(t0), later(3), HOUR, Some(later(1))),
            Source::Called
        );
    }

    /// A fetch that counts its calls and answers after a short delay.
    fn counting(
        calls: &Arc<AtomicUsize>,
        ok: bool,
    ) -> impl FnOnce() -> BoxFuture<'static, Outcome> + use<> {
        let calls = calls.clone();
        move || {
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                if ok {
                    Ok(Default::default())
                } else {
                    Err(DescribeFailure::local(Reason::Throttled, "slow down"))
                }
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_call_then_hit() {
        let cache = Arc::new(DescribeCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get(&key("acme"), need(HOUR), counting(&calls, true))
                        .await
                        .unwrap()
                        .source
                })
            })
            .collect();
        let mut sources = Vec::new();
        for task in tasks {
            sources.push(task.await.unwrap());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(sources.iter().filter(|s| **s == Source::Called).count(), 1);
        let Answered {
            outcome, source, ..
        } = cache
            .get(&key("acme"), need(HOUR), counting(&calls, true))
            .await
            .unwrap();
        assert!(outcome.is_ok());
        assert_eq!(source, Source::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A forced refresh calls again.
        let seen = Some(Instant::now());
        let Answered {
            outcome: _, source, ..
        } = cache
            .get(&key("acme"), forced(seen), counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Called);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Another object whose refresh was seen before that call takes its answer.
        let Answered {
            outcome: _, source, ..
        } = cache
            .get(&key("acme"), forced(seen), counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_shared_briefly() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let Answered {
            outcome: first,
            source: _,
            ..
        } = cache
            .get(&key("t"), need(HOUR), counting(&calls, false))
            .await
            .unwrap();
        let Answered {
            outcome: second,
            source,
            ..
        } = cache
            .get(&key("t"), need(HOUR), counting(&calls, false))
            .await
            .unwrap();
        assert!(first.is_err() && second.is_err());
        assert_eq!(source, Source::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn each_identity_has_its_own_tokens() {
        let cache = DescribeCache::with_limiter(RateLimiter::new(1.0, 1, Instant::now()));
        let calls = Arc::new(AtomicUsize::new(0));
        let of = |identity: &str, label: &str| Key {
            identity: identity.into(),
            ..key(label)
        };
        assert!(
            cache
                .get(&of("operator", "a"), need(HOUR), counting(&calls, true))
                .await
                .is_ok()
        );
        let limited = cache
            .get(&of("operator", "b"), need(HOUR), counting(&calls, true))
            .await;
        assert!(limited.is_err(), "the operator's token is spent");
        // Another account's quota is its own: its first call goes out at once.
        let role = "arn:aws:iam::222222222222:role/observer";
        assert!(
            cache
                .get(&of(role, "b"), need(HOUR), counting(&calls, true))
                .await
                .is_ok()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn new_calls_wait_for_a_token_but_hits_do_not() {
        let limiter = RateLimiter::new(1.0, 1, Instant::now());
        let cache = DescribeCache::with_limiter(limiter);
        let calls = Arc::new(AtomicUsize::new(0));
        assert!(
            cache
                .get(&key("a"), need(HOUR), counting(&calls, true))
                .await
                .is_ok()
        );
        let limited = cache
            .get(&key("b"), need(HOUR), counting(&calls, true))
            .await;
        let Err(Wait::Token(wait)) = limited else {
            panic!("no token left: {limited:?}")
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // The key keeps its place: asking again does not queue it behind itself.
        let again = cache
            .get(&key("b"), need(HOUR), counting(&calls, true))
            .await;
        let Err(Wait::Token(again)) = again else {
            panic!("still waiting: {again:?}")
        };
        assert!(again <= wait);
        tokio::time::sleep(wait).await;
        let Answered {
            outcome: _, source, ..
        } = cache
            .get(&key("b"), need(HOUR), counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Called, "its turn came");
        let Answered {
            outcome: _, source, ..
        } = cache
            .get(&key("a"), need(HOUR), counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Hit, "a cached answer needs no token");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn entries_are_dropped_with_their_last_user() {
        let cache = DescribeCache::default();
        cache.lock().entries.insert(key("a"), Entry::default());
        cache.lock().entries.insert(key("b"), Entry::default());
        assert!(!cache.used_by("uid-1", &key("a")));
        assert!(!cache.used_by("uid-2", &key("a")));
        assert!(!cache.forget("uid-1"), "uid-2 still uses a");
        assert!(cache.used_by("uid-2", &key("b")), "moving to b drops a");
        assert_eq!(cache.len(), 1);
        assert!(cache.forget("uid-2"));
        assert_eq!(cache.len(), 0);
        assert!(!cache.forget("unknown"));
    }

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    /// A fetch that counts its calls and answers at once with `reason` (`None`: success).
    fn answering(
        calls: &Arc<AtomicUsize>,
        reason: Option<Reason>,
    ) -> impl FnOnce() -> BoxFuture<'static, Outcome> + use<> {
        let calls = calls.clone();
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let outcome = match reason {
                None => Ok(Default::default()),
                Some(reason) => Err(DescribeFailure::local(reason, "injected")),
            };
            futures::future::ready(outcome).boxed()
        }
    }

    /// Asks for `key` at `at` and says how it was answered.
    async fn ask(
        cache: &DescribeCache,
        need: Need,
        at: Instant,
        calls: &Arc<AtomicUsize>,
    ) -> Source {
        ask_answered(cache, need, at, calls, Some(Reason::AccessDenied)).await
    }

    async fn ask_answered(
        cache: &DescribeCache,
        need: Need,
        at: Instant,
        calls: &Arc<AtomicUsize>,
        reason: Option<Reason>,
    ) -> Source {
        let Answered {
            outcome: _, source, ..
        } = cache
            .get_at(&key("broken"), need, at, answering(calls, reason))
            .await
            .expect("no rate limit");
        source
    }

    #[test]
    fn a_keys_budgeted_failure_holds_until_its_hold_ends_unless_the_object_changed() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let held = Some(Last {
            started: t0,
            answer: Answer::Budgeted { until: at(40) },
        });
        let routine = need(HOUR);
        assert_eq!(decide(held, None, at(39), routine), Source::Hit);
        assert_eq!(decide(held, None, at(40), routine), Source::Called);
        let changed = Need {
            changed: true,
            ..routine
        };
        assert_eq!(
            decide(held, None, at(20), changed),
            Source::Called,
            "a new generation asks again inside the hold"
        );
        assert_eq!(
            decide(held, None, at(2), changed),
            Source::Hit,
            "but shares a failure younger than FAILURE_TTL, as any failure"
        );
        assert_eq!(decide(held, Some(at(19)), at(20), changed), Source::Joined);
        // A refresh request takes the failure of a call started since it was made, and asks
        // inside the hold when the last call started before it.
        assert_eq!(
            decide(held, None, at(30), requested(routine, t0)),
            Source::Hit
        );
        assert_eq!(
            decide(held, None, at(30), requested(routine, at(1))),
            Source::Called
        );
        // A refresh request takes a success started since it was made, however old it is now.
        let ok = Some(Last {
            started: t0,
            answer: Answer::Succeeded,
        });
        assert_eq!(
            decide(ok, None, at(90), requested(need(SECOND), t0)),
            Source::Hit
        );
        assert_eq!(decide(ok, None, at(90), need(SECOND)), Source::Called);
    }

    #[tokio::test]
    async fn twenty_objects_on_a_denied_key_make_one_call_per_backoff_step() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let mut called_at = Vec::new();
        // Every object asks every second: far more often than its own backoff would.
        for second in 0..200 {
            for _ in 0..20 {
                let source = ask(&cache, need(HOUR), t0 + second * SECOND, &calls).await;
                if source == Source::Called {
                    called_at.push(second);
                }
            }
        }
        assert_eq!(
            called_at,
            [0, 5, 15, 35, 75, 155],
            "holds of 5, 10, 20, 40, 80 s"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        assert_eq!(cache.keys_backing_off(t0 + 200 * SECOND), 1);
        assert_eq!(
            cache.keys_backing_off(t0 + 315 * SECOND),
            0,
            "the hold ran out"
        );
        // A success ends the streak: the next failure is held for FAILURE_TTL again.
        let at = t0 + 400 * SECOND;
        assert_eq!(
            ask_answered(&cache, need(Duration::ZERO), at, &calls, None).await,
            Source::Called
        );
        let failed_at = at + SECOND;
        assert_eq!(
            ask(&cache, need(Duration::ZERO), failed_at, &calls).await,
            Source::Called
        );
        assert_eq!(
            ask(&cache, need(HOUR), failed_at + FAILURE_TTL, &calls).await,
            Source::Called
        );
    }

    #[tokio::test]
    async fn transient_failures_neither_spend_nor_reset_the_budget() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        ask(&cache, need(HOUR), t0, &calls).await;
        ask(&cache, need(HOUR), t0 + 5 * SECOND, &calls).await; // held for 10 s
        let throttled = ask_answered(
            &cache,
            need(HOUR),
            t0 + 15 * SECOND,
            &calls,
            Some(Reason::Throttled),
        );
        assert_eq!(throttled.await, Source::Called);
        assert_eq!(
            cache.keys_backing_off(t0 + 16 * SECOND),
            0,
            "shared briefly"
        );
        assert_eq!(
            ask(&cache, need(HOUR), t0 + 20 * SECOND, &calls).await,
            Source::Called
        );
        assert_eq!(
            ask(&cache, need(HOUR), t0 + 39 * SECOND, &calls).await,
            Source::Hit,
            "the third denial is held 20 s"
        );
    }

    #[tokio::test]
    async fn a_new_generation_bypasses_the_keys_backoff_once() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        for second in [0, 5, 15] {
            ask(&cache, need(HOUR), t0 + second * SECOND, &calls).await;
        }
        // Held until 35 s. An object whose spec changed asks at 20 s; the others still share.
        let changed = Need {
            changed: true,
            ..need(HOUR)
        };
        assert_eq!(
            ask(&cache, changed, t0 + 20 * SECOND, &calls).await,
            Source::Called
        );
        assert_eq!(
            ask(&cache, need(HOUR), t0 + 21 * SECOND, &calls).await,
            Source::Hit
        );
        // Its status now records the generation: it is held with the rest (40 s from 20 s).
        assert_eq!(
            ask(&cache, need(HOUR), t0 + 59 * SECOND, &calls).await,
            Source::Hit
        );
        assert_eq!(
            ask(&cache, need(HOUR), t0 + 60 * SECOND, &calls).await,
            Source::Called
        );
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_key_new_to_the_process_resumes_the_budget_its_objects_carry() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        // A restart: the objects' statuses say the key has been denied for 40 s. An unbroken
        // streak called at 0, 5, 15 and 35 s and calls next at 75 s.
        let carried = Need {
            failing_for: Some(40 * SECOND),
            ..need(HOUR)
        };
        let held = cache
            .get_at(&key("broken"), carried, t0, answering(&calls, None))
            .await;
        assert!(matches!(held, Err(Wait::Held(until)) if until == t0 + 35 * SECOND));
        // A changed object and a refresh request are never held by the budget.
        let changed = Need {
            changed: true,
            ..carried
        };
        assert!(
            cache
                .get_at(&key("other"), changed, t0, answering(&calls, None))
                .await
                .is_ok()
        );
        let forced = requested(carried, t0);
        assert!(
            cache
                .get_at(&key("third"), forced, t0, answering(&calls, None))
                .await
                .is_ok()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // At 75 s of the streak the key calls; its denial holds as the fifth one's would.
        let later = Need {
            failing_for: Some(75 * SECOND),
            ..need(HOUR)
        };
        assert_eq!(
            ask(&cache, later, t0 + 35 * SECOND, &calls).await,
            Source::Called
        );
        assert_eq!(cache.keys_backing_off(t0 + 114 * SECOND), 1, "held 80 s");
        assert_eq!(
            ask(&cache, later, t0 + 114 * SECOND, &calls).await,
            Source::Hit
        );
        assert_eq!(
            ask(&cache, later, t0 + 115 * SECOND, &calls).await,
            Source::Called
        );
    }

    /// Plays refresh requests out on injected time: object `i`'s request is made at
    /// `requests[i].0` (`None`: the object asks with no request) and reconciled at
    /// `requests[i].1`; told to wait, it asks again when the wait ends. Checks that no answer
    /// started before its request; returns the calls made and the longest time from a request
    /// to its answer.
    async fn play(
        cache: &DescribeCache,
        requests: &[(Option<Instant>, Instant)],
        reason: Option<Reason>,
    ) -> (usize, Duration) {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut asks: std::collections::BinaryHeap<_> = requests
            .iter()
            .enumerate()
            .map(|(i, (_, at))| std::cmp::Reverse((*at, i)))
            .collect();
        let mut longest = Duration::ZERO;
        while let Some(std::cmp::Reverse((at, i))) = asks.pop() {
            let made = requests[i].0;
            let need = Need {
                refresh_requested: made,
                ..need(HOUR)
            };
            match cache
                .get_at(&key("broken"), need, at, answering(&calls, reason))
                .await
            {
                Ok(answered) => {
                    let made = made.unwrap_or(answered.started);
                    assert!(answered.started >= made, "object {i}: an older answer");
                    longest = longest.max(at - made);
                }
                Err(Wait::Refresh(until)) => {
                    assert!(until > at, "a wait that ends");
                    asks.push(std::cmp::Reverse((until, i)));
                }
                Err(wait) => panic!("no rate limit here: {wait:?}"),
            }
        }
        (calls.load(Ordering::SeqCst), longest)
    }

    #[tokio::test]
    async fn a_refresh_request_is_answered_only_by_a_call_started_at_or_after_it() {
        let cache = DescribeCache::default().with_forced_interval(MINUTE);
        let calls = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now() + HOUR;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let k = key("k");
        let ask = |need: Need, now: Instant| cache.get_at(&k, need, now, answering(&calls, None));
        assert_eq!(ask(need(HOUR), t0).await.unwrap().source, Source::Called);
        // The object was made Ready by that call; a request a second later is not answered by
        // it, and, the first forced call of the key, goes out at once.
        let first = ask(forced(Some(at(1_000))), at(1_500)).await.unwrap();
        assert_eq!((first.source, first.started), (Source::Called, at(1_500)));
        // A request made before that call started takes its answer.
        let earlier = ask(forced(Some(at(1_200))), at(1_600)).await.unwrap();
        assert_eq!((earlier.source, earlier.started), (Source::Hit, at(1_500)));
        // One made after it waits for the key's next forced call, an interval after the last.
        let later = ask(forced(Some(at(2_000))), at(2_100)).await;
        assert_eq!(later.unwrap_err(), Wait::Refresh(at(61_500)));
        assert_eq!(
            ask(forced(Some(at(2_000))), at(61_499)).await.unwrap_err(),
            Wait::Refresh(at(61_500)),
            "asking again early changes nothing"
        );
        // An object whose own refresh is due calls AWS anyway: an ordinary call, which
        // answers the request made before it started.
        let periodic = ask(need(Duration::from_secs(1)), at(30_000)).await.unwrap();
        assert_eq!(
            (periodic.source, periodic.started),
            (Source::Called, at(30_000))
        );
        let answered = ask(forced(Some(at(2_000))), at(30_100)).await.unwrap();
        assert_eq!(
            (answered.source, answered.started),
            (Source::Hit, at(30_000))
        );
        // A due object with a request of its own is not held by the spacing, but its call
        // counts toward it.
        let due = requested(need(Duration::from_secs(1)), at(44_000));
        let own = ask(due, at(45_000)).await.unwrap();
        assert_eq!((own.source, own.started), (Source::Called, at(45_000)));
        assert_eq!(
            ask(forced(Some(at(50_000))), at(61_500)).await.unwrap_err(),
            Wait::Refresh(at(105_000))
        );
        let next = ask(forced(Some(at(50_000))), at(105_000)).await.unwrap();
        assert_eq!((next.source, next.started), (Source::Called, at(105_000)));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn one_value_on_the_whole_fleet_costs_one_call_per_key() {
        for reason in [None, Some(Reason::AccessDenied)] {
            let cache = DescribeCache::default().with_forced_interval(MINUTE);
            let t0 = Instant::now() + HOUR;
            // `kubectl annotate --all refresh=$(date +%s)`: one time on every object, which
            // the watch delivers over five seconds.
            let requests: Vec<_> = (0..200u32)
                .map(|i| (Some(t0), t0 + SECOND / 2 + i * SECOND / 40))
                .collect();
            assert_eq!(play(&cache, &requests, reason).await.0, 1, "{reason:?}");
        }
    }

    #[tokio::test]
    async fn a_fleet_annotated_over_two_minutes_costs_at_most_one_call_per_interval_plus_one() {
        for interval in [MINUTE, MINUTE / 2, Duration::from_secs(7), Duration::ZERO] {
            for reason in [None, Some(Reason::AccessDenied)] {
                let t0 = Instant::now() + HOUR;
                // 200 objects annotated one every 0.6 s, each reconciled half a second later.
                let requests: Vec<_> = (0..200u32)
                    .map(|i| {
                        let made = t0 + i * SECOND * 6 / 10;
                        (Some(made), made + SECOND / 2)
                    })
                    .collect();
                let cache = DescribeCache::default().with_forced_interval(interval);
                let (calls, longest) = play(&cache, &requests, reason).await;
                // A failing key also calls when its budget's hold ends, request or not: what
                // the same objects asking with no request cost.
                let unasked: Vec<_> = requests.iter().map(|(_, at)| (None, *at)).collect();
                let cache = DescribeCache::default().with_forced_interval(interval);
                let own_schedule = match reason {
                    None => 0,
                    Some(_) => play(&cache, &unasked, reason).await.0,
                };
                let bound = if interval.is_zero() {
                    200
                } else {
                    (120.0 / interval.as_secs_f64()).ceil() as usize + 1
                };
                let label = format!("{interval:?} {reason:?}");
                assert!(
                    calls <= own_schedule + bound && calls >= 2,
                    "{label}: {calls} calls, {own_schedule} of the key's own schedule"
                );
                assert!(
                    longest <= interval + SECOND / 2,
                    "{label}: waited {longest:?}"
                );
            }
        }
    }
}
