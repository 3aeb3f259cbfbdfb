//! `appflow-connector-operator describe` as a process: output and exit codes.

use std::process::Output;

use tokio::process::Command;

use conninfo_test_support::{DATA, Emulator};

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
        r#"apiVersion: appflow.connectorinfo.dev/v1beta1
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

/// A pipeline checks a tenant's connectors as the tenant account's role the way the AWS CLI
/// does: a profile with `role_arn`, assumed by the SDK's default chain over its source profile.
/// The answer comes from the role's account (a custom connector registered only there).
#[tokio::test]
async fn a_profile_with_a_role_describes_in_the_roles_account() {
    let emulator = Emulator::start(include_str!("../../hack/demo/emulator-data.yaml")).await;
    let home = tempfile::tempdir().expect("temp dir");
    let config = home.path().join("config");
    std::fs::write(
        &config,
        "[profile ci]\n\
         aws_access_key_id = AKIDTEST\n\
         aws_secret_access_key = test-secret\n\
         \n\
         [profile team-a]\n\
         role_arn = arn:aws:iam::222222222222:role/appflow-connector-operator\n\
         external_id = team-a-7f3c\n\
         source_profile = ci\n",
    )
    .expect("AWS config");
    let describe_as = |profile: &str| {
        let mut cmd = Command::new(BIN);
        cmd.arg("describe")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", profile)
            // The profile's own STS client reads its endpoint from the environment or the
            // profile, not from --endpoint-url.
            .env("AWS_ENDPOINT_URL", &emulator.url)
            .args(["--region", "us-east-1", "--aws-max-attempts", "1"])
            .args(["--connector-type", "CustomConnector"])
            .args(["--connector-label", "team-a-crm", "-o", "json"]);
        cmd
    };

    let as_role = describe_as("team-a").output().await.unwrap();
    assert_exit(&as_role, 0);
    let status: serde_json::Value = serde_json::from_slice(&as_role.stdout).expect("json");
    assert_eq!(status["accountId"], "222222222222", "{status}");
    assert_eq!(ready_reason(&as_role), "True/Described");
    let stats = emulator.stats().await;
    let assumed =
        &stats["sts"]["assumeRole"]["arn:aws:iam::222222222222:role/appflow-connector-operator"];
    assert_eq!(assumed["succeeded"], 1, "{stats}");

    // The pipeline's own account does not have it.
    let as_self = describe_as("ci").output().await.unwrap();
    assert_exit(&as_self, 1);
    assert_eq!(ready_reason(&as_self), "False/ConnectorNotFound");
}
