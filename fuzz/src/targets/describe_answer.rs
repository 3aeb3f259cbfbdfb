//! Any bytes as AppFlow's HTTP answer to DescribeConnector (`fuzz/src/answer.rs` reads an
//! optional status line and headers), through the real aws-sdk-appflow client the operator
//! builds, its restJson1 deserializer and error parser, the operator's conversion into the
//! mirror and its error classification, then status computation. No network.

use std::sync::LazyLock;

use super::super::answer::Answer;
use super::super::appflow::Harness;
use super::super::steady;

/// Checked once per process (so in every smoke run): inputs really reach the mirror.
static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let harness = Harness::new();
    harness.assert_reaches_the_mirror();
    harness
});

/// One input, as libFuzzer hands it over; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let answer = Answer::parse(data);
    let status = answer.status;
    let outcome = HARNESS.describe(answer);
    if let Ok(config) = &outcome {
        assert!(
            (200..300).contains(&status),
            "a {status} answer was taken as a configuration: {config:?}"
        );
    }
    steady::assert_steady(&outcome);
}
