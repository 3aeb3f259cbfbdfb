//! `run`: the operator process — Kubernetes client, AppFlow access, controller and the
//! `/metrics` `/healthz` `/readyz` server, one shutdown signal for both.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

use crate::cli::RunArgs;
use crate::logging;
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::observe::Policy;
use conninfo_core::account::Unmapped;
use conninfo_core::policy::AllowedRegions;
use conninfo_runtime::controller::{self, Context, ContextSettings, RunSettings};
use conninfo_runtime::http;
use conninfo_runtime::leader::{self, Election, ElectionSettings, Leadership};
use conninfo_runtime::metrics::Metrics;

/// Why the operator stopped other than by a requested shutdown.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build a Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    /// The controller loop or the HTTP server ended (or panicked) while running.
    #[error("{0}")]
    TaskDied(String),
    #[error("shutdown failed: {0}")]
    Shutdown(String),
    #[error(transparent)]
    LeaderElection(#[from] conninfo_runtime::leader::ElectionError),
    #[error(
        "--unmapped-namespaces=deny needs the AppFlowAccount bindings: drop --account-bindings=false"
    )]
    DenyWithoutBindings,
}

type Task = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs the operator until SIGTERM or Ctrl-C.
///
/// A dead loop is a dead process: if the controller loop or the HTTP server ends or panics
/// before shutdown was asked for, this returns `RunError::TaskDied` (the caller exits non-zero,
/// so the kubelet restarts the pod) instead of serving a green `/healthz` over a loop that no
/// longer reconciles. Panics are caught as the tasks' `JoinError`s, in debug and release alike.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    logging::init(&args.log);
    // Fail points exist only in builds with the `failpoints` feature (the test suite's).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();

    let unmapped = Unmapped::from(args.unmapped_namespaces);
    if !args.account_bindings && unmapped == Unmapped::Deny {
        return Err(RunError::DenyWithoutBindings);
    }
    let client = kube::Client::try_default()
        .await
        .map_err(RunError::KubeClient)?;
    let (accounts, account_watches) = if args.account_bindings {
        let (accounts, watches) = conninfo_runtime::accounts::watch(&client, unmapped);
        (Some(Arc::new(accounts)), Some(watches))
    } else {
        (None, None)
    };
    let appflow = Arc::new(AppFlow::load(&args.aws.settings()).await);
    info!(
        region = appflow.default_region().unwrap_or("<none>"),
        "AppFlow client configured"
    );
    let metrics = Arc::new(Metrics::default());
    let policy = Policy {
        default_refresh: args.default_refresh_interval,
        allowed_regions: AllowedRegions::new(args.allowed_regions.iter().map(|r| r.trim())),
        stalled_after: args.stalled_after,
    };
    let (election, leadership) = if args.leader.leader_elect {
        let settings = ElectionSettings {
            lease_name: args.leader.leader_election_id.clone(),
            namespace: args
                .leader
                .leader_election_namespace
                .clone()
                .or_else(|| args.pod.pod_namespace.clone())
                .unwrap_or_else(|| client.default_namespace().to_owned()),
            identity: leader::identity(args.pod.pod_name.as_deref()),
            lease_duration: args.leader.leader_election_lease_duration,
        };
        info!(lease = %format!("{}/{}", settings.namespace, settings.lease_name), identity = %settings.identity, "leader election on");
        let (election, leadership) =
            Election::start(client.clone(), settings, metrics.clone()).await?;
        (Some(election), leadership)
    } else {
        metrics.set_leader(true);
        (None, Leadership::default())
    };
    let ctx = Arc::new(Context::new(
        client,
        appflow,
        metrics.clone(),
        ContextSettings {
            policy,
            min_describe_gap: args.min_describe_interval,
            rate_limit: (args.aws_rate_limit > 0.0)
                .then_some((args.aws_rate_limit, args.aws_burst)),
            instance: args.pod.pod_name.clone(),
            event_concurrency: args.concurrency.into(),
            leadership,
            accounts: accounts.clone(),
        },
    ));

    // One shutdown signal fans out to the controller and the HTTP server.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let ready = Arc::new(AtomicBool::new(false));
    let controller = controller::controller(
        ctx,
        RunSettings {
            watch_namespace: args.watch_namespace,
            concurrency: args.concurrency,
            account_watches,
        },
        ready.clone(),
        stopped(stop_rx.clone()),
    );
    let mut registry = prometheus_client::registry::Registry::default();
    let bindings = accounts
        .as_deref()
        .and_then(conninfo_runtime::accounts::Accounts::binding_store);
    metrics.register(&mut registry, controller.store, bindings, ready.clone());
    let router = http::router(Arc::new(registry), ready);
    let server = tokio::spawn(http::serve(
        args.metrics_addr,
        router,
        stopped(stop_rx.clone()),
    ));
    let controller = tokio::spawn(controller.run);

    let aborts = [controller.abort_handle(), server.abort_handle()];
    let controller: Task =
        Box::pin(async move { task_result("controller loop", controller.await.map(Ok)) });
    let server: Task = Box::pin(async move { task_result("metrics server", server.await) });
    let (first, other) = match futures::future::select(controller, server).await {
        futures::future::Either::Left(done) | futures::future::Either::Right(done) => done,
    };
    if !*stop_rx.borrow() {
        let why = first
            .err()
            .unwrap_or_else(|| "a core task ended unexpectedly".to_owned());
        error!(reason = %why, "fatal: a core task ended while the operator was running");
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
        return Err(RunError::TaskDied(why));
    }
    // Shutting down: the other task finishes its graceful stop.
    let second = tokio::time::timeout(Duration::from_secs(30), other)
        .await
        .unwrap_or_else(|_| Err("a task did not stop within 30s".to_owned()));
    // Nothing reconciles any more: free the Lease so a standby takes over now, not after it
    // expires.
    if let Some(election) = election {
        election.release().await;
    }
    first.and(second).map_err(RunError::Shutdown)
}

/// Describes how a spawned task ended: `Err` for a panic, a cancellation or an I/O error.
fn task_result(
    name: &str,
    joined: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Result<(), String> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{name} failed: {e}")),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            Err(format!("{name} panicked: {message}"))
        }
        Err(e) => Err(format!("{name} was cancelled: {e}")),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
