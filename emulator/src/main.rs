//! `appflow-emulator`: serves the AppFlow emulator on a TCP address until SIGTERM or Ctrl-C.
//! The bound address goes to stdout first, so callers that ask for port 0 learn the port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use appflow_emulator::EmulatorData;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "appflow-emulator",
    version,
    about = "Amazon AppFlow DescribeConnector (restJson1) and STS AssumeRole/GetCallerIdentity (awsQuery) for several AWS accounts, for tests and demos"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// YAML or JSON file with accounts, roles, custom connectors, overrides and faults.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Latency added to every DescribeConnector answer, in milliseconds (overrides the data
    /// file's account.latencyMs).
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Calls per second the account allows before answering ThrottlingException (HTTP 429)
    /// (overrides the data file's account.rateLimit).
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Calls the account allows at once with --rate-limit.
    #[arg(long, default_value_t = 1, requires = "rate_limit")]
    burst: u32,
    /// Probability (0 to 1) that a DescribeConnector call meets a random fault: a 500, a 429,
    /// a hang past the client's timeout or a garbage body, drawn evenly (overrides the data
    /// file's randomFaults).
    #[arg(long)]
    random_fault_rate: Option<f64>,
    /// Seed of the random faults: the same seed draws the same faults.
    #[arg(long, default_value_t = 1, requires = "random_fault_rate")]
    random_fault_seed: u64,
    /// Log filter (tracing EnvFilter syntax); logs go to stderr.
    #[arg(long, default_value = "info", value_parser = parse_filter)]
    log_level: String,
}

fn parse_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log_level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data = match &cli.data {
        Some(path) => match EmulatorData::from_file(path) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("error: cannot load {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => EmulatorData::default(),
    };
    let mut data = data;
    if let Some(latency) = cli.latency_ms {
        data.account.latency_ms = Some(latency);
    }
    if let Some(rate) = cli.rate_limit {
        data.account.rate_limit = Some(appflow_emulator::RateLimitSpec {
            requests_per_second: rate,
            burst: cli.burst,
        });
    }
    if let Some(rate) = cli.random_fault_rate {
        data.random_faults = Some(appflow_emulator::RandomFaultSpec::new(
            rate,
            cli.random_fault_seed,
        ));
    }
    if let Err(e) = data.check() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("AppFlow emulator listening on http://{addr}"),
        Err(e) => {
            eprintln!("error: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    }
    match appflow_emulator::serve(listener, data, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: emulator failed: {e}");
            ExitCode::FAILURE
        }
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
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        assert!(Cli::try_parse_from(["appflow-emulator", "--log-level", "[="]).is_err());
    }
}
