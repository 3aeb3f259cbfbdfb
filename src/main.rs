//! CLI dispatch only: the commands live in the library (`commands`).

use std::process::ExitCode;

use appflow_connector_operator::cli::{self, Command};
use appflow_connector_operator::commands::{check, crd, describe, migrate, run};

/// jemalloc rather than glibc's malloc: see docs/scale.md, "Memory".
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = cli::parse_args(std::env::args_os());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Crd(args) => crd::command(args).await,
            Command::Describe(args) => describe::command(args).await,
            Command::Check(args) => check::command(*args).await,
            Command::Migrate(args) => migrate::command(args).await,
            Command::Run(args) => match run::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fatal: {e}; exiting so that the operator is restarted");
                    ExitCode::FAILURE
                }
            },
        }
    })
}
