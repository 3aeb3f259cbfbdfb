//! Pure: an AppFlowAccount's status from what the operator found: whether its role can be
//! assumed, the namespaces it matches and its conflicts with other bindings.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::condition::{AccountConditionType, AccountReason};
use super::crd::AppFlowAccountStatus;
use super::identity::Identity;
use super::resolve::Matched;
use crate::condition::{self, ConditionSetter, ConditionStatus};

use AccountConditionType::{Conflicted, Ready, RoleAssumed};

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

/// One condition as judged, before it is merged into status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub status: ConditionStatus,
    pub reason: AccountReason,
    pub message: String,
}

impl Judged {
    fn new(status: ConditionStatus, reason: AccountReason, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Pure: the binding's new status; conditions are merged, so `lastTransitionTime` moves only
/// when a condition's status flips.
pub fn compute(obs: &BindingObservation) -> AppFlowAccountStatus {
    let mut status = obs.previous.cloned().unwrap_or_default();
    status.observed_generation = obs.generation;
    status.namespace_count = i32::try_from(obs.matched.namespaces).ok();
    let role = role_assumed(obs.identity, obs.assumption);
    let conflicts = conflict_message(&obs.matched.conflicts);
    let conflicted = conflicted(conflicts.as_deref());
    let ready = ready(
        obs.selector_problem,
        &role,
        conflicts,
        obs.matched.namespaces,
    );
    let mut set = ConditionSetter::new(&mut status.conditions, obs.generation, obs.now);
    for (type_, judged) in [
        (RoleAssumed, role),
        (Conflicted, conflicted),
        (Ready, ready),
    ] {
        set.apply(type_, judged.status, judged.reason, &judged.message);
    }
    condition::sort::<AccountConditionType>(&mut status.conditions);
    status.account_id = account_id(obs.identity, obs.assumption, status.account_id.take());
    status
}

/// `RoleAssumed`: whether the binding's identity answered when it was tried.
pub fn role_assumed(identity: &Identity, assumption: &Assumption) -> Judged {
    use AccountReason::{AccessDenied, Assumed, OperatorIdentity, Pending};
    use ConditionStatus::{False, True, Unknown};
    match (identity, assumption) {
        (Identity::Operator, Assumption::Failed { message }) => Judged::new(
            False,
            AccessDenied,
            format!("the operator's own identity cannot be used: {message}"),
        ),
        (Identity::Operator, _) => Judged::new(
            True,
            OperatorIdentity,
            "no role to assume: the operator's own identity describes these namespaces",
        ),
        (Identity::Role(role), Assumption::Pending) => Judged::new(
            Unknown,
            Pending,
            format!("role {} has not been tried yet", role.arn),
        ),
        (Identity::Role(role), Assumption::Succeeded { account_id }) => Judged::new(
            True,
            Assumed,
            format!(
                "role {} was assumed in account {}",
                role.arn,
                account_id.as_deref().unwrap_or("(unknown)")
            ),
        ),
        (Identity::Role(role), Assumption::Failed { message }) => Judged::new(
            False,
            AccessDenied,
            format!("cannot assume role {}: {message}", role.arn),
        ),
    }
}

/// The message of a binding whose namespaces other bindings match too (`None` without
/// conflicts): the first [`LISTED_CONFLICTS`] with the other bindings, then how many more.
pub fn conflict_message(conflicts: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    if conflicts.is_empty() {
        return None;
    }
    let listed: Vec<String> = conflicts
        .iter()
        .take(LISTED_CONFLICTS)
        .map(|(namespace, others)| {
            let others: Vec<&str> = others.iter().map(String::as_str).collect();
            format!("{namespace} (also AppFlowAccount {})", others.join(", "))
        })
        .collect();
    let more = conflicts.len().saturating_sub(LISTED_CONFLICTS);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "namespaces bound by more than one AppFlowAccount: {}{more}; their ConnectorInfos are described with neither binding until exactly one matches them",
        listed.join(", ")
    ))
}

/// `Conflicted`, from [`conflict_message`].
pub fn conflicted(conflict_message: Option<&str>) -> Judged {
    match conflict_message {
        Some(message) => Judged::new(
            ConditionStatus::True,
            AccountReason::NamespaceConflict,
            message,
        ),
        None => Judged::new(
            ConditionStatus::False,
            AccountReason::NoConflict,
            "no namespace this binding matches is matched by another",
        ),
    }
}

/// `Ready`: the first thing that stops the binding from serving its namespaces (an unusable
/// selector, then its identity, then conflicts), else how many namespaces it serves.
pub fn ready(
    selector_problem: Option<&str>,
    role: &Judged,
    conflict_message: Option<String>,
    namespaces: usize,
) -> Judged {
    if let Some(problem) = selector_problem {
        return Judged::new(
            ConditionStatus::False,
            AccountReason::InvalidSelector,
            format!("spec.namespaceSelector selects nothing: {problem}"),
        );
    }
    if role.status != ConditionStatus::True {
        return role.clone();
    }
    match conflict_message {
        Some(message) => Judged::new(
            ConditionStatus::False,
            AccountReason::NamespaceConflict,
            message,
        ),
        None => Judged::new(
            ConditionStatus::True,
            AccountReason::Bound,
            format!("{namespaces} namespace(s) are described with this binding's identity"),
        ),
    }
}

/// `status.accountId`: the account the role was assumed in, else the one its ARN names, else
/// the one known before.
fn account_id(
    identity: &Identity,
    assumption: &Assumption,
    previous: Option<String>,
) -> Option<String> {
    match assumption {
        Assumption::Succeeded {
            account_id: Some(id),
        } => Some(id.clone()),
        _ => identity.known_account().map(str::to_owned).or(previous),
    }
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

    fn judged(j: &Judged) -> (ConditionStatus, &str, &str) {
        (j.status, j.reason.as_str(), j.message.as_str())
    }

    #[test]
    fn role_assumed_for_each_identity_and_assumption() {
        use ConditionStatus::{False, True, Unknown};
        let failed = Assumption::Failed {
            message: "AccessDenied: no".into(),
        };
        let ok = Assumption::Succeeded {
            account_id: Some("222222222222".into()),
        };
        let unknown_account = Assumption::Succeeded { account_id: None };
        let arn = "arn:aws:iam::222222222222:role/observer";
        let cases = [
            (
                Identity::Operator,
                &failed,
                (
                    False,
                    "AccessDenied",
                    "the operator's own identity cannot be used: AccessDenied: no".to_owned(),
                ),
            ),
            (
                Identity::Operator,
                &Assumption::Pending,
                (
                    True,
                    "OperatorIdentity",
                    "no role to assume: the operator's own identity describes these namespaces"
                        .to_owned(),
                ),
            ),
            (
                role(),
                &Assumption::Pending,
                (
                    Unknown,
                    "Pending",
                    format!("role {arn} has not been tried yet"),
                ),
            ),
            (
                role(),
                &ok,
                (
                    True,
                    "Assumed",
                    format!("role {arn} was assumed in account 222222222222"),
                ),
            ),
            (
                role(),
                &unknown_account,
                (
                    True,
                    "Assumed",
                    format!("role {arn} was assumed in account (unknown)"),
                ),
            ),
            (
                role(),
                &failed,
                (
                    False,
                    "AccessDenied",
                    format!("cannot assume role {arn}: AccessDenied: no"),
                ),
            ),
        ];
        for (identity, assumption, (status, reason, message)) in cases {
            let got = role_assumed(&identity, assumption);
            assert_eq!(
                judged(&got),
                (status, reason, message.as_str()),
                "{identity:?} {assumption:?}"
            );
        }
    }

    #[test]
    fn conflicts_list_ten_then_count_the_rest() {
        assert_eq!(conflict_message(&BTreeMap::new()), None);
        let conflicts = |n: usize| -> BTreeMap<String, BTreeSet<String>> {
            (0..n)
                .map(|i| {
                    let others = BTreeSet::from(["b".to_owned(), "a".to_owned()]);
                    (format!("ns-{i:02}"), others)
                })
                .collect()
        };
        let one = conflict_message(&conflicts(1)).unwrap();
        assert_eq!(
            one,
            "namespaces bound by more than one AppFlowAccount: ns-00 (also AppFlowAccount a, b); their ConnectorInfos are described with neither binding until exactly one matches them"
        );
        let ten = conflict_message(&conflicts(10)).unwrap();
        assert!(
            ten.contains("ns-09 (also") && !ten.contains(" more;"),
            "{ten}"
        );
        let eleven = conflict_message(&conflicts(11)).unwrap();
        assert!(!eleven.contains("ns-10"), "{eleven}");
        assert!(
            eleven.contains("ns-09 (also AppFlowAccount a, b) and 1 more;"),
            "{eleven}"
        );
    }

    #[test]
    fn conflicted_is_true_with_the_message_or_false_without() {
        assert_eq!(
            judged(&conflicted(Some("two bindings"))),
            (ConditionStatus::True, "NamespaceConflict", "two bindings")
        );
        assert_eq!(
            judged(&conflicted(None)),
            (
                ConditionStatus::False,
                "NoConflict",
                "no namespace this binding matches is matched by another"
            )
        );
    }

    #[test]
    fn ready_names_the_first_obstacle_selector_then_role_then_conflict() {
        let assumed = role_assumed(
            &role(),
            &Assumption::Succeeded {
                account_id: Some("222222222222".into()),
            },
        );
        let refused = role_assumed(
            &role(),
            &Assumption::Failed {
                message: "no".into(),
            },
        );
        let pending = role_assumed(&role(), &Assumption::Pending);
        let conflict = || Some("clash".to_owned());
        let bad = Some("bad operator");

        let got = ready(bad, &refused, conflict(), 3);
        assert_eq!(
            judged(&got),
            (
                ConditionStatus::False,
                "InvalidSelector",
                "spec.namespaceSelector selects nothing: bad operator"
            )
        );
        assert_eq!(ready(None, &refused, conflict(), 3), refused);
        assert_eq!(
            ready(None, &pending, None, 3),
            pending,
            "Unknown while pending"
        );
        assert_eq!(
            judged(&ready(None, &assumed, conflict(), 3)),
            (ConditionStatus::False, "NamespaceConflict", "clash")
        );
        assert_eq!(
            judged(&ready(None, &assumed, None, 3)),
            (
                ConditionStatus::True,
                "Bound",
                "3 namespace(s) are described with this binding's identity"
            )
        );
    }

    #[test]
    fn the_account_comes_from_the_assumption_then_the_arn_then_before() {
        let before = || Some("999999999999".to_owned());
        let ok = Assumption::Succeeded {
            account_id: Some("333333333333".into()),
        };
        assert_eq!(
            account_id(&role(), &ok, before()).as_deref(),
            Some("333333333333")
        );
        let unknown = Assumption::Succeeded { account_id: None };
        assert_eq!(
            account_id(&role(), &unknown, before()).as_deref(),
            Some("222222222222"),
            "the role's ARN names it"
        );
        assert_eq!(
            account_id(&Identity::Operator, &Assumption::Pending, before()).as_deref(),
            Some("999999999999"),
            "kept"
        );
        assert_eq!(
            account_id(&Identity::Operator, &Assumption::Pending, None),
            None
        );
    }
}
