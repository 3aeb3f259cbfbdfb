//! When each object's pending refresh request (the annotation) was made.
//!
//! A refresh request is answered only by a DescribeConnector that started at or after the
//! request (docs/status.md, "Forcing a refresh"). The request's time is the time its value
//! names, when the value is a time (Unix seconds as `date +%s` prints them, or RFC 3339 as
//! Flux's `reconcile.fluxcd.io/requestedAt` carries), clamped to when the operator first saw
//! it; any other value was made when the operator first saw it. Stamping a plain value when
//! its reconcile runs instead would make the objects queued behind the first one of a key
//! ask for calls of their own. Pure; the pending requests themselves are the runtime's
//! (`conninfo_runtime::refresh_requests::RefreshRequests`).

use std::time::Instant;

use jiff::Timestamp;

/// The earliest Unix-seconds value read as a time (2001-09-09): smaller numbers (`1`, `2`,
/// `42`) are counters, not times, and would otherwise be requests from 1970 that any answer
/// satisfies.
const EARLIEST_UNIX_SECONDS: i64 = 1_000_000_000;

/// Pure: the time an annotation value names, if it names one: Unix seconds (optionally with
/// a fraction, `date +%s.%N`) of this century, or an RFC 3339 timestamp.
pub fn named_time(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    if let Ok(timestamp) = value.parse::<Timestamp>() {
        return Some(timestamp);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) if digits(fraction) => (whole, fraction),
        Some(_) => return None,
        None => (value, ""),
    };
    if !digits(whole) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    if seconds < EARLIEST_UNIX_SECONDS {
        return None;
    }
    // Nanoseconds from at most nine fraction digits, right-padded.
    let nanos = format!("{:0<9}", &fraction[..fraction.len().min(9)]);
    Timestamp::new(seconds, nanos.parse().ok()?).ok()
}

/// Pure: when a request with `value`, first seen at `seen` (wall clock `seen_wall`), was
/// made: the time the value names, never later than `seen`; `seen` for any other value.
pub fn requested_at(value: &str, seen: Instant, seen_wall: Timestamp) -> Instant {
    let Some(named) = named_time(value) else {
        return seen;
    };
    let before_seen = seen_wall.duration_since(named);
    if before_seen.is_negative() {
        return seen; // a time in the future (or a skewed clock): clamped to when it was seen
    }
    seen.checked_sub(before_seen.unsigned_abs()).unwrap_or(seen)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn wall() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn values_that_name_a_time() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(named_time("1796644800"), Some(at("2026-12-07T12:00:00Z")));
        assert_eq!(
            named_time("1796644800.25"),
            Some(at("2026-12-07T12:00:00.25Z"))
        );
        assert_eq!(
            named_time("2026-12-07T13:00:00.123456789+01:00"),
            Some(at("2026-12-07T12:00:00.123456789Z")),
            "Flux's requestedAt"
        );
        for plain in [
            "1",
            "42",
            "999999999",
            "now",
            "v2",
            "",
            "1796644800.",
            "-1796644800",
        ] {
            assert_eq!(named_time(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn a_time_valued_request_dates_from_its_time_never_after_it_was_seen() {
        let seen = Instant::now() + Duration::from_secs(3600);
        let ago = |s: u64| seen - Duration::from_secs(s);
        // Annotated with `date +%s` 3 s before the watch delivered it.
        assert_eq!(requested_at("1796644797", seen, wall()), ago(3));
        assert_eq!(
            requested_at("2026-12-07T11:59:58.500Z", seen, wall()),
            seen - Duration::from_millis(1500)
        );
        assert_eq!(
            requested_at("1796648400", seen, wall()),
            seen,
            "an hour ahead: clamped to when it was seen"
        );
        assert_eq!(requested_at("refresh-please", seen, wall()), seen);
        assert_eq!(requested_at("7", seen, wall()), seen, "a counter");
    }
}
