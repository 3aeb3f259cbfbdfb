//! The Kubernetes side of appflow-connector-operator: the controllers for ConnectorInfos and
//! AppFlowAccounts, leader election, Events, Prometheus metrics and the HTTP endpoints.
//!
//! What to write comes from `conninfo-core` (pure) and `conninfo-aws` (AppFlow); this crate
//! reads and writes the API server. See docs/design.md, "Architecture".

pub mod accounts;
pub mod bindings;
pub mod controller;
pub mod events;
pub mod gate;
pub mod http;
pub mod initial_list;
pub mod leader;
pub mod metrics;
pub mod pacing;
pub mod refresh_requests;
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
    pub outcome: ReconcileOutcome,
    pub next: Option<std::time::Duration>,
}

impl Finished {
    /// A standby neither calls AWS nor writes; it reconciles everything when it starts leading.
    pub const STANDBY: Finished = Finished {
        outcome: ReconcileOutcome::Standby,
        next: None,
    };
}

/// What a reconciliation that returned did; its label is the `result` of the controller's
/// `reconciliations_total` (errors count under their own labels, `Error::metric_label`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReconcileOutcome {
    /// Not leading: nothing done.
    Standby,
    /// ConnectorInfo: described, and Ready.
    Ready,
    /// ConnectorInfo: described, not Ready, for this reason.
    NotReady(conninfo_core::reason::Reason),
    /// ConnectorInfo: described for its generation and not due, so not described again.
    Fresh,
    /// ConnectorInfo: inside its minimum gap between describes.
    Deferred,
    /// ConnectorInfo: waiting for a token of the AWS rate limit.
    RateLimited,
    /// ConnectorInfo: its key's error budget, resumed from status, holds the failure.
    Held,
    /// ConnectorInfo: its refresh request waits for the key's next forced call.
    RefreshPending,
    /// AppFlowAccount: status written.
    Written,
    /// AppFlowAccount: status already said so.
    Unchanged,
}

impl ReconcileOutcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Ready => "ready",
            Self::NotReady(reason) => reason.as_str(),
            Self::Fresh => "fresh",
            Self::Deferred => "deferred",
            Self::RateLimited => "rate_limited",
            Self::Held => "held",
            Self::RefreshPending => "refresh_pending",
            Self::Written => "written",
            Self::Unchanged => "unchanged",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::ReconcileOutcome::*;
    use conninfo_core::reason::Reason;

    #[test]
    fn outcome_labels_are_the_ones_alerts_and_docs_name() {
        // The chart's alerts select `result="rate_limited"`; the e2e suite reads `held` and
        // `fresh`; a failure is labelled with its reason as status spells it.
        let labels: Vec<_> = [
            Standby,
            Ready,
            Fresh,
            Deferred,
            RateLimited,
            Held,
            RefreshPending,
        ]
        .map(|o| o.label())
        .into();
        assert_eq!(
            labels,
            [
                "standby",
                "ready",
                "fresh",
                "deferred",
                "rate_limited",
                "held",
                "refresh_pending"
            ]
        );
        assert_eq!(NotReady(Reason::AccessDenied).label(), "AccessDenied");
        assert_eq!(
            (Written.label(), Unchanged.label()),
            ("written", "unchanged")
        );
    }
}
