//! appflow-connector-operator: mirrors Amazon AppFlow's DescribeConnector into
//! `ConnectorInfo` resources.

pub mod account;
pub mod admission;
pub mod appflow;
pub mod cache;
pub mod check;
pub mod cli;
pub mod condition;
pub mod controller;
pub mod crd;
pub mod describe;
pub mod diff;
pub mod events;
pub mod http;
pub mod interval;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod observe;
pub mod operator;
pub mod outcome;
pub mod pacing;
pub mod policy;
pub mod ratelimit;
pub mod reason;
pub mod refresh;
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

#[cfg(test)]
mod tests {
    /// The pure core (spec, mirror, status, requirements, reasons, pacing, policy) compiles
    /// without the AWS SDK or a Kubernetes client: only `appflow` talks to AWS, only
    /// `controller`/`operator` talk to the API server.
    #[test]
    fn core_modules_use_neither_the_aws_sdk_nor_a_kube_client() {
        let core = [
            ("crd.rs", include_str!("crd.rs")),
            ("account/crd.rs", include_str!("account/crd.rs")),
            ("account/identity.rs", include_str!("account/identity.rs")),
            ("account/resolve.rs", include_str!("account/resolve.rs")),
            ("account/status.rs", include_str!("account/status.rs")),
            ("mirror.rs", include_str!("mirror.rs")),
            ("status.rs", include_str!("status.rs")),
            ("condition.rs", include_str!("condition.rs")),
            ("cache.rs", include_str!("cache.rs")),
            ("ratelimit.rs", include_str!("ratelimit.rs")),
            ("requirements.rs", include_str!("requirements.rs")),
            ("reason.rs", include_str!("reason.rs")),
            ("outcome.rs", include_str!("outcome.rs")),
            ("pacing.rs", include_str!("pacing.rs")),
            ("interval.rs", include_str!("interval.rs")),
            ("policy.rs", include_str!("policy.rs")),
            ("refresh.rs", include_str!("refresh.rs")),
            ("diff.rs", include_str!("diff.rs")),
            ("admission.rs", include_str!("admission.rs")),
            ("check/input.rs", include_str!("check/input.rs")),
            ("check/verdict.rs", include_str!("check/verdict.rs")),
            ("check/report.rs", include_str!("check/report.rs")),
        ];
        let forbidden = [
            "aws_sdk",
            "aws_smithy",
            "aws_config",
            "aws_credential",
            "kube::Client",
            "kube::api",
            "kube::runtime",
            "kube::client",
            "crate::appflow",
            "crate::controller",
            "crate::operator",
            "crate::observe",
        ];
        for (file, source) in core {
            for word in forbidden {
                assert!(!source.contains(word), "{file} uses {word}");
            }
        }
    }
}
