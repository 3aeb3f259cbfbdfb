//! Prometheus metrics, named as docs/monitoring.md lists them (docs/design.md, "Metrics").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use conninfo_aws::cache::Source;
use conninfo_core::account::AccountConditionType;
use conninfo_core::account::crd::AppFlowAccount;
use conninfo_core::condition::{self, ConditionKind, ConditionStatus, ConditionType};
use conninfo_core::crd::ConnectorInfo;
use conninfo_core::outcome::RefusalCategory;
use conninfo_core::reason::Reason;

use crate::watch_health::{WatchBoard, WatchHealth, WatchState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    category: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    reconciliations: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    api_calls: Family<CallLabels, Counter>,
    api_duration: Family<OperationLabels, Histogram>,
    status_writes: Family<ResultLabels, Counter>,
    describe_cache: Family<ResultLabels, Counter>,
    describe_cache_evictions: Counter,
    describe_keys_backing_off: Gauge,
    aws_circuits_open: Gauge,
    events: Family<ResultLabels, Counter>,
    leader: Gauge,
    configuration_changes: Family<TypeLabels, Counter>,
    last_configuration_change: Family<TypeLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    refusals: Family<RefusalLabels, Counter>,
    /// The reconcile queue's depth and wait per lane (written by the gate itself).
    pub lanes: crate::gate::LaneMetrics,
    /// Each watch's health, read at scrape time.
    watches: WatchBoard,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    connector_type: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciliations: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            api_calls: Family::default(),
            api_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
            status_writes: Family::default(),
            describe_cache: Family::default(),
            describe_cache_evictions: Counter::default(),
            describe_keys_backing_off: Gauge::default(),
            aws_circuits_open: Gauge::default(),
            events: Family::default(),
            leader: Gauge::default(),
            configuration_changes: Family::default(),
            last_configuration_change: Family::default(),
            refusals: Family::default(),
            lanes: crate::gate::LaneMetrics::default(),
            watches: WatchBoard::default(),
        }
    }
}

impl Metrics {
    /// Registers everything under the `appflow_connector_operator` prefix, plus gauges of
    /// conditions computed from the controller's caches at scrape time (ConnectorInfos, and
    /// AppFlowAccount bindings when they are on) and of readiness (the flag `/readyz` answers
    /// from).
    pub fn register(
        &self,
        registry: &mut Registry,
        store: Store<ConnectorInfo>,
        bindings: Option<Store<AppFlowAccount>>,
        ready: Arc<AtomicBool>,
    ) {
        let sub = registry.sub_registry_with_prefix("appflow_connector_operator");
        self.register_reconciliations(sub);
        self.register_aws_calls(sub);
        self.register_writes_and_events(sub);
        self.register_configuration_changes(sub);
        self.register_refusals(sub);
        self.lanes.register(sub);
        sub.register_collector(Box::new(ConditionGauge { store }));
        sub.register_collector(Box::new(BindingGauge { store: bindings }));
        sub.register_collector(Box::new(ReadyGauge { ready }));
        sub.register_collector(Box::new(WatchGauge {
            watches: self.watches.clone(),
        }));
    }

    /// Shows this watch in `watch_up` and `watch_failures_total` from now on.
    pub fn track_watch(&self, health: &WatchHealth) {
        self.watches.track(health);
    }

    fn register_reconciliations(&self, sub: &mut Registry) {
        sub.register(
            "reconciliations",
            "Reconciliations by result",
            self.reconciliations.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            self.reconcile_duration.clone(),
        );
    }

    fn register_aws_calls(&self, sub: &mut Registry) {
        sub.register(
            "appflow_api_calls",
            "AppFlow API calls by operation and outcome",
            self.api_calls.clone(),
        );
        sub.register(
            "appflow_api_duration_seconds",
            "Duration of AppFlow API calls",
            self.api_duration.clone(),
        );
        sub.register(
            "aws_circuits_open",
            "AWS accounts whose calls all wait after AppFlow throttled them or failed on its side (the circuit doubles from 1 s to 5 min)",
            self.aws_circuits_open.clone(),
        );
    }

    /// Status writes, the describe cache, Events and leadership.
    fn register_writes_and_events(&self, sub: &mut Registry) {
        sub.register(
            "status_writes",
            "Status writes by result: written, or skipped because nothing changed",
            self.status_writes.clone(),
        );
        sub.register(
            "describe_cache",
            "Describes by how they were answered: hit (cached), joined (an in-flight call), called (AWS)",
            self.describe_cache.clone(),
        );
        sub.register(
            "describe_cache_evictions",
            "Describe cache entries dropped because no object uses their key any more",
            self.describe_cache_evictions.clone(),
        );
        sub.register(
            "describe_keys_backing_off",
            "Connector keys whose failure (AccessDenied, not found, a rejected request) is shared until their error budget's hold ends",
            self.describe_keys_backing_off.clone(),
        );
        sub.register(
            "events",
            "Kubernetes Events by result: published, failed, or not_leading (dropped after leadership was lost)",
            self.events.clone(),
        );
        sub.register(
            "leader",
            "1 while this replica leads (describes and writes), 0 while it stands by",
            self.leader.clone(),
        );
    }

    fn register_configuration_changes(&self, sub: &mut Registry) {
        sub.register(
            "configuration_changes",
            "Describes that returned a configuration different from the mirrored one, by connector type",
            self.configuration_changes.clone(),
        );
        sub.register(
            "last_configuration_change_timestamp_seconds",
            "When a configuration of this connector type last changed (Unix time)",
            self.last_configuration_change.clone(),
        );
    }

    /// Every category is written from the start, zeros included, so that an alert on its
    /// rate never starts from nothing.
    fn register_refusals(&self, sub: &mut Registry) {
        for category in RefusalCategory::ALL {
            let labels = RefusalLabels {
                category: category.as_str(),
            };
            // Creating the series is all: it starts at zero.
            let _ = self.refusals.get_or_create(&labels);
        }
        sub.register(
            "connectorinfo_refusals",
            "Reconciliations that refused to describe a ConnectorInfo (condition reason InvalidRequest), by why: namespace_unbound, binding_conflict, region_not_allowed, region_not_in_binding, invalid_refresh_interval, no_region",
            self.refusals.clone(),
        );
    }

    /// Starts timing a reconciliation; the duration is recorded when the guard drops.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    pub fn reconciled(&self, result: &'static str) {
        self.reconciliations
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a status write, or one avoided because the computed status was unchanged.
    pub fn status_write(&self, written: bool) {
        let result = if written { "written" } else { "skipped" };
        self.status_writes
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn describe_cache(&self, source: Source) {
        let result = match source {
            Source::Hit => "hit",
            Source::Joined => "joined",
            Source::Called => "called",
        };
        self.describe_cache
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// A describe found a changed configuration (labelled by type only: low cardinality).
    pub fn configuration_changed(&self, connector_type: &str) {
        let labels = TypeLabels {
            connector_type: connector_type.to_owned(),
        };
        self.configuration_changes.get_or_create(&labels).inc();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_configuration_change
            .get_or_create(&labels)
            .set(now);
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    pub fn event(&self, result: &'static str) {
        self.events.get_or_create(&ResultLabels { result }).inc();
    }

    /// Counts a reconciliation that refused to describe its object, by the refusal's
    /// category (nothing when it was not refused).
    pub fn refusal(&self, refused: Option<RefusalCategory>) {
        if let Some(category) = refused {
            self.refusals
                .get_or_create(&RefusalLabels {
                    category: category.as_str(),
                })
                .inc();
        }
    }

    /// Connector keys holding a budgeted failure, as the describe cache counted them last.
    pub fn set_describe_keys_backing_off(&self, keys: usize) {
        self.describe_keys_backing_off
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
    }

    /// Accounts whose circuit is open, as the describe cache counted them last.
    pub fn set_aws_circuits_open(&self, accounts: usize) {
        self.aws_circuits_open
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
    }

    pub fn describe_cache_eviction(&self) {
        self.describe_cache_evictions.inc();
    }

    pub fn api_call(&self, operation: &'static str, outcome: Reason, took: Duration) {
        self.api_calls
            .get_or_create(&CallLabels {
                operation,
                outcome: outcome.as_str(),
            })
            .inc();
        self.api_duration
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// `connectorinfos{condition,status}` and `connectorinfos_not_ready{reason}`: counted from
/// the cache, so deleted objects vanish. Every label combination is written, zeros included,
/// so that alerts can compare a count with its past and rates never start from nothing.
#[derive(Debug)]
struct ConditionGauge {
    store: Store<ConnectorInfo>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, Ord, PartialOrd, EncodeLabelSet)]
struct ConditionLabels {
    condition: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, Ord, PartialOrd, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Pure: the two gauges' counts over a set of statuses. One pass over each status's
/// conditions with no string comparison beyond recognising a type and a reason: a scrape
/// reads every object, and at 10,000 objects a lookup per condition type cost a fifth of the
/// operator's CPU in `make bench` (which scrapes four times a second).
fn condition_counts<'a>(
    statuses: impl Iterator<Item = &'a conninfo_core::crd::ConnectorInfoStatus>,
) -> (
    std::collections::BTreeMap<ConditionLabels, i64>,
    std::collections::BTreeMap<ReasonLabels, i64>,
) {
    let mut by_type = [[0_i64; ConditionStatus::ALL.len()]; ConditionType::ALL.len()];
    let mut by_reason = [0_i64; Reason::ALL.len()];
    for status in statuses {
        // Only the first condition of a type counts, as a lookup by type would find it.
        let mut seen = [false; ConditionType::ALL.len()];
        for c in &status.conditions {
            let Some(type_) = ConditionType::parse(&c.type_) else {
                continue;
            };
            let t = type_.index();
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            let value = ConditionStatus::parse(&c.status);
            by_type[t][value.index()] += 1;
            // Ready is never False for `Described`: every other reason can keep an object
            // unready.
            if type_ == ConditionType::Ready
                && value != ConditionStatus::True
                && let Some(reason) = Reason::parse(&c.reason)
                && reason != Reason::Described
            {
                by_reason[reason.index()] += 1;
            }
        }
    }
    let conditions = ConditionType::ALL
        .into_iter()
        .flat_map(|condition| {
            ConditionStatus::ALL.into_iter().map(move |status| {
                (
                    ConditionLabels {
                        condition: condition.as_str(),
                        status: status.as_str(),
                    },
                    by_type[condition.index()][status.index()],
                )
            })
        })
        .collect();
    let not_ready = Reason::ALL
        .into_iter()
        .filter(|r| *r != Reason::Described)
        .map(|r| (ReasonLabels { reason: r.as_str() }, by_reason[r.index()]))
        .collect();
    (conditions, not_ready)
}

impl Collector for ConditionGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.store.state();
        let (conditions, not_ready) =
            condition_counts(objects.iter().filter_map(|o| o.status.as_ref()));
        let mut family = encoder.encode_descriptor(
            "connectorinfos",
            "ConnectorInfo objects by condition and status",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, count) in conditions {
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "connectorinfos_not_ready",
            "ConnectorInfo objects whose Ready condition is not True, by its reason",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, count) in not_ready {
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `appflowaccounts_not_ready{appflowaccount,reason}`: 1 for each binding whose Ready
/// condition is not True, by its reason; none for bindings that are Ready or not judged yet.
/// One series per binding is affordable (bindings are few, and created by admins only) and
/// lets an alert name the binding whose tenants cannot be described.
#[derive(Debug)]
struct BindingGauge {
    store: Option<Store<AppFlowAccount>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, Ord, PartialOrd, EncodeLabelSet)]
struct BindingLabels {
    appflowaccount: String,
    reason: String,
}

/// Pure: the bindings that are not Ready, and why, sorted by name.
fn bindings_not_ready<'a>(
    bindings: impl Iterator<Item = &'a AppFlowAccount>,
) -> Vec<BindingLabels> {
    let mut not_ready: Vec<BindingLabels> = bindings
        .filter_map(|binding| {
            let conditions = &binding.status.as_ref()?.conditions;
            let ready = condition::find_in(conditions, AccountConditionType::Ready)?;
            (ConditionStatus::parse(&ready.status) != ConditionStatus::True).then(|| {
                BindingLabels {
                    appflowaccount: binding.metadata.name.clone().unwrap_or_default(),
                    reason: ready.reason.to_string(),
                }
            })
        })
        .collect();
    not_ready.sort();
    not_ready
}

impl Collector for BindingGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let bindings = self.store.as_ref().map(Store::state).unwrap_or_default();
        let mut family = encoder.encode_descriptor(
            "appflowaccounts_not_ready",
            "1 for each AppFlowAccount binding whose Ready condition is not True, by its reason",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for labels in bindings_not_ready(bindings.iter().map(AsRef::as_ref)) {
            ConstGauge::new(1).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `ready`: 1 once the watch cache is filled (what `/readyz` answers), else 0.
#[derive(Debug)]
struct ReadyGauge {
    ready: Arc<AtomicBool>,
}

impl Collector for ReadyGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = encoder.encode_descriptor(
            "ready",
            "1 once the watch cache is filled and /readyz answers OK, 0 before",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(self.ready.load(Ordering::Relaxed))).encode(family)
    }
}

/// `watch_up{watch}` and `watch_failures_total{watch}`, from each watch's health
/// (`crate::watch_health`): one series per watch the operator runs (the binding and namespace
/// watches only with bindings on, the Lease's only with leader election).
#[derive(Debug)]
struct WatchGauge {
    watches: WatchBoard,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    watch: &'static str,
}

impl Collector for WatchGauge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let states = self.watches.states();
        let labels = |state: &WatchState| WatchLabels {
            watch: state.name.as_str(),
        };
        let mut family = encoder.encode_descriptor(
            "watch_up",
            "1 while the API server answers the watch, 0 from its first failure until it answers again (and before its first answer)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for state in &states {
            ConstGauge::new(i64::from(state.up)).encode(family.encode_family(&labels(state))?)?;
        }
        let mut family = encoder.encode_descriptor(
            "watch_failures",
            "Failed requests of a watch (connection errors, error answers), each retried after a backoff of at most 4 s; an expired resource version is not one",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for state in &states {
            ConstCounter::new(state.failures).encode(family.encode_family(&labels(state))?)?;
        }
        Ok(())
    }
}

/// `appflowaccount_reconciliations{result}`: the AppFlowAccount controller's reconciliations
/// by result (`written`, `unchanged`, `standby`, or its error's label). Kept apart from
/// `reconciliations`, which counts ConnectorInfos and which alerts and dashboards read; the
/// bindings' status writes count in `status_writes` with the ConnectorInfos'.
#[derive(Clone, Debug, Default)]
pub struct BindingMetrics {
    reconciliations: Family<ResultLabels, Counter>,
}

impl BindingMetrics {
    /// Registers under the same `appflow_connector_operator` prefix as [`Metrics`].
    pub fn register(&self, registry: &mut Registry) {
        registry
            .sub_registry_with_prefix("appflow_connector_operator")
            .register(
                "appflowaccount_reconciliations",
                "AppFlowAccount binding reconciliations by result",
                self.reconciliations.clone(),
            );
    }

    pub fn reconciled(&self, result: &'static str) {
        self.reconciliations
            .get_or_create(&ResultLabels { result })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::condition::Condition;
    use conninfo_core::crd::ConnectorInfoStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn status(ready: &str, reason: &str) -> ConnectorInfoStatus {
        ConnectorInfoStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: reason.into(),
                message: "".into(),
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn every_combination_is_counted_zeros_included() {
        let statuses = [
            status("True", "Described"),
            status("False", "AccessDenied"),
            status("False", "AccessDenied"),
            status("Unknown", "Throttled"),
        ];
        let (conditions, not_ready) = condition_counts(statuses.iter());
        assert_eq!(conditions.len(), ConditionType::ALL.len() * 3);
        let ready = |status| {
            conditions[&ConditionLabels {
                condition: "Ready",
                status,
            }]
        };
        assert_eq!((ready("True"), ready("False"), ready("Unknown")), (1, 2, 1));
        assert_eq!(not_ready.len(), Reason::ALL.len() - 1);
        assert_eq!(
            not_ready[&ReasonLabels {
                reason: "AccessDenied"
            }],
            2
        );
        assert_eq!(
            not_ready[&ReasonLabels {
                reason: "Throttled"
            }],
            1
        );
        assert_eq!(
            not_ready[&ReasonLabels {
                reason: "ServiceError"
            }],
            0
        );
        assert!(!not_ready.contains_key(&ReasonLabels {
            reason: "Described"
        }));
    }

    #[test]
    fn each_object_counts_once_per_type_and_unknown_types_or_reasons_not_at_all() {
        let mut odd = status("False", "Throttled");
        let mut second = odd.conditions[0].clone();
        second.status = "True".into();
        let mut foreign = second.clone();
        foreign.type_ = "Available".into();
        odd.conditions.extend([second, foreign]);
        let (conditions, not_ready) = condition_counts([odd, status("False", "NotAReason")].iter());
        let ready = |status| {
            conditions[&ConditionLabels {
                condition: "Ready",
                status,
            }]
        };
        assert_eq!((ready("True"), ready("False")), (0, 2));
        assert_eq!(not_ready.values().sum::<i64>(), 1);
        assert_eq!(
            not_ready[&ReasonLabels {
                reason: "Throttled"
            }],
            1
        );
    }

    fn binding(name: &str, ready: Option<(&str, &str)>) -> AppFlowAccount {
        let conditions: Vec<serde_json::Value> = ready
            .into_iter()
            .map(|(status, reason)| {
                serde_json::json!({"type": "Ready", "status": status, "reason": reason,
                    "message": "", "lastTransitionTime": "2026-11-29T00:00:00Z"})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "AppFlowAccount",
            "metadata": {"name": name},
            "spec": {"namespaces": ["n"], "useOperatorIdentity": true},
            "status": {"conditions": conditions},
        }))
        .expect("binding")
    }

    #[test]
    fn bindings_not_ready_are_named_with_their_reason() {
        let bindings = [
            binding("team-b", Some(("False", "AccessDenied"))),
            binding("team-a", Some(("True", "Bound"))),
            binding("new", None),
            binding("team-c", Some(("False", "NamespaceConflict"))),
        ];
        let labels = |name: &str, reason: &str| BindingLabels {
            appflowaccount: name.into(),
            reason: reason.into(),
        };
        assert_eq!(
            bindings_not_ready(bindings.iter()),
            [
                labels("team-b", "AccessDenied"),
                labels("team-c", "NamespaceConflict")
            ]
        );
    }

    #[test]
    fn each_watch_shows_whether_it_is_up_and_its_failures() {
        use crate::watch_health::WatchName;
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        let (store, _writer) = kube::runtime::reflector::store::<ConnectorInfo>();
        metrics.register(&mut registry, store, None, Arc::default());
        let infos = WatchHealth::new(WatchName::ConnectorInfos);
        let namespaces = WatchHealth::new(WatchName::Namespaces);
        metrics.track_watch(&infos);
        metrics.track_watch(&namespaces);
        infos.answered();
        namespaces.answered();
        namespaces.failed(&kube::runtime::watcher::Error::NoResourceVersion);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            "appflow_connector_operator_watch_up{watch=\"connectorinfos\"} 1",
            "appflow_connector_operator_watch_up{watch=\"namespaces\"} 0",
            "appflow_connector_operator_watch_failures_total{watch=\"connectorinfos\"} 0",
            "appflow_connector_operator_watch_failures_total{watch=\"namespaces\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }

    #[test]
    fn refusals_are_counted_by_category_and_every_category_starts_at_zero() {
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        let (store, _writer) = kube::runtime::reflector::store::<ConnectorInfo>();
        metrics.register(&mut registry, store, None, Arc::default());
        metrics.refusal(Some(RefusalCategory::NamespaceUnbound));
        metrics.refusal(Some(RefusalCategory::NamespaceUnbound));
        metrics.refusal(Some(RefusalCategory::RegionNotInBinding));
        metrics.refusal(None);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let count = |category: &str| {
            let series = format!(
                "appflow_connector_operator_connectorinfo_refusals_total{{category=\"{category}\"}} "
            );
            text.lines()
                .find_map(|line| line.strip_prefix(series.as_str()))
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
                .to_owned()
        };
        assert_eq!(count("namespace_unbound"), "2");
        assert_eq!(count("region_not_in_binding"), "1");
        for category in [
            "binding_conflict",
            "region_not_allowed",
            "invalid_refresh_interval",
            "no_region",
        ] {
            assert_eq!(count(category), "0", "{category}");
        }
        let series = text
            .lines()
            .filter(|l| l.starts_with("appflow_connector_operator_connectorinfo_refusals_total"))
            .count();
        assert_eq!(series, RefusalCategory::ALL.len());
    }
}
