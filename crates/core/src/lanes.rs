//! Lanes: the order in which waiting work is served, in the reconcile queue and in the AWS
//! token queue (docs/design.md, "Lanes").
//!
//! Work is ranked by what asked for it: an object never described or changed since (spec,
//! binding, namespace) first, an explicit refresh request next, periodic refreshes and
//! start-up re-checks last. Each lane has a bound, and waiting work is served earliest
//! deadline first, the deadline being when it started waiting plus its lane's bound. So a
//! higher lane overtakes everything that started waiting less than the difference of the
//! bounds before it, and lower lanes age: work whose bound has passed goes before any work
//! that arrives after, so nothing waits unbounded (a strict priority queue starves its lower
//! levels under a steady stream of higher work).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strum::{Display, IntoStaticStr};

use crate::crd::ConnectorInfoStatus;
use crate::status::refresh_forced;

/// Why an object is waiting, from most to least urgent.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, IntoStaticStr, Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum Lane {
    /// Never described, or changed since its status was computed: a new generation, another
    /// binding, a relabelled namespace.
    Changed,
    /// An explicit refresh request (the refresh annotation) not handled yet.
    Refresh,
    /// A periodic refresh, or a start-up or relist re-check.
    #[default]
    Periodic,
}

impl Lane {
    /// Every lane, most urgent first.
    pub const ALL: [Lane; 3] = [Lane::Changed, Lane::Refresh, Lane::Periodic];

    /// Pure: the lane of an object with this status, generation and refresh request. A hint
    /// that its binding or namespace changed (the controller keeps those) ranks it as changed.
    pub fn of(
        status: Option<&ConnectorInfoStatus>,
        generation: Option<i64>,
        refresh_request: Option<&str>,
        binding_changed: bool,
    ) -> Lane {
        match status {
            _ if binding_changed => Lane::Changed,
            None => Lane::Changed,
            Some(s) if s.observed_generation != generation => Lane::Changed,
            Some(s) if refresh_forced(refresh_request, Some(s)) => Lane::Refresh,
            Some(_) => Lane::Periodic,
        }
    }

    /// The metric label (`changed`, `refresh`, `periodic`).
    pub fn label(self) -> &'static str {
        self.into()
    }
}

/// How long work of each lane may wait before it goes ahead of newer work of higher lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub changed: Duration,
    pub refresh: Duration,
    pub periodic: Duration,
}

impl Default for Bounds {
    /// A new object within a second; a refresh request within half a minute; a periodic
    /// refresh within five minutes (its interval is an hour by default).
    fn default() -> Self {
        Self {
            changed: Duration::from_secs(1),
            refresh: Duration::from_secs(30),
            periodic: Duration::from_secs(300),
        }
    }
}

impl Bounds {
    pub fn of(&self, lane: Lane) -> Duration {
        match lane {
            Lane::Changed => self.changed,
            Lane::Refresh => self.refresh,
            Lane::Periodic => self.periodic,
        }
    }

    /// When work of `lane` that started waiting at `since` is due.
    pub fn deadline(&self, lane: Lane, since: Instant) -> Instant {
        since + self.of(lane)
    }
}

/// Where waiting work stands: its deadline, then its arrival (ties are first come, first
/// served).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    pub deadline: Instant,
    pub seq: u64,
}

/// Waiting work, served earliest deadline first. Pure: time is passed in.
#[derive(Debug)]
pub struct RankedQueue<T> {
    bounds: Bounds,
    waiting: BTreeMap<Rank, Waiting<T>>,
    next_seq: u64,
    depth: [usize; 3],
}

/// One waiting item, with what the metrics need when it leaves.
#[derive(Debug)]
pub struct Waiting<T> {
    pub item: T,
    pub lane: Lane,
    pub since: Instant,
}

impl<T> RankedQueue<T> {
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            waiting: BTreeMap::new(),
            next_seq: 0,
            depth: [0; 3],
        }
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Queues `item` of `lane`, waiting since `now`; returns its rank.
    pub fn push(&mut self, item: T, lane: Lane, now: Instant) -> Rank {
        let rank = Rank {
            deadline: self.bounds.deadline(lane, now),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.depth[lane as usize] += 1;
        self.waiting.insert(
            rank,
            Waiting {
                item,
                lane,
                since: now,
            },
        );
        rank
    }

    /// The item to serve next.
    pub fn pop(&mut self) -> Option<Waiting<T>> {
        let (_, waiting) = self.waiting.pop_first()?;
        self.depth[waiting.lane as usize] -= 1;
        Some(waiting)
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// How many items of `lane` wait.
    pub fn depth(&self, lane: Lane) -> usize {
        self.depth[lane as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_object_is_ranked_by_what_asked_for_it() {
        let described = ConnectorInfoStatus {
            observed_generation: Some(3),
            ..Default::default()
        };
        assert_eq!(Lane::of(None, Some(1), None, false), Lane::Changed);
        assert_eq!(
            Lane::of(Some(&described), Some(4), None, false),
            Lane::Changed
        );
        assert_eq!(
            Lane::of(Some(&described), Some(3), Some("now"), false),
            Lane::Refresh
        );
        assert_eq!(
            Lane::of(Some(&described), Some(3), None, false),
            Lane::Periodic
        );
        assert_eq!(
            Lane::of(Some(&described), Some(3), None, true),
            Lane::Changed
        );
        let mut handled = described.clone();
        handled.last_handled_refresh = Some("now".into());
        assert_eq!(
            Lane::of(Some(&handled), Some(3), Some("now"), false),
            Lane::Periodic
        );
        assert_eq!(Lane::Refresh.label(), "refresh");
    }

    #[test]
    fn higher_lanes_overtake_until_lower_ones_reach_their_bound() {
        let t0 = Instant::now();
        let mut queue = RankedQueue::new(Bounds::default());
        queue.push("periodic", Lane::Periodic, t0);
        queue.push("refresh", Lane::Refresh, t0 + MS);
        queue.push("new", Lane::Changed, t0 + 2 * MS);
        assert_eq!(
            (
                queue.depth(Lane::Changed),
                queue.depth(Lane::Refresh),
                queue.len()
            ),
            (1, 1, 3)
        );
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|w| w.item)).collect();
        assert_eq!(order, ["new", "refresh", "periodic"]);

        // A refresh that has waited its bound goes before a new object that arrives after.
        queue.push("old refresh", Lane::Refresh, t0);
        queue.push("late new", Lane::Changed, t0 + Duration::from_secs(30));
        assert_eq!(queue.pop().map(|w| w.item), Some("old refresh"));
        assert_eq!(queue.depth(Lane::Refresh), 0);
    }

    #[test]
    fn ties_are_first_come_first_served() {
        let t0 = Instant::now();
        let mut queue = RankedQueue::new(Bounds::default());
        for i in 0..5 {
            queue.push(i, Lane::Refresh, t0);
        }
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|w| w.item)).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }

    /// The starvation case of a strict priority queue (controller-runtime #3496): a steady
    /// stream of new objects taking every worker while lower lanes wait. A strict priority
    /// queue would never serve them; here every item is served within 10x its lane's bound.
    #[test]
    fn under_a_steady_stream_of_new_objects_no_lane_waits_past_ten_bounds() {
        let t0 = Instant::now();
        let bounds = Bounds {
            changed: Duration::from_secs(1),
            refresh: Duration::from_secs(5),
            periodic: Duration::from_secs(20),
        };
        let mut queue = RankedQueue::new(bounds);
        // A backlog of 50 refreshes and 50 periodic re-checks; then, per 100 ms tick, one item
        // served and one new object arriving.
        for i in 0..50 {
            queue.push(i, Lane::Refresh, t0);
            queue.push(i, Lane::Periodic, t0);
        }
        let tick = Duration::from_millis(100);
        let mut worst = [Duration::ZERO; 3];
        let mut served = [0usize; 3];
        for step in 1..=3000u32 {
            let now = t0 + tick * step;
            queue.push(step, Lane::Changed, now);
            let Some(next) = queue.pop() else { continue };
            let lane = next.lane as usize;
            worst[lane] = worst[lane].max(now - next.since);
            served[lane] += 1;
        }
        assert_eq!(
            served[1..],
            [50, 50],
            "every refresh and re-check was served"
        );
        for lane in &Lane::ALL {
            let waited = worst[*lane as usize];
            eprintln!(
                "{lane}: served {}, waited at most {waited:?}",
                served[*lane as usize]
            );
            assert!(waited <= bounds.of(*lane) * 10, "{lane} waited {waited:?}");
        }
        // New objects did go first while the lower lanes were within their bounds.
        assert!(worst[Lane::Refresh as usize] >= bounds.refresh);
        assert!(worst[Lane::Periodic as usize] >= bounds.periodic);
    }
}
