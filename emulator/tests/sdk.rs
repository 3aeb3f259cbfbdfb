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
        self.client_as(
            Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
            retries,
        )
    }

    fn client_as(&self, credentials: Credentials, retries: bool) -> Client {
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
            .credentials_provider(credentials)
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

// --- STS and accounts, through aws-sdk-sts -------------------------------------------

const ACCOUNTS: &str = r#"
customConnectors: [{label: home-crm}]
accounts:
  - accountId: "222222222222"
    customConnectors: [{label: team-b-crm}]
roles:
  - arn: arn:aws:iam::222222222222:role/appflow-observer
  - arn: arn:aws:iam::222222222222:role/guarded
    externalId: team-b
  - arn: arn:aws:iam::222222222222:role/brief
    sessionDurationSeconds: 2
"#;

impl Emulator {
    fn sts(&self, credentials: Credentials) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .endpoint_url(&self.base)
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }
}

fn base_credentials() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")
}

/// The SDK's credentials from an `AssumeRole` answer.
fn issued(out: &aws_sdk_sts::operation::assume_role::AssumeRoleOutput) -> Credentials {
    let c = out.credentials().expect("credentials");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "assumed",
    )
}

fn describe_custom(
    client: &Client,
    label: &str,
) -> impl Future<
    Output = Result<
        aws_sdk_appflow::operation::describe_connector::DescribeConnectorOutput,
        aws_sdk_appflow::error::SdkError<
            DescribeConnectorError,
            aws_sdk_appflow::config::http::HttpResponse,
        >,
    >,
> {
    client
        .describe_connector()
        .connector_type(ConnectorType::Customconnector)
        .connector_label(label)
        .send()
}

#[tokio::test]
async fn assumed_role_sees_its_accounts_connectors() {
    let emu = Emulator::start(ACCOUNTS).await;
    let sts = emu.sts(base_credentials());
    let out = sts
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/appflow-observer")
        .role_session_name("operator")
        .duration_seconds(900)
        .send()
        .await
        .expect("assume role");
    assert!(out.request_id().is_some_and(|id| id.len() == 36));
    let user = out.assumed_role_user().expect("user");
    assert_eq!(
        user.arn(),
        "arn:aws:sts::222222222222:assumed-role/appflow-observer/operator"
    );
    assert!(user.assumed_role_id().ends_with(":operator"));
    let creds = out.credentials().expect("credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.access_key_id().len(), 20);
    assert_eq!(creds.secret_access_key().len(), 40);
    let left = creds.expiration().secs()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
    assert!((890..=900).contains(&left), "{left}");

    let team_b = emu.client_as(issued(&out), false);
    let cfg = describe_custom(&team_b, "team-b-crm")
        .await
        .expect("team-b connector")
        .connector_configuration
        .expect("cfg");
    assert_eq!(
        cfg.connector_arn(),
        Some("arn:aws:appflow:us-west-2:222222222222:connector/team-b-crm")
    );
    let err = describe_custom(&team_b, "home-crm")
        .await
        .expect_err("other account's connector")
        .into_service_error();
    assert!(
        matches!(err, DescribeConnectorError::ResourceNotFoundException(_)),
        "{err:?}"
    );
    // The default credentials still act in the default account.
    describe_custom(&emu.client(false), "home-crm")
        .await
        .expect("default account");
    let err = describe_custom(&emu.client(false), "team-b-crm")
        .await
        .expect_err("not in the default account")
        .into_service_error();
    assert!(matches!(
        err,
        DescribeConnectorError::ResourceNotFoundException(_)
    ));

    // GetCallerIdentity, for both identities.
    let me = sts.get_caller_identity().send().await.expect("identity");
    assert_eq!(me.account(), Some("123456789012"));
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/emulator"));
    let me = emu
        .sts(issued(&out))
        .get_caller_identity()
        .send()
        .await
        .expect("assumed identity");
    assert_eq!(me.account(), Some("222222222222"));
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::222222222222:assumed-role/appflow-observer/operator")
    );
    assert!(me.user_id().is_some_and(|u| u.starts_with("AROA")));
    emu.stop().await;
}

#[tokio::test]
async fn sts_errors_seen_through_the_sdk() {
    let emu = Emulator::start(ACCOUNTS).await;
    let sts = emu.sts(base_credentials());
    let guarded = "arn:aws:iam::222222222222:role/guarded";
    let err = sts
        .assume_role()
        .role_arn(guarded)
        .role_session_name("operator")
        .send()
        .await
        .expect_err("external id missing")
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert_eq!(
        err.message(),
        Some(
            "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/guarded"
        )
    );
    assert!(err.meta().request_id().is_some());
    let err = sts
        .assume_role()
        .role_arn(guarded)
        .role_session_name("operator")
        .external_id("team-x")
        .send()
        .await
        .expect_err("wrong external id")
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));
    sts.assume_role()
        .role_arn(guarded)
        .role_session_name("operator")
        .external_id("team-b")
        .send()
        .await
        .expect("right external id");

    // The role made unassumable at run time.
    let r = emu
        .control(
            "/_emulator/roles",
            r#"{"arn": "arn:aws:iam::222222222222:role/guarded", "externalId": "team-b", "assumable": false}"#,
        )
        .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let err = sts
        .assume_role()
        .role_arn(guarded)
        .role_session_name("operator")
        .external_id("team-b")
        .send()
        .await
        .expect_err("unassumable")
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));

    // The Rust SDK does not validate client-side; the emulator does.
    let err = sts
        .assume_role()
        .role_arn(guarded)
        .role_session_name("has space")
        .duration_seconds(60)
        .send()
        .await
        .expect_err("invalid")
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    assert!(
        err.message()
            .is_some_and(|m| m.starts_with("2 validation errors detected: ")),
        "{err:?}"
    );
    emu.stop().await;
}

#[tokio::test]
async fn expired_credentials() {
    let emu = Emulator::start(ACCOUNTS).await;
    let out = emu
        .sts(base_credentials())
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/brief")
        .role_session_name("operator")
        .duration_seconds(3600)
        .send()
        .await
        .expect("assume role");
    let expires = out.credentials().expect("creds").expiration().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    assert!(expires - now <= 2, "sessionDurationSeconds wins");
    let client = emu.client_as(issued(&out), false);
    describe_custom(&client, "team-b-crm")
        .await
        .expect("fresh credentials");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = describe_custom(&client, "team-b-crm")
        .await
        .expect_err("expired")
        .into_service_error();
    assert_eq!(err.code(), Some("ExpiredTokenException"));
    assert_eq!(
        err.message(),
        Some("The security token included in the request is expired")
    );
    let err = emu
        .sts(issued(&out))
        .get_caller_identity()
        .send()
        .await
        .expect_err("expired")
        .into_service_error();
    assert_eq!(err.code(), Some("ExpiredToken"));
    // The key without its session token.
    let c = out.credentials().expect("creds");
    let tokenless = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        None,
        None,
        "tokenless",
    );
    let err = describe_custom(&emu.client_as(tokenless, false), "team-b-crm")
        .await
        .expect_err("no token")
        .into_service_error();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    emu.stop().await;
}
