//! `describe`: the controller's code path without a cluster — prints the status the operator
//! would write.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{DescribeArgs, OutputFormat};
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::cache::DescribeCache;
use conninfo_aws::observe::{self, Policy};
use conninfo_core::admission::{self, API_VERSION};
use conninfo_core::crd::{ConnectorInfo, ConnectorInfoSpec, ConnectorInfoStatus};

/// Exit code for usage errors, as clap uses.
pub const USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
    #[error("{path} is not a ConnectorInfo ({API_VERSION})")]
    NotConnectorInfo { path: String },
    #[error("{path} would be refused by the API server: {source}")]
    Invalid {
        path: String,
        source: admission::Refused,
    },
}

/// A ConnectorInfo manifest, checked as admission would check it.
pub fn load_manifest(path: &Path) -> Result<ConnectorInfo, ManifestError> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: shown(),
        source,
    })?;
    let value: serde_json::Value =
        serde_yaml_ng::from_str(&text).map_err(|source| ManifestError::Parse {
            path: shown(),
            source,
        })?;
    if !admission::is_connector_info(&value) {
        return Err(ManifestError::NotConnectorInfo { path: shown() });
    }
    admission::admit(&value).map_err(|source| ManifestError::Invalid {
        path: shown(),
        source,
    })
}

/// The `describe` command: exit 0 when Ready would be True, 1 when not, 2 for usage errors.
pub async fn command(args: DescribeArgs) -> ExitCode {
    let object = match object_to_describe(&args) {
        Ok(object) => object,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let appflow = std::sync::Arc::new(AppFlow::load(&args.aws.settings()).await);
    // The controller's own observation path, once, for a new object.
    let cache = DescribeCache::default();
    let observed = observe::observe_once(&appflow, &cache, &object, &Policy::default()).await;
    // This cache has no rate limit, so every describe is answered.
    let Ok(observed) = observed else {
        eprintln!("error: rate limited");
        return ExitCode::FAILURE;
    };
    let computed = observed.computed;
    match render(&computed.status, args.output) {
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

/// The object `describe` was asked about: a manifest (`-f`), or one built from the flags and
/// checked as admission would check it.
fn object_to_describe(args: &DescribeArgs) -> Result<ConnectorInfo, String> {
    let connector_type = match (&args.file, args.connector_type) {
        (Some(path), _) => return load_manifest(path).map_err(|e| e.to_string()),
        (None, Some(connector_type)) => connector_type,
        (None, None) => return Err("give --connector-type or -f".to_owned()),
    };
    let spec = ConnectorInfoSpec {
        connector_type,
        connector_label: args.connector_label.clone(),
        region: None,
        refresh_interval: None,
        requirements: None,
    };
    let value =
        serde_json::to_value(ConnectorInfo::new("describe", spec)).map_err(|e| e.to_string())?;
    let mut object = admission::admit(&value).map_err(|e| e.to_string())?;
    object.metadata.generation = Some(1);
    Ok(object)
}

/// The status as YAML or pretty JSON.
fn render(status: &ConnectorInfoStatus, output: OutputFormat) -> Result<String, String> {
    match output {
        OutputFormat::Yaml => serde_yaml_ng::to_string(status).map_err(|e| e.to_string()),
        OutputFormat::Json => serde_json::to_string_pretty(status)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
    }
}
