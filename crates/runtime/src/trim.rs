//! What the ConnectorInfo controller's cache keeps of each object: only what reconciling reads,
//! one shared copy of each mirrored configuration, and one copy of each object while the watch
//! lists everything again (docs/scale.md: memory at fleet scale).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher::Event;

use crate::refresh_requests::RefreshRequests;
use conninfo_core::crd::{ConnectorInfo, REFRESH_ANNOTATION};
use conninfo_core::mirror::ConnectorConfiguration;

/// Drops what the controller never reads from the copy its cache keeps of every object:
/// `managedFields` (often larger than the spec), labels, owner references, the resource
/// version (the watch tracks its own) and every annotation but the refresh request (kubectl's
/// last-applied copy of the manifest, GitOps tools' tracking annotations); keeps a refresh
/// request already handled as an empty map (see `ConnectorInfo::refresh_request`) and a pending
/// one as it is, for the watch to note ([`CacheFeed::store`] then leaves it out of the cache);
/// and makes objects that mirror the same configuration share one copy of it, and objects
/// whose status says the same thing share its strings.
pub fn trim_for_cache(obj: &mut ConnectorInfo) {
    let meta = &mut obj.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.resource_version = None;
    let handled = obj
        .status
        .as_ref()
        .and_then(|s| s.last_handled_refresh.as_deref());
    meta.annotations = meta
        .annotations
        .take()
        .and_then(|mut all| all.remove_entry(REFRESH_ANNOTATION))
        .map(|(key, request)| {
            if Some(request.as_str()) == handled {
                BTreeMap::new()
            } else {
                BTreeMap::from([(key, request)])
            }
        });
    if let Some(status) = obj.status.as_mut() {
        status.share_strings();
        if let Some(config) = status.connector_configuration.as_mut() {
            *config = SHARED_CONFIGURATIONS.intern(config);
        }
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

/// The watch's way into the cache: it says which events are worth reconciling ([`Self::pick`])
/// and applies them, relisting in place ([`reflect_relisting_in_place`]) and without pending
/// refresh requests ([`Self::store`]). The controller is then not woken by its own status
/// writes, nor by a relist that returns what it already has; and the cache itself is the memory
/// of what was seen, where kube's predicate filter would keep a second map with an entry per
/// object.
pub struct CacheFeed<R> {
    reader: Store<ConnectorInfo>,
    reflect: R,
}

/// A [`CacheFeed`] writing to `writer`.
pub fn cache_feed(writer: Writer<ConnectorInfo>) -> CacheFeed<impl FnMut(&Event<ConnectorInfo>)> {
    CacheFeed {
        reader: writer.as_reader(),
        reflect: reflect_relisting_in_place(writer),
    }
}

impl<R: FnMut(&Event<ConnectorInfo>)> CacheFeed<R> {
    /// Whether the event asks for more than the cached copy did: a new object, another object
    /// of the same name, a new generation (spec), or another refresh request than the one the
    /// cache knows (`requests` holds the pending ones). Call it before the request is noted.
    fn pick(&self, event: &Event<ConnectorInfo>, requests: &RefreshRequests) -> bool {
        let (Event::Apply(obj) | Event::InitApply(obj)) = event else {
            return false;
        };
        let Some(cached) = self.reader.get(&ObjectRef::from_obj(obj)) else {
            return true;
        };
        let uid = cached.metadata.uid.as_deref().unwrap_or_default();
        let known = requests
            .pending(uid)
            .or_else(|| cached.refresh_request().map(str::to_owned));
        cached.metadata.uid != obj.metadata.uid
            || cached.metadata.generation != obj.metadata.generation
            || known.as_deref() != obj.refresh_request()
    }

    /// One watch event into the cache: whether it is worth a reconciliation ([`Self::pick`]),
    /// then its refresh request noted in `requests` (when it was made: the watch sees it first),
    /// then the event applied ([`Self::store`]) and handed back.
    pub fn feed(
        &mut self,
        event: Event<ConnectorInfo>,
        requests: &RefreshRequests,
    ) -> (bool, Event<ConnectorInfo>) {
        let worth_it = self.pick(&event, requests);
        if let Event::Apply(obj) | Event::InitApply(obj) = &event {
            requests.note(
                obj.metadata.uid.as_deref().unwrap_or_default(),
                obj.refresh_request(),
                obj.status
                    .as_ref()
                    .and_then(|s| s.last_handled_refresh.as_deref()),
                Instant::now(),
                jiff::Timestamp::now(),
            );
        }
        (worth_it, self.store(event))
    }

    /// Applies the event to the cache, its object without a pending refresh request: that one
    /// is in `RefreshRequests` already, and kept in the object it would cost a B-tree node per
    /// object (6 MB at 10,000 objects annotated at once). The controller puts it back into the
    /// objects it reconciles ([`with_pending_request`]).
    fn store(&mut self, mut event: Event<ConnectorInfo>) -> Event<ConnectorInfo> {
        if let Event::Apply(obj) | Event::InitApply(obj) = &mut event {
            leave_out_pending_request(obj);
        }
        (self.reflect)(&event);
        event
    }
}

/// Removes a pending refresh request (a handled one is an empty map already).
fn leave_out_pending_request(obj: &mut ConnectorInfo) {
    if obj
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REFRESH_ANNOTATION))
    {
        obj.metadata.annotations = None;
    }
}

/// The object as reconciling reads it: with its pending refresh request, which the cache
/// leaves out ([`CacheFeed::store`]); the object itself when it has none.
pub fn with_pending_request(
    obj: Arc<ConnectorInfo>,
    requests: &RefreshRequests,
) -> Arc<ConnectorInfo> {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    let Some(request) = requests.pending(uid) else {
        return obj;
    };
    if obj.refresh_request() == Some(request.as_str()) {
        return obj;
    }
    let mut with = (*obj).clone();
    with.metadata.annotations = Some(BTreeMap::from([(REFRESH_ANNOTATION.to_owned(), request)]));
    Arc::new(with)
}

/// Applies the watch's events to the cache as kube's `reflect` does, except when the watch lists
/// everything again after the first list (its resource version expired, e.g. an API-server
/// restart). `reflect` then fills a second map beside the cache and swaps it in at the end,
/// holding every object twice; here each listed object replaces its old copy at once and, once
/// the list is done, the objects it did not return leave the cache. Readers may see old and
/// new copies side by side meanwhile, as during any stream of watch events; the first list is
/// left to kube (the cache is empty then, and its end makes the store ready).
fn reflect_relisting_in_place(
    mut writer: Writer<ConnectorInfo>,
) -> impl FnMut(&Event<ConnectorInfo>) {
    let reader = writer.as_reader();
    let mut listed = false;
    let mut relisted: Option<HashSet<ObjectRef<ConnectorInfo>>> = None;
    move |event| match (event, relisted.as_mut()) {
        (Event::Init, _) if listed => relisted = Some(HashSet::new()),
        (Event::InitApply(obj), Some(seen)) => {
            seen.insert(ObjectRef::from_obj(obj));
            writer.apply_watcher_event(&Event::Apply(obj.clone()));
        }
        (Event::InitDone, Some(seen)) => {
            for stale in reader.state() {
                if !seen.contains(&ObjectRef::from_obj(&*stale)) {
                    writer.apply_watcher_event(&Event::Delete((*stale).clone()));
                }
            }
            relisted = None;
        }
        _ => {
            listed |= matches!(event, Event::InitDone);
            writer.apply_watcher_event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::condition::{ConditionSetter, ConditionType};
    use conninfo_core::crd::{ConnectorInfoStatus, ConnectorType};
    use conninfo_core::fixtures;
    use conninfo_core::reason::Reason;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn the_cache_keeps_what_reconciling_reads_and_nothing_else() {
        let mut obj = fixtures::connector_info("crm", ConnectorType::Slack).build();
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default(); 3]);
        obj.metadata.labels = Some([("app".to_owned(), "crm".to_owned())].into());
        obj.metadata.annotations = Some(
            [
                (
                    "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                    "{...}".to_owned(),
                ),
                (
                    "argocd.argoproj.io/tracking-id".to_owned(),
                    "app:…".to_owned(),
                ),
                (REFRESH_ANNOTATION.to_owned(), "1".to_owned()),
            ]
            .into(),
        );
        let spec = obj.spec.clone();
        let config = ConnectorConfiguration {
            connector_type: Some("Slack".into()),
            ..Default::default()
        };
        // Decoded separately, as the watch delivers them: equal values, separate allocations.
        let status = |config: ConnectorConfiguration| {
            let mut status = ConnectorInfoStatus {
                connector_configuration: Some(Arc::new(config)),
                configuration_digest: Some("sha256:0123".into()),
                ..Default::default()
            };
            ConditionSetter::<ConditionType>::new(
                &mut status.conditions,
                Some(1),
                Timestamp::UNIX_EPOCH,
            )
            .apply(
                ConditionType::Ready,
                true,
                Reason::Described,
                "Slack is described",
            );
            status
        };
        obj.status = Some(status(config.clone()));
        let mut twin = obj.clone();
        twin.status = Some(status(config));
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
        let (ours, theirs) = (obj.status.as_ref().unwrap(), twin.status.as_ref().unwrap());
        assert!(
            ours.conditions[0]
                .message
                .ptr_eq(&theirs.conditions[0].message),
            "equal condition messages are one string"
        );
        assert!(
            ours.configuration_digest
                .as_ref()
                .unwrap()
                .ptr_eq(theirs.configuration_digest.as_ref().unwrap()),
            "equal digests are one string"
        );
        assert_eq!(obj.metadata.managed_fields, None);
        assert_eq!(
            obj.refresh_request(),
            Some("1"),
            "the refresh annotation stays"
        );
        assert_eq!(obj.metadata.annotations.as_ref().map(|a| a.len()), Some(1));
        assert_eq!(obj.metadata.labels, None);
        let mut unannotated = fixtures::connector_info("plain", ConnectorType::Slack).build();
        unannotated.metadata.annotations = Some([("team".to_owned(), "a".to_owned())].into());
        trim_for_cache(&mut unannotated);
        assert_eq!(
            unannotated.metadata.annotations, None,
            "no empty map is kept"
        );
        assert_eq!(obj.spec, spec);
    }

    #[test]
    fn a_handled_refresh_request_is_cached_as_an_empty_map_and_reads_the_same() {
        let mut obj = fixtures::connector_info("crm", ConnectorType::Slack).build();
        obj.metadata.annotations = Some([(REFRESH_ANNOTATION.to_owned(), "2".to_owned())].into());
        obj.metadata.resource_version = Some("4711".into());
        obj.status = Some(ConnectorInfoStatus {
            last_handled_refresh: Some("1".into()),
            ..Default::default()
        });
        let mut pending = obj.clone();
        trim_for_cache(&mut pending);
        assert_eq!(pending.refresh_request(), Some("2"));
        assert_eq!(
            pending.metadata.annotations.as_ref().map(BTreeMap::len),
            Some(1),
            "a request not handled yet is kept, for the watch to note (the feed stores it apart)"
        );
        assert_eq!(pending.metadata.resource_version, None);

        obj.status.as_mut().unwrap().last_handled_refresh = Some("2".into());
        let mut handled = obj.clone();
        trim_for_cache(&mut handled);
        assert_eq!(handled.metadata.annotations, Some(BTreeMap::new()));
        assert_eq!(
            handled.refresh_request(),
            obj.refresh_request(),
            "the cached copy reads as the object does"
        );

        let mut withdrawn = obj.clone();
        withdrawn.metadata.annotations = None;
        trim_for_cache(&mut withdrawn);
        assert_eq!(withdrawn.refresh_request(), None);
    }

    #[test]
    fn only_new_objects_specs_and_refresh_requests_are_picked() {
        let (store, writer) = kube::runtime::reflector::store();
        let requests = RefreshRequests::default();
        let mut feed = cache_feed(writer);
        let mut pick = |event: Event<ConnectorInfo>| feed.feed(event, &requests).0;
        assert!(!pick(Event::Init));
        assert!(pick(Event::InitApply(named("a", 1))), "listed: new");
        assert!(!pick(Event::InitDone));
        assert_eq!(cached(&store), [("a".to_owned(), 1)]);
        let mut status_written = named("a", 1);
        status_written.status = Some(ConnectorInfoStatus {
            observed_generation: Some(1),
            ..Default::default()
        });
        assert!(
            !pick(Event::Apply(status_written.clone())),
            "its own status write"
        );
        assert!(pick(Event::Apply(named("a", 2))), "a spec change");
        let refresh = annotated(named("a", 2), "1");
        assert!(pick(Event::Apply(refresh.clone())), "a refresh request");
        assert!(
            !pick(Event::Apply(refresh.clone())),
            "the same request again"
        );
        let mut handled = refresh.clone();
        handled.status = Some(ConnectorInfoStatus {
            last_handled_refresh: Some("1".into()),
            ..Default::default()
        });
        trim_for_cache(&mut handled);
        assert!(!pick(Event::Apply(handled.clone())), "its answer");
        let again = annotated(handled.clone(), "2");
        assert!(pick(Event::Apply(again.clone())), "another request");
        let mut withdrawn = again.clone();
        withdrawn.metadata.annotations = None;
        assert!(pick(Event::Apply(withdrawn)), "a request withdrawn");
        let mut recreated = refresh.clone();
        recreated.metadata.uid = Some("another".into());
        assert!(
            pick(Event::Apply(recreated.clone())),
            "deleted and created again"
        );
        // A relist returning the same object picks nothing.
        assert!(!pick(Event::Init));
        assert!(!pick(Event::InitApply(recreated.clone())));
        assert!(!pick(Event::InitDone));
        assert!(!pick(Event::Delete(recreated)));
        assert!(cached(&store).is_empty());
    }

    #[test]
    fn the_cache_leaves_pending_requests_out_and_reconciling_reads_them_back() {
        let (store, writer) = kube::runtime::reflector::store();
        let requests = RefreshRequests::default();
        let mut feed = cache_feed(writer);
        feed.feed(Event::Apply(annotated(named("a", 1), "now")), &requests);
        let cached = store.state().pop().expect("cached");
        assert_eq!(
            cached.metadata.annotations, None,
            "no B-tree node per object"
        );
        assert_eq!(
            requests
                .pending(cached.metadata.uid.as_deref().unwrap())
                .as_deref(),
            Some("now")
        );
        let reconciled = with_pending_request(cached.clone(), &requests);
        assert_eq!(reconciled.refresh_request(), Some("now"));
        assert_eq!(reconciled.spec, cached.spec);
        // Without a pending request the cached object itself is reconciled.
        feed.feed(Event::Apply(named("b", 1)), &requests);
        let plain = store
            .get(&ObjectRef::new("b").within("ns"))
            .expect("cached");
        assert!(Arc::ptr_eq(
            &plain,
            &with_pending_request(plain.clone(), &requests)
        ));
    }

    fn annotated(mut obj: ConnectorInfo, request: &str) -> ConnectorInfo {
        obj.metadata.annotations =
            Some([(REFRESH_ANNOTATION.to_owned(), request.to_owned())].into());
        obj
    }

    fn named(name: &str, generation: i64) -> ConnectorInfo {
        let mut obj = fixtures::connector_info(name, ConnectorType::Slack).build();
        obj.metadata.namespace = Some("ns".into());
        obj.metadata.uid = Some(format!("uid-{name}"));
        obj.metadata.generation = Some(generation);
        obj
    }

    fn cached(store: &kube::runtime::reflector::Store<ConnectorInfo>) -> Vec<(String, i64)> {
        let mut objects: Vec<_> = store
            .state()
            .iter()
            .map(|o| {
                (
                    o.metadata.name.clone().unwrap_or_default(),
                    o.metadata.generation.unwrap_or(0),
                )
            })
            .collect();
        objects.sort();
        objects
    }

    #[test]
    fn a_relist_replaces_objects_in_place_and_drops_the_ones_it_did_not_return() {
        let (store, writer) = kube::runtime::reflector::store();
        let mut reflect = reflect_relisting_in_place(writer);
        reflect(&Event::Init);
        reflect(&Event::InitApply(named("a", 1)));
        assert!(
            cached(&store).is_empty(),
            "the first list is swapped in at its end"
        );
        reflect(&Event::InitApply(named("b", 1)));
        reflect(&Event::InitDone);
        assert_eq!(cached(&store), [("a".into(), 1), ("b".into(), 1)]);
        reflect(&Event::Apply(named("c", 1)));

        reflect(&Event::Init);
        reflect(&Event::InitApply(named("a", 2)));
        assert_eq!(
            cached(&store),
            [("a".into(), 2), ("b".into(), 1), ("c".into(), 1)],
            "a relisted object replaces its copy at once; the others stay until the list ends"
        );
        reflect(&Event::InitApply(named("c", 1)));
        reflect(&Event::InitDone);
        assert_eq!(cached(&store), [("a".into(), 2), ("c".into(), 1)]);

        reflect(&Event::Delete(named("a", 2)));
        reflect(&Event::Apply(named("d", 1)));
        assert_eq!(cached(&store), [("c".into(), 1), ("d".into(), 1)]);
    }
}
