//! appflow-connector-operator: mirrors Amazon AppFlow's DescribeConnector into
//! `ConnectorInfo` resources.

pub mod appflow;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod describe;
pub mod http;
pub mod interval;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod observe;
pub mod operator;
pub mod pacing;
pub mod policy;
pub mod reason;
pub mod requirements;
pub mod status;

/// Errors of the reconciler itself; AWS outcomes are not errors here, they become conditions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status failed: {0}")]
    StatusWrite(#[source] kube::Error),
    #[error("ConnectorInfo has no namespace")]
    MissingNamespace,
}

impl Error {
    /// A low-cardinality label for the reconciliations metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::StatusWrite(_) => "status_write_error",
            Error::MissingNamespace => "missing_namespace",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
