//! The account-wide behaviour of the emulated AppFlow: a latency on every call and the
//! account's request quota (a token bucket, `governor`'s GCRA), beyond which AppFlow answers
//! `ThrottlingException` — so benchmarks and tests meet throttling the way production does.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

use crate::data::AccountSpec;

pub struct Account {
    latency: Option<Duration>,
    quota: Option<DefaultDirectRateLimiter>,
}

impl Account {
    pub fn new(spec: &AccountSpec) -> Self {
        let quota = spec.rate_limit.as_ref().and_then(|limit| {
            let period = Duration::from_secs_f64(1.0 / limit.requests_per_second);
            let burst = NonZeroU32::new(limit.burst)?;
            Quota::with_period(period)
                .map(|q| DefaultDirectRateLimiter::direct(q.allow_burst(burst)))
        });
        Self {
            latency: spec.latency_ms.map(Duration::from_millis),
            quota,
        }
    }

    /// Whether the account's quota admits one more call now.
    pub fn admit(&self) -> bool {
        self.quota
            .as_ref()
            .is_none_or(|quota| quota.check().is_ok())
    }

    /// The latency every answer takes.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::RateLimitSpec;

    #[test]
    fn quota_admits_the_burst_then_throttles() {
        let account = Account::new(&AccountSpec {
            latency_ms: Some(50),
            rate_limit: Some(RateLimitSpec {
                requests_per_second: 1.0,
                burst: 3,
            }),
        });
        let admitted = (0..10).filter(|_| account.admit()).count();
        assert_eq!(admitted, 3);
        assert_eq!(account.latency(), Some(Duration::from_millis(50)));
        let open = Account::new(&AccountSpec::default());
        assert!((0..1000).all(|_| open.admit()));
    }
}
