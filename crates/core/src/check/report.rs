//! Pure: `check`'s report and its four renderings (table, JSON, JUnit XML, GitHub workflow
//! annotations). The JSON form is documented by `docs/check-report.schema.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::input::{InputError, Source};
use super::verdict::{Outcome, Verdict};
use crate::requirements::{RequirementKey, Unmet};

/// The JSON report's `apiVersion`; bumped only for incompatible changes.
pub const REPORT_API_VERSION: &str = "check.appflow.connectorinfo.dev/v1";

/// Where the answers came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// DescribeConnector, through the controller's observation path and cache.
    Describe,
    /// Admission checks only.
    Offline,
    /// The live objects' status.
    Cluster,
}

/// One checked ConnectorInfo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The manifest file (absent for stdin and for objects listed from the cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Index in a `kind: List`'s `items`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub outcome: Outcome,
    /// The Ready condition's reason (`Described`, `ConnectorNotFound`, …), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
    /// Requirements not met, phrased for a person.
    pub missing: Vec<String>,
    /// The same requirements as data, for pipelines that match them.
    pub unmet: Vec<UnmetRequirement>,
    /// Why the API server would refuse the manifest.
    pub errors: Vec<String>,
}

/// A requirement not met, as data: the `spec.requirements` field it is listed under and the
/// item, both spelt as the CRD spells them, with the sentence `missing` has for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmetRequirement {
    pub requirement: RequirementKey,
    pub value: String,
    pub message: String,
}

impl From<&Unmet> for UnmetRequirement {
    fn from(unmet: &Unmet) -> Self {
        Self {
            requirement: unmet.requirement,
            value: unmet.value.clone(),
            message: unmet.message(),
        }
    }
}

/// What a result is about, before a verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub source: Option<Source>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub connector_type: Option<String>,
    pub connector_label: Option<String>,
    pub region: Option<String>,
}

impl CheckResult {
    pub fn new(subject: Subject, verdict: Verdict) -> Self {
        Self::build(
            subject,
            verdict.outcome,
            verdict.reason,
            verdict.message,
            &verdict.unmet,
            Vec::new(),
        )
    }

    pub fn invalid(subject: Subject, errors: Vec<String>) -> Self {
        let message = format!("the API server would refuse it: {}", errors.join("; "));
        Self::build(subject, Outcome::Invalid, None, message, &[], errors)
    }

    fn build(
        subject: Subject,
        outcome: Outcome,
        reason: Option<String>,
        message: String,
        unmet: &[Unmet],
        errors: Vec<String>,
    ) -> Self {
        let source = subject.source;
        Self {
            file: source.as_ref().and_then(|s| s.file.clone()),
            line: source.as_ref().map(|s| s.line),
            item: source.as_ref().and_then(|s| s.item),
            namespace: subject.namespace,
            name: subject.name,
            connector_type: subject.connector_type,
            connector_label: subject.connector_label,
            region: subject.region,
            outcome,
            reason,
            message,
            missing: unmet.iter().map(Unmet::message).collect(),
            unmet: unmet.iter().map(UnmetRequirement::from).collect(),
            errors,
        }
    }

    /// `namespace/name`, or the name alone, or `-`.
    pub fn object(&self) -> String {
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            (None, Some(name)) => name.clone(),
            _ => "-".into(),
        }
    }

    /// `file:line`, when the object came from a manifest.
    pub fn location(&self) -> Option<String> {
        let line = self.line?;
        Some(
            Source {
                file: self.file.clone(),
                line,
                item: self.item,
            }
            .location(),
        )
    }

    /// The reasons it did not pass, one per line of a report; the message when there is
    /// nothing more specific.
    fn details(&self) -> Vec<String> {
        if !self.errors.is_empty() {
            self.errors.clone()
        } else if !self.missing.is_empty() {
            self.missing.clone()
        } else {
            vec![self.message.clone()]
        }
    }
}

/// An input error as the JSON report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

impl InputProblem {
    /// `file:line`, as [`InputError::location`] says it.
    fn location(&self) -> String {
        InputError {
            file: self.file.clone(),
            line: self.line,
            message: String::new(),
        }
        .location()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub checked: usize,
    pub passed: usize,
    pub failed: usize,
    /// Results per outcome (every outcome listed, zeros included).
    pub outcomes: BTreeMap<&'static str, usize>,
    pub input_errors: usize,
    /// DescribeConnector calls made (0 offline and from the cluster).
    pub describe_calls: usize,
}

/// Everything `check` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub mode: Mode,
    pub summary: Summary,
    pub results: Vec<CheckResult>,
    pub input_errors: Vec<InputProblem>,
}

/// Exit codes: every object passed; some did not; the input could not all be read or the
/// command was misused.
pub const EXIT_PASSED: u8 = 0;
pub const EXIT_NOT_READY: u8 = 1;
pub const EXIT_INPUT: u8 = 2;

impl Report {
    pub fn new(
        mode: Mode,
        results: Vec<CheckResult>,
        input_errors: &[InputError],
        describe_calls: usize,
    ) -> Self {
        let mut outcomes: BTreeMap<&'static str, usize> =
            Outcome::ALL.iter().map(|o| (o.as_str(), 0)).collect();
        for result in &results {
            *outcomes.entry(result.outcome.as_str()).or_default() += 1;
        }
        let passed = results.iter().filter(|r| r.outcome.passed()).count();
        Self {
            api_version: REPORT_API_VERSION,
            kind: "CheckReport",
            mode,
            summary: Summary {
                checked: results.len(),
                passed,
                failed: results.len() - passed,
                outcomes,
                input_errors: input_errors.len(),
                describe_calls,
            },
            results,
            input_errors: input_errors
                .iter()
                .map(|e| InputProblem {
                    file: e.file.clone(),
                    line: e.line,
                    message: e.message.clone(),
                })
                .collect(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        if !self.input_errors.is_empty() {
            EXIT_INPUT
        } else if self.summary.failed > 0 {
            EXIT_NOT_READY
        } else {
            EXIT_PASSED
        }
    }

    /// One line per object (location, object, type, outcome, what is missing), then a summary.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "LOCATION".to_owned(),
            "OBJECT".to_owned(),
            "TYPE".to_owned(),
            "RESULT".to_owned(),
            "DETAIL".to_owned(),
        ]];
        for result in &self.results {
            let kind = match (&result.connector_type, &result.connector_label) {
                (Some(t), Some(l)) => format!("{t}/{l}"),
                (Some(t), None) => t.clone(),
                _ => "-".into(),
            };
            let detail = if result.outcome.passed() {
                String::new()
            } else {
                result.details().join("; ")
            };
            rows.push([
                result.location().unwrap_or_else(|| "-".into()),
                result.object(),
                kind,
                result.outcome.as_str().to_owned(),
                detail,
            ]);
        }
        for problem in &self.input_errors {
            rows.push([
                problem.location(),
                "-".into(),
                "-".into(),
                "InputError".into(),
                problem.message.clone(),
            ]);
        }
        // Objects listed from the cluster have no manifest location: no empty column.
        let first = usize::from(rows.iter().skip(1).all(|row| row[0] == "-"));
        let mut widths = [0; 4];
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(widths).skip(first) {
                line.push_str(&format!("{cell:<width$}   "));
            }
            line.push_str(&row[4]);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// `4 checked: 3 passed, 1 failed (1 RequirementsNotMet); 0 input errors; 2 describe calls`.
    pub fn summary_line(&self) -> String {
        let failed: Vec<String> = self
            .summary
            .outcomes
            .iter()
            .filter(|(outcome, count)| {
                **count > 0
                    && !Outcome::ALL
                        .iter()
                        .any(|o| o.as_str() == **outcome && o.passed())
            })
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect();
        let failed = if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        };
        format!(
            "{} checked: {} passed, {} failed{failed}; {} input errors; {} describe calls",
            self.summary.checked,
            self.summary.passed,
            self.summary.failed,
            self.summary.input_errors,
            self.summary.describe_calls
        )
    }

    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|text| text + "\n")
    }

    /// One testcase per ConnectorInfo (classname: its file), one per input error.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new("appflow-connector-operator check");
        for result in &self.results {
            let status = if result.outcome.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(result.message.as_str())
                    .set_type(result.outcome.as_str())
                    .set_description(result.details().join("\n"));
                status
            };
            let name = match result.location() {
                Some(location) => format!("{} ({location})", result.object()),
                None => result.object(),
            };
            let mut case = TestCase::new(name, status);
            // The file; stdin's documents have a line but no file; live objects neither.
            let fallback = if result.line.is_some() {
                "<stdin>"
            } else {
                "cluster"
            };
            case.set_classname(result.file.as_deref().unwrap_or(fallback));
            suite.add_test_case(case);
        }
        for problem in &self.input_errors {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(problem.message.as_str())
                .set_type("InputError");
            let mut case = TestCase::new(problem.location(), status);
            case.set_classname(problem.file.as_deref().unwrap_or("<stdin>"));
            suite.add_test_case(case);
        }
        let mut report = quick_junit::Report::new("appflow-connector-operator");
        report.add_test_suite(suite);
        report.to_string()
    }

    /// GitHub Actions workflow commands: an `::error` annotation on the manifest line of each
    /// object that does not pass and each input error, then the summary as plain text.
    pub fn github(&self) -> String {
        let mut out = String::new();
        for result in self.results.iter().filter(|r| !r.outcome.passed()) {
            let title = format!(
                "ConnectorInfo {}: {}",
                result.object(),
                result.outcome.as_str()
            );
            out.push_str(&annotation(
                result.file.as_deref(),
                result.line,
                &title,
                &result.details().join("\n"),
            ));
        }
        for problem in &self.input_errors {
            out.push_str(&annotation(
                problem.file.as_deref(),
                problem.line,
                "Unreadable manifest",
                &problem.message,
            ));
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }
}

/// `::error file=…,line=…,title=…::message`, escaped as the workflow-command syntax requires.
fn annotation(file: Option<&str>, line: Option<usize>, title: &str, message: &str) -> String {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
    }
    properties.push(format!("title={}", escape_property(title)));
    format!(
        "::error {}::{}\n",
        properties.join(","),
        escape_data(message)
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome, unmet: &[Unmet]) -> CheckResult {
        CheckResult::new(
            Subject {
                source: Some(Source {
                    file: Some("apps/a,b.yaml".into()),
                    line: 7,
                    item: None,
                }),
                namespace: Some("team-a".into()),
                name: Some("crm".into()),
                connector_type: Some("CustomConnector".into()),
                connector_label: Some("acme".into()),
                region: None,
            },
            Verdict {
                outcome,
                reason: Some("RequirementsNotMet".into()),
                message: "100% not\nok".into(),
                unmet: unmet.to_vec(),
            },
        )
    }

    fn report() -> Report {
        Report::new(
            Mode::Describe,
            vec![
                result(Outcome::Ready, &[]),
                result(
                    Outcome::RequirementsNotMet,
                    &[Unmet::new(RequirementKey::AuthModes, "ApiKey")],
                ),
            ],
            &[InputError {
                file: Some("broken.yaml".into()),
                line: Some(3),
                message: "not valid YAML: did not find expected key".into(),
            }],
            1,
        )
    }

    #[test]
    fn exit_codes_rank_input_errors_over_failures() {
        assert_eq!(report().exit_code(), EXIT_INPUT);
        let failing = Report::new(Mode::Describe, vec![result(Outcome::Failed, &[])], &[], 1);
        assert_eq!(failing.exit_code(), EXIT_NOT_READY);
        let passing = Report::new(Mode::Offline, vec![result(Outcome::Valid, &[])], &[], 0);
        assert_eq!(passing.exit_code(), EXIT_PASSED);
    }

    #[test]
    fn table_has_one_line_per_object_and_a_summary() {
        let table = report().table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[0].starts_with("LOCATION"));
        assert!(lines[1].contains("apps/a,b.yaml:7") && lines[1].contains("team-a/crm"));
        assert!(
            lines[2].ends_with("RequirementsNotMet   auth mode ApiKey is not supported"),
            "{table}"
        );
        assert!(lines[3].starts_with("broken.yaml:3") && lines[3].contains("InputError"));
        assert_eq!(
            lines[4],
            "2 checked: 1 passed, 1 failed (1 RequirementsNotMet); 1 input errors; 1 describe calls"
        );
    }

    #[test]
    fn objects_from_the_cluster_have_no_location_column() {
        let mut live = result(Outcome::Ready, &[]);
        (live.file, live.line) = (None, None);
        let table = Report::new(Mode::Cluster, vec![live], &[], 0).table();
        assert!(table.starts_with("OBJECT"), "{table}");
        assert!(
            table.lines().nth(1).unwrap().starts_with("team-a/crm"),
            "{table}"
        );
    }

    #[test]
    fn github_annotations_are_escaped() {
        let text = report().github();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=apps/a%2Cb.yaml,line=7,title=ConnectorInfo team-a/crm%3A RequirementsNotMet::auth mode ApiKey is not supported"
        );
        assert_eq!(
            lines[1],
            "::error file=broken.yaml,line=3,title=Unreadable manifest::not valid YAML: did not find expected key"
        );
        assert_eq!(escape_data("100% a\nb"), "100%25 a%0Ab");
    }

    #[test]
    fn json_lists_every_outcome() {
        let value: serde_json::Value = serde_json::from_str(&report().json().unwrap()).unwrap();
        assert_eq!(value["apiVersion"], REPORT_API_VERSION);
        assert_eq!(
            value["summary"]["outcomes"].as_object().unwrap().len(),
            Outcome::ALL.len()
        );
        assert_eq!(
            value["results"][1]["missing"][0],
            "auth mode ApiKey is not supported"
        );
    }

    #[test]
    fn json_gives_each_unmet_requirement_as_data_too() {
        let unmet = [
            Unmet::new(RequirementKey::UsableAs, "Destination"),
            Unmet::new(RequirementKey::CustomAuthTypes, "HMAC"),
        ];
        let report = Report::new(
            Mode::Cluster,
            vec![
                result(Outcome::RequirementsNotMet, &unmet),
                result(Outcome::Ready, &[]),
            ],
            &[],
            0,
        );
        let value: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(
            value["results"][0]["unmet"],
            serde_json::json!([
                {"requirement": "usableAs", "value": "Destination", "message": "cannot be used as a destination"},
                {"requirement": "customAuthTypes", "value": "HMAC", "message": "custom auth type HMAC is not offered"},
            ])
        );
        assert_eq!(
            value["results"][0]["missing"],
            serde_json::json!([
                "cannot be used as a destination",
                "custom auth type HMAC is not offered"
            ])
        );
        // Always present, so a pipeline can iterate without a guard.
        assert_eq!(value["results"][1]["unmet"], serde_json::json!([]));
        let invalid = CheckResult::invalid(Subject::default(), vec!["bad".into()]);
        assert!(invalid.unmet.is_empty() && invalid.missing.is_empty());
    }
}
