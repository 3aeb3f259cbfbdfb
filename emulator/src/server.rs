//! HTTP routes, shared state and the server loop.
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
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::account::Account;
use crate::data::{
    CustomConnectorSpec, EmulatorData, FaultSpec, RandomFaultSpec, check_fault_key,
    check_override_key,
};
use crate::faults::{FaultOutcome, FaultTable, RandomFaults};
use crate::iam::RoleSpec;
use crate::merge::merge_into;
use crate::registry::{Accounts, CustomEntry};
use crate::sts::Sts;
use crate::validate::{ValidRequest, parse_body, validate};
use crate::wire::{
    ApiError, JSON_CONTENT_TYPE, REQUEST_ID_HEADER, json_response, new_request_id, raw_response,
};
use crate::{auth, catalog};

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
    let registered_at = now_epoch_seconds();
    let account = data.account.clone();
    let mut accounts = Accounts::new(data.default_account_id().to_string());
    let default_id = accounts.default_id().to_string();
    let per_account = std::iter::once((default_id, data.custom_connectors)).chain(
        data.accounts
            .into_iter()
            .map(|a| (a.account_id, a.custom_connectors)),
    );
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
    let roles = data.roles.into_iter().filter(|role| {
        let ok = role.check(|id| accounts.contains(id)).is_ok();
        if !ok {
            warn!(role = %role.arn, "skipping role");
        }
        ok
    });
    let sts = Sts::new(roles.collect::<Vec<_>>());
    let mut faults = BTreeMap::new();
    for (key, fault) in data.faults {
        match check_fault_key(&key).and_then(|()| fault.check()) {
            Ok(()) => {
                faults.insert(key, fault);
            }
            Err(e) => warn!(key = %key, error = %e, "skipping fault"),
        }
    }
    let overrides = data
        .overrides
        .into_iter()
        .filter(|(k, _)| {
            let ok = check_override_key(k).is_ok();
            if !ok {
                warn!(key = %k, "skipping override of a type that is not vended");
            }
            ok
        })
        .collect();
    let state = AppState(
        Arc::new(Mutex::new(Inner {
            accounts,
            sts,
            overrides,
            faults: FaultTable::new(&faults),
            random_faults: data.random_faults.and_then(|spec| match spec.check() {
                Ok(()) => Some(RandomFaults::new(spec)),
                Err(e) => {
                    warn!(error = %e, "skipping random faults");
                    None
                }
            }),
            calls: BTreeMap::new(),
            total: 0,
            throttled: 0,
        })),
        Arc::new(Account::new(&account)),
    );

    Router::new()
        .route("/describe-connector", post(describe_connector))
        .route("/", post(sts_call))
        .route("/_emulator/health", get(health))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/faults", post(set_fault))
        .route("/_emulator/random-faults", post(set_random_faults))
        .route("/_emulator/connectors", post(register_connector))
        .route(
            "/_emulator/connectors/{label}",
            delete(deregister_connector),
        )
        .route("/_emulator/overrides", post(set_override))
        .route("/_emulator/roles", post(set_role))
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

/// `POST /`: STS over awsQuery.
async fn sts_call(
    State(state): State<AppState>,
    axum::Extension(RequestId(request_id)): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = state.lock();
    let Inner { accounts, sts, .. } = &mut *inner;
    sts.respond(
        &headers,
        &body,
        SystemTime::now(),
        accounts.default_id(),
        &request_id,
    )
}

/// The configuration served for a valid request in `account_id`, or `None`
/// for a custom connector not registered there.
fn resolve(
    inner: &Inner,
    account_id: &str,
    req: &ValidRequest,
    region: &str,
) -> Option<Map<String, Value>> {
    match &req.label {
        Some(label) => {
            let entry = inner.accounts.get(account_id)?.custom.get(label)?;
            let mut cfg = catalog::custom_default(label, region, account_id, entry.registered_at);
            merge_into(&mut cfg, &entry.spec.overlay());
            Some(cfg)
        }
        None => {
            let mut cfg = catalog::vended(&req.connector_type)?.clone();
            if let Some(overlay) = inner.overrides.get(&req.connector_type) {
                merge_into(&mut cfg, overlay);
            }
            Some(cfg)
        }
    }
}

async fn describe_connector(
    State(state): State<AppState>,
    axum::Extension(RequestId(request_id)): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = describe(&state, &headers, &body).await;
    let (resp, key, outcome) = match result {
        Ok((key, resp, outcome)) => (resp, key, outcome),
        Err((key, err)) => {
            let outcome = err.code.clone();
            (err.into_response(), key, outcome)
        }
    };
    info!(
        request_id = %request_id,
        key = key.as_deref().unwrap_or("-"),
        status = resp.status().as_u16(),
        outcome = %outcome,
        "DescribeConnector"
    );
    resp
}

type Described = (Option<String>, Response, String);

async fn describe(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Described, (Option<String>, ApiError)> {
    let sig = auth::check_request(headers, auth::SERVICE).map_err(|e| (None, e))?;
    let account_id = {
        let inner = state.lock();
        inner
            .sts
            .sessions()
            .caller(
                &sig.access_key_id,
                auth::security_token(headers),
                SystemTime::now(),
                inner.accounts.default_id(),
            )
            .map_err(|e| (None, ApiError::from(e)))?
            .account_id
    };
    let parsed = parse_body(body).map_err(|e| (None, e))?;
    let key = parsed.key();
    {
        let mut inner = state.lock();
        *inner.calls.entry(key.clone()).or_insert(0) += 1;
        inner.total += 1;
        inner.accounts.count(&account_id, &key);
    }
    if let Some(latency) = state.1.latency() {
        tokio::time::sleep(latency).await;
    }
    if !state.1.admit() {
        state.lock().throttled += 1;
        return Err((
            Some(key),
            ApiError::new("ThrottlingException", "Rate exceeded"),
        ));
    }
    let req = validate(&parsed).map_err(|e| (Some(key.clone()), e))?;
    let key = req.key();
    let action = {
        let mut inner = state.lock();
        // A fault set for the key wins over a random one.
        match inner.faults.on_call(&key) {
            Some(action) => Some(action),
            None => inner.random_faults.as_mut().and_then(RandomFaults::draw),
        }
    };
    let mut outcome_note = "ok";
    if let Some(action) = action {
        if let Some(latency) = action.latency {
            tokio::time::sleep(latency).await;
            outcome_note = "ok (delayed)";
        }
        match action.outcome {
            FaultOutcome::Error(e) => return Err((Some(key), e)),
            FaultOutcome::Garbage => {
                return Ok((
                    Some(key),
                    raw_response(StatusCode::OK, GARBAGE_BODY.to_string()),
                    "garbage body".to_string(),
                ));
            }
            FaultOutcome::Normal => {}
        }
    }
    let cfg = resolve(&state.lock(), &account_id, &req, &sig.region);
    match cfg {
        Some(cfg) => Ok((
            Some(key),
            json_response(StatusCode::OK, &json!({ "connectorConfiguration": cfg })),
            outcome_note.to_string(),
        )),
        None => {
            let label = req.label.as_deref().unwrap_or_default();
            Err((
                Some(key),
                ApiError::new(
                    "ResourceNotFoundException",
                    format!(
                        "No custom connector with label {label} is registered in this account."
                    ),
                ),
            ))
        }
    }
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn stats(State(state): State<AppState>) -> Response {
    let inner = state.lock();
    let default_custom = inner
        .accounts
        .get(inner.accounts.default_id())
        .map(|a| a.custom.keys().collect::<Vec<_>>())
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({
            "calls": inner.calls,
            "total": inner.total,
            "throttled": inner.throttled,
            "faults": inner.faults.status(),
            "randomFaults": inner.random_faults.as_ref().map(RandomFaults::status),
            "customConnectors": default_custom,
            "defaultAccountId": inner.accounts.default_id(),
            "accounts": inner.accounts.status(),
            "sts": inner.sts.status(SystemTime::now()),
        }),
    )
}

async fn reset(State(state): State<AppState>) -> Response {
    let mut inner = state.lock();
    inner.calls.clear();
    inner.total = 0;
    inner.accounts.reset_counts();
    inner.sts.reset();
    info!("stats reset");
    json_response(StatusCode::OK, &json!({"reset": true}))
}

/// `POST /_emulator/random-faults` — a `RandomFaultSpec`, or `null` to stop.
async fn set_random_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let spec: Option<RandomFaultSpec> = match control_body(&body) {
        Ok(spec) => spec,
        Err(e) => return e.into_response(),
    };
    if let Some(spec) = &spec
        && let Err(e) = spec.check()
    {
        return control_error(e);
    }
    info!(spec = ?spec, "random faults set");
    let mut inner = state.lock();
    inner.random_faults = spec.map(RandomFaults::new);
    json_response(
        StatusCode::OK,
        &json!({"randomFaults": inner.random_faults.as_ref().map(RandomFaults::status)}),
    )
}

/// Parses a control request body, answering 400 ValidationException.
fn control_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Invalid control request body: {e}")))
}

fn control_error(e: impl std::fmt::Display) -> Response {
    ApiError::validation(e.to_string()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFault {
    key: String,
    #[serde(default)]
    fault: Option<FaultSpec>,
}

async fn set_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let req: SetFault = match control_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_fault_key(&req.key) {
        return control_error(e);
    }
    if let Some(f) = &req.fault
        && let Err(e) = f.check()
    {
        return control_error(e);
    }
    info!(key = %req.key, fault = ?req.fault, "fault set");
    let mut inner = state.lock();
    inner.faults.set(&req.key, req.fault);
    json_response(
        StatusCode::OK,
        &json!({"key": req.key, "fault": inner.faults.status().get(&req.key)}),
    )
}

/// The account a control request names (`accountId`), else the default one;
/// 400 if the account is unknown.
fn control_account(inner: &Inner, account_id: Option<String>) -> Result<String, ApiError> {
    let id = account_id.unwrap_or_else(|| inner.accounts.default_id().to_string());
    if inner.accounts.contains(&id) {
        Ok(id)
    } else {
        Err(ApiError::validation(format!(
            "Unknown account {id}: declare it under accounts in the data file"
        )))
    }
}

/// `POST /_emulator/connectors`: a data-file entry plus an optional `accountId`.
async fn register_connector(State(state): State<AppState>, body: Bytes) -> Response {
    let mut entry: Map<String, Value> = match control_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let account_id = match entry.remove("accountId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(other) => return control_error(format!("accountId must be a string, not {other}")),
    };
    let spec: CustomConnectorSpec = match serde_json::from_value(Value::Object(entry)) {
        Ok(spec) => spec,
        Err(e) => return control_error(format!("Invalid control request body: {e}")),
    };
    if let Err(e) = spec.check() {
        return control_error(e);
    }
    let warnings = EmulatorData {
        custom_connectors: vec![spec.clone()],
        ..EmulatorData::default()
    }
    .warnings();
    for w in &warnings {
        warn!(warning = %w, "registered connector does not satisfy the AppFlow model");
    }
    let label = spec.label.clone();
    let mut inner = state.lock();
    let account_id = match control_account(&inner, account_id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let replaced = inner
        .accounts
        .entry(&account_id)
        .custom
        .insert(
            label.clone(),
            CustomEntry {
                spec,
                registered_at: now_epoch_seconds(),
            },
        )
        .is_some();
    info!(label = %label, account_id = %account_id, replaced, "custom connector registered");
    json_response(
        StatusCode::OK,
        &json!({"registered": label, "accountId": account_id, "replaced": replaced, "warnings": warnings}),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountQuery {
    #[serde(default)]
    account_id: Option<String>,
}

async fn deregister_connector(
    State(state): State<AppState>,
    Path(label): Path<String>,
    Query(query): Query<AccountQuery>,
) -> Response {
    let mut inner = state.lock();
    let account_id = match control_account(&inner, query.account_id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let removed = inner
        .accounts
        .entry(&account_id)
        .custom
        .remove(&label)
        .is_some();
    info!(label = %label, account_id = %account_id, removed, "custom connector deregistered");
    if removed {
        json_response(
            StatusCode::OK,
            &json!({"deregistered": label, "accountId": account_id}),
        )
    } else {
        ApiError::new(
            "ResourceNotFoundException",
            format!(
                "No custom connector with label {label} is registered in account {account_id}."
            ),
        )
        .into_response()
    }
}

/// `POST /_emulator/roles`: adds or replaces a role (a data-file `roles` entry).
async fn set_role(State(state): State<AppState>, body: Bytes) -> Response {
    let role: RoleSpec = match control_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut inner = state.lock();
    if let Err(e) = role.check(|id| inner.accounts.contains(id)) {
        return control_error(e);
    }
    let arn = role.arn.clone();
    let replaced = inner.sts.put_role(role);
    info!(role = %arn, replaced, "role set");
    json_response(StatusCode::OK, &json!({"role": arn, "replaced": replaced}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetOverride {
    connector_type: String,
    #[serde(default, rename = "override")]
    overlay: Option<Map<String, Value>>,
}

async fn set_override(State(state): State<AppState>, body: Bytes) -> Response {
    let req: SetOverride = match control_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_override_key(&req.connector_type) {
        return control_error(e);
    }
    let mut warnings = Vec::new();
    let mut inner = state.lock();
    match req.overlay {
        Some(overlay) => {
            warnings = EmulatorData {
                overrides: BTreeMap::from([(req.connector_type.clone(), overlay.clone())]),
                ..EmulatorData::default()
            }
            .warnings();
            inner.overrides.insert(req.connector_type.clone(), overlay);
        }
        None => {
            inner.overrides.remove(&req.connector_type);
        }
    }
    info!(connector_type = %req.connector_type, "override set");
    json_response(
        StatusCode::OK,
        &json!({"connectorType": req.connector_type, "warnings": warnings}),
    )
}

#[cfg(test)]
mod tests {
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
