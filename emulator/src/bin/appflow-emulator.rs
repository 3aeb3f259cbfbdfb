//! Standalone AppFlow emulator: `appflow-emulator --listen 127.0.0.1:PORT [--data FILE]`.
//!
//! Prints `listening on ADDR` on stdout once the socket is bound (useful
//! with port 0), logs to stderr (`RUST_LOG`, default `info`), and stops on
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use appflow_emulator::{EmulatorData, serve};

const USAGE: &str = "usage: appflow-emulator [--listen ADDR] [--data FILE]\n\n  --listen ADDR  address to bind (default 127.0.0.1:0, i.e. any free port)\n  --data FILE    YAML or JSON data file: custom connectors, overrides, faults\n";

struct Args {
    listen: SocketAddr,
    data: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut data = None;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v}: not a socket address ({e})"))?;
            }
            "--data" => data = Some(PathBuf::from(value("--data")?)),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(Args { listen, data }))
}

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
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("appflow-emulator: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let data = match &args.data {
        Some(path) => match EmulatorData::from_file(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("appflow-emulator: {e}");
                return ExitCode::from(2);
            }
        },
        None => EmulatorData::default(),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("appflow-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("appflow-emulator: local address unknown: {e}"),
    }
    match serve(listener, data, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appflow-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Option<Args>, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses() {
        let a = args(&["--listen", "127.0.0.1:9999", "--data=x.yaml"])
            .expect("ok")
            .expect("some");
        assert_eq!(a.listen.port(), 9999);
        assert_eq!(a.data, Some(PathBuf::from("x.yaml")));
        let a = args(&[]).expect("ok").expect("some");
        assert_eq!(a.listen.port(), 0);
        assert!(args(&["--help"]).expect("ok").is_none());
        assert!(args(&["--listen"]).is_err());
        assert!(args(&["--listen", "nope"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }
}
