//! `appflow-connector-operator check` as a process against the AppFlow emulator, over the
//! fixture repository in tests/fixtures/check: verdicts, one AWS call per connector, exit
//! codes and every output format (the JUnit XML is also parsed by Python, tests/python).

use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

use conninfo_core::requirements::RequirementKey;
use conninfo_test_support::check_report::{
    EXPECTED, EXPECTED_UNMET, assert_matches_documented_schema, assert_unmet_is_missing_as_data,
    outcomes, unmet,
};
use conninfo_test_support::{DATA, Emulator};

const BIN: &str = env!("CARGO_BIN_EXE_appflow-connector-operator");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/check");

/// `check` with test credentials and a clean AWS environment, run from the fixtures
/// directory so that reported paths are short and stable.
fn check(emulator: Option<&Emulator>, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(FIXTURES)
        .arg("check")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(emulator) = emulator {
        cmd.args(emulator.cli_args())
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret");
    }
    cmd
}

async fn run(mut cmd: Command) -> Output {
    cmd.output().await.expect("run check")
}

fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn a_repository_is_judged_with_one_call_per_connector() {
    let emulator = Emulator::start(DATA).await;
    let output = run(check(Some(&emulator), &["repo", "-o", "json"])).await;
    assert_eq!(exit_code(&output), 1, "{}", stdout(&output));
    let report = json(&output);
    assert_matches_documented_schema(&report);
    let found = outcomes(&report);
    for (name, outcome) in EXPECTED {
        assert_eq!(
            found.get(*name).map(String::as_str),
            Some(*outcome),
            "{name}: {report:#}"
        );
    }
    let invalid: Vec<&String> = found
        .iter()
        .filter(|(_, o)| o.as_str() == "Invalid")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(invalid.len(), 14, "{invalid:?}");
    assert_eq!(
        found.len(),
        EXPECTED.len() + 14,
        "nothing else, nothing hidden: {found:?}"
    );
    assert!(!found.contains_key("hidden-and-skipped"));

    // One DescribeConnector per distinct connector, however many objects name it.
    let stats = emulator.stats().await;
    for key in [
        "Salesforce",
        "Slack",
        "Datadog",
        "CustomConnector/acme-crm",
        "CustomConnector/not-registered",
    ] {
        assert_eq!(stats["calls"][key], 1, "{key}: {stats}");
    }
    assert_eq!(stats["total"], 5, "{stats}");
    assert_eq!(report["summary"]["describeCalls"], 5);
    assert_eq!(report["summary"]["outcomes"]["Invalid"], 14);

    // Where each object is: file and the line its document starts on; List items by index.
    let result = |name: &str| -> Value {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let source = result("acme-crm-source");
    assert_eq!(source["file"], "repo/apps/crm/connectorinfos.yaml");
    assert_eq!(source["line"], 9);
    let item = result("slack-destination");
    assert_eq!(
        (item["line"].clone(), item["item"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(item["missing"][0], "cannot be used as a destination");

    // Unmet requirements as data: the spec.requirements key and the item, as the CRD spells them.
    assert_unmet_is_missing_as_data(&report);
    let entries = unmet(&report);
    for (name, requirement, value, message) in EXPECTED_UNMET {
        assert_eq!(
            entries[*name],
            [(
                requirement.to_string(),
                value.to_string(),
                message.to_string()
            )],
            "{name}: {report:#}"
        );
    }
    let listed: Vec<&String> = entries
        .iter()
        .filter(|(_, u)| !u.is_empty())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(listed.len(), EXPECTED_UNMET.len(), "only those: {listed:?}");
    assert_eq!(result("unregistered-crm")["reason"], "ConnectorNotFound");
    let refused = result("custom-without-label");
    assert!(
        refused["errors"][0]
            .as_str()
            .unwrap()
            .contains("spec.connectorLabel is required when spec.connectorType is CustomConnector"),
        "{refused}"
    );
    assert_eq!(
        emulator.stats().await["total"],
        5,
        "invalid manifests are never described"
    );
}

#[tokio::test]
async fn offline_needs_no_credentials_and_describes_nothing() {
    let good = run(check(None, &["repo/apps", "repo/teams", "--offline"])).await;
    assert_eq!(exit_code(&good), 0, "{}", stdout(&good));
    let table = stdout(&good);
    assert!(table.starts_with("LOCATION"), "{table}");
    assert_eq!(
        table.lines().last(),
        Some("11 checked: 11 passed, 0 failed; 0 input errors; 0 describe calls"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 1 + 11 + 1, "{table}");
    let everything = run(check(None, &["repo", "--offline", "-o", "json"])).await;
    assert_eq!(exit_code(&everything), 1);
    let report = json(&everything);
    assert_matches_documented_schema(&report);
    assert_eq!(report["mode"], "offline");
    assert_eq!(report["summary"]["outcomes"]["Valid"], EXPECTED.len());
    assert_eq!(report["summary"]["outcomes"]["Invalid"], 14);
}

#[tokio::test]
async fn organisation_requirements_apply_to_every_object() {
    let emulator = Emulator::start(DATA).await;
    let output = run(check(
        Some(&emulator),
        &[
            "repo/apps/crm",
            "--require",
            "oauth2GrantTypes=AUTHORIZATION_CODE",
            "-o",
            "json",
        ],
    ))
    .await;
    assert_eq!(exit_code(&output), 1);
    let report = json(&output);
    let found = outcomes(&report);
    assert_eq!(found["salesforce-jwt"], "Ready");
    assert_eq!(found["acme-crm-source"], "RequirementsNotMet");
    assert_eq!(
        report["results"][0]["missing"],
        serde_json::json!(["OAuth2 grant type AUTHORIZATION_CODE is not supported"])
    );
    assert_eq!(
        report["results"][0]["unmet"],
        serde_json::json!([{
            "requirement": "oauth2GrantTypes",
            "value": "AUTHORIZATION_CODE",
            "message": "OAuth2 grant type AUTHORIZATION_CODE is not supported",
        }])
    );
    assert_matches_documented_schema(&report);
    assert_unmet_is_missing_as_data(&report);
}

/// Every key of `spec.requirements` comes out as its own entry: Datadog (API key auth, source
/// only) offers none of these.
#[tokio::test]
async fn every_requirement_key_is_reported_as_data() {
    let emulator = Emulator::start(DATA).await;
    let output = run(check(
        Some(&emulator),
        &[
            "repo/teams/b/datadog.json",
            "--require",
            "oauth2GrantTypes=JWT_BEARER",
            "--require",
            "customAuthTypes=HMAC",
            "--require",
            "usableAs=Destination",
            "-o",
            "json",
        ],
    ))
    .await;
    assert_eq!(exit_code(&output), 1, "{}", stdout(&output));
    let report = json(&output);
    assert_matches_documented_schema(&report);
    assert_unmet_is_missing_as_data(&report);
    let entry = |requirement: &str, value: &str, message: &str| {
        (requirement.to_owned(), value.to_owned(), message.to_owned())
    };
    assert_eq!(
        unmet(&report)["datadog-basic"],
        [
            entry("authModes", "Basic", "auth mode Basic is not supported"),
            entry(
                "oauth2GrantTypes",
                "JWT_BEARER",
                "OAuth2 grant type JWT_BEARER is not supported"
            ),
            entry(
                "customAuthTypes",
                "HMAC",
                "custom auth type HMAC is not offered"
            ),
            entry("usableAs", "Destination", "cannot be used as a destination"),
        ]
    );
}

/// The schema's `requirement` enum is exactly the keys the binary reports.
#[test]
fn the_schema_lists_every_requirement_key() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/check-report.schema.json"
    ))
    .expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    let listed = &schema["properties"]["results"]["items"]["properties"]["unmet"]["items"]["properties"]
        ["requirement"]["enum"];
    let keys: Vec<&str> = RequirementKey::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(*listed, serde_json::json!(keys));
}

#[tokio::test]
async fn stdin_and_github_annotations() {
    let emulator = Emulator::start(DATA).await;
    let mut cmd = check(
        Some(&emulator),
        &["-", "-o", "github", "--require", "authModes=ApiKey"],
    );
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let fleet = std::fs::read(format!("{FIXTURES}/repo/teams/b/salesforce-fleet.yaml")).unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&fleet).await.unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(exit_code(&output), 1);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for (index, line) in lines[..5].iter().enumerate() {
        // stdin has no file to annotate: the annotation goes on the run.
        assert_eq!(
            *line,
            format!(
                "::error title=ConnectorInfo salesforce-{}%3A RequirementsNotMet::auth mode ApiKey is not supported",
                index + 1
            )
        );
    }
    assert_eq!(
        lines[5],
        "5 checked: 0 passed, 5 failed (5 RequirementsNotMet); 0 input errors; 1 describe calls"
    );

    let files = run(check(Some(&emulator), &["repo/teams", "-o", "github"])).await;
    let text = stdout(&files);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        "::error file=repo/teams/b/datadog.json,line=1,title=ConnectorInfo datadog-basic%3A RequirementsNotMet::auth mode Basic is not supported"
    );
    let failed = "::error file=repo/teams/c/unregistered.yml,line=2,title=ConnectorInfo unregistered-crm%3A Failed::";
    assert!(
        lines[1].starts_with(failed) && lines[1].contains("not-registered"),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "7 checked: 5 passed, 2 failed (1 Failed, 1 RequirementsNotMet); 0 input errors; 3 describe calls"
    );
}

#[tokio::test]
async fn unreadable_input_exits_two_and_the_rest_is_still_checked() {
    let emulator = Emulator::start(DATA).await;
    let output = run(check(Some(&emulator), &["broken", "-o", "json"])).await;
    assert_eq!(exit_code(&output), 2);
    let report = json(&output);
    assert_matches_documented_schema(&report);
    assert_eq!(outcomes(&report)["fine"], "Ready");
    let problem = &report["inputErrors"][0];
    assert_eq!(problem["file"], "broken/manifests.yaml");
    assert!(
        (7..=13).contains(&problem["line"].as_u64().unwrap()),
        "{problem}"
    );
    let missing = run(check(None, &["no/such/dir", "--offline"])).await;
    assert_eq!(exit_code(&missing), 2);
    assert!(
        stdout(&missing).contains("InputError"),
        "{}",
        stdout(&missing)
    );
    let usage = run(check(None, &["repo", "--require", "colour=blue"])).await;
    assert_eq!(exit_code(&usage), 2);
}

#[tokio::test]
async fn junit_has_one_testcase_per_connector_info() {
    let emulator = Emulator::start(DATA).await;
    let output = run(check(Some(&emulator), &["repo/teams", "-o", "junit"])).await;
    assert_eq!(exit_code(&output), 1);
    let report = quick_junit::Report::deserialize_from_str(&stdout(&output)).expect("junit");
    let suite = &report.test_suites[0];
    assert_eq!(suite.test_cases.len(), 7);
    assert_eq!(suite.failures, 2);
}

/// Every `check` command line in the shipped CI and GitOps examples is one the binary accepts.
#[test]
fn the_examples_run_commands_the_binary_accepts() {
    use appflow_connector_operator::cli::Cli;
    use clap::Parser;
    let root = env!("CARGO_MANIFEST_DIR");
    let mut seen = 0;
    for example in ["deploy/ci/github-actions.yaml", "deploy/ci/gitlab-ci.yml"] {
        let text = std::fs::read_to_string(format!("{root}/{example}")).expect("example");
        let _: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((_, rest)) = line.split_once("appflow-connector-operator check") else {
                continue;
            };
            let command = rest.split(['>', '|']).next().unwrap_or_default();
            let args = ["appflow-connector-operator", "check"]
                .into_iter()
                .chain(command.split_whitespace());
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{example}: {line}\n{e}");
            }
            seen += 1;
        }
    }
    let hook =
        std::fs::read_to_string(format!("{root}/deploy/argocd/postsync-check.yaml")).unwrap();
    for document in serde_yaml_ng::Deserializer::from_str(&hook) {
        let value: Value = serde::Deserialize::deserialize(document).expect("yaml");
        if value["kind"] == "Job" {
            let args: Vec<String> = serde_json::from_value(
                value["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
            )
            .unwrap();
            Cli::try_parse_from(
                std::iter::once("appflow-connector-operator".to_owned()).chain(args),
            )
            .expect("hook args");
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
}
