//! Log output: `plain` for people (colour only on a terminal), `json` for machines.

use std::io::IsTerminal;

use crate::cli::{LogArgs, LogFormat};

/// Installs the global subscriber writing to stderr. The filter was validated by clap.
pub fn init(log: &LogArgs) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&log.log_level))
        .with_writer(std::io::stderr);
    match log.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}
