//! AWS STS (`2011-06-15`) over awsQuery on `POST /`: `AssumeRole` and
//! `GetCallerIdentity`, with the validation, trust and error answers STS
//! sends, the credentials it issued, and counts for `/_emulator/stats`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::info;

use crate::auth;
use crate::iam::{RoleSpec, is_external_id};
use crate::identity::{Caller, Session, Sessions, assumed_role_caller};
use crate::query::{Params, QueryError, Xml, parse_form, result_xml, xml_response};
use crate::validate::{validation_message, violation};
use crate::wire::ApiError;

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const VERSION: &str = "2011-06-15";

const ROLE_SESSION_NAME_PATTERN: &str = r"[\w+=,.@-]*";
const EXTERNAL_ID_PATTERN: &str = r"[\w+=,.@:\/-]*";
const ARN_PATTERN: &str =
    r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";
const DEFAULT_DURATION: u64 = 3600;
const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 43_200;
/// The longest session a role-chained `AssumeRole` may ask for.
const CHAINED_MAX_DURATION: i64 = 3600;

/// `AssumeRole` outcomes for one role ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleCounts {
    pub succeeded: u64,
    pub refused: u64,
}

/// STS's state: the roles, the credentials issued, the call counts.
#[derive(Debug, Default)]
pub struct Sts {
    roles: BTreeMap<String, RoleSpec>,
    sessions: Sessions,
    assume_role: BTreeMap<String, RoleCounts>,
    get_caller_identity: u64,
    errors: BTreeMap<String, u64>,
}

/// What a successful call answers: the action and its result's XML members.
struct Answer {
    action: &'static str,
    result: String,
}

impl Sts {
    pub fn new(roles: impl IntoIterator<Item = RoleSpec>) -> Self {
        Sts {
            roles: roles.into_iter().map(|r| (r.arn.clone(), r)).collect(),
            ..Sts::default()
        }
    }

    /// Adds or replaces a role (checked by the caller); whether one was replaced.
    pub fn put_role(&mut self, role: RoleSpec) -> bool {
        self.roles.insert(role.arn.clone(), role).is_some()
    }

    /// The credentials issued so far (who a request's access key stands for).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Answers one STS request (`POST /`), errors included.
    pub fn respond(
        &mut self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
        default_account: &str,
        request_id: &str,
    ) -> Response {
        let params = parse_form(body);
        let action = params.get("Action").cloned().unwrap_or_default();
        let outcome = self.authenticate(headers, now, default_account).and_then(|caller| {
            let answer = self.call(&caller, &params, now);
            info!(request_id, action = %action, caller = %caller.arn, ok = answer.is_ok(), "STS");
            answer
        });
        match outcome {
            Ok(answer) => xml_response(
                StatusCode::OK,
                result_xml(answer.action, NAMESPACE, &answer.result, request_id),
            ),
            Err(e) => {
                info!(request_id, action = %action, code = %e.code, status = e.status.as_u16(), "STS error");
                *self.errors.entry(e.code.clone()).or_insert(0) += 1;
                e.into_response(NAMESPACE, request_id)
            }
        }
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        now: SystemTime,
        default_account: &str,
    ) -> Result<Caller, QueryError> {
        let sig =
            auth::check_request(headers, auth::STS_SERVICE).map_err(QueryError::from_front_end)?;
        self.sessions
            .caller(
                &sig.access_key_id,
                auth::security_token(headers),
                now,
                default_account,
            )
            .map_err(|e| QueryError::from_front_end(ApiError::from(e)))
    }

    fn call(
        &mut self,
        caller: &Caller,
        params: &Params,
        now: SystemTime,
    ) -> Result<Answer, QueryError> {
        let action = params.get("Action").map(String::as_str);
        let version = params.get("Version").map(String::as_str);
        match (action, version) {
            (None, _) => Err(QueryError::new(
                "MissingAction",
                StatusCode::BAD_REQUEST,
                "Missing Action",
            )),
            (Some("AssumeRole"), Some(VERSION)) => self.assume_role(caller, params, now),
            (Some("GetCallerIdentity"), Some(VERSION)) => {
                self.get_caller_identity += 1;
                Ok(get_caller_identity(caller))
            }
            (Some(action), version) => Err(QueryError::new(
                "InvalidAction",
                StatusCode::BAD_REQUEST,
                format!(
                    "Could not find operation {action} for version {}",
                    version.unwrap_or("NO_VERSION_SPECIFIED")
                ),
            )),
        }
    }

    fn assume_role(
        &mut self,
        caller: &Caller,
        params: &Params,
        now: SystemTime,
    ) -> Result<Answer, QueryError> {
        let role_arn = params.get("RoleArn").cloned();
        let outcome = self.try_assume_role(caller, params, now);
        if let Some(arn) = role_arn {
            let counts = self.assume_role.entry(arn).or_default();
            match outcome {
                Ok(_) => counts.succeeded += 1,
                Err(_) => counts.refused += 1,
            }
        }
        outcome
    }

    fn try_assume_role(
        &mut self,
        caller: &Caller,
        params: &Params,
        now: SystemTime,
    ) -> Result<Answer, QueryError> {
        let request = AssumeRoleRequest::validate(params)?;
        let denied = || {
            QueryError::access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.arn, request.role_arn
            ))
        };
        let role = self.roles.get(request.role_arn).ok_or_else(denied)?;
        let parsed = role.parsed().ok_or_else(denied)?;
        if !role.assumable {
            return Err(denied());
        }
        if let Some(required) = &role.external_id
            && request.external_id != Some(required.as_str())
        {
            return Err(denied());
        }
        if caller.assumed_role
            && request
                .duration_seconds
                .is_some_and(|d| d > CHAINED_MAX_DURATION)
        {
            return Err(QueryError::validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        // The role's own session length, when it has one, wins over the request's.
        let seconds = role.session_duration_seconds.unwrap_or_else(|| {
            request
                .duration_seconds
                .and_then(|d| u64::try_from(d).ok())
                .unwrap_or(DEFAULT_DURATION)
        });
        let expires_at = now + Duration::from_secs(seconds);
        let session_caller = assumed_role_caller(
            parsed.account_id,
            &role.arn,
            parsed.name,
            request.role_session_name,
        );
        let session = self.sessions.issue(session_caller, expires_at);
        Ok(Answer {
            action: "AssumeRole",
            result: assume_role_result(&session, expires_at),
        })
    }

    /// Clears the call counts (roles and issued credentials stay).
    pub fn reset(&mut self) {
        self.assume_role.clear();
        self.get_caller_identity = 0;
        self.errors.clear();
    }

    /// The `sts` member of `/_emulator/stats`.
    pub fn status(&self, now: SystemTime) -> Value {
        let (issued, live) = self.sessions.counts(now);
        json!({
            "assumeRole": self.assume_role,
            "getCallerIdentity": self.get_caller_identity,
            "errors": self.errors,
            "issuedCredentials": issued,
            "liveCredentials": live,
            "roles": self.roles.values().collect::<Vec<_>>(),
        })
    }
}

/// `AssumeRoleResult`'s members: the assumed-role user and its credentials.
fn assume_role_result(session: &Session, expires_at: SystemTime) -> String {
    let mut x = Xml::fragment(2);
    x.open("AssumedRoleUser")
        .leaf("AssumedRoleId", &session.caller.user_id)
        .leaf("Arn", &session.caller.arn)
        .close("AssumedRoleUser")
        .open("Credentials")
        .leaf("AccessKeyId", &session.access_key_id)
        .leaf("SecretAccessKey", &session.secret_access_key)
        .leaf("SessionToken", &session.session_token)
        .leaf("Expiration", &iso8601(expires_at))
        .close("Credentials");
    x.finish()
}

fn get_caller_identity(caller: &Caller) -> Answer {
    let mut x = Xml::fragment(2);
    x.leaf("Arn", &caller.arn)
        .leaf("UserId", &caller.user_id)
        .leaf("Account", &caller.account_id);
    Answer {
        action: "GetCallerIdentity",
        result: x.finish(),
    }
}

/// `2024-01-01T00:00:00Z`, whole seconds (awsQuery's default timestamp format).
fn iso8601(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

/// The `AssumeRole` members the emulator acts on, validated against the model.
#[derive(Debug)]
struct AssumeRoleRequest<'a> {
    role_arn: &'a str,
    role_session_name: &'a str,
    duration_seconds: Option<i64>,
    external_id: Option<&'a str>,
}

impl<'a> AssumeRoleRequest<'a> {
    /// Checks every member before failing: STS reports all of a request's
    /// violations in one message.
    fn validate(params: &'a Params) -> Result<Self, QueryError> {
        let get = |name: &str| params.get(name).map(String::as_str);
        let mut errors = Vec::new();
        let role_arn = get("RoleArn");
        errors.extend(role_arn_violations(role_arn));
        let session = get("RoleSessionName");
        errors.extend(session_name_violations(session));
        let duration_seconds = get("DurationSeconds").and_then(|raw| {
            let (duration, violations) = duration_seconds(raw);
            errors.extend(violations);
            duration
        });
        let external_id = get("ExternalId");
        errors.extend(external_id.map(external_id_violations).unwrap_or_default());
        match (errors.is_empty(), role_arn, session) {
            (true, Some(role_arn), Some(role_session_name)) => Ok(AssumeRoleRequest {
                role_arn,
                role_session_name,
                duration_seconds,
                external_id,
            }),
            _ => Err(QueryError::validation(validation_message(&errors))),
        }
    }
}

fn role_arn_violations(role_arn: Option<&str>) -> Vec<String> {
    let Some(arn) = role_arn else {
        return vec![violation(None, "roleArn", "Member must not be null")];
    };
    let mut errors = Vec::new();
    if !arn.chars().all(arn_char) || arn.is_empty() {
        errors.push(pattern_violation(arn, "roleArn", ARN_PATTERN));
    }
    errors.extend(length_violations(arn, "roleArn", 20, 2048));
    errors
}

fn session_name_violations(session: Option<&str>) -> Vec<String> {
    let Some(name) = session else {
        return vec![violation(
            None,
            "roleSessionName",
            "Member must not be null",
        )];
    };
    let mut errors = Vec::new();
    if !name.chars().all(session_name_char) {
        errors.push(pattern_violation(
            name,
            "roleSessionName",
            ROLE_SESSION_NAME_PATTERN,
        ));
    }
    errors.extend(length_violations(name, "roleSessionName", 2, 64));
    errors
}

/// The duration asked for, if it is an integer, and the bounds it breaks.
fn duration_seconds(raw: &str) -> (Option<i64>, Vec<String>) {
    let Ok(d) = raw.trim().parse::<i64>() else {
        return (
            None,
            vec![violation(
                Some(raw),
                "durationSeconds",
                "Member must be an integer",
            )],
        );
    };
    let mut errors = Vec::new();
    if d < MIN_DURATION {
        errors.push(violation(
            Some(raw),
            "durationSeconds",
            &format!("Member must have value greater than or equal to {MIN_DURATION}"),
        ));
    }
    if d > MAX_DURATION {
        errors.push(violation(
            Some(raw),
            "durationSeconds",
            &format!("Member must have value less than or equal to {MAX_DURATION}"),
        ));
    }
    (Some(d), errors)
}

/// `is_external_id` is the whole check; the tests below it only name the
/// constraints an invalid ID breaks, as STS's message does.
fn external_id_violations(id: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if is_external_id(id) {
        return errors;
    }
    if !id
        .chars()
        .all(|c| session_name_char(c) || c == ':' || c == '/')
    {
        errors.push(pattern_violation(id, "externalId", EXTERNAL_ID_PATTERN));
    }
    errors.extend(length_violations(id, "externalId", 2, 1224));
    errors
}

/// `[\w+=,.@-]` with `\w` ASCII, as in Java.
fn session_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// A character the model's `arnType` pattern admits.
fn arn_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn pattern_violation(value: &str, member: &str, pattern: &str) -> String {
    violation(
        Some(value),
        member,
        &format!("Member must satisfy regular expression pattern: {pattern}"),
    )
}

fn length_violations(value: &str, member: &str, min: usize, max: usize) -> Vec<String> {
    let len = value.encode_utf16().count();
    let mut out = Vec::new();
    if len < min {
        out.push(violation(
            Some(value),
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        out.push(violation(
            Some(value),
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn validation_messages() {
        let p = params(&[("RoleArn", "arn:aws:iam::1:role/x")]);
        let e = AssumeRoleRequest::validate(&p).expect_err("invalid");
        assert_eq!(e.code, "ValidationError");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
        );
        let p = params(&[
            ("RoleArn", "short"),
            ("RoleSessionName", "a/b"),
            ("DurationSeconds", "43201"),
            ("ExternalId", "x"),
        ]);
        let e = AssumeRoleRequest::validate(&p).expect_err("invalid");
        assert!(e.message.starts_with("4 validation errors detected: Value 'short' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20; Value 'a/b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200; Value 'x' at 'externalId'"), "{}", e.message);
        let p = params(&[
            ("RoleArn", "arn:aws:iam::222222222222:role/r"),
            ("RoleSessionName", "ok-session"),
            ("DurationSeconds", "900"),
            ("ExternalId", "team:a/b"),
        ]);
        let r = AssumeRoleRequest::validate(&p).expect("valid");
        assert_eq!(r.duration_seconds, Some(900));
        assert_eq!(r.external_id, Some("team:a/b"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_704_067_200)),
            "2024-01-01T00:00:00Z"
        );
    }
}
