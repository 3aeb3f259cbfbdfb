//! How every watch of the operator (ConnectorInfos, AppFlowAccount bindings, namespaces, the
//! leader-election Lease) comes back after the API server goes away, and how it says so
//! (docs/design.md, "Watch recovery").
//!
//! kube-runtime's default backoff for watches (client-go's: 0.8 s doubling to 30 s, with
//! jitter up to 60 s, reset only by an event or after 2 idle minutes) grows through an
//! API-server restart, so a watch could sleep a minute after the server was back. Here the
//! backoff starts at [`FIRST_RETRY`], is capped at [`MAX_RETRY`] (twice that with jitter) and
//! starts again from the bottom once the API server has answered the watch: the next request
//! after a restart goes out within seconds, and a watch that resumed without an event to show
//! for it is not held to its old backoff.
//!
//! Whether the server answered is seen on the wire: each watch gets its own client, which
//! tells the watch's [`WatchHealth`] of every successful answer (a list page, a watch opened).
//! kube's watcher shows no event when a watch resumes, and it emits `Init` before it has asked
//! the server anything, so its events cannot tell.
//!
//! A kube-runtime `Controller` fed by these watches is told not to pause its triggers on top
//! ([`NoPause`]).

use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::ExponentialBuilder;
use futures::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, ExponentialBackoff};
use kube::{Api, Client};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The first retry after a failure waits this long (up to twice with jitter).
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Retries are never further apart than this (up to twice with jitter): a watch is back at
/// most about 4 s after the API server is.
pub const MAX_RETRY: Duration = Duration::from_secs(2);
/// A watch that stays down is logged again this often, not at every retry.
pub const STILL_DOWN_EVERY: Duration = Duration::from_secs(60);

/// Which watch: the `watch` label of the metrics, and the `watch` field of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchName {
    ConnectorInfos,
    AppFlowAccounts,
    Namespaces,
    Lease,
}

impl WatchName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectorInfos => "connectorinfos",
            Self::AppFlowAccounts => "appflowaccounts",
            Self::Namespaces => "namespaces",
            Self::Lease => "lease",
        }
    }
}

/// What a watch's health has to say after a change (the caller logs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Nothing,
    /// The API server answered it for the first time.
    Connected,
    /// It failed after being up (or before it ever was).
    Down,
    /// It has been failing for this long, this many times, since it went down.
    StillDown {
        down_for: Duration,
        failures: u64,
    },
    /// The API server answers it again after this long and this many failures.
    Back {
        down_for: Duration,
        failures: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not answered yet, and not failed either.
    Starting,
    Up,
    Down {
        since: Instant,
        failures: u64,
        said: Instant,
    },
}

/// Pure: a watch's up/down bookkeeping, at the times it is given.
#[derive(Clone, Debug)]
pub struct Health {
    state: State,
    /// Every failure since start (the failures counter).
    failures: u64,
    /// Whether the API server answered since the backoff last took a delay.
    answered: bool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: State::Starting,
            failures: 0,
            answered: false,
        }
    }
}

impl Health {
    /// The API server answered one of the watch's requests with a success.
    pub fn answered(&mut self, now: Instant) -> Report {
        self.answered = true;
        let report = match self.state {
            State::Starting => Report::Connected,
            State::Up => return Report::Nothing,
            State::Down {
                since, failures, ..
            } => Report::Back {
                down_for: now.saturating_duration_since(since),
                failures,
            },
        };
        self.state = State::Up;
        report
    }

    /// The watch failed: said once when it goes down, then once every [`STILL_DOWN_EVERY`].
    pub fn failed(&mut self, now: Instant) -> Report {
        self.failures += 1;
        match &mut self.state {
            State::Starting | State::Up => {
                self.state = State::Down {
                    since: now,
                    failures: 1,
                    said: now,
                };
                Report::Down
            }
            State::Down {
                since,
                failures,
                said,
            } => {
                *failures += 1;
                if now.saturating_duration_since(*said) < STILL_DOWN_EVERY {
                    return Report::Nothing;
                }
                *said = now;
                Report::StillDown {
                    down_for: now.saturating_duration_since(*since),
                    failures: *failures,
                }
            }
        }
    }

    /// Up: answered, and not failed since. A watch that has not been answered yet is not up.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Whether the API server answered since the last call (the backoff starts again then).
    fn take_answered(&mut self) -> bool {
        std::mem::take(&mut self.answered)
    }
}

/// A resource version the server no longer has (410 Gone): the watcher lists again at once.
/// After an API-server restart every resumed watch gets one; the server is answering, so it
/// is no failure of the watch.
fn expired(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(status) if status.code == 410)
}

/// One watch's [`Health`], shared by its stream, its client, its backoff and the metrics.
#[derive(Clone, Debug)]
pub struct WatchHealth {
    name: WatchName,
    health: Arc<Mutex<Health>>,
}

impl WatchHealth {
    pub fn new(name: WatchName) -> Self {
        Self {
            name,
            health: Arc::default(),
        }
    }

    pub fn name(&self) -> WatchName {
        self.name
    }

    fn with<T>(&self, f: impl FnOnce(&mut Health) -> T) -> T {
        f(&mut self.health.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn is_up(&self) -> bool {
        self.with(|h| h.is_up())
    }

    pub fn failures(&self) -> u64 {
        self.with(|h| h.failures())
    }

    pub(crate) fn answered(&self) {
        let report = self.with(|h| h.answered(Instant::now()));
        self.say(report, None::<&str>);
    }

    pub(crate) fn failed(&self, error: &watcher::Error) {
        if expired(error) {
            info!(watch = self.name.as_str(), error = %error, "watch lists again");
            return;
        }
        let report = self.with(|h| h.failed(Instant::now()));
        self.say(report, Some(error));
    }

    fn say(&self, report: Report, error: Option<impl Display>) {
        let watch = self.name.as_str();
        let error = error.map(|e| e.to_string()).unwrap_or_default();
        match report {
            Report::Nothing => {}
            Report::Connected => debug!(watch, "watch connected"),
            Report::Down => warn!(
                watch,
                error = %error,
                "watch down; retrying every {}s at most",
                2 * MAX_RETRY.as_secs()
            ),
            Report::StillDown { down_for, failures } => warn!(
                watch,
                error = %error,
                failures,
                "watch still down after {:.0}s",
                down_for.as_secs_f64()
            ),
            Report::Back { down_for, failures } => info!(
                watch,
                failures,
                "watch back after {:.1}s",
                down_for.as_secs_f64()
            ),
        }
    }

    /// A client for this watch alone: `client`'s connection and credentials, and each
    /// successful answer told to this health. Needs a Tokio runtime (the client spawns its
    /// request buffer).
    pub fn client(&self, client: &Client) -> Client {
        let inner = client.clone();
        let health = self.clone();
        let service = tower::service_fn(move |request: ::http::Request<kube::client::Body>| {
            let inner = inner.clone();
            let health = health.clone();
            async move {
                let response = inner.send(request).await?;
                if response.status().is_success() {
                    health.answered();
                }
                Ok::<_, kube::Error>(response)
            }
        });
        Client::new(service, client.default_namespace())
    }
}

/// The retry delays of one watch: kube-runtime's exponential backoff with [`FIRST_RETRY`],
/// [`MAX_RETRY`] and jitter, started again from the bottom once the API server has answered.
pub struct WatchBackoff {
    delays: ExponentialBackoff,
    health: WatchHealth,
}

impl WatchBackoff {
    pub fn new(health: WatchHealth) -> Self {
        Self {
            delays: policy().into(),
            health,
        }
    }
}

/// The delays' policy: 250 ms, doubling, capped at 2 s, each up to twice that with jitter
/// (replicas that lost one API server do not come back in step), never giving up.
fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY)
        .with_max_delay(MAX_RETRY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.health.with(Health::take_answered) {
            self.delays.reset();
        }
        self.delays.next()
    }
}

impl Backoff for WatchBackoff {
    /// Ignored: kube's `StreamBackoff` resets on every event, and the watcher emits `Init`
    /// before each list attempt without asking the server anything, so an outage spent
    /// relisting would retry at the first delay forever. The delays start again when the
    /// server answers instead (see [`Iterator::next`]).
    fn reset(&mut self) {}
}

/// The backoff of a kube-runtime `Controller` whose triggers back off on their own. The
/// Controller merges all its triggers into one stream and by default pauses that whole stream
/// with client-go's backoff (up to a minute) after an error from any of them: one watch
/// failing held back every other trigger (the ConnectorInfo watch, the binding and namespace
/// watches, the due requeues, a new leadership), and the failing watch itself was not retried
/// until the pause ended. Each watch built here waits out its own [`WatchBackoff`] before it
/// yields again, so the merged stream is not paused on top (a zero delay: `None` would end it).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPause;

impl Iterator for NoPause {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoPause {
    fn reset(&mut self) {}
}

/// `events` (a watcher's stream) with its failures told to `health` and each retry delayed by
/// a [`WatchBackoff`].
pub fn recovering<S, K>(
    events: S,
    health: &WatchHealth,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<S, K>
where
    S: Stream<Item = watcher::Result<watcher::Event<K>>> + Send,
{
    let told = health.clone();
    events
        .inspect(move |event| {
            if let Err(error) = event {
                told.failed(error);
            }
        })
        .backoff(WatchBackoff::new(health.clone()))
}

/// A watch as the operator runs every one: kube's watcher on `api` (built on the client
/// [`WatchHealth::client`] gives it), recovering as [`recovering`] says.
pub fn watch<K, F>(
    client: &Client,
    api: F,
    config: watcher::Config,
    health: &WatchHealth,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<K, F>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: FnOnce(Client) -> Api<K>,
{
    recovering(watcher::watcher(api(health.client(client)), config), health)
}

/// Every watch's health, for the metrics (read at scrape time).
#[derive(Clone, Debug, Default)]
pub struct WatchBoard(Arc<Mutex<Vec<WatchHealth>>>);

/// One watch as the metrics show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchState {
    pub name: WatchName,
    pub up: bool,
    pub failures: u64,
}

impl WatchBoard {
    pub fn track(&self, health: &WatchHealth) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(health.clone());
    }

    /// Each tracked watch, by name.
    pub fn states(&self) -> Vec<WatchState> {
        let watches = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut states: Vec<WatchState> = watches
            .iter()
            .map(|w| WatchState {
                name: w.name,
                up: w.is_up(),
                failures: w.failures(),
            })
            .collect();
        states.sort_by_key(|s| s.name);
        states
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use kube::core::response::Status;

    fn at(seconds: f64) -> Instant {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn a_watch_is_up_once_answered_and_down_from_its_first_failure() {
        let mut health = Health::default();
        assert!(!health.is_up(), "not answered yet");
        assert_eq!(health.answered(at(0.0)), Report::Connected);
        assert_eq!(health.answered(at(0.5)), Report::Nothing);
        assert!(health.is_up());
        assert_eq!(health.failed(at(10.0)), Report::Down);
        assert!(!health.is_up());
        assert_eq!(
            health.failed(at(10.3)),
            Report::Nothing,
            "not at every retry"
        );
        assert_eq!(health.failed(at(69.0)), Report::Nothing);
        assert_eq!(
            health.failed(at(70.0)),
            Report::StillDown {
                down_for: Duration::from_secs(60),
                failures: 4
            },
            "once a minute while it lasts"
        );
        assert_eq!(health.failed(at(100.0)), Report::Nothing);
        assert_eq!(
            health.answered(at(102.5)),
            Report::Back {
                down_for: Duration::from_secs_f64(92.5),
                failures: 5
            }
        );
        assert!(health.is_up());
        assert_eq!(health.failures(), 5, "the counter keeps every failure");
        assert_eq!(health.failed(at(200.0)), Report::Down, "a new outage");
    }

    #[test]
    fn a_watch_that_fails_before_it_was_ever_answered_is_down() {
        let mut health = Health::default();
        assert_eq!(health.failed(at(0.0)), Report::Down);
        assert_eq!(
            health.answered(at(3.0)),
            Report::Back {
                down_for: Duration::from_secs(3),
                failures: 1
            }
        );
    }

    #[test]
    fn an_expired_resource_version_is_no_failure() {
        let gone = Status::failure("too old resource version", "Expired").with_code(410);
        assert!(expired(&watcher::Error::WatchError(Box::new(gone))));
        let forbidden = Status::failure("forbidden", "Forbidden").with_code(403);
        assert!(!expired(&watcher::Error::WatchError(Box::new(forbidden))));
        assert!(!expired(&watcher::Error::NoResourceVersion));
    }

    /// Each delay lies in [d, 2d) for the policy's d (jitter adds up to d).
    fn within(delay: Duration, base: Duration) -> bool {
        delay >= base && delay < 2 * base
    }

    #[test]
    fn delays_start_small_stay_capped_and_start_again_once_the_server_answered() {
        let health = WatchHealth::new(WatchName::Namespaces);
        let mut backoff = WatchBackoff::new(health.clone());
        let bases = [250, 500, 1000, 2000, 2000, 2000].map(Duration::from_millis);
        for base in bases {
            let delay = backoff.next().expect("never gives up");
            assert!(within(delay, base), "{delay:?} for {base:?}");
        }
        backoff.reset();
        let delay = backoff.next().expect("a delay");
        assert!(
            within(delay, MAX_RETRY),
            "an event alone (kube's Init) does not reset it: {delay:?}"
        );
        health.answered();
        let delay = backoff.next().expect("a delay");
        assert!(within(delay, FIRST_RETRY), "answered: {delay:?}");
        let delay = backoff.next().expect("a delay");
        assert!(within(delay, 2 * FIRST_RETRY), "and grows again: {delay:?}");
    }

    #[test]
    fn the_controller_never_pauses_its_triggers_nor_ends_them() {
        let mut pause = NoPause;
        assert!((0..100).all(|_| pause.next() == Some(Duration::ZERO)));
    }

    fn failure() -> watcher::Result<watcher::Event<k8s_openapi::api::core::v1::Namespace>> {
        Err(watcher::Error::NoResourceVersion)
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_watch_retries_within_the_cap_and_counts_each_failure() {
        let health = WatchHealth::new(WatchName::Namespaces);
        let events = stream::iter((0..10).map(|_| failure()));
        let started = Instant::now();
        let mut gaps = Vec::new();
        let mut last = started;
        let mut recovering = std::pin::pin!(recovering(events, &health));
        for _ in 0..10 {
            assert!(recovering.next().await.is_some_and(|e| e.is_err()));
            gaps.push(last.elapsed());
            last = Instant::now();
            assert!(!health.is_up());
        }
        assert_eq!(health.failures(), 10);
        assert!(
            gaps.iter().all(|gap| *gap < 2 * MAX_RETRY),
            "no retry waits longer than twice the cap: {gaps:?}"
        );
        assert!(
            gaps[1] < 2 * FIRST_RETRY,
            "the first retry is quick: {gaps:?}"
        );
        // Nine delays between ten failures: 0.25 + 0.5 + 1 + 2 × 6 s at least, less than
        // twice that.
        let total = last.duration_since(started);
        assert!(
            total >= Duration::from_millis(13_750) && total < Duration::from_millis(27_500),
            "{total:?}"
        );
    }

    /// A client whose "API server" answers every request with `status`.
    fn answering(status: u16) -> Client {
        let service = tower::service_fn(move |_: ::http::Request<kube::client::Body>| async move {
            ::http::Response::builder()
                .status(status)
                .body(kube::client::Body::from(b"{}".to_vec()))
        });
        Client::new(service, "default")
    }

    fn request() -> ::http::Request<kube::client::Body> {
        ::http::Request::get("/api/v1/namespaces")
            .body(kube::client::Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn only_a_successful_answer_to_the_watchs_own_client_counts() {
        let health = WatchHealth::new(WatchName::Namespaces);
        let failing = health.client(&answering(503));
        failing.send(request()).await.expect("an answer");
        assert!(!health.is_up(), "an error answer is no sign of life");
        let other = WatchHealth::new(WatchName::ConnectorInfos);
        other
            .client(&answering(200))
            .send(request())
            .await
            .expect("an answer");
        assert!(!health.is_up(), "another watch's answer is not this one's");
        health
            .client(&answering(200))
            .send(request())
            .await
            .expect("an answer");
        assert!(health.is_up());
        assert!(
            health.with(Health::take_answered),
            "and the backoff starts again"
        );
    }

    #[test]
    fn the_board_shows_each_watch_by_name() {
        let board = WatchBoard::default();
        let namespaces = WatchHealth::new(WatchName::Namespaces);
        let infos = WatchHealth::new(WatchName::ConnectorInfos);
        board.track(&namespaces);
        board.track(&infos);
        infos.answered();
        namespaces.failed(&watcher::Error::NoResourceVersion);
        assert_eq!(
            board.states(),
            [
                WatchState {
                    name: WatchName::ConnectorInfos,
                    up: true,
                    failures: 0
                },
                WatchState {
                    name: WatchName::Namespaces,
                    up: false,
                    failures: 1
                },
            ]
        );
    }
}
