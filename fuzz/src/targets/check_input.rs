//! `check`'s input: any text as a manifest stream (YAML or JSON, several documents, `List`s),
//! then what `check --offline` and `--from-cluster` do with each ConnectorInfo in it, and the
//! reports in every format.

use conninfo_core::admission;
use conninfo_core::check::input::{self, Document, InputError};
use conninfo_core::check::report::{CheckResult, Mode, Report, Subject};
use conninfo_core::check::verdict::{self, Outcome, Verdict};
use conninfo_core::crd::Requirements;

/// One input, as libFuzzer hands it over; panics on a broken invariant.
pub fn run(data: &[u8]) {
    // `check` reads files and stdin as UTF-8; anything else is a read error before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mut documents, mut errors) = (Vec::new(), Vec::new());
    input::parse_stream(Some("fuzz.yaml".into()), text, &mut documents, &mut errors);
    assert_lines_within(text, &documents, &errors);
    let results: Vec<CheckResult> = documents.iter().filter_map(judged).collect();
    let report = Report::new(Mode::Offline, results, &errors, 0);
    assert!(report.exit_code() <= 2);
    report.table();
    report.summary_line();
    report.github();
    let json = report.json().expect("the JSON report serialises");
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON report parses");
    report.junit().expect("the JUnit report serialises");
}

/// Every document and every error points at a line of the input.
fn assert_lines_within(text: &str, documents: &[Document], errors: &[InputError]) {
    let lines = text.lines().count();
    for document in documents {
        let line = document.source.line;
        assert!((1..=lines).contains(&line), "document at {line} of {lines}");
    }
    for error in errors {
        let line = error.line.expect("a parse error has a line");
        assert!(
            (1..=lines.max(1)).contains(&line),
            "error at {line} of {lines}"
        );
    }
}

/// What `check --offline` concludes for a ConnectorInfo; for an admitted one with a status,
/// also what `--from-cluster` would.
fn judged(document: &Document) -> Option<CheckResult> {
    if !admission::is_connector_info(&document.value) {
        return None;
    }
    let subject = Subject {
        source: Some(document.source.clone()),
        ..Subject::default()
    };
    let object = match admission::admit(&document.value) {
        Ok(object) => object,
        Err(refused) => {
            assert!(!refused.0.is_empty(), "a refusal names a reason");
            let errors = refused.0.iter().map(ToString::to_string).collect();
            return Some(CheckResult::invalid(subject, errors));
        }
    };
    let required = verdict::merge(object.spec.requirements.as_ref(), &Requirements::default());
    let live = verdict::judge(
        object.status.as_ref(),
        object.metadata.generation,
        &required,
    );
    match live.outcome {
        Outcome::Ready => assert!(live.unmet.is_empty()),
        Outcome::Pending => assert!(live.unmet.is_empty()),
        _ => {}
    }
    Some(CheckResult::new(
        subject,
        Verdict {
            outcome: Outcome::Valid,
            reason: None,
            message: "the API server would admit it".into(),
            unmet: Vec::new(),
        },
    ))
}
