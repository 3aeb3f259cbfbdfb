//! `reconcile` against a mocked API server that asserts each request (controller-rs style):
//! the first reconcile writes status once and records one event; an unchanged second
//! reconcile writes nothing.

use std::sync::Arc;
use std::time::Duration;

use appflow_connector_operator::controller::{Context, reconcile_once as reconcile};
use appflow_connector_operator::crd::{ConnectorInfo, ConnectorInfoSpec, ConnectorType};
use appflow_connector_operator::metrics::Metrics;
use appflow_connector_operator::observe::Policy;
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::Value;

use crate::support::{DATA, Emulator};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn object() -> ConnectorInfo {
    let mut object = ConnectorInfo::new(
        "crm",
        ConnectorInfoSpec {
            connector_type: ConnectorType::Salesforce,
            connector_label: None,
            region: None,
            refresh_interval: None,
            requirements: None,
        },
    );
    object.metadata.namespace = Some("data-platform".into());
    object.metadata.uid = Some("uid-1".into());
    object.metadata.generation = Some(3);
    object
}

async fn context(
    handle_out: &mut Option<Handle>,
    emulator: &Emulator,
    min_gap: Duration,
) -> Arc<Context> {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    *handle_out = Some(handle);
    let client = kube::Client::new(service, "default");
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    Arc::new(Context::new(
        client,
        appflow,
        Arc::new(Metrics::default()),
        Policy::default(),
        min_gap,
        None,
    ))
}

/// The next request the reconciler makes, or a failure after 2 s instead of a hang.
async fn next_request(
    handle: &mut Handle,
    what: &str,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    tokio::time::timeout(Duration::from_secs(2), handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for the {what} request"))
        .unwrap_or_else(|| panic!("the client went away before the {what} request"))
}

/// Answers a status patch as the API server would; returns the object as written.
async fn answer_status_patch(handle: &mut Handle, obj: &ConnectorInfo) -> ConnectorInfo {
    let (request, send) = next_request(handle, "status patch").await;
    assert_eq!(request.method(), http::Method::PATCH);
    let mut written = obj.clone();
    written.status = Some(
        serde_json::from_value(body_json(request).await["status"].clone())
            .expect("status round-trips"),
    );
    send.send_response(Response::new(Body::from(
        serde_json::to_vec(&written).unwrap(),
    )));
    written
}

/// Answers an event creation by echoing it; returns the event.
async fn answer_event(handle: &mut Handle) -> Value {
    let (request, send) = next_request(handle, "event").await;
    assert_eq!(request.method(), http::Method::POST);
    let event = body_json(request).await;
    send.send_response(Response::new(Body::from(
        serde_json::to_vec(&event).unwrap(),
    )));
    event
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
    let mut handle = None;
    let ctx = context(&mut handle, &emulator, Duration::ZERO).await;
    let mut handle = handle.expect("handle");

    let obj = object();
    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));

    // 1: server-side apply of the status subresource
    let (request, send) = handle.next_request().await.expect("status patch");
    assert_eq!(request.method(), http::Method::PATCH);
    let uri = request.uri().to_string();
    assert!(
        uri.starts_with("/apis/appflow.connectorinfo.dev/v1alpha1/namespaces/data-platform/connectorinfos/crm/status?"),
        "{uri}"
    );
    assert!(
        uri.contains("fieldManager=appflow-connector-operator") && uri.contains("force=true"),
        "{uri}"
    );
    assert_eq!(
        request.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let patch = body_json(request).await;
    let status = patch["status"].clone();
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(
        status["connectorConfiguration"]["connectorType"],
        "Salesforce"
    );
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "Described");
    let mut written = obj.clone();
    written.status = Some(serde_json::from_value(status).expect("status round-trips"));
    send.send_response(Response::new(Body::from(
        serde_json::to_vec(&written).unwrap(),
    )));

    // 2: one Normal event for the transition
    let (request, send) = handle.next_request().await.expect("event");
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().path(),
        "/apis/events.k8s.io/v1/namespaces/data-platform/events"
    );
    let event = body_json(request).await;
    assert_eq!(event["reason"], "Described");
    assert_eq!(event["type"], "Normal");
    send.send_response(Response::new(Body::from(
        serde_json::to_vec(&event).unwrap(),
    )));

    let action = run.await.expect("task").expect("reconcile");
    let requeue = action.expect("requeued");
    assert!(
        requeue >= Duration::from_secs(3240) && requeue <= Duration::from_secs(3960),
        "{requeue:?}"
    );

    // Unchanged second reconcile: describes again, writes nothing, records nothing.
    let second = reconcile(Arc::new(written), ctx.clone())
        .await
        .expect("reconcile");
    assert!(second.expect("requeued") > Duration::from_secs(3000));
    drop(ctx);
    assert!(
        handle.next_request().await.is_none(),
        "no API request on an unchanged reconcile"
    );
    assert_eq!(emulator.calls("Salesforce").await, 2);
}

#[tokio::test]
async fn failure_keeps_configuration_and_backs_off() {
    let emulator = Emulator::start(DATA).await;
    let mut handle = None;
    let ctx = context(&mut handle, &emulator, Duration::ZERO).await;
    let mut handle = handle.expect("handle");

    let mut obj = object();
    let good = appflow_connector_operator::status::compute(
        &appflow_connector_operator::status::Observation {
            generation: Some(3),
            spec: &obj.spec,
            refresh_request: None,
            previous: None,
            outcome: &Ok(Default::default()),
            refresh_interval: Duration::from_secs(3600),
            now: jiff::Timestamp::now(),
        },
    );
    obj.status = Some(good.status.clone());
    emulator
        .set_fault(
            "Salesforce",
            serde_json::json!({"errorCode": "ThrottlingException"}),
        )
        .await;

    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));
    let (request, send) = handle.next_request().await.expect("status patch");
    let status = body_json(request).await["status"].clone();
    assert_eq!(
        status["connectorConfiguration"],
        serde_json::to_value(&good.status.connector_configuration).unwrap()
    );
    let synced = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Synced")
        .unwrap();
    assert_eq!(synced["reason"], "Throttled");
    send.send_response(Response::new(Body::from(serde_json::to_vec(&obj).unwrap())));
    let (request, send) = handle.next_request().await.expect("warning event");
    let event = body_json(request).await;
    assert_eq!(
        (event["type"].as_str(), event["reason"].as_str()),
        (Some("Warning"), Some("Throttled"))
    );
    send.send_response(Response::new(Body::from(
        serde_json::to_vec(&event).unwrap(),
    )));
    let action = run.await.expect("task").expect("reconcile");
    assert!(
        action.expect("requeued") <= Duration::from_secs(2),
        "first backoff step"
    );
    assert_eq!(ctx.pacing.attempts("uid-1"), 1);
}

#[tokio::test]
async fn a_second_reconcile_inside_the_gap_is_deferred_without_any_call() {
    let emulator = Emulator::start(DATA).await;
    let mut handle = None;
    let gap = Duration::from_secs(60);
    let ctx = context(&mut handle, &emulator, gap).await;
    let mut handle = handle.expect("handle");

    let obj = object();
    let run = tokio::spawn(reconcile(Arc::new(obj.clone()), ctx.clone()));
    let written = answer_status_patch(&mut handle, &obj).await;
    answer_event(&mut handle).await;
    run.await.expect("task").expect("reconcile");

    // A refresh annotation edit right after: no describe, no write; retried after the gap.
    let mut edited = written;
    edited.metadata.annotations.get_or_insert_default().insert(
        appflow_connector_operator::crd::REFRESH_ANNOTATION.into(),
        "now".into(),
    );
    let wait = reconcile(Arc::new(edited), ctx.clone())
        .await
        .expect("reconcile")
        .expect("requeued");
    assert!(wait > Duration::from_secs(50) && wait <= gap, "{wait:?}");
    drop(ctx);
    assert!(handle.next_request().await.is_none(), "no API request");
    assert_eq!(emulator.calls("Salesforce").await, 1, "one AWS call");
}
