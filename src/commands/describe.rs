//! `describe`: the controller's code path without a cluster — prints the status the operator
//! would write.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{DescribeArgs, OutputFormat};
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::cache::DescribeCache;
use conninfo_aws::observe::{self, Policy};
use conninfo_core::admission::{self, API_VERSION};
use conninfo_core::crd::{ConnectorInfo, ConnectorInfoSpec};

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
    let object = match (&args.file, args.connector_type) {
        (Some(path), _) => match load_manifest(path) {
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
            let object = ConnectorInfo::new("describe", spec);
            let admitted = serde_json::to_value(&object)
                .map_err(|e| e.to_string())
                .and_then(|value| admission::admit(&value).map_err(|e| e.to_string()));
            match admitted {
                Ok(mut object) => {
                    object.metadata.generation = Some(1);
                    object
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(USAGE);
                }
            }
        }
        (None, None) => {
            eprintln!("error: give --connector-type or -f");
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
    let printed = match args.output {
        OutputFormat::Yaml => serde_yaml_ng::to_string(&computed.status).map_err(|e| e.to_string()),
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
