//! `/_emulator/*`: the emulator's own control API (health, stats, reset,
//! faults, custom connectors, overrides, roles), which no AWS client calls.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use super::{AppState, Inner, now_epoch_seconds};
use crate::data::{
    CustomConnectorSpec, EmulatorData, FaultSpec, RandomFaultSpec, check_fault_key,
    check_override_key,
};
use crate::faults::RandomFaults;
use crate::iam::RoleSpec;
use crate::registry::CustomEntry;
use crate::wire::{ApiError, json_response};

pub(super) async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

pub(super) async fn stats(State(state): State<AppState>) -> Response {
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

pub(super) async fn reset(State(state): State<AppState>) -> Response {
    let mut inner = state.lock();
    inner.calls.clear();
    inner.total = 0;
    inner.accounts.reset_counts();
    inner.sts.reset();
    info!("stats reset");
    json_response(StatusCode::OK, &json!({"reset": true}))
}

/// `POST /_emulator/random-faults` — a `RandomFaultSpec`, or `null` to stop.
pub(super) async fn set_random_faults(State(state): State<AppState>, body: Bytes) -> Response {
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

pub(super) async fn set_fault(State(state): State<AppState>, body: Bytes) -> Response {
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
pub(super) async fn register_connector(State(state): State<AppState>, body: Bytes) -> Response {
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
pub(super) struct AccountQuery {
    #[serde(default)]
    account_id: Option<String>,
}

pub(super) async fn deregister_connector(
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
pub(super) async fn set_role(State(state): State<AppState>, body: Bytes) -> Response {
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

pub(super) async fn set_override(State(state): State<AppState>, body: Bytes) -> Response {
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
