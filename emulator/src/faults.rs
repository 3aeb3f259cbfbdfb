//! Fault injection per connector key, with "fail the first N calls" counting.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::{FaultSpec, RandomFaultSpec};
use crate::wire::{ApiError, default_message};

/// What a call runs into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAction {
    pub latency: Option<Duration>,
    pub outcome: FaultOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultOutcome {
    /// Answer normally (after the latency).
    Normal,
    /// Answer with this error.
    Error(ApiError),
    /// Answer 200 with a body that is not JSON.
    Garbage,
}

#[derive(Debug, Clone)]
struct ActiveFault {
    spec: FaultSpec,
    fired: u64,
}

/// A fault and how often it has fired, as the stats endpoint reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FaultStatus {
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub fired: u64,
    /// Calls left before the fault runs out; absent for a fault without `count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// The faults in force, by connector key.
#[derive(Debug, Clone, Default)]
pub struct FaultTable {
    faults: BTreeMap<String, ActiveFault>,
}

impl FaultTable {
    pub fn new(faults: &BTreeMap<String, FaultSpec>) -> Self {
        let mut table = FaultTable::default();
        for (key, spec) in faults {
            table.set(key, Some(spec.clone()));
        }
        table
    }

    /// Sets (and re-arms) or, with `None`, clears the fault of `key`.
    pub fn set(&mut self, key: &str, spec: Option<FaultSpec>) {
        match spec {
            Some(spec) => {
                self.faults
                    .insert(key.to_string(), ActiveFault { spec, fired: 0 });
            }
            None => {
                self.faults.remove(key);
            }
        }
    }

    /// Records a call to `key` and says what it runs into, if anything.
    pub fn on_call(&mut self, key: &str) -> Option<FaultAction> {
        let fault = self.faults.get_mut(key)?;
        if fault.spec.count.is_some_and(|count| fault.fired >= count) {
            return None;
        }
        fault.fired += 1;
        let spec = &fault.spec;
        let outcome = match (&spec.error_code, spec.garbage_body) {
            (Some(code), _) => FaultOutcome::Error(ApiError::with_status(
                code,
                spec.message
                    .clone()
                    .unwrap_or_else(|| default_message(code)),
                spec.status,
            )),
            (None, true) => FaultOutcome::Garbage,
            (None, false) => FaultOutcome::Normal,
        };
        Some(FaultAction {
            latency: spec.latency_ms.map(Duration::from_millis),
            outcome,
        })
    }

    pub fn status(&self) -> BTreeMap<String, FaultStatus> {
        self.faults
            .iter()
            .map(|(key, f)| {
                (
                    key.clone(),
                    FaultStatus {
                        spec: f.spec.clone(),
                        fired: f.fired,
                        remaining: f.spec.count.map(|c| c.saturating_sub(f.fired)),
                    },
                )
            })
            .collect()
    }
}

/// The kinds of random fault, as the stats endpoint counts them.
pub const RANDOM_FAULT_KINDS: [&str; 4] = ["500", "429", "timeout", "garbage"];

/// Seeded random faults on every key.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    spec: RandomFaultSpec,
    rng: StdRng,
    fired: BTreeMap<&'static str, u64>,
}

impl RandomFaults {
    pub fn new(spec: RandomFaultSpec) -> Self {
        Self {
            rng: StdRng::seed_from_u64(spec.seed),
            spec,
            fired: BTreeMap::new(),
        }
    }

    /// Draws the fault of one call, if it gets one.
    pub fn draw(&mut self) -> Option<FaultAction> {
        if !self.rng.random_bool(self.spec.rate.clamp(0.0, 1.0)) {
            return None;
        }
        let kind = RANDOM_FAULT_KINDS[self.rng.random_range(0..RANDOM_FAULT_KINDS.len())];
        *self.fired.entry(kind).or_default() += 1;
        let action = |latency, outcome| FaultAction { latency, outcome };
        Some(match kind {
            "500" => action(
                None,
                FaultOutcome::Error(ApiError::with_status(
                    "InternalServerException",
                    "Injected random fault",
                    Some(500),
                )),
            ),
            "429" => action(
                None,
                FaultOutcome::Error(ApiError::with_status(
                    "ThrottlingException",
                    "Rate exceeded (injected random fault)",
                    Some(429),
                )),
            ),
            "timeout" => action(
                Some(Duration::from_millis(self.spec.hang_ms)),
                FaultOutcome::Normal,
            ),
            _ => action(None, FaultOutcome::Garbage),
        })
    }

    /// The spec and how often each kind fired.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({"spec": self.spec, "fired": self.fired})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(code: Option<&str>, count: Option<u64>) -> FaultSpec {
        FaultSpec {
            error_code: code.map(str::to_string),
            count,
            ..FaultSpec::default()
        }
    }

    #[test]
    fn random_faults_follow_the_rate_and_the_seed() {
        let draws = |seed| {
            let mut faults = RandomFaults::new(RandomFaultSpec::new(0.3, seed));
            (0..2000).map(|_| faults.draw()).collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7), "same seed, same faults");
        assert_ne!(first, draws(8));
        let fired = first.iter().filter(|f| f.is_some()).count();
        assert!((500..700).contains(&fired), "{fired} of 2000 at 30%");
        let mut faults = RandomFaults::new(RandomFaultSpec::new(1.0, 1));
        for _ in 0..200 {
            faults.draw();
        }
        let status = faults.status();
        for kind in RANDOM_FAULT_KINDS {
            assert!(
                status["fired"][kind].as_u64().unwrap() > 20,
                "{kind}: {status}"
            );
        }
        let mut never = RandomFaults::new(RandomFaultSpec::new(0.0, 1));
        assert!((0..100).all(|_| never.draw().is_none()));
    }

    #[test]
    fn counted_fault_fails_first_n_calls_then_recovers() {
        let mut t = FaultTable::default();
        t.set(
            "Salesforce",
            Some(spec(Some("ThrottlingException"), Some(2))),
        );
        for _ in 0..2 {
            let a = t.on_call("Salesforce").expect("fault fires");
            let FaultOutcome::Error(e) = a.outcome else {
                panic!("expected an error")
            };
            assert_eq!(e.code, "ThrottlingException");
            assert_eq!(e.status.as_u16(), 429);
            assert_eq!(e.message, "Rate exceeded");
        }
        assert_eq!(t.on_call("Salesforce"), None);
        assert_eq!(t.on_call("Salesforce"), None);
        let st = &t.status()["Salesforce"];
        assert_eq!((st.fired, st.remaining), (2, Some(0)));
    }

    #[test]
    fn other_keys_are_unaffected() {
        let mut t = FaultTable::default();
        t.set("Salesforce", Some(spec(Some("ThrottlingException"), None)));
        assert_eq!(t.on_call("Slack"), None);
        assert_eq!(t.on_call("CustomConnector/x"), None);
    }

    #[test]
    fn uncounted_fault_never_runs_out() {
        let mut t = FaultTable::default();
        t.set("Slack", Some(spec(Some("InternalServerException"), None)));
        for _ in 0..50 {
            assert!(matches!(
                t.on_call("Slack").map(|a| a.outcome),
                Some(FaultOutcome::Error(_))
            ));
        }
        assert_eq!(t.status()["Slack"].remaining, None);
    }

    #[test]
    fn setting_again_rearms_and_none_clears() {
        let mut t = FaultTable::default();
        t.set("Slack", Some(spec(Some("ConflictException"), Some(1))));
        assert!(t.on_call("Slack").is_some());
        assert!(t.on_call("Slack").is_none());
        t.set("Slack", Some(spec(Some("ConflictException"), Some(1))));
        assert!(t.on_call("Slack").is_some());
        t.set("Slack", Some(spec(Some("ConflictException"), None)));
        t.set("Slack", None);
        assert!(t.on_call("Slack").is_none());
        assert!(t.status().is_empty());
    }

    #[test]
    fn latency_garbage_message_status() {
        let mut t = FaultTable::default();
        t.set(
            "S3",
            Some(FaultSpec {
                latency_ms: Some(250),
                ..FaultSpec::default()
            }),
        );
        let a = t.on_call("S3").expect("fires");
        assert_eq!(a.latency, Some(Duration::from_millis(250)));
        assert_eq!(a.outcome, FaultOutcome::Normal);

        t.set(
            "S3",
            Some(FaultSpec {
                garbage_body: true,
                ..FaultSpec::default()
            }),
        );
        assert_eq!(
            t.on_call("S3").map(|a| a.outcome),
            Some(FaultOutcome::Garbage)
        );

        t.set(
            "S3",
            Some(FaultSpec {
                error_code: Some("ServiceUnavailable".into()),
                message: Some("down".into()),
                status: Some(503),
                latency_ms: Some(10),
                garbage_body: true,
                count: None,
            }),
        );
        let a = t.on_call("S3").expect("fires");
        assert_eq!(a.latency, Some(Duration::from_millis(10)));
        let FaultOutcome::Error(e) = a.outcome else {
            panic!("error wins over garbage")
        };
        assert_eq!(
            (e.code.as_str(), e.status.as_u16(), e.message.as_str()),
            ("ServiceUnavailable", 503, "down")
        );

        t.set("S3", Some(spec(Some("SomeOtherException"), None)));
        let Some(FaultAction {
            outcome: FaultOutcome::Error(e),
            ..
        }) = t.on_call("S3")
        else {
            panic!("error")
        };
        assert_eq!(e.status.as_u16(), 400);
    }

    #[test]
    fn count_zero_never_fires() {
        let mut t = FaultTable::default();
        t.set("S3", Some(spec(Some("ThrottlingException"), Some(0))));
        assert!(t.on_call("S3").is_none());
    }
}
