//! `run`: the operator process — Kubernetes client, AppFlow access, the ConnectorInfo and
//! AppFlowAccount controllers, the `/healthz` `/readyz` server and the HTTPS `/metrics`
//! server, one shutdown signal for all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::future::join_all;
use kube::runtime::reflector::Store;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::logging;
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::observe::Policy;
use conninfo_core::account::{AppFlowAccount, Unmapped};
use conninfo_core::crd::ConnectorInfo;
use conninfo_core::policy::AllowedRegions;
use conninfo_runtime::accounts::{self, Accounts, BindingTriggers, Watches};
use conninfo_runtime::bindings;
use conninfo_runtime::controller::{self, Context, ContextSettings, RunSettings};
use conninfo_runtime::http;
use conninfo_runtime::initial_list::{self, ListMode};
use conninfo_runtime::leader::{self, Election, ElectionSettings, Leadership};
use conninfo_runtime::metrics::{BindingMetrics, Metrics};

/// Why the operator stopped other than by a requested shutdown.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build a Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    /// A controller or the HTTP server ended (or panicked) while running.
    #[error("{0}")]
    TaskDied(String),
    #[error("shutdown failed: {0}")]
    Shutdown(String),
    #[error(transparent)]
    LeaderElection(#[from] conninfo_runtime::leader::ElectionError),
    #[error(transparent)]
    MetricsTls(#[from] conninfo_runtime::http::TlsError),
    #[error(
        "--unmapped-namespaces=deny needs the AppFlowAccount bindings: drop --account-bindings=false"
    )]
    DenyWithoutBindings,
}

/// Runs the operator until SIGTERM or Ctrl-C.
///
/// A dead loop is a dead process: if a controller or the HTTP server ends or panics before
/// shutdown was asked for, this returns `RunError::TaskDied` (the caller exits non-zero, so
/// the kubelet restarts the pod) instead of serving a green `/healthz` over a loop that no
/// longer reconciles. Panics are caught as the tasks' `JoinError`s, in debug and release alike.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let _process = start_process(&args);
    let unmapped = unmapped_policy(&args)?;
    let metrics_tls = metrics_tls(&args)?;
    let client = kube::Client::try_default()
        .await
        .map_err(RunError::KubeClient)?;
    let bindings = args
        .account_bindings
        .then(|| Bindings::watch(&client, unmapped));
    let appflow = appflow(&args).await;
    let metrics = Arc::new(Metrics::default());
    let (election, leadership) = leader_election(&args, &client, &metrics).await?;
    let accounts = bindings.as_ref().map(|b| b.accounts.clone());
    let reviewer = http::KubeReviewer::new(client.clone());
    let ctx = context(
        &args,
        client,
        appflow,
        metrics.clone(),
        leadership,
        accounts,
    );
    let stop = Stop::on_signal();
    let ready = Arc::new(AtomicBool::new(false));
    let watched = controller::watched(&ctx.client, args.watch_namespace.as_deref());
    let list_mode = initial_list::choose(args.initial_list.into(), &watched).await;
    let controllers = start_controllers(&args, ctx, bindings, list_mode, ready.clone(), &stop);
    let auth_metrics = http::AuthMetrics::default();
    let registry = registry(&metrics, &controllers, ready.clone(), &auth_metrics);
    let authorizer = http::Authorizer::new(reviewer, auth_metrics);
    let servers = serve_http(&args, metrics_tls, authorizer, registry, ready, &stop);
    let mut tasks = controllers.tasks;
    tasks.extend(servers);
    wait_for_end(tasks, &stop, election).await
}

/// What lives as long as the process: logging, and the test builds' fail points.
struct Process {
    // Fail points exist only in builds with the `failpoints` feature (the test suite's).
    #[cfg(feature = "failpoints")]
    _failpoints: fail::FailScenario<'static>,
}

fn start_process(args: &RunArgs) -> Process {
    logging::init(&args.log);
    Process {
        #[cfg(feature = "failpoints")]
        _failpoints: fail::FailScenario::setup(),
    }
}

/// `--unmapped-namespaces`, which `deny` only makes sense with bindings.
fn unmapped_policy(args: &RunArgs) -> Result<Unmapped, RunError> {
    let unmapped = Unmapped::from(args.unmapped_namespaces);
    if !args.account_bindings && unmapped == Unmapped::Deny {
        return Err(RunError::DenyWithoutBindings);
    }
    Ok(unmapped)
}

/// The AppFlowAccount bindings, when they are on: the resolver the ConnectorInfos use, the
/// watches that fill it (and trigger the ConnectorInfo controller), and what triggers the
/// AppFlowAccount controller.
struct Bindings {
    accounts: Arc<Accounts>,
    watches: Watches,
    triggers: BindingTriggers,
}

impl Bindings {
    fn watch(client: &kube::Client, unmapped: Unmapped) -> Self {
        let (accounts, watches, triggers) = accounts::watch(client, unmapped);
        Self {
            accounts: Arc::new(accounts),
            watches,
            triggers,
        }
    }
}

async fn appflow(args: &RunArgs) -> Arc<AppFlow> {
    let appflow = Arc::new(AppFlow::load(&args.aws.settings()).await);
    info!(
        region = appflow.default_region().unwrap_or("<none>"),
        "AppFlow client configured"
    );
    appflow
}

/// With `--leader-elect`, joins the election (this replica leads once it holds the Lease);
/// without, it always leads.
async fn leader_election(
    args: &RunArgs,
    client: &kube::Client,
    metrics: &Arc<Metrics>,
) -> Result<(Option<Election>, Leadership), RunError> {
    if !args.leader.leader_elect {
        metrics.set_leader(true);
        return Ok((None, Leadership::default()));
    }
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
    let (election, leadership) = Election::start(client.clone(), settings, metrics.clone()).await?;
    Ok((Some(election), leadership))
}

/// What every ConnectorInfo reconciliation shares, with the policy from the flags.
fn context(
    args: &RunArgs,
    client: kube::Client,
    appflow: Arc<AppFlow>,
    metrics: Arc<Metrics>,
    leadership: Leadership,
    accounts: Option<Arc<Accounts>>,
) -> Arc<Context> {
    let policy = Policy {
        default_refresh: args.default_refresh_interval,
        allowed_regions: AllowedRegions::new(args.allowed_regions.iter().map(|r| r.trim())),
        stalled_after: args.stalled_after,
    };
    Arc::new(Context::new(
        client,
        appflow,
        metrics,
        ContextSettings {
            policy,
            min_describe_gap: args.min_describe_interval,
            forced_refresh_interval: args.forced_refresh_interval,
            rate_limit: (args.aws_rate_limit > 0.0)
                .then_some((args.aws_rate_limit, args.aws_burst)),
            instance: args.pod.pod_name.clone(),
            concurrency: args.concurrency.into(),
            lane_bounds: args.lane_bounds,
            leadership,
            accounts,
        },
    ))
}

/// The running controllers: their tasks, and what the metrics read.
struct Controllers {
    tasks: Vec<CoreTask>,
    store: Store<ConnectorInfo>,
    bindings: Option<(Store<AppFlowAccount>, BindingMetrics)>,
}

/// Spawns the ConnectorInfo controller and, when bindings are on, the AppFlowAccount
/// controller; both stop on `stop`.
fn start_controllers(
    args: &RunArgs,
    ctx: Arc<Context>,
    bindings: Option<Bindings>,
    list_mode: ListMode,
    ready: Arc<AtomicBool>,
    stop: &Stop,
) -> Controllers {
    let (account_watches, binding_controller) = match bindings {
        Some(b) => {
            let controller = BindingController::new(&ctx, b.accounts, b.triggers, stop);
            (Some(b.watches), Some(controller))
        }
        None => (None, None),
    };
    let settings = RunSettings {
        watch_namespace: args.watch_namespace.clone(),
        list_mode,
        account_watches,
    };
    let controller = controller::controller(ctx, settings, ready, stop.requested());
    let mut tasks = vec![CoreTask::spawn("controller loop", finished(controller.run))];
    let bindings = binding_controller.map(|binding| {
        tasks.push(CoreTask::spawn(
            "AppFlowAccount controller",
            finished(binding.run),
        ));
        (binding.store, binding.metrics)
    });
    Controllers {
        tasks,
        store: controller.store,
        bindings,
    }
}

/// The AppFlowAccount controller, ready to run, with the cache and the counter its metrics
/// read.
struct BindingController {
    run: Pin<Box<dyn Future<Output = ()> + Send>>,
    store: Store<AppFlowAccount>,
    metrics: BindingMetrics,
}

impl BindingController {
    /// Shares the ConnectorInfo controller's client, AppFlow access, leadership and metrics.
    fn new(ctx: &Context, accounts: Arc<Accounts>, triggers: BindingTriggers, stop: &Stop) -> Self {
        let metrics = BindingMetrics::default();
        let store = triggers.bindings.reader();
        let binding_ctx = bindings::Context::new(
            ctx.client.clone(),
            ctx.appflow.clone(),
            accounts,
            ctx.leadership.clone(),
            ctx.metrics.clone(),
            metrics.clone(),
        );
        let run = bindings::controller(Arc::new(binding_ctx), triggers, stop.requested());
        Self {
            run: Box::pin(run),
            store,
            metrics,
        }
    }
}

/// A task that cannot fail other than by ending or panicking.
async fn finished(run: impl Future<Output = ()>) -> std::io::Result<()> {
    run.await;
    Ok(())
}

/// Every metric: the counters, and the gauges read from the controllers' caches at scrape time.
fn registry(
    metrics: &Metrics,
    controllers: &Controllers,
    ready: Arc<AtomicBool>,
    auth_metrics: &http::AuthMetrics,
) -> Registry {
    let mut registry = Registry::default();
    let (binding_store, binding_metrics) = match &controllers.bindings {
        Some((store, binding_metrics)) => (Some(store.clone()), binding_metrics.clone()),
        None => (None, BindingMetrics::default()),
    };
    metrics.register(
        &mut registry,
        controllers.store.clone(),
        binding_store,
        ready,
    );
    binding_metrics.register(&mut registry);
    auth_metrics.register(&mut registry);
    registry
}

/// The HTTPS server's certificate with `--metrics-secure` (read or generated before
/// anything starts, so a bad certificate stops the operator at once); `None` without.
fn metrics_tls(args: &RunArgs) -> Result<Option<Arc<http::ServerConfig>>, RunError> {
    let metrics = &args.metrics;
    if !metrics.metrics_secure {
        if metrics.metrics_cert_dir.is_some() {
            warn!("--metrics-cert-dir is ignored: --metrics-secure=false serves plain HTTP");
        }
        return Ok(None);
    }
    let config = http::server_config(metrics.metrics_cert_dir.as_deref())?;
    match &metrics.metrics_cert_dir {
        Some(dir) => info!(dir = %dir.display(), "metrics certificate read"),
        None => info!("metrics certificate generated (self-signed)"),
    }
    Ok(Some(config))
}

/// Serves `/healthz` and `/readyz` over plain HTTP, and `/metrics` over HTTPS behind the
/// authorizer (or, without TLS, over plain HTTP beside the probes) until `stop`.
fn serve_http(
    args: &RunArgs,
    tls: Option<Arc<http::ServerConfig>>,
    authorizer: http::Authorizer,
    registry: Registry,
    ready: Arc<AtomicBool>,
    stop: &Stop,
) -> Vec<CoreTask> {
    let registry = Arc::new(registry);
    let Some(tls) = tls else {
        warn!("/metrics is served over plain HTTP without authentication (--metrics-secure=false)");
        let router = http::probe_router(ready, Some(registry));
        let routes = "/metrics, /healthz, /readyz";
        let serve = http::serve(args.health_addr, router, routes, stop.requested());
        return vec![CoreTask::spawn("metrics and probe server", serve)];
    };
    let probes = http::probe_router(ready, None);
    let probes = http::serve(
        args.health_addr,
        probes,
        "/healthz, /readyz",
        stop.requested(),
    );
    let metrics = http::secure_metrics_router(registry, Arc::new(authorizer));
    let metrics = http::serve_tls(args.metrics.metrics_addr, tls, metrics, stop.requested());
    vec![
        CoreTask::spawn("probe server", probes),
        CoreTask::spawn("metrics server", metrics),
    ]
}

/// One shutdown signal (SIGTERM or Ctrl-C), fanned out to every task.
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn on_signal() -> Self {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            info!("shutdown requested");
            let _ = stop_tx.send(true);
        });
        Self(stop_rx)
    }

    fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested.
    fn requested(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// A spawned task the operator cannot run without, named for the fatal message.
struct CoreTask {
    name: &'static str,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

type Ending = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

impl CoreTask {
    fn spawn(
        name: &'static str,
        task: impl Future<Output = std::io::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name,
            handle: tokio::spawn(task),
        }
    }

    /// Resolves when the task ends, with how it ended.
    fn ending(self) -> Ending {
        Box::pin(async move { task_result(self.name, self.handle.await) })
    }
}

/// Waits for the first task to end. Before shutdown was asked for, that is fatal: the others
/// are aborted. During shutdown, the others get 30 s to finish their graceful stop, then the
/// Lease is released.
async fn wait_for_end(
    tasks: Vec<CoreTask>,
    stop: &Stop,
    election: Option<Election>,
) -> Result<(), RunError> {
    let aborts: Vec<_> = tasks.iter().map(|t| t.handle.abort_handle()).collect();
    let (first, _, others) =
        futures::future::select_all(tasks.into_iter().map(CoreTask::ending)).await;
    if !stop.is_requested() {
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
        // A task that ends because another one is dying (a stream it shares dropped) may be
        // seen first: the aborted rest are awaited so a panic among them is the reason given.
        let others = tokio::time::timeout(Duration::from_secs(5), join_all(others))
            .await
            .unwrap_or_default();
        let why = root_cause(first, others);
        error!(reason = %why, "fatal: a core task ended while the operator was running");
        return Err(RunError::TaskDied(why));
    }
    let others = tokio::time::timeout(Duration::from_secs(30), join_all(others))
        .await
        .unwrap_or_else(|_| vec![Err("a task did not stop within 30s".to_owned())]);
    // Nothing reconciles any more: free the Lease so a standby takes over now, not after it
    // expires.
    if let Some(election) = election {
        election.release().await;
    }
    others
        .into_iter()
        .fold(first, Result::and)
        .map_err(RunError::Shutdown)
}

/// Pure: why the operator stops when a core task ended unasked, from how the first one to end
/// and the (then aborted) others ended: the first failure that is not the abort itself, a
/// panic before any other.
fn root_cause(first: Result<(), String>, others: Vec<Result<(), String>>) -> String {
    let failures: Vec<String> = std::iter::once(first)
        .chain(others)
        .filter_map(Result::err)
        .filter(|why| !why.contains(CANCELLED))
        .collect();
    failures
        .iter()
        .find(|why| why.contains(PANICKED))
        .or(failures.first())
        .cloned()
        .unwrap_or_else(|| "a core task ended unexpectedly".to_owned())
}

const PANICKED: &str = " panicked: ";
const CANCELLED: &str = " was cancelled: ";

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
            Err(format!("{name}{PANICKED}{message}"))
        }
        Err(e) => Err(format!("{name}{CANCELLED}{e}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(requested: bool) -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(requested);
        (tx, Stop(rx))
    }

    fn forever() -> CoreTask {
        CoreTask::spawn("forever", finished(std::future::pending()))
    }

    #[test]
    fn a_panic_is_the_root_cause_even_when_another_task_ended_first() {
        let ended_first = Ok(());
        let others = vec![
            Err(format!("metrics server{CANCELLED}task 7 was cancelled")),
            Err(format!("controller loop{PANICKED}injected")),
        ];
        assert_eq!(
            root_cause(ended_first, others),
            "controller loop panicked: injected"
        );
        let failed = Err("probe server failed: address in use".to_owned());
        assert_eq!(
            root_cause(failed.clone(), vec![Ok(())]),
            "probe server failed: address in use"
        );
        assert_eq!(
            root_cause(Ok(()), vec![Err(format!("x{CANCELLED}y"))]),
            "a core task ended unexpectedly"
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_while_running_is_fatal_and_named() {
        let (_tx, stop) = stop(false);
        let dying = CoreTask::spawn("AppFlowAccount controller", async {
            panic!("injected");
        });
        let other = forever();
        let other_handle = other.handle.abort_handle();
        let ended = wait_for_end(vec![other, dying], &stop, None).await;
        assert!(
            matches!(&ended, Err(RunError::TaskDied(why)) if why == "AppFlowAccount controller panicked: injected"),
            "{ended:?}"
        );
        tokio::task::yield_now().await;
        assert!(other_handle.is_finished(), "the other tasks are aborted");
    }

    #[tokio::test]
    async fn a_task_that_ends_while_running_is_fatal() {
        let (_tx, stop) = stop(false);
        let ended = wait_for_end(
            vec![forever(), CoreTask::spawn("quiet", async { Ok(()) })],
            &stop,
            None,
        )
        .await;
        assert!(
            matches!(&ended, Err(RunError::TaskDied(why)) if why == "a core task ended unexpectedly"),
            "{ended:?}"
        );
    }

    #[tokio::test]
    async fn during_shutdown_every_task_finishes_and_the_first_error_is_kept() {
        let (_tx, stop) = stop(true);
        let clean = |name| CoreTask::spawn(name, async { Ok(()) });
        assert!(
            wait_for_end(vec![clean("a"), clean("b"), clean("c")], &stop, None)
                .await
                .is_ok()
        );
        let failing = CoreTask::spawn("metrics server", async {
            tokio::task::yield_now().await;
            Err(std::io::Error::other("bind failed"))
        });
        let ended = wait_for_end(vec![clean("a"), failing], &stop, None).await;
        assert!(
            matches!(&ended, Err(RunError::Shutdown(why)) if why == "metrics server failed: bind failed"),
            "{ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_does_not_stop_within_30s_fails_the_shutdown() {
        let (_tx, stop) = stop(true);
        let clean = CoreTask::spawn("a", async { Ok(()) });
        let ended = wait_for_end(vec![clean, forever()], &stop, None).await;
        assert!(
            matches!(&ended, Err(RunError::Shutdown(why)) if why == "a task did not stop within 30s"),
            "{ended:?}"
        );
    }
}
