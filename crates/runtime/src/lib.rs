//! The Kubernetes side of appflow-connector-operator: the controllers for ConnectorInfos and
//! AppFlowAccounts, leader election, Events, Prometheus metrics and the HTTP endpoints.
//!
//! What to write comes from `conninfo-core` (pure) and `conninfo-aws` (AppFlow); this crate
//! reads and writes the API server. See docs/design.md, "Architecture".

pub mod accounts;
pub mod bindings;
pub mod controller;
pub mod events;
pub mod http;
pub mod initial_list;
pub mod lanes;
pub mod leader;
pub mod metrics;
pub mod requeues;
pub mod status_write;
pub mod trim;
pub mod watch_health;

/// Errors of the reconciler itself; AWS outcomes are not errors here, they become conditions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status failed: {0}")]
    StatusWrite(#[source] status_write::WriteError),
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

/// How a reconciliation ended, in both controllers: its outcome (the label of the
/// controller's reconciliations metric) and when to reconcile again (`None`: only on a change,
/// or when this replica starts leading).
#[derive(Debug, PartialEq)]
pub(crate) struct Finished {
    pub outcome: &'static str,
    pub next: Option<std::time::Duration>,
}

impl Finished {
    /// A standby neither calls AWS nor writes; it reconciles everything when it starts leading.
    pub const STANDBY: Finished = Finished {
        outcome: "standby",
        next: None,
    };
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
