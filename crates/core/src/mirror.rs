//! A faithful, serialisable mirror of AppFlow's `ConnectorConfiguration`, written into
//! `status.connectorConfiguration` with AWS's own field names.
//!
//! Enum values are kept as the strings AWS sent (`as_str()` keeps values the SDK does not
//! know yet), timestamps become RFC 3339 with the precision AWS sent. Nothing here knows the
//! SDK: `appflow::convert` builds these from its types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// DescribeConnector's `connectorConfiguration`: what the connector supports, with AWS's field names.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorConfiguration {
    pub can_use_as_source: bool,
    pub can_use_as_destination: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_destination_connectors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_scheduling_frequencies: Vec<String>,
    pub is_private_link_enabled: bool,
    pub is_private_link_endpoint_url_required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_trigger_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_metadata: Option<ConnectorMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_config: Option<AuthenticationConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_runtime_settings: Vec<ConnectorRuntimeSetting>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_api_versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_operators: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_write_operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_provisioning_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_provisioning_config: Option<ConnectorProvisioningConfig>,
    #[serde(rename = "logoURL", default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// When the connector was registered: RFC 3339 with the fraction of a second AWS sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<AwsTimestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_data_transfer_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_data_transfer_apis: Vec<DataTransferApi>,
}

/// Which authentication modes the connector supports, with OAuth2 defaults and custom auth types.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationConfig {
    pub is_basic_auth_supported: bool,
    pub is_api_key_auth_supported: bool,
    #[serde(rename = "isOAuth2Supported")]
    pub is_oauth2_supported: bool,
    pub is_custom_auth_supported: bool,
    #[serde(
        rename = "oAuth2Defaults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth2_defaults: Option<OAuth2Defaults>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_auth_configs: Vec<CustomAuthConfig>,
}

/// OAuth2 scopes, token and authorization URLs, and grant types the connector offers.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Defaults {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oauth_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_code_urls: Vec<String>,
    #[serde(
        rename = "oauth2GrantTypesSupported",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub oauth2_grant_types_supported: Vec<String>,
    #[serde(
        rename = "oauth2CustomProperties",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub oauth2_custom_properties: Vec<OAuth2CustomParameter>,
}

/// An extra parameter of the connector's OAuth2 flow.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2CustomParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub is_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub is_sensitive_field: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_supplied_values: Vec<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// A custom authentication type and the parameters it takes.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomAuthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_authentication_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_parameters: Vec<AuthParameter>,
}

/// Describes a credential field; the operator never sees credential values.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub is_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub is_sensitive_field: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_supplied_values: Vec<String>,
}

/// A setting a flow using this connector can or must give.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorRuntimeSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    pub is_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_supplied_value_options: Vec<String>,
}

/// How a custom connector is provisioned.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorProvisioningConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaConnectorProvisioningConfig>,
}

/// The Lambda function that implements a custom connector.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LambdaConnectorProvisioningConfig {
    pub lambda_arn: String,
}

/// An API the connector can use to transfer data.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct DataTransferApi {
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// Connector-specific metadata, keyed by AWS's member names. Members AWS added after this
/// operator was built are kept as sent.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ConnectorMetadata {
    #[serde(rename = "Amplitude", default, skip_serializing_if = "Option::is_none")]
    pub amplitude: Option<EmptyMetadata>,
    #[serde(rename = "Datadog", default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<EmptyMetadata>,
    #[serde(rename = "Dynatrace", default, skip_serializing_if = "Option::is_none")]
    pub dynatrace: Option<EmptyMetadata>,
    #[serde(
        rename = "GoogleAnalytics",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub google_analytics: Option<OAuthScopesMetadata>,
    #[serde(
        rename = "InforNexus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub infor_nexus: Option<EmptyMetadata>,
    #[serde(rename = "Marketo", default, skip_serializing_if = "Option::is_none")]
    pub marketo: Option<EmptyMetadata>,
    #[serde(rename = "Redshift", default, skip_serializing_if = "Option::is_none")]
    pub redshift: Option<EmptyMetadata>,
    #[serde(rename = "S3", default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<EmptyMetadata>,
    #[serde(
        rename = "Salesforce",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub salesforce: Option<SalesforceMetadata>,
    #[serde(
        rename = "ServiceNow",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_now: Option<EmptyMetadata>,
    #[serde(rename = "Singular", default, skip_serializing_if = "Option::is_none")]
    pub singular: Option<EmptyMetadata>,
    #[serde(rename = "Slack", default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<OAuthScopesMetadata>,
    #[serde(rename = "Snowflake", default, skip_serializing_if = "Option::is_none")]
    pub snowflake: Option<SnowflakeMetadata>,
    #[serde(
        rename = "Trendmicro",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trendmicro: Option<EmptyMetadata>,
    #[serde(rename = "Veeva", default, skip_serializing_if = "Option::is_none")]
    pub veeva: Option<EmptyMetadata>,
    #[serde(rename = "Zendesk", default, skip_serializing_if = "Option::is_none")]
    pub zendesk: Option<OAuthScopesMetadata>,
    #[serde(
        rename = "EventBridge",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_bridge: Option<EmptyMetadata>,
    #[serde(rename = "Upsolver", default, skip_serializing_if = "Option::is_none")]
    pub upsolver: Option<EmptyMetadata>,
    #[serde(
        rename = "CustomerProfiles",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_profiles: Option<EmptyMetadata>,
    #[serde(rename = "Honeycode", default, skip_serializing_if = "Option::is_none")]
    pub honeycode: Option<OAuthScopesMetadata>,
    #[serde(rename = "SAPOData", default, skip_serializing_if = "Option::is_none")]
    pub sapo_data: Option<EmptyMetadata>,
    #[serde(rename = "Pardot", default, skip_serializing_if = "Option::is_none")]
    pub pardot: Option<EmptyMetadata>,
    /// Members the SDK's model does not know yet, from the raw response.
    #[serde(flatten)]
    #[schemars(skip)]
    pub unmodelled: BTreeMap<String, serde_json::Value>,
}

/// A metadata member that AWS defines without fields.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct EmptyMetadata {}

/// Connector metadata that lists OAuth scopes.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct OAuthScopesMetadata {
    #[serde(rename = "oAuthScopes", default, skip_serializing_if = "Vec::is_empty")]
    pub oauth_scopes: Vec<String>,
}

/// Salesforce's metadata: OAuth scopes, data transfer APIs and OAuth2 grant types.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SalesforceMetadata {
    #[serde(rename = "oAuthScopes", default, skip_serializing_if = "Vec::is_empty")]
    pub oauth_scopes: Vec<String>,
    #[serde(
        rename = "dataTransferApis",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data_transfer_apis: Vec<String>,
    #[serde(
        rename = "oauth2GrantTypesSupported",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub oauth2_grant_types_supported: Vec<String>,
}

/// Snowflake's metadata: the regions it supports.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SnowflakeMetadata {
    #[serde(
        rename = "supportedRegions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supported_regions: Vec<String>,
}

impl ConnectorConfiguration {
    /// Adds the `connectorMetadata` members of the raw DescribeConnector response that the
    /// SDK dropped because its model predates them (a connector type AWS added since), so a
    /// new connector is mirrored rather than silently lost.
    pub fn keep_unmodelled_metadata(&mut self, raw_response: &[u8]) {
        let Ok(raw) = serde_json::from_slice::<serde_json::Value>(raw_response) else {
            return;
        };
        let Some(members) = raw["connectorConfiguration"]["connectorMetadata"].as_object() else {
            return;
        };
        let metadata = self
            .connector_metadata
            .get_or_insert_with(ConnectorMetadata::default);
        let modelled = serde_json::to_value(&*metadata).unwrap_or_default();
        for (name, value) in members {
            if modelled.get(name).is_none() {
                metadata.unmodelled.insert(name.clone(), value.clone());
            }
        }
        if *metadata == ConnectorMetadata::default() {
            self.connector_metadata = None;
        }
    }
}

/// A timestamp as RFC 3339 with exactly the fraction AWS sent (`2023-11-14T22:13:20.5Z`):
/// `metav1.Time` would cut it to whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AwsTimestamp(pub jiff::Timestamp);

impl JsonSchema for AwsTimestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AwsTimestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_the_fraction_aws_sent() {
        let half = AwsTimestamp(jiff::Timestamp::new(1_700_000_000, 500_000_000).unwrap());
        let json = serde_json::to_value(half).unwrap();
        assert_eq!(json, "2023-11-14T22:13:20.5Z");
        assert_eq!(serde_json::from_value::<AwsTimestamp>(json).unwrap(), half);
        let whole = AwsTimestamp(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        assert_eq!(serde_json::to_value(whole).unwrap(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn unmodelled_metadata_is_taken_from_the_raw_body_only_when_it_parses() {
        let mut plain = ConnectorConfiguration::default();
        plain.keep_unmodelled_metadata(b"not json");
        plain.keep_unmodelled_metadata(br#"{"connectorConfiguration": {}}"#);
        assert_eq!(plain, ConnectorConfiguration::default());
    }
}
