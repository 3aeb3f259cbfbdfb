//! Pure: the AWS identity an object is described with, and the key that tells identities
//! apart in the describe cache and the client pool.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// Who asks AWS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The operator's own credentials (the default chain: IRSA, Pod Identity, env, …).
    Operator,
    /// An IAM role assumed over the operator's credentials.
    Role(Role),
}

/// An IAM role to assume, with the options of its AssumeRole call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_duration: Option<Duration>,
}

/// The describe cache's identity for [`Identity::Operator`].
pub const OPERATOR_KEY: &str = "operator";

impl Identity {
    /// Tells identities apart: `operator`, or the role ARN with a digest of its options, so
    /// two bindings that assume the same role differently never share answers (the external
    /// id itself never appears: it is a shared secret of sorts).
    pub fn key(&self) -> String {
        match self {
            Identity::Operator => OPERATOR_KEY.to_owned(),
            Identity::Role(role) => {
                if role.external_id.is_none() && role.session_duration.is_none() {
                    return role.arn.clone();
                }
                let mut hasher = Sha256::new();
                hasher.update(role.external_id.as_deref().unwrap_or_default());
                hasher.update([0]);
                hasher.update(
                    role.session_duration
                        .map_or(0, |d| d.as_secs())
                        .to_be_bytes(),
                );
                let digest = hasher.finalize();
                let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                format!("{}#{short}", role.arn)
            }
        }
    }

    /// The account the identity acts in, when it can be told without asking AWS: a role's
    /// account is in its ARN.
    pub fn known_account(&self) -> Option<&str> {
        match self {
            Identity::Operator => None,
            Identity::Role(role) => account_of_arn(&role.arn),
        }
    }
}

/// The account field of an ARN (`arn:partition:service:region:account:resource`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(external_id: Option<&str>, secs: Option<u64>) -> Identity {
        Identity::Role(Role {
            arn: "arn:aws:iam::222222222222:role/observer".into(),
            external_id: external_id.map(str::to_owned),
            session_duration: secs.map(Duration::from_secs),
        })
    }

    #[test]
    fn keys_tell_role_options_apart_without_showing_the_external_id() {
        assert_eq!(Identity::Operator.key(), "operator");
        assert_eq!(
            role(None, None).key(),
            "arn:aws:iam::222222222222:role/observer"
        );
        let with_id = role(Some("team-a-secret"), None).key();
        assert!(with_id.starts_with("arn:aws:iam::222222222222:role/observer#"));
        assert!(!with_id.contains("team-a"));
        assert_ne!(with_id, role(Some("team-b-secret"), None).key());
        assert_ne!(with_id, role(Some("team-a-secret"), Some(900)).key());
        assert_eq!(with_id, role(Some("team-a-secret"), None).key());
    }

    #[test]
    fn accounts_come_from_role_arns() {
        assert_eq!(role(None, None).known_account(), Some("222222222222"));
        assert_eq!(Identity::Operator.known_account(), None);
        assert_eq!(
            account_of_arn("arn:aws-cn:iam::123456789012:role/x"),
            Some("123456789012")
        );
        assert_eq!(account_of_arn("arn:aws:iam::12345:role/x"), None);
        assert_eq!(account_of_arn("nonsense"), None);
    }
}
