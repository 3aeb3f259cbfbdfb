//! What a describe answer, whatever its shape, must not do to status: produce a status that
//! cannot be written and read back, or one that looks changed on every describe (a
//! ConfigurationChanged Event and a status write per refresh, forever).

use std::time::Duration;

use conninfo_core::crd::{ConnectorInfoStatus, ConnectorType};
use conninfo_core::fixtures;
use conninfo_core::outcome::Outcome;
use conninfo_core::reason::Reason;
use conninfo_core::status::{self, Observation, Origin};

/// Computes the status for `outcome`, writes it as the API server stores it (JSON), reads it
/// back, and computes again from that with the same answer: nothing may have changed.
pub fn assert_steady(outcome: &Outcome) {
    let spec = fixtures::spec(ConnectorType::Salesforce);
    let observe = |previous: Option<&ConnectorInfoStatus>, seconds: i64| {
        status::compute(&Observation {
            generation: Some(1),
            spec: &spec,
            refresh_request: None,
            previous,
            outcome,
            refresh_interval: Duration::from_secs(3600),
            stalled_after: Duration::from_secs(600),
            now: jiff::Timestamp::from_second(1_700_000_000 + seconds).expect("a fixed time"),
            origin: Origin::default(),
        })
    };
    let first = observe(None, 0);
    let written = serde_json::to_vec(&first.status).expect("a computed status serialises");
    let read_back: ConnectorInfoStatus =
        serde_json::from_slice(&written).expect("a written status reads back");
    assert_eq!(
        read_back.connector_configuration,
        first.status.connector_configuration,
        "the mirror survives its own JSON: {}",
        String::from_utf8_lossy(&written)
    );
    let second = observe(Some(&read_back), 60);
    assert!(
        second
            .events
            .iter()
            .all(|e| e.reason != Reason::ConfigurationChanged),
        "the same answer again is no change: {:?}",
        second.events
    );
    assert_eq!(second.status.last_changed_time, read_back.last_changed_time);
    assert_eq!(
        second.status.configuration_digest,
        read_back.configuration_digest
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::outcome::DescribeFailure;

    #[test]
    fn a_plain_answer_and_a_failure_are_steady() {
        let config = serde_json::from_value(serde_json::json!({
            "canUseAsSource": true, "canUseAsDestination": false,
            "isPrivateLinkEnabled": false, "isPrivateLinkEndpointUrlRequired": false,
            "connectorMetadata": {"Salesforce": {"oAuthScopes": ["api"]}, "Future": {"x": 1}},
        }))
        .expect("a configuration");
        assert_steady(&Ok(config));
        assert_steady(&Err(DescribeFailure::local(Reason::ServiceError, "boom")));
    }
}
