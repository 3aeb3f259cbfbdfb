//! What `check`'s JSON report must say about the fixture repository (tests/fixtures/check), for
//! the `check` tests of both suites.

use std::collections::BTreeMap;

use serde_json::Value;

/// What the fixture repository must produce (tests/fixtures/check/README.md).
pub const EXPECTED: &[(&str, &str)] = &[
    ("acme-crm-source", "Ready"),
    ("salesforce-jwt", "Ready"),
    ("slack-source", "Ready"),
    ("slack-destination", "RequirementsNotMet"),
    ("salesforce-1", "Ready"),
    ("salesforce-2", "Ready"),
    ("salesforce-3", "Ready"),
    ("salesforce-4", "Ready"),
    ("salesforce-5", "Ready"),
    ("datadog-basic", "RequirementsNotMet"),
    ("unregistered-crm", "Failed"),
];

/// What the fixture repository's objects that miss a requirement must list in `unmet`:
/// (name, requirement, value, message). Every other object lists nothing.
pub const EXPECTED_UNMET: &[(&str, &str, &str, &str)] = &[
    (
        "slack-destination",
        "usableAs",
        "Destination",
        "cannot be used as a destination",
    ),
    (
        "datadog-basic",
        "authModes",
        "Basic",
        "auth mode Basic is not supported",
    ),
];

/// One `unmet` entry of a JSON report: (requirement, value, message).
pub type UnmetEntry = (String, String, String);

/// name -> its `unmet` entries, for every result of a JSON report.
pub fn unmet(report: &Value) -> BTreeMap<String, Vec<UnmetEntry>> {
    let text = |v: &Value| v.as_str().expect("a string").to_owned();
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let entries = r["unmet"]
                .as_array()
                .expect("unmet")
                .iter()
                .map(|u| {
                    (
                        text(&u["requirement"]),
                        text(&u["value"]),
                        text(&u["message"]),
                    )
                })
                .collect();
            (r["name"].as_str().unwrap_or("-").to_owned(), entries)
        })
        .collect()
}

/// `unmet` is `missing` as data: one entry per sentence, in the same order, with the same
/// sentence.
pub fn assert_unmet_is_missing_as_data(report: &Value) {
    for result in report["results"].as_array().expect("results") {
        let sentences: Vec<&Value> = result["unmet"]
            .as_array()
            .expect("unmet")
            .iter()
            .map(|u| &u["message"])
            .collect();
        let missing: Vec<&Value> = result["missing"]
            .as_array()
            .expect("missing")
            .iter()
            .collect();
        assert_eq!(sentences, missing, "{result:#}");
    }
}

/// name -> outcome of a JSON report.
pub fn outcomes(report: &Value) -> BTreeMap<String, String> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("-").to_owned(),
                r["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

/// Every report must match the documented schema.
pub fn assert_matches_documented_schema(report: &Value) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/check-report.schema.json"
    ))
    .expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
}
