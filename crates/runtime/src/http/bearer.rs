//! The bearer token of a request's `Authorization` header (RFC 6750, section 2.1).

use axum::http::HeaderValue;

/// The token of `Authorization: Bearer <token>`, or `None` when the header is absent, names
/// another scheme, or holds no single token. The scheme is case-insensitive, as RFC 9110
/// says of every authentication scheme.
pub fn bearer_token(header: Option<&HeaderValue>) -> Option<&str> {
    let value = header?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let well_formed = !token.is_empty() && !token.contains(char::is_whitespace);
    well_formed.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str) -> Option<String> {
        let header = HeaderValue::from_str(value).expect("header value");
        bearer_token(Some(&header)).map(str::to_owned)
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(token("Bearer abc.def-ghi").as_deref(), Some("abc.def-ghi"));
        assert_eq!(token("bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("BEARER  abc").as_deref(), Some("abc"));
    }

    #[test]
    fn anything_else_is_no_token() {
        assert_eq!(bearer_token(None), None);
        for value in [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearerabc",
            "Bearer abc def",
            "Bearer abc\tdef",
            "Token abc",
        ] {
            assert_eq!(token(value), None, "{value:?}");
        }
        let opaque = HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("opaque bytes");
        assert_eq!(bearer_token(Some(&opaque)), None);
    }
}
