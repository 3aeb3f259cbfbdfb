//! Router-level test helpers: requests through the whole router (middleware
//! included) without a socket.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request};
use serde_json::Value;
use tower::ServiceExt;

use crate::{EmulatorData, router};

/// SigV4 for AppFlow with a key STS did not issue.
pub const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/appflow/aws4_request, SignedHeaders=host;x-amz-date, Signature=00ff";

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn error_type(&self) -> Option<&str> {
        self.header("x-amzn-ErrorType")
    }
    /// The text of the first `<tag>` of an XML body.
    pub fn xml(&self, tag: &str) -> Option<String> {
        let text = self.text();
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].to_string())
    }
}

/// Sends a request with the given headers (plus `x-amz-date`).
pub async fn send_with(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-amz-date", "20240101T000000Z");
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    let req = b.body(Body::from(body.to_string())).expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body")
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// A JSON request, signed with `auth` if given.
pub async fn send(app: &Router, method: &str, uri: &str, auth: Option<&str>, body: &str) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    send_with(app, method, uri, &headers, body).await
}

/// A control request (`/_emulator/...`): JSON, unsigned.
pub async fn control(app: &Router, method: &str, path: &str, body: &str) -> Reply {
    send(app, method, path, None, body).await
}

/// DescribeConnector signed with [`AUTH`].
pub async fn describe(app: &Router, body: Value) -> Reply {
    send(
        app,
        "POST",
        "/describe-connector",
        Some(AUTH),
        &body.to_string(),
    )
    .await
}

pub fn app_with(yaml: &str) -> Router {
    router(EmulatorData::from_yaml_str(yaml).expect("data"))
}
