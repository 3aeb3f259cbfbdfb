//! kube-runtime wiring: watch ConnectorInfos, describe, write status, publish events, requeue.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Future, StreamExt, TryStreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller as KubeController};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, info, instrument, warn};

use crate::accounts::{Accounts, Watches};
use crate::events::EventQueue;
use crate::gate::Gate;
use crate::initial_list::ListMode;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::pacing::{Claim, Pacing};
use crate::refresh_requests::RefreshRequests;
use crate::requeues::Requeues;
use crate::status_write::{self, FIELD_MANAGER};
use crate::trim::{cache_feed, trim_for_cache, with_pending_request};
use crate::watch_health::{self, NoPause, WatchHealth, WatchName};
use crate::{Error, Finished, ReconcileOutcome, Result};
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::cache::{DescribeCache, Wait};
use conninfo_aws::observe::{self, Policy};
use conninfo_aws::ratelimit::RateLimiter;
use conninfo_core::crd::ConnectorInfo;
use conninfo_core::lanes::{Bounds, Lane};
use conninfo_core::outcome::DescribeFailure;
use conninfo_core::reason::{Reason, Retry};
use conninfo_core::status::{self, Freshness, Severity};

/// Whether an object may be described, with which access and refresh interval, or why not.
type Admission = Result<observe::Admitted, DescribeFailure>;

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
    /// The reconcile queue: at most `concurrency` reconciliations at once, by lane.
    pub gate: Arc<Gate>,
    /// When each object is reconciled again (its refresh, backoff or token wait).
    pub requeues: Arc<Requeues>,
    /// The status writes that only say an object waits for a refresh ([`NOTICE_BURST`]).
    pub refresh_notices: DefaultDirectRateLimiter,
}

/// "Waiting for a refresh" is written to at most `NOTICE_BURST` objects at once, and
/// `NOTICES_PER_SECOND` after that. It is a notice, not an answer: a fleet annotated at once
/// would otherwise double the status writes of a refresh (a notice, then the answer, per
/// object) and the API server's load with them, which new objects feel (docs/design.md,
/// "Forced refreshes").
pub const NOTICE_BURST: NonZeroU32 = NonZeroU32::new(50).unwrap();
pub const NOTICES_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).unwrap();

fn refresh_notices() -> DefaultDirectRateLimiter {
    DefaultDirectRateLimiter::direct(
        Quota::per_second(NOTICES_PER_SECOND).allow_burst(NOTICE_BURST),
    )
}

/// How the reconciler behaves, from the command line.
#[derive(Clone, Debug, Default)]
pub struct ContextSettings {
    pub policy: Policy,
    /// Least time between two describes of one object.
    pub min_describe_gap: Duration,
    /// The least time between two calls of a connector key made for refresh requests
    /// (`--forced-refresh-interval`; zero here, the flag's default is 60 s).
    pub forced_refresh_interval: Duration,
    /// Client-side limit toward AWS: calls per second and burst.
    pub rate_limit: Option<(f64, u32)>,
    /// Names this replica in the Events it publishes (the pod name).
    pub instance: Option<String>,
    /// Reconciliations run at once (the ranked gate's workers: `--concurrency`), and Events
    /// published at once by the Event queue: one number bounds both.
    pub concurrency: usize,
    /// The reconcile queue's and the token queue's lane bounds.
    pub lane_bounds: Bounds,
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
            gate: Gate::new(
                settings.concurrency,
                settings.lane_bounds,
                metrics.lanes.clone(),
            ),
            events: EventQueue::start(
                client.clone(),
                reporter,
                metrics.clone(),
                settings.concurrency,
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
            requeues: Arc::default(),
            refresh_notices: refresh_notices(),
            cache: match settings.rate_limit {
                Some((per_second, burst)) => {
                    DescribeCache::with_limiter(RateLimiter::new(per_second, burst, Instant::now()))
                }
                None => DescribeCache::default(),
            }
            .with_forced_interval(settings.forced_refresh_interval)
            .with_lane_bounds(settings.lane_bounds),
        }
    }

    /// Drops everything kept for a deleted object: its pending requeue, its pacing, its pending
    /// refresh request and its use of a describe-cache entry (and the entry with its last
    /// user). The one place that knows every per-object map (docs/design.md, "Per-object
    /// state"): a new map is cleared here and counted in [`Self::per_object_entries`].
    pub fn forget(&self, obj: &ConnectorInfo) {
        self.requeues.cancel(&requeue_ref(obj));
        let uid = obj.uid().unwrap_or_default();
        self.pacing.forget(&uid);
        self.refresh_requests.forget(&uid);
        if self.cache.forget(&uid) {
            self.entry_evicted();
        }
    }

    /// How many objects each per-object map holds an entry for.
    pub fn per_object_entries(&self) -> PerObjectEntries {
        PerObjectEntries {
            requeues: self.requeues.len(),
            pacing: self.pacing.len(),
            refresh_requests: self.refresh_requests.len(),
            describe_cache_users: self.cache.users(),
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

/// Entries per map of the state kept per object beside the watch's cache ([`Context::forget`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerObjectEntries {
    pub requeues: usize,
    pub pacing: usize,
    pub refresh_requests: usize,
    pub describe_cache_users: usize,
}

/// Describes one ConnectorInfo and writes what was learnt, once its lane's turn comes.
/// When to reconcile again is kept in `Context::requeues`, not in kube's scheduler.
pub async fn reconcile(obj: Arc<ConnectorInfo>, ctx: Arc<Context>) -> Result<Action> {
    // Ranked with its pending refresh request, which the cache leaves out; the copy that
    // carries it is not held while waiting (reconcile_once reads the request again).
    let lane = lane(
        &with_pending_request(obj.clone(), &ctx.refresh_requests),
        &ctx,
    )
    .await;
    let _turn = ctx.gate.enter(lane).await;
    let again = requeue_ref(&obj);
    // Boxed: the futures waiting at the gate stay small (every object may wait there).
    match Box::pin(reconcile_once(obj, ctx.clone())).await {
        Ok(Some(wait)) => ctx
            .requeues
            .schedule(again, tokio::time::Instant::now() + wait),
        Ok(None) => ctx.requeues.cancel(&again),
        Err(error) => {
            // `error_policy` requeues with the object's backoff.
            ctx.requeues.cancel(&again);
            return Err(error);
        }
    }
    Ok(Action::await_change())
}

/// The object by name and namespace only: what a pending requeue keeps of it.
fn requeue_ref(obj: &ConnectorInfo) -> ObjectRef<ConnectorInfo> {
    let name = ObjectRef::new(&obj.name_any());
    match obj.metadata.namespace.as_deref() {
        Some(namespace) => name.within(namespace),
        None => name,
    }
}

/// Why the object is reconciled (its rank in the reconcile queue), judged with the binding
/// that serves its namespace now.
async fn lane(obj: &ConnectorInfo, ctx: &Context) -> Lane {
    ctx.accounts.ready_to_resolve().await;
    let namespace = obj.namespace().unwrap_or_default();
    let binding = ctx
        .accounts
        .resolve(&namespace)
        .ok()
        .and_then(|a| a.binding);
    observe::lane(obj, binding.as_deref())
}

/// One reconciliation; returns when to describe again (`None`: only on change).
#[instrument(skip_all, fields(object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile_once(
    obj: Arc<ConnectorInfo>,
    ctx: Arc<Context>,
) -> Result<Option<Duration>> {
    // Test builds only: lets the e2e suite prove that a dead loop is a dead process.
    fail::fail_point!("reconcile");
    let obj = with_pending_request(obj, &ctx.refresh_requests);
    let finished = reconcile_steps(&obj, &ctx).await?;
    ctx.metrics.reconciled(finished.outcome.label());
    Ok(finished.next)
}

/// The steps of a reconciliation, in order; each returns early with how it finished.
async fn reconcile_steps(obj: &ConnectorInfo, ctx: &Context) -> Result<Finished> {
    if !ctx.leadership.is_leading() {
        return Ok(Finished::STANDBY);
    }
    let _timer = ctx.metrics.reconcile_started();
    let namespace = obj.namespace().ok_or(Error::MissingNamespace)?;
    let uid = obj.uid().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let admitted = admit(obj, ctx, &namespace).await;
    if let Some(fresh) = skip_if_fresh(obj, ctx, &admitted, now).await {
        return Ok(fresh);
    }
    let claim = match claim_describe(ctx, &uid) {
        Ok(claim) => claim,
        Err(deferred) => return Ok(deferred),
    };
    let observed = match describe(obj, ctx, admitted, &uid, now).await {
        Ok(observed) => observed,
        Err(Wait::Token(wait)) => return Ok(wait_for_token(ctx, &uid, claim, wait)),
        Err(Wait::Held(until)) => return Ok(hold_resumed_failure(ctx, &uid, claim, until)),
        Err(Wait::Refresh(next_call)) => {
            ctx.pacing.unclaim(&uid, claim);
            return wait_for_refresh(obj, ctx, &namespace, next_call).await;
        }
    };
    record_observation(obj, ctx, &uid, &observed);
    // Leadership lost during the call: the new leader describes again; nothing is written.
    if !ctx.leadership.is_leading() {
        return Ok(Finished::STANDBY);
    }
    write_status_if_changed(obj, ctx, &namespace, &observed.computed).await?;
    publish_events(obj, ctx, &observed.computed.events).await;
    Ok(schedule_next(ctx, &uid, &observed))
}

/// Which identity and regions the namespace's binding gives, and whether the object may be
/// described at all (an empty binding cache would read as "unbound", so it is waited for once;
/// the namespaces' only when a binding selects by labels).
async fn admit(obj: &ConnectorInfo, ctx: &Context, namespace: &str) -> Admission {
    ctx.accounts.ready_to_resolve().await;
    let access = ctx.accounts.resolve(namespace);
    observe::admit(&obj.spec, &ctx.policy, access, ctx.appflow.default_region())
}

/// Described for this generation, by the same binding and account, and not due yet (a
/// start-up or a relist): no AWS call, just the requeue at its due time, so a restart does
/// not describe the whole fleet.
async fn skip_if_fresh(
    obj: &ConnectorInfo,
    ctx: &Context,
    admitted: &Admission,
    now: jiff::Timestamp,
) -> Option<Finished> {
    let admitted = admitted.as_ref().ok()?;
    let account_id = ctx.appflow.account_id(&admitted.access.identity).await;
    let origin = status::Origin {
        account_id: account_id.as_deref(),
        binding: admitted.access.binding.as_deref(),
    };
    let freshness = status::freshness(
        obj.status.as_ref(),
        obj.metadata.generation,
        obj.refresh_request(),
        admitted.refresh,
        origin,
        now,
    );
    let next = match freshness {
        Freshness::FreshFor(due) => Some(ctx.pacing.due_in(due)),
        Freshness::FreshUntilChange => None,
        Freshness::Stale => return None,
    };
    Some(Finished {
        outcome: ReconcileOutcome::Fresh,
        next,
    })
}

/// The object's describe slot. Spec edits and refresh-annotation churn inside the minimum gap
/// coalesce into one describe after it: `Context::requeues` keeps one requeue per object and
/// the reconcile then reads the latest object from the cache.
fn claim_describe(ctx: &Context, uid: &str) -> Result<Claim, Finished> {
    ctx.pacing.claim_call(uid, Instant::now()).map_err(|wait| {
        debug!(?wait, "describe deferred by the per-object minimum gap");
        Finished {
            outcome: ReconcileOutcome::Deferred,
            next: Some(wait),
        }
    })
}

/// Describes through the cache (one call per connector key) and computes the status.
async fn describe(
    obj: &ConnectorInfo,
    ctx: &Context,
    admitted: Admission,
    uid: &str,
    now: jiff::Timestamp,
) -> Result<observe::Observed, Wait> {
    let refresh_requested = obj
        .refresh_request()
        .and_then(|request| ctx.refresh_requests.requested(uid, request));
    observe::observe(
        &ctx.appflow,
        &ctx.cache,
        obj,
        admitted,
        refresh_requested,
        ctx.policy.stalled_after,
        now,
    )
    .await
}

/// No token for AWS yet: give the slot back and come again when there is one.
fn wait_for_token(ctx: &Context, uid: &str, claim: Claim, wait: Duration) -> Finished {
    debug!(?wait, "describe waits for the AWS rate limit");
    ctx.pacing.unclaim(uid, claim);
    Finished {
        outcome: ReconcileOutcome::RateLimited,
        next: Some(ctx.pacing.token_retry(wait)),
    }
}

/// A key this process has not called yet, failing for a budgeted reason since before it
/// started (a restart, an upgrade): its budget resumes from the status, which stands as it is
/// until the key's next call is due.
fn hold_resumed_failure(ctx: &Context, uid: &str, claim: Claim, until: Instant) -> Finished {
    let wait = until.saturating_duration_since(Instant::now());
    debug!(
        ?wait,
        "the key's error budget, resumed from the status, holds its failure"
    );
    ctx.pacing.unclaim(uid, claim);
    Finished {
        outcome: ReconcileOutcome::Held,
        next: Some(wait),
    }
}

/// A refresh request that no call answers yet waits for its connector's next forced call:
/// `Reconciling` says so and until when, and the object comes again when the call may start.
async fn wait_for_refresh(
    obj: &ConnectorInfo,
    ctx: &Context,
    namespace: &str,
    next_call: Instant,
) -> Result<Finished> {
    let wait = next_call.saturating_duration_since(Instant::now());
    debug!(
        ?wait,
        "refresh request waits for its connector's next forced call"
    );
    if !ctx.leadership.is_leading() {
        return Ok(Finished::STANDBY);
    }
    let now = jiff::Timestamp::now();
    let status = status::awaiting_refresh(
        obj.status.as_ref(),
        &obj.spec,
        obj.metadata.generation,
        observe::wall_clock_after(now, wait),
        ctx.cache.forced_interval(),
        now,
    );
    let computed = status::Computed {
        status,
        events: Vec::new(),
        reason: Reason::RefreshPending,
    };
    let noticed = obj.status.as_ref() == Some(&computed.status);
    if noticed || ctx.refresh_notices.check().is_ok() {
        write_status_if_changed(obj, ctx, namespace, &computed).await?;
    } else {
        debug!("no notice written: the notices' budget is spent; the answer is written on time");
    }
    Ok(Finished {
        outcome: ReconcileOutcome::RefreshPending,
        next: Some(wait),
    })
}

/// The AWS call, the cache's answer and a changed configuration, as metrics; the cache entry
/// the object no longer uses, evicted.
fn record_observation(obj: &ConnectorInfo, ctx: &Context, uid: &str, observed: &observe::Observed) {
    if let Some((reason, took)) = observed.call {
        ctx.metrics.api_call("DescribeConnector", reason, took);
    }
    if let Some(source) = observed.source {
        ctx.metrics.describe_cache(source);
        let now = Instant::now();
        ctx.metrics
            .set_describe_keys_backing_off(ctx.cache.keys_backing_off(now));
        ctx.metrics
            .set_aws_circuits_open(ctx.cache.circuits_open(now));
    }
    ctx.metrics.refusal(observed.refusal);
    let events = &observed.computed.events;
    if events
        .iter()
        .any(|e| e.reason == Reason::ConfigurationChanged)
    {
        ctx.metrics
            .configuration_changed(&obj.spec.connector_type.to_string());
    }
    if let Some(key) = &observed.key
        && ctx.cache.used_by(uid, key)
    {
        ctx.entry_evicted();
    }
}

/// Patches status only when it differs from what the cache holds.
async fn write_status_if_changed(
    obj: &ConnectorInfo,
    ctx: &Context,
    namespace: &str,
    computed: &status::Computed,
) -> Result<()> {
    if obj.status.as_ref() == Some(&computed.status) {
        ctx.metrics.status_write(false);
        return Ok(());
    }
    let api: Api<ConnectorInfo> = Api::namespaced(ctx.client.clone(), namespace);
    status_write::apply_status(&api, &obj.name_any(), &computed.status)
        .await
        .map_err(Error::StatusWrite)?;
    ctx.metrics.status_write(true);
    debug!(reason = %computed.reason, "status written");
    Ok(())
}

/// Queues the transitions' Events; a task of their own publishes them.
async fn publish_events(obj: &ConnectorInfo, ctx: &Context, events: &[status::Transition]) {
    let reference = obj.object_ref(&());
    for event in events {
        ctx.events
            .publish(kube_event(event), reference.clone())
            .await;
    }
}

/// A transition as a Kubernetes Event.
fn kube_event(event: &status::Transition) -> Event {
    Event {
        type_: match event.severity {
            Severity::Normal => EventType::Normal,
            Severity::Warning => EventType::Warning,
        },
        reason: event.reason.as_str().into(),
        note: Some(event.note_within_limit().to_owned()),
        action: "DescribeConnector".into(),
        secondary: None,
    }
}

/// When to describe again: the refresh interval, or the object's backoff after a failure.
fn schedule_next(ctx: &Context, uid: &str, observed: &observe::Observed) -> Finished {
    let computed = &observed.computed;
    let next = ctx.pacing.schedule(uid, computed.retry(), observed.refresh);
    if computed.retry() == Retry::Backoff {
        info!(reason = %computed.reason, wait = ?next, "describe failed, retrying with backoff");
    }
    Finished {
        outcome: if computed.is_ready() {
            ReconcileOutcome::Ready
        } else {
            ReconcileOutcome::NotReady(computed.reason)
        },
        next,
    }
}

/// Failures of the reconciler itself (status writes, bad objects): per-object backoff.
pub fn error_policy(obj: Arc<ConnectorInfo>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(error = %error, object = %obj.name_any(), "reconcile failed");
    ctx.metrics.reconciled(error.metric_label());
    Action::requeue(ctx.pacing.next_backoff(&obj.uid().unwrap_or_default()))
}

/// Settings of the controller loop.
pub struct RunSettings {
    pub watch_namespace: Option<String>,
    /// How the watch lists everything (`initial_list::choose`).
    pub list_mode: ListMode,
    /// The binding and namespace watches behind `Context::accounts`, if bindings are on.
    pub account_watches: Option<Watches>,
}

/// The controller, ready to run: its cache (for metrics) and the loop itself.
pub struct Controller {
    pub store: Store<ConnectorInfo>,
    pub run: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Reconciliations let through to the ranked gate at once: the rank holds among this many
/// waiting ones, and a start-up or relist of a large fleet does not hold a waiting
/// reconciliation per object.
pub const RANKED_AT_GATE: u16 = 1024;

/// The ConnectorInfos the operator watches: one namespace's, or all.
pub fn watched(client: &Client, namespace: Option<&str>) -> Api<ConnectorInfo> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Builds the controller; `run` reconciles until `shutdown` resolves. `ready` turns true once
/// the cache is filled.
pub fn controller(
    ctx: Arc<Context>,
    settings: RunSettings,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Controller {
    let (reader, writer) = reflector::store();
    let stream = watch_objects(
        &ctx,
        settings.watch_namespace,
        settings.list_mode,
        writer,
        ready,
    );

    // kube-runtime's scheduler serves first come, first served, so the limit that matters
    // (`--concurrency`) is the context's ranked gate, where waiting work is served by lane; the
    // scheduler lets up to `RANKED_AT_GATE` through to wait there, and keeps the rest (a relist,
    // a start-up) in its own queue, where an entry costs far less than a waiting reconcile.
    // Each watch backs off on its own; kube's default would also pause every trigger together
    // after any watch's error (`watch_health::NoPause`).
    let mut controller = KubeController::for_stream(stream, reader.clone())
        .with_config(ControllerConfig::default().concurrency(RANKED_AT_GATE))
        .trigger_backoff(NoPause)
        // A replica that starts leading reconciles everything it only watched as a standby.
        .reconcile_all_on(ctx.leadership.acquisitions())
        .reconcile_on(ctx.requeues.clone().due(ctx.gate.clone()));
    if let Some(watches) = settings.account_watches {
        for health in &watches.health {
            ctx.metrics.track_watch(health);
        }
        controller = triggered_by_accounts(controller, watches, &reader);
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
            run.await;
            info!("controller stopped");
        }),
    }
}

/// The ConnectorInfo watch: it fills the cache (`writer`) with trimmed objects and passes on
/// the ones worth a reconciliation; its health shows in the metrics.
fn watch_objects(
    ctx: &Arc<Context>,
    namespace: Option<String>,
    list_mode: ListMode,
    writer: reflector::store::Writer<ConnectorInfo>,
    ready: Arc<AtomicBool>,
) -> impl futures::Stream<Item = Result<ConnectorInfo, watcher::Error>> + Send + use<> {
    let forget = ctx.clone();
    // What the cache keeps of each object is trimmed to what reconciling needs.
    let mut feed = cache_feed(writer);
    let health = WatchHealth::new(WatchName::ConnectorInfos);
    ctx.metrics.track_watch(&health);
    let api = move |client: Client| watched(&client, namespace.as_deref());
    watch_health::watch(&ctx.client, api, list_mode.watcher_config(), &health)
        .modify(trim_for_cache)
        .try_filter_map(move |event| {
            let (worth_it, event) = feed.feed(event, &forget.refresh_requests);
            on_watch_event(&forget, &ready, &event);
            futures::future::ready(Ok(match event {
                watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) if worth_it => {
                    Some(obj)
                }
                _ => None,
            }))
        })
}

/// What the watch tells the controller besides the objects (the cache feed notes when each
/// refresh request was first seen): ready once the initial list is in the cache (the store's
/// own readiness future supports one waiter, which the controller takes); and that a deleted
/// object's backoff, pacing and cache entry can go, which nothing else would clear without a
/// finalizer.
fn on_watch_event(ctx: &Context, ready: &AtomicBool, event: &watcher::Event<ConnectorInfo>) {
    match event {
        watcher::Event::InitDone if !ready.swap(true, Ordering::Relaxed) => {
            info!("cache synced, controller ready");
        }
        watcher::Event::Delete(obj) => ctx.forget(obj),
        _ => {}
    }
}

/// A binding's new generation (or its deletion) may change any namespace's access, so it
/// reconciles every object; a namespace's labels change only its own objects'.
fn triggered_by_accounts(
    controller: KubeController<ConnectorInfo>,
    watches: Watches,
    reader: &Store<ConnectorInfo>,
) -> KubeController<ConnectorInfo> {
    let everything = reader.clone();
    let in_namespace = reader.clone();
    controller
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
        })
}
