//! The reasons conditions carry, and how each outcome is retried (docs/design.md, "Reasons and
//! the retry table").

use std::time::Duration;

/// Condition reasons, spelled exactly as docs/design.md lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Described,
    InvalidRequest,
    ConnectorNotFound,
    AccessDenied,
    Throttled,
    ServiceError,
    CredentialsUnavailable,
    ServiceUnreachable,
    InvalidResponse,
    RequirementsNotMet,
    /// An Event's reason only, never a condition's: a successful describe returned a
    /// configuration that differs from the one mirrored.
    ConfigurationChanged,
}

/// When to describe again after an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// After the refresh interval (with jitter); never when the interval is zero.
    AfterRefresh,
    /// Only when the spec or the refresh annotation changes.
    OnChange,
    /// Poll at min(refresh interval, 5 minutes): the connector may appear later.
    Poll,
    /// Per-object exponential backoff.
    Backoff,
}

/// The longest a missing connector waits before it is looked up again.
pub const NOT_FOUND_POLL_CAP: Duration = Duration::from_secs(300);

impl Retry {
    /// When to describe again, before jitter, for the outcomes that are not backed off:
    /// `None` waits for a change of the spec or the refresh annotation.
    pub fn scheduled(self, refresh: Duration) -> Option<Duration> {
        match self {
            Retry::AfterRefresh if !refresh.is_zero() => Some(refresh),
            Retry::Poll if refresh.is_zero() => Some(NOT_FOUND_POLL_CAP),
            Retry::Poll => Some(refresh.min(NOT_FOUND_POLL_CAP)),
            Retry::AfterRefresh | Retry::OnChange | Retry::Backoff => None,
        }
    }
}

impl Reason {
    /// The reasons conditions carry (not [`Reason::ConfigurationChanged`], an Event's).
    pub const ALL: [Reason; 10] = [
        Reason::Described,
        Reason::InvalidRequest,
        Reason::ConnectorNotFound,
        Reason::AccessDenied,
        Reason::Throttled,
        Reason::ServiceError,
        Reason::CredentialsUnavailable,
        Reason::ServiceUnreachable,
        Reason::InvalidResponse,
        Reason::RequirementsNotMet,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Described => "Described",
            Reason::InvalidRequest => "InvalidRequest",
            Reason::ConnectorNotFound => "ConnectorNotFound",
            Reason::AccessDenied => "AccessDenied",
            Reason::Throttled => "Throttled",
            Reason::ServiceError => "ServiceError",
            Reason::CredentialsUnavailable => "CredentialsUnavailable",
            Reason::ServiceUnreachable => "ServiceUnreachable",
            Reason::InvalidResponse => "InvalidResponse",
            Reason::RequirementsNotMet => "RequirementsNotMet",
            Reason::ConfigurationChanged => "ConfigurationChanged",
        }
    }

    /// A condition's reason as written (`None` for anything else, and for the Event-only
    /// [`Reason::ConfigurationChanged`]).
    pub fn parse(text: &str) -> Option<Reason> {
        Some(match text {
            "Described" => Reason::Described,
            "InvalidRequest" => Reason::InvalidRequest,
            "ConnectorNotFound" => Reason::ConnectorNotFound,
            "AccessDenied" => Reason::AccessDenied,
            "Throttled" => Reason::Throttled,
            "ServiceError" => Reason::ServiceError,
            "CredentialsUnavailable" => Reason::CredentialsUnavailable,
            "ServiceUnreachable" => Reason::ServiceUnreachable,
            "InvalidResponse" => Reason::InvalidResponse,
            "RequirementsNotMet" => Reason::RequirementsNotMet,
            _ => return None,
        })
    }

    /// Its position in [`Reason::ALL`] (the Event-only reason comes after them all).
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn retry(self) -> Retry {
        match self {
            Reason::Described | Reason::RequirementsNotMet | Reason::ConfigurationChanged => {
                Retry::AfterRefresh
            }
            Reason::InvalidRequest => Retry::OnChange,
            Reason::ConnectorNotFound => Retry::Poll,
            Reason::AccessDenied
            | Reason::Throttled
            | Reason::ServiceError
            | Reason::CredentialsUnavailable
            | Reason::ServiceUnreachable
            | Reason::InvalidResponse => Retry::Backoff,
        }
    }

    /// Progress needs a human (kstatus `Failed`).
    pub fn is_stalled(self) -> bool {
        matches!(
            self,
            Reason::InvalidRequest | Reason::ConnectorNotFound | Reason::RequirementsNotMet
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_reasons_parse_back_and_index_their_place() {
        for (position, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_eq!(reason.index(), position);
        }
        assert_eq!(Reason::parse("ConfigurationChanged"), None);
        assert_eq!(Reason::parse("described"), None);
        assert!(Reason::ConfigurationChanged.index() >= Reason::ALL.len());
    }

    #[test]
    fn retry_table_matches_guide() {
        use Reason::*;
        let expected = [
            (Described, Retry::AfterRefresh),
            (InvalidRequest, Retry::OnChange),
            (ConnectorNotFound, Retry::Poll),
            (AccessDenied, Retry::Backoff),
            (Throttled, Retry::Backoff),
            (ServiceError, Retry::Backoff),
            (CredentialsUnavailable, Retry::Backoff),
            (ServiceUnreachable, Retry::Backoff),
            (InvalidResponse, Retry::Backoff),
            (RequirementsNotMet, Retry::AfterRefresh),
        ];
        for (reason, retry) in expected {
            assert_eq!(reason.retry(), retry, "{reason}");
        }
        let hour = Duration::from_secs(3600);
        assert_eq!(Retry::AfterRefresh.scheduled(hour), Some(hour));
        assert_eq!(Retry::AfterRefresh.scheduled(Duration::ZERO), None);
        assert_eq!(Retry::Poll.scheduled(hour), Some(NOT_FOUND_POLL_CAP));
        assert_eq!(
            Retry::Poll.scheduled(Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            Retry::Poll.scheduled(Duration::ZERO),
            Some(NOT_FOUND_POLL_CAP)
        );
        assert_eq!(Retry::OnChange.scheduled(hour), None);
        let stalled: Vec<_> = Reason::ALL.into_iter().filter(|r| r.is_stalled()).collect();
        assert_eq!(
            stalled,
            [InvalidRequest, ConnectorNotFound, RequirementsNotMet]
        );
    }
}
