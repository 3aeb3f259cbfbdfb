//! `appflow-connector-operator describe` as a process: output and exit codes.

use std::process::Output;

use tokio::process::Command;

use crate::support::{DATA, Emulator};

const BIN: &str = env!("CARGO_BIN_EXE_appflow-connector-operator");

/// The binary with a clean AWS environment: static test credentials, no profile, no IMDS.
fn clean_describe() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("describe")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret");
    cmd
}

/// `describe` pointed at the emulator with `--endpoint-url`.
fn describe(emulator: &Emulator, args: &[&str]) -> Command {
    let mut cmd = clean_describe();
    cmd.args(emulator.cli_args()).args(args);
    cmd
}

/// Asserts the exit code, showing stderr when it differs.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ready_reason(output: &Output) -> String {
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json status");
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap();
    format!(
        "{}/{}",
        ready["status"].as_str().unwrap(),
        ready["reason"].as_str().unwrap()
    )
}

#[tokio::test]
async fn ready_connector_exits_zero_with_status_yaml() {
    let emulator = Emulator::start(DATA).await;
    let output = describe(&emulator, &["--connector-type", "Salesforce"])
        .output()
        .await
        .unwrap();
    assert_exit(&output, 0);
    let text = stdout(&output);
    let status: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    assert_eq!(
        status["connectorConfiguration"]["connectorType"].as_str(),
        Some("Salesforce")
    );
    assert!(text.contains("type: Ready"), "{text}");
}

#[tokio::test]
async fn manifest_requirements_are_evaluated() {
    let emulator = Emulator::start(DATA).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("conninfo.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: appflow.connectorinfo.dev/v1alpha1
kind: ConnectorInfo
metadata: {name: acme, namespace: default, generation: 2}
spec:
  connectorType: CustomConnector
  connectorLabel: acme-crm
  requirements:
    authModes: [OAuth2, Basic]
    oauth2GrantTypes: [CLIENT_CREDENTIALS, JWT_BEARER]
"#,
    )
    .unwrap();
    let output = describe(&emulator, &["-f", manifest.to_str().unwrap(), "-o", "json"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(ready_reason(&output), "False/RequirementsNotMet");
    let text = stdout(&output);
    assert!(
        text.contains("auth mode Basic") && text.contains("JWT_BEARER"),
        "{text}"
    );
    assert!(text.contains("\"observedGeneration\": 2"), "{text}");
}

#[tokio::test]
async fn service_errors_exit_one_with_reason() {
    let emulator = Emulator::start(DATA).await;
    let output = describe(
        &emulator,
        &[
            "--connector-type",
            "CustomConnector",
            "--connector-label",
            "ghost",
            "-o",
            "json",
        ],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(ready_reason(&output), "False/ConnectorNotFound");
}

#[tokio::test]
async fn missing_credentials_are_reported() {
    let emulator = Emulator::start(DATA).await;
    let output = describe(&emulator, &["--connector-type", "Slack", "-o", "json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .await
        .unwrap();
    assert_exit(&output, 1);
    assert_eq!(ready_reason(&output), "False/CredentialsUnavailable");
}

#[tokio::test]
async fn usage_errors_exit_two() {
    let emulator = Emulator::start(DATA).await;
    for args in [
        vec!["--connector-type", "Salesforse"],
        vec!["--connector-type", "CustomConnector"],
        vec![
            "--connector-type",
            "CustomConnector",
            "--connector-label",
            "-bad",
        ],
        vec![],
    ] {
        let output = describe(&emulator, &args).output().await.unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
    assert_eq!(emulator.calls("CustomConnector/-bad").await, 0);
}

#[tokio::test]
async fn standard_endpoint_variable_is_honoured() {
    let emulator = Emulator::start(DATA).await;
    let output = clean_describe()
        .args([
            "--connector-type",
            "Datadog",
            "--region",
            "eu-west-1",
            "-o",
            "json",
        ])
        .env("AWS_ENDPOINT_URL_APPFLOW", &emulator.url)
        .output()
        .await
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(emulator.calls("Datadog").await, 1);
}
