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
    let ctx = Arc::new(Context::new(
        client,
        appflow,
        metrics.clone(),
        args.default_refresh_interval,
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
    let server = tokio::spawn(http::serve(args.metrics_addr, router, stopped(stop_rx)));

    let (controller_result, server_result) = tokio::join!(controller, server);
    match (controller_result, server_result) {
        (Ok(()), Ok(Ok(()))) => ExitCode::SUCCESS,
        (_, Ok(Err(e))) => {
            error!(error = %e, "metrics server failed");
            ExitCode::FAILURE
        }
        _ => ExitCode::FAILURE,
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
    let computed = describe::run(&appflow, &object, std::time::Duration::from_secs(3600)).await;
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
