//! HTTP routes, shared state and the server loop; the handlers are in
//! `appflow` (DescribeConnector), `sts` (STS) and `control` (`/_emulator/*`).
//!
//! * `POST /describe-connector` — the AppFlow operation, in the caller's account.
//! * `POST /` — STS (awsQuery): `AssumeRole`, `GetCallerIdentity`.
//! * `GET /_emulator/health` — `{"status": "ok"}`.
//! * `GET /_emulator/stats` — `{"calls": {key: n}, "total": n, "faults": {...}, "accounts": {...}, "sts": {...}}`.
//! * `POST /_emulator/reset` — clears the call counters.
//! * `POST /_emulator/faults` — `{"key": ..., "fault": {...} | null}`.
//! * `POST /_emulator/connectors` — registers or replaces a custom connector (`accountId` optional).
//! * `DELETE /_emulator/connectors/{label}[?accountId=...]` — deregisters one.
//! * `POST /_emulator/overrides` — `{"connectorType": ..., "override": {...} | null}`.
//! * `POST /_emulator/roles` — adds or replaces an IAM role STS hands out.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::account::Account;
use crate::data::{
    CustomConnectorSpec, EmulatorData, FaultSpec, RandomFaultSpec, check_fault_key,
    check_override_key,
};
use crate::faults::{FaultTable, RandomFaults};
use crate::iam::RoleSpec;
use crate::registry::{Accounts, CustomEntry};
use crate::sts::Sts;
use crate::wire::{ApiError, JSON_CONTENT_TYPE, REQUEST_ID_HEADER, new_request_id};

// One module per job: the AWS operations each speak their own protocol, and
// the control API is the emulator's own.
mod appflow;
mod control;
mod sts;

/// Body of a 200 answer under a `garbageBody` fault.
pub const GARBAGE_BODY: &str = "<html><body>502 Bad Gateway (emulated garbage)</body></html>";

struct Inner {
    accounts: Accounts,
    sts: Sts,
    overrides: BTreeMap<String, Map<String, Value>>,
    faults: FaultTable,
    random_faults: Option<RandomFaults>,
    calls: BTreeMap<String, u64>,
    total: u64,
    throttled: u64,
}

#[derive(Clone)]
struct AppState(Arc<Mutex<Inner>>, Arc<Account>);

impl AppState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn now_epoch_seconds() -> f64 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    millis as f64 / 1000.0
}

/// A request id, made by the middleware and visible to handlers.
#[derive(Clone)]
struct RequestId(String);

async fn request_id_layer(mut req: Request, next: Next) -> Response {
    let id = new_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp.headers_mut()
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static(JSON_CONTENT_TYPE));
    resp
}

/// All routes, with their shared state built from `data`.
///
/// `data` is expected to have passed [`EmulatorData::check`] (the
/// `from_file`/`from_yaml_str` constructors do that); entries that would not
/// are skipped with a warning.
pub fn router(data: EmulatorData) -> Router {
    for w in data.warnings() {
        warn!(warning = %w, "emulator data does not satisfy the AppFlow model; serving it anyway");
    }
    let account = data.account.clone();
    let mut accounts = Accounts::new(data.default_account_id().to_string());
    let default_id = accounts.default_id().to_string();
    let per_account = std::iter::once((default_id, data.custom_connectors)).chain(
        data.accounts
            .into_iter()
            .map(|a| (a.account_id, a.custom_connectors)),
    );
    register_custom_connectors(&mut accounts, per_account);
    let sts = Sts::new(checked_roles(data.roles, &accounts));
    let faults = checked_faults(data.faults);
    let overrides = checked_overrides(data.overrides);
    let state = AppState(
        Arc::new(Mutex::new(Inner {
            accounts,
            sts,
            overrides,
            faults: FaultTable::new(&faults),
            random_faults: data.random_faults.and_then(checked_random_faults),
            calls: BTreeMap::new(),
            total: 0,
            throttled: 0,
        })),
        Arc::new(Account::new(&account)),
    );
    routes(state)
}

/// Registers each account's custom connectors at one time, the emulator's
/// start; a connector that fails its check is skipped rather than refusing to serve.
fn register_custom_connectors(
    accounts: &mut Accounts,
    per_account: impl Iterator<Item = (String, Vec<CustomConnectorSpec>)>,
) {
    let registered_at = now_epoch_seconds();
    for (account_id, connectors) in per_account {
        let custom = &mut accounts.entry(&account_id).custom;
        for spec in connectors {
            if let Err(e) = spec.check() {
                warn!(error = %e, "skipping custom connector");
                continue;
            }
            custom.insert(
                spec.label.clone(),
                CustomEntry {
                    spec,
                    registered_at,
                },
            );
        }
    }
}

/// The roles whose trust names only known accounts; the others are skipped.
fn checked_roles(roles: Vec<RoleSpec>, accounts: &Accounts) -> Vec<RoleSpec> {
    roles
        .into_iter()
        .filter(|role| {
            let ok = role.check(|id| accounts.contains(id)).is_ok();
            if !ok {
                warn!(role = %role.arn, "skipping role");
            }
            ok
        })
        .collect()
}

/// The faults with a valid key and spec; the others are skipped.
fn checked_faults(faults: BTreeMap<String, FaultSpec>) -> BTreeMap<String, FaultSpec> {
    let mut checked = BTreeMap::new();
    for (key, fault) in faults {
        match check_fault_key(&key).and_then(|()| fault.check()) {
            Ok(()) => {
                checked.insert(key, fault);
            }
            Err(e) => warn!(key = %key, error = %e, "skipping fault"),
        }
    }
    checked
}

/// The overrides of vended connector types; the others are skipped.
fn checked_overrides(
    overrides: BTreeMap<String, Map<String, Value>>,
) -> BTreeMap<String, Map<String, Value>> {
    overrides
        .into_iter()
        .filter(|(k, _)| {
            let ok = check_override_key(k).is_ok();
            if !ok {
                warn!(key = %k, "skipping override of a type that is not vended");
            }
            ok
        })
        .collect()
}

fn checked_random_faults(spec: RandomFaultSpec) -> Option<RandomFaults> {
    match spec.check() {
        Ok(()) => Some(RandomFaults::new(spec)),
        Err(e) => {
            warn!(error = %e, "skipping random faults");
            None
        }
    }
}

/// The route table over `state`, with a request id on every answer.
fn routes(state: AppState) -> Router {
    Router::new()
        .route("/describe-connector", post(appflow::describe_connector))
        .route("/", post(sts::sts_call))
        .route("/_emulator/health", get(control::health))
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/reset", post(control::reset))
        .route("/_emulator/faults", post(control::set_fault))
        .route("/_emulator/random-faults", post(control::set_random_faults))
        .route("/_emulator/connectors", post(control::register_connector))
        .route(
            "/_emulator/connectors/{label}",
            delete(control::deregister_connector),
        )
        .route("/_emulator/overrides", post(control::set_override))
        .route("/_emulator/roles", post(control::set_role))
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .with_state(state)
        .layer(middleware::from_fn(request_id_layer))
}

/// Serves [`router`] on `listener` until `shutdown` completes (in-flight
/// requests are finished first).
pub async fn serve(
    listener: tokio::net::TcpListener,
    data: EmulatorData,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "AppFlow emulator listening");
    }
    axum::serve(listener, router(data))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn unknown_operation(req: Request) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    info!(%method, %path, outcome = "UnknownOperationException", "unknown operation");
    ApiError::new(
        "UnknownOperationException",
        format!("No operation matches {method} {path}"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{AUTH, app_with, describe, send};

    #[tokio::test]
    async fn vended_connector_wire_format() {
        let app = router(EmulatorData::default());
        let r = describe(&app, json!({"connectorType": "Salesforce"})).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let id = r.header("x-amzn-RequestId").expect("request id");
        assert!(uuid::Uuid::parse_str(id).is_ok());
        let cfg = &r.json()["connectorConfiguration"];
        assert_eq!(cfg["connectorType"], json!("Salesforce"));
        assert_eq!(
            cfg["connectorMetadata"]["Salesforce"]["oauth2GrantTypesSupported"],
            json!(["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "JWT_BEARER"])
        );
        assert_eq!(
            cfg["authenticationConfig"]["isOAuth2Supported"],
            json!(true)
        );
        assert_eq!(
            cfg["supportedDataTransferApis"][0]["Name"],
            json!("AUTOMATIC")
        );
        assert!(cfg.get("connectorLabel").is_none());
    }

    #[tokio::test]
    async fn every_vended_type_answers() {
        let app = router(EmulatorData::default());
        for t in crate::VENDED_CONNECTOR_TYPES {
            let r = describe(
                &app,
                json!({"connectorType": t, "connectorLabel": "ignored"}),
            )
            .await;
            assert_eq!(r.status, 200, "{t}");
            assert_eq!(
                r.json()["connectorConfiguration"]["connectorType"],
                json!(t)
            );
        }
        let s = send(&app, "GET", "/_emulator/stats", None, "").await.json();
        assert_eq!(s["total"], json!(23));
        assert_eq!(s["calls"]["Salesforce"], json!(1));
    }

    #[tokio::test]
    async fn custom_connectors() {
        let app = app_with(
            "accountId: '111122223333'\ncustomConnectors:\n  - label: acme-crm\n    registeredAt: 1704067200\n    authenticationConfig: {isOAuth2Supported: true, oAuth2Defaults: {oauth2GrantTypesSupported: [CLIENT_CREDENTIALS]}}\n",
        );
        let r = describe(
            &app,
            json!({"connectorType": "CustomConnector", "connectorLabel": "acme-crm"}),
        )
        .await;
        assert_eq!(r.status, 200);
        let cfg = &r.json()["connectorConfiguration"];
        assert_eq!(cfg["connectorType"], json!("CustomConnector"));
        assert_eq!(cfg["connectorLabel"], json!("acme-crm"));
        assert_eq!(cfg["registeredAt"], json!(1_704_067_200));
        // Region from the credential scope, account from the data file.
        assert_eq!(
            cfg["connectorArn"],
            json!("arn:aws:appflow:eu-west-1:111122223333:connector/acme-crm")
        );
        assert_eq!(
            cfg["connectorProvisioningConfig"]["lambda"]["lambdaArn"],
            json!("arn:aws:lambda:eu-west-1:111122223333:function:acme-crm-connector")
        );
        // Merged, not replaced: the default custom auth is still there.
        assert_eq!(
            cfg["authenticationConfig"]["isOAuth2Supported"],
            json!(true)
        );
        assert_eq!(
            cfg["authenticationConfig"]["isCustomAuthSupported"],
            json!(true)
        );
        assert_eq!(
            cfg["authenticationConfig"]["oAuth2Defaults"]["oauth2GrantTypesSupported"],
            json!(["CLIENT_CREDENTIALS"])
        );

        let r = describe(
            &app,
            json!({"connectorType": "CustomConnector", "connectorLabel": "nope-crm"}),
        )
        .await;
        assert_eq!(r.status, 404);
        assert_eq!(r.error_type(), Some("ResourceNotFoundException"));
        assert!(
            r.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("nope-crm"))
        );

        let r = describe(&app, json!({"connectorType": "CustomConnector"})).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.error_type(), Some("ValidationException"));
    }

    #[tokio::test]
    async fn runtime_registration_and_deregistration() {
        let app = router(EmulatorData::default());
        let body = json!({"connectorType": "CustomConnector", "connectorLabel": "late"});
        assert_eq!(describe(&app, body.clone()).await.status, 404);
        let r = send(
            &app,
            "POST",
            "/_emulator/connectors",
            None,
            r#"{"label": "late", "connectorVersion": "9"}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["warnings"], json!([]));
        let r = describe(&app, body.clone()).await;
        assert_eq!(r.status, 200);
        let cfg = &r.json()["connectorConfiguration"];
        assert_eq!(cfg["connectorVersion"], json!("9"));
        assert!(cfg["registeredAt"].as_f64().is_some_and(|t| t > 1.7e9));
        let r = send(
            &app,
            "POST",
            "/_emulator/connectors",
            None,
            r#"{"label": "late", "supportedTriggerTypes": ["Hourly"]}"#,
        )
        .await;
        assert_eq!(r.json()["replaced"], json!(true));
        assert_eq!(r.json()["warnings"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            send(&app, "DELETE", "/_emulator/connectors/late", None, "")
                .await
                .status,
            200
        );
        assert_eq!(
            send(&app, "DELETE", "/_emulator/connectors/late", None, "")
                .await
                .status,
            404
        );
        assert_eq!(describe(&app, body).await.status, 404);
        let r = send(
            &app,
            "POST",
            "/_emulator/connectors",
            None,
            r#"{"label": "x"}"#,
        )
        .await;
        assert_eq!(r.status, 400);
        let r = send(&app, "POST", "/_emulator/connectors", None, "{").await;
        assert_eq!(r.status, 400);
    }

    #[tokio::test]
    async fn auth_errors() {
        let app = router(EmulatorData::default());
        let body = json!({"connectorType": "Slack"}).to_string();
        let r = send(&app, "POST", "/describe-connector", None, &body).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.error_type(), Some("MissingAuthenticationTokenException"));
        assert_eq!(r.json(), json!({"message": "Missing Authentication Token"}));
        assert!(r.header("x-amzn-RequestId").is_some());

        let s3 = AUTH.replace("/appflow/", "/s3/");
        let r = send(&app, "POST", "/describe-connector", Some(&s3), &body).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.error_type(), Some("InvalidSignatureException"));
        assert_eq!(
            r.json()["message"],
            json!("Credential should be scoped to correct service: 'appflow'.")
        );

        // Unauthenticated calls are not counted.
        let s = send(&app, "GET", "/_emulator/stats", None, "").await.json();
        assert_eq!(s["total"], json!(0));
    }

    #[tokio::test]
    async fn validation_and_serialization_errors() {
        let app = router(EmulatorData::default());
        let r = describe(&app, json!({"connectorType": "Nope"})).await;
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("ValidationException"))
        );
        let m = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(m.starts_with("1 validation error detected: Value 'Nope' at 'connectorType' failed to satisfy constraint: Member must satisfy enum value set: ["), "{m}");

        let r = describe(
            &app,
            json!({"connectorType": "CustomConnector", "connectorLabel": "bad label"}),
        )
        .await;
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("ValidationException"))
        );

        let r = send(&app, "POST", "/describe-connector", Some(AUTH), "{not json").await;
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("SerializationException"))
        );
        let r = send(&app, "POST", "/describe-connector", Some(AUTH), "").await;
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("ValidationException"))
        );

        let s = send(&app, "GET", "/_emulator/stats", None, "").await.json();
        // The malformed body never reached validation.
        assert_eq!(s["total"], json!(3));
        assert_eq!(s["calls"]["Nope"], json!(1));
        assert_eq!(s["calls"]["CustomConnector/bad label"], json!(1));
        assert_eq!(s["calls"]["(none)"], json!(1));
    }

    #[tokio::test]
    async fn faults_from_data_and_runtime() {
        let app = app_with(
            "faults:\n  Salesforce: {errorCode: ThrottlingException, count: 2}\n  Trendmicro: {garbageBody: true}\n  Dynatrace: {errorCode: Weird, status: 503}\n",
        );
        let sf = json!({"connectorType": "Salesforce"});
        for _ in 0..2 {
            let r = describe(&app, sf.clone()).await;
            assert_eq!(
                (r.status, r.error_type()),
                (429, Some("ThrottlingException"))
            );
            assert_eq!(r.json(), json!({"message": "Rate exceeded"}));
        }
        assert_eq!(describe(&app, sf.clone()).await.status, 200);

        let r = describe(&app, json!({"connectorType": "Trendmicro"})).await;
        assert_eq!(r.status, 200);
        assert!(serde_json::from_slice::<Value>(&r.body).is_err());
        assert_eq!(r.header("content-type"), Some("application/json"));

        let r = describe(&app, json!({"connectorType": "Dynatrace"})).await;
        assert_eq!((r.status, r.error_type()), (503, Some("Weird")));

        // Inject a transient fault after a success.
        let r = send(&app, "POST", "/_emulator/faults", None, r#"{"key": "Salesforce", "fault": {"errorCode": "InternalServerException", "count": 1, "message": "boom"}}"#).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["fault"]["remaining"], json!(1));
        let r = describe(&app, sf.clone()).await;
        assert_eq!(
            (r.status, r.error_type()),
            (500, Some("InternalServerException"))
        );
        assert_eq!(r.json()["message"], json!("boom"));
        assert_eq!(describe(&app, sf.clone()).await.status, 200);

        // Clear a fault.
        let r = send(
            &app,
            "POST",
            "/_emulator/faults",
            None,
            r#"{"key": "Dynatrace", "fault": null}"#,
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            describe(&app, json!({"connectorType": "Dynatrace"}))
                .await
                .status,
            200
        );

        let r = send(
            &app,
            "POST",
            "/_emulator/faults",
            None,
            r#"{"key": "salesforce", "fault": {}}"#,
        )
        .await;
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("ValidationException"))
        );
        let r = send(
            &app,
            "POST",
            "/_emulator/faults",
            None,
            r#"{"key": "Slack", "fault": {"bogus": 1}}"#,
        )
        .await;
        assert_eq!(r.status, 400);

        let s = send(&app, "GET", "/_emulator/stats", None, "").await.json();
        assert_eq!(s["calls"]["Salesforce"], json!(5));
        assert_eq!(s["faults"]["Salesforce"]["fired"], json!(1));
        assert_eq!(
            send(&app, "POST", "/_emulator/reset", None, "")
                .await
                .status,
            200
        );
        let s = send(&app, "GET", "/_emulator/stats", None, "").await.json();
        assert_eq!(
            (s["total"].clone(), s["calls"].clone()),
            (json!(0), json!({}))
        );
    }

    #[tokio::test]
    async fn fault_on_custom_connector_key() {
        let app = app_with(
            "customConnectors: [{label: flaky}]\nfaults:\n  CustomConnector/flaky: {errorCode: AccessDeniedException, count: 1}\n",
        );
        let body = json!({"connectorType": "CustomConnector", "connectorLabel": "flaky"});
        let r = describe(&app, body.clone()).await;
        assert_eq!(
            (r.status, r.error_type()),
            (403, Some("AccessDeniedException"))
        );
        assert_eq!(describe(&app, body).await.status, 200);
        // The fault is per key: the vended type is unaffected.
        assert_eq!(
            describe(&app, json!({"connectorType": "Slack"}))
                .await
                .status,
            200
        );
    }

    #[tokio::test(start_paused = true)]
    async fn latency_fault_delays() {
        let app = app_with("faults:\n  S3: {latencyMs: 5000, errorCode: ConflictException}\n");
        let start = tokio::time::Instant::now();
        let r = describe(&app, json!({"connectorType": "S3"})).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(5000));
        assert_eq!((r.status, r.error_type()), (409, Some("ConflictException")));
    }

    #[tokio::test]
    async fn overrides() {
        let app =
            app_with("overrides:\n  Zendesk: {connectorVersion: '7.7', connectorMetadata: null}\n");
        let cfg = describe(&app, json!({"connectorType": "Zendesk"}))
            .await
            .json()["connectorConfiguration"]
            .clone();
        assert_eq!(cfg["connectorVersion"], json!("7.7"));
        assert!(cfg.get("connectorMetadata").is_none());
        let r = send(
            &app,
            "POST",
            "/_emulator/overrides",
            None,
            r#"{"connectorType": "Zendesk", "override": null}"#,
        )
        .await;
        assert_eq!(r.status, 200);
        let cfg = describe(&app, json!({"connectorType": "Zendesk"}))
            .await
            .json()["connectorConfiguration"]
            .clone();
        assert_eq!(cfg["connectorVersion"], json!("1.0"));
        let r = send(
            &app,
            "POST",
            "/_emulator/overrides",
            None,
            r#"{"connectorType": "Slack", "override": {"canUseAsDestination": true}}"#,
        )
        .await;
        assert_eq!(r.status, 200);
        let cfg = describe(&app, json!({"connectorType": "Slack"}))
            .await
            .json()["connectorConfiguration"]
            .clone();
        assert_eq!(cfg["canUseAsDestination"], json!(true));
        let r = send(
            &app,
            "POST",
            "/_emulator/overrides",
            None,
            r#"{"connectorType": "CustomConnector", "override": {}}"#,
        )
        .await;
        assert_eq!(r.status, 400);
    }

    #[tokio::test]
    async fn unknown_routes_and_methods() {
        let app = router(EmulatorData::default());
        let r = send(&app, "POST", "/describe-connectors", Some(AUTH), "{}").await;
        assert_eq!(
            (r.status, r.error_type()),
            (404, Some("UnknownOperationException"))
        );
        let r = send(&app, "GET", "/describe-connector", Some(AUTH), "").await;
        assert_eq!(
            (r.status, r.error_type()),
            (404, Some("UnknownOperationException"))
        );
        assert!(r.header("x-amzn-RequestId").is_some());
        let r = send(&app, "GET", "/_emulator/health", None, "").await;
        assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    }

    #[tokio::test]
    async fn serve_shuts_down() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, EmulatorData::default(), async {
            let _ = rx.await;
        }));
        let _ = tx.send(());
        let res = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(matches!(res, Ok(Ok(Ok(())))));
    }
}
