use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use tokio::sync::watch;
use tracing::{error, info};

use appflow_connector_operator::appflow::AppFlow;
use appflow_connector_operator::cli::{
    Cli, Command, DescribeArgs, EmulatorArgs, LogArgs, LogFormat, OutputFormat, RunArgs,
};
use appflow_connector_operator::controller::{self, Context, RunSettings};
use appflow_connector_operator::crd::{ConnectorInfo, ConnectorInfoSpec, crd_yaml};
use appflow_connector_operator::observe::Policy;
use appflow_connector_operator::policy::AllowedRegions;
use appflow_connector_operator::{describe, http, metrics::Metrics};

/// Exit code for usage errors, as clap uses.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Crd => match crd_yaml() {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot render the CRD: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Describe(args) => run_describe(args).await,
            Command::Run(args) => run_operator(args).await,
            Command::Emulator(args) => run_emulator(args).await,
        }
    })
}

fn init_logging(log: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.init(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn run_operator(args: RunArgs) -> ExitCode {
    init_logging(&args.log);
    // Fail points exist only in builds with the `failpoints` feature (the test suite's).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot build a Kubernetes client");
            return ExitCode::FAILURE;
        }
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
    };
    let ctx = Arc::new(Context::new(
        client,
        appflow,
        metrics.clone(),
        policy,
        args.min_describe_interval,
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
    let mut registry = prometheus_client::registry::Registry::default();
    let (store_tx, store_rx) = tokio::sync::oneshot::channel();
    let controller = controller::run(
        ctx,
        RunSettings {
            watch_namespace: args.watch_namespace,
            concurrency: args.concurrency,
        },
        ready.clone(),
        move |store| {
            let _ = store_tx.send(store);
        },
        stopped(stop_rx.clone()),
    );
    let controller = tokio::spawn(controller);
    let Ok(store) = store_rx.await else {
        error!("controller ended before it started");
        return ExitCode::FAILURE;
    };
    metrics.register(&mut registry, store);
    let router = http::router(Arc::new(registry), ready);
    let server = tokio::spawn(http::serve(
        args.metrics_addr,
        router,
        stopped(stop_rx.clone()),
    ));

    // A dead loop must be a dead process: if either task ends (or panics) before shutdown
    // was asked for, exit non-zero so the kubelet restarts the pod, instead of serving a
    // green /healthz over a controller that no longer reconciles.
    let aborts = [controller.abort_handle(), server.abort_handle()];
    type Task = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;
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
        eprintln!("fatal: {why}; exiting so that the operator is restarted");
        error!(reason = %why, "fatal: a core task ended while the operator was running");
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
        return ExitCode::FAILURE;
    }
    // Shutting down: the other task finishes its graceful stop.
    let second = tokio::time::timeout(std::time::Duration::from_secs(30), other)
        .await
        .unwrap_or_else(|_| Err("a task did not stop within 30s".to_owned()));
    match (first, second) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) | (_, Err(e)) => {
            error!(error = %e, "shutdown failed");
            ExitCode::FAILURE
        }
    }
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

async fn run_describe(args: DescribeArgs) -> ExitCode {
    let object = match (&args.file, args.connector_type) {
        (Some(path), _) => match describe::load_manifest(path) {
            Ok(object) => object,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(USAGE);
            }
        },
        (None, Some(connector_type)) => {
            let spec = ConnectorInfoSpec {
                connector_type,
                connector_label: args.connector_label.clone(),
                region: None,
                refresh_interval: None,
                requirements: None,
            };
            if let Err(e) = describe::validate(&spec) {
                eprintln!("error: {e}");
                return ExitCode::from(USAGE);
            }
            let mut object = ConnectorInfo::new("describe", spec);
            object.metadata.generation = Some(1);
            object
        }
        (None, None) => {
            eprintln!("error: give --connector-type or -f");
            return ExitCode::from(USAGE);
        }
    };
    let appflow = AppFlow::load(&args.aws.settings()).await;
    let computed = describe::run(&appflow, &object, &Policy::default()).await;
    let printed = match args.output {
        OutputFormat::Yaml => serde_yaml::to_string(&computed.status).map_err(|e| e.to_string()),
        OutputFormat::Json => serde_json::to_string_pretty(&computed.status)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
    };
    match printed {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: cannot print the status: {e}");
            return ExitCode::FAILURE;
        }
    }
    if computed.is_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn run_emulator(args: EmulatorArgs) -> ExitCode {
    init_logging(&args.log);
    let data = match &args.data {
        Some(path) => match appflow_emulator::EmulatorData::from_file(path) {
            Ok(data) => data,
            Err(e) => {
                error!(error = %e, "cannot load emulator data");
                return ExitCode::from(USAGE);
            }
        },
        None => appflow_emulator::EmulatorData::default(),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, addr = %args.listen, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    // The bound address goes to stdout so callers that asked for port 0 learn the port.
    match listener.local_addr() {
        Ok(addr) => println!("AppFlow emulator listening on http://{addr}"),
        Err(e) => {
            error!(error = %e, "cannot read the bound address");
            return ExitCode::FAILURE;
        }
    }
    match appflow_emulator::serve(listener, data, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "emulator failed");
            ExitCode::FAILURE
        }
    }
}
