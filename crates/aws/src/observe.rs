//! The one observation path: (object, AppFlow access, policy, now) -> the status to write and
//! the events to publish. The controller and `describe` both use it, so what the CLI prints
//! is what the operator would write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

use jiff::Timestamp;
use tracing::warn;

use crate::appflow::AppFlow;
use crate::cache::{self, Answered, DescribeCache, Key, Need, Source, Wait};
use conninfo_core::account::{Access, Identity};
use conninfo_core::circuit;
use conninfo_core::crd::{ConnectorInfo, ConnectorInfoSpec};
use conninfo_core::interval;
use conninfo_core::lanes::Lane;
use conninfo_core::outcome::{DescribeFailure, Outcome, Refusal, RefusalCategory};
use conninfo_core::policy::AllowedRegions;
use conninfo_core::reason::Reason;
use conninfo_core::refresh;
use conninfo_core::status::{self, Computed, Observation, Origin};

/// `--stalled-after`'s default.
pub const DEFAULT_STALLED_AFTER: Duration = Duration::from_secs(600);

/// What the platform team decides for every object.
#[derive(Clone, Debug)]
pub struct Policy {
    /// For objects that set no `refreshInterval`; clamped like theirs.
    pub default_refresh: Duration,
    pub allowed_regions: AllowedRegions,
    /// A retried failure older than this also sets `Stalled` (`--stalled-after`).
    pub stalled_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default_refresh: Duration::from_secs(3600),
            allowed_regions: AllowedRegions::default(),
            stalled_after: DEFAULT_STALLED_AFTER,
        }
    }
}

/// An object cleared for describing: its refresh interval and who describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub refresh: Duration,
    pub access: Access,
}

/// Pure: the refresh interval and access to use for an object, or the refusal that keeps it
/// from being described (a terminal `InvalidRequest` carrying its category). `access` is its
/// namespace's binding (or why it has none); `default_region` the operator's.
pub fn admit(
    spec: &ConnectorInfoSpec,
    policy: &Policy,
    access: Result<Access, Refusal>,
    default_region: Option<&str>,
) -> Result<Admitted, DescribeFailure> {
    let access = access?;
    policy.allowed_regions.check(spec.region.as_deref())?;
    access.check_region(spec.region.as_deref(), default_region)?;
    let refresh = refresh_interval(spec, policy)?;
    Ok(Admitted { refresh, access })
}

/// Pure: the refresh interval of a spec: its own, clamped, or the policy's default.
fn refresh_interval(
    spec: &ConnectorInfoSpec,
    policy: &Policy,
) -> Result<Duration, DescribeFailure> {
    let Some(text) = &spec.refresh_interval else {
        return Ok(interval::clamp(policy.default_refresh).interval);
    };
    let effective = interval::effective(text.as_str()).map_err(|e| {
        Refusal::new(
            RefusalCategory::InvalidRefreshInterval,
            format!("spec.refreshInterval {e}"),
        )
    })?;
    if effective.clamped {
        warn!(
            refresh_interval = %text,
            used = ?effective.interval,
            "spec.refreshInterval is outside 1m..720h; clamped"
        );
    }
    Ok(effective.interval)
}

/// The result of one observation.
pub struct Observed {
    pub computed: Computed,
    /// The refresh interval in force for this object.
    pub refresh: Duration,
    /// The describe cache key the object used (none when refused before any describe).
    pub key: Option<Key>,
    /// How the describe was answered, if one was needed.
    pub source: Option<Source>,
    /// The AWS call this observation made, if any: its outcome and how long it took.
    pub call: Option<(Reason, Duration)>,
    /// Why the operator refused to describe the object, if it did.
    pub refusal: Option<RefusalCategory>,
}

/// The describe cache key of a spec: the identity, the region it is described in, the type
/// and the label.
pub fn cache_key(
    spec: &ConnectorInfoSpec,
    default_region: Option<&str>,
    identity: &Identity,
) -> Key {
    Key {
        identity: identity.key(),
        region: spec
            .region
            .as_deref()
            .or(default_region)
            .unwrap_or_default()
            .to_owned(),
        connector_type: spec.connector_type.as_str().to_owned(),
        label: spec.connector_label.clone(),
    }
}

/// How old a shared answer may be for an object: less than its earliest jittered refresh, so
/// its refresh really asks AWS; objects that refresh only on change take answers younger
/// than [`cache::FAILURE_TTL`] (a burst of new objects), nothing older.
pub fn max_shared_age(refresh: Duration) -> Duration {
    if refresh.is_zero() {
        cache::FAILURE_TTL
    } else {
        refresh.saturating_sub(refresh / 10)
    }
}

/// Describes the object's connector through the cache (unless `admitted`, the object's
/// [`admit`] verdict, refused it) and computes the status from the answer and the previous
/// status. `refresh_requested` is when the object's pending refresh request was made, if the
/// watch noted it (else it is dated now: [`refresh::requested_at`]); `stalled_after` is the
/// policy's. `Err` when a new AWS call is needed but cannot start yet.
pub async fn observe(
    appflow: &Arc<AppFlow>,
    cache: &DescribeCache,
    object: &ConnectorInfo,
    admitted: Result<Admitted, DescribeFailure>,
    refresh_requested: Option<Instant>,
    stalled_after: Duration,
    now: Timestamp,
) -> Result<Observed, Wait> {
    let described = match admitted {
        // A refused object is described again only when it changes: no interval applies.
        Err(refused) => Described::refused(refused),
        Ok(admitted) => describe(appflow, cache, object, admitted, refresh_requested).await?,
    };
    let computed = status::compute(&Observation {
        generation: object.metadata.generation,
        spec: &object.spec,
        refresh_request: answered_request(object, described.answers_request),
        previous: object.status.as_ref(),
        outcome: &described.outcome,
        refresh_interval: described.refresh,
        stalled_after,
        now,
        origin: Origin {
            account_id: described.account_id.as_deref(),
            binding: described.binding.as_deref(),
        },
    });
    Ok(Observed {
        refusal: described.outcome.as_ref().err().and_then(|f| f.refusal),
        computed,
        refresh: described.refresh,
        key: described.key,
        source: described.source,
        call: described.call,
    })
}

/// Pure: the refresh request an observation answers: the annotation's, when the answer
/// started at or after it was made (the cache answers no other way); else the one the status
/// handled before, so `lastHandledRefresh` never claims an older answer.
fn answered_request(object: &ConnectorInfo, answers_request: bool) -> Option<&str> {
    if answers_request {
        return object.refresh_request();
    }
    object.status.as_ref()?.last_handled_refresh.as_deref()
}

/// What describing an admitted object (or refusing it) gave, before the status is computed.
struct Described {
    /// Whether the answer started at or after the object's pending refresh request, if any
    /// (a refusal, computed now, answers it too).
    answers_request: bool,
    outcome: Outcome,
    refresh: Duration,
    key: Option<Key>,
    source: Option<Source>,
    call: Option<(Reason, Duration)>,
    account_id: Option<String>,
    binding: Option<String>,
}

impl Described {
    fn refused(refused: DescribeFailure) -> Self {
        Self {
            answers_request: true,
            outcome: Err(refused),
            refresh: Duration::ZERO,
            key: None,
            source: None,
            call: None,
            account_id: None,
            binding: None,
        }
    }
}

/// Asks the cache for the object's connector: a shared answer young enough for the object, or
/// a new call; a pending refresh request takes only an answer started at or after it.
async fn describe(
    appflow: &Arc<AppFlow>,
    cache: &DescribeCache,
    object: &ConnectorInfo,
    Admitted { refresh, access }: Admitted,
    refresh_requested: Option<Instant>,
) -> Result<Described, Wait> {
    let seen = Instant::now();
    let identity = access.identity;
    let key = cache_key(&object.spec, appflow.default_region(), &identity);
    let lane = lane(object, access.binding.as_deref());
    let refresh_requested = pending_request(object).map(|request| {
        refresh_requested.unwrap_or_else(|| refresh::requested_at(request, seen, Timestamp::now()))
    });
    let need = Need {
        max_age: max_shared_age(refresh),
        refresh_requested,
        changed: changed_since_answered(object, access.binding.as_deref()),
        lane,
        failing_for: status::budgeted_failure_for(object.status.as_ref(), Timestamp::now()),
    };
    let fetch = fetcher(appflow, &key, &identity);
    let Answered {
        mut outcome,
        source,
        started,
    } = cache.get(&key, need, fetch).await?;
    if let Err(failure) = &mut outcome {
        name_open_circuit(appflow, cache, &key, &identity, failure).await;
    }
    let call = (source == Source::Called).then(|| {
        let reason = outcome
            .as_ref()
            .map_or_else(|e| e.reason, |_| Reason::Described);
        (reason, seen.elapsed())
    });
    let account_id = match &outcome {
        Ok(_) => appflow.account_id(&identity).await,
        Err(_) => None,
    };
    Ok(Described {
        answers_request: refresh_requested.is_none_or(|requested| started >= requested),
        outcome,
        refresh,
        key: Some(key),
        source: Some(source),
        call,
        account_id,
        binding: access.binding,
    })
}

/// A throttled or failed call that opened its account's circuit says so, and when the next
/// call goes: the condition tells users why nothing moves for a while.
async fn name_open_circuit(
    appflow: &Arc<AppFlow>,
    cache: &DescribeCache,
    key: &Key,
    identity: &Identity,
    failure: &mut DescribeFailure,
) {
    if !circuit::opens(failure.reason) {
        return;
    }
    let Some(until) = cache.circuit_open_until(&key.identity, Instant::now()) else {
        return;
    };
    let account = appflow.account_id(identity).await;
    failure.message = circuit_message(
        failure,
        account.as_deref(),
        until,
        Instant::now(),
        Timestamp::now(),
    );
}

/// Pure: "AppFlow is throttling account 111122223333; next try at 2026-12-05T01:02:03Z (…)".
pub fn circuit_message(
    failure: &DescribeFailure,
    account: Option<&str>,
    until: Instant,
    now: Instant,
    wall_now: Timestamp,
) -> String {
    let doing = match failure.reason {
        Reason::Throttled => "throttling",
        _ => "failing for",
    };
    let account = account.map_or_else(
        || "the operator's account".to_owned(),
        |a| format!("account {a}"),
    );
    let next = wall_clock_after(wall_now, until.saturating_duration_since(now));
    format!(
        "AppFlow is {doing} {account}; next try at {next:.0} ({})",
        failure.message
    )
}

/// Pure: the object's refresh request, if its status has not handled it yet.
fn pending_request(object: &ConnectorInfo) -> Option<&str> {
    let request = object.refresh_request();
    status::refresh_forced(request, object.status.as_ref())
        .then_some(request)
        .flatten()
}

/// Pure: the wall-clock time `wait` after `wall_now`, rounded up to the second, so that a
/// message (which names whole seconds) never names a time before the thing it announces.
pub fn wall_clock_after(wall_now: Timestamp, wait: Duration) -> Timestamp {
    let at = jiff::SignedDuration::try_from(wait)
        .ok()
        .and_then(|wait| wall_now.checked_add(wait).ok())
        .unwrap_or(Timestamp::MAX);
    let whole_seconds = jiff::TimestampRound::new()
        .smallest(jiff::Unit::Second)
        .mode(jiff::RoundMode::Ceil);
    at.round(whole_seconds).unwrap_or(at)
}

/// Pure: whether the object changed since its status was last computed: a new generation, or
/// another binding (`binding`: the one that serves its namespace now). Such an object is not
/// held by its key's error budget; once its status records the change, it is again.
pub fn changed_since_answered(object: &ConnectorInfo, binding: Option<&str>) -> bool {
    object.status.as_ref().is_some_and(|status| {
        status.observed_generation != object.metadata.generation
            || status.account_binding.as_deref() != binding
    })
}

/// Pure: the lane of an object whose namespace `binding` serves now ([`Lane::of`]).
pub fn lane(object: &ConnectorInfo, binding: Option<&str>) -> Lane {
    let binding_changed = object
        .status
        .as_ref()
        .is_some_and(|status| status.account_binding.as_deref() != binding);
    Lane::of(
        object.status.as_ref(),
        object.metadata.generation,
        object.refresh_request(),
        binding_changed,
    )
}

/// The AWS call the cache makes when it needs a new answer for `key`.
fn fetcher(
    appflow: &Arc<AppFlow>,
    key: &Key,
    identity: &Identity,
) -> impl FnOnce() -> futures::future::BoxFuture<'static, Outcome> + use<> {
    let (appflow, key, identity) = (appflow.clone(), key.clone(), identity.clone());
    move || {
        async move {
            let region = Some(key.region.as_str()).filter(|r| !r.is_empty());
            appflow
                .describe_connector(&identity, region, &key.connector_type, key.label.as_deref())
                .await
        }
        .boxed()
    }
}

/// [`observe`] for an object judged once, as `describe` and `check` do: admitted by `policy`
/// with the operator's own identity, no pending refresh request, now.
pub async fn observe_once(
    appflow: &Arc<AppFlow>,
    cache: &DescribeCache,
    object: &ConnectorInfo,
    policy: &Policy,
) -> Result<Observed, Wait> {
    let admitted = admit(
        &object.spec,
        policy,
        Ok(Access::operator()),
        appflow.default_region(),
    );
    observe(
        appflow,
        cache,
        object,
        admitted,
        None,
        policy.stalled_after,
        Timestamp::now(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::crd::ConnectorType;
    use conninfo_core::interval::RefreshInterval;

    fn spec(region: Option<&str>, interval: Option<&str>) -> ConnectorInfoSpec {
        ConnectorInfoSpec {
            connector_type: ConnectorType::Slack,
            connector_label: None,
            region: region.map(str::to_owned),
            refresh_interval: interval.map(RefreshInterval::new),
            requirements: None,
        }
    }

    #[test]
    fn refuses_disallowed_regions_and_bad_intervals_before_any_call() {
        let policy = Policy {
            allowed_regions: AllowedRegions::new(["us-east-1"]),
            ..Policy::default()
        };
        let refused = admit(&spec(Some("eu-west-1"), None), &policy, operator(), None).unwrap_err();
        assert_eq!(refused.reason, Reason::InvalidRequest);
        assert_eq!(refused.refusal, Some(RefusalCategory::RegionNotAllowed));
        assert!(refused.message.contains("allowed regions: us-east-1"));
        let refused = admit(&spec(None, Some("soon")), &policy, operator(), None).unwrap_err();
        assert_eq!(refused.reason, Reason::InvalidRequest);
        assert_eq!(
            refused.refusal,
            Some(RefusalCategory::InvalidRefreshInterval)
        );
        assert!(
            refused.message.contains("spec.refreshInterval 'soon'"),
            "{}",
            refused.message
        );
    }

    fn operator() -> Result<Access, Refusal> {
        Ok(Access::operator())
    }

    #[test]
    fn only_an_answer_started_after_the_request_marks_it_handled() {
        let mut object = ConnectorInfo::new("chat", spec(None, None));
        object.metadata.annotations = Some(
            [(
                conninfo_core::crd::REFRESH_ANNOTATION.to_owned(),
                "v2".to_owned(),
            )]
            .into(),
        );
        object.status = Some(conninfo_core::crd::ConnectorInfoStatus {
            last_handled_refresh: Some("v1".into()),
            ..Default::default()
        });
        assert_eq!(pending_request(&object), Some("v2"));
        assert_eq!(answered_request(&object, true), Some("v2"));
        assert_eq!(
            answered_request(&object, false),
            Some("v1"),
            "an older answer leaves the request pending"
        );
    }

    #[test]
    fn wall_clock_times_round_up_to_the_second() {
        let now: Timestamp = "2026-12-07T12:00:00.200Z".parse().unwrap();
        let at = |wait| wall_clock_after(now, wait).to_string();
        assert_eq!(at(Duration::ZERO), "2026-12-07T12:00:01Z");
        assert_eq!(at(Duration::from_millis(800)), "2026-12-07T12:00:01Z");
        assert_eq!(at(Duration::from_secs(60)), "2026-12-07T12:01:01Z");
        assert_eq!(wall_clock_after(now, Duration::MAX), Timestamp::MAX);
    }

    #[test]
    fn an_open_circuit_names_the_account_and_the_next_try() {
        let (now, wall) = (
            Instant::now(),
            Timestamp::from_second(1_700_000_000).unwrap(),
        );
        let throttled = DescribeFailure {
            reason: Reason::Throttled,
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
            request_id: None,
            refusal: None,
        };
        let until = now + Duration::from_millis(1500);
        assert_eq!(
            circuit_message(&throttled, Some("111122223333"), until, now, wall),
            "AppFlow is throttling account 111122223333; next try at 2023-11-14T22:13:22Z (Rate exceeded)"
        );
        let failing = DescribeFailure {
            reason: Reason::ServiceError,
            ..throttled
        };
        assert!(
            circuit_message(&failing, None, until, now, wall)
                .starts_with("AppFlow is failing for the operator's account; next try at")
        );
    }

    #[test]
    fn a_new_generation_or_binding_is_a_change_a_new_object_is_not() {
        let mut object = ConnectorInfo::new("o", spec(None, None));
        object.metadata.generation = Some(2);
        assert!(!changed_since_answered(&object, None), "never answered");
        object.status = Some(conninfo_core::crd::ConnectorInfoStatus {
            observed_generation: Some(2),
            account_binding: Some("team-a".into()),
            ..Default::default()
        });
        assert!(!changed_since_answered(&object, Some("team-a")));
        assert!(changed_since_answered(&object, Some("team-b")));
        assert!(changed_since_answered(&object, None));
        object.metadata.generation = Some(3);
        assert!(changed_since_answered(&object, Some("team-a")));
    }

    #[test]
    fn intervals_are_clamped_and_defaulted() {
        let policy = Policy::default();
        let refresh =
            |spec: ConnectorInfoSpec| admit(&spec, &policy, operator(), None).map(|a| a.refresh);
        assert_eq!(refresh(spec(None, None)), Ok(Duration::from_secs(3600)));
        assert_eq!(refresh(spec(None, Some("1ms"))), Ok(interval::MIN));
        assert_eq!(
            refresh(spec(Some("us-east-1"), Some("99999999999999999999h"))),
            Ok(interval::MAX)
        );
        assert_eq!(refresh(spec(None, Some("0s"))), Ok(Duration::ZERO));
    }

    #[test]
    fn unbound_namespaces_and_binding_regions_are_refused_before_any_call() {
        let policy = Policy::default();
        let denied = admit(
            &spec(None, None),
            &policy,
            Err(Refusal::new(
                RefusalCategory::NamespaceUnbound,
                "namespace x is not bound",
            )),
            None,
        )
        .unwrap_err();
        assert_eq!(denied.reason, Reason::InvalidRequest);
        assert_eq!(denied.message, "namespace x is not bound");
        assert_eq!(denied.refusal, Some(RefusalCategory::NamespaceUnbound));
        let access = Access {
            identity: conninfo_core::account::Identity::Operator,
            regions: AllowedRegions::new(["eu-west-1"]),
            binding: Some("eu".into()),
        };
        let refused = admit(
            &spec(Some("us-east-1"), None),
            &policy,
            Ok(access.clone()),
            None,
        )
        .unwrap_err();
        assert!(
            refused.message.contains("AppFlowAccount eu"),
            "{}",
            refused.message
        );
        assert_eq!(refused.refusal, Some(RefusalCategory::RegionNotInBinding));
        let admitted = admit(
            &spec(Some("eu-west-1"), None),
            &policy,
            Ok(access.clone()),
            None,
        )
        .unwrap();
        assert_eq!(admitted.access, access);
    }

    #[tokio::test]
    async fn no_region_anywhere_is_refused_with_its_category() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let appflow = Arc::new(AppFlow::from_sdk_config(config));
        let object = ConnectorInfo::new("no-region", spec(None, None));
        let observed = observe_once(
            &appflow,
            &DescribeCache::default(),
            &object,
            &Policy::default(),
        )
        .await
        .expect("no rate limit");
        assert_eq!(observed.refusal, Some(RefusalCategory::NoRegion));
        assert_eq!(observed.computed.reason, Reason::InvalidRequest);
        let ready = conninfo_core::condition::find(
            &observed.computed.status,
            conninfo_core::condition::ConditionType::Ready,
        )
        .expect("Ready");
        assert_eq!(
            ready.message,
            "no AWS region: set spec.region, the operator's --region or AWS_REGION"
        );
    }

    #[tokio::test]
    async fn a_refused_object_is_observed_with_its_category_and_no_call() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let appflow = Arc::new(AppFlow::from_sdk_config(config));
        let object = ConnectorInfo::new("soon", spec(Some("us-east-1"), Some("soon")));
        let policy = Policy::default();
        let admitted = admit(&object.spec, &policy, operator(), None);
        let cache = DescribeCache::default();
        let observed = observe(
            &appflow,
            &cache,
            &object,
            admitted,
            None,
            policy.stalled_after,
            Timestamp::now(),
        )
        .await
        .expect("no call");
        assert_eq!(
            observed.refusal,
            Some(RefusalCategory::InvalidRefreshInterval)
        );
        assert_eq!(observed.call, None, "refused before any call");
    }

    mod hostile {
        use super::*;
        use conninfo_core::crd::ConnectorInfoStatus;
        use conninfo_core::outcome::DescribeFailure;
        use conninfo_core::pacing::{self, MAX_WAIT};
        use conninfo_core::reason::Retry;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        use proptest::prelude::*;

        /// Any JSON a refresh interval could have been stored as.
        fn interval_json() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                any::<String>().prop_map(serde_json::Value::from),
                "[0-9]{1,30}(\\.[0-9]{0,12})?(ns|us|µs|ms|s|m|h|d|)([0-9]{1,25}(h|m|s))?"
                    .prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u64>().prop_map(serde_json::Value::from),
            ]
        }

        fn outcome(
            index: usize,
        ) -> Result<conninfo_core::mirror::ConnectorConfiguration, DescribeFailure> {
            match Reason::ALL.get(index) {
                Some(Reason::Described) | Some(Reason::RequirementsNotMet) | None => {
                    Ok(Default::default())
                }
                Some(reason) => Err(DescribeFailure::local(*reason, "injected")),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn no_spec_panics_or_schedules_out_of_bounds(
                interval in interval_json(),
                default_secs in 0u64..=u64::MAX,
                outcome_index in 0usize..Reason::ALL.len(),
                attempt in any::<u32>(),
                unit in any::<f64>(),
                gap_secs in 0u64..=3600,
                last_synced in -100_000_000_000i64..100_000_000_000,
            ) {
                let json = serde_json::json!({"connectorType": "Slack", "refreshInterval": interval});
                let spec = match serde_json::from_value::<ConnectorInfoSpec>(json) {
                    Ok(spec) => spec,
                    Err(_) => {
                        // Only a non-string can fail to decode; the schema never stored one.
                        prop_assert!(!interval.is_string());
                        return Ok(());
                    }
                };
                let policy = Policy {
                    default_refresh: Duration::from_secs(default_secs),
                    ..Policy::default()
                };
                let admitted = admit(&spec, &policy, Ok(Access::operator()), None);
                let refresh = admitted.clone().map_or(Duration::ZERO, |a| a.refresh);
                prop_assert!(refresh.is_zero() || (interval::MIN..=interval::MAX).contains(&refresh));

                let outcome = admitted.and_then(|_| outcome(outcome_index));
                let previous = ConnectorInfoStatus {
                    last_synced_time: jiff::Timestamp::from_second(last_synced).ok().map(Time),
                    ..Default::default()
                };
                let computed = status::compute(&Observation {
                    generation: Some(1),
                    spec: &spec,
                    refresh_request: None,
                    previous: Some(&previous),
                    outcome: &outcome,
                    refresh_interval: refresh,
                    stalled_after: policy.stalled_after,
                    origin: Default::default(),
                    now: jiff::Timestamp::now(),
                });

                let gap = Duration::from_secs(gap_secs);
                let next = pacing::next_wait(computed.retry(), refresh, attempt, unit, gap);
                match next {
                    Some(wait) => prop_assert!(wait >= gap && wait <= MAX_WAIT, "{wait:?}"),
                    None => prop_assert!(
                        computed.retry() == Retry::OnChange
                            || (computed.retry() == Retry::AfterRefresh && refresh.is_zero())
                    ),
                }
            }
        }
    }
}
