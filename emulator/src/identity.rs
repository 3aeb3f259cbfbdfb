//! Who is calling: the temporary credentials STS issued (access key ->
//! account, role, session token, expiry) and the caller a request's access
//! key stands for. Keys STS did not issue act as an IAM user of the default
//! account.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::SystemTime;

use rand::Rng;
use rand::distr::Alphanumeric;

/// Why a request's credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// An issued key whose expiry has passed.
    #[error("The security token included in the request is expired")]
    Expired,
    /// An issued key sent without its session token, or with another one.
    #[error("The security token included in the request is invalid.")]
    InvalidToken,
}

/// The principal a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    /// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` or `arn:aws:iam::ACCT:user/emulator`.
    pub arn: String,
    /// `AROA…:SESSION` or `AIDA…`.
    pub user_id: String,
    /// Whether the caller holds assumed-role credentials (so `AssumeRole` is role chaining).
    pub assumed_role: bool,
}

/// Temporary credentials STS issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at: SystemTime,
    pub caller: Caller,
}

/// Everything STS issued, by access key id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_key: HashMap<String, Session>,
}

/// The user name keys STS did not issue act as.
pub const DEFAULT_USER: &str = "emulator";

/// The caller behind a key STS did not issue: an IAM user of the default account.
pub fn default_caller(default_account: &str) -> Caller {
    Caller {
        account_id: default_account.to_string(),
        arn: format!("arn:aws:iam::{default_account}:user/{DEFAULT_USER}"),
        user_id: format!(
            "AIDA{}",
            stable_id(&format!("{default_account}/{DEFAULT_USER}"), 17)
        ),
        assumed_role: false,
    }
}

/// The caller for a session of role `role_name` in `account_id`.
pub fn assumed_role_caller(
    account_id: &str,
    role_arn: &str,
    role_name: &str,
    session: &str,
) -> Caller {
    Caller {
        account_id: account_id.to_string(),
        arn: format!("arn:aws:sts::{account_id}:assumed-role/{role_name}/{session}"),
        user_id: format!("{}:{session}", role_id(role_arn)),
        assumed_role: true,
    }
}

/// A role's unique id (`AROA` + 17 characters), the same for the same ARN on every run.
pub fn role_id(role_arn: &str) -> String {
    format!("AROA{}", stable_id(role_arn, 17))
}

/// `len` characters of `[A-Z2-7]` derived from `seed`.
fn stable_id(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    let mut state = hasher.finish();
    (0..len)
        .map(|_| {
            // splitmix64: spreads the hash over as many characters as needed.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            char::from(ALPHABET[(z % 32) as usize])
        })
        .collect()
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

impl Sessions {
    /// Issues fresh credentials for `caller`, valid until `expires_at`.
    pub fn issue(&mut self, caller: Caller, expires_at: SystemTime) -> Session {
        const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET_ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let access_key_id = loop {
            let key = format!("ASIA{}", random_from(KEY_ALPHABET, 16));
            if !self.by_key.contains_key(&key) {
                break key;
            }
        };
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(356)
            .map(char::from)
            .collect();
        let session = Session {
            access_key_id: access_key_id.clone(),
            secret_access_key: random_from(SECRET_ALPHABET, 40),
            session_token: format!("FwoGZXIvYXdzE{token}"),
            expires_at,
            caller,
        };
        self.by_key.insert(access_key_id, session.clone());
        session
    }

    /// The caller behind `access_key_id`: an issued key's session (checked
    /// against the `x-amz-security-token` sent and `now`), else the default
    /// account's user.
    pub fn caller(
        &self,
        access_key_id: &str,
        security_token: Option<&str>,
        now: SystemTime,
        default_account: &str,
    ) -> Result<Caller, CredentialError> {
        let Some(session) = self.by_key.get(access_key_id) else {
            return Ok(default_caller(default_account));
        };
        if security_token != Some(session.session_token.as_str()) {
            return Err(CredentialError::InvalidToken);
        }
        if now >= session.expires_at {
            return Err(CredentialError::Expired);
        }
        Ok(session.caller.clone())
    }

    /// How many credentials STS has issued and how many are still valid at `now`.
    pub fn counts(&self, now: SystemTime) -> (usize, usize) {
        let live = self.by_key.values().filter(|s| now < s.expires_at).count();
        (self.by_key.len(), live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ROLE: &str = "arn:aws:iam::222222222222:role/observer";

    #[test]
    fn issued_credentials_resolve_to_their_session() {
        let mut sessions = Sessions::default();
        let now = SystemTime::now();
        let caller = assumed_role_caller("222222222222", ROLE, "observer", "op");
        let s = sessions.issue(caller.clone(), now + Duration::from_secs(60));
        assert_eq!(s.access_key_id.len(), 20);
        assert!(s.access_key_id.starts_with("ASIA"));
        assert_eq!(s.secret_access_key.len(), 40);
        assert_eq!(
            sessions.caller(
                &s.access_key_id,
                Some(&s.session_token),
                now,
                "123456789012"
            ),
            Ok(caller)
        );
        assert_eq!(
            sessions.caller(&s.access_key_id, None, now, "123456789012"),
            Err(CredentialError::InvalidToken)
        );
        assert_eq!(
            sessions.caller(&s.access_key_id, Some("other"), now, "123456789012"),
            Err(CredentialError::InvalidToken)
        );
        assert_eq!(
            sessions.caller(
                &s.access_key_id,
                Some(&s.session_token),
                now + Duration::from_secs(60),
                "123456789012"
            ),
            Err(CredentialError::Expired)
        );
        assert_eq!(sessions.counts(now), (1, 1));
        assert_eq!(sessions.counts(now + Duration::from_secs(61)), (1, 0));
    }

    #[test]
    fn other_keys_are_the_default_user() {
        let sessions = Sessions::default();
        let c = sessions
            .caller("AKIDEXAMPLE", None, SystemTime::now(), "123456789012")
            .expect("default");
        assert_eq!(c.account_id, "123456789012");
        assert_eq!(c.arn, "arn:aws:iam::123456789012:user/emulator");
        assert!(c.user_id.starts_with("AIDA") && c.user_id.len() == 21);
        assert!(!c.assumed_role);
    }

    #[test]
    fn role_ids_are_stable() {
        assert_eq!(role_id(ROLE), role_id(ROLE));
        assert_eq!(role_id(ROLE).len(), 21);
        assert_ne!(
            role_id(ROLE),
            role_id("arn:aws:iam::222222222222:role/other")
        );
        let c = assumed_role_caller("222222222222", ROLE, "observer", "op");
        assert_eq!(c.arn, "arn:aws:sts::222222222222:assumed-role/observer/op");
        assert!(c.user_id.ends_with(":op"));
    }
}
