//! The API versions the CRDs serve, and the CRDs as the API server gets them.
//!
//! `v1beta1` is served and stored; `v1alpha1` is still served, deprecated, with the identical
//! schema, so the API server converts between them with no webhook (docs/design.md,
//! "Versioning"). `migrate` rewrites stored objects in the storage version and then trims
//! `status.storedVersions`, after which a later release may stop serving `v1alpha1`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt;
use kube_core::crd::merge_crds;

use crate::account::AppFlowAccount;
use crate::crd::ConnectorInfo;

/// The API group of both resources.
pub const GROUP: &str = "appflow.connectorinfo.dev";
/// The version served and stored, which the operator, `check` and the docs speak.
pub const STORAGE_VERSION: &str = "v1beta1";
/// Versions still served, deprecated, with the storage version's schema.
pub const DEPRECATED_VERSIONS: [&str; 1] = ["v1alpha1"];

/// Pure: whether `api_version` (`group/version`) is one the CRDs serve.
pub fn is_served(api_version: &str) -> bool {
    match api_version.split_once('/') {
        Some((GROUP, version)) => {
            version == STORAGE_VERSION || DEPRECATED_VERSIONS.contains(&version)
        }
        _ => false,
    }
}

/// Pure: whether `api_version` is a deprecated one the CRDs still serve.
pub fn is_deprecated(api_version: &str) -> bool {
    is_served(api_version) && !api_version.ends_with(&format!("/{STORAGE_VERSION}"))
}

/// The ConnectorInfo CRD with every served version.
pub fn connector_info_crd() -> CustomResourceDefinition {
    with_deprecated_versions(ConnectorInfo::crd())
}

/// The AppFlowAccount CRD with every served version.
pub fn account_crd() -> CustomResourceDefinition {
    with_deprecated_versions(AppFlowAccount::crd())
}

/// Pure: the derived (storage-version) CRD plus each deprecated version, a copy of the
/// storage version's schema and columns, served, not stored, and marked deprecated with a
/// warning that names the new version.
fn with_deprecated_versions(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let kind = crd.spec.names.kind.clone();
    let mut crds = vec![crd.clone()];
    for old in DEPRECATED_VERSIONS {
        let mut copy = crd.clone();
        for version in &mut copy.spec.versions {
            version.name = old.to_owned();
            version.deprecated = Some(true);
            version.deprecation_warning = Some(format!(
                "{GROUP}/{old} {kind} is deprecated; use {GROUP}/{STORAGE_VERSION} (the same fields)"
            ));
        }
        crds.push(copy);
    }
    // Both are derived from one type, so they share group, kind and scope: the merge holds.
    merge_crds(crds, STORAGE_VERSION).expect("versions of one derived CRD merge")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_crds_store_v1beta1_and_serve_v1alpha1_deprecated_with_the_same_schema() {
        for crd in [connector_info_crd(), account_crd()] {
            let versions = &crd.spec.versions;
            let names: Vec<_> = versions.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(names, ["v1beta1", "v1alpha1"], "{}", crd.spec.names.kind);
            let (new, old) = (&versions[0], &versions[1]);
            assert!(new.served && new.storage && new.deprecated.is_none());
            assert!(old.served && !old.storage && old.deprecated == Some(true));
            let warning = old.deprecation_warning.as_deref().unwrap_or_default();
            assert!(
                warning.contains("use appflow.connectorinfo.dev/v1beta1"),
                "{warning}"
            );
            assert_eq!(
                old.schema, new.schema,
                "no conversion webhook: identical schemas"
            );
            assert_eq!(
                old.additional_printer_columns,
                new.additional_printer_columns
            );
            assert_eq!(old.subresources, new.subresources);
        }
    }

    #[test]
    fn served_and_deprecated_versions() {
        assert!(is_served("appflow.connectorinfo.dev/v1beta1"));
        assert!(is_served("appflow.connectorinfo.dev/v1alpha1"));
        assert!(!is_served("appflow.connectorinfo.dev/v1"));
        assert!(!is_served("example.com/v1beta1"));
        assert!(!is_served("v1beta1"));
        assert!(is_deprecated("appflow.connectorinfo.dev/v1alpha1"));
        assert!(!is_deprecated("appflow.connectorinfo.dev/v1beta1"));
        assert!(!is_deprecated("example.com/v1alpha1"));
    }
}
