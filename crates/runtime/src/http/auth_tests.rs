use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use futures::future::BoxFuture;
use tower::ServiceExt;

use super::*;

/// A stand-in API server: `reader` may read /metrics, `stranger` may not, `broken` makes
/// the review fail, anything else authenticates no one. Counts the reviews it answers.
#[derive(Clone, Default)]
struct FakeApiServer {
    token_reviews: Arc<AtomicUsize>,
    access_reviews: Arc<AtomicUsize>,
}

fn user(name: &str) -> UserInfo {
    UserInfo {
        username: Some(name.to_owned()),
        ..UserInfo::default()
    }
}

impl Reviewer for FakeApiServer {
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, ReviewError>> {
        self.token_reviews.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match token {
                "reader" | "stranger" => Ok(Some(user(token))),
                "broken" => Err(ReviewError::NoStatus("TokenReview")),
                _ => Ok(None),
            }
        })
    }

    fn authorize<'a>(&'a self, user: &'a UserInfo) -> BoxFuture<'a, Result<bool, ReviewError>> {
        self.access_reviews.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(user.username.as_deref() == Some("reader")) })
    }
}

fn authorizer() -> (Arc<Authorizer>, FakeApiServer, AuthMetrics) {
    let server = FakeApiServer::default();
    let metrics = AuthMetrics::default();
    (
        Arc::new(Authorizer::new(server.clone(), metrics.clone())),
        server,
        metrics,
    )
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header")
}

fn reviews(metrics: &AuthMetrics, result: &'static str) -> u64 {
    metrics
        .reviews
        .get_or_create(&ResultLabels { result })
        .get()
}

#[test]
fn each_verdict_has_its_status() {
    assert_eq!(Verdict::NoToken.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        Verdict::Decided(Decision::Unauthenticated).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Verdict::Decided(Decision::Forbidden).status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(Verdict::Decided(Decision::Allowed).status(), StatusCode::OK);
    assert_eq!(
        Verdict::ReviewFailed.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn no_token_is_refused_without_asking_the_api_server() {
    let (authorizer, server, _) = authorizer();
    assert_eq!(authorizer.verdict(None).await, Verdict::NoToken);
    let basic = HeaderValue::from_static("Basic dXNlcjpwYXNz");
    assert_eq!(authorizer.verdict(Some(&basic)).await, Verdict::NoToken);
    assert_eq!(server.token_reviews.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn tokens_are_decided_by_the_reviews_and_then_by_the_cache() {
    let (authorizer, server, metrics) = authorizer();
    for _ in 0..3 {
        assert_eq!(
            authorizer.verdict(Some(&bearer("reader"))).await,
            Verdict::Decided(Decision::Allowed)
        );
        assert_eq!(
            authorizer.verdict(Some(&bearer("stranger"))).await,
            Verdict::Decided(Decision::Forbidden)
        );
        assert_eq!(
            authorizer.verdict(Some(&bearer("made-up"))).await,
            Verdict::Decided(Decision::Unauthenticated)
        );
    }
    // One TokenReview per token, one SubjectAccessReview per authenticated user.
    assert_eq!(server.token_reviews.load(Ordering::SeqCst), 3);
    assert_eq!(server.access_reviews.load(Ordering::SeqCst), 2);
    assert_eq!(reviews(&metrics, "allowed"), 1);
    assert_eq!(reviews(&metrics, "forbidden"), 1);
    assert_eq!(reviews(&metrics, "unauthenticated"), 1);
    assert_eq!(reviews(&metrics, "error"), 0);
}

#[tokio::test]
async fn a_failed_review_is_not_remembered() {
    let (authorizer, server, metrics) = authorizer();
    for _ in 0..2 {
        assert_eq!(
            authorizer.verdict(Some(&bearer("broken"))).await,
            Verdict::ReviewFailed
        );
    }
    assert_eq!(server.token_reviews.load(Ordering::SeqCst), 2);
    assert_eq!(reviews(&metrics, "error"), 2);
}

#[tokio::test]
async fn the_middleware_answers_401_403_or_the_metrics() {
    let (authorizer, _, _) = authorizer();
    let router = Router::new()
        .route("/metrics", get(|| async { "the_metric 1\n" }))
        .layer(axum::middleware::from_fn_with_state(
            authorizer,
            require_metrics_reader,
        ));
    let call = |token: Option<&'static str>| {
        let router = router.clone();
        async move {
            let mut request = Request::builder().uri("/metrics");
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = router
                .oneshot(request.body(Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = response.status();
            let challenge = response.headers().get(header::WWW_AUTHENTICATE).cloned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("body");
            (
                status,
                challenge,
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
    };
    let (status, challenge, _) = call(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, Some(HeaderValue::from_static("Bearer")));
    assert_eq!(call(Some("made-up")).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(Some("stranger")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!body.contains("the_metric"), "{body}");
    assert_eq!(
        call(Some("broken")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (status, _, body) = call(Some("reader")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "the_metric 1\n");
}

#[tokio::test]
async fn the_review_counter_is_exported_under_the_operators_prefix() {
    let (authorizer, _, metrics) = authorizer();
    authorizer.verdict(Some(&bearer("reader"))).await;
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains(
            "appflow_connector_operator_metrics_auth_reviews_total{result=\"allowed\"} 1"
        ),
        "{text}"
    );
}
