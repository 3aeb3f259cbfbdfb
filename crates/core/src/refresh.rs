//! When each object's pending refresh request (the annotation) was first seen.
//!
//! A forced refresh is answered by a describe of the key started no earlier than the
//! forced-refresh interval (`--forced-refresh-interval`, default 60 s) before the request was
//! first seen, so when a whole fleet is annotated the first object's call answers the objects
//! after it: one call per key, not per object. Stamping the request when the reconcile runs
//! instead would make every object queued behind the first one call AWS again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Pending refresh requests by object UID: the request's value and when it was first seen.
#[derive(Default)]
pub struct RefreshRequests(Mutex<HashMap<String, (String, Instant)>>);

impl RefreshRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes an object as the watch delivers it: an unhandled request is stamped `now` the
    /// first time its value is seen; a handled or withdrawn one is forgotten.
    pub fn note(&self, uid: &str, request: Option<&str>, handled: Option<&str>, now: Instant) {
        let mut pending = self.lock();
        match request {
            Some(request) if Some(request) != handled => {
                if pending.get(uid).is_none_or(|(known, _)| known != request) {
                    pending.insert(uid.to_owned(), (request.to_owned(), now));
                }
            }
            _ => {
                pending.remove(uid);
            }
        }
    }

    /// When `request` was first seen for the object, if it was.
    pub fn seen(&self, uid: &str, request: &str) -> Option<Instant> {
        self.lock()
            .get(uid)
            .filter(|(known, _)| known == request)
            .map(|(_, at)| *at)
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

    #[test]
    fn a_request_keeps_the_time_it_was_first_seen() {
        let requests = RefreshRequests::default();
        let first = Instant::now();
        requests.note("a", Some("1"), None, first);
        requests.note("a", Some("1"), None, first + Duration::from_secs(5));
        assert_eq!(requests.seen("a", "1"), Some(first));
        assert_eq!(
            requests.seen("a", "2"),
            None,
            "another value is another request"
        );
        assert_eq!(requests.seen("b", "1"), None);
    }

    #[test]
    fn a_new_value_is_a_new_request() {
        let requests = RefreshRequests::default();
        let first = Instant::now();
        let later = first + Duration::from_secs(60);
        requests.note("a", Some("1"), None, first);
        requests.note("a", Some("2"), Some("1"), later);
        assert_eq!(requests.seen("a", "2"), Some(later));
    }

    #[test]
    fn handled_withdrawn_and_deleted_requests_are_forgotten() {
        let requests = RefreshRequests::default();
        let now = Instant::now();
        requests.note("handled", Some("1"), None, now);
        requests.note("handled", Some("1"), Some("1"), now);
        requests.note("withdrawn", Some("1"), None, now);
        requests.note("withdrawn", None, None, now);
        requests.note("deleted", Some("1"), None, now);
        requests.forget("deleted");
        requests.note("never", None, None, now);
        assert!(requests.is_empty());
    }
}
