//! The built-in catalog of vended connector configurations (`catalog.yaml`,
//! wire format) and the default configuration of a custom connector.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::CUSTOM_CONNECTOR;

const CATALOG_YAML: &str = include_str!("../catalog.yaml");

#[derive(Debug, Deserialize)]
struct CatalogFile {
    connectors: BTreeMap<String, Map<String, Value>>,
}

static CATALOG: LazyLock<BTreeMap<String, Map<String, Value>>> = LazyLock::new(|| {
    serde_yaml_ng::from_str::<CatalogFile>(CATALOG_YAML)
        .expect("built-in catalog.yaml parses (checked by unit tests)")
        .connectors
});

/// The built-in configuration of a vended connector type.
pub fn vended(connector_type: &str) -> Option<&'static Map<String, Value>> {
    CATALOG.get(connector_type)
}

/// Every connector type in the catalog.
#[cfg(test)]
pub fn types() -> Vec<&'static str> {
    CATALOG.keys().map(String::as_str).collect()
}

/// Account id used in default ARNs when the data file gives none.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The configuration a custom connector has before its data-file entry is
/// laid over it: a Lambda-provisioned connector registered by the account,
/// usable as source and destination, with one custom authentication type.
pub fn custom_default(
    label: &str,
    region: &str,
    account: &str,
    registered_at: f64,
) -> Map<String, Value> {
    let value = json!({
        "connectorType": CUSTOM_CONNECTOR,
        "connectorLabel": label,
        "connectorName": label,
        "connectorOwner": account,
        "connectorVersion": "1.0.0",
        "connectorDescription": format!("Custom connector {label}"),
        "connectorArn": format!("arn:aws:appflow:{region}:{account}:connector/{label}"),
        "connectorModes": ["SOURCE", "DESTINATION"],
        "canUseAsSource": true,
        "canUseAsDestination": true,
        "supportedDestinationConnectors": ["S3", "Redshift", "Snowflake", "Salesforce", "EventBridge", "Upsolver", "CustomConnector"],
        "supportedSchedulingFrequencies": ["BYMINUTE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONCE"],
        "supportedTriggerTypes": ["Scheduled", "OnDemand"],
        "isPrivateLinkEnabled": false,
        "isPrivateLinkEndpointUrlRequired": false,
        "authenticationConfig": {
            "isBasicAuthSupported": false,
            "isApiKeyAuthSupported": false,
            "isOAuth2Supported": false,
            "isCustomAuthSupported": true,
            "customAuthConfigs": [{
                "customAuthenticationType": "CUSTOM_TOKEN",
                "authParameters": [{
                    "key": "token",
                    "isRequired": true,
                    "label": "Access token",
                    "description": "The token the connector sends to the application.",
                    "isSensitiveField": true
                }]
            }]
        },
        "connectorRuntimeSettings": [{
            "key": "instanceUrl",
            "dataType": "String",
            "isRequired": true,
            "label": "Instance URL",
            "description": "The base URL of the application instance.",
            "scope": "CONNECTOR_PROFILE"
        }],
        "supportedApiVersions": ["v1"],
        "supportedOperators": ["PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN", "EQUAL_TO", "NOT_EQUAL_TO", "VALIDATE_NON_NULL", "NO_OP"],
        "supportedWriteOperations": ["INSERT", "UPSERT", "UPDATE", "DELETE"],
        "connectorProvisioningType": "LAMBDA",
        "connectorProvisioningConfig": {
            "lambda": {
                "lambdaArn": format!("arn:aws:lambda:{region}:{account}:function:{label}-connector")
            }
        },
        "registeredAt": registered_at,
        "registeredBy": format!("arn:aws:iam::{account}:role/appflow-emulator"),
        "supportedDataTransferTypes": ["RECORD"],
        "supportedDataTransferApis": [{"Name": "records", "Type": "SYNC"}]
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VENDED_CONNECTOR_TYPES;
    use crate::model::Model;

    /// The `ConnectorMetadata` member of a connector type (the two enums
    /// spell some names differently).
    fn metadata_member(connector_type: &str) -> Option<&'static str> {
        match connector_type {
            "Googleanalytics" => Some("GoogleAnalytics"),
            "Infornexus" => Some("InforNexus"),
            "Servicenow" => Some("ServiceNow"),
            "LookoutMetrics" => None,
            other => VENDED_CONNECTOR_TYPES.iter().copied().find(|t| *t == other),
        }
    }

    #[test]
    fn catalog_has_exactly_the_23_vended_types() {
        let mut expected: Vec<&str> = VENDED_CONNECTOR_TYPES.to_vec();
        expected.sort_unstable();
        assert_eq!(types(), expected);
    }

    #[test]
    fn every_entry_satisfies_the_model() {
        let model = Model::get();
        let mut all = Vec::new();
        for t in VENDED_CONNECTOR_TYPES {
            let cfg = vended(t).expect("present");
            for p in model.validate("ConnectorConfiguration", &Value::Object(cfg.clone())) {
                all.push(format!("{t}: {p}"));
            }
        }
        assert!(all.is_empty(), "catalog problems:\n{}", all.join("\n"));
    }

    #[test]
    fn entries_are_consistent() {
        for t in VENDED_CONNECTOR_TYPES {
            let cfg = vended(t).expect("present");
            assert_eq!(cfg.get("connectorType"), Some(&json!(t)), "{t}");
            assert!(cfg.get("connectorLabel").is_none(), "{t}");
            for key in [
                "canUseAsSource",
                "canUseAsDestination",
                "supportedSchedulingFrequencies",
                "supportedTriggerTypes",
                "supportedDestinationConnectors",
                "connectorName",
                "connectorVersion",
                "authenticationConfig",
            ] {
                assert!(cfg.contains_key(key), "{t} lacks {key}");
            }
            // connectorMetadata, if any, only describes this connector.
            if let Some(meta) = cfg.get("connectorMetadata").and_then(Value::as_object) {
                let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
                assert_eq!(
                    keys,
                    metadata_member(t).into_iter().collect::<Vec<_>>(),
                    "{t}"
                );
            }
            let auth = &cfg["authenticationConfig"];
            let oauth = auth["isOAuth2Supported"].as_bool().unwrap_or(false);
            assert_eq!(
                oauth,
                auth.get("oAuth2Defaults").is_some(),
                "{t}: OAuth2 flag vs defaults"
            );
            let custom = auth["isCustomAuthSupported"].as_bool().unwrap_or(false);
            assert_eq!(
                custom,
                auth.get("customAuthConfigs").is_some(),
                "{t}: custom auth flag vs configs"
            );
            // A source lists destinations and triggers; a pure destination does not.
            let source = cfg["canUseAsSource"].as_bool().unwrap_or(false);
            let dests = cfg["supportedDestinationConnectors"]
                .as_array()
                .map_or(0, Vec::len);
            let triggers = cfg["supportedTriggerTypes"].as_array().map_or(0, Vec::len);
            assert_eq!(source, dests > 0, "{t}");
            assert_eq!(source, triggers > 0, "{t}");
            assert!(
                source || cfg["canUseAsDestination"].as_bool().unwrap_or(false),
                "{t}"
            );
        }
    }

    #[test]
    fn salient_entries() {
        let sf = vended("Salesforce").expect("Salesforce");
        let grants = json!(["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "JWT_BEARER"]);
        assert_eq!(
            sf["connectorMetadata"]["Salesforce"]["oauth2GrantTypesSupported"],
            grants
        );
        assert_eq!(
            sf["authenticationConfig"]["oAuth2Defaults"]["oauth2GrantTypesSupported"],
            grants
        );
        assert_eq!(
            sf["supportedDataTransferApis"][1],
            json!({"Name": "BULKV2", "Type": "ASYNC"})
        );
        assert_eq!(
            vended("Slack").expect("Slack")["authenticationConfig"]["isOAuth2Supported"],
            json!(true)
        );
        assert_eq!(
            vended("Datadog").expect("Datadog")["authenticationConfig"]["isApiKeyAuthSupported"],
            json!(true)
        );
        assert_eq!(
            vended("Servicenow").expect("Servicenow")["authenticationConfig"]["isBasicAuthSupported"],
            json!(true)
        );
        assert_eq!(
            vended("Redshift").expect("Redshift")["authenticationConfig"]["isBasicAuthSupported"],
            json!(true)
        );
        let snow = vended("Snowflake").expect("Snowflake");
        assert_eq!(
            snow["authenticationConfig"]["isBasicAuthSupported"],
            json!(true)
        );
        assert!(
            snow["connectorMetadata"]["Snowflake"]["supportedRegions"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );
        for t in [
            "S3",
            "EventBridge",
            "LookoutMetrics",
            "Upsolver",
            "CustomerProfiles",
        ] {
            let auth = &vended(t).expect("present")["authenticationConfig"];
            for flag in [
                "isBasicAuthSupported",
                "isApiKeyAuthSupported",
                "isOAuth2Supported",
                "isCustomAuthSupported",
            ] {
                assert_eq!(auth[flag], json!(false), "{t} {flag}");
            }
        }
    }

    #[test]
    fn custom_default_satisfies_the_model() {
        let cfg = custom_default("acme-crm", "eu-west-1", "210987654321", 1_704_067_200.5);
        let problems = Model::get().validate("ConnectorConfiguration", &Value::Object(cfg.clone()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            cfg["connectorArn"],
            json!("arn:aws:appflow:eu-west-1:210987654321:connector/acme-crm")
        );
        assert_eq!(cfg["registeredAt"], json!(1_704_067_200.5));
        assert_eq!(cfg["connectorProvisioningType"], json!("LAMBDA"));
    }
}
