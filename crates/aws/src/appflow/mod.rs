//! The one place that talks to AppFlow: SDK clients per region and the classification of
//! every DescribeConnector outcome into a condition reason.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_appflow::Client;
use aws_sdk_appflow::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_appflow::operation::RequestId;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

mod convert;
mod credentials;

use credentials::Credentials;

use conninfo_core::account::Identity;
use conninfo_core::account::status::Assumption;
use conninfo_core::mirror::ConnectorConfiguration;
use conninfo_core::outcome::{DescribeFailure, Refusal, RefusalCategory};
use conninfo_core::reason::Reason;

/// How the operator reaches AppFlow.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// Region for objects that name none; `None` leaves it to the AWS configuration chain.
    pub region: Option<String>,
    /// Overrides the endpoint (VPC endpoints, the emulator). `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_APPFLOW` are honoured by the SDK without this.
    pub endpoint_url: Option<String>,
    pub connect_timeout: Duration,
    /// Limit for one attempt of a call.
    pub attempt_timeout: Duration,
    /// Attempts the SDK makes per call; kept small because the controller retries with backoff.
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            max_attempts: 2,
        }
    }
}

/// Shared AppFlow access: one SDK client per (identity, region), built on first use and
/// dropped when no object uses it any more.
pub struct AppFlow {
    base: SdkConfig,
    clients: Mutex<HashMap<(String, String), Client>>,
    credentials: Credentials,
}

impl AppFlow {
    /// Loads the default credential chain (env, profile, web identity, EKS Pod Identity, IMDS).
    pub async fn load(settings: &AwsSettings) -> Self {
        Self::from_sdk_config(Self::loader(settings).load().await)
    }

    /// The SDK configuration loader with the operator's timeouts, retries, region and
    /// endpoint applied; callers may add to it (tests give static credentials).
    pub fn loader(settings: &AwsSettings) -> aws_config::ConfigLoader {
        let attempts = settings.max_attempts.max(1);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .operation_attempt_timeout(settings.attempt_timeout)
            .operation_timeout(settings.attempt_timeout * attempts + settings.connect_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(attempts));
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader
    }

    pub fn from_sdk_config(base: SdkConfig) -> Self {
        Self {
            credentials: Credentials::new(base.clone()),
            base,
            clients: Mutex::default(),
        }
    }

    pub fn default_region(&self) -> Option<&str> {
        self.base.region().map(Region::as_ref)
    }

    async fn client(&self, identity: &Identity, region: &str) -> Client {
        let key = (identity.key(), region.to_owned());
        if let Some(client) = lock(&self.clients).get(&key) {
            return client.clone();
        }
        // Every client of one identity shares its credentials provider, so the SDK's identity
        // cache holds one set of (assumed) credentials per identity, renewed before expiry.
        let mut config = aws_sdk_appflow::config::Builder::from(&self.base)
            .region(Region::new(region.to_owned()));
        if let Some(provider) = self.credentials.provider(identity).await {
            // `set_`, not `credentials_provider()`, which would wrap the provider in a new
            // one with a cache partition of its own: credentials shared by no other client.
            config.set_credentials_provider(Some(provider));
        }
        lock(&self.clients)
            .entry(key)
            .or_insert_with(|| Client::from_conf(config.build()))
            .clone()
    }

    /// Drops the clients (and role credentials) of (identity key, region) pairs no object
    /// uses any more.
    pub fn retain_clients(&self, in_use: impl Fn(&str, &str) -> bool) {
        let mut clients = lock(&self.clients);
        clients.retain(|(identity, region), _| in_use(identity, region));
        let identities: HashSet<&str> = clients
            .keys()
            .map(|(identity, _)| identity.as_str())
            .collect();
        self.credentials
            .retain(|identity| identities.contains(identity));
    }

    /// How many SDK clients are alive (the tests check that unused ones are dropped).
    pub fn client_count(&self) -> usize {
        lock(&self.clients).len()
    }

    /// The account an identity acts in: a role's from its ARN, the operator's own from STS
    /// GetCallerIdentity (asked once, again after a failure only a minute later).
    pub async fn account_id(&self, identity: &Identity) -> Option<String> {
        match identity.known_account() {
            Some(account) => Some(account.to_owned()),
            None => self.credentials.operator_account().await,
        }
    }

    /// Tries the identity now (AssumeRole for a role, GetCallerIdentity for the operator's
    /// own), for a binding's status.
    pub async fn try_identity(&self, identity: &Identity) -> Assumption {
        self.credentials.try_identity(identity).await
    }

    /// Calls DescribeConnector in `region` (or the default region) as `identity`.
    pub async fn describe_connector(
        &self,
        identity: &Identity,
        region: Option<&str>,
        connector_type: &str,
        connector_label: Option<&str>,
    ) -> Result<ConnectorConfiguration, DescribeFailure> {
        let Some(region) = region.or(self.default_region()) else {
            return Err(Refusal::new(
                RefusalCategory::NoRegion,
                "no AWS region: set spec.region, the operator's --region or AWS_REGION",
            )
            .into());
        };
        let raw = RawBody::default();
        let response = self
            .client(identity, region)
            .await
            .describe_connector()
            .connector_type(connector_type.into())
            .set_connector_label(connector_label.map(str::to_owned))
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| match identity {
                Identity::Role(role) => credentials::assume_role_failure(&e, &role.arn)
                    .unwrap_or_else(|| classify_sdk_error(&e, "AppFlow")),
                Identity::Operator => classify_sdk_error(&e, "AppFlow"),
            })?;
        let mut config = response
            .connector_configuration()
            .map(convert::configuration)
            .ok_or_else(|| {
                DescribeFailure::local(
                    Reason::InvalidResponse,
                    "the response has no connectorConfiguration",
                )
            })?;
        if let Some(body) = raw.take() {
            config.keep_unmodelled_metadata(&body);
        }
        Ok(config)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps the raw body of a successful response, for members the SDK's model predates.
#[derive(Clone, Debug, Default)]
struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl RawBody {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// What an SDK error says, reduced to the facts classification needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The service answered with an error (or an answer the SDK could not read).
    Service { status: u16, code: Option<String> },
    /// No credentials could be loaded from the chain.
    Credentials,
    /// The call timed out or never reached the service.
    Unreachable,
    /// The response could not be parsed.
    Unparseable,
    /// The request could not be built.
    Construction,
}

/// Pure: which condition reason a failure gets (the guide's table).
pub fn classify(failure: &Failure) -> Reason {
    match failure {
        Failure::Credentials => Reason::CredentialsUnavailable,
        Failure::Unreachable => Reason::ServiceUnreachable,
        Failure::Unparseable => Reason::InvalidResponse,
        Failure::Construction => Reason::InvalidRequest,
        Failure::Service { status, code } => {
            let by_code = code
                .as_deref()
                .map(|c| c.split(':').next().unwrap_or(c))
                .and_then(|code| {
                    Some(match code {
                        "ValidationException" | "SerializationException" => Reason::InvalidRequest,
                        "ResourceNotFoundException" => Reason::ConnectorNotFound,
                        "AccessDeniedException"
                        | "UnrecognizedClientException"
                        | "InvalidSignatureException"
                        | "SignatureDoesNotMatch"
                        | "IncompleteSignature"
                        | "InvalidClientTokenId"
                        | "MissingAuthenticationTokenException"
                        | "MissingAuthenticationToken" => Reason::AccessDenied,
                        // The credentials ran out, not the permissions: fix or refresh the
                        // credentials, not the IAM policy.
                        "ExpiredTokenException" | "ExpiredToken" => Reason::CredentialsUnavailable,
                        "ThrottlingException"
                        | "Throttling"
                        | "TooManyRequestsException"
                        | "RequestLimitExceeded" => Reason::Throttled,
                        "InternalServerException"
                        | "InternalFailure"
                        | "ServiceUnavailable"
                        | "ServiceUnavailableException" => Reason::ServiceError,
                        _ => return None,
                    })
                });
            by_code.unwrap_or(match status {
                401 | 403 => Reason::AccessDenied,
                429 => Reason::Throttled,
                400 => Reason::InvalidRequest,
                404 => Reason::ConnectorNotFound,
                200..=399 => Reason::InvalidResponse,
                _ => Reason::ServiceError,
            })
        }
    }
}

fn is_credentials_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reduces an SDK error to its facts and classifies it.
fn classify_sdk_error<E>(
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    service_name: &str,
) -> DescribeFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let request_id = error.request_id().map(str::to_owned);
    let (failure, code, message) = match error {
        _ if is_credentials_error(error) => (
            Failure::Credentials,
            None,
            "no AWS credentials could be loaded from the default chain".to_owned(),
        ),
        SdkError::ServiceError(service) => service_failure(service, service_name),
        other => (
            transport_failure(other),
            None,
            transport_message(other, service_name),
        ),
    };
    DescribeFailure {
        reason: classify(&failure),
        code,
        message,
        request_id,
        refusal: None,
    }
}

/// An answer from the service: its HTTP status, error code and message.
fn service_failure<E>(
    service: &aws_smithy_runtime_api::client::result::ServiceError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
    service_name: &str,
) -> (Failure, Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = service.raw().status().as_u16();
    let code = service.err().code().map(str::to_owned);
    let message = match (service.err().message(), &code) {
        (Some(message), _) => message.to_owned(),
        (None, Some(_)) => "no message".to_owned(),
        (None, None) => format!(
            "unreadable answer from {service_name} (HTTP {status}): {}",
            source_chain(service.err())
        ),
    };
    let failure = Failure::Service {
        status,
        code: code.clone(),
    };
    (failure, code, message)
}

/// No answer from the service, or none that could be read.
fn transport_failure<E, R>(error: &SdkError<E, R>) -> Failure {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Failure::Unreachable,
        SdkError::ResponseError(_) => Failure::Unparseable,
        _ => Failure::Construction,
    }
}

/// What went wrong on the way to or from the service, with the error's causes.
fn transport_message<E, R>(error: &SdkError<E, R>, service_name: &str) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match error {
        SdkError::TimeoutError(_) => format!("the call to {service_name} timed out"),
        SdkError::DispatchFailure(dispatch) => {
            let what = if dispatch.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            format!(
                "connection to {service_name} {what}: {}",
                source_chain(error)
            )
        }
        SdkError::ResponseError(_) => format!(
            "unreadable answer from {service_name}: {}",
            source_chain(error)
        ),
        _ => format!("request could not be built: {}", source_chain(error)),
    }
}

/// The error and its causes on one line, e.g. "dispatch failure: io error: Connection refused".
fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: Option<&str>) -> Reason {
        classify(&Failure::Service {
            status,
            code: code.map(str::to_owned),
        })
    }

    #[test]
    fn modelled_and_unmodelled_codes() {
        assert_eq!(
            service(400, Some("ValidationException")),
            Reason::InvalidRequest
        );
        assert_eq!(
            service(404, Some("ResourceNotFoundException")),
            Reason::ConnectorNotFound
        );
        assert_eq!(
            service(500, Some("InternalServerException")),
            Reason::ServiceError
        );
        assert_eq!(
            service(403, Some("AccessDeniedException")),
            Reason::AccessDenied
        );
        assert_eq!(
            service(403, Some("UnrecognizedClientException")),
            Reason::AccessDenied
        );
        assert_eq!(
            service(403, Some("InvalidSignatureException")),
            Reason::AccessDenied
        );
        assert_eq!(
            service(403, Some("MissingAuthenticationTokenException")),
            Reason::AccessDenied
        );
        for expired in ["ExpiredTokenException", "ExpiredToken"] {
            assert_eq!(
                service(403, Some(expired)),
                Reason::CredentialsUnavailable,
                "{expired}"
            );
            assert_eq!(service(400, Some(expired)), Reason::CredentialsUnavailable);
        }
        assert_eq!(service(400, Some("ThrottlingException")), Reason::Throttled);
        assert_eq!(
            service(429, Some("TooManyRequestsException")),
            Reason::Throttled
        );
        assert_eq!(
            service(400, Some("ValidationException:http://internal.amazon.com/")),
            Reason::InvalidRequest
        );
    }

    #[test]
    fn unknown_codes_fall_back_to_http_status() {
        assert_eq!(service(429, Some("SomethingNew")), Reason::Throttled);
        assert_eq!(service(503, None), Reason::ServiceError);
        assert_eq!(service(502, Some("BadGateway")), Reason::ServiceError);
        assert_eq!(service(403, None), Reason::AccessDenied);
        assert_eq!(
            service(409, Some("ConflictException")),
            Reason::ServiceError
        );
        assert_eq!(service(200, None), Reason::InvalidResponse);
    }

    #[test]
    fn transport_failures() {
        assert_eq!(
            classify(&Failure::Credentials),
            Reason::CredentialsUnavailable
        );
        assert_eq!(classify(&Failure::Unreachable), Reason::ServiceUnreachable);
        assert_eq!(classify(&Failure::Unparseable), Reason::InvalidResponse);
    }

    #[test]
    fn message_carries_code_and_request_id() {
        let error = DescribeFailure {
            reason: Reason::Throttled,
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
            request_id: Some("abc-123".into()),
            refusal: None,
        };
        assert_eq!(
            error.to_string(),
            "ThrottlingException: Rate exceeded (request id: abc-123)"
        );
    }
}
