//! The reasons conditions carry, and how each outcome is retried (docs/design.md, "Reasons and
//! the retry table").

use std::time::Duration;

use strum::{Display, EnumString, IntoStaticStr, VariantArray};

use crate::condition::first_variants;

/// Condition reasons, spelled exactly as docs/design.md lists them (the derived strings are
/// the variants' names).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString, VariantArray, Display,
)]
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
    /// A condition's reason only, never an outcome's: `RequirementsMet` is Unknown until the
    /// first successful describe of a generation judges the requirements.
    AwaitingDescribe,
    /// A condition's reason only, never an outcome's: `Reconciling` is True while a refresh
    /// request waits for its connector's next forced DescribeConnector.
    RefreshPending,
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
    /// The reasons conditions carry as an outcome: every variant declared before
    /// [`Reason::ConfigurationChanged`] (metric label sets are built from this list).
    pub const ALL: [Reason; Reason::ConfigurationChanged as usize] =
        first_variants(Reason::VARIANTS);

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// An outcome's reason as written (`None` for anything else, for the Event-only
    /// [`Reason::ConfigurationChanged`] and for the condition-only [`Reason::AwaitingDescribe`]
    /// and [`Reason::RefreshPending`]).
    pub fn parse(text: &str) -> Option<Reason> {
        text.parse()
            .ok()
            .filter(|reason: &Reason| reason.index() < Reason::ALL.len())
    }

    /// Its position in [`Reason::ALL`] (the reasons outside it come after them all).
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn retry(self) -> Retry {
        match self {
            // The last three are never an outcome's: an outcome decides the retry.
            Reason::Described
            | Reason::RequirementsNotMet
            | Reason::ConfigurationChanged
            | Reason::AwaitingDescribe
            | Reason::RefreshPending => Retry::AfterRefresh,
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
        assert_eq!(Reason::parse("AwaitingDescribe"), None);
        assert_eq!(Reason::parse("RefreshPending"), None);
        assert!(Reason::ConfigurationChanged.index() >= Reason::ALL.len());
        assert!(Reason::AwaitingDescribe.index() >= Reason::ALL.len());
        assert!(Reason::RefreshPending.index() >= Reason::ALL.len());
    }

    #[test]
    fn wire_strings_are_the_ones_the_docs_spell() {
        let all: Vec<&str> = Reason::VARIANTS.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            all,
            [
                "Described",
                "InvalidRequest",
                "ConnectorNotFound",
                "AccessDenied",
                "Throttled",
                "ServiceError",
                "CredentialsUnavailable",
                "ServiceUnreachable",
                "InvalidResponse",
                "RequirementsNotMet",
                "ConfigurationChanged",
                "AwaitingDescribe",
                "RefreshPending",
            ]
        );
        assert_eq!(Reason::ALL.len(), 10, "the outcomes' reasons");
        assert_eq!(Reason::Throttled.to_string(), "Throttled");
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
