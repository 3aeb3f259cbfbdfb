//! The AppFlowAccount controller: keeps every binding's status true — the namespaces it
//! matches, its conflicts with other bindings, whether its identity can be used — as a
//! kube-runtime controller, like the ConnectorInfo one: per-object scheduling and backoff, an
//! error policy, metrics, the one status write (docs/design.md, "The AppFlowAccount
//! controller").

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller as KubeController};
use kube::runtime::reflector::{ReflectHandle, Store};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::accounts::{Accounts, BindingTriggers};
use crate::leader::Leadership;
use crate::metrics::{BindingMetrics, Metrics};
use crate::pacing::Pacing;
use crate::status_write;
use crate::{Error, Finished, ReconcileOutcome, Result};
use conninfo_aws::appflow::AppFlow;
use conninfo_core::account::crd::{AppFlowAccount, AppFlowAccountStatus};
use conninfo_core::account::identity::Identity;
use conninfo_core::account::resolve::Binding;
use conninfo_core::account::status::{self, Assumption, BindingObservation};

/// How often a binding's identity is tried again when nothing changed.
pub const RECHECK: Duration = Duration::from_secs(300);

/// What every reconciliation of a binding shares.
pub struct Context {
    pub client: Client,
    pub appflow: Arc<AppFlow>,
    /// The caches the bindings' matches and conflicts are computed from.
    pub accounts: Arc<Accounts>,
    /// Only the leader tries identities and writes.
    pub leadership: Leadership,
    /// Status writes are counted with the ConnectorInfos' (`status_writes`).
    pub metrics: Arc<Metrics>,
    /// Reconciliations are counted apart (`appflowaccount_reconciliations`).
    pub binding_metrics: BindingMetrics,
    tries: Tries,
    /// Per-binding exponential backoff after a failed write, reset by a success.
    backoff: Pacing,
}

impl Context {
    pub fn new(
        client: Client,
        appflow: Arc<AppFlow>,
        accounts: Arc<Accounts>,
        leadership: Leadership,
        metrics: Arc<Metrics>,
        binding_metrics: BindingMetrics,
    ) -> Self {
        Self {
            client,
            appflow,
            accounts,
            leadership,
            metrics,
            binding_metrics,
            tries: Tries::default(),
            // No minimum gap: the backoff alone spaces the retries of a write.
            backoff: Pacing::new(Duration::ZERO),
        }
    }
}

/// The last try of a binding's identity.
#[derive(Clone, Debug)]
struct Tried {
    generation: Option<i64>,
    at: Instant,
    assumption: Assumption,
}

/// When a binding's identity is to be tried.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Due {
    Now,
    /// Not yet: the last try's answer holds for this long.
    In(Duration, Assumption),
}

/// Pure: a binding's identity is tried when it was never tried, for each new generation, and
/// [`RECHECK`] after its last try.
fn due(last: Option<&Tried>, generation: Option<i64>, now: Instant) -> Due {
    let Some(last) = last.filter(|last| last.generation == generation) else {
        return Due::Now;
    };
    match RECHECK.checked_sub(now.saturating_duration_since(last.at)) {
        Some(left) if !left.is_zero() => Due::In(left, last.assumption.clone()),
        _ => Due::Now,
    }
}

/// Each binding's last try, by UID (a binding deleted and created again under its name is a
/// new binding, tried afresh).
#[derive(Debug, Default)]
struct Tries(Mutex<HashMap<String, Tried>>);

impl Tries {
    fn due(&self, uid: &str, generation: Option<i64>, now: Instant) -> Due {
        due(self.lock().get(uid), generation, now)
    }

    fn record(&self, uid: &str, tried: Tried) {
        self.lock().insert(uid.to_owned(), tried);
    }

    /// Drops the tries of bindings no longer in the cache; returns their UIDs.
    fn retain_live(&self, live: &HashSet<String>) -> Vec<String> {
        let mut tries = self.lock();
        let gone: Vec<String> = tries
            .keys()
            .filter(|uid| !live.contains(*uid))
            .cloned()
            .collect();
        for uid in &gone {
            tries.remove(uid);
        }
        gone
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tried>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Computes one binding's status and writes it if it changed.
pub async fn reconcile(binding: Arc<AppFlowAccount>, ctx: Arc<Context>) -> Result<Action> {
    let finished = reconcile_steps(&binding, &ctx).await?;
    ctx.binding_metrics.reconciled(finished.outcome.label());
    Ok(match finished.next {
        Some(wait) => Action::requeue(wait),
        None => Action::await_change(),
    })
}

/// The steps of a reconciliation, in order; each may end it early.
async fn reconcile_steps(resource: &AppFlowAccount, ctx: &Context) -> Result<Finished> {
    if !ctx.leadership.is_leading() {
        return Ok(Finished::STANDBY);
    }
    // Until both caches are listed, every namespace would read as unmatched.
    ctx.accounts.ready().await;
    let uid = resource.uid().unwrap_or_default();
    forget_deleted(ctx);
    let binding = Binding::new(resource);
    let (assumption, next_try) = assumption(resource, &binding.identity, ctx, &uid).await;
    let computed = compute(resource, &binding, &assumption, ctx);
    // Leadership lost during the try: the new leader writes.
    if !ctx.leadership.is_leading() {
        return Ok(Finished::STANDBY);
    }
    let written = write_status_if_changed(resource, ctx, &computed).await?;
    ctx.backoff.forget(&uid);
    Ok(Finished {
        outcome: if written {
            ReconcileOutcome::Written
        } else {
            ReconcileOutcome::Unchanged
        },
        next: Some(next_try),
    })
}

/// What the last try of the binding's identity found, or what trying it now finds; and when
/// it is to be tried next (when to reconcile again, changes aside).
async fn assumption(
    resource: &AppFlowAccount,
    identity: &Identity,
    ctx: &Context,
    uid: &str,
) -> (Assumption, Duration) {
    let generation = resource.metadata.generation;
    if let Due::In(left, assumption) = ctx.tries.due(uid, generation, Instant::now()) {
        return (assumption, left);
    }
    let assumption = ctx.appflow.try_identity(identity).await;
    if let Assumption::Failed { message } = &assumption {
        warn!(binding = %resource.name_any(), %message, "the binding's identity cannot be used");
    }
    let tried = Tried {
        generation,
        at: Instant::now(),
        assumption: assumption.clone(),
    };
    ctx.tries.record(uid, tried);
    (assumption, RECHECK)
}

/// Drops what is kept about deleted bindings (their last try and backoff): a deletion
/// reconciles nothing, so the next reconciliation of any binding does it.
fn forget_deleted(ctx: &Context) {
    let Some(store) = ctx.accounts.binding_store() else {
        return;
    };
    let live: HashSet<String> = store.state().iter().filter_map(|b| b.uid()).collect();
    for uid in ctx.tries.retain_live(&live) {
        ctx.backoff.forget(&uid);
    }
}

/// The binding's status from its last try and what it matches now.
fn compute(
    resource: &AppFlowAccount,
    binding: &Binding,
    assumption: &Assumption,
    ctx: &Context,
) -> AppFlowAccountStatus {
    let matched = ctx.accounts.matched();
    status::compute(&BindingObservation {
        generation: resource.metadata.generation,
        previous: resource.status.as_ref(),
        identity: &binding.identity,
        assumption,
        matched: &matched.get(&binding.name).cloned().unwrap_or_default(),
        selector_problem: binding.selector_problem(),
        now: jiff::Timestamp::now(),
    })
}

/// Patches status only when it differs from what the cache holds; says whether it wrote.
async fn write_status_if_changed(
    resource: &AppFlowAccount,
    ctx: &Context,
    computed: &AppFlowAccountStatus,
) -> Result<bool> {
    if resource.status.as_ref() == Some(computed) {
        ctx.metrics.status_write(false);
        return Ok(false);
    }
    let api: Api<AppFlowAccount> = Api::all(ctx.client.clone());
    status_write::apply_status(&api, &resource.name_any(), computed)
        .await
        .map_err(Error::StatusWrite)?;
    ctx.metrics.status_write(true);
    debug!(binding = %resource.name_any(), "binding status written");
    Ok(true)
}

/// A failed write: retried with the binding's own exponential backoff.
pub fn error_policy(resource: Arc<AppFlowAccount>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(binding = %resource.name_any(), error = %error, "writing the binding's status failed");
    ctx.binding_metrics.reconciled(error.metric_label());
    Action::requeue(
        ctx.backoff
            .next_backoff(&resource.uid().unwrap_or_default()),
    )
}

/// Builds the controller; it reconciles until `shutdown` resolves. Triggered by each binding
/// that is new or has a new generation (not by its own status writes), by every change that
/// can move any binding's matches or conflicts (all bindings then), and by this replica
/// starting to lead (all bindings).
pub fn controller(
    ctx: Arc<Context>,
    triggers: BindingTriggers,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let accounts = ctx.accounts.clone();
    let reader = triggers.bindings.reader();
    let run = KubeController::for_shared_stream(new_generations(triggers.bindings), reader)
        .reconcile_all_on(signals(triggers.changes))
        .reconcile_all_on(ctx.leadership.acquisitions())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "AppFlowAccount controller event");
            }
        });
    async move {
        let cached = async {
            accounts.ready().await;
            info!("AppFlowAccount bindings cached");
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = run => {}
            () = cached => {}
        }
        info!("AppFlowAccount controller stopped");
    }
}

/// The subscription to the bindings' cache, passing a binding only when it is new or its
/// generation changed, so the controller is not woken by its own status writes.
fn new_generations(
    bindings: ReflectHandle<AppFlowAccount>,
) -> impl Stream<Item = Arc<AppFlowAccount>> + Send + 'static {
    let mut seen = Generations::new(bindings.reader());
    bindings.filter(move |binding| std::future::ready(seen.is_new(binding)))
}

/// The generation each binding was last passed at, by UID.
struct Generations {
    store: Store<AppFlowAccount>,
    seen: HashMap<String, Option<i64>>,
}

impl Generations {
    fn new(store: Store<AppFlowAccount>) -> Self {
        Self {
            store,
            seen: HashMap::new(),
        }
    }

    /// Whether `binding` is new or at a new generation; forgets bindings no longer cached.
    fn is_new(&mut self, binding: &AppFlowAccount) -> bool {
        let uid = binding.uid().unwrap_or_default();
        let generation = binding.metadata.generation;
        let new = self.seen.insert(uid, generation) != Some(generation);
        if new {
            let live: HashSet<String> = self.store.state().iter().filter_map(|b| b.uid()).collect();
            self.seen.retain(|uid, _| live.contains(uid));
        }
        new
    }
}

/// One item per signal of the accounts' watches (signals sent meanwhile coalesce).
fn signals(changes: watch::Receiver<()>) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        Some(((), changes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use kube::runtime::reflector;
    use kube::runtime::watcher;

    fn tried(generation: i64, at: Instant) -> Tried {
        Tried {
            generation: Some(generation),
            at,
            assumption: Assumption::Succeeded {
                account_id: Some("111111111111".into()),
            },
        }
    }

    #[test]
    fn the_identity_is_tried_once_per_generation_and_again_after_recheck() {
        let start = Instant::now();
        assert_eq!(due(None, Some(1), start), Due::Now, "never tried");
        let last = tried(1, start);
        let minute = Duration::from_secs(60);
        assert_eq!(
            due(Some(&last), Some(1), start + minute),
            Due::In(RECHECK - minute, last.assumption.clone()),
            "the same generation within RECHECK keeps the answer until RECHECK"
        );
        assert_eq!(due(Some(&last), Some(2), start + minute), Due::Now);
        assert_eq!(due(Some(&last), Some(1), start + RECHECK), Due::Now);
        assert_eq!(
            due(Some(&last), Some(1), start + RECHECK * 3),
            Due::Now,
            "long overdue"
        );
        // A clock read before the try (a concurrent reconcile) does not underflow.
        assert!(matches!(
            due(Some(&last), Some(1), start.checked_sub(minute).unwrap_or(start)),
            Due::In(left, _) if left == RECHECK
        ));
    }

    #[test]
    fn tries_of_deleted_bindings_are_dropped() {
        let tries = Tries::default();
        let now = Instant::now();
        tries.record("kept", tried(1, now));
        tries.record("gone", tried(1, now));
        let live = HashSet::from(["kept".to_owned()]);
        assert_eq!(tries.retain_live(&live), ["gone"]);
        assert!(matches!(tries.due("kept", Some(1), now), Due::In(..)));
        assert_eq!(tries.due("gone", Some(1), now), Due::Now);
    }

    fn binding(uid: &str, generation: i64, reason: &str) -> AppFlowAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "AppFlowAccount",
            "metadata": {"name": uid, "uid": uid, "generation": generation},
            "spec": {"namespaces": ["n"], "useOperatorIdentity": true},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": reason,
                "message": "", "lastTransitionTime": "2026-11-29T00:00:00Z"}]},
        }))
        .expect("binding")
    }

    #[test]
    fn a_binding_triggers_when_new_or_at_a_new_generation_not_on_its_status() {
        let (store, mut writer) = reflector::store::<AppFlowAccount>();
        let mut seen = Generations::new(store);
        let a = binding("a", 1, "Bound");
        writer.apply_watcher_event(&watcher::Event::Apply(a.clone()));
        assert!(seen.is_new(&a), "first seen");
        assert!(
            !seen.is_new(&binding("a", 1, "AccessDenied")),
            "a status write"
        );
        assert!(seen.is_new(&binding("a", 2, "AccessDenied")), "a spec edit");
        // Deleted and created again: a new UID, seen as new; the old one is forgotten.
        writer.apply_watcher_event(&watcher::Event::Delete(a));
        let again = binding("b", 1, "Bound");
        writer.apply_watcher_event(&watcher::Event::Apply(again.clone()));
        assert!(seen.is_new(&again));
        assert_eq!(seen.seen.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[tokio::test]
    async fn signals_coalesce_into_one_reconcile_of_everything() {
        let sender = watch::Sender::new(());
        let mut signals = std::pin::pin!(signals(sender.subscribe()));
        assert!(signals.next().now_or_never().is_none(), "nothing yet");
        sender.send_replace(());
        sender.send_replace(());
        assert_eq!(signals.next().await, Some(()));
        assert!(
            signals.next().now_or_never().is_none(),
            "two signals, one item"
        );
        drop(sender);
        assert_eq!(signals.next().await, None, "ends with the watches");
    }

    #[test]
    fn binding_reconciliations_have_a_counter_of_their_own() {
        let binding_metrics = BindingMetrics::default();
        binding_metrics.reconciled("written");
        binding_metrics.reconciled("written");
        binding_metrics.reconciled("standby");
        let mut registry = prometheus_client::registry::Registry::default();
        Metrics::default().register(&mut registry, reflector::store().0, None, Arc::default());
        binding_metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let prefix = "appflow_connector_operator_appflowaccount_reconciliations_total";
        assert!(
            text.contains(&format!("{prefix}{{result=\"written\"}} 2\n"))
                && text.contains(&format!("{prefix}{{result=\"standby\"}} 1\n")),
            "{text}"
        );
        // The ConnectorInfos' counter is not touched.
        assert!(
            !text.contains("appflow_connector_operator_reconciliations_total{"),
            "{text}"
        );
    }
}
