//! Capped doubling: the one backoff curve shared by an account's circuit (`circuit.rs`), a
//! key's error budget (`budget.rs`) and each object's retries (`pacing.rs`). Pure: the step is
//! the caller's count, and jitter, where there is any, is applied by the caller to the result.

use std::time::Duration;

/// A delay that starts at `first` and doubles with each step, up to `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doubling {
    pub first: Duration,
    pub cap: Duration,
}

impl Doubling {
    /// The delay at `step` (0-based): `first × 2^step`, at most `cap`. Saturating for any
    /// step.
    pub fn at(self, step: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(step.min(31)))
            .min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURVE: Doubling = Doubling {
        first: Duration::from_secs(2),
        cap: Duration::from_secs(300),
    };

    #[test]
    fn doubles_from_the_first_delay_to_the_cap() {
        let steps: Vec<u64> = (0..9).map(|step| CURVE.at(step).as_secs()).collect();
        assert_eq!(steps, [2, 4, 8, 16, 32, 64, 128, 256, 300]);
    }

    #[test]
    fn saturates_at_the_cap_for_any_step() {
        for step in [31, 32, 1_000, u32::MAX] {
            assert_eq!(CURVE.at(step), CURVE.cap, "step {step}");
        }
        let uncapped = Doubling {
            first: Duration::MAX,
            cap: Duration::MAX,
        };
        assert_eq!(uncapped.at(u32::MAX), Duration::MAX);
    }
}
