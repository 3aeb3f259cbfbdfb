//! The fleet on the API server: the CRDs, N ConnectorInfos over 50 keys in 20 namespaces, and
//! the API server's own ceiling for writing their statuses.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::Error;
use crate::config::{KEYS, NAMESPACES, PROBE_NAMESPACE, VENDED, concurrency};
use crate::procs::{fake_aws_credentials, release_bin, repo};

pub fn conninfo_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("appflow.connectorinfo.dev", "v1beta1", "ConnectorInfo"),
        "connectorinfos",
    )
}

pub async fn client(kubeconfig: &Path) -> Result<kube::Client, Error> {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

/// Installs both CRDs (the operator also watches AppFlowAccount bindings) and waits until
/// ConnectorInfos are served.
pub async fn install_crd(client: &kube::Client) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "appflowaccounts.appflow.connectorinfo.dev",
        "connectorinfos.appflow.connectorinfo.dev",
    ] {
        let text = std::fs::read_to_string(repo().join(format!("crds/{name}.yaml")))?;
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)?;
        let apply = PatchParams::apply("bench").force();
        api.patch(name, &apply, &Patch::Apply(&crd)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !served(client, &api).await? {
        if Instant::now() > deadline {
            return Err("the CRD was not served within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // poll interval of a readiness check
    }
    Ok(())
}

/// Established, and a list through the new resource works.
async fn served(client: &kube::Client, api: &Api<CustomResourceDefinition>) -> Result<bool, Error> {
    let crd = api.get("connectorinfos.appflow.connectorinfo.dev").await?;
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    Ok(established
        && Api::<DynamicObject>::all_with(client.clone(), &conninfo_resource())
            .list(&ListParams::default().limit(1))
            .await
            .is_ok())
}

/// The spec of object number `i`: key `i % 50`.
pub fn spec_for(i: usize) -> Value {
    let key = i % KEYS;
    match VENDED.get(key) {
        Some(vended) => json!({"connectorType": vended}),
        None => {
            json!({"connectorType": "CustomConnector", "connectorLabel": format!("bench-{}", key - VENDED.len())})
        }
    }
}

/// The emulator's name for key number `key` (its stats count calls per name).
pub fn key_name(key: usize) -> String {
    match VENDED.get(key) {
        Some(vended) => (*vended).to_owned(),
        None => format!("CustomConnector/bench-{}", key - VENDED.len()),
    }
}

/// A ConnectorInfo named `name` with `spec`.
pub fn connector_info(name: &str, spec: Value) -> Result<DynamicObject, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "appflow.connectorinfo.dev/v1beta1",
        "kind": "ConnectorInfo",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

/// The API of ConnectorInfo number `i` (its namespace is `bench-{i % 20}`).
pub fn object_api(client: &kube::Client, i: usize) -> Api<DynamicObject> {
    let namespace = format!("bench-{}", i % NAMESPACES);
    Api::namespaced_with(client.clone(), &namespace, &conninfo_resource())
}

pub async fn create_namespace(client: &kube::Client, name: &str) -> Result<(), Error> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

/// The fleet's namespaces (and the probes'), then `n` objects, 16 creates at a time.
pub async fn create_objects(client: &kube::Client, n: usize) -> Result<(), Error> {
    for ns in 0..NAMESPACES {
        create_namespace(client, &format!("bench-{ns}")).await?;
    }
    create_namespace(client, PROBE_NAMESPACE).await?;
    futures::stream::iter(0..n)
        .map(|i| async move {
            let object = connector_info(&format!("c-{i}"), spec_for(i))?;
            object_api(client, i)
                .create(&PostParams::default(), &object)
                .await?;
            Ok::<_, Error>(())
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
}

/// The status the operator writes for each key, as its `describe` command prints it (from an
/// emulator without a quota, so the measured run's call and throttling counts stay its own).
pub fn statuses_by_key(emulator: &str) -> Result<Vec<Value>, Error> {
    (0..KEYS)
        .map(|key| {
            let spec = spec_for(key);
            let mut describe = Command::new(release_bin("appflow-connector-operator"));
            describe.args(["describe", "-o", "json", "--region", "us-east-1"]);
            describe.args(["--endpoint-url", emulator]);
            let connector_type = spec["connectorType"].as_str().unwrap_or_default();
            describe.args(["--connector-type", connector_type]);
            if let Some(label) = spec["connectorLabel"].as_str() {
                describe.args(["--connector-label", label]);
            }
            let output = describe.envs(fake_aws_credentials()).output()?;
            if !output.status.success() {
                return Err(format!("describe of key {key} failed: {output:?}").into());
            }
            Ok(serde_json::from_slice(&output.stdout)?)
        })
        .collect()
}

/// The API server's ceiling: N server-side applies of the status the operator writes, at the
/// operator's concurrency. The statuses are removed again afterwards (not timed), so the
/// operator starts from the same objects.
pub async fn apiserver_ceiling(
    client: &kube::Client,
    n: usize,
    statuses: &[Value],
) -> Result<f64, Error> {
    let started = Instant::now();
    patch_statuses(client, n, |i| {
        let status = json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "ConnectorInfo",
            "status": statuses[i % KEYS],
        });
        (
            PatchParams::apply("bench-ceiling").force(),
            Patch::Apply(status),
        )
    })
    .await?;
    let ceiling = started.elapsed().as_secs_f64();
    patch_statuses(client, n, |_| {
        (
            PatchParams::default(),
            Patch::Merge(json!({"status": null})),
        )
    })
    .await?;
    Ok(ceiling)
}

async fn patch_statuses(
    client: &kube::Client,
    n: usize,
    patch: impl Fn(usize) -> (PatchParams, Patch<Value>),
) -> Result<(), Error> {
    let patch = &patch;
    futures::stream::iter(0..n)
        .map(|i| async move {
            let (params, body) = patch(i);
            object_api(client, i)
                .patch_status(&format!("c-{i}"), &params, &body)
                .await?;
            Ok::<_, Error>(())
        })
        .buffer_unordered(concurrency())
        .try_collect::<()>()
        .await
}

/// How many of the fleet's objects have handled their refresh request (their
/// `status.lastHandledRefresh` is their annotation's value), listed in pages of 500.
pub async fn refresh_handled(client: &kube::Client) -> Result<usize, Error> {
    let api = Api::<DynamicObject>::all_with(client.clone(), &conninfo_resource());
    let mut params = ListParams::default().limit(500);
    let mut handled = 0;
    loop {
        let page = api.list(&params).await?;
        handled += page
            .items
            .iter()
            .filter(|o| {
                let request = o.annotations().get("appflow.connectorinfo.dev/refresh");
                request.is_some()
                    && o.data["status"]["lastHandledRefresh"].as_str()
                        == request.map(String::as_str)
            })
            .count();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(handled),
        }
    }
}
