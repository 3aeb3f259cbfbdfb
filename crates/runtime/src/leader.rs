//! Leader election: one replica describes and writes, the others keep their cache warm.
//!
//! The Lease (`coordination.k8s.io/v1`) is taken and renewed by `kube-lease-manager`, which is
//! maintained and built on kube 5 (kubert's lease module, the other candidate, is released on
//! kube 1.x only). What that crate does not provide is a fence: while the API server is
//! unreachable its renewals fail and it keeps calling itself the holder. So whether this replica
//! leads is decided here, from the Lease as last read back from the API server: it leads while
//! it is the holder and `renewTime + duration - margin` is still ahead. Another replica may take
//! the Lease only after `renewTime + duration`, so a leader that cannot renew stops `margin`
//! before anyone else may start (clock skew up to `margin` is tolerated).

use std::time::Duration;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::watch_health::{self, WatchHealth, WatchName};

/// Bounds of `--leader-election-lease-duration`.
pub const MIN_LEASE_DURATION: Duration = Duration::from_secs(3);
pub const MAX_LEASE_DURATION: Duration = Duration::from_secs(300);

/// Where and how to hold the Lease.
#[derive(Clone, Debug)]
pub struct ElectionSettings {
    pub lease_name: String,
    pub namespace: String,
    /// Unique per process: the pod name, or host name and process id.
    pub identity: String,
    pub lease_duration: Duration,
}

impl ElectionSettings {
    /// Whole seconds, as the Lease stores them.
    fn duration_secs(&self) -> u64 {
        self.lease_duration
            .clamp(MIN_LEASE_DURATION, MAX_LEASE_DURATION)
            .as_secs()
    }

    /// The holder renews this long before its lease would expire: half the duration, so a
    /// renewal that is slow to be written and seen back (a loaded node) still lands well
    /// before the fence instead of interrupting leading.
    fn renew_before_secs(&self) -> u64 {
        self.duration_secs().div_ceil(2)
    }

    /// The holder stops leading this long before its lease would expire: the clock skew
    /// tolerated between replicas.
    fn margin(&self) -> Duration {
        Duration::from_secs(self.duration_secs()) / 6
    }
}

/// Pure: until when `me` may lead, given the Lease as last seen (`None`: it may not).
pub fn lead_until(
    lease: Option<&Lease>,
    me: &str,
    margin: Duration,
    now: Timestamp,
) -> Option<Timestamp> {
    let spec = lease?.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(me) {
        return None;
    }
    let renewed = spec.renew_time.as_ref()?.0;
    let duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds?).ok()?);
    let until = renewed.checked_add(duration.saturating_sub(margin)).ok()?;
    (until > now).then_some(until)
}

/// Whether this replica leads now; cheap to clone and to ask.
#[derive(Clone, Debug)]
pub struct Leadership(watch::Receiver<bool>);

impl Default for Leadership {
    /// Without leader election: always leading.
    fn default() -> Self {
        Self(watch::channel(true).1)
    }
}

impl Leadership {
    pub fn is_leading(&self) -> bool {
        *self.0.borrow()
    }

    /// Yields each time this replica starts leading after a time of not leading.
    pub fn acquisitions(&self) -> impl Stream<Item = ()> + Send + 'static {
        let receiver = self.0.clone();
        futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                receiver.changed().await.ok()?;
                if *receiver.borrow_and_update() {
                    return Some(((), receiver));
                }
            }
        })
    }
}

/// The running election; [`Election::release`] ends it.
pub struct Election {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the leader-election Lease {namespace}/{name}: {source}")]
pub struct ElectionError {
    namespace: String,
    name: String,
    source: kube_lease_manager::LeaseManagerError,
}

impl Election {
    /// Creates the Lease if needed and starts competing for it.
    pub async fn start(
        client: Client,
        settings: ElectionSettings,
        metrics: std::sync::Arc<Metrics>,
    ) -> Result<(Self, Leadership), ElectionError> {
        let manager = LeaseManagerBuilder::new(client.clone(), &settings.lease_name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.duration_secs())
            .with_grace(settings.renew_before_secs())
            .build()
            .await
            .map_err(|source| ElectionError {
                namespace: settings.namespace.clone(),
                name: settings.lease_name.clone(),
                source,
            })?;
        let (leading, leadership) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(compete(
            manager, client, settings, leading, stopped, metrics,
        ));
        Ok((Self { stop, task }, Leadership(leadership)))
    }

    /// Stops leading, then frees the Lease so a standby takes over at once.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            warn!("the leader-election Lease was not released within 5s");
        }
    }
}

/// One attempt of the lease manager, after `delay` (a backoff after an error).
async fn attempt(
    manager: &LeaseManager,
    delay: Duration,
    freed: bool,
) -> kube_lease_manager::Result<bool> {
    tokio::time::sleep(delay).await;
    if freed {
        // The manager's cached view still shows the old holder until it would have expired.
        // `release` re-reads the Lease (and, since this replica does not hold it, changes
        // nothing), so the freed Lease is taken now.
        manager.release().await?;
    }
    manager.changed().await
}

/// Takes and renews the Lease until `stop`, publishing on `leading` whether this replica may
/// lead now: it holds the Lease and its own renewal is fresh (fenced by `margin`).
async fn compete(
    manager: LeaseManager,
    client: Client,
    settings: ElectionSettings,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
    metrics: std::sync::Arc<Metrics>,
) {
    let me = settings.identity.as_str();
    let margin = settings.margin();
    let mut seen = std::pin::pin!(lease_watch(&client, &settings, &metrics));
    let mut lease: Option<Lease> = None;
    let mut acquire = std::pin::pin!(attempt(&manager, Duration::ZERO, false));
    loop {
        let now = Timestamp::now();
        let until = lead_until(lease.as_ref(), me, margin, now);
        publish_leading(&leading, &metrics, me, until.is_some());
        let recheck = until.map_or(Duration::from_secs(3600), |until| {
            Duration::try_from(until.duration_since(now)).unwrap_or_default()
        });
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = seen.next() => match read {
                Some(Ok(read)) => {
                    // The manager sleeps until the old holder's expiry; a freed Lease is taken
                    // now (a rolling update hands over at once).
                    if was_freed(lease.as_ref(), &read) {
                        acquire.set(attempt(&manager, Duration::ZERO, true));
                    }
                    lease = Some(read);
                }
                // Logged and counted by the watch's health.
                Some(Err(_)) => {}
                None => break,
            },
            result = &mut acquire => {
                let delay = match result {
                    Ok(_) => Duration::ZERO,
                    Err(e) => {
                        warn!(error = %e, "leader election: cannot take or renew the Lease");
                        Duration::from_secs(1)
                    }
                };
                acquire.set(attempt(&manager, delay, false));
            }
            () = tokio::time::sleep(recheck) => {}
        }
    }
    step_down(&manager, &leading, &metrics, me).await;
}

/// The Lease as the API server has it, each time it changes. Leading is decided from the Lease
/// as this watch last read it, so it recovers as every watch does (`watch_health`): one still
/// backing off after an API-server restart kept a leader that had renewed from leading.
fn lease_watch(
    client: &Client,
    settings: &ElectionSettings,
    metrics: &Metrics,
) -> impl Stream<Item = Result<Lease, watcher::Error>> + Send + use<> {
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", settings.lease_name));
    let health = WatchHealth::new(WatchName::Lease);
    metrics.track_watch(&health);
    let namespace = settings.namespace.clone();
    let in_namespace = move |client| Api::<Lease>::namespaced(client, &namespace);
    watch_health::watch(client, in_namespace, config, &health).touched_objects()
}

/// Tells the controllers and the leader gauge when this replica starts or stops leading.
fn publish_leading(leading: &watch::Sender<bool>, metrics: &Metrics, me: &str, leads: bool) {
    if !leading.send_if_modified(|was| std::mem::replace(was, leads) != leads) {
        return;
    }
    metrics.set_leader(leads);
    if leads {
        info!(identity = me, "leading: describing and writing");
    } else {
        info!(identity = me, "not leading: standing by with a warm cache");
    }
}

/// Whether the Lease went from held to free with this read.
fn was_freed(before: Option<&Lease>, read: &Lease) -> bool {
    let holder = |l: &Lease| l.spec.as_ref()?.holder_identity.clone();
    before.and_then(holder).is_some() && holder(read).is_none()
}

/// Stops leading and gives the Lease back, so another replica takes it at once.
async fn step_down(
    manager: &LeaseManager,
    leading: &watch::Sender<bool>,
    metrics: &Metrics,
    me: &str,
) {
    leading.send_replace(false);
    metrics.set_leader(false);
    if let Err(e) = manager.release().await {
        warn!(error = %e, "cannot release the leader-election Lease");
    } else {
        info!(identity = me, "leader-election Lease released");
    }
}

/// This process's identity in the Lease: the pod name, else host name and process id.
pub fn identity(pod_name: Option<&str>) -> String {
    match pod_name {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "unknown-host".to_owned());
            format!("{host}-{}", std::process::id())
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    use super::*;

    fn lease(holder: &str, renewed: Timestamp, secs: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed)),
                lease_duration_seconds: Some(secs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn leads_only_as_holder_and_stops_a_margin_before_expiry() {
        let renewed: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        let at = |s: i64| renewed + jiff::SignedDuration::from_secs(s);
        let margin = Duration::from_secs(2);
        let mine = lease("me", renewed, 15);
        assert_eq!(lead_until(Some(&mine), "me", margin, at(1)), Some(at(13)));
        assert_eq!(lead_until(Some(&mine), "me", margin, at(13)), None);
        assert_eq!(lead_until(Some(&mine), "other", margin, at(1)), None);
        assert_eq!(lead_until(None, "me", margin, at(1)), None);
        let mut freed = mine.clone();
        freed.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(lead_until(Some(&freed), "me", margin, at(1)), None);
        let mut no_renewal = mine;
        no_renewal.spec.as_mut().unwrap().renew_time = None;
        assert_eq!(lead_until(Some(&no_renewal), "me", margin, at(1)), None);
        let negative = lease("me", renewed, -5);
        assert_eq!(lead_until(Some(&negative), "me", margin, at(0)), None);
    }

    #[test]
    fn the_renewal_comes_well_before_the_fence() {
        for secs in [3, 4, 6, 15, 60, 300] {
            let settings = ElectionSettings {
                lease_name: "l".into(),
                namespace: "n".into(),
                identity: "i".into(),
                lease_duration: Duration::from_secs(secs),
            };
            let duration = Duration::from_secs(settings.duration_secs());
            let renew_at = duration - Duration::from_secs(settings.renew_before_secs());
            let fence_at = duration - settings.margin();
            // Slack for the renewal to be written and read back before leading would stop.
            assert!(fence_at - renew_at >= duration / 4, "{secs}s");
            assert!(renew_at > Duration::ZERO, "{secs}s");
            assert!(settings.margin() > Duration::ZERO, "{secs}s");
        }
    }

    #[tokio::test]
    async fn without_election_a_replica_always_leads() {
        let leadership = Leadership::default();
        assert!(leadership.is_leading());
        assert_eq!(std::pin::pin!(leadership.acquisitions()).next().await, None);
    }

    #[tokio::test]
    async fn each_start_of_leading_is_one_acquisition() {
        let (sender, receiver) = watch::channel(false);
        let leadership = Leadership(receiver);
        let mut acquisitions = std::pin::pin!(leadership.acquisitions());
        sender.send_replace(true);
        assert_eq!(acquisitions.next().await, Some(()));
        assert!(leadership.is_leading());
        sender.send_replace(false);
        sender.send_replace(true);
        assert_eq!(acquisitions.next().await, Some(()));
        drop(sender);
        assert_eq!(acquisitions.next().await, None);
    }
}
