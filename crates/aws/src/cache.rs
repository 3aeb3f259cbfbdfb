//! One DescribeConnector per connector, not per object: a describe cache with single-flight
//! between the controller and AWS, keyed by everything that determines the answer.
//!
//! - Concurrent requests for a key share one in-flight call.
//! - A successful answer is reused while it is younger than the asking object's own refresh
//!   interval; a forced refresh (the annotation) takes only an answer from a call that started
//!   after the annotation was first seen (finished or still in flight).
//! - Failures are shared for [`FAILURE_TTL`], so a thousand objects on one throttled key do
//!   not each retry.
//! - An entry is dropped when the last object using its key is deleted or moves to another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::ratelimit::RateLimiter;
use conninfo_core::outcome::Outcome;
use conninfo_core::reason::Reason;

/// How long a failed answer is shared before the next object asks AWS again.
pub const FAILURE_TTL: Duration = Duration::from_secs(5);

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

/// Pure: how to answer a request, given the entry's last answer (when it was fetched and
/// whether it succeeded), the start of the call in flight, and the asking object's needs.
/// `forced_since` is when a forced refresh was first seen: only a call started since then is
/// good (its answer, or the call itself while in flight).
pub fn decide(
    last: Option<(Instant, bool)>,
    in_flight_since: Option<Instant>,
    now: Instant,
    max_age: Duration,
    forced_since: Option<Instant>,
) -> Source {
    // A forced refresh sees only calls started since it was first seen.
    let since = |started: &Instant| forced_since.is_none_or(|seen| *started >= seen);
    let last = last.filter(|(started, _)| since(started));
    let in_flight_since = in_flight_since.filter(since);
    if let Some((fetched, ok)) = last {
        let ttl = if ok {
            max_age
        } else {
            FAILURE_TTL.min(max_age)
        };
        if now.saturating_duration_since(fetched) < ttl {
            return Source::Hit;
        }
    }
    match in_flight_since {
        Some(_) => Source::Joined,
        None => Source::Called,
    }
}

type InFlight = Shared<BoxFuture<'static, Outcome>>;

#[derive(Default)]
struct Entry {
    last: Option<(Instant, Outcome)>,
    in_flight: Option<(Instant, InFlight)>,
    /// A rate-limit token reserved for this key's next call, usable from this instant.
    reserved_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Which key each object (by UID) uses, and how many objects use each key, so unused
    /// entries can be dropped.
    users: HashMap<String, Key>,
    user_counts: HashMap<Key, usize>,
}

/// The describe cache. `fetch` futures are only started for `Source::Called`, and only with a
/// token from the rate limiter of the key's identity, if there is one: without a token, the
/// key reserves the next one and every request for it is told when that is.
#[derive(Default)]
pub struct DescribeCache {
    state: Mutex<State>,
    limits: Option<Limits>,
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

/// No token for a new AWS call yet: ask again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited(pub Duration);

impl DescribeCache {
    /// A cache whose calls to AWS go through a limiter like `limiter` per identity.
    pub fn with_limiter(limiter: RateLimiter) -> Self {
        Self {
            state: Mutex::default(),
            limits: Some(Limits {
                template: limiter,
                per_identity: Mutex::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer for `key`: cached, joined, or fetched with `fetch` — or, when a new call is
    /// needed and the rate limit has no token, how long to wait (nothing is held meanwhile).
    pub async fn get(
        &self,
        key: &Key,
        max_age: Duration,
        forced_since: Option<Instant>,
        fetch: impl FnOnce() -> BoxFuture<'static, Outcome>,
    ) -> Result<(Outcome, Source), RateLimited> {
        let now = Instant::now();
        let limiter = self.limits.as_ref().map(|l| l.of(&key.identity, now));
        let (started, call, source) = {
            let mut state = self.lock();
            let entry = state.entries.entry(key.clone()).or_default();
            let last = entry.last.as_ref().map(|(at, o)| (*at, o.is_ok()));
            let in_flight_since = entry.in_flight.as_ref().map(|(at, _)| *at);
            match decide(last, in_flight_since, now, max_age, forced_since) {
                Source::Hit => {
                    if let Some((_, outcome)) = &entry.last {
                        return Ok((outcome.clone(), Source::Hit));
                    }
                    unreachable!("decide() answers Hit only with a last answer")
                }
                Source::Joined => {
                    let (started, call) = entry.in_flight.clone().expect("decided on a call");
                    (started, call, Source::Joined)
                }
                Source::Called => {
                    // One reserved token per key: every object waiting on the key comes back
                    // when it is due, and the first one then makes the call the others join.
                    if let Some(limiter) = &limiter {
                        match entry.reserved_at {
                            Some(at) if now < at => return Err(RateLimited(at - now)),
                            Some(_) => entry.reserved_at = None,
                            None => {
                                let wait = limiter.reserve(now);
                                if !wait.is_zero() {
                                    entry.reserved_at = Some(now + wait);
                                    return Err(RateLimited(wait));
                                }
                            }
                        }
                    }
                    let call = fetch().shared();
                    entry.in_flight = Some((now, call.clone()));
                    (now, call, Source::Called)
                }
            }
        };
        let outcome = call.await;
        self.complete(key, started, &outcome);
        if let (Source::Called, Some(limiter)) = (source, &limiter) {
            match &outcome {
                Err(failure) if failure.reason == Reason::Throttled => {
                    limiter.throttled(Instant::now())
                }
                _ => limiter.succeeded(Instant::now()),
            }
        }
        Ok((outcome, source))
    }

    /// Records a finished call (whoever awaited it first; later calls win).
    fn complete(&self, key: &Key, started: Instant, outcome: &Outcome) {
        let mut state = self.lock();
        let Some(entry) = state.entries.get_mut(key) else {
            return; // dropped meanwhile: nobody uses the key any more
        };
        if entry.last.as_ref().is_none_or(|(at, _)| *at < started) {
            entry.last = Some((started, outcome.clone()));
        }
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
        match state.users.insert(uid.to_owned(), key.clone()) {
            Some(old) if old == *key => false,
            old => {
                *state.user_counts.entry(key.clone()).or_default() += 1;
                old.is_some_and(|old| Self::release(&mut state, &old))
            }
        }
    }

    /// Forgets a deleted object; returns true when this dropped its key's entry.
    pub fn forget(&self, uid: &str) -> bool {
        let mut state = self.lock();
        match state.users.remove(uid) {
            Some(old) => Self::release(&mut state, &old),
            None => false,
        }
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
        let count = state.user_counts.entry(key.clone()).or_default();
        *count = count.saturating_sub(1);
        if *count > 0 {
            return false;
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

    const HOUR: Duration = Duration::from_secs(3600);

    fn key(label: &str) -> Key {
        Key {
            identity: "default".into(),
            region: "us-east-1".into(),
            connector_type: "CustomConnector".into(),
            label: Some(label.into()),
        }
    }

    #[test]
    fn decisions() {
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
        // A forced refresh takes only a call started since it was first seen: answered or
        // in flight.
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
                        .get(&key("acme"), HOUR, None, counting(&calls, true))
                        .await
                        .unwrap()
                        .1
                })
            })
            .collect();
        let mut sources = Vec::new();
        for task in tasks {
            sources.push(task.await.unwrap());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(sources.iter().filter(|s| **s == Source::Called).count(), 1);
        let (outcome, source) = cache
            .get(&key("acme"), HOUR, None, counting(&calls, true))
            .await
            .unwrap();
        assert!(outcome.is_ok());
        assert_eq!(source, Source::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A forced refresh calls again.
        let forced = Some(Instant::now());
        let (_, source) = cache
            .get(&key("acme"), HOUR, forced, counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Called);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Another object whose refresh was seen before that call takes its answer.
        let (_, source) = cache
            .get(&key("acme"), HOUR, forced, counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_shared_briefly() {
        let cache = DescribeCache::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (first, _) = cache
            .get(&key("t"), HOUR, None, counting(&calls, false))
            .await
            .unwrap();
        let (second, source) = cache
            .get(&key("t"), HOUR, None, counting(&calls, false))
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
                .get(&of("operator", "a"), HOUR, None, counting(&calls, true))
                .await
                .is_ok()
        );
        let limited = cache
            .get(&of("operator", "b"), HOUR, None, counting(&calls, true))
            .await;
        assert!(limited.is_err(), "the operator's token is spent");
        // Another account's quota is its own: its first call goes out at once.
        let role = "arn:aws:iam::222222222222:role/observer";
        assert!(
            cache
                .get(&of(role, "b"), HOUR, None, counting(&calls, true))
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
                .get(&key("a"), HOUR, None, counting(&calls, true))
                .await
                .is_ok()
        );
        let limited = cache
            .get(&key("b"), HOUR, None, counting(&calls, true))
            .await;
        let Err(RateLimited(wait)) = limited else {
            panic!("no token left: {limited:?}")
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // The key holds its reservation: asking again does not reserve another token.
        let again = cache
            .get(&key("b"), HOUR, None, counting(&calls, true))
            .await;
        let Err(RateLimited(again)) = again else {
            panic!("still waiting: {again:?}")
        };
        assert!(again <= wait);
        tokio::time::sleep(wait).await;
        let (_, source) = cache
            .get(&key("b"), HOUR, None, counting(&calls, true))
            .await
            .unwrap();
        assert_eq!(source, Source::Called, "the reservation is used");
        let (_, source) = cache
            .get(&key("a"), HOUR, None, counting(&calls, true))
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
}
