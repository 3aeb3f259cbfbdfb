//! The client-side rate limit toward AWS: a token bucket whose rate adapts to throttling
//! (AIMD: halved on every `Throttled`, back up by a twentieth of the ceiling per success).
//!
//! AppFlow's quota is per account and shared with everything else in it, so the operator
//! stays below a configured ceiling and backs off further when AWS says so. Hand-written
//! rather than `governor` because the rate must change at run time without refilling the
//! bucket; and not the SDK's adaptive retry mode, which keeps one bucket per SDK client (per
//! region) and takes no ceiling. Pure: time is passed in.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lowest rate throttling can push the limiter to.
pub const FLOOR_PER_SECOND: f64 = 0.1;

#[derive(Debug)]
struct Bucket {
    /// Requests per second now, within [FLOOR_PER_SECOND, ceiling].
    rate: f64,
    tokens: f64,
    updated: Instant,
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

    /// Takes a token, or says how long until one is there (the caller retries then, without
    /// holding anything meanwhile).
    pub fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.lock();
        self.refill(&mut bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / bucket.rate))
        }
    }

    /// Reserves the next token: `Duration::ZERO` when it is there now, else how long until it
    /// is (the reservation counts at once, so tokens can be owed, never spent twice). The
    /// describe cache reserves one per connector key that needs a call, so the objects
    /// waiting on that key come back once, when the token is theirs.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut bucket = self.lock();
        self.refill(&mut bucket, now);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / bucket.rate)
        }
    }

    /// AWS throttled a call: halve the rate (multiplicative decrease).
    pub fn throttled(&self, now: Instant) {
        let mut bucket = self.lock();
        self.refill(&mut bucket, now);
        bucket.rate = (bucket.rate / 2.0).max(FLOOR_PER_SECOND);
    }

    /// A call went through: recover slowly (additive increase).
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
            assert_eq!(limiter.try_acquire(t0), Ok(()));
        }
        let wait = limiter.try_acquire(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.2).abs() < 1e-9, "{wait:?}");
        assert_eq!(limiter.try_acquire(t0 + Duration::from_millis(200)), Ok(()));
        // Over ten seconds, at most burst + 10 s x 5/s.
        let granted = (0..1000)
            .filter(|i| {
                limiter
                    .try_acquire(t0 + Duration::from_millis(200 + 10 * i))
                    .is_ok()
            })
            .count();
        assert!(granted <= 50, "{granted}");
    }

    #[test]
    fn reservations_queue_up_at_the_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(2.0, 2, t0);
        assert_eq!(limiter.reserve(t0), Duration::ZERO);
        assert_eq!(limiter.reserve(t0), Duration::ZERO);
        assert_eq!(limiter.reserve(t0), Duration::from_millis(500));
        assert_eq!(limiter.reserve(t0), Duration::from_millis(1000));
        // Owed tokens are paid back before anyone else gets one.
        assert!(
            limiter
                .try_acquire(t0 + Duration::from_millis(1000))
                .is_err()
        );
        assert_eq!(
            limiter.try_acquire(t0 + Duration::from_millis(1500)),
            Ok(())
        );
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
