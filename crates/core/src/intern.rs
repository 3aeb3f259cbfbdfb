//! One shared copy of each distinct string the controller's cache holds many times over.
//!
//! Ten thousand ConnectorInfos naming fifty connector keys carry fifty distinct condition
//! messages, configuration digests and account IDs between them, and five condition types,
//! three statuses and a few dozen reasons. Status keeps these strings as `Arc<str>`, and the
//! cache passes each through [`share`] as an object enters it, so equal strings are one
//! allocation (docs/scale.md, "Memory").

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string of status, shared between the objects that carry it: a plain string on the wire.
#[derive(
    Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two values are one allocation (for tests of the sharing).
    pub fn ptr_eq(&self, other: &SharedStr) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The strings cached objects hold, and the size at which the unused ones are next dropped.
struct Interner {
    strings: HashSet<SharedStr>,
    sweep_at: usize,
}

/// Below this many strings the interner never sweeps: a sweep walks them all.
const MIN_SWEEP_AT: usize = 1024;

static STRINGS: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        strings: HashSet::new(),
        sweep_at: MIN_SWEEP_AT,
    })
});

/// Replaces `text` with the shared copy of its value, making it the shared copy if there is
/// none yet.
pub fn share(text: &mut SharedStr) {
    let mut interner = STRINGS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(shared) = interner.strings.get(&**text) {
        if !shared.ptr_eq(text) {
            *text = shared.clone();
        }
        return;
    }
    interner.strings.insert(text.clone());
    if interner.strings.len() >= interner.sweep_at {
        interner.sweep();
    }
}

/// [`share`] for an optional string.
pub fn share_opt(text: &mut Option<SharedStr>) {
    if let Some(text) = text {
        share(text);
    }
}

impl Interner {
    /// Drops the strings no object holds any more (messages with a time in them come and go);
    /// the next sweep waits until the set has doubled, so sharing stays amortised O(1).
    fn sweep(&mut self) {
        self.strings.retain(|s| Arc::strong_count(&s.0) > 1);
        self.sweep_at = (self.strings.len() * 2).max(MIN_SWEEP_AT);
    }
}

/// How many distinct strings are held.
#[cfg(test)]
fn len() -> usize {
    STRINGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .strings
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_become_one_allocation() {
        let mut first: SharedStr = "Described Salesforce in account 111111111111".into();
        let mut second: SharedStr = "Described Salesforce in account 111111111111".into();
        assert!(!first.ptr_eq(&second));
        share(&mut first);
        share(&mut second);
        assert!(first.ptr_eq(&second));
        let mut other: Option<SharedStr> = Some("something else entirely".into());
        share_opt(&mut other);
        assert!(!other.as_ref().unwrap().ptr_eq(&first));
    }

    #[test]
    fn strings_no_object_holds_are_dropped_as_the_set_grows() {
        let kept: Vec<SharedStr> = (0..10)
            .map(|i| {
                let mut s: SharedStr = format!("kept-by-a-test-{i}").into();
                share(&mut s);
                s
            })
            .collect();
        for i in 0..(3 * MIN_SWEEP_AT) {
            let mut s: SharedStr = format!("next try at {i}").into();
            share(&mut s);
        }
        // The transient strings are swept whenever the set doubles, so it stays bounded.
        assert!(len() < 3 * MIN_SWEEP_AT, "{} strings held", len());
        for (i, s) in kept.iter().enumerate() {
            let mut again: SharedStr = format!("kept-by-a-test-{i}").into();
            share(&mut again);
            assert!(again.ptr_eq(s), "a held string survives sweeps");
        }
    }
}
