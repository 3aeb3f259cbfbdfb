//! The emulator against the AWS SDK for Rust (`aws-sdk-appflow`), the client
//! the operator uses: real HTTP, real SigV4 signing, the SDK's restJson1
//! deserializers and error parsing.

use std::time::Duration;

use appflow_emulator::VENDED_CONNECTOR_TYPES;
use appflow_emulator::harness::Running;
use aws_sdk_appflow::Client;
use aws_sdk_appflow::config::retry::RetryConfig;
use aws_sdk_appflow::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_appflow::error::ProvideErrorMetadata;
use aws_sdk_appflow::operation::RequestId;
use aws_sdk_appflow::operation::describe_connector::DescribeConnectorError;
use aws_sdk_appflow::types::{ConnectorType, OAuth2GrantType};

struct Emulator {
    base: String,
    running: Running,
}

impl Emulator {
    async fn start(yaml: &str) -> Emulator {
        let running = Running::start_yaml(yaml).await.expect("emulator");
        Emulator {
            base: running.url.clone(),
            running,
        }
    }

    fn client(&self, retries: bool) -> Client {
        let retry = if retries {
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
        } else {
            RetryConfig::disabled()
        };
        let config = aws_sdk_appflow::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.base)
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(retry)
            .build();
        Client::from_conf(config)
    }

    async fn control(&self, path: &str, body: &str) -> String {
        // A minimal HTTP/1.1 client for the control endpoints.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    async fn stop(self) {
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.running.stop()).await;
        assert!(matches!(stopped, Ok(Ok(()))), "server stopped cleanly");
    }
}

const DATA: &str = r#"
customConnectors:
  - label: acme-crm
    registeredAt: 1704067200
    authenticationConfig:
      isOAuth2Supported: true
      oAuth2Defaults:
        oauth2GrantTypesSupported: [AUTHORIZATION_CODE, CLIENT_CREDENTIALS]
        tokenUrls: [https://auth.acme.example/oauth2/token]
      customAuthConfigs:
        - customAuthenticationType: HMAC
          authParameters: [{key: apiKeyId, isRequired: true, isSensitiveField: false}]
"#;

#[tokio::test]
async fn describes_every_vended_connector() {
    let emu = Emulator::start(DATA).await;
    let client = emu.client(false);
    for t in VENDED_CONNECTOR_TYPES {
        let out = client
            .describe_connector()
            .connector_type(ConnectorType::from(*t))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{t}: {e:?}"));
        assert!(out.request_id().is_some_and(|id| id.len() == 36), "{t}");
        let cfg = out.connector_configuration().expect("configuration");
        assert_eq!(cfg.connector_type().map(|c| c.as_str()), Some(*t));
        // No value of the catalog is outside the SDK's enums.
        assert!(
            !format!("{cfg:?}").contains("Unknown("),
            "{t}: unknown enum value in {cfg:?}"
        );
        assert!(cfg.authentication_config().is_some(), "{t}");
    }
    let sf = client
        .describe_connector()
        .connector_type(ConnectorType::Salesforce)
        .send()
        .await
        .expect("Salesforce");
    let cfg = sf.connector_configuration().expect("cfg");
    let grants = cfg
        .connector_metadata()
        .and_then(|m| m.salesforce())
        .map(|s| s.oauth2_grant_types_supported().to_vec());
    assert_eq!(
        grants,
        Some(vec![
            OAuth2GrantType::AuthorizationCode,
            OAuth2GrantType::ClientCredentials,
            OAuth2GrantType::JwtBearer
        ])
    );
    assert_eq!(cfg.supported_data_transfer_apis().len(), 3);
    let snow = client
        .describe_connector()
        .connector_type(ConnectorType::Snowflake)
        .send()
        .await
        .expect("Snowflake");
    let regions = snow
        .connector_configuration()
        .and_then(|c| c.connector_metadata())
        .and_then(|m| m.snowflake())
        .map(|s| s.supported_regions().len());
    assert!(regions.is_some_and(|n| n > 0));
    emu.stop().await;
}

#[tokio::test]
async fn custom_connector_and_modelled_errors() {
    let emu = Emulator::start(DATA).await;
    let client = emu.client(false);
    let out = client
        .describe_connector()
        .connector_type(ConnectorType::Customconnector)
        .connector_label("acme-crm")
        .send()
        .await
        .expect("custom");
    let cfg = out.connector_configuration().expect("cfg");
    assert_eq!(cfg.connector_label(), Some("acme-crm"));
    assert_eq!(cfg.registered_at().map(|d| d.secs()), Some(1_704_067_200));
    assert_eq!(
        cfg.connector_arn(),
        Some("arn:aws:appflow:us-west-2:123456789012:connector/acme-crm")
    );
    let auth = cfg.authentication_config().expect("auth");
    assert!(auth.is_o_auth2_supported());
    assert!(auth.is_custom_auth_supported());
    assert_eq!(
        auth.custom_auth_configs()[0].custom_authentication_type(),
        Some("HMAC")
    );
    assert!(
        cfg.connector_provisioning_config()
            .and_then(|p| p.lambda())
            .is_some_and(|l| l.lambda_arn().starts_with("arn:aws:lambda:us-west-2:"))
    );

    let err = client
        .describe_connector()
        .connector_type(ConnectorType::Customconnector)
        .connector_label("missing-one")
        .send()
        .await
        .expect_err("not found")
        .into_service_error();
    assert!(
        matches!(err, DescribeConnectorError::ResourceNotFoundException(_)),
        "{err:?}"
    );
    assert!(err.message().is_some_and(|m| m.contains("missing-one")));

    let err = client
        .describe_connector()
        .connector_type(ConnectorType::Customconnector)
        .send()
        .await
        .expect_err("label required")
        .into_service_error();
    assert!(
        matches!(err, DescribeConnectorError::ValidationException(_)),
        "{err:?}"
    );

    let err = client
        .describe_connector()
        .connector_type(ConnectorType::from("NotAType"))
        .send()
        .await
        .expect_err("bad enum")
        .into_service_error();
    assert!(
        matches!(err, DescribeConnectorError::ValidationException(_)),
        "{err:?}"
    );
    assert!(
        err.message()
            .is_some_and(|m| m.contains("Member must satisfy enum value set"))
    );
    emu.stop().await;
}

#[tokio::test]
async fn faults_seen_through_the_sdk() {
    let emu = Emulator::start(DATA).await;
    let client = emu.client(false);
    let call = || {
        client
            .describe_connector()
            .connector_type(ConnectorType::Slack)
            .send()
    };
    call().await.expect("healthy first");
    let r = emu
        .control(
            "/_emulator/faults",
            r#"{"key": "Slack", "fault": {"errorCode": "ThrottlingException", "count": 2}}"#,
        )
        .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    for _ in 0..2 {
        let err = call().await.expect_err("throttled").into_service_error();
        assert_eq!(err.code(), Some("ThrottlingException"));
        assert_eq!(err.message(), Some("Rate exceeded"));
    }
    call().await.expect("recovered");

    // The SDK's standard retry strategy rides over a transient throttle.
    emu.control(
        "/_emulator/faults",
        r#"{"key": "Slack", "fault": {"errorCode": "ThrottlingException", "count": 1}}"#,
    )
    .await;
    emu.client(true)
        .describe_connector()
        .connector_type(ConnectorType::Slack)
        .send()
        .await
        .expect("retried");

    // A modelled 500.
    emu.control(
        "/_emulator/faults",
        r#"{"key": "Slack", "fault": {"errorCode": "InternalServerException", "count": 1}}"#,
    )
    .await;
    let err = call().await.expect_err("500").into_service_error();
    assert!(
        matches!(err, DescribeConnectorError::InternalServerException(_)),
        "{err:?}"
    );

    // A body that is not JSON is a response error, not a configuration.
    emu.control(
        "/_emulator/faults",
        r#"{"key": "Slack", "fault": {"garbageBody": true, "count": 1}}"#,
    )
    .await;
    assert!(call().await.is_err());
    call().await.expect("healthy again");
    emu.stop().await;
}
