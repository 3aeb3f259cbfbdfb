//! The data file: accounts and their custom connectors, IAM roles for STS,
//! overrides of vended connectors, faults.
//!
//! ```yaml
//! accountId: "123456789012"          # optional: the default account
//! accounts:                          # further accounts, each with its own custom connectors
//!   - accountId: "222222222222"
//!     customConnectors: [{label: team-b-crm}]
//! roles:                             # what STS AssumeRole hands out
//!   - arn: arn:aws:iam::222222222222:role/appflow-observer
//!     externalId: team-b             # optional
//!     assumable: true                # optional, default true
//!     sessionDurationSeconds: 20     # optional
//! customConnectors:
//!   - label: acme-crm
//!     description: Acme CRM            # shorthand for connectorDescription
//!     authenticationConfig: {isOAuth2Supported: true}
//!     # any other ConnectorConfiguration member, in wire format
//! overrides:
//!   Salesforce: {connectorVersion: "61.0"}
//! faults:
//!   Salesforce: {errorCode: ThrottlingException, count: 2}
//!   "CustomConnector/acme-crm": {latencyMs: 3000}
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::iam::{RoleSpec, is_account_id};
use crate::model::Model;
use crate::{CUSTOM_CONNECTOR, VENDED_CONNECTOR_TYPES};

/// Errors loading or checking emulator data.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read emulator data file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse emulator data {origin}: {source}")]
    Parse {
        origin: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("invalid emulator data: {0}")]
    Invalid(String),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// A custom connector: its label plus any `ConnectorConfiguration` members
/// (wire format) laid over the default custom configuration. Objects merge
/// member by member, lists and scalars replace, `null` removes a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomConnectorSpec {
    pub label: String,
    /// Shorthand for `connectorDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub configuration: Map<String, Value>,
}

impl CustomConnectorSpec {
    pub fn new(label: impl Into<String>) -> Self {
        CustomConnectorSpec {
            label: label.into(),
            description: None,
            configuration: Map::new(),
        }
    }

    /// The overlay laid over the default configuration.
    pub(crate) fn overlay(&self) -> Map<String, Value> {
        let mut overlay = self.configuration.clone();
        if let Some(d) = &self.description {
            overlay
                .entry("connectorDescription")
                .or_insert_with(|| Value::String(d.clone()));
        }
        // The identity of the connector is not overridable.
        overlay.insert(
            "connectorType".into(),
            Value::String(CUSTOM_CONNECTOR.into()),
        );
        overlay.insert("connectorLabel".into(), Value::String(self.label.clone()));
        overlay
    }

    /// Hard errors: the label must be one a request can name.
    pub fn check(&self) -> Result<(), EmulatorError> {
        let problems = Model::get().validate("ConnectorLabel", &Value::String(self.label.clone()));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EmulatorError::Invalid(format!(
                "custom connector label '{}' is not a valid ConnectorLabel ({})",
                self.label,
                problems.join("; ")
            )))
        }
    }
}

/// An injected fault for one connector key.
///
/// While the fault is active, a call to its key waits `latencyMs`, then
/// answers with `errorCode` (status `status`, or the code's usual status),
/// or with a 200 whose body is not JSON (`garbageBody`), or normally if
/// neither is set. `count` limits the fault to the first N calls to the key
/// after it was set; without it the fault never runs out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub garbage_body: bool,
}

impl FaultSpec {
    pub fn check(&self) -> Result<(), EmulatorError> {
        if let Some(code) = &self.error_code
            && (code.is_empty()
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_'))
        {
            return Err(EmulatorError::Invalid(format!(
                "fault errorCode '{code}' is not an error code name"
            )));
        }
        if let Some(status) = self.status
            && !(100..=599).contains(&status)
        {
            return Err(EmulatorError::Invalid(format!(
                "fault status {status} is not an HTTP status"
            )));
        }
        Ok(())
    }
}

/// Checks a fault key: a vended connector type or `CustomConnector/<label>`.
pub fn check_fault_key(key: &str) -> Result<(), EmulatorError> {
    if VENDED_CONNECTOR_TYPES.contains(&key) {
        return Ok(());
    }
    if let Some(label) = key.strip_prefix("CustomConnector/") {
        return CustomConnectorSpec::new(label).check();
    }
    Err(EmulatorError::Invalid(format!(
        "fault key '{key}' is neither a vended connector type nor CustomConnector/<label>"
    )))
}

/// Checks an override key: a vended connector type.
pub fn check_override_key(key: &str) -> Result<(), EmulatorError> {
    if VENDED_CONNECTOR_TYPES.contains(&key) {
        Ok(())
    } else {
        Err(EmulatorError::Invalid(format!(
            "override key '{key}' is not a vended connector type (custom connectors are configured under customConnectors)"
        )))
    }
}

/// The emulator's data: custom connectors, overrides of the built-in
/// catalog, and faults. `Default` is no custom connectors, no overrides, no
/// faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorData {
    /// The default account (`123456789012` if absent): requests signed with a
    /// key STS did not issue act in it; its custom connectors are `customConnectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub custom_connectors: Vec<CustomConnectorSpec>,
    /// Further accounts, each with its own custom connectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountData>,
    /// IAM roles that STS `AssumeRole` hands out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleSpec>,
    /// Per vended connector type, members laid over the catalog entry.
    #[serde(default)]
    pub overrides: BTreeMap<String, Map<String, Value>>,
    /// Per connector key (`Salesforce`, `CustomConnector/acme-crm`).
    #[serde(default)]
    pub faults: BTreeMap<String, FaultSpec>,
    /// Account-wide behaviour: the latency of every call and AppFlow's request quota.
    #[serde(default)]
    pub account: AccountSpec,
    /// Seeded random faults on any call (a soak's unreliable AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_faults: Option<RandomFaultSpec>,
}

/// An account besides the default one, with its own custom connectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountData {
    pub account_id: String,
    #[serde(default)]
    pub custom_connectors: Vec<CustomConnectorSpec>,
}

/// Checks custom connector labels and that each appears once.
fn check_connectors(connectors: &[CustomConnectorSpec]) -> Result<(), EmulatorError> {
    let mut seen = BTreeSet::new();
    for c in connectors {
        c.check()?;
        if !seen.insert(c.label.as_str()) {
            return Err(EmulatorError::Invalid(format!(
                "custom connector label '{}' appears more than once",
                c.label
            )));
        }
    }
    Ok(())
}

/// Each DescribeConnector call fails with probability `rate`, as one of four faults drawn
/// evenly: a 500 `InternalServerException`, a 429 `ThrottlingException`, a hang of `hangMs`
/// (the client's timeout), or a 200 with a body that is not JSON. The same `seed` draws the
/// same sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RandomFaultSpec {
    pub rate: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "RandomFaultSpec::default_hang_ms")]
    pub hang_ms: u64,
}

impl RandomFaultSpec {
    fn default_hang_ms() -> u64 {
        30_000
    }

    pub fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            seed,
            hang_ms: Self::default_hang_ms(),
        }
    }

    pub fn check(&self) -> Result<(), EmulatorError> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(EmulatorError::Invalid(format!(
                "randomFaults rate {} is not a probability between 0 and 1",
                self.rate
            )));
        }
        Ok(())
    }
}

/// How the emulated account behaves for every call, like AWS does for real.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSpec {
    /// Added to every DescribeConnector answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// DescribeConnector calls per second the account allows; beyond it the answer is a
    /// `ThrottlingException` (HTTP 429), as AppFlow's model declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
}

/// A token bucket: `requestsPerSecond` sustained, `burst` at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitSpec {
    pub requests_per_second: f64,
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_burst() -> u32 {
    1
}

impl EmulatorData {
    /// The default account's id: `accountId`, else `123456789012`.
    pub fn default_account_id(&self) -> &str {
        self.account_id
            .as_deref()
            .unwrap_or(crate::catalog::DEFAULT_ACCOUNT_ID)
    }

    /// Reads and checks a data file (YAML or JSON).
    pub fn from_file(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks data from YAML (or JSON) text. Empty text is the
    /// default data.
    pub fn from_yaml_str(s: &str) -> Result<Self, EmulatorError> {
        Self::parse(s, "string")
    }

    fn parse(s: &str, origin: &str) -> Result<Self, EmulatorError> {
        if s.trim().is_empty() {
            return Ok(EmulatorData::default());
        }
        let data: EmulatorData =
            serde_yaml_ng::from_str(s).map_err(|source| EmulatorError::Parse {
                origin: origin.to_string(),
                source,
            })?;
        data.check()?;
        Ok(data)
    }

    /// Hard checks: labels and keys that requests can reach, unique labels,
    /// well-formed faults. (Problems with configuration values are only
    /// warnings, see [`EmulatorData::warnings`].)
    pub fn check(&self) -> Result<(), EmulatorError> {
        if let Some(random) = &self.random_faults {
            random.check()?;
        }
        if let Some(account) = &self.account_id
            && !is_account_id(account)
        {
            return Err(EmulatorError::Invalid(format!(
                "accountId '{account}' is not 12 digits"
            )));
        }
        check_connectors(&self.custom_connectors)?;
        let accounts = self.check_accounts()?;
        self.check_roles(&accounts)?;
        for key in self.overrides.keys() {
            check_override_key(key)?;
        }
        if let Some(limit) = &self.account.rate_limit
            && !(limit.requests_per_second.is_finite()
                && limit.requests_per_second > 0.0
                && limit.burst >= 1)
        {
            return Err(EmulatorError::Invalid(
                "account.rateLimit needs requestsPerSecond > 0 and burst >= 1".into(),
            ));
        }
        for (key, fault) in &self.faults {
            check_fault_key(key)?;
            fault.check().map_err(|e| match e {
                EmulatorError::Invalid(m) => EmulatorError::Invalid(format!("fault {key}: {m}")),
                other => other,
            })?;
        }
        Ok(())
    }

    /// Checks the further accounts; returns every account ID, the default's
    /// included, which role trusts may name.
    fn check_accounts(&self) -> Result<BTreeSet<&str>, EmulatorError> {
        let mut accounts = BTreeSet::from([self.default_account_id()]);
        for account in &self.accounts {
            let id = account.account_id.as_str();
            if !is_account_id(id) {
                return Err(EmulatorError::Invalid(format!(
                    "accounts: accountId '{id}' is not 12 digits"
                )));
            }
            if !accounts.insert(id) {
                return Err(EmulatorError::Invalid(format!(
                    "accounts: account {id} appears more than once (or is the default accountId)"
                )));
            }
            check_connectors(&account.custom_connectors).map_err(|e| match e {
                EmulatorError::Invalid(m) => EmulatorError::Invalid(format!("account {id}: {m}")),
                other => other,
            })?;
        }
        Ok(accounts)
    }

    /// Role ARNs are STS's keys, so a repeated one would hide a role.
    fn check_roles(&self, accounts: &BTreeSet<&str>) -> Result<(), EmulatorError> {
        let mut arns = BTreeSet::new();
        for role in &self.roles {
            role.check(|id| accounts.contains(id))?;
            if !arns.insert(role.arn.as_str()) {
                return Err(EmulatorError::Invalid(format!(
                    "role {} appears more than once",
                    role.arn
                )));
            }
        }
        Ok(())
    }

    /// Soft checks: every configuration the data produces (custom connectors
    /// over their defaults, overrides over the catalog) checked against the
    /// service model. The emulator logs these and serves the data anyway, so
    /// tests can feed clients deliberately odd values.
    pub fn warnings(&self) -> Vec<String> {
        let model = Model::get();
        let mut out = Vec::new();
        let accounts = std::iter::once((self.default_account_id(), &self.custom_connectors)).chain(
            self.accounts
                .iter()
                .map(|a| (a.account_id.as_str(), &a.custom_connectors)),
        );
        for (account, connectors) in accounts {
            for c in connectors {
                let mut cfg = crate::catalog::custom_default(&c.label, "us-east-1", account, 0.0);
                crate::merge::merge_into(&mut cfg, &c.overlay());
                for p in model.validate("ConnectorConfiguration", &Value::Object(cfg)) {
                    let where_ = if account == self.default_account_id() {
                        String::new()
                    } else {
                        format!(" (account {account})")
                    };
                    out.push(format!("custom connector {}{where_}: {p}", c.label));
                }
            }
        }
        for (t, overlay) in &self.overrides {
            let mut cfg = crate::catalog::vended(t).cloned().unwrap_or_default();
            crate::merge::merge_into(&mut cfg, overlay);
            for p in model.validate("ConnectorConfiguration", &Value::Object(cfg)) {
                out.push(format!("override {t}: {p}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../examples/data.yaml");

    #[test]
    fn empty_is_default() {
        assert_eq!(
            EmulatorData::from_yaml_str("").expect("ok"),
            EmulatorData::default()
        );
        assert_eq!(
            EmulatorData::from_yaml_str("{}").expect("ok"),
            EmulatorData::default()
        );
    }

    #[test]
    fn example_file_parses() {
        let d = EmulatorData::from_yaml_str(EXAMPLE).expect("example parses");
        assert!(!d.custom_connectors.is_empty());
        assert!(!d.faults.is_empty());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data.yaml");
        assert_eq!(EmulatorData::from_file(&path).expect("file"), d);
    }

    #[test]
    fn parses_yaml_and_json() {
        let yaml = r#"
customConnectors:
  - label: acme-crm
    description: Acme
    authenticationConfig:
      isOAuth2Supported: true
      oAuth2Defaults: {oauth2GrantTypesSupported: [CLIENT_CREDENTIALS]}
    registeredAt: 1700000000
faults:
  Salesforce: {errorCode: ThrottlingException, count: 2}
  "CustomConnector/flaky": {latencyMs: 3000, garbageBody: true}
"#;
        let d = EmulatorData::from_yaml_str(yaml).expect("yaml");
        assert_eq!(d.custom_connectors[0].label, "acme-crm");
        assert_eq!(d.custom_connectors[0].description.as_deref(), Some("Acme"));
        assert_eq!(
            d.custom_connectors[0].configuration["registeredAt"],
            json!(1_700_000_000)
        );
        assert_eq!(
            d.faults["Salesforce"],
            FaultSpec {
                error_code: Some("ThrottlingException".into()),
                count: Some(2),
                ..FaultSpec::default()
            }
        );
        assert_eq!(d.faults["CustomConnector/flaky"].latency_ms, Some(3000));
        assert!(d.faults["CustomConnector/flaky"].garbage_body);

        let json_text = serde_json::to_string(&d).expect("serialize");
        assert_eq!(EmulatorData::from_yaml_str(&json_text).expect("json"), d);
    }

    #[test]
    fn overlay_pins_identity() {
        let mut spec = CustomConnectorSpec::new("acme");
        spec.description = Some("d".into());
        spec.configuration
            .insert("connectorType".into(), json!("Salesforce"));
        let o = spec.overlay();
        assert_eq!(o["connectorType"], json!("CustomConnector"));
        assert_eq!(o["connectorLabel"], json!("acme"));
        assert_eq!(o["connectorDescription"], json!("d"));
    }

    #[test]
    fn rejects_bad_data() {
        for (yaml, needle) in [
            (
                "customConnectors: [{label: 'a'}]",
                "not a valid ConnectorLabel",
            ),
            (
                "customConnectors: [{label: 'has space'}]",
                "not a valid ConnectorLabel",
            ),
            (
                "customConnectors: [{label: ab}, {label: ab}]",
                "more than once",
            ),
            (
                "faults: {salesforce: {errorCode: X}}",
                "fault key 'salesforce'",
            ),
            (
                "faults: {CustomConnector: {errorCode: X}}",
                "fault key 'CustomConnector'",
            ),
            (
                "faults: {'CustomConnector/-x': {errorCode: X}}",
                "not a valid ConnectorLabel",
            ),
            ("faults: {Slack: {status: 42}}", "not an HTTP status"),
            (
                "faults: {Slack: {errorCode: 'Bad Code'}}",
                "not an error code name",
            ),
            (
                "overrides: {CustomConnector: {}}",
                "not a vended connector type",
            ),
            ("accountId: abc", "accountId"),
            ("accountId: '1234'", "not 12 digits"),
            ("accounts: [{accountId: '12345678901'}]", "not 12 digits"),
            (
                "accounts: [{accountId: '123456789012'}]",
                "appears more than once",
            ),
            (
                "accounts: [{accountId: '222222222222'}, {accountId: '222222222222'}]",
                "appears more than once",
            ),
            (
                "accounts: [{accountId: '222222222222', customConnectors: [{label: ab}, {label: ab}]}]",
                "account 222222222222: custom connector label 'ab' appears more than once",
            ),
            (
                "roles: [{arn: 'arn:aws:iam::333333333333:role/r'}]",
                "account 333333333333",
            ),
            (
                "roles: [{arn: 'arn:aws:iam::123456789012:user/u'}]",
                "not an IAM role ARN",
            ),
            (
                "roles: [{arn: 'arn:aws:iam::123456789012:role/r', externalId: 'x'}]",
                "externalId 'x'",
            ),
            (
                "roles: [{arn: 'arn:aws:iam::123456789012:role/r'}, {arn: 'arn:aws:iam::123456789012:role/r'}]",
                "appears more than once",
            ),
        ] {
            let e = EmulatorData::from_yaml_str(yaml).expect_err(yaml);
            assert!(e.to_string().contains(needle), "{yaml}: {e}");
        }
        for yaml in [
            "customConnector: []",
            "faults: {Slack: {errorcode: X}}",
            "faults: {Slack: {count: -1}}",
            "customConnectors: [{description: no label}]",
            "[1, 2]",
            "accounts: [{accountId: '222222222222', connectors: []}]",
            "roles: [{arn: 'arn:aws:iam::123456789012:role/r', trust: x}]",
        ] {
            let e = EmulatorData::from_yaml_str(yaml).expect_err(yaml);
            assert!(matches!(e, EmulatorError::Parse { .. }), "{yaml}: {e}");
        }
    }

    #[test]
    fn accounts_and_roles() {
        let d = EmulatorData::from_yaml_str(
            r#"
accounts:
  - accountId: "222222222222"
    customConnectors: [{label: team-b, supportedTriggerTypes: [Hourly]}]
roles:
  - arn: arn:aws:iam::222222222222:role/appflow-observer
    externalId: team-b
    sessionDurationSeconds: 20
  - arn: arn:aws:iam::123456789012:role/path/local
    assumable: false
"#,
        )
        .expect("valid");
        assert_eq!(d.default_account_id(), "123456789012");
        assert_eq!(d.accounts[0].custom_connectors[0].label, "team-b");
        assert!(d.roles[0].assumable);
        assert_eq!(d.roles[0].external_id.as_deref(), Some("team-b"));
        assert_eq!(d.roles[0].session_duration_seconds, Some(20));
        assert!(!d.roles[1].assumable);
        let w = d.warnings().join("\n");
        assert!(
            w.contains("custom connector team-b (account 222222222222)"),
            "{w}"
        );
        let json_text = serde_json::to_string(&d).expect("serialize");
        assert_eq!(EmulatorData::from_yaml_str(&json_text).expect("json"), d);
    }

    #[test]
    fn warnings_flag_values_outside_the_model() {
        let d = EmulatorData::from_yaml_str(
            "customConnectors: [{label: odd, supportedTriggerTypes: [Hourly], isOAuth2Supported: true}]\noverrides: {Slack: {connectorVersion: ''}}",
        )
        .expect("soft problems only");
        let w = d.warnings().join("\n");
        assert!(
            w.contains("custom connector odd: $.supportedTriggerTypes[0]: 'Hourly'"),
            "{w}"
        );
        assert!(w.contains("unknown member 'isOAuth2Supported'"), "{w}");
        assert!(w.contains("override Slack: $.connectorVersion"), "{w}");
        assert!(
            EmulatorData::from_yaml_str(EXAMPLE)
                .expect("ok")
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn missing_file() {
        let e = EmulatorData::from_file(Path::new("/nonexistent/data.yaml")).expect_err("missing");
        assert!(matches!(e, EmulatorError::Read { .. }));
        assert!(e.to_string().contains("/nonexistent/data.yaml"));
    }
}
