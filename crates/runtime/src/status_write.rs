//! The one way both controllers write status: a server-side apply of the status subresource,
//! forced, as the operator's field manager, bounded in time. Callers write only when the
//! computed status differs from the cached one (docs/design.md, "Writing status").

use std::fmt::Debug;
use std::time::Duration;

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "appflow-connector-operator";

/// A write that takes longer fails and is retried with the object's backoff, instead of
/// holding one of the controller's reconcile slots while the API server is unwell.
pub const PATCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("no answer from the API server within {0:?}")]
    Timeout(Duration),
}

/// The body of a status apply: the object's identity and its status, nothing else, so the
/// operator owns no field outside `status`.
pub fn apply_body<K>(status: &impl Serialize) -> serde_json::Value
where
    K: Resource<DynamicType = ()>,
{
    serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    })
}

/// Applies `status` to the object `name` through `api`.
pub async fn apply_status<K>(
    api: &Api<K>,
    name: &str,
    status: &impl Serialize,
) -> Result<(), WriteError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let body = apply_body::<K>(status);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    tokio::time::timeout(
        PATCH_TIMEOUT,
        api.patch_status(name, &params, &Patch::Apply(&body)),
    )
    .await
    .map_err(|_| WriteError::Timeout(PATCH_TIMEOUT))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use conninfo_core::account::AppFlowAccount;
    use conninfo_core::crd::ConnectorInfo;

    #[test]
    fn the_body_names_the_resource_and_carries_only_status() {
        let body = apply_body::<ConnectorInfo>(&serde_json::json!({"observedGeneration": 2}));
        assert_eq!(
            body,
            serde_json::json!({
                "apiVersion": "appflow.connectorinfo.dev/v1beta1",
                "kind": "ConnectorInfo",
                "status": {"observedGeneration": 2},
            })
        );
        let body = apply_body::<AppFlowAccount>(&serde_json::json!({}));
        assert_eq!(body["kind"], "AppFlowAccount");
        assert_eq!(body.as_object().map(|o| o.len()), Some(3));
    }
}
