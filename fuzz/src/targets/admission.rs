//! Offline admission (`check --offline`, the observation path's first step) on any JSON value:
//! the CRD's schema through the JSON Schema validator, its CEL rules through kube's evaluator,
//! then decoding. Whatever it admits must be something the controller can use.

use conninfo_core::admission;
use conninfo_core::interval;

/// One input, as libFuzzer hands it over; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match admission::admit(&object) {
        Err(refused) => assert!(!refused.0.is_empty(), "a refusal names a reason"),
        Ok(admitted) => {
            assert!(admission::is_connector_info(&object));
            // Admission bounds refreshInterval to 0s or 1m..720h: the controller's parser
            // must agree, with nothing to clamp.
            if let Some(text) = &admitted.spec.refresh_interval {
                let effective = interval::effective(text.as_str())
                    .unwrap_or_else(|e| panic!("admitted {text} does not parse: {e}"));
                assert!(
                    !effective.clamped,
                    "admitted {text} is clamped: {effective:?}"
                );
            }
            // What was admitted, written back, is admitted again.
            let again = serde_json::to_value(&admitted).expect("an admitted object serialises");
            if let Err(refused) = admission::admit(&again) {
                panic!("{again} was admitted as {object}, refused now: {refused}");
            }
        }
    }
}
