//! Router-level tests of STS (`POST /`) and of DescribeConnector across accounts.

use axum::Router;
use serde_json::{Value, json};

use crate::test_support::{Reply, app_with, control, send, send_with};

const DATA: &str = r#"
customConnectors: [{label: home-crm}]
accounts:
  - accountId: "222222222222"
    customConnectors: [{label: team-b-crm}]
  - accountId: "333333333333"
roles:
  - arn: arn:aws:iam::222222222222:role/appflow-observer
  - arn: arn:aws:iam::333333333333:role/ops/guarded
    externalId: team-c
  - arn: arn:aws:iam::333333333333:role/locked
    assumable: false
  - arn: arn:aws:iam::222222222222:role/short
    sessionDurationSeconds: 1
"#;

const OBSERVER: &str = "arn:aws:iam::222222222222:role/appflow-observer";
const GUARDED: &str = "arn:aws:iam::333333333333:role/ops/guarded";

fn sigv4(key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00ff"
    )
}

/// An STS call with `key` (and `token`, if any), form-encoded as the SDKs send it.
async fn sts(app: &Router, key: &str, token: Option<&str>, form: &[(&str, &str)]) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let auth = sigv4(key, "sts");
    let mut headers = vec![
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("authorization", auth.as_str()),
    ];
    if let Some(t) = token {
        headers.push(("x-amz-security-token", t));
    }
    send_with(app, "POST", "/", &headers, &body).await
}

async fn assume(app: &Router, role: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", "operator"),
    ];
    form.extend_from_slice(extra);
    sts(app, "AKIDEXAMPLE", None, &form).await
}

/// Issued credentials: (access key, session token).
fn credentials(r: &Reply) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    (
        r.xml("AccessKeyId").expect("key"),
        r.xml("SessionToken").expect("token"),
    )
}

async fn describe_as(app: &Router, key: &str, token: Option<&str>, label: &str) -> Reply {
    let auth = sigv4(key, "appflow");
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    if let Some(t) = token {
        headers.push(("x-amz-security-token", t));
    }
    let body = json!({"connectorType": "CustomConnector", "connectorLabel": label}).to_string();
    send_with(app, "POST", "/describe-connector", &headers, &body).await
}

async fn stats(app: &Router) -> Value {
    control(app, "GET", "/_emulator/stats", "").await.json()
}

#[tokio::test]
async fn assume_role_wire_format() {
    let app = app_with(DATA);
    let r = assume(&app, OBSERVER, &[("DurationSeconds", "900")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/xml"));
    let id = r
        .header("x-amzn-RequestId")
        .expect("request id")
        .to_string();
    let text = r.text();
    assert!(
        text.starts_with(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n"
        ),
        "{text}"
    );
    assert_eq!(r.xml("RequestId"), Some(id));
    let key = r.xml("AccessKeyId").expect("key");
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(r.xml("SecretAccessKey").map(|s| s.len()), Some(40));
    assert!(r.xml("SessionToken").is_some_and(|t| t.len() > 100));
    let expiration = r.xml("Expiration").expect("expiration");
    let expires: jiff::Timestamp = expiration.parse().expect("ISO 8601");
    let left = expires.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((890..=900).contains(&left), "{left}");
    assert_eq!(
        r.xml("Arn").as_deref(),
        Some("arn:aws:sts::222222222222:assumed-role/appflow-observer/operator")
    );
    let role_id = r.xml("AssumedRoleId").expect("role id");
    assert!(role_id.starts_with("AROA") && role_id.ends_with(":operator"));
}

#[tokio::test]
async fn describe_acts_in_the_credentials_account() {
    let app = app_with(DATA);
    let (key, token) = credentials(&assume(&app, OBSERVER, &[]).await);
    let r = describe_as(&app, &key, Some(&token), "team-b-crm").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["connectorConfiguration"]["connectorArn"],
        json!("arn:aws:appflow:us-east-1:222222222222:connector/team-b-crm")
    );
    // The default account's connector is not in account 222222222222.
    let r = describe_as(&app, &key, Some(&token), "home-crm").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), Some("ResourceNotFoundException"));
    // Vended connectors answer in every account.
    let auth = sigv4(&key, "appflow");
    let r = send_with(
        &app,
        "POST",
        "/describe-connector",
        &[("authorization", &auth), ("x-amz-security-token", &token)],
        r#"{"connectorType": "Slack"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    // Any other key acts in the default account.
    assert_eq!(
        describe_as(&app, "AKIDEXAMPLE", None, "home-crm")
            .await
            .status,
        200
    );
    assert_eq!(
        describe_as(&app, "AKIDEXAMPLE", None, "team-b-crm")
            .await
            .status,
        404
    );

    let s = stats(&app).await;
    assert_eq!(s["accounts"]["222222222222"]["total"], json!(3));
    assert_eq!(
        s["accounts"]["222222222222"]["calls"]["CustomConnector/home-crm"],
        json!(1)
    );
    assert_eq!(s["accounts"]["123456789012"]["total"], json!(2));
    assert_eq!(
        s["accounts"]["222222222222"]["customConnectors"],
        json!(["team-b-crm"])
    );
    assert_eq!(s["customConnectors"], json!(["home-crm"]));
    assert_eq!(s["total"], json!(5));
    assert_eq!(
        s["sts"]["assumeRole"][OBSERVER],
        json!({"succeeded": 1, "refused": 0})
    );
    assert_eq!(s["sts"]["issuedCredentials"], json!(1));
}

#[tokio::test]
async fn issued_keys_need_their_token_and_expire() {
    let app = app_with(DATA);
    let (key, token) = credentials(&assume(&app, OBSERVER, &[]).await);
    let r = describe_as(&app, &key, None, "team-b-crm").await;
    assert_eq!(
        (r.status, r.error_type()),
        (403, Some("UnrecognizedClientException"))
    );
    assert_eq!(
        r.json()["message"],
        json!("The security token included in the request is invalid.")
    );
    let r = describe_as(&app, &key, Some("not-the-token"), "team-b-crm").await;
    assert_eq!(r.error_type(), Some("UnrecognizedClientException"));

    let (key, token2) =
        credentials(&assume(&app, "arn:aws:iam::222222222222:role/short", &[]).await);
    assert_ne!(token, token2);
    assert_eq!(
        describe_as(&app, &key, Some(&token2), "team-b-crm")
            .await
            .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = describe_as(&app, &key, Some(&token2), "team-b-crm").await;
    assert_eq!(
        (r.status, r.error_type()),
        (403, Some("ExpiredTokenException"))
    );
    assert_eq!(
        r.json()["message"],
        json!("The security token included in the request is expired")
    );
    // STS itself refuses the expired key, under its query name.
    let r = sts(
        &app,
        &key,
        Some(&token2),
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.xml("Code").as_deref(), Some("ExpiredToken"));
    let r = sts(
        &app,
        &key,
        None,
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    )
    .await;
    assert_eq!(r.xml("Code").as_deref(), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn get_caller_identity() {
    let app = app_with(DATA);
    let form = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let r = sts(&app, "AKIDEXAMPLE", None, &form).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(r.xml("Account").as_deref(), Some("123456789012"));
    assert_eq!(
        r.xml("Arn").as_deref(),
        Some("arn:aws:iam::123456789012:user/emulator")
    );
    assert!(r.xml("UserId").is_some_and(|u| u.starts_with("AIDA")));

    let (key, token) = credentials(&assume(&app, OBSERVER, &[]).await);
    let r = sts(&app, &key, Some(&token), &form).await;
    assert_eq!(r.xml("Account").as_deref(), Some("222222222222"));
    assert_eq!(
        r.xml("Arn").as_deref(),
        Some("arn:aws:sts::222222222222:assumed-role/appflow-observer/operator")
    );
    assert!(
        r.xml("UserId")
            .is_some_and(|u| u.starts_with("AROA") && u.ends_with(":operator"))
    );
    assert_eq!(stats(&app).await["sts"]["getCallerIdentity"], json!(2));
}

#[tokio::test]
async fn external_id_guards_a_role() {
    let app = app_with(DATA);
    for extra in [&[][..], &[("ExternalId", "team-x")][..]] {
        let r = assume(&app, GUARDED, extra).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.xml("Type").as_deref(), Some("Sender"));
        assert_eq!(r.xml("Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            r.xml("Message"),
            Some(format!(
                "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: sts:AssumeRole on resource: {GUARDED}"
            ))
        );
        assert!(
            r.text()
                .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
        );
        assert!(r.xml("RequestId").is_some());
    }
    let r = assume(&app, GUARDED, &[("ExternalId", "team-c")]).await;
    assert_eq!(
        r.xml("Arn").as_deref(),
        Some("arn:aws:sts::333333333333:assumed-role/guarded/operator")
    );
    let s = stats(&app).await;
    assert_eq!(
        s["sts"]["assumeRole"][GUARDED],
        json!({"succeeded": 1, "refused": 2})
    );
    assert_eq!(s["sts"]["errors"]["AccessDenied"], json!(2));
}

#[tokio::test]
async fn unassumable_and_unknown_roles_are_denied() {
    let app = app_with(DATA);
    for role in [
        "arn:aws:iam::333333333333:role/locked",
        "arn:aws:iam::333333333333:role/unknown",
    ] {
        let r = assume(&app, role, &[]).await;
        assert_eq!(r.xml("Code").as_deref(), Some("AccessDenied"), "{role}");
    }
    assert_eq!(stats(&app).await["sts"]["errors"]["AccessDenied"], json!(2));
}

#[tokio::test]
async fn roles_changed_at_run_time() {
    let app = app_with(DATA);
    let r = control(
        &app,
        "POST",
        "/_emulator/roles",
        &json!({"arn": OBSERVER, "assumable": false}).to_string(),
    )
    .await;
    assert_eq!(r.json(), json!({"role": OBSERVER, "replaced": true}));
    assert_eq!(
        assume(&app, OBSERVER, &[]).await.xml("Code").as_deref(),
        Some("AccessDenied")
    );
    for bad in [
        json!({"arn": "arn:aws:iam::444444444444:role/r"}),
        json!({"arn": "not-an-arn"}),
        json!({"arn": OBSERVER, "externalId": "x"}),
        json!({"arn": OBSERVER, "bogus": 1}),
    ] {
        let r = control(&app, "POST", "/_emulator/roles", &bad.to_string()).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let s = stats(&app).await;
    assert_eq!(
        s["sts"]["assumeRole"][OBSERVER],
        json!({"succeeded": 0, "refused": 1})
    );
    assert_eq!(s["sts"]["errors"]["AccessDenied"], json!(1));
}

#[tokio::test]
async fn role_chaining() {
    let app = app_with(DATA);
    let (key, token) = credentials(&assume(&app, OBSERVER, &[]).await);
    let chained = |duration: &'static str| {
        let (key, token) = (key.clone(), token.clone());
        let app = app.clone();
        async move {
            sts(
                &app,
                &key,
                Some(&token),
                &[
                    ("Action", "AssumeRole"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", "arn:aws:iam::333333333333:role/ops/guarded"),
                    ("RoleSessionName", "chained"),
                    ("ExternalId", "team-c"),
                    ("DurationSeconds", duration),
                ],
            )
            .await
        }
    };
    let r = chained("3601").await;
    assert_eq!(r.xml("Code").as_deref(), Some("ValidationError"));
    let r = chained("3600").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.xml("Arn").as_deref(),
        Some("arn:aws:sts::333333333333:assumed-role/guarded/chained")
    );
    let denied = sts(
        &app,
        &key,
        Some(&token),
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::333333333333:role/locked"),
            ("RoleSessionName", "chained"),
        ],
    )
    .await;
    assert_eq!(
        denied.xml("Message").as_deref(),
        Some(
            "User: arn:aws:sts::222222222222:assumed-role/appflow-observer/operator is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::333333333333:role/locked"
        )
    );
}

#[tokio::test]
async fn repeated_parameter_first_value_wins() {
    let app = app_with(DATA);
    let r = assume(&app, OBSERVER, &[("RoleSessionName", "ignored-duplicate")]).await;
    assert_eq!(r.status, 200, "first value wins");
}

#[tokio::test]
async fn missing_member_is_a_validation_error() {
    let app = app_with(DATA);
    let r = sts(
        &app,
        "AKIDEXAMPLE",
        None,
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", OBSERVER),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.xml("Code").as_deref(), Some("ValidationError"));
    assert_eq!(
        r.xml("Message").as_deref(),
        Some(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
        )
    );
}

#[tokio::test]
async fn unknown_or_missing_action() {
    let app = app_with(DATA);
    let r = sts(
        &app,
        "AKIDEXAMPLE",
        None,
        &[
            ("Action", "DecodeAuthorizationMessage"),
            ("Version", "2011-06-15"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.xml("Code").as_deref(), Some("InvalidAction"));
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("Could not find operation DecodeAuthorizationMessage for version 2011-06-15")
    );
    let r = sts(&app, "AKIDEXAMPLE", None, &[("Version", "2011-06-15")]).await;
    assert_eq!(r.xml("Code").as_deref(), Some("MissingAction"));
}

#[tokio::test]
async fn sts_requires_a_signature_scoped_to_sts() {
    let app = app_with(DATA);
    let r = send_with(
        &app,
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert_eq!(r.xml("Code").as_deref(), Some("MissingAuthenticationToken"));
    let auth = sigv4("AKIDEXAMPLE", "appflow");
    let r = send_with(
        &app,
        "POST",
        "/",
        &[("authorization", &auth)],
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.xml("Code").as_deref(), Some("SignatureDoesNotMatch"));
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("Credential should be scoped to correct service: 'sts'.")
    );
}

#[tokio::test]
async fn appflow_keeps_requiring_its_own_scope() {
    let app = app_with(DATA);
    let r = describe_as(&app, "AKIDEXAMPLE", None, "home-crm").await;
    assert_eq!(r.status, 200);
    let auth = sigv4("AKIDEXAMPLE", "sts");
    let r = send(&app, "POST", "/describe-connector", Some(&auth), "{}").await;
    assert_eq!(r.error_type(), Some("InvalidSignatureException"));
}

/// Registers `late` in account 333333333333 and returns credentials acting there.
async fn register_late_in_333(app: &Router) -> (String, String) {
    let r = control(
        app,
        "POST",
        "/_emulator/connectors",
        r#"{"label": "late", "accountId": "333333333333"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accountId"], json!("333333333333"));
    credentials(&assume(app, GUARDED, &[("ExternalId", "team-c")]).await)
}

#[tokio::test]
async fn registration_is_per_account() {
    let app = app_with(DATA);
    let (key, token) = register_late_in_333(&app).await;
    assert_eq!(
        describe_as(&app, &key, Some(&token), "late").await.status,
        200
    );
    assert_eq!(
        describe_as(&app, "AKIDEXAMPLE", None, "late").await.status,
        404
    );
}

#[tokio::test]
async fn registration_needs_a_known_account() {
    let app = app_with(DATA);
    let r = control(
        &app,
        "POST",
        "/_emulator/connectors",
        r#"{"label": "late", "accountId": "999999999999"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = control(
        &app,
        "POST",
        "/_emulator/connectors",
        r#"{"label": "late", "accountId": 3}"#,
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn deregistration_is_per_account() {
    let app = app_with(DATA);
    let (key, token) = register_late_in_333(&app).await;
    // Deregistering in the default account does not touch account 333333333333.
    let r = control(&app, "DELETE", "/_emulator/connectors/late", "").await;
    assert_eq!(r.status, 404);
    let r = control(
        &app,
        "DELETE",
        "/_emulator/connectors/late?accountId=333333333333",
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        describe_as(&app, &key, Some(&token), "late").await.status,
        404
    );
}

#[tokio::test]
async fn reset_clears_account_and_sts_counts() {
    let app = app_with(DATA);
    let (key, token) = register_late_in_333(&app).await;
    assert_eq!(
        describe_as(&app, &key, Some(&token), "late").await.status,
        200
    );
    control(&app, "POST", "/_emulator/reset", "").await;
    let s = stats(&app).await;
    assert_eq!(s["accounts"]["333333333333"]["total"], json!(0));
    assert_eq!(s["sts"]["assumeRole"], json!({}));
}
