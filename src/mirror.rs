//! A faithful, serialisable mirror of AppFlow's `ConnectorConfiguration`, written into
//! `status.connectorConfiguration` with AWS's own field names.
//!
//! Enum values are kept as the strings AWS sent (`as_str()` keeps values the SDK does not
//! know yet), timestamps become RFC 3339.

use std::collections::BTreeMap;

use aws_sdk_appflow::types as aws;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<Time>,
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

// ---- conversion from the SDK's types -------------------------------------------------------

/// Strings of an optional SDK list, enum values kept as AWS spelled them.
fn strings<T: AsRef<str>>(list: Option<&[T]>) -> Vec<String> {
    list.unwrap_or_default()
        .iter()
        .map(|v| v.as_ref().to_owned())
        .collect()
}

fn enum_strings<T, F: Fn(&T) -> &str>(list: Option<&[T]>, as_str: F) -> Vec<String> {
    list.unwrap_or_default()
        .iter()
        .map(|v| as_str(v).to_owned())
        .collect()
}

fn rfc3339(time: &aws_smithy_types::DateTime) -> Option<Time> {
    let timestamp = jiff::Timestamp::new(time.secs(), time.subsec_nanos() as i32).ok()?;
    Some(Time(timestamp))
}

impl From<&aws::ConnectorConfiguration> for ConnectorConfiguration {
    fn from(c: &aws::ConnectorConfiguration) -> Self {
        Self {
            can_use_as_source: c.can_use_as_source(),
            can_use_as_destination: c.can_use_as_destination(),
            supported_destination_connectors: enum_strings(
                c.supported_destination_connectors.as_deref(),
                aws::ConnectorType::as_str,
            ),
            supported_scheduling_frequencies: enum_strings(
                c.supported_scheduling_frequencies.as_deref(),
                aws::ScheduleFrequencyType::as_str,
            ),
            is_private_link_enabled: c.is_private_link_enabled(),
            is_private_link_endpoint_url_required: c.is_private_link_endpoint_url_required(),
            supported_trigger_types: enum_strings(
                c.supported_trigger_types.as_deref(),
                aws::TriggerType::as_str,
            ),
            connector_metadata: c.connector_metadata().map(ConnectorMetadata::from),
            connector_type: c.connector_type().map(|t| t.as_str().to_owned()),
            connector_label: c.connector_label().map(str::to_owned),
            connector_description: c.connector_description().map(str::to_owned),
            connector_owner: c.connector_owner().map(str::to_owned),
            connector_name: c.connector_name().map(str::to_owned),
            connector_version: c.connector_version().map(str::to_owned),
            connector_arn: c.connector_arn().map(str::to_owned),
            connector_modes: strings(c.connector_modes.as_deref()),
            authentication_config: c.authentication_config().map(AuthenticationConfig::from),
            connector_runtime_settings: c
                .connector_runtime_settings()
                .iter()
                .map(ConnectorRuntimeSetting::from)
                .collect(),
            supported_api_versions: strings(c.supported_api_versions.as_deref()),
            supported_operators: enum_strings(
                c.supported_operators.as_deref(),
                aws::Operators::as_str,
            ),
            supported_write_operations: enum_strings(
                c.supported_write_operations.as_deref(),
                aws::WriteOperationType::as_str,
            ),
            connector_provisioning_type: c
                .connector_provisioning_type()
                .map(|t| t.as_str().to_owned()),
            connector_provisioning_config: c.connector_provisioning_config().map(|p| {
                ConnectorProvisioningConfig {
                    lambda: p.lambda().map(|l| LambdaConnectorProvisioningConfig {
                        lambda_arn: l.lambda_arn().to_owned(),
                    }),
                }
            }),
            logo_url: c.logo_url().map(str::to_owned),
            registered_at: c.registered_at().and_then(rfc3339),
            registered_by: c.registered_by().map(str::to_owned),
            supported_data_transfer_types: enum_strings(
                c.supported_data_transfer_types.as_deref(),
                aws::SupportedDataTransferType::as_str,
            ),
            supported_data_transfer_apis: c
                .supported_data_transfer_apis()
                .iter()
                .map(|a| DataTransferApi {
                    name: a.name().map(str::to_owned),
                    r#type: a.r#type().map(|t| t.as_str().to_owned()),
                })
                .collect(),
        }
    }
}

impl From<&aws::AuthenticationConfig> for AuthenticationConfig {
    fn from(a: &aws::AuthenticationConfig) -> Self {
        Self {
            is_basic_auth_supported: a.is_basic_auth_supported(),
            is_api_key_auth_supported: a.is_api_key_auth_supported(),
            is_oauth2_supported: a.is_o_auth2_supported(),
            is_custom_auth_supported: a.is_custom_auth_supported(),
            oauth2_defaults: a.o_auth2_defaults().map(|d| OAuth2Defaults {
                oauth_scopes: strings(d.oauth_scopes.as_deref()),
                token_urls: strings(d.token_urls.as_deref()),
                auth_code_urls: strings(d.auth_code_urls.as_deref()),
                oauth2_grant_types_supported: enum_strings(
                    d.oauth2_grant_types_supported.as_deref(),
                    aws::OAuth2GrantType::as_str,
                ),
                oauth2_custom_properties: d
                    .oauth2_custom_properties()
                    .iter()
                    .map(|p| OAuth2CustomParameter {
                        key: p.key().map(str::to_owned),
                        is_required: p.is_required(),
                        label: p.label().map(str::to_owned),
                        description: p.description().map(str::to_owned),
                        is_sensitive_field: p.is_sensitive_field(),
                        connector_supplied_values: strings(p.connector_supplied_values.as_deref()),
                        r#type: p.r#type().map(|t| t.as_str().to_owned()),
                    })
                    .collect(),
            }),
            custom_auth_configs: a
                .custom_auth_configs()
                .iter()
                .map(|c| CustomAuthConfig {
                    custom_authentication_type: c.custom_authentication_type().map(str::to_owned),
                    auth_parameters: c
                        .auth_parameters()
                        .iter()
                        .map(|p| AuthParameter {
                            key: p.key().map(str::to_owned),
                            is_required: p.is_required(),
                            label: p.label().map(str::to_owned),
                            description: p.description().map(str::to_owned),
                            is_sensitive_field: p.is_sensitive_field(),
                            connector_supplied_values: strings(
                                p.connector_supplied_values.as_deref(),
                            ),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl From<&aws::ConnectorRuntimeSetting> for ConnectorRuntimeSetting {
    fn from(s: &aws::ConnectorRuntimeSetting) -> Self {
        Self {
            key: s.key().map(str::to_owned),
            data_type: s.data_type().map(str::to_owned),
            is_required: s.is_required(),
            label: s.label().map(str::to_owned),
            description: s.description().map(str::to_owned),
            scope: s.scope().map(str::to_owned),
            connector_supplied_value_options: strings(
                s.connector_supplied_value_options.as_deref(),
            ),
        }
    }
}

fn scopes(list: Option<&Vec<String>>) -> OAuthScopesMetadata {
    OAuthScopesMetadata {
        oauth_scopes: strings(list.map(Vec::as_slice)),
    }
}

impl From<&aws::ConnectorMetadata> for ConnectorMetadata {
    fn from(m: &aws::ConnectorMetadata) -> Self {
        let empty = |present: bool| present.then(EmptyMetadata::default);
        Self {
            amplitude: empty(m.amplitude.is_some()),
            datadog: empty(m.datadog.is_some()),
            dynatrace: empty(m.dynatrace.is_some()),
            google_analytics: m
                .google_analytics
                .as_ref()
                .map(|g| scopes(g.o_auth_scopes.as_ref())),
            infor_nexus: empty(m.infor_nexus.is_some()),
            marketo: empty(m.marketo.is_some()),
            redshift: empty(m.redshift.is_some()),
            s3: empty(m.s3.is_some()),
            salesforce: m.salesforce.as_ref().map(|s| SalesforceMetadata {
                oauth_scopes: strings(s.o_auth_scopes.as_deref()),
                data_transfer_apis: enum_strings(
                    s.data_transfer_apis.as_deref(),
                    aws::SalesforceDataTransferApi::as_str,
                ),
                oauth2_grant_types_supported: enum_strings(
                    s.oauth2_grant_types_supported.as_deref(),
                    aws::OAuth2GrantType::as_str,
                ),
            }),
            service_now: empty(m.service_now.is_some()),
            singular: empty(m.singular.is_some()),
            slack: m.slack.as_ref().map(|s| scopes(s.o_auth_scopes.as_ref())),
            snowflake: m.snowflake.as_ref().map(|s| SnowflakeMetadata {
                supported_regions: strings(s.supported_regions.as_deref()),
            }),
            trendmicro: empty(m.trendmicro.is_some()),
            veeva: empty(m.veeva.is_some()),
            zendesk: m.zendesk.as_ref().map(|z| scopes(z.o_auth_scopes.as_ref())),
            event_bridge: empty(m.event_bridge.is_some()),
            upsolver: empty(m.upsolver.is_some()),
            customer_profiles: empty(m.customer_profiles.is_some()),
            honeycode: m
                .honeycode
                .as_ref()
                .map(|h| scopes(h.o_auth_scopes.as_ref())),
            sapo_data: empty(m.sapo_data.is_some()),
            pardot: empty(m.pardot.is_some()),
            unmodelled: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept_as_sent() {
        let sdk = aws::ConnectorConfiguration::builder()
            .connector_type(aws::ConnectorType::from("BrandNewConnector"))
            .supported_operators(aws::Operators::from("FUTURE_OPERATOR"))
            .supported_operators(aws::Operators::Projection)
            .build();
        let mirror = ConnectorConfiguration::from(&sdk);
        assert_eq!(mirror.connector_type.as_deref(), Some("BrandNewConnector"));
        assert_eq!(
            mirror.supported_operators,
            ["FUTURE_OPERATOR", "PROJECTION"]
        );
    }

    #[test]
    fn metadata_members_unknown_to_the_sdk_are_kept() {
        let sdk = aws::ConnectorConfiguration::builder()
            .connector_metadata(
                aws::ConnectorMetadata::builder()
                    .slack(aws::SlackMetadata::builder().build())
                    .build(),
            )
            .build();
        let mut mirror = ConnectorConfiguration::from(&sdk);
        let raw = br#"{"connectorConfiguration": {"connectorMetadata": {
            "Slack": {}, "BrandNew": {"oAuthScopes": ["read"]}}}}"#;
        mirror.keep_unmodelled_metadata(raw);
        let json = serde_json::to_value(&mirror).unwrap();
        assert_eq!(
            json["connectorMetadata"]["BrandNew"]["oAuthScopes"][0],
            "read"
        );
        assert!(json["connectorMetadata"]["Slack"].is_object());
        let back: ConnectorConfiguration = serde_json::from_value(json).unwrap();
        assert_eq!(back, mirror, "round-trips through status");

        let mut plain = ConnectorConfiguration::default();
        plain.keep_unmodelled_metadata(b"not json");
        plain.keep_unmodelled_metadata(br#"{"connectorConfiguration": {}}"#);
        assert_eq!(plain, ConnectorConfiguration::default());
    }

    #[test]
    fn field_names_are_aws_names() {
        let sdk = aws::ConnectorConfiguration::builder()
            .logo_url("https://example.com/logo.png")
            .registered_at(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .authentication_config(
                aws::AuthenticationConfig::builder()
                    .is_o_auth2_supported(true)
                    .o_auth2_defaults(
                        aws::OAuth2Defaults::builder()
                            .oauth2_grant_types_supported(aws::OAuth2GrantType::ClientCredentials)
                            .build(),
                    )
                    .build(),
            )
            .connector_metadata(
                aws::ConnectorMetadata::builder()
                    .salesforce(
                        aws::SalesforceMetadata::builder()
                            .oauth2_grant_types_supported(aws::OAuth2GrantType::JwtBearer)
                            .build(),
                    )
                    .build(),
            )
            .supported_data_transfer_apis(
                aws::DataTransferApi::builder()
                    .name("bulk")
                    .r#type(aws::DataTransferApiType::Async)
                    .build(),
            )
            .build();
        let json = serde_json::to_value(ConnectorConfiguration::from(&sdk)).unwrap();
        assert_eq!(json["logoURL"], "https://example.com/logo.png");
        assert_eq!(json["registeredAt"], "2023-11-14T22:13:20Z");
        assert_eq!(json["authenticationConfig"]["isOAuth2Supported"], true);
        assert_eq!(
            json["authenticationConfig"]["oAuth2Defaults"]["oauth2GrantTypesSupported"][0],
            "CLIENT_CREDENTIALS"
        );
        assert_eq!(
            json["connectorMetadata"]["Salesforce"]["oauth2GrantTypesSupported"][0],
            "JWT_BEARER"
        );
        assert_eq!(json["supportedDataTransferApis"][0]["Type"], "ASYNC");
    }
}
