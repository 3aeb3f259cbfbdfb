//! Pure: an AppFlowAccount's status from what the operator found: whether its role can be
//! assumed, the namespaces it matches and its conflicts with other bindings.

use jiff::Timestamp;

use super::crd::AppFlowAccountStatus;
use super::identity::Identity;
use super::resolve::Matched;
use crate::condition::{self, ConditionStatus};

/// What the operator found when it tried the binding's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assumption {
    /// Not tried yet.
    Pending,
    /// AssumeRole succeeded (or the operator's own identity answered) in this account.
    Succeeded { account_id: Option<String> },
    /// AssumeRole was refused or failed: STS's code and message.
    Failed { message: String },
}

/// Everything a binding's status is computed from.
pub struct BindingObservation<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a AppFlowAccountStatus>,
    pub identity: &'a Identity,
    pub assumption: &'a Assumption,
    pub matched: &'a Matched,
    pub selector_problem: Option<&'a str>,
    pub now: Timestamp,
}

/// Conflicts listed in a message before the rest are counted.
const LISTED_CONFLICTS: usize = 10;

/// Pure: the binding's new status; conditions are merged, so `lastTransitionTime` moves only
/// when a condition's status flips.
pub fn compute(obs: &BindingObservation) -> AppFlowAccountStatus {
    let mut status = obs.previous.cloned().unwrap_or_default();
    status.observed_generation = obs.generation;
    status.namespace_count = i32::try_from(obs.matched.namespaces).ok();
    let mut set = |type_: &str, value: ConditionStatus, reason: &str, message: &str| {
        condition::merge(
            &mut status.conditions,
            type_,
            value,
            reason,
            message,
            obs.generation,
            obs.now,
        );
    };

    let (assumed, assumed_reason, assumed_message) = match (obs.identity, obs.assumption) {
        (Identity::Operator, Assumption::Failed { message }) => (
            ConditionStatus::False,
            "AccessDenied",
            format!("the operator's own identity cannot be used: {message}"),
        ),
        (Identity::Operator, _) => (
            ConditionStatus::True,
            "OperatorIdentity",
            "no role to assume: the operator's own identity describes these namespaces".to_owned(),
        ),
        (Identity::Role(role), Assumption::Pending) => (
            ConditionStatus::Unknown,
            "Pending",
            format!("role {} has not been tried yet", role.arn),
        ),
        (Identity::Role(role), Assumption::Succeeded { account_id }) => (
            ConditionStatus::True,
            "Assumed",
            format!(
                "role {} was assumed in account {}",
                role.arn,
                account_id.as_deref().unwrap_or("(unknown)")
            ),
        ),
        (Identity::Role(role), Assumption::Failed { message }) => (
            ConditionStatus::False,
            "AccessDenied",
            format!("cannot assume role {}: {message}", role.arn),
        ),
    };
    set("RoleAssumed", assumed, assumed_reason, &assumed_message);

    let conflicts = &obs.matched.conflicts;
    let conflict_message = (!conflicts.is_empty()).then(|| {
        let listed: Vec<String> = conflicts
            .iter()
            .take(LISTED_CONFLICTS)
            .map(|(namespace, others)| {
                let others: Vec<&str> = others.iter().map(String::as_str).collect();
                format!("{namespace} (also AppFlowAccount {})", others.join(", "))
            })
            .collect();
        let more = conflicts.len().saturating_sub(LISTED_CONFLICTS);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(
            "namespaces bound by more than one AppFlowAccount: {}{more}; their ConnectorInfos are described with neither binding until exactly one matches them",
            listed.join(", ")
        )
    });
    match &conflict_message {
        Some(message) => set(
            "Conflicted",
            ConditionStatus::True,
            "NamespaceConflict",
            message,
        ),
        None => set(
            "Conflicted",
            ConditionStatus::False,
            "NoConflict",
            "no namespace this binding matches is matched by another",
        ),
    }

    let (ready, reason, message) = if let Some(problem) = obs.selector_problem {
        (
            ConditionStatus::False,
            "InvalidSelector",
            format!("spec.namespaceSelector selects nothing: {problem}"),
        )
    } else if assumed != ConditionStatus::True {
        (assumed, assumed_reason, assumed_message.clone())
    } else if let Some(message) = conflict_message {
        (ConditionStatus::False, "NamespaceConflict", message)
    } else {
        (
            ConditionStatus::True,
            "Bound",
            format!(
                "{} namespace(s) are described with this binding's identity",
                obs.matched.namespaces
            ),
        )
    };
    set("Ready", ready, reason, &message);
    status.conditions.sort_by_key(|c| {
        ["Ready", "RoleAssumed", "Conflicted"]
            .iter()
            .position(|t| *t == c.type_)
            .unwrap_or(usize::MAX)
    });

    status.account_id = match obs.assumption {
        Assumption::Succeeded {
            account_id: Some(id),
        } => Some(id.clone()),
        _ => obs
            .identity
            .known_account()
            .map(str::to_owned)
            .or_else(|| status.account_id.take()),
    };
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::identity::Role;
    use std::collections::{BTreeMap, BTreeSet};

    fn role() -> Identity {
        Identity::Role(Role {
            arn: "arn:aws:iam::222222222222:role/observer".into(),
            external_id: None,
            session_duration: None,
        })
    }

    fn compute_with(
        previous: Option<&AppFlowAccountStatus>,
        assumption: &Assumption,
        matched: &Matched,
        now: Timestamp,
    ) -> AppFlowAccountStatus {
        compute(&BindingObservation {
            generation: Some(2),
            previous,
            identity: &role(),
            assumption,
            matched,
            selector_problem: None,
            now,
        })
    }

    fn condition<'a>(status: &'a AppFlowAccountStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
        let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.reason.as_str(), c.message.as_str())
    }

    #[test]
    fn an_assumed_role_without_conflicts_is_ready() {
        let matched = Matched {
            namespaces: 3,
            conflicts: BTreeMap::new(),
        };
        let ok = Assumption::Succeeded {
            account_id: Some("222222222222".into()),
        };
        let status = compute_with(None, &ok, &matched, Timestamp::UNIX_EPOCH);
        assert_eq!(condition(&status, "Ready").0, "True");
        assert_eq!(condition(&status, "RoleAssumed").1, "Assumed");
        assert_eq!(condition(&status, "Conflicted").0, "False");
        assert_eq!(status.account_id.as_deref(), Some("222222222222"));
        assert_eq!(status.namespace_count, Some(3));
        assert_eq!(status.observed_generation, Some(2));
        let order: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(order, ["Ready", "RoleAssumed", "Conflicted"]);
    }

    #[test]
    fn a_refused_role_says_why_and_keeps_transition_times_while_unchanged() {
        let matched = Matched::default();
        let refused = Assumption::Failed {
            message: "AccessDenied: User: arn:aws:iam::123456789012:user/op is not authorized"
                .into(),
        };
        let first = compute_with(None, &refused, &matched, Timestamp::UNIX_EPOCH);
        let (status, reason, message) = condition(&first, "Ready");
        assert_eq!((status, reason), ("False", "AccessDenied"));
        assert!(
            message.contains(
                "cannot assume role arn:aws:iam::222222222222:role/observer: AccessDenied"
            ),
            "{message}"
        );
        // The account is still known from the ARN.
        assert_eq!(first.account_id.as_deref(), Some("222222222222"));
        let later = Timestamp::from_second(600).unwrap();
        let again = compute_with(Some(&first), &refused, &matched, later);
        assert_eq!(again, first, "nothing changed, nothing to write");
        let ok = Assumption::Succeeded {
            account_id: Some("222222222222".into()),
        };
        let recovered = compute_with(Some(&again), &ok, &matched, later);
        let ready = recovered
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.last_transition_time.0, later);
    }

    #[test]
    fn conflicts_are_listed_and_make_the_binding_not_ready() {
        let conflicts: BTreeMap<String, BTreeSet<String>> = (0..12)
            .map(|i| (format!("ns-{i:02}"), BTreeSet::from(["other".to_owned()])))
            .collect();
        let matched = Matched {
            namespaces: 12,
            conflicts,
        };
        let ok = Assumption::Succeeded { account_id: None };
        let status = compute_with(None, &ok, &matched, Timestamp::UNIX_EPOCH);
        let (value, reason, message) = condition(&status, "Ready");
        assert_eq!((value, reason), ("False", "NamespaceConflict"));
        assert!(
            message.contains("ns-00 (also AppFlowAccount other)"),
            "{message}"
        );
        assert!(message.contains("and 2 more"), "{message}");
        assert_eq!(condition(&status, "Conflicted").0, "True");
    }

    #[test]
    fn operator_identity_and_bad_selectors() {
        let matched = Matched::default();
        let status = compute(&BindingObservation {
            generation: Some(1),
            previous: None,
            identity: &Identity::Operator,
            assumption: &Assumption::Succeeded {
                account_id: Some("123456789012".into()),
            },
            matched: &matched,
            selector_problem: Some("Invalid expression operator"),
            now: Timestamp::UNIX_EPOCH,
        });
        assert_eq!(condition(&status, "RoleAssumed").1, "OperatorIdentity");
        assert_eq!(condition(&status, "Ready").1, "InvalidSelector");
        assert_eq!(status.account_id.as_deref(), Some("123456789012"));
    }
}
