//! The real aws-sdk-appflow client, through the operator's access layer, against the emulator
//! over HTTP: every outcome maps to its reason.

use std::time::Duration;

use conninfo_core::account::Identity;
use conninfo_core::reason::Reason;
use serde_json::json;

use conninfo_test_support::{DATA, Emulator};

#[tokio::test]
async fn vended_connector_is_described_faithfully() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let config = appflow
        .describe_connector(&Identity::Operator, None, "Salesforce", None)
        .await
        .expect("describe");
    assert_eq!(config.connector_type.as_deref(), Some("Salesforce"));
    let auth = config.authentication_config.as_ref().expect("auth config");
    assert!(auth.is_oauth2_supported);
    let salesforce = config
        .connector_metadata
        .as_ref()
        .and_then(|m| m.salesforce.as_ref())
        .expect("metadata");
    assert!(
        salesforce
            .oauth2_grant_types_supported
            .iter()
            .any(|g| g == "JWT_BEARER")
    );
    assert_eq!(emulator.calls("Salesforce").await, 1);
}

#[tokio::test]
async fn custom_connector_from_data_file() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let config = appflow
        .describe_connector(
            &Identity::Operator,
            None,
            "CustomConnector",
            Some("acme-crm"),
        )
        .await
        .expect("describe");
    assert_eq!(config.connector_label.as_deref(), Some("acme-crm"));
    assert!(config.registered_at.is_some(), "timestamp parsed");
    let auth = config.authentication_config.expect("auth");
    assert_eq!(
        auth.custom_auth_configs[0]
            .custom_authentication_type
            .as_deref(),
        Some("HMAC")
    );

    let missing = appflow
        .describe_connector(&Identity::Operator, None, "CustomConnector", Some("nobody"))
        .await
        .unwrap_err();
    assert_eq!(missing.reason, Reason::ConnectorNotFound);
    assert_eq!(missing.code.as_deref(), Some("ResourceNotFoundException"));
    assert!(missing.request_id.is_some(), "{missing}");
}

#[tokio::test]
async fn every_error_code_maps_to_its_reason() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let cases = [
        ("ValidationException", Reason::InvalidRequest),
        ("ResourceNotFoundException", Reason::ConnectorNotFound),
        ("AccessDeniedException", Reason::AccessDenied),
        ("UnrecognizedClientException", Reason::AccessDenied),
        ("ThrottlingException", Reason::Throttled),
        ("InternalServerException", Reason::ServiceError),
        ("ServiceQuotaExceededException", Reason::ServiceError),
    ];
    for (code, reason) in cases {
        emulator
            .set_fault(
                "Slack",
                json!({"errorCode": code, "message": format!("injected {code}")}),
            )
            .await;
        let error = appflow
            .describe_connector(&Identity::Operator, None, "Slack", None)
            .await
            .unwrap_err();
        assert_eq!(error.reason, reason, "{code}: {error}");
        assert_eq!(error.code.as_deref(), Some(code));
        let text = error.to_string();
        assert!(
            text.contains(&format!("injected {code}")) && text.contains("request id"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn fault_with_count_recovers() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    emulator
        .set_fault(
            "Zendesk",
            json!({"errorCode": "ThrottlingException", "count": 2}),
        )
        .await;
    for _ in 0..2 {
        assert_eq!(
            appflow
                .describe_connector(&Identity::Operator, None, "Zendesk", None)
                .await
                .unwrap_err()
                .reason,
            Reason::Throttled
        );
    }
    assert!(
        appflow
            .describe_connector(&Identity::Operator, None, "Zendesk", None)
            .await
            .is_ok()
    );
    assert_eq!(emulator.calls("Zendesk").await, 3);
}

#[tokio::test]
async fn sdk_retries_a_transient_fault_once() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator
        .appflow(conninfo_aws::appflow::AwsSettings {
            max_attempts: 2,
            ..emulator.settings()
        })
        .await;
    emulator
        .set_fault(
            "Datadog",
            json!({"errorCode": "InternalServerException", "count": 1}),
        )
        .await;
    assert!(
        appflow
            .describe_connector(&Identity::Operator, None, "Datadog", None)
            .await
            .is_ok()
    );
    assert_eq!(emulator.calls("Datadog").await, 2);
}

#[tokio::test]
async fn latency_beyond_timeout_is_unreachable() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator
        .appflow(conninfo_aws::appflow::AwsSettings {
            attempt_timeout: Duration::from_millis(300),
            ..emulator.settings()
        })
        .await;
    emulator
        .set_fault("Marketo", json!({"latencyMs": 3000}))
        .await;
    let error = appflow
        .describe_connector(&Identity::Operator, None, "Marketo", None)
        .await
        .unwrap_err();
    assert_eq!(error.reason, Reason::ServiceUnreachable, "{error}");
}

#[tokio::test]
async fn garbage_body_is_invalid_response() {
    let emulator = Emulator::start(DATA).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    emulator
        .set_fault("Snowflake", json!({"garbageBody": true}))
        .await;
    let error = appflow
        .describe_connector(&Identity::Operator, None, "Snowflake", None)
        .await
        .unwrap_err();
    assert_eq!(error.reason, Reason::InvalidResponse, "{error}");
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let emulator = Emulator::start(DATA).await;
    let mut settings = emulator.settings();
    settings.endpoint_url = Some(url);
    let appflow = emulator.appflow(settings).await;
    let error = appflow
        .describe_connector(&Identity::Operator, None, "Slack", None)
        .await
        .unwrap_err();
    assert_eq!(error.reason, Reason::ServiceUnreachable, "{error}");
}

#[tokio::test]
async fn metadata_the_sdk_does_not_model_is_kept() {
    let data = "overrides:\n  Zendesk:\n    connectorMetadata:\n      BrandNewConnector: {oAuthScopes: [read]}\n";
    let emulator = Emulator::start(data).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let config = appflow
        .describe_connector(&Identity::Operator, None, "Zendesk", None)
        .await
        .expect("describe");
    let metadata = config.connector_metadata.expect("metadata");
    assert!(metadata.zendesk.is_some(), "modelled member still typed");
    assert_eq!(
        metadata.unmodelled["BrandNewConnector"],
        json!({"oAuthScopes": ["read"]})
    );
}

/// Two accounts behind the emulator's STS: the roles the operator assumes, one refusing it.
const ACCOUNTS: &str = r#"
accountId: "123456789012"
accounts:
  - accountId: "222222222222"
    customConnectors: [{label: team-a-crm}]
roles:
  - arn: arn:aws:iam::222222222222:role/observer
    externalId: team-a-7f3c
  - arn: arn:aws:iam::222222222222:role/locked
    assumable: false
"#;

fn role(arn: &str, external_id: Option<&str>) -> Identity {
    Identity::Role(conninfo_core::account::identity::Role {
        arn: arn.to_owned(),
        external_id: external_id.map(str::to_owned),
        session_duration: None,
    })
}

#[tokio::test]
async fn assumed_roles_answer_from_their_account_through_one_client_per_identity_and_region() {
    use conninfo_core::account::status::Assumption;

    let emulator = Emulator::start(ACCOUNTS).await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let team_a = role(
        "arn:aws:iam::222222222222:role/observer",
        Some("team-a-7f3c"),
    );

    // The role's account has the custom connector; the operator's own does not.
    let config = appflow
        .describe_connector(&team_a, None, "CustomConnector", Some("team-a-crm"))
        .await
        .expect("described in account 222222222222");
    assert_eq!(config.connector_label.as_deref(), Some("team-a-crm"));
    let own = appflow
        .describe_connector(
            &Identity::Operator,
            None,
            "CustomConnector",
            Some("team-a-crm"),
        )
        .await
        .unwrap_err();
    assert_eq!(own.reason, Reason::ConnectorNotFound);
    assert_eq!(
        appflow.account_id(&team_a).await.as_deref(),
        Some("222222222222")
    );
    assert_eq!(
        appflow.account_id(&Identity::Operator).await.as_deref(),
        Some("123456789012"),
        "GetCallerIdentity"
    );

    // Assumed credentials are cached: more describes, in two regions, one AssumeRole.
    for region in ["us-east-1", "eu-west-1", "us-east-1"] {
        appflow
            .describe_connector(&team_a, Some(region), "Slack", None)
            .await
            .expect("vended connector");
    }
    let stats = emulator.stats().await;
    assert_eq!(
        stats["sts"]["assumeRole"]["arn:aws:iam::222222222222:role/observer"]["succeeded"], 1,
        "{stats}"
    );
    assert_eq!(stats["accounts"]["222222222222"]["total"], 4, "{stats}");
    assert_eq!(
        appflow.client_count(),
        3,
        "(team-a, us-east-1), (team-a, eu-west-1), (operator, us-east-1)"
    );
    appflow.retain_clients(|identity, region| identity == "operator" || region == "eu-west-1");
    assert_eq!(appflow.client_count(), 2);
    appflow.retain_clients(|identity, _| identity == "operator");
    assert_eq!(appflow.client_count(), 1);

    // A refused role: AccessDenied, naming the role and STS's words, never credentials.
    let locked = role("arn:aws:iam::222222222222:role/locked", None);
    let refused = appflow
        .describe_connector(&locked, None, "Slack", None)
        .await
        .unwrap_err();
    assert_eq!(refused.reason, Reason::AccessDenied);
    assert_eq!(refused.code.as_deref(), Some("AccessDenied"));
    assert!(
        refused
            .message
            .starts_with("cannot assume role arn:aws:iam::222222222222:role/locked: User: "),
        "{}",
        refused.message
    );
    assert!(!refused.to_string().contains("test-secret"));
    // The wrong external id is refused the same way; the binding check says so too.
    let wrong_id = role("arn:aws:iam::222222222222:role/observer", Some("guess"));
    match appflow.try_identity(&wrong_id).await {
        Assumption::Failed { message } => {
            assert!(message.starts_with("AccessDenied: User: "), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        appflow.try_identity(&team_a).await,
        Assumption::Succeeded {
            account_id: Some("222222222222".into())
        }
    );
}
