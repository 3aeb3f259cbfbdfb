//! `spec.refreshInterval`: a Go-style duration that is bounded at admission and parsed
//! without panics, whatever was stored.
//!
//! kube's own `Duration` panics on values too large for `std::time::Duration`, and a panic in
//! the watch decoder or the requeue arithmetic would stop reconciliation for every object in
//! the cluster. So the field keeps the text it was given, decoding never fails for a string,
//! parsing saturates, and every use goes through [`effective`], which clamps to the bounds
//! the CRD also enforces (objects stored before the bounds existed are clamped, not trusted).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shortest refresh interval other than `0s`.
pub const MIN: Duration = Duration::from_secs(60);
/// The longest refresh interval: 30 days.
pub const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longest text admitted: enough for any sensible duration, too short for one whose CEL
/// evaluation could overflow (at most five 5-digit components).
pub const MAX_LENGTH: u32 = 32;

/// The admission pattern: Go duration syntax with at most 5 integer digits per component.
pub const PATTERN: &str = r"^([0-9]{1,5}(\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$";

/// The admission rule on the parsed value, in the API server's CEL. Text that fails the
/// pattern is left to the pattern's own error: `duration()` would fail at run time on it, and
/// the API server does not ratchet CEL run-time errors, so an object stored before these
/// bounds could never have its status written again.
pub fn cel_rule() -> String {
    format!(
        "!self.matches('{}') || duration(self) == duration('0s') || (duration(self) >= duration('1m') && duration(self) <= duration('720h'))",
        PATTERN.replace('\\', "\\\\")
    )
}

pub const CEL_MESSAGE: &str = "refreshInterval must be 0s (describe only when the spec or refresh annotation changes) or between 1m and 720h (30 days)";

/// A refresh interval as written in the spec. Decoding accepts any string, so an object
/// stored before the admission bounds existed still decodes; [`effective`] decides what it
/// means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefreshInterval(pub String);

impl RefreshInterval {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefreshInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl schemars::JsonSchema for RefreshInterval {
    fn schema_name() -> Cow<'static, str> {
        "RefreshInterval".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": MAX_LENGTH,
            "pattern": PATTERN,
            "x-kubernetes-validations": [{"rule": cel_rule(), "message": CEL_MESSAGE}],
        })
    }
}

/// Why a refresh interval text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("'{0}' is not a duration (expected e.g. 30m, 1h or 1h30m; 0s = only on change)")]
    Syntax(String),
    #[error("'{0}' is negative")]
    Negative(String),
}

/// Parses Go duration syntax (`1h30m`, `1.5h`, `90s`, `0`), saturating at `Duration::MAX`
/// instead of overflowing. Never panics.
pub fn parse(text: &str) -> Result<Duration, ParseError> {
    let syntax = || ParseError::Syntax(text.to_owned());
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(ParseError::Negative(text.to_owned()));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut total = Duration::ZERO;
    let mut rest = rest;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        let (number, after) = rest.split_at(digits_end);
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.');
        let (unit, next) = after.split_at(unit_end.unwrap_or(after.len()));
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(syntax()),
        };
        total = total.saturating_add(component(number, unit_nanos).ok_or_else(syntax)?);
        rest = next;
    }
    Ok(total)
}

/// `number` (digits with an optional fraction) times `unit_nanos`, saturating.
fn component(number: &str, unit_nanos: u128) -> Option<Duration> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .saturating_mul(10)
            .saturating_add(u128::from(digit - b'0'));
    }
    nanos = nanos.saturating_mul(unit_nanos);
    // Fractions beyond nanosecond precision are dropped, as Go drops them.
    let mut scale = unit_nanos;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos.saturating_add(u128::from(digit - b'0') * scale);
    }
    Some(from_nanos_saturating(nanos))
}

fn from_nanos_saturating(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

/// What a refresh interval means for the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effective {
    /// Zero (only on change) or within [`MIN`, `MAX`].
    pub interval: Duration,
    /// The text asked for something outside the bounds and was clamped.
    pub clamped: bool,
}

/// The interval to use: `0` stays `0` (only on change), anything else is clamped into
/// [`MIN`, `MAX`]. Text that is not a duration is an error the object's status reports.
pub fn effective(text: &str) -> Result<Effective, ParseError> {
    let asked = parse(text)?;
    Ok(clamp(asked))
}

/// Clamps a parsed interval (also the operator's own default) into the bounds.
pub fn clamp(asked: Duration) -> Effective {
    let interval = if asked.is_zero() {
        Duration::ZERO
    } else {
        asked.clamp(MIN, MAX)
    };
    Effective {
        interval,
        clamped: interval != asked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse(text).unwrap().as_secs()
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("1.5h"), 5400);
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("0"), 0);
        assert_eq!(secs("0s"), 0);
        assert_eq!(parse("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("2µs").unwrap(), Duration::from_micros(2));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1.000000001s").unwrap(), Duration::new(1, 1));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "soon", "1", "1d", "h", ".s", "1..5s", "1h 30m", "-1h", "1hx", "+",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        assert_eq!(parse("99999999999999999999h").unwrap(), Duration::MAX);
        assert_eq!(
            parse("99999999999999999999999999999999999999999h1s").unwrap(),
            Duration::MAX
        );
        let effective = effective("99999999999999999999h").unwrap();
        assert_eq!(effective.interval, MAX);
        assert!(effective.clamped);
    }

    #[test]
    fn effective_clamps_into_bounds() {
        assert_eq!(
            effective("1ms").unwrap(),
            Effective {
                interval: MIN,
                clamped: true
            }
        );
        assert_eq!(
            effective("0s").unwrap(),
            Effective {
                interval: Duration::ZERO,
                clamped: false
            }
        );
        assert_eq!(effective("1h").unwrap().interval, Duration::from_secs(3600));
        assert_eq!(effective("721h").unwrap().interval, MAX);
        assert!(!effective("720h").unwrap().clamped);
    }

    #[test]
    fn pattern_admits_exactly_what_parses_within_cel_range() {
        let pattern = regex::Regex::new(PATTERN).unwrap();
        for good in ["0s", "1m", "1h30m", "720h", "1.5h", "99999h"] {
            assert!(pattern.is_match(good), "{good}");
            assert!(parse(good).is_ok(), "{good}");
        }
        for bad in ["99999999999999999999h", "100000h", "soon", "0", "1d", "-1h"] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
        // The longest admitted text stays far below the CEL (Go) duration limit of ~292 years.
        let longest = "99999h".repeat((MAX_LENGTH / 6) as usize);
        assert!(parse(&longest).unwrap() < Duration::from_secs(292 * 365 * 24 * 3600));
    }
}
