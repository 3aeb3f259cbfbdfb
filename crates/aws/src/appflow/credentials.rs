//! Credentials per identity: the default chain for the operator's own, an `aws-config`
//! AssumeRole provider over it for each role; the operator's own account from STS.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::result::SdkError;
use tokio::sync::OnceCell;

use super::{classify_sdk_error, lock, source_chain};
use conninfo_core::account::identity::{Identity, Role};
use conninfo_core::account::status::Assumption;
use conninfo_core::outcome::DescribeFailure;

/// The session name every AssumeRole carries: CloudTrail in the tenant's account shows who
/// assumed the role.
pub const SESSION_NAME: &str = "appflow-connector-operator";

/// How long a failed GetCallerIdentity is not asked again.
const ACCOUNT_RETRY: Duration = Duration::from_secs(60);

type StsError = SdkError<AssumeRoleError, aws_smithy_runtime_api::http::Response>;

pub(super) struct Credentials {
    base: SdkConfig,
    /// Identity key -> the role's provider, shared by that identity's clients in every region.
    roles: Mutex<HashMap<String, SharedCredentialsProvider>>,
    operator_account: OnceCell<String>,
    operator_account_failed: Mutex<Option<Instant>>,
}

impl Credentials {
    pub(super) fn new(base: SdkConfig) -> Self {
        Self {
            base,
            roles: Mutex::default(),
            operator_account: OnceCell::new(),
            operator_account_failed: Mutex::default(),
        }
    }

    /// The provider a client of this identity uses; `None`: the base configuration's own.
    pub(super) async fn provider(&self, identity: &Identity) -> Option<SharedCredentialsProvider> {
        let Identity::Role(role) = identity else {
            return None;
        };
        let key = identity.key();
        if let Some(provider) = lock(&self.roles).get(&key) {
            return Some(provider.clone());
        }
        let built = self.assume_role_provider(role).await;
        Some(lock(&self.roles).entry(key).or_insert(built).clone())
    }

    async fn assume_role_provider(&self, role: &Role) -> SharedCredentialsProvider {
        let mut builder = AssumeRoleProvider::builder(role.arn.clone())
            .session_name(SESSION_NAME)
            .configure(&self.base);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id.clone());
        }
        if let Some(length) = role.session_duration {
            builder = builder.session_length(length);
        }
        SharedCredentialsProvider::new(builder.build().await)
    }

    pub(super) fn retain(&self, in_use: impl Fn(&str) -> bool) {
        lock(&self.roles).retain(|key, _| in_use(key));
    }

    pub(super) async fn operator_account(&self) -> Option<String> {
        if let Some(account) = self.operator_account.get() {
            return Some(account.clone());
        }
        if lock(&self.operator_account_failed).is_some_and(|at| at.elapsed() < ACCOUNT_RETRY) {
            return None;
        }
        match self.caller_account().await {
            Ok(account) => Some(
                self.operator_account
                    .get_or_init(|| async { account })
                    .await
                    .clone(),
            ),
            Err(why) => {
                tracing::warn!(error = %why, "cannot tell the operator's own AWS account (sts:GetCallerIdentity); status.accountId stays empty");
                *lock(&self.operator_account_failed) = Some(Instant::now());
                None
            }
        }
    }

    /// GetCallerIdentity with the operator's own credentials.
    async fn caller_account(&self) -> Result<String, String> {
        aws_sdk_sts::Client::new(&self.base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify_sdk_error(&e, "STS").condition_message())?
            .account
            .ok_or_else(|| "GetCallerIdentity named no account".to_owned())
    }

    pub(super) async fn try_identity(&self, identity: &Identity) -> Assumption {
        match identity {
            Identity::Operator => match self.operator_account().await {
                Some(account) => Assumption::Succeeded {
                    account_id: Some(account),
                },
                None => Assumption::Failed {
                    message: "sts:GetCallerIdentity failed with the operator's credentials"
                        .to_owned(),
                },
            },
            // A fresh provider: the shared ones are cached, and this asks STS now.
            Identity::Role(role) => match self
                .assume_role_provider(role)
                .await
                .provide_credentials()
                .await
            {
                Ok(_) => Assumption::Succeeded {
                    account_id: identity.known_account().map(str::to_owned),
                },
                Err(error) => Assumption::Failed {
                    message: assume_role_error(&error)
                        .map(|sts| classify_sdk_error(sts, "STS").condition_message())
                        .unwrap_or_else(|| source_chain(&error)),
                },
            },
        }
    }
}

/// The STS error behind a failed credentials lookup, if the lookup was an AssumeRole.
fn assume_role_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a StsError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(sts) = e.downcast_ref::<StsError>() {
            return Some(sts);
        }
        current = e.source();
    }
    None
}

/// A DescribeConnector that failed because its role could not be assumed: classified by STS's
/// answer (AccessDenied, unreachable, throttled …) and named after the role, never showing
/// the session's credentials. `None` when the failure was something else.
pub(super) fn assume_role_failure<E>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    role_arn: &str,
) -> Option<DescribeFailure>
where
    E: std::error::Error + 'static,
{
    let sts = assume_role_error(error)?;
    let mut failure = classify_sdk_error(sts, "STS");
    failure.message = format!("cannot assume role {role_arn}: {}", failure.message);
    Some(failure)
}
