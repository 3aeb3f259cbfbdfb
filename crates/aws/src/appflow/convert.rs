//! SDK -> mirror: the only place that reads `aws_sdk_appflow`'s types into the SDK-free
//! `mirror` (enum values kept as sent, timestamps with their fraction).

use std::collections::BTreeMap;

use aws_sdk_appflow::types as aws;

use conninfo_core::mirror::*;

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

/// Keeps the fraction AWS sent (epoch seconds with a fraction on the wire).
fn rfc3339(time: &aws_smithy_types::DateTime) -> Option<AwsTimestamp> {
    let nanos = i32::try_from(time.subsec_nanos()).ok()?;
    jiff::Timestamp::new(time.secs(), nanos)
        .ok()
        .map(AwsTimestamp)
}

pub fn configuration(c: &aws::ConnectorConfiguration) -> ConnectorConfiguration {
    ConnectorConfiguration {
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
        connector_metadata: c.connector_metadata().map(metadata),
        connector_type: c.connector_type().map(|t| t.as_str().to_owned()),
        connector_label: c.connector_label().map(str::to_owned),
        connector_description: c.connector_description().map(str::to_owned),
        connector_owner: c.connector_owner().map(str::to_owned),
        connector_name: c.connector_name().map(str::to_owned),
        connector_version: c.connector_version().map(str::to_owned),
        connector_arn: c.connector_arn().map(str::to_owned),
        connector_modes: strings(c.connector_modes.as_deref()),
        authentication_config: c.authentication_config().map(authentication),
        connector_runtime_settings: c
            .connector_runtime_settings()
            .iter()
            .map(runtime_setting)
            .collect(),
        supported_api_versions: strings(c.supported_api_versions.as_deref()),
        supported_operators: enum_strings(c.supported_operators.as_deref(), aws::Operators::as_str),
        supported_write_operations: enum_strings(
            c.supported_write_operations.as_deref(),
            aws::WriteOperationType::as_str,
        ),
        connector_provisioning_type: c
            .connector_provisioning_type()
            .map(|t| t.as_str().to_owned()),
        connector_provisioning_config: c.connector_provisioning_config().map(provisioning),
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
            .map(data_transfer_api)
            .collect(),
    }
}

fn provisioning(p: &aws::ConnectorProvisioningConfig) -> ConnectorProvisioningConfig {
    ConnectorProvisioningConfig {
        lambda: p.lambda().map(|l| LambdaConnectorProvisioningConfig {
            lambda_arn: l.lambda_arn().to_owned(),
        }),
    }
}

fn data_transfer_api(a: &aws::DataTransferApi) -> DataTransferApi {
    DataTransferApi {
        name: a.name().map(str::to_owned),
        r#type: a.r#type().map(|t| t.as_str().to_owned()),
    }
}

fn authentication(a: &aws::AuthenticationConfig) -> AuthenticationConfig {
    AuthenticationConfig {
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
                        connector_supplied_values: strings(p.connector_supplied_values.as_deref()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn runtime_setting(s: &aws::ConnectorRuntimeSetting) -> ConnectorRuntimeSetting {
    ConnectorRuntimeSetting {
        key: s.key().map(str::to_owned),
        data_type: s.data_type().map(str::to_owned),
        is_required: s.is_required(),
        label: s.label().map(str::to_owned),
        description: s.description().map(str::to_owned),
        scope: s.scope().map(str::to_owned),
        connector_supplied_value_options: strings(s.connector_supplied_value_options.as_deref()),
    }
}

fn scopes(list: Option<&Vec<String>>) -> OAuthScopesMetadata {
    OAuthScopesMetadata {
        oauth_scopes: strings(list.map(Vec::as_slice)),
    }
}

fn metadata(m: &aws::ConnectorMetadata) -> ConnectorMetadata {
    let empty = |present: bool| present.then(EmptyMetadata::default);
    ConnectorMetadata {
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
        let mirror = configuration(&sdk);
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
        let mut mirror = configuration(&sdk);
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
            .registered_at(aws_smithy_types::DateTime::from_fractional_secs(
                1_700_000_000,
                0.5,
            ))
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
        let json = serde_json::to_value(configuration(&sdk)).unwrap();
        assert_eq!(json["logoURL"], "https://example.com/logo.png");
        assert_eq!(json["registeredAt"], "2023-11-14T22:13:20.5Z");
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
