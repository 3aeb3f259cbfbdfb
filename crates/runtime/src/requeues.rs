//! When each ConnectorInfo is reconciled again: its refresh, its backoff after a failure, or
//! the end of a wait for an AWS token.
//!
//! Every described object has one of these pending, so at fleet scale they are held compactly
//! here rather than in kube's scheduler, which keeps each pending requeue twice (in a delay
//! queue and in a map), each copy with the object's name, namespace and UID: about 530 bytes
//! per object against about 200 here (docs/scale.md, "Memory"). Due objects are handed to
//! the controller as triggers (`Controller::reconcile_on`), which then runs them as any other.
//!
//! They are handed over only while the reconcile queue (the ranked [`Gate`]) has room: kube's
//! scheduler serves first come, first served, so thousands of requeues due at once (a
//! fleet-wide refresh request answered by one call per connector) would queue there ahead of a
//! new object's event. Kept here instead, they wait their turn behind it.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
// tokio's clock, so tests can run the timer on paused time.
use tokio::time::{Duration, Instant};

use conninfo_core::crd::ConnectorInfo;

use crate::gate::Gate;

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

/// Due objects are handed over while fewer than this many reconciliations wait at the gate:
/// enough to keep every worker busy, few enough that a new object's event is not queued behind
/// a batch of requeues before it reaches the gate.
pub const HAND_OVER_BELOW: usize = 64;

/// After handing over a batch, the pause before the next one: the batch reaches the gate (and
/// counts as waiting there) within it.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

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

    /// Takes at most `limit` of the objects due at `now`, earliest first, and says when the
    /// next one is.
    fn take_due(&self, now: Instant, limit: usize) -> (Vec<Object>, Option<Instant>) {
        let mut state = self.lock();
        let mut ready = Vec::new();
        while let Some(Reverse(first)) = state.queue.peek() {
            if first.at > now || ready.len() >= limit {
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

    /// The objects as they come due, for `Controller::reconcile_on`, while `gate` has room.
    pub fn due(self: Arc<Self>, gate: Arc<Gate>) -> impl Stream<Item = Object> + Send + 'static {
        let batches =
            futures::stream::unfold((self, gate, false), |(requeues, gate, handed)| async move {
                if handed {
                    tokio::time::sleep(BETWEEN_BATCHES).await;
                }
                let ready = requeues.next_batch(&gate).await;
                Some((futures::stream::iter(ready), (requeues, gate, true)))
            });
        futures::StreamExt::flatten(batches)
    }

    /// Waits until objects are due and the gate has room for some; takes that many.
    async fn next_batch(&self, gate: &Gate) -> Vec<Object> {
        loop {
            let earlier = self.earlier.notified();
            let room = HAND_OVER_BELOW.saturating_sub(gate.waiting());
            if room == 0 {
                tokio::select! {
                    () = gate.place_moved() => {}
                    () = tokio::time::sleep(BETWEEN_BATCHES) => {}
                }
                continue;
            }
            let (ready, next) = self.take_due(Instant::now(), room);
            if !ready.is_empty() {
                return ready;
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

    use conninfo_core::lanes::{Bounds, Lane};
    use futures::StreamExt;

    use super::*;
    use crate::gate::LaneMetrics;

    fn object(name: &str) -> Object {
        ObjectRef::new(name).within("ns")
    }

    fn gate(permits: usize) -> Arc<Gate> {
        Gate::new(permits, Bounds::default(), LaneMetrics::default())
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

        let all = usize::MAX;
        let (ready, next) = requeues.take_due(t0, all);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + s(5)));
        let (ready, _) = requeues.take_due(t0 + s(25), all);
        assert_eq!(ready, [object("a"), object("b")], "c's old time is skipped");
        let (ready, next) = requeues.take_due(t0 + s(35), all);
        assert!(ready.is_empty(), "a's old time is skipped");
        assert_eq!(next, Some(t0 + s(40)));
        requeues.cancel(&object("c"));
        let (ready, next) = requeues.take_due(t0 + s(60), all);
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
        let mut due = Box::pin(requeues.clone().due(gate(4)));
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

    /// A fleet's worth of requeues due at once reaches the gate a few dozen at a time, so a
    /// new object's reconcile waits behind at most that many, never behind all of them.
    #[tokio::test(start_paused = true)]
    async fn requeues_due_at_once_are_handed_over_only_while_the_gate_has_room() {
        let gate = gate(1);
        let requeues = Arc::new(Requeues::default());
        let at = Instant::now() + Duration::from_secs(1);
        for i in 0..1000 {
            requeues.schedule(object(&format!("o{i}")), at);
        }
        let held = gate.enter(Lane::Changed).await;
        let handed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // The controller: every object handed over goes to wait at the gate.
        let (worker_gate, counter) = (gate.clone(), handed.clone());
        let mut due = Box::pin(requeues.clone().due(gate.clone()));
        let controller = tokio::spawn(async move {
            let mut waiters = Vec::new();
            while let Some(_object) = due.next().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let gate = worker_gate.clone();
                waiters.push(tokio::spawn(async move {
                    let _place = gate.enter(Lane::Periodic).await;
                }));
                tokio::task::yield_now().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        let waiting = handed.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (HAND_OVER_BELOW..2 * HAND_OVER_BELOW).contains(&waiting),
            "{waiting} handed over while the gate was full"
        );
        assert_eq!(requeues.len(), 1000 - waiting, "the rest stay here");
        // A new object's reconcile waits behind those few, not behind the 1,000.
        assert!(gate.waiting() < 2 * HAND_OVER_BELOW);
        drop(held);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(requeues.is_empty(), "all handed over once the gate drained");
        assert_eq!(handed.load(std::sync::atomic::Ordering::SeqCst), 1000);
        controller.abort();
    }
}
