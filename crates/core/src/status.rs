//! Pure: (spec, describe outcome, previous status, now) -> new status + the events to emit.
//!
//! Conditions are merged into the previous ones, so `lastTransitionTime` only moves when a
//! condition's status flips, and nothing here knows about Kubernetes clients or AWS calls.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::condition::{self, ConditionStatus, ConditionType};
use crate::crd::{ConnectorInfoSpec, ConnectorInfoStatus};
use crate::diff::{self, Change};
use crate::intern::SharedStr;
use crate::mirror::ConnectorConfiguration;
use crate::outcome::{DescribeFailure, Outcome};
use crate::reason::{Reason, Retry};
use crate::requirements;

use ConditionType::{Ready, Reconciling, RequirementsMet, Stalled, Synced};

/// The Kubernetes limit for an Event's note, in bytes.
pub const EVENT_NOTE_MAX_BYTES: usize = 1024;

/// The most the mirrored configuration may take in status, as JSON. etcd refuses objects over
/// 1.5 MiB and every byte is held by every watcher; a status over this would fail its write
/// forever (or burden the cluster), so what AWS added beyond its model goes first.
pub const CONFIGURATION_MAX_BYTES: usize = 256 * 1024;

/// Everything the status depends on.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub spec: &'a ConnectorInfoSpec,
    /// The refresh request this observation answers: the annotation's value when the answer
    /// started at or after the request was made, else the request handled before
    /// (`lastHandledRefresh` records it).
    pub refresh_request: Option<&'a str>,
    pub previous: Option<&'a ConnectorInfoStatus>,
    pub outcome: &'a Outcome,
    pub refresh_interval: Duration,
    /// A retried failure older than this also sets `Stalled` (`--stalled-after`).
    pub stalled_after: Duration,
    pub now: Timestamp,
    /// Who answered a successful describe.
    pub origin: Origin<'a>,
}

/// Who describes an object: the account and the binding that chose it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The AWS account, when known.
    pub account_id: Option<&'a str>,
    /// The AppFlowAccount binding; `None` for the operator's identity in an unbound namespace.
    pub binding: Option<&'a str>,
}

impl Origin<'_> {
    /// Whether a status mirrors an answer from somewhere else: another binding, or another
    /// account (when both are known).
    pub fn differs_from(&self, status: &ConnectorInfoStatus) -> bool {
        let other_account = matches!(
            (self.account_id, status.account_id.as_deref()),
            (Some(ours), Some(theirs)) if ours != theirs
        );
        self.binding != status.account_binding.as_deref() || other_account
    }
}

/// An Event's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

/// A Kubernetes Event to publish for a transition (never for a steady state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub severity: Severity,
    pub reason: Reason,
    pub note: String,
}

impl Transition {
    /// The note cut to the API's limit of 1024 bytes, on a character boundary.
    pub fn note_within_limit(&self) -> &str {
        truncate_bytes(&self.note, EVENT_NOTE_MAX_BYTES)
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    pub status: ConnectorInfoStatus,
    pub events: Vec<Transition>,
    /// The reason that decides when to describe again.
    pub reason: Reason,
}

impl Computed {
    pub fn retry(&self) -> Retry {
        self.reason.retry()
    }

    pub fn is_ready(&self) -> bool {
        condition::status_of(&self.status, Ready) == Some(ConditionStatus::True)
    }
}

/// The status to write for an observation, and the Events its transitions call for.
pub fn compute(obs: &Observation) -> Computed {
    let previous = obs.previous.cloned().unwrap_or_default();
    let mut status = previous.clone();
    status.observed_generation = obs.generation;
    status.last_handled_refresh = obs.refresh_request.map(SharedStr::from);
    let synced = match obs.outcome {
        Ok(config) => record_described(obs, &previous, &mut status, config),
        Err(error) => record_failure(obs, &previous, &mut status, error),
    };
    condition::sort::<ConditionType>(&mut status.conditions);
    let events = events(&previous, &status, &synced);
    Computed {
        status,
        events,
        reason: synced.reason,
    }
}

/// What one observation did: the reason that decides the retry, what `Synced` carries and the
/// note of its Event, and the fields a describe changed in the mirrored configuration.
struct SyncResult {
    reason: Reason,
    synced_reason: Reason,
    synced_note: String,
    changes: Vec<Change>,
}

/// A successful describe: conditions from the requirements, the mirror, who answered, and when.
fn record_described(
    obs: &Observation,
    previous: &ConnectorInfoStatus,
    status: &mut ConnectorInfoStatus,
    config: &ConnectorConfiguration,
) -> SyncResult {
    let missing = obs
        .spec
        .requirements
        .as_ref()
        .map(|r| requirements::missing(r, config))
        .unwrap_or_default();
    let (mirror, trimmed) = fit_configuration(config, CONFIGURATION_MAX_BYTES);
    let described = described_message(obs.spec, trimmed);
    let mut set = ConditionSetter::new(&mut status.conditions, obs.generation, obs.now);
    let reason = set_described_conditions(&mut set, &missing, &described);
    if should_move_sync_time(obs, previous, &mirror) {
        status.last_synced_time = Some(Time(obs.now));
    }
    record_origin(obs.origin, previous, status);
    record_auth_modes(status, config);
    let changes = match trimmed {
        Some(Trimmed::NotMirrored) => Vec::new(),
        _ => record_configuration(previous, status, mirror.into_owned(), obs.now),
    };
    SyncResult {
        reason,
        synced_reason: Reason::Described,
        synced_note: described,
        changes,
    }
}

/// `Synced`'s message after a describe, saying what was left out to keep status small.
fn described_message(spec: &ConnectorInfoSpec, trimmed: Option<Trimmed>) -> String {
    let name = connector_name(spec);
    match trimmed {
        None => format!("DescribeConnector returned the configuration of {name}"),
        Some(trimmed) => format!(
            "DescribeConnector returned the configuration of {name}; {} to keep status under {} KiB",
            trimmed.says(),
            CONFIGURATION_MAX_BYTES / 1024
        ),
    }
}

/// The conditions after a describe; returns the reason that decides the retry.
fn set_described_conditions(
    set: &mut ConditionSetter,
    missing: &[String],
    described: &str,
) -> Reason {
    set.apply(Synced, true, Reason::Described, described);
    set.apply(Reconciling, false, Reason::Described, described);
    if missing.is_empty() {
        let all_met = "All requirements are met";
        set.apply(RequirementsMet, true, Reason::Described, all_met);
        set.apply(Ready, true, Reason::Described, described);
        set.apply(Stalled, false, Reason::Described, described);
        return Reason::Described;
    }
    let message = format!("Requirements not met: {}", missing.join("; "));
    set.apply(RequirementsMet, false, Reason::RequirementsNotMet, &message);
    set.apply(Ready, false, Reason::RequirementsNotMet, &message);
    set.apply(Stalled, true, Reason::RequirementsNotMet, &message);
    Reason::RequirementsNotMet
}

/// The account and binding that answered. A previous account id is kept when this answer
/// names none and the binding is the same.
fn record_origin(origin: Origin, previous: &ConnectorInfoStatus, status: &mut ConnectorInfoStatus) {
    let same_binding = origin.binding == previous.account_binding.as_deref();
    status.account_id = origin
        .account_id
        .map(SharedStr::from)
        .or_else(|| status.account_id.take().filter(|_| same_binding));
    status.account_binding = origin.binding.map(SharedStr::from);
}

/// The auth modes the connector supports, as a list and as `kubectl get`'s summary.
fn record_auth_modes(status: &mut ConnectorInfoStatus, config: &ConnectorConfiguration) {
    status.auth_modes = requirements::auth_modes(config);
    let summary: Vec<String> = status.auth_modes.iter().map(ToString::to_string).collect();
    status.auth_modes_summary = Some(summary.join(","))
        .filter(|summary| !summary.is_empty())
        .map(SharedStr::from);
}

/// Mirrors the configuration with its digest; returns what changed since the previous one
/// (and moves `lastChangedTime` on a change or the first mirror).
fn record_configuration(
    previous: &ConnectorInfoStatus,
    status: &mut ConnectorInfoStatus,
    mirror: ConnectorConfiguration,
    now: Timestamp,
) -> Vec<Change> {
    let mut changes = Vec::new();
    match previous.connector_configuration.as_deref() {
        Some(before) if *before != mirror => {
            changes = diff::diff(before, &mirror);
            status.last_changed_time = Some(Time(now));
        }
        Some(_) => {}
        None => status.last_changed_time = Some(Time(now)),
    }
    status.configuration_digest = Some(diff::digest(&mirror).into());
    status.connector_configuration = Some(std::sync::Arc::new(mirror));
    changes
}

/// A failed describe: conditions from the failure's reason. The last good configuration is
/// left as it was.
fn record_failure(
    obs: &Observation,
    previous: &ConnectorInfoStatus,
    status: &mut ConnectorInfoStatus,
    error: &DescribeFailure,
) -> SyncResult {
    let message = error.condition_message();
    let mut set = ConditionSetter::new(&mut status.conditions, obs.generation, obs.now);
    set.apply(Synced, false, error.reason, &message);
    set.apply(Ready, false, error.reason, &message);
    let retrying = error.reason.retry() == Retry::Backoff;
    set.apply(Reconciling, retrying, error.reason, &message);
    // A retried failure that has lasted past `stalled_after` needs a human too (GitOps
    // tools show Degraded instead of Progressing forever); retries go on.
    let persisted = retrying && failing_for(previous, obs.now) >= obs.stalled_after;
    let stalled = error.reason.is_stalled() || persisted;
    set.apply(Stalled, stalled, error.reason, &message);
    if !requirements_judged(previous, obs.generation) {
        set.apply(
            RequirementsMet,
            ConditionStatus::Unknown,
            Reason::AwaitingDescribe,
            "Requirements are checked once DescribeConnector succeeds",
        );
    }
    SyncResult {
        reason: error.reason,
        synced_reason: error.reason,
        synced_note: error.to_string(),
        changes: Vec::new(),
    }
}

/// Requirements judged for this generation stay valid across a failure; otherwise they are
/// unknown until a describe succeeds.
fn requirements_judged(previous: &ConnectorInfoStatus, generation: Option<i64>) -> bool {
    condition::find(previous, RequirementsMet).is_some_and(|c| {
        c.observed_generation == generation
            && ConditionStatus::parse(&c.status) != ConditionStatus::Unknown
    })
}

/// The Events of an observation: its transitions, after a ConfigurationChanged when the
/// configuration changed (and then a broken requirement says it broke with the change).
fn events(
    previous: &ConnectorInfoStatus,
    status: &ConnectorInfoStatus,
    synced: &SyncResult,
) -> Vec<Transition> {
    let mut events = transitions(
        previous,
        status,
        synced.synced_reason,
        synced.synced_note.clone(),
    );
    if synced.changes.is_empty() {
        return events;
    }
    for event in &mut events {
        if event.reason == Reason::RequirementsNotMet {
            event.note = format!("After a configuration change: {}", event.note);
        }
    }
    events.insert(
        0,
        Transition {
            severity: Severity::Normal,
            reason: Reason::ConfigurationChanged,
            note: diff::summary(&synced.changes, EVENT_NOTE_MAX_BYTES),
        },
    );
    events
}

/// What [`fit_configuration`] left out of the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trimmed {
    /// `connectorMetadata` members AWS's model does not know.
    UnmodelledMetadata,
    /// All of `connectorMetadata`.
    Metadata,
    /// The whole configuration: the previous mirror is kept.
    NotMirrored,
}

impl Trimmed {
    /// Said in the condition message.
    fn says(self) -> &'static str {
        match self {
            Trimmed::UnmodelledMetadata => {
                "connectorMetadata members unknown to AWS's model were left out"
            }
            Trimmed::Metadata => "connectorMetadata was left out",
            Trimmed::NotMirrored => {
                "the configuration was too large to mirror (the previous mirror is kept)"
            }
        }
    }
}

/// Pure: the configuration to mirror within `max` bytes of JSON: as it is; else without the
/// metadata members AWS's model does not know; else without connector metadata; else not at
/// all. Requirements are judged on the whole answer either way.
pub fn fit_configuration(
    config: &ConnectorConfiguration,
    max: usize,
) -> (
    std::borrow::Cow<'_, ConnectorConfiguration>,
    Option<Trimmed>,
) {
    let fits =
        |c: &ConnectorConfiguration| serde_json::to_vec(c).is_ok_and(|json| json.len() <= max);
    if fits(config) {
        return (std::borrow::Cow::Borrowed(config), None);
    }
    let mut trimmed = config.clone();
    if let Some(metadata) = trimmed.connector_metadata.as_mut() {
        metadata.unmodelled.clear();
    }
    if fits(&trimmed) {
        return (
            std::borrow::Cow::Owned(trimmed),
            Some(Trimmed::UnmodelledMetadata),
        );
    }
    trimmed.connector_metadata = None;
    if fits(&trimmed) {
        return (std::borrow::Cow::Owned(trimmed), Some(Trimmed::Metadata));
    }
    (
        std::borrow::Cow::Borrowed(config),
        Some(Trimmed::NotMirrored),
    )
}

/// Pure: how long the status says describes have failed for a reason that spends the key's
/// error budget ([`crate::budget::is_budgeted`]): since `Synced` turned False, if its reason is
/// one. A process that has not called the key yet resumes the key's budget from it.
pub fn budgeted_failure_for(
    previous: Option<&ConnectorInfoStatus>,
    now: Timestamp,
) -> Option<Duration> {
    let synced = condition::find(previous?, Synced)?;
    let budgeted = Reason::parse(&synced.reason).is_some_and(crate::budget::is_budgeted);
    (ConditionStatus::parse(&synced.status) == ConditionStatus::False && budgeted).then(|| {
        now.duration_since(synced.last_transition_time.0)
            .unsigned_abs()
    })
}

/// How long describes have been failing: since `Synced` last turned False (zero if it is not
/// False yet).
fn failing_for(previous: &ConnectorInfoStatus, now: Timestamp) -> Duration {
    condition::find(previous, Synced)
        .filter(|c| ConditionStatus::parse(&c.status) == ConditionStatus::False)
        .map_or(Duration::ZERO, |c| {
            now.duration_since(c.last_transition_time.0).unsigned_abs()
        })
}

/// The status of an object whose refresh request waits for its connector's next forced
/// DescribeConnector (at `next_call`; forced calls of a connector are `interval` apart):
/// `Reconciling` True says so and until when; the last answer stands, so the rest is kept.
pub fn awaiting_refresh(
    previous: Option<&ConnectorInfoStatus>,
    spec: &ConnectorInfoSpec,
    generation: Option<i64>,
    next_call: Timestamp,
    interval: Duration,
    now: Timestamp,
) -> ConnectorInfoStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let message = format!(
        "Waiting for a refresh: the next DescribeConnector of {} starts at {next_call:.0} \
         (forced refreshes of a connector are at least {}s apart)",
        connector_name(spec),
        interval.as_secs(),
    );
    let mut set = ConditionSetter::new(&mut status.conditions, generation, now);
    set.apply(Reconciling, true, Reason::RefreshPending, &message);
    condition::sort::<ConditionType>(&mut status.conditions);
    status
}

/// A new value of the refresh annotation, not yet acted on, forces a fresh describe.
pub fn refresh_forced(request: Option<&str>, previous: Option<&ConnectorInfoStatus>) -> bool {
    request.is_some() && request != previous.and_then(|p| p.last_handled_refresh.as_deref())
}

/// Whether an object's last describe still stands, so a start-up or relist need not call AWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Describe now.
    Stale,
    /// Described for this generation; due again after this long.
    FreshFor(Duration),
    /// Described for this generation with refresh `0s`: only a change describes again.
    FreshUntilChange,
}

/// Pure: fresh when the last describe succeeded for the current generation and refresh
/// request, and less of the refresh interval has passed than the earliest jittered requeue
/// would wait (90%).
pub fn freshness(
    previous: Option<&ConnectorInfoStatus>,
    generation: Option<i64>,
    refresh_request: Option<&str>,
    refresh: Duration,
    origin: Origin,
    now: Timestamp,
) -> Freshness {
    let Some(previous) = previous else {
        return Freshness::Stale;
    };
    // Another binding or account now: the mirror is someone else's answer.
    if origin.differs_from(previous) {
        return Freshness::Stale;
    }
    let synced_now = condition::find(previous, Synced).is_some_and(|c| {
        ConditionStatus::parse(&c.status) == ConditionStatus::True
            && c.observed_generation == generation
    });
    let same_request = previous.last_handled_refresh.as_deref() == refresh_request;
    let (true, true, Some(Time(last))) = (synced_now, same_request, &previous.last_synced_time)
    else {
        return Freshness::Stale;
    };
    if refresh.is_zero() {
        return Freshness::FreshUntilChange;
    }
    let elapsed = now.duration_since(*last).unsigned_abs();
    if elapsed < refresh.saturating_sub(refresh / 10) {
        Freshness::FreshFor(refresh - elapsed)
    } else {
        Freshness::Stale
    }
}

fn connector_name(spec: &ConnectorInfoSpec) -> String {
    match &spec.connector_label {
        Some(label) => format!("{} {label}", spec.connector_type),
        None => spec.connector_type.to_string(),
    }
}

/// `lastSyncedTime` records a meaningful sync, not every loop: the first success, a changed
/// configuration or spec, a recovery, a forced refresh, or a refresh interval gone by
/// (less the jitter, so a slightly early requeue still counts).
fn should_move_sync_time(
    obs: &Observation,
    previous: &ConnectorInfoStatus,
    config: &ConnectorConfiguration,
) -> bool {
    let Some(Time(last)) = previous.last_synced_time else {
        return true;
    };
    let recovered = condition::status_of(previous, Synced) != Some(ConditionStatus::True);
    let spec_changed = previous.observed_generation != obs.generation;
    let forced = refresh_forced(obs.refresh_request, Some(previous));
    let changed = previous.connector_configuration.as_deref() != Some(config)
        || obs.origin.differs_from(previous);
    let elapsed = obs.now.duration_since(last).unsigned_abs();
    let interval = obs.refresh_interval;
    let due = !interval.is_zero() && elapsed >= interval.saturating_sub(interval / 10);
    recovered || spec_changed || forced || changed || due
}

/// ConnectorInfo's conditions, set with the toolkit both resources share.
type ConditionSetter<'a> = condition::ConditionSetter<'a, ConditionType>;

/// Events for transitions between the previous and the new status, never for steady states.
/// `synced_reason` is the reason the new `Synced` condition carries; `synced_note` its
/// message with the request id, for the Event.
fn transitions(
    previous: &ConnectorInfoStatus,
    new: &ConnectorInfoStatus,
    synced_reason: Reason,
    synced_note: String,
) -> Vec<Transition> {
    let mut events = Vec::new();
    if let Some(synced) = condition::find(new, Synced) {
        let same = condition::find(previous, Synced)
            .is_some_and(|o| o.status == synced.status && o.reason == synced.reason);
        if !same {
            let severity = match ConditionStatus::parse(&synced.status) {
                ConditionStatus::True => Severity::Normal,
                _ => Severity::Warning,
            };
            events.push(Transition {
                severity,
                reason: synced_reason,
                note: synced_note,
            });
        }
    }
    if let Some(met) = condition::find(new, RequirementsMet) {
        let was_false =
            condition::status_of(previous, RequirementsMet) == Some(ConditionStatus::False);
        if ConditionStatus::parse(&met.status) == ConditionStatus::False && !was_false {
            events.push(Transition {
                severity: Severity::Warning,
                reason: Reason::RequirementsNotMet,
                note: met.message.to_string(),
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AuthMode, ConnectorType, Requirements};
    use crate::mirror::AuthenticationConfig;
    use crate::outcome::DescribeFailure;

    const HOUR: Duration = Duration::from_secs(3600);
    const STALLED_AFTER: Duration = Duration::from_secs(600);

    #[test]
    fn an_oversized_configuration_drops_unmodelled_metadata_first_and_says_so() {
        let mut config = ConnectorConfiguration {
            connector_type: Some("CustomConnector".into()),
            connector_metadata: Some(Default::default()),
            ..Default::default()
        };
        let bulk = serde_json::Value::String("x".repeat(300 * 1024));
        if let Some(metadata) = config.connector_metadata.as_mut() {
            metadata.unmodelled.insert("NewVendorField".into(), bulk);
        }
        let (mirror, trimmed) = fit_configuration(&config, CONFIGURATION_MAX_BYTES);
        assert_eq!(trimmed, Some(Trimmed::UnmodelledMetadata));
        assert!(
            mirror
                .connector_metadata
                .as_ref()
                .unwrap()
                .unmodelled
                .is_empty()
        );
        assert_eq!(mirror.connector_type.as_deref(), Some("CustomConnector"));

        let computed = compute(&Observation {
            generation: Some(1),
            spec: &spec(None),
            refresh_request: None,
            previous: None,
            outcome: &Ok(config.clone()),
            refresh_interval: HOUR,
            stalled_after: STALLED_AFTER,
            origin: Default::default(),
            now: Timestamp::now(),
        });
        let written = serde_json::to_vec(&computed.status).unwrap();
        assert!(
            written.len() < CONFIGURATION_MAX_BYTES + 16 * 1024,
            "{}",
            written.len()
        );
        let ready = condition::find(&computed.status, Ready).unwrap();
        assert_eq!(
            ready.status, "True",
            "still Ready: the answer itself was good"
        );
        assert!(
            ready
                .message
                .contains("unknown to AWS's model were left out"),
            "{}",
            ready.message
        );

        // Within the limit: mirrored as it is, and nothing is said.
        let (mirror, trimmed) = fit_configuration(&config, 1024 * 1024);
        assert_eq!((mirror.as_ref(), trimmed), (&config, None));

        // Too large even without metadata: the previous mirror is kept, and that is said.
        let mut huge = config.clone();
        huge.supported_api_versions = vec!["v".repeat(300 * 1024)];
        let kept = std::sync::Arc::new(ConnectorConfiguration {
            connector_type: Some("CustomConnector".into()),
            ..Default::default()
        });
        let previous = ConnectorInfoStatus {
            connector_configuration: Some(kept.clone()),
            ..Default::default()
        };
        let computed = compute(&Observation {
            generation: Some(1),
            spec: &spec(None),
            refresh_request: None,
            previous: Some(&previous),
            outcome: &Ok(huge),
            refresh_interval: HOUR,
            stalled_after: STALLED_AFTER,
            origin: Default::default(),
            now: Timestamp::now(),
        });
        assert_eq!(computed.status.connector_configuration, Some(kept));
        let synced = condition::find(&computed.status, Synced).unwrap();
        assert!(
            synced.message.contains("too large to mirror"),
            "{}",
            synced.message
        );
    }

    #[test]
    fn event_notes_are_cut_at_1024_bytes_on_a_character_boundary() {
        let long = Transition {
            severity: Severity::Warning,
            reason: Reason::ServiceError,
            note: "é".repeat(600), // 1200 bytes
        };
        let note = long.note_within_limit();
        assert_eq!(note.len(), 1024);
        assert_eq!(note.chars().count(), 512);
        assert_eq!(truncate_bytes("abc€", 5), "abc", "never splits a character");
        assert_eq!(truncate_bytes("short", 1024), "short");
    }

    fn spec(requirements: Option<Requirements>) -> ConnectorInfoSpec {
        ConnectorInfoSpec {
            connector_type: ConnectorType::Salesforce,
            connector_label: None,
            region: None,
            refresh_interval: None,
            requirements,
        }
    }

    fn oauth_config() -> ConnectorConfiguration {
        ConnectorConfiguration {
            connector_type: Some("Salesforce".into()),
            can_use_as_source: true,
            authentication_config: Some(AuthenticationConfig {
                is_oauth2_supported: true,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn failure(reason: Reason) -> DescribeFailure {
        DescribeFailure {
            reason,
            code: Some("SomeException".into()),
            message: "AWS said no".into(),
            request_id: Some("req-1".into()),
            refusal: None,
        }
    }

    struct Run {
        spec: ConnectorInfoSpec,
        generation: i64,
        refresh: Option<String>,
        status: Option<ConnectorInfoStatus>,
    }

    impl Run {
        fn new(spec: ConnectorInfoSpec) -> Self {
            Run {
                spec,
                generation: 1,
                refresh: None,
                status: None,
            }
        }

        fn step(
            &mut self,
            outcome: Result<ConnectorConfiguration, DescribeFailure>,
            now: Timestamp,
        ) -> Computed {
            let computed = compute(&Observation {
                generation: Some(self.generation),
                spec: &self.spec,
                refresh_request: self.refresh.as_deref(),
                previous: self.status.as_ref(),
                outcome: &outcome,
                refresh_interval: HOUR,
                stalled_after: STALLED_AFTER,
                origin: Default::default(),
                now,
            });
            self.status = Some(computed.status.clone());
            computed
        }
    }

    fn cond(c: &Computed, t: ConditionType) -> (&str, &str) {
        let c = condition::find(&c.status, t).unwrap_or_else(|| panic!("no {t:?}"));
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn a_changed_configuration_is_an_event_with_the_diff_and_moves_last_changed_time() {
        let req = Requirements {
            auth_modes: vec![AuthMode::OAuth2],
            ..Default::default()
        };
        let mut run = Run::new(spec(Some(req)));
        let first = run.step(Ok(oauth_config()), at(0));
        assert!(
            first
                .events
                .iter()
                .all(|e| e.reason != Reason::ConfigurationChanged),
            "no change Event on the first describe"
        );
        assert_eq!(first.status.last_changed_time, Some(Time(at(0))));
        let digest = first.status.configuration_digest.clone().expect("digest");

        let same = run.step(Ok(oauth_config()), at(4000));
        assert!(same.events.is_empty(), "{:?}", same.events);
        assert_eq!(same.status.last_changed_time, Some(Time(at(0))));
        assert_eq!(same.status.configuration_digest.as_ref(), Some(&digest));

        let mut without_oauth = oauth_config();
        without_oauth.authentication_config = Some(AuthenticationConfig {
            is_api_key_auth_supported: true,
            ..Default::default()
        });
        let changed = run.step(Ok(without_oauth), at(8000));
        assert_eq!(changed.status.last_changed_time, Some(Time(at(8000))));
        assert_ne!(changed.status.configuration_digest.as_ref(), Some(&digest));
        let reasons: Vec<_> = changed
            .events
            .iter()
            .map(|e| (e.severity, e.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (Severity::Normal, Reason::ConfigurationChanged),
                (Severity::Warning, Reason::RequirementsNotMet),
            ]
        );
        assert_eq!(
            changed.events[0].note,
            "authenticationConfig.isApiKeyAuthSupported: false → true; \
             authenticationConfig.isOAuth2Supported: true → false"
        );
        assert!(
            changed.events[1]
                .note
                .starts_with("After a configuration change: ")
                && changed.events[1].note.contains("auth mode OAuth2"),
            "{}",
            changed.events[1].note
        );
    }

    #[test]
    fn a_retried_failure_that_persists_past_stalled_after_stalls_until_a_success() {
        let mut run = Run::new(spec(None));
        run.step(Ok(oauth_config()), at(0));
        let first = run.step(Err(failure(Reason::AccessDenied)), at(100));
        assert_eq!(cond(&first, Stalled), ("False", "AccessDenied"));
        assert_eq!(cond(&first, Reconciling), ("True", "AccessDenied"));
        let early = run.step(Err(failure(Reason::AccessDenied)), at(100 + 599));
        assert_eq!(cond(&early, Stalled), ("False", "AccessDenied"));
        // Another retried reason does not restart the clock: Synced stayed False.
        let late = run.step(Err(failure(Reason::Throttled)), at(100 + 600));
        assert_eq!(cond(&late, Stalled), ("True", "Throttled"));
        assert_eq!(
            cond(&late, Reconciling),
            ("True", "Throttled"),
            "retries go on"
        );
        assert!(late.status.connector_configuration.is_some());
        let recovered = run.step(Ok(oauth_config()), at(2000));
        assert_eq!(cond(&recovered, Stalled), ("False", "Described"));
    }

    #[test]
    fn success_with_requirements_met_is_ready() {
        let req = Requirements {
            auth_modes: vec![AuthMode::OAuth2],
            ..Default::default()
        };
        let c = Run::new(spec(Some(req))).step(Ok(oauth_config()), at(0));
        assert!(c.is_ready());
        assert_eq!(cond(&c, Ready), ("True", "Described"));
        assert_eq!(cond(&c, Synced), ("True", "Described"));
        assert_eq!(cond(&c, RequirementsMet), ("True", "Described"));
        assert_eq!(cond(&c, Reconciling), ("False", "Described"));
        assert_eq!(cond(&c, Stalled), ("False", "Described"));
        assert_eq!(c.status.auth_modes, [AuthMode::OAuth2]);
        assert_eq!(c.status.auth_modes_summary.as_deref(), Some("OAuth2"));
        assert_eq!(c.status.observed_generation, Some(1));
        assert_eq!(c.status.last_synced_time, Some(Time(at(0))));
        assert_eq!(
            c.status.connector_configuration.as_deref(),
            Some(&oauth_config())
        );
        assert_eq!(c.retry(), Retry::AfterRefresh);
        assert!(
            c.status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(1))
        );
        assert_eq!(
            c.events,
            [Transition {
                severity: Severity::Normal,
                reason: Reason::Described,
                note: "DescribeConnector returned the configuration of Salesforce".into()
            }]
        );
    }

    #[test]
    fn unmet_requirements_name_each_and_stall() {
        let req = Requirements {
            auth_modes: vec![AuthMode::Basic, AuthMode::ApiKey],
            ..Default::default()
        };
        let c = Run::new(spec(Some(req))).step(Ok(oauth_config()), at(0));
        assert!(!c.is_ready());
        assert_eq!(cond(&c, Ready), ("False", "RequirementsNotMet"));
        assert_eq!(cond(&c, Synced), ("True", "Described"));
        assert_eq!(cond(&c, RequirementsMet), ("False", "RequirementsNotMet"));
        assert_eq!(cond(&c, Stalled), ("True", "RequirementsNotMet"));
        let message = &condition::find(&c.status, Ready).unwrap().message;
        assert!(
            message.contains("auth mode Basic") && message.contains("auth mode ApiKey"),
            "{message}"
        );
        assert_eq!(c.retry(), Retry::AfterRefresh);
        let reasons: Vec<_> = c.events.iter().map(|e| (e.severity, e.reason)).collect();
        assert_eq!(
            reasons,
            [
                (Severity::Normal, Reason::Described),
                (Severity::Warning, Reason::RequirementsNotMet)
            ]
        );
    }

    #[test]
    fn every_failure_reason_maps_to_conditions() {
        for reason in Reason::ALL
            .into_iter()
            .filter(|r| !matches!(r, Reason::Described | Reason::RequirementsNotMet))
        {
            let c = Run::new(spec(None)).step(Err(failure(reason)), at(0));
            assert_eq!(cond(&c, Ready), ("False", reason.as_str()));
            assert_eq!(cond(&c, Synced), ("False", reason.as_str()));
            assert_eq!(cond(&c, RequirementsMet), ("Unknown", "AwaitingDescribe"));
            let backoff = reason.retry() == Retry::Backoff;
            assert_eq!(
                cond(&c, Reconciling).0,
                if backoff { "True" } else { "False" },
                "{reason}"
            );
            assert_eq!(
                cond(&c, Stalled).0,
                if backoff { "False" } else { "True" },
                "{reason}"
            );
            let message = &condition::find(&c.status, Synced).unwrap().message;
            assert_eq!(
                message, "SomeException: AWS said no",
                "no request id in conditions"
            );
            assert_eq!(c.reason, reason);
            assert_eq!(c.events.len(), 1);
            assert_eq!(c.events[0].severity, Severity::Warning);
            assert_eq!(c.events[0].reason, reason);
            assert!(
                c.events[0].note.contains("req-1"),
                "the Event names the request"
            );
            assert!(c.status.connector_configuration.is_none());
        }
    }

    #[test]
    fn a_budgeted_failure_says_how_long_it_has_lasted() {
        let mut run = Run::new(spec(None));
        let since =
            |status: &ConnectorInfoStatus, secs| budgeted_failure_for(Some(status), at(secs));
        let described = run.step(Ok(oauth_config()), at(0)).status;
        assert_eq!(since(&described, 10), None, "not failing");
        let throttled = run.step(Err(failure(Reason::Throttled)), at(20)).status;
        assert_eq!(
            since(&throttled, 30),
            None,
            "a transient failure spends no budget"
        );
        let denied = run.step(Err(failure(Reason::AccessDenied)), at(40)).status;
        assert_eq!(
            since(&denied, 100),
            Some(Duration::from_secs(80)),
            "since Synced turned False"
        );
        assert_eq!(budgeted_failure_for(None, at(100)), None);
    }

    #[test]
    fn freshness_spares_objects_described_for_their_generation() {
        let mut run = Run::new(spec(None));
        let described = run.step(Ok(oauth_config()), at(0)).status;
        let fresh = |status: &ConnectorInfoStatus, generation, request, secs| {
            freshness(
                Some(status),
                Some(generation),
                request,
                HOUR,
                Origin::default(),
                at(secs),
            )
        };
        assert_eq!(
            fresh(&described, 1, None, 600),
            Freshness::FreshFor(HOUR - Duration::from_secs(600))
        );
        assert_eq!(
            fresh(&described, 1, None, 3300),
            Freshness::Stale,
            "due (less jitter)"
        );
        assert_eq!(
            fresh(&described, 2, None, 60),
            Freshness::Stale,
            "new generation"
        );
        assert_eq!(
            fresh(&described, 1, Some("now"), 60),
            Freshness::Stale,
            "forced"
        );
        assert_eq!(
            freshness(
                Some(&described),
                Some(1),
                None,
                Duration::ZERO,
                Origin::default(),
                at(9_999_999)
            ),
            Freshness::FreshUntilChange
        );
        assert_eq!(
            freshness(None, Some(1), None, HOUR, Origin::default(), at(0)),
            Freshness::Stale
        );
        let failed = run.step(Err(failure(Reason::Throttled)), at(60)).status;
        assert_eq!(
            fresh(&failed, 1, None, 120),
            Freshness::Stale,
            "retry failures"
        );
    }

    #[test]
    fn a_new_binding_or_account_makes_the_mirror_stale_and_is_recorded() {
        let team = Origin {
            account_id: Some("222222222222"),
            binding: Some("team-a"),
        };
        let observation = |previous: Option<&ConnectorInfoStatus>, origin, outcome| {
            compute(&Observation {
                generation: Some(1),
                spec: &spec(None),
                refresh_request: None,
                previous,
                outcome: &outcome,
                refresh_interval: HOUR,
                stalled_after: STALLED_AFTER,
                now: at(0),
                origin,
            })
            .status
        };
        let described = observation(None, team, Ok(oauth_config()));
        assert_eq!(described.account_id.as_deref(), Some("222222222222"));
        assert_eq!(described.account_binding.as_deref(), Some("team-a"));
        let fresh = |origin| freshness(Some(&described), Some(1), None, HOUR, origin, at(60));
        assert!(matches!(fresh(team), Freshness::FreshFor(_)));
        assert_eq!(
            fresh(Origin::default()),
            Freshness::Stale,
            "binding removed"
        );
        let moved = Origin {
            account_id: Some("333333333333"),
            ..team
        };
        assert_eq!(
            fresh(moved),
            Freshness::Stale,
            "role moved to another account"
        );
        let unknown = Origin {
            account_id: None,
            ..team
        };
        assert!(
            matches!(fresh(unknown), Freshness::FreshFor(_)),
            "unknown is not different"
        );
        // A failure keeps the answer's origin with the answer it describes.
        let failed = observation(Some(&described), moved, Err(failure(Reason::AccessDenied)));
        assert_eq!(failed.account_id.as_deref(), Some("222222222222"));
        assert_eq!(failed.account_binding.as_deref(), Some("team-a"));
    }

    #[test]
    fn a_repeated_failure_with_a_new_request_id_changes_nothing() {
        let mut run = Run::new(spec(None));
        let first = run.step(Err(failure(Reason::AccessDenied)), at(0));
        let retry = DescribeFailure {
            request_id: Some("req-2".into()),
            ..failure(Reason::AccessDenied)
        };
        let second = run.step(Err(retry), at(30));
        assert_eq!(second.status, first.status, "no status write on a retry");
        assert!(second.events.is_empty(), "no Event for the same failure");
    }

    #[test]
    fn failure_after_success_keeps_last_good_configuration() {
        let mut run = Run::new(spec(None));
        let good = run.step(Ok(oauth_config()), at(0));
        let bad = run.step(Err(failure(Reason::Throttled)), at(60));
        assert_eq!(
            bad.status.connector_configuration,
            good.status.connector_configuration
        );
        assert_eq!(bad.status.auth_modes, good.status.auth_modes);
        assert_eq!(bad.status.last_synced_time, good.status.last_synced_time);
        // judged for this generation: still valid
        assert_eq!(cond(&bad, RequirementsMet), ("True", "Described"));
        assert_eq!(cond(&bad, Ready), ("False", "Throttled"));
        let ready = condition::find(&bad.status, Ready).unwrap();
        assert_eq!(ready.last_transition_time, Time(at(60)));
    }

    #[test]
    fn recovery_is_ready_again_with_one_normal_event() {
        let mut run = Run::new(spec(None));
        run.step(Err(failure(Reason::ServiceError)), at(0));
        let again = run.step(Err(failure(Reason::ServiceError)), at(5));
        assert!(
            again.events.is_empty(),
            "same failure twice is not a transition"
        );
        let ok = run.step(Ok(oauth_config()), at(10));
        assert!(ok.is_ready());
        assert_eq!(ok.events.len(), 1);
        assert_eq!(ok.events[0].severity, Severity::Normal);
    }

    #[test]
    fn unchanged_success_changes_nothing() {
        let mut run = Run::new(spec(None));
        let first = run.step(Ok(oauth_config()), at(0));
        let second = run.step(Ok(oauth_config()), at(600));
        assert_eq!(
            first.status, second.status,
            "no write and no lastTransitionTime churn"
        );
        assert!(second.events.is_empty());
    }

    #[test]
    fn sync_time_moves_after_refresh_interval_or_change() {
        let mut run = Run::new(spec(None));
        run.step(Ok(oauth_config()), at(0));
        let due = run.step(Ok(oauth_config()), at(3300));
        assert_eq!(
            due.status.last_synced_time,
            Some(Time(at(3300))),
            "within jitter of the interval"
        );
        let mut changed_config = oauth_config();
        changed_config.connector_version = Some("2".into());
        let changed = run.step(Ok(changed_config), at(3400));
        assert_eq!(changed.status.last_synced_time, Some(Time(at(3400))));
        let ready = condition::find(&changed.status, Ready).unwrap();
        assert_eq!(
            ready.last_transition_time,
            Time(at(0)),
            "status never flipped"
        );
    }

    #[test]
    fn refresh_annotation_moves_sync_time_once() {
        let mut run = Run::new(spec(None));
        run.step(Ok(oauth_config()), at(0));
        run.refresh = Some("now-1".into());
        let forced = run.step(Ok(oauth_config()), at(10));
        assert_eq!(forced.status.last_synced_time, Some(Time(at(10))));
        assert_eq!(forced.status.last_handled_refresh.as_deref(), Some("now-1"));
        let again = run.step(Ok(oauth_config()), at(20));
        assert_eq!(again.status.last_synced_time, Some(Time(at(10))));
    }

    #[test]
    fn new_generation_resets_requirements_judgement_on_failure() {
        let req = Requirements {
            auth_modes: vec![AuthMode::OAuth2],
            ..Default::default()
        };
        let mut run = Run::new(spec(Some(req)));
        run.step(Ok(oauth_config()), at(0));
        run.generation = 2;
        let c = run.step(Err(failure(Reason::AccessDenied)), at(10));
        assert_eq!(cond(&c, RequirementsMet), ("Unknown", "AwaitingDescribe"));
        assert_eq!(c.status.observed_generation, Some(2));
        assert_eq!(
            c.status.connector_configuration.as_deref(),
            Some(&oauth_config())
        );
    }

    #[test]
    fn a_waiting_refresh_request_says_until_when_and_keeps_the_last_answer() {
        let mut run = Run::new(spec(None));
        let described = run.step(Ok(oauth_config()), at(0)).status;
        let waiting = awaiting_refresh(
            Some(&described),
            &run.spec,
            Some(1),
            at(60),
            Duration::from_secs(60),
            at(5),
        );
        let reconciling = condition::find(&waiting, Reconciling).unwrap();
        assert_eq!(
            (reconciling.status.as_str(), reconciling.reason.as_str()),
            ("True", "RefreshPending")
        );
        assert_eq!(
            reconciling.message.as_str(),
            "Waiting for a refresh: the next DescribeConnector of Salesforce starts at \
             2027-01-15T08:01:00Z (forced refreshes of a connector are at least 60s apart)"
        );
        assert_eq!(reconciling.last_transition_time, Time(at(5)));
        // Everything else is the last answer's.
        let mut rest = waiting.clone();
        rest.conditions.retain(|c| c.type_ != "Reconciling");
        let mut before = described.clone();
        before.conditions.retain(|c| c.type_ != "Reconciling");
        assert_eq!(rest, before);
        // The answer, when it comes, ends the wait.
        run.status = Some(waiting);
        run.refresh = Some("1800000060".into());
        let answered = run.step(Ok(oauth_config()), at(60));
        assert_eq!(cond(&answered, Reconciling), ("False", "Described"));
        assert_eq!(
            answered.status.last_handled_refresh.as_deref(),
            Some("1800000060")
        );
    }
}
