//! The pending refresh requests, by object UID: each request's value and when it was made
//! ([`conninfo_core::refresh::requested_at`]). The watch notes them as it delivers objects
//! (`trim::CacheFeed`); reconciling reads them; a deleted object's goes (`Context::forget`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use jiff::Timestamp;

use conninfo_core::refresh::requested_at;

/// Pending refresh requests by object UID: the request's value and when it was made.
#[derive(Default)]
pub struct RefreshRequests(Mutex<HashMap<String, (String, Instant)>>);

impl RefreshRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes an object as the watch delivers it: an unhandled request is dated
    /// ([`requested_at`]) the first time its value is seen; a handled or withdrawn one is
    /// forgotten.
    pub fn note(
        &self,
        uid: &str,
        request: Option<&str>,
        handled: Option<&str>,
        now: Instant,
        wall: Timestamp,
    ) {
        let mut pending = self.lock();
        match request {
            Some(request) if Some(request) != handled => {
                if pending.get(uid).is_none_or(|(known, _)| known != request) {
                    let at = requested_at(request, now, wall);
                    pending.insert(uid.to_owned(), (request.to_owned(), at));
                }
            }
            _ => {
                pending.remove(uid);
            }
        }
    }

    /// When `request` was made, if the object's request with that value was noted.
    pub fn requested(&self, uid: &str, request: &str) -> Option<Instant> {
        self.lock()
            .get(uid)
            .filter(|(known, _)| known == request)
            .map(|(_, at)| *at)
    }

    /// The value of the object's pending request, if one was noted. The controller's cache
    /// keeps pending requests here only, not in its copy of the object.
    pub fn pending(&self, uid: &str) -> Option<String> {
        self.lock().get(uid).map(|(request, _)| request.clone())
    }

    /// Forgets a deleted object.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Pending requests (for tests and the memory bound).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn wall() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_request_keeps_the_time_it_was_first_seen() {
        let requests = RefreshRequests::default();
        let first = Instant::now();
        requests.note("a", Some("v1"), None, first, wall());
        let later = first + Duration::from_secs(5);
        requests.note("a", Some("v1"), None, later, wall());
        assert_eq!(requests.requested("a", "v1"), Some(first));
        assert_eq!(
            requests.requested("a", "v2"),
            None,
            "another value is another request"
        );
        assert_eq!(requests.requested("b", "v1"), None);
    }

    #[test]
    fn a_new_value_is_a_new_request() {
        let requests = RefreshRequests::default();
        let first = Instant::now();
        let later = first + Duration::from_secs(60);
        requests.note("a", Some("v1"), None, first, wall());
        requests.note("a", Some("v2"), Some("v1"), later, wall());
        assert_eq!(requests.requested("a", "v2"), Some(later));
        assert_eq!(requests.pending("a").as_deref(), Some("v2"));
        assert_eq!(requests.pending("b"), None);
    }

    #[test]
    fn handled_withdrawn_and_deleted_requests_are_forgotten() {
        let requests = RefreshRequests::default();
        let now = Instant::now();
        requests.note("handled", Some("1"), None, now, wall());
        requests.note("handled", Some("1"), Some("1"), now, wall());
        requests.note("withdrawn", Some("1"), None, now, wall());
        requests.note("withdrawn", None, None, now, wall());
        requests.note("deleted", Some("1"), None, now, wall());
        requests.forget("deleted");
        requests.note("never", None, None, now, wall());
        assert!(requests.is_empty());
    }
}
