//! The I/O of multi-account access: watches of AppFlowAccounts and Namespaces (their caches
//! resolve every ConnectorInfo's access; their changes re-trigger the ConnectorInfos they
//! affect) and the writer of the bindings' status.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Future, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::leader::Leadership;
use conninfo_aws::appflow::AppFlow;
use conninfo_core::account::crd::AppFlowAccount;
use conninfo_core::account::resolve::{self, Access, Binding, Unmapped};
use conninfo_core::account::status::{self, Assumption, BindingObservation};
use conninfo_core::outcome::Refusal;

/// How often a binding's role is tried again when nothing changed.
pub const RECHECK: Duration = Duration::from_secs(300);

/// What resolves a namespace to its access: the caches of bindings and namespaces, and the
/// `--unmapped-namespaces` policy.
pub struct Accounts {
    stores: Option<(Store<AppFlowAccount>, Store<Namespace>)>,
    /// Whether each cache has its initial list (bindings, namespaces). Not the stores' own
    /// readiness future: it wakes one waiter only, and many reconciles wait at start-up.
    listed: [Arc<watch::Sender<bool>>; 2],
    unmapped: Unmapped,
    /// Woken on every binding or namespace event (the status writer waits on it).
    changed: Arc<Notify>,
    /// Counts binding events, so the matchers built from the cache are rebuilt only after one.
    binding_events: Arc<AtomicU64>,
    prepared: Mutex<(u64, Arc<Vec<Binding>>)>,
}

impl Accounts {
    /// No bindings: every namespace uses the operator's own identity (`describe`, `check`,
    /// and installs run with `--account-bindings=false`).
    pub fn off() -> Self {
        Self {
            stores: None,
            listed: [
                Arc::new(watch::Sender::new(true)),
                Arc::new(watch::Sender::new(true)),
            ],
            unmapped: Unmapped::OperatorIdentity,
            changed: Arc::default(),
            binding_events: Arc::default(),
            prepared: Mutex::default(),
        }
    }

    /// Waits until both caches hold the cluster's bindings and namespaces: until then no
    /// namespace can be resolved (an empty cache would read as "unbound").
    pub async fn ready(&self) {
        for listed in &self.listed {
            // An error means the watch is gone; the operator exits then anyway.
            let _ = listed.subscribe().wait_for(|done| *done).await;
        }
    }

    /// The cache of bindings (none when bindings are off), for gauges read at scrape time.
    pub fn binding_store(&self) -> Option<Store<AppFlowAccount>> {
        self.stores.as_ref().map(|(bindings, _)| bindings.clone())
    }

    /// The bindings, ready to match, sorted by name (built again only after a binding event).
    pub fn bindings(&self) -> Arc<Vec<Binding>> {
        let Some((store, _)) = &self.stores else {
            return Arc::default();
        };
        let events = self.binding_events.load(Ordering::Acquire);
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if prepared.0 != events || events == 0 {
            let mut bindings: Vec<Binding> =
                store.state().iter().map(|b| Binding::new(b)).collect();
            bindings.sort_by(|a, b| a.name.cmp(&b.name));
            *prepared = (events, Arc::new(bindings));
        }
        prepared.1.clone()
    }

    /// The access of objects in `namespace` (see [`resolve::resolve`]).
    pub fn resolve(&self, namespace: &str) -> Result<Access, Refusal> {
        let Some((_, namespaces)) = &self.stores else {
            return Ok(Access::operator());
        };
        let labels = namespaces
            .get(&reflector::ObjectRef::new(namespace))
            .map(|ns| ns.labels().clone())
            // Not in the cache yet: the label the API server puts on every namespace.
            .unwrap_or_else(|| name_label(namespace));
        resolve::resolve(
            &self.bindings(),
            &resolve::Namespace {
                name: namespace,
                labels: &labels,
            },
            self.unmapped,
        )
    }
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("bindings", &self.stores.is_some())
            .field("unmapped", &self.unmapped)
            .finish()
    }
}

fn name_label(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "kubernetes.io/metadata.name".to_owned(),
        namespace.to_owned(),
    )])
}

/// The watch streams that fill [`Accounts`]' caches; polled by the ConnectorInfo controller,
/// which they trigger. Bindings pass on a new generation or deletion, namespaces on a label
/// change or deletion.
pub struct Watches {
    pub bindings: BoxStream<'static, Result<AppFlowAccount, watcher::Error>>,
    pub namespaces: BoxStream<'static, Result<Namespace, watcher::Error>>,
}

/// Starts caching bindings and namespaces.
pub fn watch(client: &Client, unmapped: Unmapped) -> (Accounts, Watches) {
    let changed = Arc::new(Notify::new());
    let (binding_store, binding_writer) = reflector::store();
    let (namespace_store, namespace_writer) = reflector::store();
    let listed = [
        Arc::new(watch::Sender::new(false)),
        Arc::new(watch::Sender::new(false)),
    ];
    let notify = changed.clone();
    let bindings_listed = listed[0].clone();
    let binding_events = Arc::new(AtomicU64::new(0));
    let counter = binding_events.clone();
    let bindings = watcher(
        Api::<AppFlowAccount>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|b| b.metadata.managed_fields = None)
    .reflect(binding_writer)
    .inspect(move |event| {
        match event {
            Ok(watcher::Event::InitDone) => {
                bindings_listed.send_replace(true);
            }
            // The CRD is not installed (e.g. `helm upgrade`, which never upgrades `crds/`):
            // no bindings, said loudly, rather than no reconciles at all. The watch retries
            // and takes the bindings once the CRD is there.
            Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                if status.code == 404 =>
            {
                if !bindings_listed.send_replace(true) {
                    warn!(
                        "the AppFlowAccount CRD is not installed: every namespace is treated as unbound until it is (apply crds/appflowaccounts.appflow.connectorinfo.dev.yaml)"
                    );
                }
            }
            Err(e) => warn!(error = %e, "watching AppFlowAccounts failed; retrying"),
            Ok(_) => {}
        }
        // After the store took the event (`reflect` runs first).
        counter.fetch_add(1, Ordering::AcqRel);
        notify.notify_one();
    })
    .filter_map(changes(|b: &AppFlowAccount| {
        b.metadata.generation.map_or(0, i64::cast_unsigned)
    }))
    .boxed();
    let notify = changed.clone();
    let namespaces_listed = listed[1].clone();
    let namespaces = watcher(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|ns| {
        ns.metadata.managed_fields = None;
        ns.metadata.annotations = None;
        ns.spec = None;
    })
    .reflect(namespace_writer)
    .inspect(move |event| {
        match event {
            Ok(watcher::Event::InitDone) => {
                namespaces_listed.send_replace(true);
            }
            Err(e) => warn!(error = %e, "watching namespaces failed; retrying"),
            Ok(_) => {}
        }
        notify.notify_one();
    })
    .filter_map(changes(labels_hash))
    .boxed();
    (
        Accounts {
            stores: Some((binding_store, namespace_store)),
            listed,
            unmapped,
            changed,
            binding_events,
            prepared: Mutex::default(),
        },
        Watches {
            bindings,
            namespaces,
        },
    )
}

fn labels_hash(ns: &Namespace) -> u64 {
    let mut hasher = DefaultHasher::new();
    ns.labels().hash(&mut hasher);
    hasher.finish()
}

/// What [`changes`]' filter yields for one watch event.
type Passed<K> = std::future::Ready<Option<Result<K, watcher::Error>>>;

/// Passes an object when what `fingerprint` reads of it changed, and every deletion (which a
/// plain predicate filter would drop, the deleted object being unchanged); errors pass too.
/// The first list only records: the controller's own first list reconciles every object
/// anyway, after the access caches are ready, so passing it would reconcile the whole fleet
/// twice at start-up. A later relist (after a watch desync) passes what changed meanwhile.
fn changes<K: kube::Resource>(
    fingerprint: fn(&K) -> u64,
) -> impl FnMut(Result<watcher::Event<K>, watcher::Error>) -> Passed<K> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut listed = false;
    move |event| {
        let passed = match event {
            Err(e) => Some(Err(e)),
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                let print = fingerprint(&obj);
                let key = obj.meta().uid.clone().unwrap_or_default();
                let changed = seen.insert(key, print) != Some(print);
                (changed && listed).then_some(Ok(obj))
            }
            Ok(watcher::Event::Delete(obj)) => {
                seen.remove(obj.meta().uid.as_deref().unwrap_or_default());
                Some(Ok(obj))
            }
            Ok(watcher::Event::InitDone) => {
                listed = true;
                None
            }
            Ok(watcher::Event::Init) => None,
        };
        std::future::ready(passed)
    }
}

/// Keeps every binding's status true: the namespaces it matches, its conflicts, whether its
/// role can be assumed (tried on every change of the binding and every [`RECHECK`]). Only the
/// leader writes; a status is patched only when it changed. Ends when `shutdown` resolves.
pub async fn maintain_status(
    client: Client,
    appflow: Arc<AppFlow>,
    accounts: Arc<Accounts>,
    leadership: Leadership,
    field_manager: &'static str,
    shutdown: impl Future<Output = ()>,
) {
    let Some((binding_store, namespace_store)) = accounts.stores.clone() else {
        return;
    };
    let api: Api<AppFlowAccount> = Api::all(client);
    let mut tried: HashMap<String, (Option<i64>, Instant, Assumption)> = HashMap::new();
    let work = async {
        accounts.ready().await;
        info!("AppFlowAccount bindings cached");
        loop {
            if leadership.is_leading() {
                let resources = binding_store.state();
                let namespaces = namespace_store.state();
                let bindings = accounts.bindings();
                let named: Vec<resolve::Namespace> = namespaces
                    .iter()
                    .map(|ns| resolve::Namespace {
                        name: ns.metadata.name.as_deref().unwrap_or_default(),
                        labels: ns.labels(),
                    })
                    .collect();
                let matched = resolve::matches_and_conflicts(&bindings, &named);
                tried.retain(|name, _| resources.iter().any(|r| r.name_any() == *name));
                for resource in &resources {
                    let name = resource.name_any();
                    let Some(binding) = bindings.iter().find(|b| b.name == name) else {
                        continue;
                    };
                    let generation = resource.metadata.generation;
                    let assumption = match tried.get(&name) {
                        Some((tried_for, at, assumption))
                            if *tried_for == generation && at.elapsed() < RECHECK =>
                        {
                            assumption.clone()
                        }
                        _ => {
                            let assumption = appflow.try_identity(&binding.identity).await;
                            if let Assumption::Failed { message } = &assumption {
                                warn!(binding = %name, %message, "the binding's identity cannot be used");
                            }
                            tried.insert(
                                name.clone(),
                                (generation, Instant::now(), assumption.clone()),
                            );
                            assumption
                        }
                    };
                    let computed = status::compute(&BindingObservation {
                        generation,
                        previous: resource.status.as_ref(),
                        identity: &binding.identity,
                        assumption: &assumption,
                        matched: &matched.get(name.as_str()).cloned().unwrap_or_default(),
                        selector_problem: binding.selector_problem(),
                        now: jiff::Timestamp::now(),
                    });
                    if resource.status.as_ref() == Some(&computed) || !leadership.is_leading() {
                        continue;
                    }
                    let patch = serde_json::json!({
                        "apiVersion": AppFlowAccount::api_version(&()),
                        "kind": AppFlowAccount::kind(&()),
                        "status": computed,
                    });
                    match api
                        .patch_status(
                            &name,
                            &PatchParams::apply(field_manager).force(),
                            &Patch::Apply(&patch),
                        )
                        .await
                    {
                        Ok(_) => debug!(binding = %name, "binding status written"),
                        Err(e) => {
                            warn!(binding = %name, error = %e, "writing the binding's status failed")
                        }
                    }
                }
            }
            // A change, or the next recheck; a status write wakes this once more and then
            // finds nothing to write.
            let _ = tokio::time::timeout(
                RECHECK.min(Duration::from_secs(60)),
                accounts.changed.notified(),
            )
            .await;
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use kube::api::ObjectMeta;

    fn namespace(uid: &str, team: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(uid.to_owned()),
                uid: Some(uid.to_owned()),
                labels: Some(BTreeMap::from([("team".to_owned(), team.to_owned())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        }
    }

    /// The names `filter` passes for `events`, in order.
    fn passed(
        filter: &mut impl FnMut(Result<watcher::Event<Namespace>, watcher::Error>) -> Passed<Namespace>,
        events: Vec<watcher::Event<Namespace>>,
    ) -> Vec<String> {
        events
            .into_iter()
            .filter_map(|event| filter(Ok(event)).now_or_never().flatten())
            .map(|ns| ns.expect("no error passed").name_any())
            .collect()
    }

    #[test]
    fn the_first_list_triggers_nothing_and_later_changes_and_deletions_do() {
        let mut filter = changes(labels_hash);
        let first_list = vec![
            watcher::Event::Init,
            watcher::Event::InitApply(namespace("a", "x")),
            watcher::Event::InitApply(namespace("b", "x")),
            watcher::Event::InitDone,
        ];
        assert!(passed(&mut filter, first_list).is_empty());
        let later = vec![
            watcher::Event::Apply(namespace("a", "x")), // an annotation edit: same labels
            watcher::Event::Apply(namespace("b", "y")),
            watcher::Event::Delete(namespace("a", "x")),
        ];
        assert_eq!(passed(&mut filter, later), ["b", "a"]);
        // A relist after a desync passes what changed while the watch was down, and new ones.
        let relist = vec![
            watcher::Event::Init,
            watcher::Event::InitApply(namespace("b", "y")),
            watcher::Event::InitApply(namespace("c", "x")),
            watcher::Event::InitDone,
        ];
        assert_eq!(passed(&mut filter, relist), ["c"]);
    }
}
