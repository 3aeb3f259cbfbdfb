//! `migrate`: every stored ConnectorInfo and AppFlowAccount rewritten in the CRDs' storage
//! version, then each CRD's `status.storedVersions` trimmed to it, so that a later release can
//! stop serving the deprecated versions (docs/design.md, "Versioning"; docs/install.md,
//! "Upgrading").
//!
//! A replace of an unchanged object is enough: the API server encodes it in the storage
//! version, the bytes differ from what etcd holds for an object stored in an older version,
//! and it writes them (what the Kubernetes storage-version migrator does). The operator is not
//! woken by it: neither the generation nor the refresh annotation changes.

use std::process::ExitCode;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Client, ResourceExt};

use crate::cli::MigrateArgs;
use conninfo_core::versions::{GROUP, STORAGE_VERSION};

/// The resources whose stored objects are migrated, by plural and kind.
const RESOURCES: [(&str, &str); 2] = [
    ("connectorinfos", "ConnectorInfo"),
    ("appflowaccounts", "AppFlowAccount"),
];

/// Objects listed per request.
const PAGE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot reach the cluster: {0}")]
    Cluster(#[source] kube::Error),
    #[error("{crd}: {source}")]
    Crd {
        crd: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{crd} stores {stored}, not {STORAGE_VERSION}: install this release's CRDs first \
         (helm upgrade, or kubectl apply --server-side -f the release's crds.yaml)"
    )]
    NotStorage { crd: String, stored: String },
    #[error("{crd}: rewriting {object}: {source}")]
    Rewrite {
        crd: String,
        object: String,
        #[source]
        source: kube::Error,
    },
}

/// What `migrate` did to one CRD.
#[derive(Debug, PartialEq, Eq)]
pub struct Migrated {
    pub crd: String,
    pub rewritten: usize,
    pub stored_before: Vec<String>,
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} objects rewritten in {STORAGE_VERSION}; storedVersions [{}] -> [{STORAGE_VERSION}]",
            self.crd,
            self.rewritten,
            self.stored_before.join(", ")
        )
    }
}

pub async fn command(args: MigrateArgs) -> ExitCode {
    match migrate(&args).await {
        Ok(done) => {
            for crd in done {
                println!("{crd}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: &MigrateArgs) -> Result<Vec<Migrated>, MigrateError> {
    let config = super::kubeconfig::config(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .map_err(MigrateError::Cluster)?;
    let client = Client::try_from(config).map_err(MigrateError::Cluster)?;
    let mut done = Vec::new();
    for (plural, kind) in RESOURCES {
        done.push(migrate_crd(&client, plural, kind).await?);
    }
    Ok(done)
}

/// One CRD: checked to store the storage version, its objects rewritten, then its
/// `storedVersions` trimmed (only after every object listed was rewritten; objects created
/// meanwhile are stored in the storage version already).
async fn migrate_crd(client: &Client, plural: &str, kind: &str) -> Result<Migrated, MigrateError> {
    let name = format!("{plural}.{GROUP}");
    let crd_error = |source| MigrateError::Crd {
        crd: name.clone(),
        source,
    };
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get(&name).await.map_err(crd_error)?;
    let stored = storage_version(&crd).unwrap_or("no version").to_owned();
    if stored != STORAGE_VERSION {
        return Err(MigrateError::NotStorage { crd: name, stored });
    }
    let rewritten = rewrite_all(client, &name, plural, kind).await?;
    let stored_before = crd
        .status
        .as_ref()
        .and_then(|s| s.stored_versions.clone())
        .unwrap_or_default();
    if stored_before != [STORAGE_VERSION] {
        let trimmed = serde_json::json!({"status": {"storedVersions": [STORAGE_VERSION]}});
        crds.patch_status(&name, &PatchParams::default(), &Patch::Merge(&trimmed))
            .await
            .map_err(crd_error)?;
    }
    Ok(Migrated {
        crd: name,
        rewritten,
        stored_before,
    })
}

/// Pure: the version a CRD stores new writes in.
fn storage_version(crd: &CustomResourceDefinition) -> Option<&str> {
    crd.spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.as_str())
}

/// Every object of the resource, page by page, replaced as it is.
async fn rewrite_all(
    client: &Client,
    crd: &str,
    plural: &str,
    kind: &str,
) -> Result<usize, MigrateError> {
    let resource = ApiResource {
        group: GROUP.to_owned(),
        version: STORAGE_VERSION.to_owned(),
        api_version: format!("{GROUP}/{STORAGE_VERSION}"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    };
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let mut params = ListParams::default().limit(PAGE);
    let mut rewritten = 0;
    loop {
        let page = all
            .list(&params)
            .await
            .map_err(|source| MigrateError::Crd {
                crd: crd.to_owned(),
                source,
            })?;
        for object in &page.items {
            rewrite(client, &resource, object)
                .await
                .map_err(|source| MigrateError::Rewrite {
                    crd: crd.to_owned(),
                    object: object_name(object),
                    source,
                })?;
            rewritten += 1;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(rewritten),
        }
    }
}

/// Replaces `object` with itself. Changed since it was listed (409) or deleted (404): a write
/// since then stored it in the storage version already, or there is nothing left to store.
async fn rewrite(
    client: &Client,
    resource: &ApiResource,
    object: &DynamicObject,
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = match object.namespace() {
        Some(namespace) => Api::namespaced_with(client.clone(), &namespace, resource),
        None => Api::all_with(client.clone(), resource),
    };
    match api
        .replace(&object.name_any(), &PostParams::default(), object)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

fn object_name(object: &DynamicObject) -> String {
    match object.namespace() {
        Some(namespace) => format!("{namespace}/{}", object.name_any()),
        None => object.name_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_version_is_the_one_marked_so() {
        let crd = conninfo_core::versions::connector_info_crd();
        assert_eq!(storage_version(&crd), Some("v1beta1"));
    }

    #[test]
    fn the_report_names_the_crd_the_count_and_the_trim() {
        let done = Migrated {
            crd: "connectorinfos.appflow.connectorinfo.dev".into(),
            rewritten: 3,
            stored_before: vec!["v1alpha1".into(), "v1beta1".into()],
        };
        assert_eq!(
            done.to_string(),
            "connectorinfos.appflow.connectorinfo.dev: 3 objects rewritten in v1beta1; \
             storedVersions [v1alpha1, v1beta1] -> [v1beta1]"
        );
    }
}
