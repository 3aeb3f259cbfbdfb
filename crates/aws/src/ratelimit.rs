//! The client-side rate limit toward AWS: a token bucket whose rate adapts to throttling
//! (AIMD: halved on every `Throttled`, back up by a twentieth of the ceiling for every other
//! answer — a success, any other failure, a network error: only throttling says the rate is
//! too high).
//!
//! AppFlow's quota is per account and shared with everything else in it, so the operator
//! stays below a configured ceiling and backs off further when AWS says so. Hand-written
//! rather than `governor` because the rate must change at run time without refilling the
//! bucket; and not the SDK's adaptive retry mode, which keeps one bucket per SDK client (per
//! region) and takes no ceiling. Pure: time is passed in.
//!
//! Keys that find no token wait in a ranked queue: the next tokens are kept for the keys
//! ranked ahead (earliest deadline first, [`conninfo_core::lanes`]), so a new object's key
//! passes the keys of a fleet-wide refresh that asked before it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use conninfo_core::circuit::Circuit;
use conninfo_core::reason::Reason;

/// The lowest rate throttling can push the limiter to.
pub const FLOOR_PER_SECOND: f64 = 0.1;

/// How long past the time it was told to come back a waiting key keeps its place: objects
/// come back up to a tenth late (`conninfo_runtime::pacing::Pacing::token_retry`); a key none
/// of whose objects come back (deleted, answered otherwise) must not hold the queue.
const LATE_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Bucket {
    /// Requests per second now, within [FLOOR_PER_SECOND, ceiling].
    rate: f64,
    tokens: f64,
    updated: Instant,
    /// Keys waiting for a token, by ticket.
    waiting: HashMap<u64, Waiter>,
    /// Paused calls after throttling or server errors ([`conninfo_core::circuit`]).
    circuit: Circuit,
}

#[derive(Clone, Copy, Debug)]
struct Waiter {
    deadline: Instant,
    /// When the key loses its place if it has not asked again.
    expires: Instant,
}

/// A shared, adaptive token bucket.
#[derive(Debug)]
pub struct RateLimiter {
    ceiling: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    /// `per_second` > 0 and `burst` >= 1; the bucket starts full.
    pub fn new(per_second: f64, burst: u32, now: Instant) -> Self {
        let ceiling = per_second.max(FLOOR_PER_SECOND);
        let burst = f64::from(burst.max(1));
        Self {
            ceiling,
            burst,
            bucket: Mutex::new(Bucket {
                rate: ceiling,
                tokens: burst,
                updated: now,
                waiting: HashMap::new(),
                circuit: Circuit::default(),
            }),
        }
    }

    /// A new limiter with this one's ceiling and burst, its bucket full.
    pub fn same_limits(&self, now: Instant) -> Self {
        Self::new(self.ceiling, self.burst as u32, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(self.burst);
        bucket.updated = now;
    }

    /// Takes a token for the key with `ticket`, due by `deadline` (its rank), or says how long
    /// until it is its turn; the key keeps its place meanwhile and takes the earlier of its
    /// deadlines. Tokens go to waiting keys by deadline, then ticket: a key is served only when
    /// there are tokens for every key ranked ahead of it too.
    pub fn request(&self, ticket: u64, deadline: Instant, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.lock();
        if let Some(until) = bucket.circuit.open_at(now) {
            return Err(until - now);
        }
        self.refill(&mut bucket, now);
        bucket
            .waiting
            .retain(|t, w| *t == ticket || now < w.expires);
        let deadline = bucket
            .waiting
            .get(&ticket)
            .map_or(deadline, |w| w.deadline.min(deadline));
        let ahead = bucket
            .waiting
            .iter()
            .filter(|(t, w)| (w.deadline, **t) < (deadline, ticket))
            .count() as f64;
        if bucket.tokens >= ahead + 1.0 {
            bucket.tokens -= 1.0;
            bucket.waiting.remove(&ticket);
            return Ok(());
        }
        let wait = Duration::from_secs_f64((ahead + 1.0 - bucket.tokens) / bucket.rate);
        let expires = now + wait + wait / 5 + LATE_GRACE;
        bucket.waiting.insert(ticket, Waiter { deadline, expires });
        Err(wait)
    }

    /// Keys waiting for a token now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// A call of this identity ended at `now` (`None`: it succeeded): the rate and the circuit
    /// learn from it. Returns until when the circuit is open.
    pub fn record(&self, failure: Option<Reason>, now: Instant) -> Option<Instant> {
        if failure == Some(Reason::Throttled) {
            self.throttled(now);
        } else {
            self.succeeded(now);
        }
        self.lock().circuit.record(failure, now)
    }

    /// Until when the circuit keeps calls waiting, if it is open at `now`.
    pub fn circuit_open_at(&self, now: Instant) -> Option<Instant> {
        self.lock().circuit.open_at(now)
    }

    /// AWS throttled a call: halve the rate (multiplicative decrease).
    pub fn throttled(&self, now: Instant) {
        let mut bucket = self.lock();
        self.refill(&mut bucket, now);
        bucket.rate = (bucket.rate / 2.0).max(FLOOR_PER_SECOND);
    }

    /// A call was answered with anything but throttling: recover slowly (additive increase).
    pub fn succeeded(&self, now: Instant) {
        let mut bucket = self.lock();
        self.refill(&mut bucket, now);
        bucket.rate = (bucket.rate + self.ceiling / 20.0).min(self.ceiling);
    }

    /// Requests per second allowed now.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(5.0, 10, t0);
        for _ in 0..10 {
            assert_eq!(limiter.request(0, t0, t0), Ok(()));
        }
        let wait = limiter.request(0, t0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-9, "{wait:?}");
        assert_eq!(
            limiter.request(0, t0, t0 + Duration::from_millis(200)),
            Ok(())
        );
        // Over ten seconds, at most burst + 10 s x 5/s.
        let granted = (0..1000)
            .filter(|i| {
                limiter
                    .request(0, t0, t0 + Duration::from_millis(200 + 10 * i))
                    .is_ok()
            })
            .count();
        assert!(granted <= 50, "{granted}");
    }

    #[test]
    fn waiting_keys_are_served_by_deadline_not_arrival() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let limiter = RateLimiter::new(1.0, 1, t0);
        assert_eq!(limiter.request(1, t0 + 300 * second, t0), Ok(()));
        // Two periodic keys ask first, then a new object's key (due in a second).
        assert_eq!(limiter.request(2, t0 + 300 * second, t0), Err(second));
        assert_eq!(limiter.request(3, t0 + 300 * second, t0), Err(2 * second));
        assert_eq!(limiter.request(4, t0 + second, t0), Err(second));
        assert_eq!(limiter.waiting(), 3);
        // The first token is the new key's, though key 2 asked before it.
        assert_eq!(
            limiter.request(2, t0 + 300 * second, t0 + second),
            Err(second)
        );
        assert_eq!(limiter.request(4, t0 + second, t0 + second), Ok(()));
        assert_eq!(
            limiter.request(2, t0 + 300 * second, t0 + 2 * second),
            Ok(())
        );
        assert_eq!(
            limiter.request(3, t0 + 300 * second, t0 + 3 * second),
            Ok(())
        );
        assert_eq!(limiter.waiting(), 0);
    }

    #[test]
    fn a_key_that_never_comes_back_loses_its_place() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let limiter = RateLimiter::new(1.0, 1, t0);
        assert_eq!(limiter.request(1, t0, t0), Ok(()));
        assert_eq!(limiter.request(2, t0, t0), Err(second));
        assert_eq!(limiter.request(3, t0 + second, t0), Err(2 * second));
        // Key 2 was due back at 1 s; at 3 s it has lost its place to key 3.
        assert_eq!(limiter.request(3, t0 + second, t0 + 3 * second), Ok(()));
        assert_eq!(limiter.waiting(), 0);
    }

    #[test]
    fn a_waiting_key_keeps_its_earliest_deadline() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let limiter = RateLimiter::new(1.0, 1, t0);
        assert_eq!(limiter.request(1, t0, t0), Ok(()));
        assert_eq!(limiter.request(2, t0 + 10 * second, t0), Err(second));
        // Key 2's periodic object asks again later with a later deadline: still ahead of key 3.
        assert_eq!(
            limiter.request(2, t0 + 300 * second, t0 + second / 2),
            Err(second / 2)
        );
        assert_eq!(
            limiter.request(3, t0 + 20 * second, t0 + second / 2),
            Err(second + second / 2)
        );
        assert_eq!(limiter.request(2, t0 + 300 * second, t0 + second), Ok(()));
    }

    #[test]
    fn an_open_circuit_keeps_every_key_waiting_until_it_lets_a_call_through() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let limiter = RateLimiter::new(100.0, 100, t0);
        assert_eq!(
            limiter.record(Some(Reason::ServiceError), t0),
            Some(t0 + second)
        );
        assert_eq!(limiter.request(1, t0, t0), Err(second));
        assert_eq!(limiter.request(2, t0, t0 + second / 2), Err(second / 2));
        assert_eq!(limiter.circuit_open_at(t0), Some(t0 + second));
        assert_eq!(limiter.request(1, t0, t0 + second), Ok(()));
        assert_eq!(
            limiter.record(Some(Reason::Throttled), t0 + second),
            Some(t0 + 3 * second)
        );
        assert!(limiter.rate() < 100.0, "throttling also slows the rate");
        assert_eq!(limiter.record(None, t0 + 3 * second), None);
        assert_eq!(limiter.request(2, t0, t0 + 3 * second), Ok(()));
    }

    #[test]
    fn throttling_halves_and_success_recovers_slowly() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(4.0, 1, t0);
        limiter.throttled(t0);
        assert_eq!(limiter.rate(), 2.0);
        limiter.throttled(t0);
        assert_eq!(limiter.rate(), 1.0);
        for _ in 0..100 {
            limiter.throttled(t0);
        }
        assert_eq!(limiter.rate(), FLOOR_PER_SECOND);
        limiter.succeeded(t0);
        assert!((limiter.rate() - (FLOOR_PER_SECOND + 0.2)).abs() < 1e-9);
        for _ in 0..100 {
            limiter.succeeded(t0);
        }
        assert_eq!(limiter.rate(), 4.0, "never above the ceiling");
    }
}
