//! The operator's own AppFlow client (`conninfo_aws::appflow::AppFlow`) with an HTTP client
//! that answers every request with the fuzz input: the real aws-sdk-appflow serializer,
//! signer, restJson1 deserializer and error parser, then the operator's conversion into the
//! mirror and its error classification. No network, no retries, one request per input.

use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use conninfo_aws::appflow::AppFlow;
use conninfo_core::account::Identity;
use conninfo_core::outcome::Outcome;

use super::answer::Answer;

/// The answer the next request gets; taken by the request, so a second one would fail.
type Slot = Arc<Mutex<Option<Answer>>>;

/// A current-thread runtime and one client, built once per fuzzing process.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    appflow: AppFlow,
    next: Slot,
}

impl Harness {
    pub fn new() -> Self {
        let next = Slot::default();
        let connector = SharedHttpConnector::new(Canned(next.clone()));
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDFUZZ",
                "fuzz-secret",
                None,
                None,
                "fuzz",
            )))
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .retry_config(RetryConfig::disabled())
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        Harness {
            runtime,
            appflow: AppFlow::from_sdk_config(config),
            next,
        }
    }

    /// DescribeConnector as the operator calls it, answered with `answer`.
    pub fn describe(&self, answer: Answer) -> Outcome {
        *lock(&self.next) = Some(answer);
        let outcome = self.runtime.block_on(self.appflow.describe_connector(
            &Identity::Operator,
            Some("us-east-1"),
            "Salesforce",
            None,
        ));
        lock(&self.next).take();
        outcome
    }

    /// Panics unless a plain answer reaches the mirror and an error answer is classified:
    /// otherwise fuzzing would only ever reach the harness's own failure.
    pub fn assert_reaches_the_mirror(&self) {
        let body = br#"{"connectorConfiguration": {"canUseAsSource": true,
            "authenticationConfig": {"isOAuth2Supported": true}}}"#;
        let config = self.describe(Answer::parse(body)).expect("described");
        assert!(config.can_use_as_source);
        let auth = config.authentication_config.expect("authentication");
        assert!(auth.is_oauth2_supported);

        let failure = self
            .describe(Answer::parse(
                b"404\nx-amzn-errortype: ResourceNotFoundException\n\n{\"message\": \"gone\"}",
            ))
            .expect_err("not found");
        assert_eq!(failure.reason.as_str(), "ConnectorNotFound");
        assert_eq!(failure.message, "gone");
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<Answer>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Canned(Slot);

impl HttpConnector for Canned {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        let answer = lock(&self.0).take();
        HttpConnectorFuture::ready(respond(answer))
    }
}

fn respond(answer: Option<Answer>) -> Result<HttpResponse, ConnectorError> {
    let answer = answer
        .ok_or_else(|| ConnectorError::other("a second request for one fuzz input".into(), None))?;
    let response = answer.to_http().map(SdkBody::from);
    HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canned_answer_reaches_the_mirror_and_errors_are_classified() {
        let harness = Harness::new();
        harness.assert_reaches_the_mirror();
        let garbage = harness.describe(Answer::parse(b"{")).expect_err("garbage");
        assert_eq!(garbage.reason.as_str(), "InvalidResponse");
    }
}
