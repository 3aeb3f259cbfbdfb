//! `POST /describe-connector`: AppFlow's DescribeConnector (restJson1), in the
//! caller's account, with the account's latency and quota and the faults set.

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tracing::info;

use super::{AppState, GARBAGE_BODY, Inner, RequestId};
use crate::auth::{self, SigV4};
use crate::catalog;
use crate::faults::{FaultOutcome, RandomFaults};
use crate::merge::merge_into;
use crate::validate::{ValidRequest, parse_body, validate};
use crate::wire::{ApiError, json_response, raw_response};

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

pub(super) async fn describe_connector(
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
    let account_id = caller_account(state, headers, &sig).map_err(|e| (None, e))?;
    let parsed = parse_body(body).map_err(|e| (None, e))?;
    let key = parsed.key();
    count_call(state, &account_id, &key);
    admit(state).await.map_err(|e| (Some(key.clone()), e))?;
    let req = validate(&parsed).map_err(|e| (Some(key.clone()), e))?;
    let key = req.key();
    let outcome_note = match apply_fault(state, &key).await {
        Ok(FaultApplied::Served(resp, outcome)) => return Ok((Some(key), resp, outcome)),
        Ok(FaultApplied::Continue(note)) => note,
        Err(e) => return Err((Some(key), e)),
    };
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

/// The account the caller acts in: the one of the session its key belongs to,
/// or the default account for a key STS did not issue.
fn caller_account(state: &AppState, headers: &HeaderMap, sig: &SigV4) -> Result<String, ApiError> {
    let inner = state.lock();
    let caller = inner.sts.sessions().caller(
        &sig.access_key_id,
        auth::security_token(headers),
        SystemTime::now(),
        inner.accounts.default_id(),
    )?;
    Ok(caller.account_id)
}

/// Counts a parsed call, before throttling, so throttled calls count too.
fn count_call(state: &AppState, account_id: &str, key: &str) {
    let mut inner = state.lock();
    *inner.calls.entry(key.to_string()).or_insert(0) += 1;
    inner.total += 1;
    inner.accounts.count(account_id, key);
}

/// The account's latency, then its request quota.
async fn admit(state: &AppState) -> Result<(), ApiError> {
    if let Some(latency) = state.1.latency() {
        tokio::time::sleep(latency).await;
    }
    if !state.1.admit() {
        state.lock().throttled += 1;
        return Err(ApiError::new("ThrottlingException", "Rate exceeded"));
    }
    Ok(())
}

/// What a fault left to do with a valid call.
enum FaultApplied {
    /// The fault answered the call; the response and its logged outcome.
    Served(Response, String),
    /// Serve the configuration; the outcome to log.
    Continue(&'static str),
}

/// Applies the fault drawn for `key`, if any: its latency, then its outcome.
async fn apply_fault(state: &AppState, key: &str) -> Result<FaultApplied, ApiError> {
    let action = {
        let mut inner = state.lock();
        // A fault set for the key wins over a random one.
        match inner.faults.on_call(key) {
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
            FaultOutcome::Error(e) => return Err(e),
            FaultOutcome::Garbage => {
                return Ok(FaultApplied::Served(
                    raw_response(StatusCode::OK, GARBAGE_BODY.to_string()),
                    "garbage body".to_string(),
                ));
            }
            FaultOutcome::Normal => {}
        }
    }
    Ok(FaultApplied::Continue(outcome_note))
}
