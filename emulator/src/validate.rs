//! DescribeConnector request parsing and validation, with the exceptions and
//! messages AWS sends: `SerializationException` for a body that is not the
//! request structure, `ValidationException` ("N validation error(s)
//! detected: ...") for constraint violations. Constraints come from the
//! service model.

use serde_json::Value;

use crate::model::Model;
use crate::wire::ApiError;
use crate::{CUSTOM_CONNECTOR, connector_key};

/// The request as sent, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeRequest {
    pub connector_type: Option<String>,
    pub connector_label: Option<String>,
}

impl DescribeRequest {
    /// The stats/fault key of this request (the type as sent, with the label
    /// for custom connectors; `(none)` when the type is missing).
    pub fn key(&self) -> String {
        match &self.connector_type {
            Some(t) => connector_key(t, self.connector_label.as_deref()),
            None => "(none)".to_string(),
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    pub connector_type: String,
    /// Only set for `CustomConnector`; ignored for vended connectors.
    pub label: Option<String>,
}

impl ValidRequest {
    pub fn key(&self) -> String {
        connector_key(&self.connector_type, self.label.as_deref())
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses the JSON body. An empty body is an empty structure, as for any
/// restJson1 operation.
pub fn parse_body(body: &[u8]) -> Result<DescribeRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DescribeRequest::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::serialization(format!("Unable to parse request body as JSON: {e}"))
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::serialization(format!(
            "Expected a JSON object for DescribeConnectorRequest, found {}",
            json_type(&value)
        )));
    };
    let string_member = |name: &str| -> Result<Option<String>, ApiError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::serialization(format!(
                "Expected a string for member '{name}', found {}",
                json_type(other)
            ))),
        }
    };
    Ok(DescribeRequest {
        connector_type: string_member("connectorType")?,
        connector_label: string_member("connectorLabel")?,
    })
}

/// One constraint violation, AWS-style (`Value 'x' at 'member' failed to satisfy constraint: ...`).
pub fn violation(value: Option<&str>, member: &str, constraint: &str) -> String {
    let value = match value {
        Some(v) => format!("'{v}'"),
        None => "null".to_string(),
    };
    format!("Value {value} at '{member}' failed to satisfy constraint: {constraint}")
}

/// The constraint violations of a string member, AWS-style.
fn string_violations(model: &Model, shape: &str, member: &str, value: &str) -> Vec<String> {
    let c = model.string_constraints(shape);
    let mut out = Vec::new();
    let len = value.encode_utf16().count() as u64;
    if let Some(values) = &c.enum_values
        && !values.iter().any(|v| v == value)
    {
        out.push(violation(
            Some(value),
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ),
        ));
    }
    if let Some(min) = c.min
        && len < min
    {
        out.push(violation(
            Some(value),
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if let Some(max) = c.max
        && len > max
    {
        out.push(violation(
            Some(value),
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if let Some(pattern) = &c.pattern
        && !model.full_match(pattern, value)
    {
        out.push(violation(
            Some(value),
            member,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    out
}

/// The message of a ValidationException listing `errors`.
pub fn validation_message(errors: &[String]) -> String {
    let n = errors.len();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errors.join("; ")
    )
}

/// Validates the request against the model (`connectorType` required and in
/// the enum; `connectorLabel` within length and pattern) and the operation's
/// rule that a custom connector needs a label.
pub fn validate(req: &DescribeRequest) -> Result<ValidRequest, ApiError> {
    let model = Model::get();
    let mut errors = Vec::new();
    match &req.connector_type {
        None => errors.push(violation(None, "connectorType", "Member must not be null")),
        Some(t) => errors.extend(string_violations(
            model,
            "ConnectorType",
            "connectorType",
            t,
        )),
    }
    if let Some(label) = &req.connector_label {
        errors.extend(string_violations(
            model,
            "ConnectorLabel",
            "connectorLabel",
            label,
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(validation_message(&errors)));
    }
    let connector_type = req.connector_type.clone().unwrap_or_default();
    if connector_type == CUSTOM_CONNECTOR {
        let Some(label) = req.connector_label.clone() else {
            return Err(ApiError::validation(
                "connectorLabel is required when connectorType is CustomConnector",
            ));
        };
        return Ok(ValidRequest {
            connector_type,
            label: Some(label),
        });
    }
    Ok(ValidRequest {
        connector_type,
        label: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VENDED_CONNECTOR_TYPES;

    fn req(t: Option<&str>, l: Option<&str>) -> DescribeRequest {
        DescribeRequest {
            connector_type: t.map(str::to_string),
            connector_label: l.map(str::to_string),
        }
    }

    #[test]
    fn parses_bodies() {
        assert_eq!(
            parse_body(br#"{"connectorType":"Slack","connectorLabel":"x1","extra":1}"#),
            Ok(req(Some("Slack"), Some("x1")))
        );
        assert_eq!(parse_body(b""), Ok(DescribeRequest::default()));
        assert_eq!(parse_body(b" \n"), Ok(DescribeRequest::default()));
        assert_eq!(parse_body(b"{}"), Ok(DescribeRequest::default()));
        assert_eq!(
            parse_body(br#"{"connectorType":null}"#),
            Ok(DescribeRequest::default())
        );
    }

    #[test]
    fn malformed_bodies_are_serialization_errors() {
        for body in [
            &b"{"[..],
            b"not json",
            b"[]",
            b"\"Slack\"",
            br#"{"connectorType": 5}"#,
            br#"{"connectorType": "Slack", "connectorLabel": ["a"]}"#,
        ] {
            let e = parse_body(body).expect_err("serialization error");
            assert_eq!(e.code, "SerializationException", "{e:?}");
            assert_eq!(e.status.as_u16(), 400);
        }
    }

    #[test]
    fn all_types_accepted() {
        for t in VENDED_CONNECTOR_TYPES {
            let v = validate(&req(Some(t), None)).expect("valid");
            assert_eq!(v.connector_type, *t);
            assert_eq!(v.label, None);
        }
    }

    #[test]
    fn missing_type() {
        let e = validate(&req(None, None)).expect_err("invalid");
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'connectorType' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn unknown_type_lists_enum() {
        let e = validate(&req(Some("salesforce"), None)).expect_err("invalid");
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.starts_with(
            "1 validation error detected: Value 'salesforce' at 'connectorType' failed to satisfy constraint: Member must satisfy enum value set: [Salesforce, Singular, Slack,"
        ), "{}", e.message);
        assert!(
            e.message.ends_with("CustomConnector, Pardot]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn labels() {
        for ok in ["ab", "acme-crm", "A1_b!c@d#e.f-g", "x".repeat(256).as_str()] {
            assert!(
                validate(&req(Some("CustomConnector"), Some(ok))).is_ok(),
                "{ok}"
            );
        }
        for bad in ["a", "", "-ab", "ab cd", "ab/cd", "a\u{e9}b", "ab\n"] {
            let e = validate(&req(Some("CustomConnector"), Some(bad))).expect_err(bad);
            assert_eq!(e.code, "ValidationException");
            assert!(
                e.message.contains(
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9][\\w!@#.-]+"
                ),
                "{}",
                e.message
            );
        }
        let long = "y".repeat(257);
        let e = validate(&req(Some("CustomConnector"), Some(&long))).expect_err("long");
        assert!(e.message.starts_with("1 validation error detected:"));
        assert!(
            e.message
                .contains("Member must have length less than or equal to 256")
        );
    }

    #[test]
    fn several_errors_are_counted() {
        let long_bad = format!("-{}", "y".repeat(300));
        let e = validate(&req(Some("Nope"), Some(&long_bad))).expect_err("invalid");
        assert!(
            e.message.starts_with("3 validation errors detected: "),
            "{}",
            e.message
        );
        assert_eq!(e.message.matches("; Value").count(), 2);
    }

    #[test]
    fn custom_connector_needs_label() {
        let e = validate(&req(Some("CustomConnector"), None)).expect_err("invalid");
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("connectorLabel is required"));
        let v = validate(&req(Some("CustomConnector"), Some("acme"))).expect("valid");
        assert_eq!(v.key(), "CustomConnector/acme");
    }

    #[test]
    fn label_ignored_for_vended() {
        let v = validate(&req(Some("Salesforce"), Some("whatever"))).expect("valid");
        assert_eq!(v.label, None);
        assert_eq!(v.key(), "Salesforce");
        // ...but it must still be a valid label.
        assert!(validate(&req(Some("Salesforce"), Some("!bad"))).is_err());
    }

    #[test]
    fn request_keys() {
        assert_eq!(req(None, None).key(), "(none)");
        assert_eq!(req(Some("Nope"), Some("x")).key(), "Nope");
        assert_eq!(
            req(Some("CustomConnector"), Some("x")).key(),
            "CustomConnector/x"
        );
    }
}
