//! What the ConnectorInfo controller's cache keeps of each object: only what reconciling reads,
//! and one shared copy of each mirrored configuration (docs/scale.md: memory at fleet scale).

use std::sync::Arc;

use conninfo_core::crd::ConnectorInfo;
use conninfo_core::mirror::ConnectorConfiguration;

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

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::crd::{ConnectorInfoStatus, ConnectorType, REFRESH_ANNOTATION};
    use conninfo_core::fixtures;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn the_cache_keeps_what_reconciling_reads_and_nothing_else() {
        let mut obj = fixtures::connector_info("crm", ConnectorType::Slack).build();
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
