//! Pure: the API server's admission verdict for a ConnectorInfo, without an API server.
//!
//! The verdict comes from the CRD itself (`ConnectorInfo::crd()`, the schema the API server
//! enforces): its OpenAPI schema through a JSON Schema validator, its `x-kubernetes-validations`
//! CEL rules through kube's CEL evaluator, plus what the API server adds to any schema (strict
//! field validation as `kubectl` asks for it, `x-kubernetes-list-type: set`, object names).
//! No rule is written twice, so `check --offline` cannot drift from the cluster.

use std::sync::LazyLock;

use kube_core::CustomResourceExt;
use serde_json::Value;

use crate::crd::ConnectorInfo;

/// The API group and version this build speaks (it also admits the deprecated versions the
/// CRD still serves: [`crate::versions`]).
pub const API_VERSION: &str = "appflow.connectorinfo.dev/v1beta1";
const GROUP: &str = "appflow.connectorinfo.dev";
const KIND: &str = "ConnectorInfo";

/// One reason the API server would refuse the object, worded the way it words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, as the API server names it (`spec.requirements.authModes[1]`).
    pub field: String,
    pub message: String,
}

/// Every reason the API server would refuse the object (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Refused(pub Vec<FieldError>);

/// The deprecated `group/version`s still served, for messages.
fn deprecated_api_versions() -> String {
    let versions = crate::versions::DEPRECATED_VERSIONS.map(|v| format!("{GROUP}/{v}"));
    versions.join(", ")
}

/// Whether a document is a ConnectorInfo this build knows, of another version, or something
/// else (another kind or group: not ours to judge).
pub fn is_connector_info(object: &Value) -> bool {
    object["kind"] == KIND
        && object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.split('/').next() == Some(GROUP))
}

struct Admission {
    schema: Value,
    validator: jsonschema::Validator,
    cel: kube_core::cel::CompiledSchema,
}

static ADMISSION: LazyLock<Admission> = LazyLock::new(|| {
    let crd = ConnectorInfo::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(serde_json::to_value)
        .and_then(Result::ok)
        .expect("the derived CRD has an openAPIV3Schema");
    // OpenAPI v3.0 schemas are JSON Schema draft 4 plus vendor keywords, which validators
    // ignore; patterns are ECMA-262 (ASCII `\w`, `\d`), as in the API server's Go RE2.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&schema)
        .expect("the derived CRD schema compiles");
    let cel = kube_core::cel::compile_schema(&schema);
    Admission {
        schema,
        validator,
        cel,
    }
});

/// The API server's verdict on creating `object`: the decoded ConnectorInfo, or every reason
/// it would be refused.
pub fn admit(object: &Value) -> Result<ConnectorInfo, Refused> {
    let admission = &*ADMISSION;
    let mut errors = Vec::new();
    let version = object["apiVersion"].as_str().unwrap_or_default();
    if !crate::versions::is_served(version) {
        return Err(Refused(vec![FieldError {
            field: "apiVersion".into(),
            message: format!(
                "no matches for kind \"{KIND}\" in version \"{version}\" (this build serves {API_VERSION} and, deprecated, {})",
                deprecated_api_versions()
            ),
        }]));
    }
    // The schema does not constrain `kind`; the API server serves only this one here.
    if object["kind"] != KIND {
        let kind = object["kind"].as_str().unwrap_or_default();
        return Err(Refused(vec![FieldError {
            field: "kind".into(),
            message: format!(
                "no matches for kind \"{kind}\" in version \"{version}\" (this build serves {KIND})"
            ),
        }]));
    }
    metadata_errors(&object["metadata"], &mut errors);
    unknown_fields(&admission.schema, object, "", &mut errors);
    errors.extend(admission.validator.iter_errors(object).map(schema_error));
    duplicates_in_sets(&admission.schema, object, "", &mut errors);
    // CEL rules assume the types the schema promises, so the API server's order is kept:
    // a schema error is reported alone, rules run on well-formed objects.
    if errors.is_empty()
        && let Err(failures) =
            kube_core::cel::Validator::new().validate_compiled(&admission.cel, object, None)
    {
        errors.extend(failures.iter().map(|f| FieldError {
            field: display_path(f.field_path.trim_start_matches('.')),
            message: format!("Invalid value: {}", f.message),
        }));
    }
    if !errors.is_empty() {
        return Err(Refused(errors));
    }
    serde_json::from_value(object.clone()).map_err(|e| {
        Refused(vec![FieldError {
            field: "spec".into(),
            message: format!("Invalid value: {e}"),
        }])
    })
}

/// `metadata.name` and `metadata.namespace`, as the API server checks any namespaced object.
fn metadata_errors(metadata: &Value, errors: &mut Vec<FieldError>) {
    match metadata["name"].as_str() {
        None | Some("") if metadata["generateName"].as_str().is_some_and(|g| !g.is_empty()) => {}
        None | Some("") => errors.push(FieldError {
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        }),
        Some(name) if !is_dns1123_subdomain(name) => errors.push(FieldError {
            field: "metadata.name".into(),
            message: format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        }),
        Some(_) => {}
    }
    if let Some(namespace) = metadata["namespace"].as_str()
        && !is_dns1123_label(namespace)
    {
        errors.push(FieldError {
            field: "metadata.namespace".into(),
            message: format!(
                "Invalid value: {namespace:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
            ),
        });
    }
}

fn is_dns1123_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns1123_label)
}

const OBJECT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Fields the schema does not declare: with `kubectl`'s default strict field validation the
/// API server refuses them (`unknown field "spec.bogus"`) rather than dropping them.
fn unknown_fields(schema: &Value, object: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    match (object, schema["properties"].as_object()) {
        (Value::Object(members), Some(properties)) => {
            for (name, value) in members {
                let field = join(path, name);
                // Every object has these; the CRD schema leaves them to the API server.
                let implicit = path.is_empty() && OBJECT_FIELDS.contains(&name.as_str());
                match properties.get(name) {
                    Some(property) => unknown_fields(property, value, &field, errors),
                    None if implicit => {}
                    None => errors.push(FieldError {
                        field: field.clone(),
                        message: format!("unknown field \"{field}\""),
                    }),
                }
            }
        }
        (Value::Array(items), _) => {
            for (index, item) in items.iter().enumerate() {
                unknown_fields(&schema["items"], item, &format!("{path}[{index}]"), errors);
            }
        }
        _ => {}
    }
}

/// Lists marked `x-kubernetes-list-type: set` must not repeat a value.
fn duplicates_in_sets(schema: &Value, object: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match object {
        Value::Object(members) => {
            for (name, value) in members {
                let property = &schema["properties"][name];
                if !property.is_null() {
                    duplicates_in_sets(property, value, &join(path, name), errors);
                }
            }
        }
        Value::Array(items) if schema["x-kubernetes-list-type"] == "set" => {
            for (index, item) in items.iter().enumerate() {
                if items[..index].contains(item) {
                    errors.push(FieldError {
                        field: format!("{path}[{index}]"),
                        message: format!("Duplicate value: {item}"),
                    });
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// `/spec/requirements/authModes/1` -> `spec.requirements.authModes[1]`.
fn display_path(pointer: &str) -> String {
    let mut shown = String::new();
    for segment in pointer.split(['/', '.']).filter(|s| !s.is_empty()) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            shown.push_str(&format!("[{segment}]"));
        } else {
            if !shown.is_empty() {
                shown.push('.');
            }
            shown.push_str(segment);
        }
    }
    shown
}

/// A JSON Schema failure in the API server's words (k8s.io/apimachinery field errors).
fn schema_error(error: jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as Kind;
    let field = display_path(&error.instance_path().to_string());
    let instance = error.instance().clone().into_owned();
    let message = match error.kind() {
        Kind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            return FieldError {
                field: join(&field, name),
                message: "Required value".into(),
            };
        }
        Kind::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            format!(
                "Unsupported value: {instance}: supported values: {}",
                supported.join(", ")
            )
        }
        Kind::Pattern { pattern } => {
            format!("Invalid value: {instance}: {field} in body should match '{pattern}'")
        }
        Kind::MinLength { limit } => format!(
            "Invalid value: {instance}: {field} in body should be at least {limit} chars long"
        ),
        Kind::MaxLength { limit } => format!("Too long: may not be more than {limit} bytes"),
        Kind::MaxItems { limit } => {
            let count = instance.as_array().map_or(0, Vec::len);
            format!("Too many: {count}: must have at most {limit} items")
        }
        Kind::Type { kind } => {
            let actual = json_type(&instance);
            format!(
                "Invalid value: \"{actual}\": {field} in body must be of type {}: \"{actual}\"",
                type_names(kind)
            )
        }
        _ => format!("Invalid value: {instance}: {error}"),
    };
    FieldError { field, message }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_names(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(spec: Value) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": "ConnectorInfo",
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": spec,
        })
    }

    fn refused(spec: Value) -> Vec<String> {
        match admit(&object(spec)) {
            Ok(_) => Vec::new(),
            Err(Refused(errors)) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_object_decodes() {
        let admitted = admit(&object(json!({
            "connectorType": "CustomConnector",
            "connectorLabel": "acme-crm",
            "region": "eu-west-1",
            "refreshInterval": "1h30m",
            "requirements": {"authModes": ["OAuth2"], "usableAs": ["Source"]},
        })))
        .unwrap();
        assert_eq!(admitted.spec.connector_label.as_deref(), Some("acme-crm"));
    }

    #[test]
    fn each_kind_of_refusal_names_its_field() {
        let cases = [
            (json!({}), "spec.connectorType: Required value"),
            (
                json!({"connectorType": "Salesforc"}),
                "spec.connectorType: Unsupported value: \"Salesforc\": supported values: \"Salesforce\"",
            ),
            (
                json!({"connectorType": "Slack", "connectorLabel": "-bad"}),
                "spec.connectorLabel: Invalid value: \"-bad\": spec.connectorLabel in body should match",
            ),
            (
                json!({"connectorType": "Slack", "connectorLabel": "a"}),
                "should be at least 2 chars long",
            ),
            (
                json!({"connectorType": "Slack", "connectorLabel": "a".repeat(257)}),
                "spec.connectorLabel: Too long: may not be more than 256 bytes",
            ),
            (
                json!({"connectorType": "Slack", "region": 5}),
                "spec.region: Invalid value: \"integer\": spec.region in body must be of type string",
            ),
            (
                json!({"connectorType": "Slack", "bogus": true}),
                "spec.bogus: unknown field \"spec.bogus\"",
            ),
            (
                json!({"connectorType": "Slack", "requirements": {"authModes": ["OAuth2", "OAuth2"]}}),
                "spec.requirements.authModes[1]: Duplicate value: \"OAuth2\"",
            ),
            (
                json!({"connectorType": "Slack", "requirements": {"authModes": ["Basic", "ApiKey", "OAuth2", "Custom", "Basic"]}}),
                "spec.requirements.authModes: Too many: 5: must have at most 4 items",
            ),
            (
                json!({"connectorType": "CustomConnector"}),
                "spec.connectorLabel: Invalid value: spec.connectorLabel is required when spec.connectorType is CustomConnector",
            ),
            (
                json!({"connectorType": "Slack", "refreshInterval": "30s"}),
                "spec.refreshInterval: Invalid value: refreshInterval must be 0s",
            ),
        ];
        for (spec, expected) in cases {
            let errors = refused(spec.clone());
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(expected) || e.contains(expected)),
                "{spec}: {errors:?} lacks {expected:?}"
            );
        }
    }

    /// Go's RE2 `\w` is ASCII, and so is the offline validator's.
    #[test]
    fn label_pattern_is_ascii_like_the_api_server() {
        assert!(!refused(json!({"connectorType": "Slack", "connectorLabel": "acmé"})).is_empty());
        assert!(
            refused(json!({"connectorType": "Slack", "connectorLabel": "acme_crm!@#.x"}))
                .is_empty()
        );
    }

    #[test]
    fn names_and_versions_are_checked() {
        let mut bad_name = object(json!({"connectorType": "Slack"}));
        bad_name["metadata"]["name"] = json!("Bad_Name");
        let errors = admit(&bad_name).unwrap_err().to_string();
        assert!(
            errors.starts_with("metadata.name: Invalid value: \"Bad_Name\""),
            "{errors}"
        );

        let mut nameless = object(json!({"connectorType": "Slack"}));
        nameless["metadata"] = json!({});
        assert!(
            admit(&nameless)
                .unwrap_err()
                .to_string()
                .contains("Required value")
        );

        let mut other_version = object(json!({"connectorType": "Slack"}));
        other_version["apiVersion"] = json!("appflow.connectorinfo.dev/v9");
        assert!(is_connector_info(&other_version));
        assert!(
            admit(&other_version)
                .unwrap_err()
                .to_string()
                .contains("no matches for kind")
        );

        // The deprecated version the CRD still serves is admitted as the new one.
        let mut deprecated = object(json!({"connectorType": "Slack"}));
        deprecated["apiVersion"] = json!("appflow.connectorinfo.dev/v1alpha1");
        assert!(admit(&deprecated).is_ok());
    }

    #[test]
    fn other_kinds_are_not_ours() {
        assert!(!is_connector_info(
            &json!({"apiVersion": "v1", "kind": "ConfigMap"})
        ));
        assert!(!is_connector_info(
            &json!({"apiVersion": "example.com/v1", "kind": "ConnectorInfo"})
        ));
    }

    /// Found by the `admission` fuzz target (fuzz/corpus/admission/regression-kind-misspelt.json):
    /// the schema leaves `kind` free, so a misspelt kind in our group was admitted as a
    /// ConnectorInfo.
    #[test]
    fn another_kind_in_our_version_is_refused() {
        for kind in [json!("ConnotercInfo"), json!(null), json!(7)] {
            let mut other = object(json!({"connectorType": "Slack"}));
            other["kind"] = kind.clone();
            let refused = admit(&other).unwrap_err();
            assert_eq!(refused.0.len(), 1, "{kind}: {refused}");
            assert_eq!(refused.0[0].field, "kind");
            assert!(
                refused.0[0].message.starts_with("no matches for kind"),
                "{kind}: {refused}"
            );
        }
        assert!(admit(&object(json!({"connectorType": "Slack"}))).is_ok());
    }

    #[test]
    fn paths_read_like_the_api_servers() {
        assert_eq!(
            display_path("/spec/requirements/authModes/1"),
            "spec.requirements.authModes[1]"
        );
        assert_eq!(display_path(".spec.connectorLabel"), "spec.connectorLabel");
    }
}
