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
