//! The operator's HTTP endpoints. `/healthz` and `/readyz` are plain HTTP on the probe port
//! (`--health-addr`: the kubelet sends no token). `/metrics` is HTTPS on its own port
//! (`--metrics-addr`), answered only to a bearer token whose user the API server allows
//! `get` on the non-resource URL `/metrics` (auth.rs); with `--metrics-secure=false` it is
//! plain HTTP on the probe port instead, for local runs. docs/security.md says why.

mod auth;
mod bearer;
mod listener;
mod review;
mod review_cache;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

pub use auth::{AuthMetrics, Authorizer, Verdict};
pub use listener::TlsListener;
pub use review::{KubeReviewer, ReviewError, Reviewer};
pub use review_cache::Decision;
pub use tls::{CERT_FILE, KEY_FILE, TlsError, server_config};
pub use tokio_rustls::rustls::ServerConfig;

/// The probe port's router: `/healthz`, `/readyz`, and `/metrics` when `open_metrics` is
/// given (`--metrics-secure=false`).
pub fn probe_router(ready: Arc<AtomicBool>, open_metrics: Option<Arc<Registry>>) -> Router {
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(ready);
    match open_metrics {
        Some(registry) => probes.merge(metrics_router(registry)),
        None => probes,
    }
}

/// The HTTPS port's router: `/metrics` behind the authorizer, nothing else.
pub fn secure_metrics_router(registry: Arc<Registry>, authorizer: Arc<Authorizer>) -> Router {
    metrics_router(registry).layer(axum::middleware::from_fn_with_state(
        authorizer,
        auth::require_metrics_reader,
    ))
}

fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(ready): State<Arc<AtomicBool>>) -> impl IntoResponse {
    if ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cache not synced yet")
    }
}

/// Serves `router` over plain HTTP until `shutdown` resolves. `routes` names what it
/// serves, for the log line that also gives the bound address (with port 0 the kernel
/// picks one, and the log is how it is found).
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    routes: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving {routes} over plain HTTP");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `router` over HTTPS with `config` until `shutdown` resolves.
pub async fn serve_tls(
    addr: SocketAddr,
    config: Arc<ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TlsListener::bind(addr, config).await?;
    let addr = axum::serve::Listener::local_addr(&listener)?;
    tracing::info!(%addr, "serving /metrics over HTTPS");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
