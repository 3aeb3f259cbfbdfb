//! An Amazon AppFlow emulator for tests.
//!
//! It speaks AppFlow's restJson1 wire protocol for `DescribeConnector`
//! (`POST /describe-connector`) the way the service model
//! (`appflow-2020-08-23`) describes it: member names on the wire, timestamps
//! as epoch seconds, modelled errors with `x-amzn-ErrorType` and a
//! `{"message": ...}` body, a SigV4 `Authorization` header check, and
//! AWS-style request validation.
//!
//! It is also a multi-account AWS: STS (`AssumeRole`, `GetCallerIdentity`)
//! answers over awsQuery on `POST /` and issues temporary credentials; a
//! DescribeConnector call signed with them acts in the role's account, any
//! other key acts in the default account.
//!
//! The vended connectors come from a built-in catalog (`catalog.yaml`);
//! custom connectors, per-connector overrides and fault injection come from a
//! data file (see [`EmulatorData`]) and can be changed at runtime through the
//! `/_emulator/*` control endpoints. The crate's `README.md` documents both.

mod account;
mod auth;
mod catalog;
mod data;
mod faults;
pub mod harness;
mod iam;
mod identity;
mod merge;
mod model;
mod query;
mod registry;
mod server;
mod sts;
#[cfg(test)]
mod sts_routes_tests;
#[cfg(test)]
mod test_support;
mod validate;
mod wire;

pub use data::{
    AccountData, AccountSpec, CustomConnectorSpec, EmulatorData, EmulatorError, FaultSpec,
    RandomFaultSpec, RateLimitSpec,
};
pub use iam::RoleSpec;
pub use server::{router, serve};

/// The connector type that is resolved through `connectorLabel`.
pub const CUSTOM_CONNECTOR: &str = "CustomConnector";

/// The 23 AWS-vended connector types (every `ConnectorType` except
/// `CustomConnector`), in the model's order.
pub const VENDED_CONNECTOR_TYPES: &[&str] = &[
    "Salesforce",
    "Singular",
    "Slack",
    "Redshift",
    "S3",
    "Marketo",
    "Googleanalytics",
    "Zendesk",
    "Servicenow",
    "Datadog",
    "Trendmicro",
    "Snowflake",
    "Dynatrace",
    "Infornexus",
    "Amplitude",
    "Veeva",
    "EventBridge",
    "LookoutMetrics",
    "Upsolver",
    "Honeycode",
    "CustomerProfiles",
    "SAPOData",
    "Pardot",
];

/// The key that stats and faults use for a connector: the connector type, or
/// `CustomConnector/<label>` for a custom connector.
pub fn connector_key(connector_type: &str, label: Option<&str>) -> String {
    match label {
        Some(label) if connector_type == CUSTOM_CONNECTOR => format!("{CUSTOM_CONNECTOR}/{label}"),
        _ => connector_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vended_types_are_the_model_enum_but_custom() {
        let expected: Vec<String> = model::Model::get()
            .enum_values("ConnectorType")
            .expect("ConnectorType enum")
            .into_iter()
            .filter(|t| t != CUSTOM_CONNECTOR)
            .collect();
        assert_eq!(VENDED_CONNECTOR_TYPES, expected.as_slice());
        assert_eq!(VENDED_CONNECTOR_TYPES.len(), 23);
    }

    #[test]
    fn keys() {
        assert_eq!(connector_key("Salesforce", None), "Salesforce");
        assert_eq!(connector_key("Salesforce", Some("x")), "Salesforce");
        assert_eq!(
            connector_key("CustomConnector", Some("acme")),
            "CustomConnector/acme"
        );
        assert_eq!(connector_key("CustomConnector", None), "CustomConnector");
    }
}
