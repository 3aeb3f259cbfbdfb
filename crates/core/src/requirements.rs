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

/// A field of the CRD's `spec.requirements`, named as the CRD names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequirementKey {
    AuthModes,
    OAuth2GrantTypes,
    CustomAuthTypes,
    UsableAs,
}

impl RequirementKey {
    /// Every key, in the order `spec.requirements` lists its fields.
    pub const ALL: [RequirementKey; 4] = [
        RequirementKey::AuthModes,
        RequirementKey::OAuth2GrantTypes,
        RequirementKey::CustomAuthTypes,
        RequirementKey::UsableAs,
    ];

    /// The field's camelCase name in `spec.requirements` (and in `--require KEY=…`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequirementKey::AuthModes => "authModes",
            RequirementKey::OAuth2GrantTypes => "oauth2GrantTypes",
            RequirementKey::CustomAuthTypes => "customAuthTypes",
            RequirementKey::UsableAs => "usableAs",
        }
    }

    /// The key named `text`, spelt exactly as the CRD spells it.
    pub fn parse(text: &str) -> Option<RequirementKey> {
        Self::ALL.into_iter().find(|key| key.as_str() == text)
    }
}

impl std::fmt::Display for RequirementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialised as the CRD's field name, so that a pipeline matches what the manifest says.
impl serde::Serialize for RequirementKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One item of a requirement that the configuration does not meet: the field it is listed
/// under and the item as the CRD spells it (`usableAs` / `Destination`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Unmet {
    pub requirement: RequirementKey,
    pub value: String,
}

impl Unmet {
    pub fn new(requirement: RequirementKey, value: impl Into<String>) -> Self {
        Self {
            requirement,
            value: value.into(),
        }
    }

    /// The sentence for a person; the `RequirementsMet` condition's message is made of these,
    /// so their wording is part of the status.
    pub fn message(&self) -> String {
        let value = &self.value;
        match self.requirement {
            RequirementKey::AuthModes => format!("auth mode {value} is not supported"),
            RequirementKey::OAuth2GrantTypes => {
                format!("OAuth2 grant type {value} is not supported")
            }
            RequirementKey::CustomAuthTypes => format!("custom auth type {value} is not offered"),
            RequirementKey::UsableAs => format!("cannot be used as a {}", value.to_lowercase()),
        }
    }
}

/// Each item of `requirements` the configuration does not meet, in the order the fields and
/// their lists give; empty when all are met.
pub fn unmet(requirements: &Requirements, config: &ConnectorConfiguration) -> Vec<Unmet> {
    let modes = auth_modes(config);
    let grants = oauth2_grant_types(config);
    let custom = custom_auth_types(config);
    let usable = |usage: &Usage| match usage {
        Usage::Source => config.can_use_as_source,
        Usage::Destination => config.can_use_as_destination,
    };
    let auth_modes = requirements
        .auth_modes
        .iter()
        .filter(|mode| !modes.contains(mode))
        .map(|mode| Unmet::new(RequirementKey::AuthModes, mode.as_str()));
    let grant_types = requirements
        .oauth2_grant_types
        .iter()
        .filter(|grant| !grants.contains(grant.as_str()))
        .map(|grant| Unmet::new(RequirementKey::OAuth2GrantTypes, grant.as_str()));
    let custom_types = requirements
        .custom_auth_types
        .iter()
        .filter(|kind| !custom.contains(kind.as_str()))
        .map(|kind| Unmet::new(RequirementKey::CustomAuthTypes, kind.as_str()));
    let usages = requirements
        .usable_as
        .iter()
        .filter(|usage| !usable(usage))
        .map(|usage| Unmet::new(RequirementKey::UsableAs, usage.as_str()));
    auth_modes
        .chain(grant_types)
        .chain(custom_types)
        .chain(usages)
        .collect()
}

/// Each requirement the configuration does not meet, phrased for a person (the messages of
/// [`unmet`]); empty when all are met.
pub fn missing(requirements: &Requirements, config: &ConnectorConfiguration) -> Vec<String> {
    unmet(requirements, config)
        .iter()
        .map(Unmet::message)
        .collect()
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
    fn each_requirement_key_gives_its_entry_and_sentence() {
        let cases = [
            (
                Requirements {
                    auth_modes: vec![AuthMode::ApiKey],
                    ..Default::default()
                },
                Unmet::new(RequirementKey::AuthModes, "ApiKey"),
                "auth mode ApiKey is not supported",
            ),
            (
                Requirements {
                    oauth2_grant_types: vec![OAuth2GrantType::CLIENT_CREDENTIALS],
                    ..Default::default()
                },
                Unmet::new(RequirementKey::OAuth2GrantTypes, "CLIENT_CREDENTIALS"),
                "OAuth2 grant type CLIENT_CREDENTIALS is not supported",
            ),
            (
                Requirements {
                    custom_auth_types: vec!["SIGV4".into()],
                    ..Default::default()
                },
                Unmet::new(RequirementKey::CustomAuthTypes, "SIGV4"),
                "custom auth type SIGV4 is not offered",
            ),
            (
                Requirements {
                    usable_as: vec![Usage::Destination],
                    ..Default::default()
                },
                Unmet::new(RequirementKey::UsableAs, "Destination"),
                "cannot be used as a destination",
            ),
        ];
        for (required, entry, sentence) in cases {
            let found = unmet(&required, &config());
            assert_eq!(found, [entry], "{required:?}");
            assert_eq!(found[0].message(), sentence);
            assert_eq!(missing(&required, &config()), [sentence]);
        }
        let source = Requirements {
            usable_as: vec![Usage::Source],
            ..Default::default()
        };
        assert_eq!(
            unmet(&source, &ConnectorConfiguration::default()),
            [Unmet::new(RequirementKey::UsableAs, "Source")]
        );
        assert_eq!(
            missing(&source, &ConnectorConfiguration::default()),
            ["cannot be used as a source"]
        );
    }

    #[test]
    fn unmet_items_keep_the_order_of_fields_and_lists() {
        let req = Requirements {
            auth_modes: vec![AuthMode::Basic, AuthMode::OAuth2, AuthMode::ApiKey],
            oauth2_grant_types: vec![OAuth2GrantType::CLIENT_CREDENTIALS],
            custom_auth_types: vec!["SIGV4".into(), "HMAC".into()],
            usable_as: vec![Usage::Destination, Usage::Source],
        };
        let unmet = unmet(&req, &config());
        let found: Vec<(&str, &str)> = unmet
            .iter()
            .map(|u| (u.requirement.as_str(), u.value.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("authModes", "Basic"),
                ("authModes", "ApiKey"),
                ("oauth2GrantTypes", "CLIENT_CREDENTIALS"),
                ("customAuthTypes", "SIGV4"),
                ("usableAs", "Destination"),
            ]
        );
    }

    /// The keys are what a manifest says under `spec.requirements`: a pipeline matches them
    /// against the CRD's field names.
    #[test]
    fn keys_are_the_crds_field_names() {
        let every_field = Requirements {
            auth_modes: vec![AuthMode::Basic],
            oauth2_grant_types: vec![OAuth2GrantType::JWT_BEARER],
            custom_auth_types: vec!["HMAC".into()],
            usable_as: vec![Usage::Source],
        };
        let value = serde_json::to_value(&every_field).unwrap();
        let mut fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let mut keys: Vec<&str> = RequirementKey::ALL.iter().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(fields, keys);
        for key in RequirementKey::ALL {
            assert_eq!(RequirementKey::parse(key.as_str()), Some(key));
            assert_eq!(
                serde_json::to_value(key).unwrap(),
                serde_json::json!(key.as_str())
            );
        }
        assert_eq!(RequirementKey::parse("usable_as"), None);
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
