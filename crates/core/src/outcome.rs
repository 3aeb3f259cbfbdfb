//! What a DescribeConnector attempt came to, in the operator's terms: the configuration, or a
//! classified failure, or the operator's refusal to describe at all. SDK-free: the AWS access
//! layer builds these, the pure core reads them.

use std::fmt;

use strum::{IntoStaticStr, VariantArray};

use crate::mirror::ConnectorConfiguration;
use crate::reason::Reason;

/// The outcome the status is computed from.
pub type Outcome = Result<ConnectorConfiguration, DescribeFailure>;

/// A failed (or refused) DescribeConnector, classified. Shown with AWS's own code and words,
/// never credentials; the request id goes into Events and logs (where support needs it) but
/// not into conditions, where a new id on every retry would be a status write on every retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DescribeFailure {
    pub reason: Reason,
    /// AWS's error code, when the service sent one.
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// Why the operator refused to call at all (`None` for AWS's own answers): the conditions
    /// say `InvalidRequest` either way, the refusals metric tells the refusals apart.
    pub refusal: Option<RefusalCategory>,
}

/// The longest condition message a failure gives.
pub const CONDITION_MESSAGE_MAX_BYTES: usize = 1024;

impl DescribeFailure {
    /// What conditions say: AWS's code and message, without the request id, and at most
    /// [`CONDITION_MESSAGE_MAX_BYTES`] of it: an error body is AWS's to size, a condition's
    /// message is not (the API server refuses messages over 32 KiB, and every byte is stored
    /// and watched).
    pub fn condition_message(&self) -> String {
        let full = match &self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        };
        if full.len() <= CONDITION_MESSAGE_MAX_BYTES {
            return full;
        }
        let kept = crate::status::truncate_bytes(&full, CONDITION_MESSAGE_MAX_BYTES - 3);
        format!("{kept}…")
    }

    /// A failure decided before or without a call (no request id, no AWS code).
    pub fn local(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            code: None,
            message: message.into(),
            request_id: None,
            refusal: None,
        }
    }
}

/// A refusal is a terminal `InvalidRequest` decided before any call, with its category.
impl From<Refusal> for DescribeFailure {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal: Some(refusal.category),
            ..Self::local(Reason::InvalidRequest, refusal.message)
        }
    }
}

/// Why the operator refused to describe an object, before any AWS call: what tenants may ask
/// for, and which binding serves their namespace, are the platform team's to decide. The
/// label values of `connectorinfo_refusals_total` (docs/monitoring.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RefusalCategory {
    /// No AppFlowAccount binds the namespace and `--unmapped-namespaces=deny`.
    NamespaceUnbound,
    /// More than one AppFlowAccount binds the namespace.
    BindingConflict,
    /// `spec.region` is outside the operator's `--allowed-regions`.
    RegionNotAllowed,
    /// The region the object would be described in (`spec.region`, or the operator's own
    /// when it names none) is outside its binding's `spec.regions`.
    RegionNotInBinding,
    /// `spec.refreshInterval` cannot be read as a duration.
    InvalidRefreshInterval,
    /// No region anywhere: not in `spec.region`, `--region` nor the environment.
    NoRegion,
}

impl RefusalCategory {
    /// Every category, in declaration order.
    pub const ALL: [RefusalCategory; RefusalCategory::VARIANTS.len()] =
        crate::condition::first_variants(RefusalCategory::VARIANTS);

    /// The metric label value (snake_case).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The operator's refusal to describe an object: its category, and the message its
/// conditions show (which says what to change).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub category: RefusalCategory,
    pub message: String,
}

impl Refusal {
    pub fn new(category: RefusalCategory, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
        }
    }
}

/// The Event and log form: the condition message plus the request id.
impl fmt::Display for DescribeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.condition_message())?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id: {id})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_aws_message_is_cut_in_the_condition_on_a_character_boundary() {
        let failure = DescribeFailure {
            code: Some("InternalServerException".into()),
            ..DescribeFailure::local(Reason::ServiceError, "é".repeat(100_000))
        };
        let message = failure.condition_message();
        assert!(
            message.len() <= CONDITION_MESSAGE_MAX_BYTES,
            "{}",
            message.len()
        );
        assert!(message.starts_with("InternalServerException: éé") && message.ends_with('…'));
        let short = DescribeFailure::local(Reason::ServiceError, "boom");
        assert_eq!(short.condition_message(), "boom");
    }

    #[test]
    fn message_names_code_and_request_id() {
        let failure = DescribeFailure {
            reason: Reason::AccessDenied,
            code: Some("AccessDeniedException".into()),
            message: "not allowed".into(),
            request_id: Some("r-1".into()),
            refusal: None,
        };
        assert_eq!(
            failure.to_string(),
            "AccessDeniedException: not allowed (request id: r-1)"
        );
        assert_eq!(
            failure.condition_message(),
            "AccessDeniedException: not allowed"
        );
        assert_eq!(
            DescribeFailure::local(Reason::InvalidRequest, "no region").to_string(),
            "no region"
        );
    }

    #[test]
    fn a_refusal_is_a_terminal_invalid_request_with_its_category_and_message() {
        let refusal = Refusal::new(RefusalCategory::RegionNotAllowed, "not here");
        assert_eq!(refusal.to_string(), "not here");
        let failure = DescribeFailure::from(refusal);
        assert_eq!(failure.reason, Reason::InvalidRequest);
        assert_eq!(failure.refusal, Some(RefusalCategory::RegionNotAllowed));
        assert_eq!(failure.condition_message(), "not here");
        assert_eq!(failure.to_string(), "not here");
        assert_eq!(
            DescribeFailure::local(Reason::InvalidRequest, "x").refusal,
            None
        );
    }

    #[test]
    fn categories_are_snake_case_label_values() {
        let labels: Vec<&str> = RefusalCategory::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            labels,
            [
                "namespace_unbound",
                "binding_conflict",
                "region_not_allowed",
                "region_not_in_binding",
                "invalid_refresh_interval",
                "no_region",
            ]
        );
    }
}
