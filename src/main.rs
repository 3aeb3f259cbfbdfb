//! CLI dispatch only: the commands live in the library.

use std::process::ExitCode;

use appflow_connector_operator::cli::{self, Command, CrdName};
use appflow_connector_operator::{check, crd, describe, operator};

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
            Command::Crd(args) => match crds(args.name) {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot render the CRD: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Describe(args) => describe::command(args).await,
            Command::Check(args) => check::command(*args).await,
            Command::Run(args) => match operator::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fatal: {e}; exiting so that the operator is restarted");
                    ExitCode::FAILURE
                }
            },
        }
    })
}

/// The named CRD, or both as one multi-document stream (`crd | kubectl apply -f -`).
fn crds(name: Option<CrdName>) -> Result<String, serde_yaml_ng::Error> {
    Ok(match name {
        Some(CrdName::Connectorinfos) => crd::crd_yaml()?,
        Some(CrdName::Appflowaccounts) => crd::account_crd_yaml()?,
        None => format!("{}---\n{}", crd::crd_yaml()?, crd::account_crd_yaml()?),
    })
}
