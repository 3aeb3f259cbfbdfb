//! Typed condition types and statuses over `metav1.Condition`, whose fields are strings on
//! the wire. The one list of condition types, in the order status shows them.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::ConnectorInfoStatus;

/// The conditions a ConnectorInfo carries (docs/design.md, "Conditions", gives their meaning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionType {
    Ready,
    Synced,
    RequirementsMet,
    Reconciling,
    Stalled,
}

impl ConditionType {
    /// Every type, in the order status lists them.
    pub const ALL: [ConditionType; 5] = [
        ConditionType::Ready,
        ConditionType::Synced,
        ConditionType::RequirementsMet,
        ConditionType::Reconciling,
        ConditionType::Stalled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Synced => "Synced",
            ConditionType::RequirementsMet => "RequirementsMet",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
        }
    }

    pub fn parse(text: &str) -> Option<ConditionType> {
        match text {
            "Ready" => Some(ConditionType::Ready),
            "Synced" => Some(ConditionType::Synced),
            "RequirementsMet" => Some(ConditionType::RequirementsMet),
            "Reconciling" => Some(ConditionType::Reconciling),
            "Stalled" => Some(ConditionType::Stalled),
            _ => None,
        }
    }

    /// Its position in [`ConditionType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `True`, `False` or `Unknown`, as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const ALL: [ConditionStatus; 3] = [
        ConditionStatus::True,
        ConditionStatus::False,
        ConditionStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// Its position in [`ConditionStatus::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Anything but `True`/`False` reads as `Unknown`.
    pub fn parse(text: &str) -> ConditionStatus {
        match text {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// The condition of this type, if present.
pub fn find(status: &ConnectorInfoStatus, type_: ConditionType) -> Option<&Condition> {
    status.conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// The status of the condition of this type, if present.
pub fn status_of(status: &ConnectorInfoStatus, type_: ConditionType) -> Option<ConditionStatus> {
    find(status, type_).map(|c| ConditionStatus::parse(&c.status))
}

/// Merges one condition into a list, as the conventions ask: `lastTransitionTime` is kept
/// unless the status flips; every condition carries the generation it describes.
pub fn merge(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let existing = conditions.iter().position(|c| c.type_ == type_);
    let transition_time = match existing.map(|i| &conditions[i]) {
        Some(old) if old.status == status.as_str() => old.last_transition_time.clone(),
        _ => Time(now),
    };
    let new = Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: transition_time,
    };
    match existing {
        Some(i) => conditions[i] = new,
        None => conditions.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (position, type_) in ConditionType::ALL.into_iter().enumerate() {
            assert_eq!(ConditionType::parse(type_.as_str()), Some(type_));
            assert_eq!(type_.index(), position);
        }
        assert_eq!(ConditionType::parse("ready"), None);
        for (position, status) in ConditionStatus::ALL.into_iter().enumerate() {
            assert_eq!(status.index(), position);
        }
        assert_eq!(ConditionType::parse("Healthy"), None);
        for status in ConditionStatus::ALL {
            assert_eq!(ConditionStatus::parse(status.as_str()), status);
        }
        assert_eq!(ConditionStatus::parse("maybe"), ConditionStatus::Unknown);
        assert_eq!(ConditionStatus::from(true), ConditionStatus::True);
    }
}
