//! `/metrics` for those the API server says may read it: a bearer token, reviewed with a
//! TokenReview and a SubjectAccessReview (review.rs), the decision cached by the token's
//! hash (cache.rs). No token or a token that authenticates no one: 401; authenticated but
//! not allowed `get` on `/metrics`: 403; a review that failed: 500, not cached.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::UserInfo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use super::bearer::bearer_token;
use super::review::{ReviewError, Reviewer};
use super::review_cache::{Decision, DecisionCache, TokenHash, Ttl, token_hash};

/// Distinct tokens remembered at once; a flood of made-up tokens evicts, never grows.
const CACHE_CAPACITY: usize = 1024;
/// kube-rbac-proxy's defaults: allowances for minutes, denials for seconds.
const CACHE_TTL: Ttl = Ttl {
    allowed: Duration::from_secs(120),
    denied: Duration::from_secs(30),
};
/// Reviews in flight at once: requests beyond wait, so junk tokens cannot turn into an
/// unbounded stream of API requests made with the operator's identity.
const CONCURRENT_REVIEWS: usize = 4;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// `metrics_auth_reviews_total{result}`: reviews sent to the API server for `/metrics`
/// requests (one TokenReview, then a SubjectAccessReview when it authenticated), by
/// outcome: `allowed`, `forbidden`, `unauthenticated` or `error`. Cached decisions make
/// none, so with a steady scraper it stays flat between cache expiries.
#[derive(Clone, Debug, Default)]
pub struct AuthMetrics {
    reviews: Family<ResultLabels, Counter>,
}

impl AuthMetrics {
    /// Registers under the `appflow_connector_operator` prefix the other metrics share.
    pub fn register(&self, registry: &mut Registry) {
        registry
            .sub_registry_with_prefix("appflow_connector_operator")
            .register(
                "metrics_auth_reviews",
                "Token and access reviews made for /metrics requests, by result",
                self.reviews.clone(),
            );
    }

    fn reviewed(&self, result: &'static str) {
        self.reviews.get_or_create(&ResultLabels { result }).inc();
    }
}

/// How a `/metrics` request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    NoToken,
    Decided(Decision),
    /// The API server could not be asked; the scraper retries at its next interval.
    ReviewFailed,
}

impl Verdict {
    /// The status of the answer: 200 goes on to the metrics.
    pub fn status(self) -> StatusCode {
        match self {
            Verdict::Decided(Decision::Allowed) => StatusCode::OK,
            Verdict::NoToken | Verdict::Decided(Decision::Unauthenticated) => {
                StatusCode::UNAUTHORIZED
            }
            Verdict::Decided(Decision::Forbidden) => StatusCode::FORBIDDEN,
            Verdict::ReviewFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Decides `/metrics` requests: cache first, then the API server.
pub struct Authorizer {
    reviewer: Box<dyn Reviewer>,
    cache: Mutex<DecisionCache>,
    in_flight: Semaphore,
    metrics: AuthMetrics,
}

impl Authorizer {
    pub fn new(reviewer: impl Reviewer + 'static, metrics: AuthMetrics) -> Self {
        Self {
            reviewer: Box::new(reviewer),
            cache: Mutex::new(DecisionCache::new(CACHE_CAPACITY, CACHE_TTL)),
            in_flight: Semaphore::new(CONCURRENT_REVIEWS),
            metrics,
        }
    }

    /// The verdict on a request with this `Authorization` header.
    pub async fn verdict(&self, authorization: Option<&HeaderValue>) -> Verdict {
        let Some(token) = bearer_token(authorization) else {
            return Verdict::NoToken;
        };
        let key = token_hash(token);
        if let Some(decision) = self.cached(&key) {
            return Verdict::Decided(decision);
        }
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Verdict::ReviewFailed;
        };
        // A request with the same token may have been decided while this one waited.
        if let Some(decision) = self.cached(&key) {
            return Verdict::Decided(decision);
        }
        match self.review(token).await {
            Ok(decision) => {
                self.metrics.reviewed(result_label(decision));
                self.remember(key, decision);
                Verdict::Decided(decision)
            }
            Err(error) => {
                self.metrics.reviewed("error");
                tracing::warn!(%error, "could not review a /metrics request");
                Verdict::ReviewFailed
            }
        }
    }

    async fn review(&self, token: &str) -> Result<Decision, ReviewError> {
        let Some(user) = self.reviewer.authenticate(token).await? else {
            tracing::debug!("/metrics: the token authenticates no one");
            return Ok(Decision::Unauthenticated);
        };
        let allowed = self.reviewer.authorize(&user).await?;
        if !allowed {
            tracing::debug!(
                user = user_name(&user),
                "/metrics: not allowed get /metrics"
            );
        }
        Ok(if allowed {
            Decision::Allowed
        } else {
            Decision::Forbidden
        })
    }

    fn cached(&self, key: &TokenHash) -> Option<Decision> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(key, Instant::now())
    }

    fn remember(&self, key: TokenHash, decision: Decision) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, decision, Instant::now());
    }
}

fn result_label(decision: Decision) -> &'static str {
    match decision {
        Decision::Allowed => "allowed",
        Decision::Forbidden => "forbidden",
        Decision::Unauthenticated => "unauthenticated",
    }
}

fn user_name(user: &UserInfo) -> &str {
    user.username.as_deref().unwrap_or_default()
}

/// Middleware: lets the request through only when the token's user may `get` `/metrics`.
pub async fn require_metrics_reader(
    State(authorizer): State<Arc<Authorizer>>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = authorizer
        .verdict(request.headers().get(header::AUTHORIZATION))
        .await;
    match verdict.status() {
        StatusCode::OK => next.run(request).await,
        StatusCode::UNAUTHORIZED => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized: send a bearer token\n",
        )
            .into_response(),
        StatusCode::FORBIDDEN => (
            StatusCode::FORBIDDEN,
            "Forbidden: the token's user may not get /metrics\n",
        )
            .into_response(),
        other => (other, "Could not review the token\n").into_response(),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
