//! A fuzz input read as AppFlow's HTTP answer to DescribeConnector.
//!
//! The format is text, so seeds stay readable and libFuzzer's mutations of digits and
//! header lines make sense:
//!
//! ```text
//! 400
//! x-amzn-errortype: ValidationException
//!
//! {"message": "..."}
//! ```
//!
//! A status line of three digits, header lines up to an empty line, then the body. Input
//! that does not start with a status line is a `200` body as it is, so plain JSON seeds
//! (the emulator's answers) work unchanged.

/// One HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Name and value as sent; ones that are not valid HTTP are dropped by [`Answer::to_http`]
    /// (no HTTP client hands such a header to the SDK).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// Reads fuzz bytes; never fails.
    pub fn parse(data: &[u8]) -> Answer {
        with_head(data).unwrap_or_else(|| Answer {
            status: 200,
            headers: Vec::new(),
            body: data.to_vec(),
        })
    }

    /// The answer as an `http` response, as an HTTP client would hand it to the SDK.
    pub fn to_http(&self) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(self.body.clone());
        // `with_head` only accepts statuses `http` accepts.
        *response.status_mut() = http::StatusCode::from_u16(self.status).unwrap_or_default();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

fn with_head(data: &[u8]) -> Option<Answer> {
    let (status_line, mut rest) = split_line(data);
    let digits = status_line.strip_suffix(b"\r").unwrap_or(status_line);
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) || rest.is_none() {
        return None;
    }
    let status = std::str::from_utf8(digits).ok()?.parse().ok()?;
    http::StatusCode::from_u16(status).ok()?;
    let mut headers = Vec::new();
    while let Some(after) = rest {
        let (line, next) = split_line(after);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Some(Answer {
                status,
                headers,
                body: next.unwrap_or_default().to_vec(),
            });
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            headers.push((line[..colon].to_vec(), value.to_vec()));
        }
        rest = next;
    }
    Some(Answer {
        status,
        headers,
        body: Vec::new(),
    })
}

/// The line before the first `\n` and what follows it (`None`: there was no `\n`).
fn split_line(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], Some(&data[end + 1..])),
        None => (data, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_headers_and_a_body() {
        let answer = Answer::parse(b"404\r\nx-amzn-errortype: ResourceNotFoundException\n\n{}");
        assert_eq!(answer.status, 404);
        assert_eq!(
            answer.headers,
            [(
                b"x-amzn-errortype".to_vec(),
                b"ResourceNotFoundException".to_vec()
            )]
        );
        assert_eq!(answer.body, b"{}");
        let http = answer.to_http();
        assert_eq!(http.status(), 404);
        assert_eq!(
            http.headers()["x-amzn-errortype"],
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn anything_else_is_a_200_body() {
        for data in [&b"{\"a\": 1}"[..], b"200", b"20x\n\n{}", b"099\n\n{}", b""] {
            let answer = Answer::parse(data);
            assert_eq!((answer.status, answer.body.as_slice()), (200, data));
        }
    }

    #[test]
    fn headers_http_cannot_carry_are_dropped() {
        let answer = Answer::parse(b"500\nbad name: x\nok: \x7f\ngood: yes\n");
        assert_eq!(answer.body, b"");
        let http = answer.to_http();
        assert_eq!(http.headers().len(), 1, "{:?}", http.headers());
        assert_eq!(http.headers()["good"], "yes");
    }
}
