//! When each ConnectorInfo is reconciled again: its refresh, its backoff after a failure, or
//! the end of a wait for an AWS token.
//!
//! Every described object has one of these pending, so at fleet scale they are held compactly
//! here rather than in kube's scheduler, which keeps each pending requeue twice (in a delay
//! queue and in a map), each copy with the object's name, namespace and UID: about 530 bytes
//! per object against about 200 here (docs/scale.md, "Memory"). Due objects are handed to
//! the controller as triggers (`Controller::reconcile_on`), which then runs them as any other.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
// tokio's clock, so tests can run the timer on paused time.
use tokio::time::Instant;

use conninfo_core::crd::ConnectorInfo;

type Object = ObjectRef<ConnectorInfo>;

/// Pending requeues: one per object, the latest asked for.
#[derive(Default)]
pub struct Requeues {
    state: Mutex<State>,
    /// Woken when a requeue becomes the earliest, so the timer waits for it instead.
    earlier: Notify,
}

#[derive(Default)]
struct State {
    /// Each object's pending requeue; the object is shared with its entries in `queue`.
    due: HashMap<Arc<Object>, Instant>,
    /// Entries by time. An entry whose time is no longer the object's (rescheduled or
    /// cancelled) is skipped when it comes up, and dropped earlier by `compact`.
    queue: BinaryHeap<Reverse<Entry>>,
}

struct Entry {
    at: Instant,
    object: Arc<Object>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

/// Stale entries may be this many beyond the live ones before the queue is rebuilt.
const STALE_ALLOWANCE: usize = 1024;

impl Requeues {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reconciles `object` again at `at`, replacing whatever was pending for it. The reference
    /// should carry only the name and namespace (`ObjectRef::new(..).within(..)`): it is kept.
    pub fn schedule(&self, object: Object, at: Instant) {
        let mut state = self.lock();
        let earliest = state
            .queue
            .peek()
            .is_none_or(|Reverse(first)| at < first.at);
        let shared = match state.due.get_key_value(&object) {
            Some((shared, _)) => shared.clone(),
            None => Arc::new(object),
        };
        state.due.insert(shared.clone(), at);
        state.queue.push(Reverse(Entry { at, object: shared }));
        state.compact();
        drop(state);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Drops what was pending for `object` (reconciled only on a change now, or deleted).
    pub fn cancel(&self, object: &Object) {
        let mut state = self.lock();
        state.due.remove(object);
        state.compact();
    }

    /// Objects pending (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the objects due at `now`, earliest first, and says when the next one is.
    fn take_due(&self, now: Instant) -> (Vec<Object>, Option<Instant>) {
        let mut state = self.lock();
        let mut ready = Vec::new();
        while let Some(Reverse(first)) = state.queue.peek() {
            if first.at > now {
                return (ready, Some(first.at));
            }
            let Some(Reverse(entry)) = state.queue.pop() else {
                break;
            };
            if state.due.get(&entry.object) == Some(&entry.at) {
                state.due.remove(&entry.object);
                ready.push((*entry.object).clone());
            }
        }
        (ready, None)
    }

    /// The objects as they come due, for `Controller::reconcile_on`.
    pub fn due(self: Arc<Self>) -> impl Stream<Item = Object> + Send + 'static {
        let batches = futures::stream::unfold(self, |requeues| async move {
            loop {
                let earlier = requeues.earlier.notified();
                let (ready, next) = requeues.take_due(Instant::now());
                if !ready.is_empty() {
                    drop(earlier);
                    return Some((futures::stream::iter(ready), requeues));
                }
                match next {
                    Some(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => {}
                            () = earlier => {}
                        }
                    }
                    None => earlier.await,
                }
            }
        });
        futures::StreamExt::flatten(batches)
    }
}

impl State {
    /// Rebuilds the queue from the live requeues once stale entries outnumber them by far, so
    /// rescheduling (every reconcile does) and deletions do not grow it without bound.
    fn compact(&mut self) {
        if self.queue.len() <= 2 * self.due.len() + STALE_ALLOWANCE {
            return;
        }
        self.queue = self
            .due
            .iter()
            .map(|(object, at)| {
                Reverse(Entry {
                    at: *at,
                    object: object.clone(),
                })
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    fn object(name: &str) -> Object {
        ObjectRef::new(name).within("ns")
    }

    #[test]
    fn the_latest_request_for_an_object_wins_and_objects_come_due_in_time_order() {
        let requeues = Requeues::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        requeues.schedule(object("a"), t0 + s(30));
        requeues.schedule(object("b"), t0 + s(20));
        requeues.schedule(object("c"), t0 + s(10));
        requeues.schedule(object("a"), t0 + s(5)); // rescheduled: earlier now
        requeues.schedule(object("c"), t0 + s(40)); // rescheduled: later now
        assert_eq!(requeues.len(), 3);

        let (ready, next) = requeues.take_due(t0);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + s(5)));
        let (ready, _) = requeues.take_due(t0 + s(25));
        assert_eq!(ready, [object("a"), object("b")], "c's old time is skipped");
        let (ready, next) = requeues.take_due(t0 + s(35));
        assert!(ready.is_empty(), "a's old time is skipped");
        assert_eq!(next, Some(t0 + s(40)));
        requeues.cancel(&object("c"));
        let (ready, next) = requeues.take_due(t0 + s(60));
        assert!(ready.is_empty(), "cancelled");
        assert_eq!(next, None);
        assert!(requeues.is_empty());
    }

    #[test]
    fn rescheduling_does_not_grow_the_queue_without_bound() {
        let requeues = Requeues::default();
        let t0 = Instant::now();
        for round in 0..50u64 {
            for i in 0..100 {
                requeues.schedule(
                    object(&format!("o{i}")),
                    t0 + Duration::from_secs(3600 + round),
                );
            }
        }
        let queued = requeues.lock().queue.len();
        assert!(queued <= 2 * 100 + STALE_ALLOWANCE + 1, "{queued} entries");
        assert_eq!(requeues.len(), 100);
        let shared = requeues
            .lock()
            .queue
            .iter()
            .filter(|Reverse(e)| *e.object == object("o1"))
            .map(|Reverse(e)| Arc::as_ptr(&e.object))
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(shared.len(), 1, "an object's entries share one copy of it");
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_yields_objects_when_due_and_wakes_for_an_earlier_one() {
        let requeues = Arc::new(Requeues::default());
        let mut due = Box::pin(requeues.clone().due());
        let start = Instant::now();
        requeues.schedule(object("late"), Instant::now() + Duration::from_secs(600));
        // Scheduled while the stream already waits for "late": it must wake for this one.
        let early = requeues.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            early.schedule(object("early"), Instant::now() + Duration::from_secs(10));
        });
        assert_eq!(due.next().await, Some(object("early")));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(11) && waited < Duration::from_secs(12),
            "{waited:?}"
        );
        assert_eq!(due.next().await, Some(object("late")));
        assert!(start.elapsed() >= Duration::from_secs(600));
    }
}
