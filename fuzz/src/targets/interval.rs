//! `spec.refreshInterval`'s parser on any text. Invariants: parsing never panics; what parses
//! is clamped into the documented bounds; what the CRD's pattern admits parses; a parsed
//! value printed as seconds and nanoseconds parses to itself; and `a|b` (two texts) parses
//! as the sum of its parts when both parse.

use std::sync::LazyLock;
use std::time::Duration;

use conninfo_core::interval::{self, MAX, MAX_LENGTH, MIN, PATTERN};

static ADMITTED: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(PATTERN).expect("the admission pattern compiles"));

/// One input, as libFuzzer hands it over; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    if let Some((a, b)) = text.split_once('|') {
        check(a);
        check(b);
        additive(a, b);
    }
}

fn check(text: &str) {
    let parsed = interval::parse(text);
    if text.len() <= MAX_LENGTH as usize && ADMITTED.is_match(text) {
        assert!(
            parsed.is_ok(),
            "{text:?} matches the admission pattern: {parsed:?}"
        );
    }
    let effective = interval::effective(text);
    assert_eq!(parsed.is_ok(), effective.is_ok());
    let (Ok(asked), Ok(effective)) = (parsed, effective) else {
        return;
    };
    let within = effective.interval.is_zero() || (MIN..=MAX).contains(&effective.interval);
    assert!(within, "{text:?} -> {effective:?}");
    assert_eq!(effective.clamped, effective.interval != asked, "{text:?}");
    assert_eq!(effective.interval.is_zero(), asked.is_zero(), "{text:?}");
    if asked < Duration::MAX {
        let printed = format!("{}s{}ns", asked.as_secs(), asked.subsec_nanos());
        assert_eq!(
            interval::parse(&printed),
            Ok(asked),
            "{text:?} printed {printed}"
        );
    }
}

/// Components add up: `ab` is `a` plus `b` (saturating), for texts that are durations with
/// components (not `0` alone, no sign).
fn additive(a: &str, b: &str) {
    let plain = |t: &str| t.starts_with(|c: char| c.is_ascii_digit() || c == '.') && t != "0";
    if !(plain(a) && plain(b)) {
        return;
    }
    let (Ok(x), Ok(y)) = (interval::parse(a), interval::parse(b)) else {
        return;
    };
    let joined = format!("{a}{b}");
    assert_eq!(
        interval::parse(&joined),
        Ok(x.saturating_add(y)),
        "{joined:?}"
    );
}
