//! kube-runtime wiring: watch ConnectorInfos, describe, write status, publish events, requeue.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Future, StreamExt, TryStreamExt};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller as KubeController};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, info, instrument, warn};

use crate::accounts::{self as account_watch, Accounts, Watches};
use crate::events::EventQueue;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::{Error, Result};
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::cache::{DescribeCache, RateLimited};
use conninfo_aws::observe::{self, Policy};
use conninfo_aws::ratelimit::RateLimiter;
use conninfo_core::crd::ConnectorInfo;
use conninfo_core::mirror::ConnectorConfiguration;
use conninfo_core::pacing::Pacing;
use conninfo_core::reason::{Reason, Retry};
use conninfo_core::refresh::RefreshRequests;
use conninfo_core::status::{self, Freshness, Severity};

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "appflow-connector-operator";

/// What every reconciliation shares.
pub struct Context {
    pub client: Client,
    pub appflow: Arc<AppFlow>,
    /// Events, published by a task of their own so a reconcile never waits for one.
    pub events: EventQueue,
    pub metrics: Arc<Metrics>,
    pub pacing: Pacing,
    pub policy: Policy,
    /// One DescribeConnector per connector key, shared by every object naming it.
    pub cache: DescribeCache,
    /// When each pending refresh request was first seen by the watch.
    pub refresh_requests: RefreshRequests,
    /// Only the leader describes and writes; a standby keeps its cache warm.
    pub leadership: Leadership,
    /// Which AWS identity and regions each namespace's objects are described with.
    pub accounts: Arc<Accounts>,
}

/// How the reconciler behaves, from the command line.
#[derive(Clone, Debug, Default)]
pub struct ContextSettings {
    pub policy: Policy,
    /// Least time between two describes of one object.
    pub min_describe_gap: Duration,
    /// Client-side limit toward AWS: calls per second and burst.
    pub rate_limit: Option<(f64, u32)>,
    /// Names this replica in the Events it publishes (the pod name).
    pub instance: Option<String>,
    /// Events published at once (the controller's concurrency).
    pub event_concurrency: usize,
    /// Whether this replica leads (default: always).
    pub leadership: Leadership,
    /// The AppFlowAccount bindings (default: none, the operator's identity everywhere).
    pub accounts: Option<Arc<Accounts>>,
}

impl Context {
    /// Starts the Event publisher, so it needs a Tokio runtime.
    pub fn new(
        client: Client,
        appflow: Arc<AppFlow>,
        metrics: Arc<Metrics>,
        settings: ContextSettings,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: settings.instance,
        };
        Self {
            events: EventQueue::start(
                client.clone(),
                reporter,
                metrics.clone(),
                settings.event_concurrency,
                settings.leadership.clone(),
            ),
            leadership: settings.leadership,
            accounts: settings
                .accounts
                .unwrap_or_else(|| Arc::new(Accounts::off())),
            client,
            appflow,
            metrics,
            pacing: Pacing::new(settings.min_describe_gap),
            policy: settings.policy,
            refresh_requests: RefreshRequests::default(),
            cache: match settings.rate_limit {
                Some((per_second, burst)) => {
                    DescribeCache::with_limiter(RateLimiter::new(per_second, burst, Instant::now()))
                }
                None => DescribeCache::default(),
            },
        }
    }

    /// A describe cache entry went with the last object using it: counted, and the SDK
    /// clients (and assumed-role credentials) no object uses any more go too.
    fn entry_evicted(&self) {
        self.metrics.describe_cache_eviction();
        self.appflow
            .retain_clients(|identity, region| self.cache.uses(identity, region));
    }
}

/// Describes one ConnectorInfo and writes what was learnt.
pub async fn reconcile(obj: Arc<ConnectorInfo>, ctx: Arc<Context>) -> Result<Action> {
    Ok(match reconcile_once(obj, ctx).await? {
        Some(wait) => Action::requeue(wait),
        None => Action::await_change(),
    })
}

/// One reconciliation; returns when to describe again (`None`: only on change).
#[instrument(skip_all, fields(object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile_once(
    obj: Arc<ConnectorInfo>,
    ctx: Arc<Context>,
) -> Result<Option<Duration>> {
    // Test builds only: lets the e2e suite prove that a dead loop is a dead process.
    fail::fail_point!("reconcile");
    // A standby neither calls AWS nor writes; it is reconciled in full when it starts leading.
    if !ctx.leadership.is_leading() {
        ctx.metrics.reconciled("standby");
        return Ok(None);
    }
    let _timer = ctx.metrics.reconcile_started();
    let namespace = obj.namespace().ok_or(Error::MissingNamespace)?;
    let uid = obj.uid().unwrap_or_default();

    // Which identity and regions the namespace's binding gives (an empty cache would read
    // as "unbound", so it is waited for once).
    ctx.accounts.ready().await;
    let access = ctx.accounts.resolve(&namespace);
    let admitted = observe::admit(&obj.spec, &ctx.policy, access, ctx.appflow.default_region());

    // Described for this generation, by the same binding and account, and not due yet (a
    // start-up or a relist): no AWS call, just the requeue at its due time, so a restart does
    // not describe the whole fleet.
    let now = jiff::Timestamp::now();
    if let Ok(admitted) = &admitted {
        let previous = obj.status.as_ref();
        let account_id = ctx.appflow.account_id(&admitted.access.identity).await;
        let origin = status::Origin {
            account_id: account_id.as_deref(),
            binding: admitted.access.binding.as_deref(),
        };
        match status::freshness(
            previous,
            obj.metadata.generation,
            obj.refresh_request(),
            admitted.refresh,
            origin,
            now,
        ) {
            Freshness::FreshFor(due) => {
                ctx.metrics.reconciled("fresh");
                return Ok(Some(ctx.pacing.due_in(due)));
            }
            Freshness::FreshUntilChange => {
                ctx.metrics.reconciled("fresh");
                return Ok(None);
            }
            Freshness::Stale => {}
        }
    }

    // Spec edits and refresh-annotation churn inside the gap coalesce into one describe
    // after it: the scheduler keeps one requeue per object and the reconcile then reads the
    // latest object from the cache.
    let claim = match ctx.pacing.claim_call(&uid, Instant::now()) {
        Ok(claim) => claim,
        Err(wait) => {
            debug!(?wait, "describe deferred by the per-object minimum gap");
            ctx.metrics.reconciled("deferred");
            return Ok(Some(wait));
        }
    };

    let refresh_seen = obj
        .refresh_request()
        .and_then(|request| ctx.refresh_requests.seen(&uid, request));
    let observed = match observe::observe(
        &ctx.appflow,
        &ctx.cache,
        &obj,
        admitted,
        refresh_seen,
        ctx.policy.stalled_after,
        now,
    )
    .await
    {
        Ok(observed) => observed,
        // No token for AWS yet: give the slot back and come again when there is one.
        Err(RateLimited(wait)) => {
            debug!(?wait, "describe waits for the AWS rate limit");
            ctx.pacing.unclaim(&uid, claim);
            ctx.metrics.reconciled("rate_limited");
            return Ok(Some(ctx.pacing.token_retry(wait)));
        }
    };
    if let Some((reason, took)) = observed.call {
        ctx.metrics.api_call("DescribeConnector", reason, took);
    }
    if let Some(source) = observed.source {
        ctx.metrics.describe_cache(source);
    }
    if observed
        .computed
        .events
        .iter()
        .any(|e| e.reason == Reason::ConfigurationChanged)
    {
        ctx.metrics
            .configuration_changed(&obj.spec.connector_type.to_string());
    }
    if let Some(key) = &observed.key
        && ctx.cache.used_by(&uid, key)
    {
        ctx.entry_evicted();
    }
    let computed = observed.computed;

    // Leadership lost during the call: the new leader describes again; nothing is written.
    if !ctx.leadership.is_leading() {
        ctx.metrics.reconciled("standby");
        return Ok(None);
    }
    if obj.status.as_ref() != Some(&computed.status) {
        let api: Api<ConnectorInfo> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = serde_json::json!({
            "apiVersion": ConnectorInfo::api_version(&()),
            "kind": ConnectorInfo::kind(&()),
            "status": computed.status,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::StatusWrite)?;
        ctx.metrics.status_write(true);
        debug!(reason = %computed.reason, "status written");
    } else {
        ctx.metrics.status_write(false);
    }

    let reference = obj.object_ref(&());
    for event in &computed.events {
        let kube_event = Event {
            type_: match event.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: event.reason.as_str().into(),
            note: Some(event.note_within_limit().to_owned()),
            action: "DescribeConnector".into(),
            secondary: None,
        };
        ctx.events.publish(kube_event, reference.clone()).await;
    }

    let next = ctx
        .pacing
        .schedule(&uid, computed.retry(), observed.refresh);
    if computed.retry() == Retry::Backoff {
        info!(reason = %computed.reason, wait = ?next, "describe failed, retrying with backoff");
    }
    ctx.metrics.reconciled(if computed.is_ready() {
        "ready"
    } else {
        computed.reason.as_str()
    });
    Ok(next)
}

/// Failures of the reconciler itself (status writes, bad objects): per-object backoff.
pub fn error_policy(obj: Arc<ConnectorInfo>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, object = %obj.name_any(), "reconcile failed");
    ctx.metrics.reconciled(error.metric_label());
    Action::requeue(ctx.pacing.next_backoff(&obj.uid().unwrap_or_default()))
}

/// kubectl's copy of the last applied manifest: as large as the object's spec, never read here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what the controller never reads from the copy its cache keeps of every object
/// (`managedFields`, often larger than the spec, and kubectl's last-applied annotation), and
/// makes objects that mirror the same configuration share one copy of it.
pub fn trim_for_cache(obj: &mut ConnectorInfo) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    if let Some(config) = obj
        .status
        .as_mut()
        .and_then(|s| s.connector_configuration.as_mut())
    {
        *config = SHARED_CONFIGURATIONS.intern(config);
    }
}

/// Configurations mirrored by objects in the cache, one copy each.
static SHARED_CONFIGURATIONS: Interner = Interner::new();

/// One `Arc` per distinct configuration, held weakly: a configuration no object mirrors any
/// more is freed, and its slot reused.
struct Interner(std::sync::Mutex<Vec<std::sync::Weak<ConnectorConfiguration>>>);

impl Interner {
    const fn new() -> Self {
        Self(std::sync::Mutex::new(Vec::new()))
    }

    fn intern(&self, config: &Arc<ConnectorConfiguration>) -> Arc<ConnectorConfiguration> {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.retain(|weak| weak.strong_count() > 0);
        if let Some(shared) = known
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .find(|shared| **shared == **config)
        {
            return shared;
        }
        known.push(Arc::downgrade(config));
        config.clone()
    }
}

/// Passes events only when the spec (generation) or the refresh annotation changed, so the
/// controller is not woken by its own status writes.
fn spec_or_refresh(obj: &ConnectorInfo) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    obj.metadata.generation.hash(&mut hasher);
    obj.refresh_request().hash(&mut hasher);
    Some(hasher.finish())
}

/// Settings of the controller loop.
pub struct RunSettings {
    pub watch_namespace: Option<String>,
    pub concurrency: u16,
    /// The binding and namespace watches behind `Context::accounts`, if bindings are on.
    pub account_watches: Option<Watches>,
}

/// The controller, ready to run: its cache (for metrics) and the loop itself.
pub struct Controller {
    pub store: Store<ConnectorInfo>,
    pub run: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Builds the controller; `run` reconciles until `shutdown` resolves. `ready` turns true once
/// the cache is filled.
pub fn controller(
    ctx: Arc<Context>,
    settings: RunSettings,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Controller {
    let api: Api<ConnectorInfo> = match &settings.watch_namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    // Ready once the initial list is in the cache (the store's own readiness future
    // supports one waiter, which the controller takes). Deleted objects drop their backoff
    // and pacing state, which nothing else would clear without a finalizer.
    let forget = ctx.clone();
    // The initial list is paginated (the watcher's default page size); what the cache keeps of
    // each object is trimmed to what reconciling needs.
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(trim_for_cache)
        .reflect(writer)
        .inspect_ok(move |event| match event {
            watcher::Event::InitDone if !ready.swap(true, Ordering::Relaxed) => {
                info!("cache synced, controller ready");
            }
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                forget.refresh_requests.note(
                    &obj.uid().unwrap_or_default(),
                    obj.refresh_request(),
                    obj.status
                        .as_ref()
                        .and_then(|s| s.last_handled_refresh.as_deref()),
                    Instant::now(),
                );
            }
            watcher::Event::Delete(obj) => {
                let uid = obj.uid().unwrap_or_default();
                forget.pacing.forget(&uid);
                forget.refresh_requests.forget(&uid);
                if forget.cache.forget(&uid) {
                    forget.entry_evicted();
                }
            }
            _ => {}
        })
        .applied_objects()
        .predicate_filter(spec_or_refresh, PredicateConfig::default());

    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let mut controller = KubeController::for_stream(stream, reader.clone())
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        // A replica that starts leading reconciles everything it only watched as a standby.
        .reconcile_all_on(ctx.leadership.acquisitions());
    let mut status_writer = None;
    if let Some(watches) = settings.account_watches {
        // A binding's new generation (or its deletion) may change any namespace's access; a
        // namespace's labels change only its own objects'.
        let everything = reader.clone();
        let in_namespace = reader.clone();
        controller = controller
            .watches_stream(watches.bindings, move |_| {
                everything
                    .state()
                    .iter()
                    .map(|o| ObjectRef::from_obj(&**o))
                    .collect::<Vec<_>>()
            })
            .watches_stream(watches.namespaces, move |ns| {
                let name = ns.name_any();
                in_namespace
                    .state()
                    .iter()
                    .filter(|o| o.metadata.namespace.as_deref() == Some(name.as_str()))
                    .map(|o| ObjectRef::from_obj(&**o))
                    .collect::<Vec<_>>()
            });
        status_writer = Some(account_watch::maintain_status(
            ctx.client.clone(),
            ctx.appflow.clone(),
            ctx.accounts.clone(),
            ctx.leadership.clone(),
            FIELD_MANAGER,
            shutdown.clone(),
        ));
    }
    let run = controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "controller event");
            }
        });
    Controller {
        store: reader,
        run: Box::pin(async move {
            match status_writer {
                Some(status_writer) => {
                    futures::future::join(run, status_writer).await;
                }
                None => run.await,
            }
            info!("controller stopped");
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::crd::{
        ConnectorInfoSpec, ConnectorInfoStatus, ConnectorType, REFRESH_ANNOTATION,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn the_cache_keeps_what_reconciling_reads_and_nothing_else() {
        let mut obj = ConnectorInfo::new(
            "crm",
            ConnectorInfoSpec {
                connector_type: ConnectorType::Slack,
                connector_label: None,
                region: None,
                refresh_interval: None,
                requirements: None,
            },
        );
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default(); 3]);
        obj.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_owned(), "{...}".to_owned()),
                (REFRESH_ANNOTATION.to_owned(), "1".to_owned()),
            ]
            .into(),
        );
        let spec = obj.spec.clone();
        let config = ConnectorConfiguration {
            connector_type: Some("Slack".into()),
            ..Default::default()
        };
        obj.status = Some(ConnectorInfoStatus {
            connector_configuration: Some(Arc::new(config.clone())),
            ..Default::default()
        });
        let mut twin = obj.clone();
        twin.status = Some(ConnectorInfoStatus {
            connector_configuration: Some(Arc::new(config)),
            ..Default::default()
        });
        trim_for_cache(&mut obj);
        trim_for_cache(&mut twin);
        let shared = |o: &ConnectorInfo| {
            o.status
                .as_ref()
                .and_then(|s| s.connector_configuration.clone())
                .unwrap()
        };
        assert!(
            Arc::ptr_eq(&shared(&obj), &shared(&twin)),
            "equal configurations share one copy"
        );
        assert_eq!(obj.metadata.managed_fields, None);
        assert_eq!(
            obj.refresh_request(),
            Some("1"),
            "the refresh annotation stays"
        );
        assert_eq!(obj.metadata.annotations.as_ref().map(|a| a.len()), Some(1));
        assert_eq!(obj.spec, spec);
    }
}
