//! Authorization decisions for `/metrics`, remembered for a short time by a hash of the
//! token, so a scrape every few seconds costs the API server one TokenReview and one
//! SubjectAccessReview per token and time-to-live, not two reviews per scrape. The token
//! itself is never kept: only its SHA-256.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// What the API server said about a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated, and allowed `get` on the non-resource URL `/metrics`.
    Allowed,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The TokenReview did not authenticate the token.
    Unauthenticated,
}

/// The SHA-256 of a token: the cache's key, so no token stays in memory longer than its
/// request.
pub type TokenHash = [u8; 32];

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// How long decisions are kept. A denial is kept shorter than an allowance: a reader
/// that was just granted the role should not wait long for it to count.
#[derive(Clone, Copy, Debug)]
pub struct Ttl {
    pub allowed: Duration,
    pub denied: Duration,
}

impl Ttl {
    fn of(self, decision: Decision) -> Duration {
        match decision {
            Decision::Allowed => self.allowed,
            Decision::Forbidden | Decision::Unauthenticated => self.denied,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    decision: Decision,
    expires: Instant,
}

/// A bounded map of token hashes to decisions: a flood of distinct tokens cannot grow it
/// beyond `capacity`; when full, expired entries go first, then the one closest to expiry.
#[derive(Debug)]
pub struct DecisionCache {
    entries: HashMap<TokenHash, Entry>,
    capacity: usize,
    ttl: Ttl,
}

impl DecisionCache {
    pub fn new(capacity: usize, ttl: Ttl) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The decision for `key`, while it is fresh at `now`.
    pub fn get(&self, key: &TokenHash, now: Instant) -> Option<Decision> {
        self.entries
            .get(key)
            .filter(|entry| now < entry.expires)
            .map(|entry| entry.decision)
    }

    pub fn insert(&mut self, key: TokenHash, decision: Decision, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let expires = now + self.ttl.of(decision);
        self.entries.insert(key, Entry { decision, expires });
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, entry| now < entry.expires);
        if self.entries.len() < self.capacity {
            return;
        }
        let soonest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.expires)
            .map(|(key, _)| *key);
        if let Some(key) = soonest {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Ttl = Ttl {
        allowed: Duration::from_secs(120),
        denied: Duration::from_secs(30),
    };

    #[test]
    fn the_key_is_the_tokens_sha256_not_the_token() {
        let key = token_hash("secret-token");
        assert_eq!(key, token_hash("secret-token"));
        assert_ne!(key, token_hash("secret-tokem"));
        assert!(!key.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn decisions_are_kept_for_their_time_to_live_denials_shorter() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(8, TTL);
        let (reader, stranger) = (token_hash("reader"), token_hash("stranger"));
        cache.insert(reader, Decision::Allowed, start);
        cache.insert(stranger, Decision::Forbidden, start);
        let later = |secs| start + Duration::from_secs(secs);
        assert_eq!(cache.get(&reader, later(29)), Some(Decision::Allowed));
        assert_eq!(cache.get(&stranger, later(29)), Some(Decision::Forbidden));
        assert_eq!(cache.get(&stranger, later(30)), None);
        assert_eq!(cache.get(&reader, later(119)), Some(Decision::Allowed));
        assert_eq!(cache.get(&reader, later(120)), None);
        assert_eq!(cache.get(&token_hash("other"), start), None);
    }

    #[test]
    fn a_new_decision_replaces_the_old_one() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(8, TTL);
        let key = token_hash("t");
        cache.insert(key, Decision::Unauthenticated, start);
        cache.insert(key, Decision::Allowed, start + Duration::from_secs(40));
        assert_eq!(
            cache.get(&key, start + Duration::from_secs(100)),
            Some(Decision::Allowed)
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(3, TTL);
        for i in 0..1000u64 {
            let now = start + Duration::from_millis(i);
            cache.insert(token_hash(&i.to_string()), Decision::Forbidden, now);
            assert!(cache.len() <= 3);
        }
        // The newest decisions are the ones kept.
        let now = start + Duration::from_millis(1000);
        assert_eq!(
            cache.get(&token_hash("999"), now),
            Some(Decision::Forbidden)
        );
        assert_eq!(cache.get(&token_hash("0"), now), None);
    }

    #[test]
    fn when_full_expired_entries_go_before_fresh_ones() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(2, TTL);
        cache.insert(token_hash("reader"), Decision::Allowed, start);
        cache.insert(token_hash("stranger"), Decision::Forbidden, start);
        // 60s on: the denial has expired, the allowance has not.
        let now = start + Duration::from_secs(60);
        cache.insert(token_hash("new"), Decision::Forbidden, now);
        assert_eq!(
            cache.get(&token_hash("reader"), now),
            Some(Decision::Allowed)
        );
        assert_eq!(
            cache.get(&token_hash("new"), now),
            Some(Decision::Forbidden)
        );
        assert_eq!(cache.len(), 2);
        assert!(!cache.is_empty());
    }
}
