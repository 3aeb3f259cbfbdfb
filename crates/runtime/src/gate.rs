//! The reconcile queue: a ranked gate every reconciliation passes before it does any work
//! (docs/design.md, "Lanes").
//!
//! kube-runtime's scheduler keeps one pending entry per object and hands it over when it is
//! due, first come, first served; it is given no concurrency limit of its own, so nothing
//! waits there. The limit is here, where waiting work is served by lane and deadline
//! ([`conninfo_core::lanes`]): a new object passes the refreshes queued before it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, oneshot};

use conninfo_core::lanes::{Bounds, Lane, RankedQueue};

/// At most `permits` reconciliations at once, the waiting ones served by rank.
pub struct Gate {
    state: Mutex<State>,
    metrics: LaneMetrics,
    /// Woken each time a place is handed on or freed (`Requeues` waits on it for room).
    moved: Notify,
}

struct State {
    free: usize,
    queue: RankedQueue<oneshot::Sender<Permit>>,
}

/// A reconciliation's place among the running ones; the next waiting one takes it on drop.
pub struct Permit {
    gate: Option<Arc<Gate>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            Gate::release(gate);
        }
    }
}

impl Gate {
    pub fn new(permits: usize, bounds: Bounds, metrics: LaneMetrics) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: permits.max(1),
                queue: RankedQueue::new(bounds),
            }),
            metrics,
            moved: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a place in `lane`'s rank. A dropped waiter gives its turn to the next.
    pub async fn enter(self: &Arc<Self>, lane: Lane) -> Permit {
        let turn = {
            let mut state = self.lock();
            if state.free > 0 && state.queue.is_empty() {
                state.free -= 1;
                self.metrics.waited(lane, Duration::ZERO);
                return self.permit();
            }
            let (turn, rx) = oneshot::channel();
            state.queue.push(turn, lane, Instant::now());
            self.metrics.set_depth(lane, state.queue.depth(lane));
            rx
        };
        match turn.await {
            Ok(permit) => permit,
            // Senders are dropped unsent only with the gate itself, which `self` keeps alive.
            Err(_) => self.permit(),
        }
    }

    fn permit(self: &Arc<Self>) -> Permit {
        Permit {
            gate: Some(self.clone()),
        }
    }

    /// Hands the place to the first waiter still waiting, or frees it.
    fn release(gate: Arc<Gate>) {
        gate.moved.notify_one();
        let mut state = gate.lock();
        while let Some(next) = state.queue.pop() {
            gate.metrics
                .set_depth(next.lane, state.queue.depth(next.lane));
            gate.metrics.waited(next.lane, next.since.elapsed());
            // A permit sent to a waiter that has just gone is dropped with the channel and
            // comes back here: either way the place is not lost.
            match next.item.send(gate.permit()) {
                Ok(()) => return,
                Err(mut unsent) => unsent.gate = None,
            }
        }
        state.free += 1;
    }

    /// Items waiting in `lane`.
    pub fn depth(&self, lane: Lane) -> usize {
        self.lock().queue.depth(lane)
    }

    /// Reconciliations waiting for a place, in every lane.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// Returns once a place has been handed on or freed since the last call returned.
    pub async fn place_moved(&self) {
        self.moved.notified().await;
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabels {
    lane: &'static str,
}

/// The reconcile queue's depth and wait, per lane.
#[derive(Clone)]
pub struct LaneMetrics {
    depth: Family<LaneLabels, Gauge>,
    wait: Family<LaneLabels, Histogram>,
}

impl Default for LaneMetrics {
    fn default() -> Self {
        Self {
            depth: Family::default(),
            // 1 ms to ~33 min.
            wait: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 22))
            }),
        }
    }
}

impl LaneMetrics {
    /// Every lane's series exist from the start, so alerts never start from nothing.
    pub fn register(&self, sub: &mut Registry) {
        for lane in Lane::ALL {
            let labels = LaneLabels { lane: lane.label() };
            let _ = self.depth.get_or_create(&labels);
            let _ = self.wait.get_or_create(&labels);
        }
        sub.register(
            "queue_depth",
            "Reconciliations waiting for a worker, by lane: changed (new or changed objects), refresh (refresh requests), periodic",
            self.depth.clone(),
        );
        sub.register(
            "queue_wait_seconds",
            "Time a reconciliation waited for a worker, by lane",
            self.wait.clone(),
        );
    }

    fn set_depth(&self, lane: Lane, depth: usize) {
        self.depth
            .get_or_create(&LaneLabels { lane: lane.label() })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    fn waited(&self, lane: Lane, waited: Duration) {
        self.wait
            .get_or_create(&LaneLabels { lane: lane.label() })
            .observe(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(permits: usize) -> Arc<Gate> {
        Gate::new(permits, Bounds::default(), LaneMetrics::default())
    }

    #[tokio::test]
    async fn waiting_work_is_served_by_lane_not_arrival() {
        let gate = gate(1);
        let running = gate.enter(Lane::Periodic).await;
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        for lane in [Lane::Periodic, Lane::Refresh, Lane::Changed] {
            let (waiter, done_tx) = (gate.clone(), done_tx.clone());
            tokio::spawn(async move {
                let _permit = waiter.enter(lane).await;
                done_tx.send(lane).expect("test alive");
            });
            // Each waiter is queued before the next is spawned.
            while gate.depth(lane) == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(running);
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(done.recv().await.expect("served"));
        }
        assert_eq!(order, [Lane::Changed, Lane::Refresh, Lane::Periodic]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_lose_the_place() {
        let gate = gate(1);
        let running = gate.enter(Lane::Periodic).await;
        let impatient = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Lane::Changed).await }
        });
        while gate.depth(Lane::Changed) == 0 {
            tokio::task::yield_now().await;
        }
        impatient.abort();
        let _ = impatient.await;
        drop(running);
        let next = tokio::time::timeout(Duration::from_secs(5), gate.enter(Lane::Periodic)).await;
        assert!(next.is_ok(), "the place came back");
    }

    #[tokio::test]
    async fn up_to_the_limit_run_at_once() {
        let gate = gate(3);
        let held: Vec<_> =
            futures::future::join_all((0..3).map(|_| gate.enter(Lane::Changed))).await;
        let fourth = tokio::time::timeout(Duration::from_millis(50), gate.enter(Lane::Changed));
        assert!(fourth.await.is_err(), "the fourth waits");
        drop(held);
        let fourth = tokio::time::timeout(Duration::from_secs(5), gate.enter(Lane::Changed));
        assert!(fourth.await.is_ok());
    }
}
