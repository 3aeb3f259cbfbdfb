//! restJson1 responses: JSON bodies, modelled errors (`x-amzn-ErrorType`
//! header plus `{"message": ...}` body) and request ids.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-requestid");
pub const ERROR_TYPE_HEADER: HeaderName = HeaderName::from_static("x-amzn-errortype");
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// HTTP status AWS uses for an error code. The modelled AppFlow exceptions
/// use the model's `httpStatusCode`; the common AWS errors use the status
/// the AWS front end sends; anything else is a client error (400).
pub fn status_for_code(code: &str) -> u16 {
    match code {
        "ValidationException"
        | "SerializationException"
        | "ConnectorServerException"
        | "UnsupportedOperationException"
        | "IncompleteSignatureException" => 400,
        "ConnectorAuthenticationException" => 401,
        "ServiceQuotaExceededException" => 402,
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "MissingAuthenticationTokenException"
        | "InvalidSignatureException"
        | "ExpiredTokenException" => 403,
        "ResourceNotFoundException" | "UnknownOperationException" => 404,
        "ConflictException" => 409,
        "ThrottlingException" | "TooManyRequestsException" => 429,
        "InternalServerException" | "InternalFailure" => 500,
        "ServiceUnavailableException" | "ServiceUnavailable" => 503,
        _ => 400,
    }
}

/// Message used for an injected fault that gives none.
pub fn default_message(code: &str) -> String {
    match code {
        "ThrottlingException" => "Rate exceeded".to_string(),
        "InternalServerException" => {
            "An internal service error occurred. Please try again later.".to_string()
        }
        "AccessDeniedException" => {
            "User is not authorized to perform appflow:DescribeConnector".to_string()
        }
        "UnrecognizedClientException" => {
            "The security token included in the request is invalid.".to_string()
        }
        "ServiceQuotaExceededException" => "Service quota exceeded for this account.".to_string(),
        "ConflictException" => "There was a conflict when processing the request.".to_string(),
        "ResourceNotFoundException" => "The requested resource does not exist.".to_string(),
        "ValidationException" => "The request failed validation.".to_string(),
        other => format!("Injected fault {other}"),
    }
}

/// An error as AWS sends it over restJson1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status_for_code(code)).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            code: code.to_string(),
            status,
            message: message.into(),
        }
    }

    /// Like [`ApiError::new`] but with an explicit status (falls back to the
    /// code's usual status if `status` is not a valid HTTP status).
    pub fn with_status(code: &str, message: impl Into<String>, status: Option<u16>) -> Self {
        let mut err = ApiError::new(code, message);
        if let Some(s) = status.and_then(|s| StatusCode::from_u16(s).ok()) {
            err.status = s;
        }
        err
    }

    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::new("ValidationException", message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::new("SerializationException", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &json!({ "message": self.message }));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            resp.headers_mut().insert(ERROR_TYPE_HEADER, v);
        }
        resp
    }
}

/// A JSON response with `Content-Type: application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    raw_response(status, body.to_string())
}

/// A response with the given body, labelled as JSON whatever it holds.
pub fn raw_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// A fresh request id (a v4 UUID), as AWS sends in `x-amzn-RequestId`.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[test]
    fn statuses() {
        for (code, status) in [
            ("ValidationException", 400),
            ("ResourceNotFoundException", 404),
            ("InternalServerException", 500),
            ("ThrottlingException", 429),
            ("AccessDeniedException", 403),
            ("UnrecognizedClientException", 403),
            ("ServiceQuotaExceededException", 402),
            ("ConflictException", 409),
            ("ConnectorAuthenticationException", 401),
            ("SomethingElse", 400),
        ] {
            assert_eq!(status_for_code(code), status, "{code}");
        }
    }

    #[test]
    fn explicit_status_wins() {
        let e = ApiError::with_status("SomethingElse", "x", Some(503));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::with_status("ThrottlingException", "x", Some(1000));
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn error_response_shape() {
        let resp = ApiError::new("ResourceNotFoundException", "gone").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resp.headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok()),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let body = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v, json!({"message": "gone"}));
    }

    #[test]
    fn request_ids_are_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        assert_ne!(id, new_request_id());
    }
}
