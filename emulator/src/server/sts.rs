//! `POST /`: STS over awsQuery. The route only hands the request to
//! `crate::sts`, which holds the protocol, under the shared state's lock.

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{AppState, Inner, RequestId};

/// `POST /`: `AssumeRole` and `GetCallerIdentity`.
pub(super) async fn sts_call(
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
