//! AppFlow's service model (botocore's `appflow/2020-08-23/service-2.json`),
//! embedded, and a validator that checks wire-format JSON against a shape:
//! member names, JSON types, enums, patterns (full match, as AWS applies
//! them), lengths and list sizes.
//!
//! The emulator uses it to check data-file entries (problems are logged, not
//! fatal, so tests can serve deliberately odd data), and the tests use it to
//! check the built-in catalog.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Value};

const MODEL_JSON: &str = include_str!("../model/appflow-2020-08-23.service-2.json");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringConstraints {
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub pattern: Option<String>,
    pub enum_values: Option<Vec<String>>,
}

pub struct Model {
    shapes: Map<String, Value>,
    patterns: Mutex<HashMap<String, Option<Regex>>>,
}

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    let root: Value =
        serde_json::from_str(MODEL_JSON).expect("embedded AppFlow service model is valid JSON");
    let shapes = match root.get("shapes") {
        Some(Value::Object(shapes)) => shapes.clone(),
        _ => Map::new(),
    };
    Model {
        shapes,
        patterns: Mutex::new(HashMap::new()),
    }
});

impl Model {
    pub fn get() -> &'static Model {
        &MODEL
    }

    fn shape(&self, name: &str) -> Option<&Map<String, Value>> {
        self.shapes.get(name).and_then(Value::as_object)
    }

    /// Values of an enum string shape, in the model's order.
    pub fn enum_values(&self, shape: &str) -> Option<Vec<String>> {
        let values = self.shape(shape)?.get("enum")?.as_array()?;
        Some(
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    }

    /// Length, pattern and enum constraints of a string shape.
    pub fn string_constraints(&self, shape: &str) -> StringConstraints {
        let s = self.shape(shape);
        let int = |key: &str| s.and_then(|s| s.get(key)).and_then(Value::as_u64);
        StringConstraints {
            min: int("min"),
            max: int("max"),
            pattern: s
                .and_then(|s| s.get("pattern"))
                .and_then(Value::as_str)
                .map(str::to_string),
            enum_values: self.enum_values(shape),
        }
    }

    /// Whether `value` matches the model pattern `pattern` as a whole.
    pub fn full_match(&self, pattern: &str, value: &str) -> bool {
        self.matches_pattern(pattern, value)
    }

    /// Member names of a structure shape.
    #[cfg(test)]
    pub fn member_names(&self, shape: &str) -> Vec<String> {
        self.shape(shape)
            .and_then(|s| s.get("members"))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn matches_pattern(&self, pattern: &str, value: &str) -> bool {
        let mut cache = match self.patterns.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(&format!("^(?:{})$", ascii_classes(pattern))).ok());
        // A pattern this regex engine cannot compile is not held against the value.
        re.as_ref().is_none_or(|re| re.is_match(value))
    }

    /// Checks `value` against shape `shape`; returns one line per problem,
    /// each starting with the JSON path (`$.a.b[0]`).
    pub fn validate(&self, shape: &str, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        self.check(shape, value, "$", &mut problems);
        problems
    }

    fn check(&self, shape_name: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        let Some(shape) = self.shape(shape_name) else {
            out.push(format!("{path}: unknown shape {shape_name}"));
            return;
        };
        let kind = shape.get("type").and_then(Value::as_str).unwrap_or("");
        let int = |key: &str| shape.get(key).and_then(Value::as_u64);
        match kind {
            "structure" => {
                let Some(obj) = value.as_object() else {
                    out.push(format!("{path}: expected an object ({shape_name})"));
                    return;
                };
                let members = shape.get("members").and_then(Value::as_object);
                for (name, v) in obj {
                    let target = members
                        .and_then(|m| m.get(name))
                        .and_then(|m| m.get("shape"))
                        .and_then(Value::as_str);
                    match target {
                        Some(target) => self.check(target, v, &format!("{path}.{name}"), out),
                        None => {
                            out.push(format!("{path}: unknown member '{name}' for {shape_name}"))
                        }
                    }
                }
                if let Some(required) = shape.get("required").and_then(Value::as_array) {
                    for r in required.iter().filter_map(Value::as_str) {
                        if !obj.contains_key(r) {
                            out.push(format!("{path}: missing required member '{r}'"));
                        }
                    }
                }
            }
            "list" => {
                let Some(items) = value.as_array() else {
                    out.push(format!("{path}: expected an array ({shape_name})"));
                    return;
                };
                if let Some(min) = int("min")
                    && (items.len() as u64) < min
                {
                    out.push(format!("{path}: fewer than {min} items"));
                }
                if let Some(max) = int("max")
                    && (items.len() as u64) > max
                {
                    out.push(format!("{path}: more than {max} items"));
                }
                let member = shape
                    .get("member")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for (i, item) in items.iter().enumerate() {
                    self.check(member, item, &format!("{path}[{i}]"), out);
                }
            }
            "map" => {
                let Some(obj) = value.as_object() else {
                    out.push(format!("{path}: expected an object ({shape_name})"));
                    return;
                };
                let key = shape
                    .get("key")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let val = shape
                    .get("value")
                    .and_then(|m| m.get("shape"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for (k, v) in obj {
                    self.check(key, &Value::String(k.clone()), &format!("{path}<key>"), out);
                    self.check(val, v, &format!("{path}.{k}"), out);
                }
            }
            "string" => {
                let Some(s) = value.as_str() else {
                    out.push(format!("{path}: expected a string ({shape_name})"));
                    return;
                };
                let len = s.encode_utf16().count() as u64;
                if let Some(min) = int("min")
                    && len < min
                {
                    out.push(format!("{path}: shorter than {min}"));
                }
                if let Some(max) = int("max")
                    && len > max
                {
                    out.push(format!("{path}: longer than {max}"));
                }
                if let Some(values) = shape.get("enum").and_then(Value::as_array)
                    && !values.iter().any(|v| v.as_str() == Some(s))
                {
                    out.push(format!("{path}: '{s}' is not a value of enum {shape_name}"));
                }
                if let Some(pattern) = shape.get("pattern").and_then(Value::as_str)
                    && !self.matches_pattern(pattern, s)
                {
                    out.push(format!(
                        "{path}: '{s}' does not match pattern {pattern} ({shape_name})"
                    ));
                }
            }
            "boolean" => {
                if !value.is_boolean() {
                    out.push(format!("{path}: expected a boolean"));
                }
            }
            "integer" | "long" => {
                if !(value.is_i64() || value.is_u64()) {
                    out.push(format!("{path}: expected an integer"));
                }
            }
            "double" | "float" => {
                if !value.is_number() {
                    out.push(format!("{path}: expected a number"));
                }
            }
            "timestamp" => {
                // restJson1 sends body timestamps as epoch seconds unless the
                // shape says otherwise.
                match shape.get("timestampFormat").and_then(Value::as_str) {
                    None | Some("unixTimestamp") => {
                        if !value.is_number() {
                            out.push(format!("{path}: expected epoch seconds (a number)"));
                        }
                    }
                    Some(_) => {
                        if !value.is_string() {
                            out.push(format!("{path}: expected a timestamp string"));
                        }
                    }
                }
            }
            "blob" => {
                if !value.is_string() {
                    out.push(format!("{path}: expected a base64 string"));
                }
            }
            other => out.push(format!("{path}: unsupported shape type '{other}'")),
        }
    }
}

/// Rewrites `\w`, `\s`, `\d` (and their negations) into ASCII POSIX
/// classes: AWS validates with Java regexes, whose shorthand classes are
/// ASCII-only, while this regex engine's are Unicode-aware.
pub fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                let posix = match next {
                    'w' => Some("[:word:]"),
                    'W' => Some("[:^word:]"),
                    's' => Some("[:space:]"),
                    'S' => Some("[:^space:]"),
                    'd' => Some("[:digit:]"),
                    'D' => Some("[:^digit:]"),
                    _ => None,
                };
                match posix {
                    Some(p) if in_class => out.push_str(p),
                    Some(p) => {
                        out.push('[');
                        out.push_str(p);
                        out.push(']');
                    }
                    None => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A leading `^` or `]` belongs to the class syntax.
                let rest = chars.as_str();
                if let Some(stripped) = rest.strip_prefix('^') {
                    out.push('^');
                    chars = stripped.chars();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_has_describe_connector_shapes() {
        let m = Model::get();
        assert!(
            m.member_names("ConnectorConfiguration")
                .contains(&"registeredAt".to_string())
        );
        assert_eq!(m.enum_values("OAuth2GrantType").map(|v| v.len()), Some(3));
    }

    #[test]
    fn date_shape_has_no_timestamp_format_override() {
        let m = Model::get();
        let date = m.shape("Date").expect("Date shape");
        assert_eq!(date.get("type").and_then(Value::as_str), Some("timestamp"));
        assert!(date.get("timestampFormat").is_none());
    }

    #[test]
    fn validator_reports_problems() {
        let m = Model::get();
        let bad = json!({
            "connectorType": "Nope",
            "registeredAt": "2024-01-01",
            "authenticationConfig": {"isOAuth2Supported": "yes", "oAuth2Defaults": {"tokenUrls": ["not a url"]}},
            "connectorProvisioningConfig": {"lambda": {}},
            "whatever": 1
        });
        let problems = m.validate("ConnectorConfiguration", &bad);
        let joined = problems.join("\n");
        assert!(
            joined.contains("'Nope' is not a value of enum ConnectorType"),
            "{joined}"
        );
        assert!(
            joined.contains("$.registeredAt: expected epoch seconds"),
            "{joined}"
        );
        assert!(
            joined.contains("isOAuth2Supported: expected a boolean"),
            "{joined}"
        );
        assert!(joined.contains("does not match pattern"), "{joined}");
        assert!(
            joined.contains("missing required member 'lambdaArn'"),
            "{joined}"
        );
        assert!(joined.contains("unknown member 'whatever'"), "{joined}");
        assert_eq!(problems.len(), 6, "{joined}");
    }

    #[test]
    fn patterns_are_full_match() {
        let m = Model::get();
        assert!(m.validate("ConnectorLabel", &json!("ab")).is_empty());
        assert!(!m.validate("ConnectorLabel", &json!("a")).is_empty());
        assert!(!m.validate("ConnectorLabel", &json!("ab cd")).is_empty());
        assert!(!m.validate("ConnectorLabel", &json!("-ab")).is_empty());
        // Java's \w is ASCII-only.
        assert!(!m.validate("ConnectorLabel", &json!("a\u{e9}")).is_empty());
    }

    #[test]
    fn ascii_class_rewrite() {
        assert_eq!(
            ascii_classes(r"[a-zA-Z0-9][\w!@#.-]+"),
            "[a-zA-Z0-9][[:word:]!@#.-]+"
        );
        assert_eq!(ascii_classes(r"\S+"), "[[:^space:]]+");
        assert_eq!(ascii_classes(r"[^\s]\.x"), "[^[:space:]]\\.x");
    }
}
