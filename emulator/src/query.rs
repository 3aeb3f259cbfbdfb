//! The awsQuery wire protocol (STS): form-encoded request parameters, XML
//! answers in the service's namespace with `<ResponseMetadata><RequestId>`,
//! and `<ErrorResponse>` errors. The AWS front end's authentication errors
//! are the JSON services' ones under their query names
//! (`UnrecognizedClientException` is `InvalidClientTokenId`, ...).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::wire::ApiError;

pub const XML_CONTENT_TYPE: &str = "text/xml";

/// A request's parameters (`Action`, `Version`, the operation's members); the
/// first value of a repeated name wins.
pub type Params = BTreeMap<String, String>;

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_form(body: &[u8]) -> Params {
    let mut params = Params::new();
    for (k, v) in form_urlencoded::parse(body) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    params
}

/// An error as an awsQuery service sends it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct QueryError {
    pub code: String,
    pub status: StatusCode,
    pub message: String,
}

impl QueryError {
    pub fn new(code: &str, status: StatusCode, message: impl Into<String>) -> Self {
        QueryError {
            code: code.to_string(),
            status,
            message: message.into(),
        }
    }

    /// 400 `ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        QueryError::new("ValidationError", StatusCode::BAD_REQUEST, message)
    }

    /// 403 `AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        QueryError::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    /// The front end's authentication errors, renamed the way awsQuery services name them.
    pub fn from_front_end(e: ApiError) -> Self {
        let (code, message) = match e.code.as_str() {
            "MissingAuthenticationTokenException" => (
                "MissingAuthenticationToken",
                "Request is missing Authentication Token".to_string(),
            ),
            "IncompleteSignatureException" => ("IncompleteSignature", e.message),
            "InvalidSignatureException" => ("SignatureDoesNotMatch", e.message),
            "UnrecognizedClientException" => ("InvalidClientTokenId", e.message),
            "ExpiredTokenException" => ("ExpiredToken", e.message),
            other => (other, e.message),
        };
        QueryError::new(code, e.status, message)
    }

    /// The XML body: `<ErrorResponse>` with `Type` `Sender` (4xx) or `Receiver` (5xx).
    pub fn to_xml(&self, namespace: &str, request_id: &str) -> String {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut x = Xml::document();
        x.open_ns("ErrorResponse", namespace)
            .open("Error")
            .leaf("Type", kind)
            .leaf("Code", &self.code)
            .leaf("Message", &self.message)
            .close("Error")
            .leaf("RequestId", request_id)
            .close("ErrorResponse");
        x.finish()
    }

    pub fn into_response(self, namespace: &str, request_id: &str) -> Response {
        xml_response(self.status, self.to_xml(namespace, request_id))
    }
}

/// The XML body of a successful `action`: `<ActionResponse><ActionResult>` around
/// `result` (already XML), then `<ResponseMetadata>`.
pub fn result_xml(action: &str, namespace: &str, result: &str, request_id: &str) -> String {
    let mut x = Xml::document();
    let response = format!("{action}Response");
    let wrapper = format!("{action}Result");
    x.open_ns(&response, namespace)
        .open(&wrapper)
        .raw(result)
        .close(&wrapper)
        .open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata")
        .close(&response);
    x.finish()
}

/// A response with `Content-Type: text/xml`.
pub fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(XML_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// A small indenting XML writer: elements and escaped text.
pub struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    /// A writer without an XML declaration (AWS's STS answers have none).
    pub fn document() -> Self {
        Xml {
            out: String::new(),
            depth: 0,
        }
    }

    /// A writer for a fragment nested `depth` levels deep.
    pub fn fragment(depth: usize) -> Self {
        Xml {
            out: String::new(),
            depth,
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    pub fn open_ns(&mut self, name: &str, namespace: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{name} xmlns=\"{}\">", escape(namespace));
        self.depth += 1;
        self
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{name}>");
        self.depth += 1;
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
        self
    }

    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// Already-written XML (a fragment made at the right depth).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes text for element content and (double-quoted) attribute values;
/// apostrophes stay as they are, as in AWS's answers.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

    #[test]
    fn form_bodies() {
        let p = parse_form(b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=a+b&Action=Other");
        assert_eq!(p["Action"], "AssumeRole");
        assert_eq!(p["RoleArn"], "arn:aws:iam::1:role/r");
        assert_eq!(p["RoleSessionName"], "a b");
        assert!(parse_form(b"").is_empty());
    }

    #[test]
    fn error_xml() {
        let e = QueryError::access_denied("User: a & <b> is not authorized");
        let xml = e.to_xml(NS, "rid");
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n    <Message>User: a &amp; &lt;b&gt; is not authorized</Message>\n  </Error>\n  <RequestId>rid</RequestId>\n</ErrorResponse>\n"
        );
        let e = QueryError::new("InternalFailure", StatusCode::INTERNAL_SERVER_ERROR, "x");
        assert!(e.to_xml(NS, "r").contains("<Type>Receiver</Type>"));
    }

    #[test]
    fn result_wrapping() {
        let mut f = Xml::fragment(2);
        f.leaf("Account", "123456789012");
        let xml = result_xml("GetCallerIdentity", NS, &f.finish(), "rid");
        assert!(xml.starts_with("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>rid</RequestId>\n"), "{xml}");
    }

    #[test]
    fn front_end_errors_under_query_names() {
        for (json, query) in [
            (
                "MissingAuthenticationTokenException",
                "MissingAuthenticationToken",
            ),
            ("IncompleteSignatureException", "IncompleteSignature"),
            ("InvalidSignatureException", "SignatureDoesNotMatch"),
            ("UnrecognizedClientException", "InvalidClientTokenId"),
            ("ExpiredTokenException", "ExpiredToken"),
        ] {
            let e = QueryError::from_front_end(ApiError::new(json, "m"));
            assert_eq!(e.code, query);
        }
        let e = QueryError::from_front_end(ApiError::new("ExpiredTokenException", "m"));
        assert_eq!(e.status, StatusCode::FORBIDDEN);
    }
}
