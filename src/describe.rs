//! `describe`: the controller's code path without a cluster — prints the status the operator
//! would write.

use std::path::Path;

use crate::appflow::AppFlow;
use crate::crd::{ConnectorInfo, ConnectorInfoSpec};
use crate::observe::{self, Policy};
use crate::status::Computed;

#[derive(Debug, thiserror::Error)]
pub enum DescribeInputError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid ConnectorInfo: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The spec and generation of a ConnectorInfo manifest.
pub fn load_manifest(path: &Path) -> Result<ConnectorInfo, DescribeInputError> {
    let text = std::fs::read_to_string(path).map_err(|source| DescribeInputError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let object: ConnectorInfo =
        serde_yaml::from_str(&text).map_err(|source| DescribeInputError::Parse {
            path: path.display().to_string(),
            source,
        })?;
    validate(&object.spec)?;
    Ok(object)
}

/// The checks the API server's schema would make that serde does not.
pub fn validate(spec: &ConnectorInfoSpec) -> Result<(), DescribeInputError> {
    use crate::crd::ConnectorType;
    if spec.connector_type == ConnectorType::CustomConnector && spec.connector_label.is_none() {
        return Err(DescribeInputError::Invalid(
            "spec.connectorLabel is required when spec.connectorType is CustomConnector".into(),
        ));
    }
    if let Some(label) = &spec.connector_label {
        let pattern = regex::Regex::new(r"^[a-zA-Z0-9][\w!@#.-]+$").expect("static pattern");
        if label.len() > 256 || !pattern.is_match(label) {
            return Err(DescribeInputError::Invalid(format!(
                "connectorLabel '{label}' must match [a-zA-Z0-9][\\w!@#.-]+ and be at most 256 characters"
            )));
        }
    }
    Ok(())
}

/// Describes once and computes the status, as the controller would for a new object.
pub async fn run(appflow: &AppFlow, object: &ConnectorInfo, policy: &Policy) -> Computed {
    observe::observe(appflow, object, policy, jiff::Timestamp::now())
        .await
        .computed
}
