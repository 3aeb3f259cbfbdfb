//! Typed conditions over `metav1.Condition`, whose fields are strings on the wire: the
//! ConnectorInfo condition types, the statuses, and the one toolkit both resources set and
//! read their conditions with (AppFlowAccount's types are in `account::condition`).
//!
//! Wire strings and lists are derived from the enums (declaration order is status order), so
//! a type or status cannot be spelled two ways.

use std::marker::PhantomData;
use std::str::FromStr;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition as MetaCondition, Time};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

use crate::crd::ConnectorInfoStatus;
use crate::intern::{self, SharedStr};
use crate::reason::Reason;

/// `metav1.Condition`, field for field and with its schema, but with shared strings: the
/// controller's cache holds each distinct type, status, reason and message once for the whole
/// fleet ([`Condition::share`]) instead of once per object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub last_transition_time: Time,
    #[serde(default)]
    pub message: SharedStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub reason: SharedStr,
    pub status: SharedStr,
    #[serde(rename = "type")]
    pub type_: SharedStr,
}

impl Condition {
    /// Makes its strings the shared copies (see [`intern`]).
    pub fn share(&mut self) {
        for text in [
            &mut self.message,
            &mut self.reason,
            &mut self.status,
            &mut self.type_,
        ] {
            intern::share(text);
        }
    }
}

/// The schema is Kubernetes' own, so the CRDs say exactly what `metav1.Condition` says.
impl schemars::JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        MetaCondition::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        MetaCondition::json_schema(generator)
    }
}

/// A resource's condition types: each one's wire name, the order status lists them in (their
/// declaration order), and the typed reasons they carry.
pub trait ConditionKind:
    Copy + PartialEq + Into<&'static str> + FromStr + VariantArray + 'static
{
    /// The reasons this resource's conditions carry.
    type Reason: Copy + Into<&'static str>;

    /// The type as status spells it.
    fn as_str(self) -> &'static str {
        self.into()
    }

    /// A type as written (`None` for an unknown type, or another resource's).
    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// Its place in the order status lists the conditions in.
    fn position(self) -> usize {
        Self::VARIANTS
            .iter()
            .position(|type_| *type_ == self)
            .unwrap_or(usize::MAX)
    }
}

/// The conditions a ConnectorInfo carries (docs/design.md, "Conditions", gives their meaning).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
pub enum ConditionType {
    Ready,
    Synced,
    RequirementsMet,
    Reconciling,
    Stalled,
}

impl ConditionKind for ConditionType {
    type Reason = Reason;
}

impl ConditionType {
    /// Every type, in the order status lists them.
    pub const ALL: [ConditionType; ConditionType::VARIANTS.len()] =
        first_variants(ConditionType::VARIANTS);

    /// Its position in [`ConditionType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `True`, `False` or `Unknown`, as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString, VariantArray)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const ALL: [ConditionStatus; ConditionStatus::VARIANTS.len()] =
        first_variants(ConditionStatus::VARIANTS);

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Its position in [`ConditionStatus::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Anything but `True`/`False` reads as `Unknown`.
    pub fn parse(text: &str) -> ConditionStatus {
        text.parse().unwrap_or(ConditionStatus::Unknown)
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

/// The first `N` of an enum's derived variants, as an array (what the `ALL` lists are, so
/// they can be iterated by value and sized in constants).
pub(crate) const fn first_variants<T: Copy, const N: usize>(variants: &[T]) -> [T; N] {
    match variants.first_chunk() {
        Some(first) => *first,
        None => panic!("fewer variants than asked for"),
    }
}

/// The condition of this type in a list, if present.
pub fn find_in<T: ConditionKind>(conditions: &[Condition], type_: T) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// The status of the condition of this type in a list, if present.
pub fn status_in<T: ConditionKind>(conditions: &[Condition], type_: T) -> Option<ConditionStatus> {
    find_in(conditions, type_).map(|c| ConditionStatus::parse(&c.status))
}

/// The ConnectorInfo condition of this type, if present.
pub fn find(status: &ConnectorInfoStatus, type_: ConditionType) -> Option<&Condition> {
    find_in(&status.conditions, type_)
}

/// The status of the ConnectorInfo condition of this type, if present.
pub fn status_of(status: &ConnectorInfoStatus, type_: ConditionType) -> Option<ConditionStatus> {
    status_in(&status.conditions, type_)
}

/// Orders conditions as their kind lists its types; types it does not know go last, in the
/// order they were in.
pub fn sort<T: ConditionKind>(conditions: &mut [Condition]) {
    conditions.sort_by_key(|c| T::parse(&c.type_).map_or(usize::MAX, T::position));
}

/// Merges one condition into a list, as the conventions ask (and stackable's operator-rs
/// does): `lastTransitionTime` is kept unless the status flips; every condition carries the
/// generation it describes.
pub fn merge<T: ConditionKind>(
    conditions: &mut Vec<Condition>,
    type_: T,
    status: ConditionStatus,
    reason: T::Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let existing = conditions.iter().position(|c| c.type_ == type_.as_str());
    let transition_time = match existing.map(|i| &conditions[i]) {
        Some(old) if old.status == status.as_str() => old.last_transition_time.clone(),
        _ => Time(now),
    };
    let reason: &'static str = reason.into();
    let new = Condition {
        type_: type_.as_str().into(),
        status: status.as_str().into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: transition_time,
    };
    match existing {
        Some(i) => conditions[i] = new,
        None => conditions.push(new),
    }
}

/// Sets one resource's conditions, each merged by [`merge`] with the generation and time of
/// one observation.
pub struct ConditionSetter<'a, T> {
    conditions: &'a mut Vec<Condition>,
    generation: Option<i64>,
    now: Timestamp,
    kind: PhantomData<T>,
}

impl<'a, T: ConditionKind> ConditionSetter<'a, T> {
    pub fn new(
        conditions: &'a mut Vec<Condition>,
        generation: Option<i64>,
        now: Timestamp,
    ) -> Self {
        Self {
            conditions,
            generation,
            now,
            kind: PhantomData,
        }
    }

    /// Merges one condition: `lastTransitionTime` is kept unless the status flips.
    pub fn apply(
        &mut self,
        type_: T,
        status: impl Into<ConditionStatus>,
        reason: T::Reason,
        message: &str,
    ) {
        merge(
            self.conditions,
            type_,
            status.into(),
            reason,
            message,
            self.generation,
            self.now,
        );
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
            assert_eq!(type_.position(), position);
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

    #[test]
    fn wire_strings_are_the_ones_kubernetes_and_the_docs_spell() {
        let types: Vec<&str> = ConditionType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "Ready",
                "Synced",
                "RequirementsMet",
                "Reconciling",
                "Stalled"
            ]
        );
        let statuses: Vec<&str> = ConditionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(statuses, ["True", "False", "Unknown"]);
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn merging_keeps_the_transition_time_until_the_status_flips() {
        let mut conditions = Vec::new();
        let mut set = ConditionSetter::new(&mut conditions, Some(1), at(10));
        set.apply(ConditionType::Synced, true, Reason::Described, "first");
        let mut set = ConditionSetter::new(&mut conditions, Some(2), at(20));
        set.apply(ConditionType::Synced, true, Reason::Described, "second");
        let synced = find_in(&conditions, ConditionType::Synced).unwrap();
        assert_eq!(synced.last_transition_time.0, at(10), "same status: kept");
        assert_eq!(
            (synced.message.as_str(), synced.observed_generation),
            ("second", Some(2)),
            "everything else is replaced"
        );
        let mut set = ConditionSetter::new(&mut conditions, Some(2), at(30));
        set.apply(ConditionType::Synced, false, Reason::Throttled, "slow down");
        let synced = find_in(&conditions, ConditionType::Synced).unwrap();
        assert_eq!(synced.last_transition_time.0, at(30), "flipped: moved");
        assert_eq!(
            (synced.status.as_str(), synced.reason.as_str()),
            ("False", "Throttled")
        );
        assert_eq!(conditions.len(), 1, "merged, not appended");
        assert_eq!(
            status_in(&conditions, ConditionType::Synced),
            Some(ConditionStatus::False)
        );
        assert_eq!(status_in(&conditions, ConditionType::Ready), None);
    }

    #[test]
    fn sorting_follows_the_kind_and_puts_unknown_types_last() {
        let mut conditions = Vec::new();
        let mut set = ConditionSetter::new(&mut conditions, None, at(0));
        set.apply(
            ConditionType::Stalled,
            ConditionStatus::Unknown,
            Reason::Described,
            "",
        );
        set.apply(ConditionType::Ready, true, Reason::Described, "");
        conditions.insert(
            0,
            Condition {
                type_: "Available".into(),
                ..conditions[0].clone()
            },
        );
        sort::<ConditionType>(&mut conditions);
        let order: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(order, ["Ready", "Stalled", "Available"]);
    }
}
