//! SigV4 `Authorization` header parsing. The signature itself is not
//! verified; the header's structure and credential scope are, with the
//! errors the AWS front end sends (as a JSON service names them; the awsQuery
//! names are in `query.rs`).

use axum::http::HeaderMap;

use crate::identity::CredentialError;
use crate::wire::ApiError;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope's service for AppFlow.
pub const SERVICE: &str = "appflow";
/// The credential scope's service for STS.
pub const STS_SERVICE: &str = "sts";
pub const TERMINATOR: &str = "aws4_request";
/// The header that carries a temporary credential's session token.
pub const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4 {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new("IncompleteSignatureException", message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidSignatureException", message)
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex` and checks the credential scope against `service`.
pub fn parse_authorization(value: &str, service_expected: &str) -> Result<SigV4, ApiError> {
    let value = value.trim();
    let rest = strip_algorithm(value)?;
    let (credential, signed_headers, signature) = required_params(rest, value)?;
    let scope = parse_scope(&credential, service_expected)?;
    if !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(SigV4 {
        access_key_id: scope.access_key_id,
        date: scope.date,
        region: scope.region,
        service: scope.service,
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        signature,
    })
}

/// Checks the algorithm that opens the header; returns what follows it.
fn strip_algorithm(value: &str) -> Result<&str, ApiError> {
    let (algorithm, rest) = match value.split_once(char::is_whitespace) {
        Some((a, r)) => (a, r.trim()),
        None => (value, ""),
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'; expected '{ALGORITHM}'."
        )));
    }
    Ok(rest)
}

/// The `Credential`, `SignedHeaders` and `Signature` parameters, all present
/// and non-empty. AWS names every missing one in a single message, so they are
/// gathered before failing; `value` is the whole header, which AWS echoes.
fn required_params(rest: &str, value: &str) -> Result<(String, String, String), ApiError> {
    let (credential, signed_headers, signature) = key_value_params(rest, value)?;
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if v.as_deref().is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    }
    Ok((credential, signed_headers, signature))
}

type Params = (Option<String>, Option<String>, Option<String>);

/// Splits the comma-separated `key=value` pairs, keeping the three SigV4 needs
/// (the last of a repeated key wins) and skipping unknown keys, as AWS does.
fn key_value_params(rest: &str, value: &str) -> Result<Params, ApiError> {
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(v.trim().to_string());
    }
    Ok((credential, signed_headers, signature))
}

/// A `Credential` parameter's parts, the access key ID and its scope.
struct Scope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

/// Parses `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`, checking each part in
/// the order AWS does, so the first error is the one AWS would report.
fn parse_scope(credential: &str, service_expected: &str) -> Result<Scope, ApiError> {
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 {
        return Err(incomplete(format!(
            "Authorization header credential is malformed: '{credential}'; expected 'ACCESS_KEY/YYYYMMDD/REGION/SERVICE/{TERMINATOR}'."
        )));
    }
    let (akid, date, region, service, terminator) =
        (parts[0], parts[1], parts[2], parts[3], parts[4]);
    if akid.is_empty() {
        return Err(ApiError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "Credential should be scoped to a valid date in YYYYMMDD format, not '{date}'."
        )));
    }
    if region.is_empty() {
        return Err(invalid("Credential should be scoped to a valid region."));
    }
    if service != service_expected {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{service_expected}'."
        )));
    }
    if terminator != TERMINATOR {
        return Err(invalid(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        )));
    }
    Ok(Scope {
        access_key_id: akid.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
    })
}

/// Checks a request's headers: a SigV4 `Authorization` header scoped to
/// `service`, plus the date header SigV4 needs.
pub fn check_request(headers: &HeaderMap, service: &str) -> Result<SigV4, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let Ok(value) = value.to_str() else {
        return Err(incomplete("Authorization header is not valid ASCII."));
    };
    let sig = parse_authorization(value, service)?;
    if !headers.contains_key("x-amz-date") && !headers.contains_key(axum::http::header::DATE) {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    }
    Ok(sig)
}

/// The `x-amz-security-token` header, if present and readable.
pub fn security_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(SECURITY_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Refused credentials as the front end answers a JSON service's request.
impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        let code = match e {
            CredentialError::Expired => "ExpiredTokenException",
            CredentialError::InvalidToken => "UnrecognizedClientException",
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/appflow/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    #[test]
    fn parses_a_botocore_header() {
        let s = parse_authorization(GOOD, SERVICE).expect("valid");
        assert_eq!(s.access_key_id, "AKIDEXAMPLE");
        assert_eq!(s.date, "20240101");
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.service, "appflow");
        assert_eq!(s.signed_headers, vec!["content-type", "host", "x-amz-date"]);
        assert_eq!(s.signature.len(), 64);
    }

    #[test]
    fn parses_without_spaces_and_in_any_order() {
        let h = "AWS4-HMAC-SHA256 Signature=abcd,SignedHeaders=host,Credential=AK/20240101/eu-west-1/appflow/aws4_request";
        let s = parse_authorization(h, SERVICE).expect("valid");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.signature, "abcd");
    }

    #[test]
    fn wrong_service() {
        let h = GOOD.replace("/appflow/", "/s3/");
        let e = parse_authorization(&h, SERVICE).expect_err("wrong service");
        assert_eq!(e.code, "InvalidSignatureException");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(
            e.message,
            "Credential should be scoped to correct service: 'appflow'."
        );
    }

    #[test]
    fn wrong_terminator_and_date() {
        let e = parse_authorization(&GOOD.replace("aws4_request", "aws5_request"), SERVICE)
            .expect_err("x");
        assert_eq!(e.code, "InvalidSignatureException");
        assert!(e.message.contains("valid terminator"));
        let e =
            parse_authorization(&GOOD.replace("20240101", "2024-01-01"), SERVICE).expect_err("x");
        assert_eq!(e.code, "InvalidSignatureException");
        let e = parse_authorization(&GOOD.replace("/us-east-1/", "//"), SERVICE).expect_err("x");
        assert!(e.message.contains("valid region"));
    }

    #[test]
    fn missing_parts() {
        let e = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/appflow/aws4_request",
            SERVICE,
        )
        .expect_err("incomplete");
        assert_eq!(e.code, "IncompleteSignatureException");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("requires 'Signature' parameter"));
        assert!(e.message.contains("requires 'SignedHeaders' parameter"));
        assert!(!e.message.contains("requires 'Credential'"));

        let e = parse_authorization("AWS4-HMAC-SHA256 Credential=AK/us-east-1/appflow/aws4_request, SignedHeaders=host, Signature=ab", SERVICE)
            .expect_err("short scope");
        assert_eq!(e.code, "IncompleteSignatureException");

        let e = parse_authorization("AWS4-HMAC-SHA256 garbage", SERVICE).expect_err("no k=v");
        assert_eq!(e.code, "IncompleteSignatureException");

        let e = parse_authorization("Bearer abc", SERVICE).expect_err("other scheme");
        assert_eq!(e.code, "IncompleteSignatureException");
        let e = parse_authorization("", SERVICE).expect_err("empty");
        assert_eq!(e.code, "IncompleteSignatureException");
    }

    #[test]
    fn empty_access_key() {
        let e = parse_authorization(&GOOD.replace("AKIDEXAMPLE", ""), SERVICE).expect_err("x");
        assert_eq!(e.code, "UnrecognizedClientException");
    }

    #[test]
    fn request_headers() {
        let mut h = HeaderMap::new();
        let e = check_request(&h, SERVICE).expect_err("missing");
        assert_eq!(e.code, "MissingAuthenticationTokenException");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.message, "Missing Authentication Token");

        h.insert("authorization", HeaderValue::from_static(GOOD));
        let e = check_request(&h, SERVICE).expect_err("no date");
        assert_eq!(e.code, "IncompleteSignatureException");

        h.insert("x-amz-date", HeaderValue::from_static("20240101T000000Z"));
        assert_eq!(check_request(&h, SERVICE).expect("ok").region, "us-east-1");
        let e = check_request(&h, STS_SERVICE).expect_err("scoped to appflow");
        assert_eq!(
            e.message,
            "Credential should be scoped to correct service: 'sts'."
        );
        assert_eq!(security_token(&h), None);
        h.insert(SECURITY_TOKEN_HEADER, HeaderValue::from_static("tok"));
        assert_eq!(security_token(&h), Some("tok"));
    }

    #[test]
    fn refused_credentials() {
        let e = ApiError::from(CredentialError::Expired);
        assert_eq!(
            (e.code.as_str(), e.status, e.message.as_str()),
            (
                "ExpiredTokenException",
                StatusCode::FORBIDDEN,
                "The security token included in the request is expired"
            )
        );
        let e = ApiError::from(CredentialError::InvalidToken);
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid."
            )
        );
    }
}
