//! An in-process AppFlow emulator on a loopback port, and AppFlow clients pointed at it.

use std::time::Duration;

use aws_credential_types::Credentials;
use conninfo_aws::appflow::{AppFlow, AwsSettings};
use serde_json::Value;

/// A running emulator (the emulator crate's in-process harness); stops when dropped.
pub struct Emulator {
    pub url: String,
    _running: appflow_emulator::harness::Running,
}

impl Emulator {
    /// Starts the emulator with a data file's content (YAML). The port is bound before this
    /// returns, so callers can connect at once.
    pub async fn start(data_yaml: &str) -> Emulator {
        let running = appflow_emulator::harness::Running::start_yaml(data_yaml)
            .await
            .expect("emulator");
        Emulator {
            url: running.url.clone(),
            _running: running,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        tokio::task::spawn_blocking(move || {
            let mut response = ureq::post(&url)
                .send_json(&body)
                .expect("emulator control call");
            response
                .body_mut()
                .read_json::<Value>()
                .unwrap_or(Value::Null)
        })
        .await
        .expect("blocking task")
    }

    /// Sets (or with `Value::Null` clears) the fault for a connector key.
    pub async fn set_fault(&self, key: &str, fault: Value) {
        self.post(
            "/_emulator/faults",
            serde_json::json!({"key": key, "fault": fault}),
        )
        .await;
    }

    /// The emulator's `/_emulator/stats`.
    pub async fn stats(&self) -> Value {
        let url = format!("{}/_emulator/stats", self.url);
        tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .expect("stats")
                .body_mut()
                .read_json::<Value>()
                .expect("stats json")
        })
        .await
        .expect("blocking task")
    }

    /// Calls per connector key so far.
    pub async fn calls(&self, key: &str) -> u64 {
        self.stats().await["calls"][key].as_u64().unwrap_or(0)
    }

    /// The command-line flags that point `describe` or `check` at this emulator, with one
    /// attempt per call.
    pub fn cli_args(&self) -> [&str; 6] {
        [
            "--endpoint-url",
            &self.url,
            "--region",
            "us-east-1",
            "--aws-max-attempts",
            "1",
        ]
    }

    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.url.clone()),
            max_attempts: 1,
            attempt_timeout: Duration::from_secs(5),
            ..AwsSettings::default()
        }
    }

    /// An AppFlow client with static test credentials pointed at this emulator.
    pub async fn appflow(&self, settings: AwsSettings) -> AppFlow {
        let credentials = Credentials::new("AKIDTEST", "test-secret", None, None, "tests");
        AppFlow::from_sdk_config(
            AppFlow::loader(&settings)
                .credentials_provider(credentials)
                .load()
                .await,
        )
    }
}

/// Data every suite can use: one custom connector with OAuth2 and a custom auth type.
pub const DATA: &str = r#"
customConnectors:
  - label: acme-crm
    authenticationConfig:
      isOAuth2Supported: true
      isCustomAuthSupported: true
      oAuth2Defaults:
        oauth2GrantTypesSupported: [CLIENT_CREDENTIALS]
        tokenUrls: ["https://login.acme.example/oauth/token"]
      customAuthConfigs:
        - customAuthenticationType: HMAC
          authParameters:
            - key: secret
              isRequired: true
              label: Secret
              isSensitiveField: true
"#;
