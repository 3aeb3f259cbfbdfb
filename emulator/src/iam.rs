//! IAM as far as the emulator needs it: account ids and the roles STS
//! `AssumeRole` hands out (their ARN, trust settings and session length).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::data::EmulatorError;

/// An IAM role ARN (`\w` spelt out as ASCII, as in Java).
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws:iam::([0-9]{12}):role/([A-Za-z0-9_+=,.@/-]+)$").expect("a valid regex")
});

/// STS's pattern for `ExternalId` (the model's `externalIdType`), anchored; `\w` is
/// ASCII, as in Java.
static EXTERNAL_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_+=,.@:/-]*$").expect("a valid regex"));

/// Whether `id` is an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM role that STS `AssumeRole` can hand out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleSpec {
    /// `arn:aws:iam::<account>:role/<path/><name>`.
    pub arn: String,
    /// When set, `AssumeRole` must send exactly this `ExternalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `false`: the role's trust policy refuses every caller (`AccessDenied`).
    #[serde(default = "yes")]
    pub assumable: bool,
    /// Credentials issued for this role expire after this many seconds,
    /// whatever `DurationSeconds` asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration_seconds: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The parts of a role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub account_id: &'a str,
    /// The role's name: the ARN's last path segment.
    pub name: &'a str,
}

/// Parses an IAM role ARN, or `None` if `arn` is not one.
pub fn parse_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    let caps = ROLE_ARN.captures(arn)?;
    let account_id = caps.get(1)?.as_str();
    let path_and_name = caps.get(2)?.as_str();
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    if name.is_empty() {
        return None;
    }
    Some(RoleArn { account_id, name })
}

/// Whether `id` satisfies STS's `externalIdType`: the pattern and 2..=1224 characters.
pub fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.chars().count()) && EXTERNAL_ID.is_match(id)
}

impl RoleSpec {
    pub fn new(arn: impl Into<String>) -> Self {
        RoleSpec {
            arn: arn.into(),
            external_id: None,
            assumable: true,
            session_duration_seconds: None,
        }
    }

    /// The role's account id and name.
    pub fn parsed(&self) -> Option<RoleArn<'_>> {
        parse_role_arn(&self.arn)
    }

    /// Checks the ARN and the external id; `known_account` says whether an
    /// account id is the default one or declared under `accounts`.
    pub fn check(&self, known_account: impl Fn(&str) -> bool) -> Result<(), EmulatorError> {
        let Some(parsed) = self.parsed() else {
            return Err(EmulatorError::Invalid(format!(
                "role arn '{}' is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
                self.arn
            )));
        };
        if !known_account(parsed.account_id) {
            return Err(EmulatorError::Invalid(format!(
                "role {}: account {} is neither accountId nor listed under accounts",
                self.arn, parsed.account_id
            )));
        }
        if let Some(id) = &self.external_id
            && !is_external_id(id)
        {
            return Err(EmulatorError::Invalid(format!(
                "role {}: externalId '{id}' does not satisfy STS's pattern [\\w+=,.@:/-]* with 2 to 1224 characters",
                self.arn
            )));
        }
        if self.session_duration_seconds == Some(0) {
            return Err(EmulatorError::Invalid(format!(
                "role {}: sessionDurationSeconds must be at least 1",
                self.arn
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let p = parse_role_arn("arn:aws:iam::222222222222:role/appflow-observer").expect("arn");
        assert_eq!((p.account_id, p.name), ("222222222222", "appflow-observer"));
        let p = parse_role_arn("arn:aws:iam::222222222222:role/team/a/reader").expect("path");
        assert_eq!(p.name, "reader");
        for bad in [
            "arn:aws:iam::2222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:sts::222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/a b",
            "arn:aws:iam::222222222222:role/trailing/",
        ] {
            assert!(parse_role_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn external_ids() {
        assert!(is_external_id("team-a"));
        assert!(is_external_id("a:b/c=d,e.f@g+h_i"));
        assert!(!is_external_id("x"));
        assert!(!is_external_id("has space"));
        assert!(!is_external_id(&"x".repeat(1225)));
    }

    #[test]
    fn check() {
        let known = |a: &str| a == "111111111111";
        assert!(
            RoleSpec::new("arn:aws:iam::111111111111:role/r")
                .check(known)
                .is_ok()
        );
        let e = RoleSpec::new("arn:aws:iam::999999999999:role/r")
            .check(known)
            .expect_err("unknown account");
        assert!(e.to_string().contains("account 999999999999"), "{e}");
        let mut r = RoleSpec::new("arn:aws:iam::111111111111:role/r");
        r.external_id = Some("!".into());
        assert!(r.check(known).is_err());
        assert!(RoleSpec::new("role/r").check(known).is_err());
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901a"));
        assert!(!is_account_id("1234"));
    }
}
