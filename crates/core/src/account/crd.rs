//! The `AppFlowAccount` custom resource: an admin-owned, cluster-scoped binding of namespaces
//! to the AWS identity their ConnectorInfos are described with.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::Condition;

/// IAM's role ARN, as STS's `RoleArn` accepts it for a role (any AWS partition).
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$";
/// STS's `ExternalId` pattern.
pub const EXTERNAL_ID_PATTERN: &str = r"^[A-Za-z0-9_+=,.@:/-]+$";
/// A region name such as `eu-west-1` (the same pattern as ConnectorInfo's `spec.region`).
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";
/// A namespace name (an RFC 1123 label).
pub const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

const IDENTITY_RULE: &str = "has(self.spec.roleArn) != (has(self.spec.useOperatorIdentity) && self.spec.useOperatorIdentity)";
const IDENTITY_MESSAGE: &str =
    "set exactly one of spec.roleArn (the IAM role to assume) and spec.useOperatorIdentity: true";
const NAMESPACES_RULE: &str = "has(self.spec.namespaces) || has(self.spec.namespaceSelector)";
const NAMESPACES_MESSAGE: &str =
    "name the bound namespaces: spec.namespaces, spec.namespaceSelector or both";
const ROLE_OPTIONS_RULE: &str = "has(self.spec.roleArn) || (!has(self.spec.externalId) && !has(self.spec.sessionDurationSeconds))";
const ROLE_OPTIONS_MESSAGE: &str =
    "spec.externalId and spec.sessionDurationSeconds apply only with spec.roleArn";
const VALUES_RULE: &str =
    "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)";
const VALUES_MESSAGE: &str =
    "values must be non-empty for In and NotIn, and absent for Exists and DoesNotExist";

/// Binds namespaces to the AWS identity their ConnectorInfos are described with: an IAM role the operator assumes (in the namespaces' own AWS account), or the operator's own identity. Owned by the platform team; tenants hold no RBAC on it.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "appflow.connectorinfo.dev",
    crates(kube_core = "::kube_core", kube = "::kube_derive"),
    // The schema derive the CRD derive adds needs to be told too (no `kube` facade here).
    attr = "x_kube(crates(kube_core = \"::kube_core\"))",
    version = "v1beta1",
    kind = "AppFlowAccount",
    shortname = "afaccount",
    category = "appflow",
    status = "AppFlowAccountStatus",
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.roleArn"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"integer","jsonPath":".status.namespaceCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube_core::cel::Rule::new(IDENTITY_RULE).message(IDENTITY_MESSAGE).field_path(".spec.roleArn"),
    validation = kube_core::cel::Rule::new(NAMESPACES_RULE).message(NAMESPACES_MESSAGE).field_path(".spec.namespaces"),
    validation = kube_core::cel::Rule::new(ROLE_OPTIONS_RULE).message(ROLE_OPTIONS_MESSAGE).field_path(".spec.roleArn")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppFlowAccountSpec {
    /// Namespaces bound by name (at most 256).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        extend("x-kubernetes-list-type" = "set"),
        length(max = 256),
        inner(length(min = 1, max = 63), regex(pattern = NAMESPACE_PATTERN))
    )]
    pub namespaces: Vec<String>,

    /// Namespaces bound by their labels, as a standard label selector (`matchLabels`,
    /// `matchExpressions`). An empty selector (`{}`) binds every namespace. A namespace named
    /// in `namespaces` or selected here is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,

    /// The IAM role the operator assumes (over its own credentials) to describe connectors for
    /// the bound namespaces, for example `arn:aws:iam::111122223333:role/appflow-observer`. Its
    /// trust policy must allow the operator's identity to call `sts:AssumeRole`. Exactly one of
    /// `roleArn` and `useOperatorIdentity` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048), regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// The external id the role's trust policy requires (`sts:ExternalId`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = EXTERNAL_ID_PATTERN))]
    pub external_id: Option<String>,

    /// How long each set of assumed credentials lasts, in seconds (900 to 43200; default
    /// 3600). The operator renews them before they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: Option<i32>,

    /// Describe the bound namespaces' connectors with the operator's own identity (its account)
    /// instead of a role: for installs that run with `--unmapped-namespaces=deny` and still
    /// serve some namespaces from the operator's account, or to restrict their regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_operator_identity: Option<bool>,

    /// The regions the bound namespaces' ConnectorInfos may describe in (at most 32); empty
    /// allows any region the operator allows. An object that names no region uses the
    /// operator's region, which must then be listed too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        extend("x-kubernetes-list-type" = "set"),
        length(max = 32),
        inner(length(max = 32), regex(pattern = REGION_PATTERN))
    )]
    pub regions: Vec<String>,
}

/// A label selector over namespaces, bounded so that admission stays cheap.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    /// Labels a namespace must carry, with these values (at most 32).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32), inner(length(max = 63)))]
    pub match_labels: BTreeMap<String, String>,

    /// Requirements a namespace's labels must all meet (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub match_expressions: Vec<NamespaceSelectorRequirement>,
}

/// One requirement of a label selector.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{"rule": VALUES_RULE, "message": VALUES_MESSAGE}]))]
pub struct NamespaceSelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: SelectorOperator,
    /// The values for `In` and `NotIn` (at most 64); absent for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub values: Vec<String>,
}

/// A label selector operator.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl From<&NamespaceSelector> for LabelSelector {
    fn from(selector: &NamespaceSelector) -> Self {
        LabelSelector {
            match_labels: Some(selector.match_labels.clone()).filter(|l| !l.is_empty()),
            match_expressions: Some(
                selector
                    .match_expressions
                    .iter()
                    .map(|e| LabelSelectorRequirement {
                        key: e.key.clone(),
                        operator: format!("{:?}", e.operator),
                        values: Some(e.values.clone()).filter(|v| !v.is_empty()),
                    })
                    .collect(),
            )
            .filter(|e: &Vec<_>| !e.is_empty()),
        }
    }
}

/// What the operator found for the binding.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppFlowAccountStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The AWS account the bound namespaces are described in (the role's account, or the
    /// operator's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,

    /// How many existing namespaces this binding matches (including those in conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_count: Option<i32>,

    /// Ready, RoleAssumed and Conflicted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::crd::conditions_schema")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::CustomResourceExt;
    use serde_json::{Value, json};

    fn schema() -> Value {
        let crd = AppFlowAccount::crd();
        serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap()
    }

    fn admit(spec: Value) -> Result<(), String> {
        let object = json!({
            "apiVersion": "appflow.connectorinfo.dev/v1beta1",
            "kind": "AppFlowAccount",
            "metadata": {"name": "team-a"},
            "spec": spec,
        });
        kube_core::cel::Validator::new()
            .validate(&schema(), &object, None)
            .map_err(|e| e.to_string())
    }

    const ROLE: &str = "arn:aws:iam::222222222222:role/appflow-observer";

    #[test]
    fn a_binding_names_exactly_one_identity_and_some_namespaces() {
        assert!(admit(json!({"namespaces": ["team-a"], "roleArn": ROLE})).is_ok());
        assert!(admit(json!({"namespaceSelector": {}, "useOperatorIdentity": true})).is_ok());
        let neither = admit(json!({"namespaces": ["team-a"]})).unwrap_err();
        assert!(neither.contains("exactly one of spec.roleArn"), "{neither}");
        let both =
            admit(json!({"namespaces": ["a"], "roleArn": ROLE, "useOperatorIdentity": true}))
                .unwrap_err();
        assert!(both.contains("exactly one of spec.roleArn"), "{both}");
        let nowhere = admit(json!({"roleArn": ROLE})).unwrap_err();
        assert!(nowhere.contains("name the bound namespaces"), "{nowhere}");
        let stray =
            admit(json!({"namespaces": ["a"], "useOperatorIdentity": true, "externalId": "xyz"}))
                .unwrap_err();
        assert!(stray.contains("apply only with spec.roleArn"), "{stray}");
    }

    #[test]
    fn selector_requirements_have_values_exactly_when_their_operator_needs_them() {
        let with = |expression: Value| {
            admit(json!({"roleArn": ROLE, "namespaceSelector": {"matchExpressions": [expression]}}))
        };
        assert!(with(json!({"key": "team", "operator": "In", "values": ["a"]})).is_ok());
        assert!(with(json!({"key": "team", "operator": "Exists"})).is_ok());
        for bad in [
            json!({"key": "team", "operator": "In"}),
            json!({"key": "team", "operator": "NotIn", "values": []}),
            json!({"key": "team", "operator": "Exists", "values": ["a"]}),
        ] {
            let err = with(bad.clone()).unwrap_err();
            assert!(
                err.contains("values must be non-empty for In and NotIn"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn patterns_follow_iam_and_sts() {
        let spec = &schema()["properties"]["spec"]["properties"];
        let matches = |field: &str, text: &str| {
            regex::Regex::new(spec[field]["pattern"].as_str().unwrap())
                .unwrap()
                .is_match(text)
        };
        for good in [
            ROLE,
            "arn:aws-us-gov:iam::123456789012:role/path/to/role",
            "arn:aws-cn:iam::123456789012:role/a+b=c,d.e@f-g",
        ] {
            assert!(matches("roleArn", good), "{good}");
        }
        for bad in [
            "arn:aws:iam::2222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:sts::222222222222:assumed-role/x/y",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/has space",
        ] {
            assert!(!matches("roleArn", bad), "{bad}");
        }
        assert!(matches("externalId", "team-a:prod/1"));
        assert!(!matches("externalId", "no spaces"));
        let region = &spec["regions"]["items"]["pattern"];
        assert_eq!(region, &json!(REGION_PATTERN));
        assert_eq!(spec["sessionDurationSeconds"]["minimum"], json!(900.0));
        assert_eq!(spec["sessionDurationSeconds"]["maximum"], json!(43200.0));
    }

    #[test]
    fn the_resource_is_cluster_scoped_and_documented() {
        let crd = AppFlowAccount::crd();
        assert_eq!(crd.spec.scope, "Cluster");
        let spec = &schema()["properties"]["spec"];
        for (name, property) in spec["properties"].as_object().unwrap() {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}"
            );
        }
        // Every admitted binding converts to a selector kube can match with.
        let selector = NamespaceSelector {
            match_labels: [("team".to_owned(), "a".to_owned())].into(),
            match_expressions: vec![NamespaceSelectorRequirement {
                key: "env".into(),
                operator: SelectorOperator::DoesNotExist,
                values: vec![],
            }],
        };
        let label_selector = LabelSelector::from(&selector);
        assert!(kube_core::Selector::try_from(label_selector).is_ok());
    }
}
