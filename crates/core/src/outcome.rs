//! What a DescribeConnector attempt came to, in the operator's terms: the configuration, or a
//! classified failure. SDK-free: the AWS access layer builds these, the pure core reads them.

use std::fmt;

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
}

impl DescribeFailure {
    /// What conditions say: AWS's code and message, without the request id.
    pub fn condition_message(&self) -> String {
        match &self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// A failure decided before or without a call (no request id, no AWS code).
    pub fn local(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            code: None,
            message: message.into(),
            request_id: None,
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
    fn message_names_code_and_request_id() {
        let failure = DescribeFailure {
            reason: Reason::AccessDenied,
            code: Some("AccessDeniedException".into()),
            message: "not allowed".into(),
            request_id: Some("r-1".into()),
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
}
