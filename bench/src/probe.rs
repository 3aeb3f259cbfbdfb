//! Time from create to Ready of probe objects, as a watch on their namespace sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use crate::Error;
use crate::config::PROBE_NAMESPACE;
use crate::fleet::{connector_info, conninfo_resource};

/// A probe's Ready condition is True.
fn is_ready(obj: &DynamicObject) -> bool {
    obj.data["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

#[derive(Default)]
struct Probes {
    created: HashMap<String, Instant>,
    ready: HashMap<String, Duration>,
}

/// Watches the probe namespace; records, for each probe created through it, how long after its
/// create request the watch first showed it Ready.
pub struct ReadyWatch {
    api: Api<DynamicObject>,
    probes: Arc<Mutex<Probes>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyWatch {
    /// Starts the watch and returns once its initial list is in.
    pub async fn start(client: &kube::Client) -> Result<ReadyWatch, Error> {
        let api = Api::namespaced_with(client.clone(), PROBE_NAMESPACE, &conninfo_resource());
        let probes = Arc::new(Mutex::new(Probes::default()));
        let changed = Arc::new(Notify::new());
        let (listed_tx, listed) = oneshot::channel();
        let task = tokio::spawn(watch(
            api.clone(),
            probes.clone(),
            changed.clone(),
            listed_tx,
        ));
        listed.await?;
        Ok(ReadyWatch {
            api,
            probes,
            changed,
            task,
        })
    }

    /// Creates probe `name` with `spec`; its clock starts before the request is sent.
    pub async fn create(&self, name: &str, spec: serde_json::Value) -> Result<(), Error> {
        let object = connector_info(name, spec)?;
        lock(&self.probes)
            .created
            .insert(name.to_owned(), Instant::now());
        self.api.create(&PostParams::default(), &object).await?;
        Ok(())
    }

    /// Waits until every probe created is Ready, or `timeout`; then each probe's time to
    /// Ready by name (absent: not Ready in time).
    pub async fn finish(self, timeout: Duration) -> HashMap<String, Duration> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            {
                let probes = lock(&self.probes);
                if probes.ready.len() >= probes.created.len() {
                    break;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.task.abort();
        std::mem::take(&mut lock(&self.probes).ready)
    }
}

fn lock(probes: &Mutex<Probes>) -> MutexGuard<'_, Probes> {
    probes.lock().unwrap_or_else(|p| p.into_inner())
}

async fn watch(
    api: Api<DynamicObject>,
    probes: Arc<Mutex<Probes>>,
    changed: Arc<Notify>,
    listed: oneshot::Sender<()>,
) {
    let mut listed = Some(listed);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let obj = match event {
            Ok(watcher::Event::InitDone) => {
                if let Some(listed) = listed.take() {
                    let _ = listed.send(());
                }
                continue;
            }
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => obj,
            _ => continue,
        };
        if !is_ready(&obj) {
            continue;
        }
        let name = obj.metadata.name.unwrap_or_default();
        let mut probes = lock(&probes);
        if let Some(created) = probes.created.get(&name).copied() {
            probes
                .ready
                .entry(name)
                .or_insert_with(|| created.elapsed());
            changed.notify_one();
        }
    }
}

/// Percentiles of one kind of probe's time to Ready.
#[derive(Serialize, Clone, Default)]
pub struct ProbeSummary {
    pub probes: usize,
    pub ready: usize,
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
}

impl ProbeSummary {
    /// Nearest-rank percentiles over the probes that became Ready; `probes` counts all.
    pub fn of(probes: usize, mut seconds: Vec<f64>) -> ProbeSummary {
        seconds.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * seconds.len() as f64).ceil() as usize).saturating_sub(1);
            seconds.get(index).copied().unwrap_or(f64::NAN)
        };
        ProbeSummary {
            probes,
            ready: seconds.len(),
            p50_seconds: rank(0.50),
            p99_seconds: rank(0.99),
            max_seconds: seconds.last().copied().unwrap_or(f64::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_the_ready_probes() {
        let seconds: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        let summary = ProbeSummary::of(21, seconds);
        assert_eq!((summary.probes, summary.ready), (21, 20));
        assert_eq!(summary.p50_seconds, 10.0);
        assert_eq!(summary.p99_seconds, 20.0);
        assert_eq!(summary.max_seconds, 20.0);
        assert!(ProbeSummary::of(3, vec![]).p99_seconds.is_nan());
    }

    #[test]
    fn ready_means_the_ready_condition_is_true() {
        let with = |status: &str| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "appflow.connectorinfo.dev/v1beta1", "kind": "ConnectorInfo",
                "metadata": {"name": "p"},
                "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": status}]},
            }))
            .unwrap()
        };
        assert!(is_ready(&with("True")));
        assert!(!is_ready(&with("False")));
    }
}
