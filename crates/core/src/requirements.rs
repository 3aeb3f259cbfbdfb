//! Pure: what a connector configuration offers, and which of a team's requirements it misses.

use std::collections::BTreeSet;

use crate::crd::{AuthMode, Requirements, Usage};
use crate::mirror::ConnectorConfiguration;

/// Authentication modes a configuration supports, in a stable order.
pub fn auth_modes(config: &ConnectorConfiguration) -> Vec<AuthMode> {
    let Some(auth) = &config.authentication_config else {
        return Vec::new();
    };
    [
        (auth.is_basic_auth_supported, AuthMode::Basic),
        (auth.is_api_key_auth_supported, AuthMode::ApiKey),
        (auth.is_oauth2_supported, AuthMode::OAuth2),
        (auth.is_custom_auth_supported, AuthMode::Custom),
    ]
    .into_iter()
    .filter_map(|(supported, mode)| supported.then_some(mode))
    .collect()
}

/// OAuth2 grant types offered, from the OAuth2 defaults and Salesforce's metadata.
pub fn oauth2_grant_types(config: &ConnectorConfiguration) -> BTreeSet<&str> {
    let defaults = config
        .authentication_config
        .iter()
        .flat_map(|a| a.oauth2_defaults.iter())
        .flat_map(|d| d.oauth2_grant_types_supported.iter());
    let salesforce = config
        .connector_metadata
        .iter()
        .flat_map(|m| m.salesforce.iter())
        .flat_map(|s| s.oauth2_grant_types_supported.iter());
    defaults.chain(salesforce).map(String::as_str).collect()
}

fn custom_auth_types(config: &ConnectorConfiguration) -> BTreeSet<&str> {
    config
        .authentication_config
        .iter()
        .flat_map(|a| a.custom_auth_configs.iter())
        .filter_map(|c| c.custom_authentication_type.as_deref())
        .collect()
}

/// Each requirement the configuration does not meet, phrased for a person; empty when all
/// are met.
pub fn missing(requirements: &Requirements, config: &ConnectorConfiguration) -> Vec<String> {
    let modes = auth_modes(config);
    let grants = oauth2_grant_types(config);
    let custom = custom_auth_types(config);
    let mut missing = Vec::new();
    for mode in &requirements.auth_modes {
        if !modes.contains(mode) {
            missing.push(format!("auth mode {mode} is not supported"));
        }
    }
    for grant in &requirements.oauth2_grant_types {
        if !grants.contains(grant.as_str()) {
            missing.push(format!("OAuth2 grant type {grant} is not supported"));
        }
    }
    for kind in &requirements.custom_auth_types {
        if !custom.contains(kind.as_str()) {
            missing.push(format!("custom auth type {kind} is not offered"));
        }
    }
    for usage in &requirements.usable_as {
        let usable = match usage {
            Usage::Source => config.can_use_as_source,
            Usage::Destination => config.can_use_as_destination,
        };
        if !usable {
            missing.push(format!(
                "cannot be used as a {}",
                usage.as_str().to_lowercase()
            ));
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::OAuth2GrantType;
    use crate::mirror::{
        AuthenticationConfig, ConnectorMetadata, CustomAuthConfig, OAuth2Defaults,
        SalesforceMetadata,
    };

    fn config() -> ConnectorConfiguration {
        ConnectorConfiguration {
            can_use_as_source: true,
            authentication_config: Some(AuthenticationConfig {
                is_oauth2_supported: true,
                is_custom_auth_supported: true,
                oauth2_defaults: Some(OAuth2Defaults {
                    oauth2_grant_types_supported: vec!["AUTHORIZATION_CODE".into()],
                    ..Default::default()
                }),
                custom_auth_configs: vec![CustomAuthConfig {
                    custom_authentication_type: Some("HMAC".into()),
                    auth_parameters: vec![],
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn auth_modes_follow_flags_in_stable_order() {
        assert_eq!(auth_modes(&config()), [AuthMode::OAuth2, AuthMode::Custom]);
        assert!(auth_modes(&ConnectorConfiguration::default()).is_empty());
    }

    #[test]
    fn nothing_required_is_always_met() {
        assert!(missing(&Requirements::default(), &ConnectorConfiguration::default()).is_empty());
    }

    #[test]
    fn met_requirements_report_nothing() {
        let req = Requirements {
            auth_modes: vec![AuthMode::OAuth2, AuthMode::Custom],
            oauth2_grant_types: vec![OAuth2GrantType::AUTHORIZATION_CODE],
            custom_auth_types: vec!["HMAC".into()],
            usable_as: vec![Usage::Source],
        };
        assert_eq!(missing(&req, &config()), Vec::<String>::new());
    }

    #[test]
    fn each_missing_requirement_is_named() {
        let req = Requirements {
            auth_modes: vec![AuthMode::Basic, AuthMode::OAuth2, AuthMode::ApiKey],
            oauth2_grant_types: vec![OAuth2GrantType::CLIENT_CREDENTIALS],
            custom_auth_types: vec!["SIGV4".into()],
            usable_as: vec![Usage::Source, Usage::Destination],
        };
        assert_eq!(
            missing(&req, &config()),
            [
                "auth mode Basic is not supported",
                "auth mode ApiKey is not supported",
                "OAuth2 grant type CLIENT_CREDENTIALS is not supported",
                "custom auth type SIGV4 is not offered",
                "cannot be used as a destination",
            ]
        );
    }

    #[test]
    fn salesforce_grant_types_come_from_metadata_too() {
        let mut cfg = config();
        cfg.connector_metadata = Some(ConnectorMetadata {
            salesforce: Some(SalesforceMetadata {
                oauth2_grant_types_supported: vec!["JWT_BEARER".into()],
                ..Default::default()
            }),
            ..Default::default()
        });
        let req = Requirements {
            oauth2_grant_types: vec![OAuth2GrantType::JWT_BEARER],
            ..Default::default()
        };
        assert!(missing(&req, &cfg).is_empty());
    }
}
