//! `reconcile` against a mocked API server (controller-rs's `ApiServerVerifier` pattern):
//! each scenario lists the requests it expects, in order, each answered as the API server
//! would and each with a timeout, so a missing request fails in about a second instead of
//! hanging; and after the scenario, no further request may come.

use std::sync::Arc;
use std::time::Duration;

use conninfo_core::crd::{ConnectorInfo, ConnectorInfoStatus, ConnectorType, REFRESH_ANNOTATION};
use conninfo_runtime::controller::{
    Context, ContextSettings, PerObjectEntries, reconcile_once as reconcile,
};
use conninfo_runtime::metrics::Metrics;
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::Value;

use conninfo_test_support::builders::{self, ConnectorInfoBuilder};
use conninfo_test_support::{DATA, Emulator};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// How long one expected request may take to arrive.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// The object every scenario reconciles, before its status.
fn crm() -> ConnectorInfoBuilder {
    builders::connector_info("crm", ConnectorType::Salesforce)
        .namespace("data-platform")
        .uid("uid-1")
        .generation(3)
}

fn object() -> ConnectorInfo {
    crm().build()
}

/// The reconciler's context on a mocked API server, and the verifier that answers it.
async fn context(emulator: &Emulator, min_gap: Duration) -> (Arc<Context>, ApiServerVerifier) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    let ctx = Arc::new(Context::new(
        client,
        appflow,
        Arc::new(Metrics::default()),
        ContextSettings {
            min_describe_gap: min_gap,
            concurrency: 1,
            ..Default::default()
        },
    ));
    (ctx, ApiServerVerifier(handle))
}

/// The `type`'s condition of a status, as (status, reason).
fn condition(status: &ConnectorInfoStatus, type_: &str) -> (String, String) {
    let found = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"));
    (found.status.to_string(), found.reason.to_string())
}

struct ApiServerVerifier(Handle);

impl ApiServerVerifier {
    async fn next(
        &mut self,
        what: &str,
    ) -> (
        Request<Body>,
        tower_test::mock::SendResponse<Response<Body>>,
    ) {
        tokio::time::timeout(REQUEST_TIMEOUT, self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("no {what} request within {REQUEST_TIMEOUT:?}"))
            .unwrap_or_else(|| panic!("the client went away before the {what} request"))
    }

    /// Expects a server-side apply of `obj`'s status; answers with the object as written and
    /// returns it.
    async fn status_patch(&mut self, obj: &ConnectorInfo) -> ConnectorInfo {
        let (request, send) = self.next("status patch").await;
        assert_eq!(request.method(), http::Method::PATCH);
        let uri = request.uri().to_string();
        let path = format!(
            "/apis/appflow.connectorinfo.dev/v1beta1/namespaces/{}/connectorinfos/{}/status?",
            obj.metadata.namespace.as_deref().unwrap_or_default(),
            obj.metadata.name.as_deref().unwrap_or_default(),
        );
        assert!(uri.starts_with(&path), "{uri}");
        assert!(
            uri.contains("fieldManager=appflow-connector-operator") && uri.contains("force=true"),
            "{uri}"
        );
        assert_eq!(
            request.headers()["content-type"],
            "application/apply-patch+yaml"
        );
        let patch = body_json(request).await;
        let mut written = obj.clone();
        written.status =
            Some(serde_json::from_value(patch["status"].clone()).expect("status round-trips"));
        send.send_response(Response::new(Body::from(
            serde_json::to_vec(&written).unwrap(),
        )));
        written
    }

    /// Expects one event of this type and reason; answers by echoing it.
    async fn event(&mut self, type_: &str, reason: &str) -> Value {
        let (request, send) = self.next(&format!("{type_} {reason} event")).await;
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            request.uri().path(),
            "/apis/events.k8s.io/v1/namespaces/data-platform/events"
        );
        let event = body_json(request).await;
        assert_eq!(
            (event["type"].as_str(), event["reason"].as_str()),
            (Some(type_), Some(reason)),
            "{event}"
        );
        send.send_response(Response::new(Body::from(
            serde_json::to_vec(&event).unwrap(),
        )));
        event
    }

    /// Once every client is gone: no request was left unexpected.
    async fn done(mut self) {
        let extra = tokio::time::timeout(REQUEST_TIMEOUT, self.0.next_request())
            .await
            .expect("the client was not dropped");
        assert!(
            extra.is_none(),
            "unexpected request: {:?}",
            extra.map(|r| r.0)
        );
    }
}

async fn body_json(request: Request<Body>) -> Value {
    let bytes = request
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("json body")
}

#[tokio::test]
async fn first_reconcile_writes_status_once_then_nothing() {
    let emulator = Emulator::start(DATA).await;
    let (ctx, mut api) = context(&emulator, Duration::ZERO).await;

    let obj = object();
    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));
    let written = api.status_patch(&obj).await;
    api.event("Normal", "Described").await;
    let requeue = run
        .await
        .expect("task")
        .expect("reconcile")
        .expect("requeued");
    assert!(
        requeue >= Duration::from_secs(3240) && requeue <= Duration::from_secs(3960),
        "{requeue:?}"
    );
    let status = written.status.clone().expect("status");
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(
        status
            .connector_configuration
            .as_ref()
            .and_then(|c| c.connector_type.as_deref()),
        Some("Salesforce")
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("True".into(), "Described".into())
    );

    // Unchanged second reconcile (a restart or relist): the object was described for its
    // generation and is not due, so no AWS call, no write, no event; requeued when due.
    let second = reconcile(Arc::new(written), ctx.clone())
        .await
        .expect("reconcile");
    assert!(second.expect("requeued") > Duration::from_secs(3000));
    drop(ctx);
    api.done().await;
    assert_eq!(emulator.calls("Salesforce").await, 1);
}

#[tokio::test]
async fn failure_keeps_configuration_and_backs_off() {
    let emulator = Emulator::start(DATA).await;
    let (ctx, mut api) = context(&emulator, Duration::ZERO).await;

    let good = conninfo_core::status::compute(&conninfo_core::status::Observation {
        generation: Some(3),
        spec: &object().spec,
        refresh_request: None,
        previous: None,
        outcome: &Ok(Default::default()),
        refresh_interval: Duration::from_secs(3600),
        stalled_after: Duration::from_secs(600),
        origin: Default::default(),
        // Described two hours ago: due again.
        now: jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(2))
            .unwrap(),
    });
    let obj = crm().status(good.status.clone()).build();
    emulator
        .set_fault(
            "Salesforce",
            serde_json::json!({"errorCode": "ThrottlingException"}),
        )
        .await;

    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));
    let written = api.status_patch(&obj).await;
    api.event("Warning", "Throttled").await;
    let action = run.await.expect("task").expect("reconcile");
    let status = written.status.expect("status");
    assert_eq!(
        status.connector_configuration, good.status.connector_configuration,
        "last good configuration kept"
    );
    assert_eq!(
        condition(&status, "Synced"),
        ("False".into(), "Throttled".into())
    );
    assert!(
        action.expect("requeued") <= Duration::from_secs(2),
        "first backoff step"
    );
    assert_eq!(ctx.pacing.attempts("uid-1"), 1);
    drop(ctx);
    api.done().await;
}

#[tokio::test]
async fn a_second_reconcile_inside_the_gap_is_deferred_without_any_call() {
    let emulator = Emulator::start(DATA).await;
    let gap = Duration::from_secs(60);
    let (ctx, mut api) = context(&emulator, gap).await;

    let obj = object();
    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));
    let written = api.status_patch(&obj).await;
    api.event("Normal", "Described").await;
    run.await.expect("task").expect("reconcile");

    // A refresh annotation edit right after: no describe, no write; retried after the gap.
    let edited = ConnectorInfoBuilder::from(written)
        .annotation(REFRESH_ANNOTATION, "now")
        .build();
    let wait = reconcile(Arc::new(edited), ctx.clone())
        .await
        .expect("reconcile")
        .expect("requeued");
    assert!(wait > Duration::from_secs(50) && wait <= gap, "{wait:?}");
    drop(ctx);
    api.done().await;
    assert_eq!(emulator.calls("Salesforce").await, 1, "one AWS call");
}

/// A deleted object leaves nothing behind: after `Context::forget` (what the watch's Delete
/// does), every per-object map counts no entry, where the reconcile had left one in each.
#[tokio::test]
async fn a_deleted_object_leaves_no_entry_in_any_per_object_map() {
    let emulator = Emulator::start(DATA).await;
    let (ctx, mut api) = context(&emulator, Duration::ZERO).await;

    let obj = object();
    let run = tokio::spawn(conninfo_runtime::controller::reconcile(
        Arc::new(obj.clone()),
        ctx.clone(),
    ));
    api.status_patch(&obj).await;
    api.event("Normal", "Described").await;
    run.await.expect("task").expect("reconcile");
    // A refresh request seen by the watch and not answered yet.
    ctx.refresh_requests.note(
        "uid-1",
        Some("2"),
        None,
        std::time::Instant::now(),
        jiff::Timestamp::now(),
    );
    let one_each = PerObjectEntries {
        requeues: 1,
        pacing: 1,
        refresh_requests: 1,
        describe_cache_users: 1,
    };
    assert_eq!(ctx.per_object_entries(), one_each);

    ctx.forget(&obj);
    assert_eq!(ctx.per_object_entries(), PerObjectEntries::default());
    drop(ctx);
    api.done().await;
}
