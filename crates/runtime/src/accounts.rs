//! The I/O of multi-account access: watches of AppFlowAccounts and Namespaces. Their caches
//! resolve every ConnectorInfo's access and hold what the bindings' status is computed from;
//! their changes re-trigger the ConnectorInfos they affect, and the AppFlowAccount controller
//! ([`crate::bindings`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::runtime::reflector::{self, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::warn;

use crate::watch_health::{self, WatchHealth, WatchName};

use conninfo_core::account::crd::AppFlowAccount;
use conninfo_core::account::resolve::{self, Access, Binding, Matched, Unmapped};
use conninfo_core::outcome::Refusal;

/// What resolves a namespace to its access: the caches of bindings and namespaces, and the
/// `--unmapped-namespaces` policy.
pub struct Accounts {
    stores: Option<(Store<AppFlowAccount>, Store<Namespace>)>,
    /// Whether each cache has its initial list. Not the stores' own readiness future: it
    /// wakes one waiter only, and many reconciles wait at start-up.
    listed: Listed,
    unmapped: Unmapped,
    /// Counts each cache's events, so what is built from the caches is rebuilt only after one.
    events: Arc<Events>,
    prepared: Mutex<(u64, Arc<Vec<Binding>>)>,
    /// What each binding matches, and what it was computed from.
    matched: Mutex<Option<(MatchedKey, MatchedByBinding)>>,
}

/// For each binding, by name, what it matches.
pub type MatchedByBinding = Arc<BTreeMap<String, Matched>>;

/// What the bindings' matches are computed from: the namespaces as of an event count, and
/// which bindings exist at which generation (their status aside).
#[derive(Debug, PartialEq, Eq)]
struct MatchedKey {
    namespace_events: u64,
    specs: Vec<(String, Option<i64>)>,
}

/// Pure: each binding's UID and generation, sorted.
fn specs(bindings: &[Arc<AppFlowAccount>]) -> Vec<(String, Option<i64>)> {
    let mut specs: Vec<(String, Option<i64>)> = bindings
        .iter()
        .map(|b| (b.uid().unwrap_or_default(), b.metadata.generation))
        .collect();
    specs.sort_unstable();
    specs
}

/// Whether each cache has its initial list.
struct Listed {
    bindings: Arc<watch::Sender<bool>>,
    namespaces: Arc<watch::Sender<bool>>,
}

impl Listed {
    /// Both caches listed (`true`) or not yet.
    fn new(listed: bool) -> Self {
        Self {
            bindings: Arc::new(watch::Sender::new(listed)),
            namespaces: Arc::new(watch::Sender::new(listed)),
        }
    }
}

/// Events seen by the watches, each counted after its cache took it.
#[derive(Debug, Default)]
struct Events {
    bindings: AtomicU64,
    namespaces: AtomicU64,
}

impl Accounts {
    /// No bindings: every namespace uses the operator's own identity (`describe`, `check`,
    /// and installs run with `--account-bindings=false`).
    pub fn off() -> Self {
        Self {
            stores: None,
            listed: Listed::new(true),
            unmapped: Unmapped::OperatorIdentity,
            events: Arc::default(),
            prepared: Mutex::default(),
            matched: Mutex::default(),
        }
    }

    /// Waits until both caches hold the cluster's bindings and namespaces (what the bindings'
    /// status is computed from). Once listed, a cache stays so: a watch that fails later
    /// keeps its cache as it was and nothing waits for it.
    pub async fn ready(&self) {
        wait_listed(&self.listed.bindings).await;
        wait_listed(&self.listed.namespaces).await;
    }

    /// Waits until a namespace can be resolved: the bindings are listed (an empty cache would
    /// read as "unbound"), and so are the namespaces if a binding selects them by labels. Bound
    /// by name only, or no binding at all, a namespace's labels change nothing, so a
    /// namespace watch that cannot list (still retrying, or forbidden) holds no reconcile.
    /// A binding with a selector that arrives later re-triggers every object, and those
    /// reconciles wait for the namespaces then.
    pub async fn ready_to_resolve(&self) {
        wait_listed(&self.listed.bindings).await;
        if self.bindings().iter().any(Binding::selects_by_labels) {
            wait_listed(&self.listed.namespaces).await;
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
        let events = self.events.bindings.load(Ordering::Acquire);
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if prepared.0 != events || events == 0 {
            let mut bindings: Vec<Binding> =
                store.state().iter().map(|b| Binding::new(b)).collect();
            bindings.sort_by(|a, b| a.name.cmp(&b.name));
            *prepared = (events, Arc::new(bindings));
        }
        prepared.1.clone()
    }

    /// For each binding, by name, the namespaces it matches and its conflicts with other
    /// bindings (see [`resolve::matches_and_conflicts`]); computed again only when a binding
    /// is created, edited or deleted, or after a namespace event: the AppFlowAccount
    /// controller reconciling every binding after a change computes it once, not once per
    /// binding (nor again after each of its own status writes).
    pub fn matched(&self) -> MatchedByBinding {
        let Some((bindings, namespaces)) = &self.stores else {
            return Arc::default();
        };
        // The count read before the namespaces' cache: what is computed is at least as new.
        // The bindings' key and matchers come from one read of their cache.
        let namespace_events = self.events.namespaces.load(Ordering::Acquire);
        let bindings = bindings.state();
        let key = MatchedKey {
            namespace_events,
            specs: specs(&bindings),
        };
        let mut matched = self.matched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, computed)) = matched.as_ref()
            && *at == key
        {
            return computed.clone();
        }
        let namespaces = namespaces.state();
        let named: Vec<resolve::Namespace> = namespaces
            .iter()
            .map(|ns| resolve::Namespace {
                name: ns.metadata.name.as_deref().unwrap_or_default(),
                labels: ns.labels(),
            })
            .collect();
        let bindings: Vec<Binding> = bindings.iter().map(|b| Binding::new(b)).collect();
        let computed: MatchedByBinding = Arc::new(
            resolve::matches_and_conflicts(&bindings, &named)
                .into_iter()
                .map(|(name, matched)| (name.to_owned(), matched))
                .collect(),
        );
        *matched = Some((key, computed.clone()));
        computed
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

/// Waits until a cache is listed.
async fn wait_listed(listed: &watch::Sender<bool>) {
    // An error means the watch is gone; the operator exits then anyway.
    let _ = listed.subscribe().wait_for(|done| *done).await;
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
/// change or deletion. Their health (bindings, namespaces) is for the metrics.
pub struct Watches {
    pub bindings: BoxStream<'static, Result<AppFlowAccount, watcher::Error>>,
    pub namespaces: BoxStream<'static, Result<Namespace, watcher::Error>>,
    pub health: [WatchHealth; 2],
}

/// What triggers the AppFlowAccount controller ([`crate::bindings`]) from the same watches:
/// each binding, through a subscription to the bindings' shared cache, and a signal on every
/// change that can move any binding's matches or conflicts (what [`Watches`] pass: a
/// binding's new generation, creation or deletion; a namespace's labels, creation or
/// deletion). The signal coalesces: what it says is "look at every binding again".
pub struct BindingTriggers {
    pub bindings: ReflectHandle<AppFlowAccount>,
    pub changes: watch::Receiver<()>,
}

/// Binding references the shared cache holds for its subscriber before the bindings' watch
/// waits for it to take them. The AppFlowAccount controller takes them as they come (its
/// scheduler reads its triggers even while reconciles run); a relist sends every binding at
/// once, and bindings are few.
const SUBSCRIBER_BUFFER: usize = 1024;

/// Starts caching bindings and namespaces. Needs a Tokio runtime (each watch has a client of
/// its own: `watch_health`).
pub fn watch(client: &Client, unmapped: Unmapped) -> (Accounts, Watches, BindingTriggers) {
    let (binding_store, binding_writer) = reflector::store_shared(SUBSCRIBER_BUFFER);
    let (namespace_store, namespace_writer) = reflector::store();
    // Subscribed before the watch starts, so the subscriber sees the first list.
    let subscription = binding_writer
        .subscribe()
        .expect("a store made by store_shared can be subscribed");
    let (changed, changes) = {
        let sender = watch::Sender::new(());
        let receiver = sender.subscribe();
        (Arc::new(sender), receiver)
    };
    let accounts = Accounts {
        stores: Some((binding_store, namespace_store)),
        listed: Listed::new(false),
        unmapped,
        events: Arc::default(),
        prepared: Mutex::default(),
        matched: Mutex::default(),
    };
    let health = [
        WatchHealth::new(WatchName::AppFlowAccounts),
        WatchHealth::new(WatchName::Namespaces),
    ];
    let watches = Watches {
        bindings: watch_bindings(
            client,
            binding_writer,
            &accounts,
            changed.clone(),
            &health[0],
        ),
        namespaces: watch_namespaces(client, namespace_writer, &accounts, changed, &health[1]),
        health,
    };
    let triggers = BindingTriggers {
        bindings: subscription,
        changes,
    };
    (accounts, watches, triggers)
}

/// The bindings' watch: fills the shared cache, marks it listed, counts its events (the
/// matchers are rebuilt after one), passes changes (see [`changes`]) and signals them. Its
/// failures are logged and counted by `health`.
fn watch_bindings(
    client: &Client,
    writer: reflector::store::Writer<AppFlowAccount>,
    accounts: &Accounts,
    changed: Arc<watch::Sender<()>>,
    health: &WatchHealth,
) -> BoxStream<'static, Result<AppFlowAccount, watcher::Error>> {
    let listed = accounts.listed.bindings.clone();
    let events = accounts.events.clone();
    let config = watcher::Config::default();
    watch_health::watch(client, Api::<AppFlowAccount>::all, config, health)
    .modify(|b| b.metadata.managed_fields = None)
    .reflect_shared(writer)
    .inspect(move |event| {
        // Failures are logged by the watch's health; this one also here, for what it means.
        // The CRD is not installed: no bindings, said loudly, rather than no reconciles at
        // all. The watch retries and takes the bindings once the CRD is there.
        let crd_missing = matches!(event,
            Err(watcher::Error::InitialListFailed(kube::Error::Api(status))) if status.code == 404);
        if let Ok(watcher::Event::InitDone) = event {
            listed.send_replace(true);
        }
        if crd_missing && !listed.send_replace(true) {
            warn!(
                "the AppFlowAccount CRD is not installed: every namespace is treated as unbound until it is (apply crds/appflowaccounts.appflow.connectorinfo.dev.yaml)"
            );
        }
        // After the store took the event (`reflect_shared` runs first).
        events.bindings.fetch_add(1, Ordering::AcqRel);
    })
    .filter_map(signalled(
        changes(|b: &AppFlowAccount| {
            b.metadata.generation.map_or(0, i64::cast_unsigned)
        }),
        changed,
    ))
    .boxed()
}

/// The namespaces' watch: fills the cache with their names and labels only, marks it listed,
/// counts its events, passes label changes and deletions (see [`changes`]) and signals them.
/// Its failures are logged and counted by `health`.
fn watch_namespaces(
    client: &Client,
    writer: reflector::store::Writer<Namespace>,
    accounts: &Accounts,
    changed: Arc<watch::Sender<()>>,
    health: &WatchHealth,
) -> BoxStream<'static, Result<Namespace, watcher::Error>> {
    let listed = accounts.listed.namespaces.clone();
    let events = accounts.events.clone();
    let config = watcher::Config::default();
    watch_health::watch(client, Api::<Namespace>::all, config, health)
        .modify(|ns| {
            ns.metadata.managed_fields = None;
            ns.metadata.annotations = None;
            ns.spec = None;
        })
        .reflect(writer)
        .inspect(move |event| {
            // Failures are logged by the watch's health.
            if let Ok(watcher::Event::InitDone) = event {
                listed.send_replace(true);
            }
            events.namespaces.fetch_add(1, Ordering::AcqRel);
        })
        .filter_map(signalled(changes(labels_hash), changed))
        .boxed()
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

/// `filter` (a [`changes`] filter), signalling `changed` for every object it passes (not for
/// errors): what the AppFlowAccount controller looks at every binding again for.
fn signalled<K>(
    mut filter: impl FnMut(Result<watcher::Event<K>, watcher::Error>) -> Passed<K>,
    changed: Arc<watch::Sender<()>>,
) -> impl FnMut(Result<watcher::Event<K>, watcher::Error>) -> Passed<K> {
    move |event| {
        let passed = filter(event).into_inner();
        if let Some(Ok(_)) = &passed {
            changed.send_replace(());
        }
        std::future::ready(passed)
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

    #[test]
    fn changes_signal_the_binding_controller_and_the_first_list_and_errors_do_not() {
        let sender = Arc::new(watch::Sender::new(()));
        let mut signals = sender.subscribe();
        let mut filter = signalled(changes(labels_hash), sender);
        let first_list = vec![
            watcher::Event::Init,
            watcher::Event::InitApply(namespace("a", "x")),
            watcher::Event::InitDone,
        ];
        passed(&mut filter, first_list);
        assert!(!signals.has_changed().unwrap_or(true), "the first list");
        passed(
            &mut filter,
            vec![watcher::Event::Apply(namespace("a", "x"))],
        );
        assert!(!signals.has_changed().unwrap_or(true), "same labels");
        let error = filter(Err(watcher::Error::NoResourceVersion)).into_inner();
        assert!(matches!(error, Some(Err(_))), "errors pass on");
        assert!(!signals.has_changed().unwrap_or(true), "an error");
        for change in [
            watcher::Event::Apply(namespace("a", "y")),
            watcher::Event::Apply(namespace("new", "x")),
            watcher::Event::Delete(namespace("a", "y")),
        ] {
            passed(&mut filter, vec![change]);
            assert!(signals.has_changed().unwrap_or(false));
            signals.mark_unchanged();
        }
    }

    fn selecting(name: &str, team: &str, generation: i64) -> AppFlowAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "AppFlowAccount",
            "metadata": {"name": name, "uid": name, "generation": generation},
            "spec": {"namespaceSelector": {"matchLabels": {"team": team}},
                "useOperatorIdentity": true},
        }))
        .expect("binding")
    }

    fn naming(name: &str, namespace: &str) -> AppFlowAccount {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "appflow.connectorinfo.dev/v1alpha1",
            "kind": "AppFlowAccount",
            "metadata": {"name": name, "uid": name, "generation": 1},
            "spec": {"namespaces": [namespace], "useOperatorIdentity": true},
        }))
        .expect("binding")
    }

    #[test]
    fn resolving_waits_for_the_namespaces_only_while_a_binding_selects_by_labels() {
        let (binding_store, mut bindings) = reflector::store();
        let (namespace_store, _namespaces) = reflector::store::<Namespace>();
        let mut accounts = Accounts::off();
        accounts.stores = Some((binding_store, namespace_store));
        // The namespaces' watch has not listed (still retrying, or forbidden).
        accounts.listed.namespaces.send_replace(false);
        let resolvable = |accounts: &Accounts| accounts.ready_to_resolve().now_or_never().is_some();
        assert!(resolvable(&accounts), "no binding: labels change nothing");
        bindings.apply_watcher_event(&watcher::Event::Apply(naming("team-a", "a")));
        assert!(resolvable(&accounts), "bound by name only");
        bindings.apply_watcher_event(&watcher::Event::Apply(selecting("team-x", "x", 1)));
        assert!(!resolvable(&accounts), "a selector needs the labels");
        assert!(accounts.ready().now_or_never().is_none());
        accounts.listed.namespaces.send_replace(true);
        assert!(resolvable(&accounts));
        assert!(accounts.ready().now_or_never().is_some());
        // The bindings' own list is always waited for: an empty cache reads as "unbound".
        accounts.listed.bindings.send_replace(false);
        assert!(!resolvable(&accounts));
    }

    #[test]
    fn matches_are_computed_again_after_a_binding_change_or_a_namespace_event_only() {
        let (binding_store, mut bindings) = reflector::store();
        let (namespace_store, mut namespaces) = reflector::store();
        let mut accounts = Accounts::off();
        accounts.stores = Some((binding_store, namespace_store));
        let apply = |writer: &mut reflector::store::Writer<AppFlowAccount>, b| {
            writer.apply_watcher_event(&watcher::Event::Apply(b));
        };
        apply(&mut bindings, selecting("team-x", "x", 1));
        apply(&mut bindings, selecting("also-x", "x", 1));
        namespaces.apply_watcher_event(&watcher::Event::Apply(namespace("a", "x")));
        let first = accounts.matched();
        assert_eq!(first["team-x"].namespaces, 1);
        assert_eq!(
            first["team-x"].conflicts["a"],
            std::collections::BTreeSet::from(["also-x".to_owned()])
        );
        assert!(
            Arc::ptr_eq(&first, &accounts.matched()),
            "no change: reused"
        );
        // A status write: same generation, so the same matches.
        let mut written = selecting("also-x", "x", 1);
        written.status = Some(Default::default());
        apply(&mut bindings, written);
        assert!(Arc::ptr_eq(&first, &accounts.matched()), "a status write");
        // A namespace event, counted once the cache took it (as the watch does).
        namespaces.apply_watcher_event(&watcher::Event::Apply(namespace("b", "x")));
        accounts.events.namespaces.fetch_add(1, Ordering::AcqRel);
        assert_eq!(accounts.matched()["also-x"].namespaces, 2);
        // A binding's edit, then its deletion, seen at once (before the watch counts them).
        apply(&mut bindings, selecting("also-x", "y", 2));
        assert_eq!(accounts.matched()["also-x"].namespaces, 0);
        assert!(accounts.matched()["team-x"].conflicts.is_empty());
        bindings.apply_watcher_event(&watcher::Event::Delete(selecting("also-x", "y", 2)));
        let after = accounts.matched();
        assert!(!after.contains_key("also-x"));
        assert_eq!(after["team-x"].namespaces, 2);
    }
}
