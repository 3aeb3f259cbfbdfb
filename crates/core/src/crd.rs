//! The `ConnectorInfo` custom resource: spec, status and CRD generation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::intern::{self, SharedStr};
use crate::interval::RefreshInterval;
use crate::mirror::ConnectorConfiguration;

/// AppFlow's `ConnectorLabel` pattern, anchored as the CRD states it.
pub const LABEL_PATTERN: &str = r"^[a-zA-Z0-9][\w!@#.-]+$";
/// AppFlow's `ConnectorLabel` maximum length.
pub const LABEL_MAX_LENGTH: u32 = 256;
/// The CRD's CEL rule: a custom connector must name its label.
pub const LABEL_REQUIRED_RULE: &str =
    "self.spec.connectorType != 'CustomConnector' || has(self.spec.connectorLabel)";
pub const LABEL_REQUIRED_MESSAGE: &str = "spec.connectorLabel is required when spec.connectorType is CustomConnector: name the custom connector's label as registered in AppFlow";

/// Annotation whose every new value forces a fresh DescribeConnector.
pub const REFRESH_ANNOTATION: &str = "appflow.connectorinfo.dev/refresh";

/// Observes one Amazon AppFlow connector: the operator calls DescribeConnector for it and mirrors the answer into `status`. Nothing is created in AWS.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "appflow.connectorinfo.dev",
    crates(kube_core = "::kube_core", kube = "::kube_derive"),
    // The schema derive the CRD derive adds needs to be told too (no `kube` facade here).
    attr = "x_kube(crates(kube_core = \"::kube_core\"))",
    version = "v1beta1",
    kind = "ConnectorInfo",
    namespaced,
    shortname = "conninfo",
    category = "appflow",
    status = "ConnectorInfoStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.connectorType"}"#,
    printcolumn = r#"{"name":"Label","type":"string","jsonPath":".spec.connectorLabel"}"#,
    printcolumn = r#"{"name":"Auth","type":"string","jsonPath":".status.authModesSummary"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Last Synced","type":"date","priority":1,"jsonPath":".status.lastSyncedTime"}"#,
    printcolumn = r#"{"name":"Last Changed","type":"date","priority":1,"jsonPath":".status.lastChangedTime"}"#,
    printcolumn = r#"{"name":"Account","type":"string","priority":1,"jsonPath":".status.accountId"}"#,
    validation = kube_core::cel::Rule::new(LABEL_REQUIRED_RULE)
        .message(LABEL_REQUIRED_MESSAGE)
        .field_path(".spec.connectorLabel")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectorInfoSpec {
    /// The AppFlow connector type, spelled exactly as AWS spells it (for example `Salesforce`,
    /// `Slack`, `CustomConnector`).
    pub connector_type: ConnectorType,

    /// The label of a custom connector as registered in AppFlow. Required when `connectorType`
    /// is `CustomConnector`; ignored by AWS for AWS-vended connector types. At most 256
    /// characters matching `[a-zA-Z0-9][\w!@#.-]+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = LABEL_MAX_LENGTH),
        regex(pattern = LABEL_PATTERN)
    )]
    pub connector_label: Option<String>,

    /// The AWS region to describe the connector in, for example `eu-west-1`. Defaults to the
    /// operator's region (`--region` or the AWS configuration chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"), length(max = 32))]
    pub region: Option<String>,

    /// How often to describe the connector again, as a duration such as `30m`, `1h` or
    /// `1h30m`: `0s` (describe only when the spec or the refresh annotation changes) or between
    /// `1m` and `720h` (30 days). Defaults to the operator's `--default-refresh-interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<RefreshInterval>,

    /// What this team needs from the connector. Every item listed must be supported for the
    /// `RequirementsMet` and `Ready` conditions to be True.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Requirements>,
}

/// Capabilities a connector must offer; an empty or absent list requires nothing.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirements {
    /// Authentication modes that must all be supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 4))]
    pub auth_modes: Vec<AuthMode>,

    /// OAuth2 grant types that must all be supported (from the connector's OAuth2 defaults or,
    /// for Salesforce, its metadata).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 3))]
    pub oauth2_grant_types: Vec<OAuth2GrantType>,

    /// Custom authentication types (the connector's `customAuthenticationType` values) that
    /// must all be offered. At most 16, each at most 256 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 16), inner(length(min = 1, max = 256), regex(pattern = r"^\S+$")))]
    pub custom_auth_types: Vec<String>,

    /// Roles the connector must be usable in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 2))]
    pub usable_as: Vec<Usage>,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
        #[schemars(extend("maxLength" = 32))]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order AWS lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as AWS (and the CRD) spells it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("'{s}' is not one of {}", all.join(", "))
                })
            }
        }
    };
}

string_enum! {
    /// AppFlow's `ConnectorType`, exactly as the service model lists it.
    #[allow(non_camel_case_types)]
    ConnectorType {
        Salesforce, Singular, Slack, Redshift, S3, Marketo, Googleanalytics, Zendesk,
        Servicenow, Datadog, Trendmicro, Snowflake, Dynatrace, Infornexus, Amplitude, Veeva,
        EventBridge, LookoutMetrics, Upsolver, Honeycode, CustomerProfiles, SAPOData,
        CustomConnector, Pardot,
    }
}

string_enum! {
    /// An authentication mode a connector can support.
    AuthMode { Basic, ApiKey, OAuth2, Custom }
}

string_enum! {
    /// AppFlow's `OAuth2GrantType`.
    #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
    OAuth2GrantType { CLIENT_CREDENTIALS, AUTHORIZATION_CODE, JWT_BEARER }
}

string_enum! {
    /// A role a connector plays in a flow.
    Usage { Source, Destination }
}

/// What the operator last observed. `connectorConfiguration` is kept across failures.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorInfoStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When DescribeConnector last succeeded with a new configuration or after a refresh
    /// interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_time: Option<Time>,

    /// When the mirrored configuration last changed (first mirrored, or a describe returned a
    /// different one); `lastSyncedTime` moves on every meaningful sync, this only on change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed_time: Option<Time>,

    /// A stable digest of `connectorConfiguration` (`sha256:` of its JSON with members sorted),
    /// to compare configurations without comparing them field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_digest: Option<SharedStr>,

    /// The value of the `appflow.connectorinfo.dev/refresh` annotation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_refresh: Option<SharedStr>,

    /// The AWS account whose DescribeConnector answer `connectorConfiguration` mirrors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<SharedStr>,

    /// The AppFlowAccount binding whose identity described the connector; absent when the
    /// operator's own identity did for an unbound namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_binding: Option<SharedStr>,

    /// Authentication modes the connector supports, summarised from the configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_modes: Vec<AuthMode>,

    /// `authModes` for display (`OAuth2,Custom`): the AUTH column of `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_modes_summary: Option<SharedStr>,

    /// The last good answer of DescribeConnector, with AWS's own field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // An Arc: the controller's cache keeps one copy per distinct configuration for all the
    // objects that mirror it (see `trim::trim_for_cache` in conninfo-runtime).
    pub connector_configuration: Option<std::sync::Arc<ConnectorConfiguration>>,

    /// Ready, Synced, RequirementsMet, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// `metav1.Condition` list keyed by `type`, as Kubernetes API conventions ask.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}

impl ConnectorInfoStatus {
    /// Makes its strings the shared copies (see [`intern`]): the controller's cache calls this
    /// as an object enters it.
    pub fn share_strings(&mut self) {
        for text in [
            &mut self.configuration_digest,
            &mut self.last_handled_refresh,
            &mut self.account_id,
            &mut self.account_binding,
            &mut self.auth_modes_summary,
        ] {
            intern::share_opt(text);
        }
        for condition in &mut self.conditions {
            condition.share();
        }
    }
}

impl ConnectorInfo {
    /// The refresh annotation's value, if any. The controller's cache keeps a request already
    /// handled as an empty annotation map, which costs nothing, where the annotation costs a
    /// whole B-tree node per object (`trim_for_cache`): its value is then the one status says
    /// was handled. The API server never sends an empty map: it omits it.
    pub fn refresh_request(&self) -> Option<&str> {
        let annotations = self.metadata.annotations.as_ref()?;
        match annotations.get(REFRESH_ANNOTATION) {
            Some(request) => Some(request),
            None if annotations.is_empty() => self.status.as_ref()?.last_handled_refresh.as_deref(),
            None => None,
        }
    }
}

/// The ConnectorInfo CRD as YAML, every served version, exactly as
/// `appflow-connector-operator crd connectorinfos` prints it.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&crate::versions::connector_info_crd())
}

/// The AppFlowAccount CRD as YAML (`crd appflowaccounts`).
pub fn account_crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&crate::versions::account_crd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::CustomResourceExt;
    use serde_json::{Value, json};

    fn schema() -> Value {
        let crd = ConnectorInfo::crd();
        let version = &crd.spec.versions[0];
        serde_json::to_value(
            version
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap()
    }

    fn service_model() -> Value {
        let text = include_str!("../../../emulator/model/appflow-2020-08-23.service-2.json");
        serde_json::from_str(text).unwrap()
    }

    fn cel_check(spec: Value) -> Result<(), String> {
        let object = json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "ConnectorInfo",
            "metadata": {"name": "x", "namespace": "default"},
            "spec": spec,
        });
        kube_core::cel::Validator::new()
            .validate(&schema(), &object, None)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn connector_type_enum_is_exactly_aws_enum() {
        let model = service_model();
        let aws: Vec<&str> = model["shapes"]["ConnectorType"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = ConnectorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(ours, aws);
        assert_eq!(ours.len(), 24);
        let schema = schema();
        let in_schema: Vec<&str> =
            schema["properties"]["spec"]["properties"]["connectorType"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
        assert_eq!(in_schema, aws);
    }

    #[test]
    fn grant_type_enum_matches_aws() {
        let model = service_model();
        let aws: Vec<&str> = model["shapes"]["OAuth2GrantType"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = OAuth2GrantType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(ours, aws);
    }

    #[test]
    fn label_constraints_follow_aws_model() {
        let model = service_model();
        let label = &model["shapes"]["ConnectorLabel"];
        let spec = schema()["properties"]["spec"]["properties"]["connectorLabel"].clone();
        assert_eq!(spec["maxLength"], label["max"]);
        assert_eq!(
            spec["pattern"],
            json!(format!("^{}$", label["pattern"].as_str().unwrap()))
        );
        let pattern = regex::Regex::new(spec["pattern"].as_str().unwrap()).unwrap();
        for good in ["acme-crm", "a1", "Z_9!@#.-x"] {
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in ["-acme", "a", "acme crm", "acme/crm", ""] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn cel_requires_label_for_custom_connectors_only() {
        assert!(cel_check(json!({"connectorType": "Salesforce"})).is_ok());
        assert!(
            cel_check(json!({"connectorType": "CustomConnector", "connectorLabel": "acme"}))
                .is_ok()
        );
        let err = cel_check(json!({"connectorType": "CustomConnector"})).unwrap_err();
        assert!(err.contains("connectorLabel is required"), "{err}");
    }

    #[test]
    fn schema_is_documented_and_closed() {
        let spec = &schema()["properties"]["spec"];
        for (name, prop) in spec["properties"].as_object().unwrap() {
            assert!(
                prop["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}"
            );
        }
        assert_eq!(spec["required"], json!(["connectorType"]));
    }

    #[test]
    fn refresh_interval_decodes_any_string() {
        let spec: ConnectorInfoSpec =
            serde_json::from_value(json!({"connectorType": "Slack", "refreshInterval": "1h30m"}))
                .unwrap();
        assert_eq!(spec.refresh_interval.unwrap().as_str(), "1h30m");
        // Stored before the bounds existed: still decodes, so one object cannot break the
        // watch for every other.
        let absurd: ConnectorInfoSpec = serde_json::from_value(
            json!({"connectorType": "Slack", "refreshInterval": "99999999999999999999h"}),
        )
        .unwrap();
        assert!(absurd.refresh_interval.is_some());
        assert!(
            serde_json::from_value::<ConnectorInfoSpec>(
                json!({"connectorType": "Slack", "bogus": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn refresh_interval_bounds_at_admission() {
        let with = |interval: &str| {
            cel_check(json!({"connectorType": "Slack", "refreshInterval": interval}))
        };
        for good in ["0s", "1m", "1h", "1h30m", "720h"] {
            assert!(with(good).is_ok(), "{good}: {:?}", with(good));
        }
        // Text the pattern refuses is left to the pattern: the rule itself must not fail at
        // run time (the API server does not ratchet CEL errors on stored objects).
        for unparseable in ["99999999999999999999h", "soon"] {
            assert!(
                with(unparseable).is_ok(),
                "{unparseable}: {:?}",
                with(unparseable)
            );
        }
        for bad in ["1ms", "59s", "721h", "1000h"] {
            let err = with(bad).unwrap_err();
            assert!(err.contains("between 1m and 720h"), "{bad}: {err}");
        }
    }

    /// Every string in the spec is bounded (maxLength or an enum) and every list has
    /// maxItems, so no admitted object is unboundedly large or costly to validate.
    #[test]
    fn every_spec_string_and_list_is_bounded() {
        fn walk(path: &str, schema: &Value, unbounded: &mut Vec<String>) {
            match schema["type"].as_str() {
                Some("string") if schema.get("maxLength").is_none() => {
                    unbounded.push(format!("{path}: string without maxLength"))
                }
                Some("array") => {
                    if schema.get("maxItems").is_none() {
                        unbounded.push(format!("{path}: list without maxItems"));
                    }
                    walk(&format!("{path}[]"), &schema["items"], unbounded);
                }
                _ => {}
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    walk(&format!("{path}.{name}"), property, unbounded);
                }
            }
        }
        let mut unbounded = Vec::new();
        walk("spec", &schema()["properties"]["spec"], &mut unbounded);
        assert!(unbounded.is_empty(), "{unbounded:#?}");
    }

    #[test]
    fn checked_in_crd_matches_generated() {
        let generated = crd_yaml().unwrap();
        let on_disk = include_str!("../../../crds/connectorinfos.appflow.connectorinfo.dev.yaml");
        assert!(generated == on_disk, "crds/ is stale: run `make crd`");
        let generated = account_crd_yaml().unwrap();
        let on_disk = include_str!("../../../crds/appflowaccounts.appflow.connectorinfo.dev.yaml");
        assert!(generated == on_disk, "crds/ is stale: run `make crd`");
    }
}
