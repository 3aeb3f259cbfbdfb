//! Pure: what `check` concludes for one ConnectorInfo, from a status (computed by the
//! observation path, or read from the cluster) and the requirements that apply.

use serde::Serialize;

use crate::condition::{self, ConditionStatus, ConditionType};
use crate::crd::{AuthMode, ConnectorInfoStatus, OAuth2GrantType, Requirements, Usage};
use crate::reason::Reason;
use crate::requirements::{self, RequirementKey, Unmet};

/// The outcome of checking one ConnectorInfo. `Ready` and `Valid` pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Outcome {
    /// Described (or read from the cluster) and every requirement is met.
    Ready,
    /// `--offline`: the API server would admit it; nothing was described.
    Valid,
    /// Described, but a requirement is not met.
    RequirementsNotMet,
    /// The describe failed (not found, access denied, throttled, …) or the live object is
    /// not Ready for another reason.
    Failed,
    /// The API server would refuse the manifest; it was not described.
    Invalid,
    /// `--from-cluster`: the operator has not observed the object's current generation yet,
    /// or the object does not exist.
    Pending,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ready,
        Outcome::Valid,
        Outcome::RequirementsNotMet,
        Outcome::Failed,
        Outcome::Invalid,
        Outcome::Pending,
    ];

    pub fn passed(self) -> bool {
        matches!(self, Outcome::Ready | Outcome::Valid)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ready => "Ready",
            Outcome::Valid => "Valid",
            Outcome::RequirementsNotMet => "RequirementsNotMet",
            Outcome::Failed => "Failed",
            Outcome::Invalid => "Invalid",
            Outcome::Pending => "Pending",
        }
    }
}

/// The conclusion for one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The Ready condition's reason, when there is one.
    pub reason: Option<String>,
    pub message: String,
    /// Each requirement not met.
    pub unmet: Vec<Unmet>,
}

impl Verdict {
    /// Each requirement not met, phrased for a person.
    pub fn missing(&self) -> Vec<String> {
        self.unmet.iter().map(Unmet::message).collect()
    }
}

/// Judges a status against `required` (the object's own requirements and the organisation's).
/// `generation` is the object's: a status older than it is not an answer yet.
pub fn judge(
    status: Option<&ConnectorInfoStatus>,
    generation: Option<i64>,
    required: &Requirements,
) -> Verdict {
    let pending = |message: String| Verdict {
        outcome: Outcome::Pending,
        reason: None,
        message,
        unmet: Vec::new(),
    };
    let Some(status) = status else {
        return pending("the operator has not written a status yet".into());
    };
    if let (Some(generation), observed) = (generation, status.observed_generation)
        && observed.is_none_or(|o| o < generation)
    {
        return pending(format!(
            "the operator has not observed generation {generation} yet"
        ));
    }
    let Some(ready) = condition::find(status, ConditionType::Ready) else {
        return pending("no Ready condition yet".into());
    };
    let unmet = status
        .connector_configuration
        .as_deref()
        .map(|config| requirements::unmet(required, config))
        .unwrap_or_default();
    let ready_status = ConditionStatus::parse(&ready.status);
    let (outcome, message) = match ready_status {
        ConditionStatus::True if unmet.is_empty() => (Outcome::Ready, ready.message.to_string()),
        ConditionStatus::True => {
            let sentences: Vec<String> = unmet.iter().map(Unmet::message).collect();
            (
                Outcome::RequirementsNotMet,
                format!("requirements not met: {}", sentences.join("; ")),
            )
        }
        _ if ready.reason == Reason::RequirementsNotMet.as_str() => {
            (Outcome::RequirementsNotMet, ready.message.to_string())
        }
        _ => (Outcome::Failed, ready.message.to_string()),
    };
    Verdict {
        outcome,
        reason: Some(ready.reason.to_string()),
        message,
        unmet,
    }
}

/// The union of two sets of requirements, each list in first-seen order.
pub fn merge(own: Option<&Requirements>, extra: &Requirements) -> Requirements {
    fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        let mut all = a.to_vec();
        for item in b {
            if !all.contains(item) {
                all.push(item.clone());
            }
        }
        all
    }
    let own = own.cloned().unwrap_or_default();
    Requirements {
        auth_modes: union(&own.auth_modes, &extra.auth_modes),
        oauth2_grant_types: union(&own.oauth2_grant_types, &extra.oauth2_grant_types),
        custom_auth_types: union(&own.custom_auth_types, &extra.custom_auth_types),
        usable_as: union(&own.usable_as, &extra.usable_as),
    }
}

/// `--require KEY=V1,V2`: the keys are `spec.requirements`' own field names.
pub fn parse_requirement(text: &str) -> Result<Requirements, String> {
    fn values<T: std::str::FromStr<Err = String>>(list: &str) -> Result<Vec<T>, String> {
        list.split(',').map(|v| v.trim().parse()).collect()
    }
    let Some((key, list)) = text.split_once('=') else {
        return Err("expected KEY=VALUE[,VALUE…], e.g. authModes=OAuth2".into());
    };
    if list.trim().is_empty() {
        return Err(format!("{key}: give at least one value"));
    }
    let mut required = Requirements::default();
    match RequirementKey::parse(key.trim()) {
        Some(RequirementKey::AuthModes) => required.auth_modes = values::<AuthMode>(list)?,
        Some(RequirementKey::OAuth2GrantTypes) => {
            required.oauth2_grant_types = values::<OAuth2GrantType>(list)?
        }
        Some(RequirementKey::UsableAs) => required.usable_as = values::<Usage>(list)?,
        Some(RequirementKey::CustomAuthTypes) => {
            required.custom_auth_types = list.split(',').map(|v| v.trim().to_owned()).collect()
        }
        None => {
            return Err(format!(
                "unknown requirement {:?}: use authModes, oauth2GrantTypes, customAuthTypes or usableAs",
                key.trim()
            ));
        }
    }
    Ok(required)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::Condition;
    use crate::mirror::ConnectorConfiguration;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn status(ready: &str, reason: &str, observed: i64, oauth2: bool) -> ConnectorInfoStatus {
        let config: ConnectorConfiguration = serde_json::from_value(serde_json::json!({
            "canUseAsSource": true,
            "canUseAsDestination": false,
            "isPrivateLinkEnabled": false,
            "isPrivateLinkEndpointUrlRequired": false,
            "authenticationConfig": {
                "isBasicAuthSupported": false,
                "isApiKeyAuthSupported": true,
                "isOAuth2Supported": oauth2,
                "isCustomAuthSupported": false,
            },
        }))
        .unwrap();
        ConnectorInfoStatus {
            observed_generation: Some(observed),
            connector_configuration: Some(std::sync::Arc::new(config)),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: reason.into(),
                message: format!("{reason} message").into(),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                observed_generation: Some(observed),
            }],
            ..Default::default()
        }
    }

    fn needs(text: &str) -> Requirements {
        parse_requirement(text).unwrap()
    }

    #[test]
    fn ready_status_meeting_every_requirement_passes() {
        let v = judge(
            Some(&status("True", "Described", 2, true)),
            Some(2),
            &needs("authModes=OAuth2,ApiKey"),
        );
        assert_eq!(v.outcome, Outcome::Ready);
        assert!(v.unmet.is_empty() && v.missing().is_empty());
    }

    #[test]
    fn organisation_requirements_apply_to_a_ready_object() {
        let v = judge(
            Some(&status("True", "Described", 1, false)),
            Some(1),
            &merge(None, &needs("authModes=OAuth2")),
        );
        assert_eq!(v.outcome, Outcome::RequirementsNotMet);
        assert_eq!(v.missing(), ["auth mode OAuth2 is not supported"]);
        assert_eq!(v.unmet, [Unmet::new(RequirementKey::AuthModes, "OAuth2")]);
        assert_eq!(
            v.message,
            "requirements not met: auth mode OAuth2 is not supported"
        );
        let v = judge(
            Some(&status("True", "Described", 1, true)),
            Some(1),
            &needs("usableAs=Destination"),
        );
        assert_eq!(v.missing(), ["cannot be used as a destination"]);
        assert_eq!(
            v.unmet,
            [Unmet::new(RequirementKey::UsableAs, "Destination")]
        );
    }

    #[test]
    fn failures_and_stale_statuses_do_not_pass() {
        let v = judge(
            Some(&status("False", "AccessDenied", 3, true)),
            Some(3),
            &Requirements::default(),
        );
        assert_eq!(
            (v.outcome, v.reason.as_deref()),
            (Outcome::Failed, Some("AccessDenied"))
        );
        let v = judge(
            Some(&status("True", "Described", 2, true)),
            Some(3),
            &Requirements::default(),
        );
        assert_eq!(v.outcome, Outcome::Pending);
        assert!(v.message.contains("generation 3"), "{}", v.message);
        assert_eq!(
            judge(None, Some(1), &Requirements::default()).outcome,
            Outcome::Pending
        );
        let v = judge(
            Some(&status("False", "RequirementsNotMet", 1, false)),
            Some(1),
            &needs("authModes=OAuth2"),
        );
        assert_eq!(v.outcome, Outcome::RequirementsNotMet);
    }

    #[test]
    fn requirements_parse_and_merge_without_repeats() {
        let merged = merge(
            Some(&needs("authModes=OAuth2")),
            &needs("authModes=OAuth2,Basic"),
        );
        assert_eq!(merged.auth_modes, [AuthMode::OAuth2, AuthMode::Basic]);
        assert_eq!(needs("usableAs=Source").usable_as, [Usage::Source]);
        assert_eq!(needs("customAuthTypes=hmac").custom_auth_types, ["hmac"]);
        assert!(
            parse_requirement("authModes=Kerberos")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(
            parse_requirement("colour=blue")
                .unwrap_err()
                .contains("unknown requirement")
        );
        assert_eq!(
            parse_requirement(" colour =blue").unwrap_err(),
            "unknown requirement \"colour\": use authModes, oauth2GrantTypes, customAuthTypes or usableAs"
        );
        assert_eq!(
            needs("oauth2GrantTypes=JWT_BEARER").oauth2_grant_types,
            [OAuth2GrantType::JWT_BEARER]
        );
        assert!(parse_requirement("usable_as=Source").is_err());
        assert!(parse_requirement("authModes").is_err());
        assert!(parse_requirement("authModes=").is_err());
    }

    #[test]
    fn only_ready_and_valid_pass() {
        let passing: Vec<Outcome> = Outcome::ALL.into_iter().filter(|o| o.passed()).collect();
        assert_eq!(passing, [Outcome::Ready, Outcome::Valid]);
    }
}
