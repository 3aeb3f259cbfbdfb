//! Fault-injection soak: the operator against an AppFlow emulator that fails a share of calls at
//! random (500, 429, a hang past the client timeout, a garbage body) while the API server is
//! restarted under it. Checked throughout and at the end:
//!
//! - every object reaches its expected condition (Ready, or ConnectorNotFound for the ones
//!   naming a connector that does not exist);
//! - no object that once mirrored a configuration ever loses it (every update is watched);
//! - AWS calls stay within the client rate limit's bound (burst + rate × time);
//! - memory does not grow from the first convergence to the end;
//! - the operator process is never restarted (the same process, healthy, at the end).
//!
//! `make test` runs [`soak_short`]; `make soak` runs [`soak_full`] (1,000 objects over 50 keys,
//! 30% faults, three API-server restarts; `SOAK_*` variables change the plan).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use super::cluster::Cluster;
use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::{ConnectorInfoBuilder, connector_info};
use conninfo_test_support::process::memory_mib;

/// The operator's default client-side limit toward AWS.
const RATE_PER_SECOND: f64 = 5.0;
const BURST: f64 = 10.0;
const NAMESPACES: usize = 5;
/// How often every object is refreshed during the fault phase.
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// Vended connector types used as keys before custom labels are.
const VENDED: &[&str] = appflow_emulator::VENDED_CONNECTOR_TYPES;

struct Plan {
    objects: usize,
    keys: usize,
    fault_rate: f64,
    restarts: usize,
    fault_phase: Duration,
    seed: u64,
}

impl Plan {
    /// `SOAK_*` variables override the plan (`make soak` only).
    fn with_env_overrides(self) -> Plan {
        let var = |name: &str| std::env::var(name).ok();
        Plan {
            objects: var("SOAK_OBJECTS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.objects),
            keys: var("SOAK_KEYS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.keys),
            fault_rate: var("SOAK_FAULT_RATE")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.fault_rate),
            restarts: var("SOAK_RESTARTS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.restarts),
            fault_phase: var("SOAK_SECONDS")
                .and_then(|v| v.parse().ok())
                .map_or(self.fault_phase, Duration::from_secs),
            seed: var("SOAK_SEED")
                .and_then(|v| v.parse().ok())
                .unwrap_or(self.seed),
        }
    }

    /// Every 20th object names a custom connector that is never registered.
    fn missing(i: usize) -> bool {
        i % 20 == 19
    }

    /// Object `i`: `s-<i>` in one of the namespaces, refreshed every minute, naming one of the
    /// keys (or a missing connector).
    fn object(&self, i: usize) -> ConnectorInfoBuilder {
        let name = format!("s-{i}");
        let custom =
            |label: String| connector_info(&name, ConnectorType::CustomConnector).label(&label);
        let object = if Self::missing(i) {
            custom(format!("absent-{}", i % 3))
        } else {
            match VENDED.get(i % self.keys) {
                Some(vended) => connector_info(&name, vended.parse().expect("a connector type")),
                None => custom(format!("soak-{}", i % self.keys - VENDED.len())),
            }
        };
        object
            .namespace(&format!("soak-{}", i % NAMESPACES))
            .refresh_interval("1m")
    }
}

/// What the watch saw: objects that mirrored a configuration, updates that lost one, and when
/// each object was first Ready.
#[derive(Default)]
struct Seen {
    mirrored: HashSet<String>,
    lost: Vec<String>,
    first_ready: BTreeMap<String, Instant>,
}

fn observe(seen: &Mutex<Seen>, object: &DynamicObject) {
    let name = format!(
        "{}/{}",
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default()
    );
    let status = &object.data["status"];
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if status["connectorConfiguration"].is_object() {
        seen.mirrored.insert(name.clone());
    } else if seen.mirrored.contains(&name) {
        seen.lost.push(format!(
            "{name} at resourceVersion {:?}",
            object.metadata.resource_version
        ));
    }
    if condition(status, "Ready").0 == "True" {
        seen.first_ready.entry(name).or_insert_with(Instant::now);
    }
}

fn condition(status: &Value, type_: &str) -> (String, String) {
    status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .unwrap_or_default()
}

fn conninfo_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("appflow.connectorinfo.dev", "v1beta1", "ConnectorInfo"),
        "connectorinfos",
    )
}

/// Watches every ConnectorInfo on a thread of its own until `stop`; survives API-server
/// restarts the way the operator does (re-list with backoff).
fn watch_all(
    kubeconfig: std::path::PathBuf,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let config = kube::Config::from_custom_kubeconfig(
                Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
                &KubeConfigOptions::default(),
            )
            .await
            .expect("kube config");
            let client = kube::Client::try_from(config).expect("client");
            let api: Api<DynamicObject> = Api::all_with(client, &conninfo_resource());
            let mut events = std::pin::pin!(
                watcher(api, watcher::Config::default())
                    .default_backoff()
                    .applied_objects()
            );
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(object)) => observe(&seen, &object),
                        Some(Err(_)) => {} // the API server is restarting
                        None => break,
                    },
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
    })
}

/// Objects in their expected condition now, by a list of all of them.
fn converged(cluster: &Cluster) -> usize {
    let list: Value =
        serde_json::from_str(&cluster.kubectl_ok(&["get", "conninfo", "-A", "-o", "json"]))
            .expect("list json");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|object| {
            let index: usize = object["metadata"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("s-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            let (status, reason) = condition(&object["status"], "Ready");
            if Plan::missing(index) {
                status == "False" && reason == "ConnectorNotFound"
            } else {
                status == "True"
            }
        })
        .count()
}

fn run(plan: &Plan) {
    let mut cluster = Cluster::start();
    for ns in 0..NAMESPACES {
        cluster.create_namespace(&format!("soak-{ns}"));
    }
    for label in 0..plan.keys.saturating_sub(VENDED.len()) {
        cluster.register_connector(&format!("soak-{label}"));
    }
    cluster.set_random_faults(Some(json!({"rate": plan.fault_rate, "seed": plan.seed})));

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let watching = watch_all(
        cluster.control_plane.kubeconfig().to_path_buf(),
        seen.clone(),
        stop.clone(),
    );

    let started = Instant::now();
    cluster.start_operator(&["--min-describe-interval", "2s"]);
    let pid = cluster.operator_pid();
    let manifests: String = (0..plan.objects)
        .map(|i| format!("---\n{}", plan.object(i).manifest()))
        .collect();
    let created = cluster.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &manifests);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    // The fault phase: every object is refreshed (the annotation) every REFRESH_EVERY, so
    // described objects meet faults too; the API-server restarts are spread over it; memory is
    // sampled all along.
    let mut rss = Vec::new();
    let mut all_ready_once = None;
    let mut restarts_done = 0;
    let mut refreshes = 0;
    let phase_start = Instant::now();
    let expected_ready = (0..plan.objects).filter(|i| !Plan::missing(*i)).count();
    while phase_start.elapsed() < plan.fault_phase {
        let due = plan
            .fault_phase
            .mul_f64((restarts_done + 1) as f64 / (plan.restarts + 1) as f64);
        if restarts_done < plan.restarts && phase_start.elapsed() >= due {
            cluster
                .control_plane
                .restart_apiserver()
                .expect("API server restart");
            restarts_done += 1;
            eprintln!(
                "soak: API server restarted ({restarts_done}/{})",
                plan.restarts
            );
        }
        if phase_start.elapsed() >= REFRESH_EVERY * (refreshes + 1) {
            refreshes += 1;
            for ns in 0..NAMESPACES {
                // Best effort: an API-server restart may be under way.
                let _ = cluster.kubectl(&[
                    "annotate",
                    "conninfo",
                    "--all",
                    "-n",
                    &format!("soak-{ns}"),
                    "--overwrite",
                    &format!("appflow.connectorinfo.dev/refresh=soak-{refreshes}"),
                ]);
            }
        }
        rss.push((started.elapsed(), memory_mib(pid).1));
        if all_ready_once.is_none()
            && seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .first_ready
                .len()
                >= expected_ready
        {
            all_ready_once = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_secs(1)); // the sampling period, not a readiness wait
    }
    assert_eq!(restarts_done, plan.restarts);

    // Faults off: everything converges to its expected condition.
    let fired = cluster.emulator_stats()["randomFaults"]["fired"].clone();
    cluster.set_random_faults(None);
    let faults_off = Instant::now();
    let deadline = faults_off + Duration::from_secs(600);
    loop {
        let done = converged(&cluster);
        if done == plan.objects {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done}/{} objects in their expected condition 10 min after faults stopped\n{}",
            plan.objects,
            cluster.operator_log()
        );
        rss.push((started.elapsed(), memory_mib(pid).1));
        std::thread::sleep(Duration::from_secs(1)); // poll interval of a readiness check
    }
    let converge = faults_off.elapsed();
    let elapsed = started.elapsed();
    let (peak, end_rss) = memory_mib(pid);
    stop.store(true, Ordering::Relaxed);
    watching.join().expect("watch thread");

    let stats = cluster.emulator_stats();
    let calls = stats["total"].as_u64().unwrap_or(0);
    let bound = BURST + RATE_PER_SECOND * elapsed.as_secs_f64();
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    // Memory once the fleet had first converged (or at the end of the fault phase).
    let settled_at = all_ready_once.unwrap_or(plan.fault_phase);
    let settled_rss = rss
        .iter()
        .find(|(at, _)| *at >= settled_at)
        .map_or(end_rss, |(_, r)| *r);
    eprintln!(
        "soak: {} objects over {} keys, {:.0}% faults ({fired}), {} API-server restarts, {refreshes} forced refreshes of all; \
         every Ready object Ready at least once after {}; converged {:.1}s after faults stopped; \
         DescribeConnector calls {calls} (limit bound {bound:.0} over {:.0}s); \
         RSS {settled_rss:.1} MiB when first converged, {end_rss:.1} MiB at the end, peak {peak:.1} MiB",
        plan.objects,
        plan.keys,
        plan.fault_rate * 100.0,
        plan.restarts,
        all_ready_once.map_or("(not within the fault phase)".to_owned(), |t| format!(
            "{:.1}s",
            t.as_secs_f64()
        )),
        converge.as_secs_f64(),
        elapsed.as_secs_f64(),
    );

    assert!(seen.lost.is_empty(), "configurations lost: {:?}", seen.lost);
    assert!(
        seen.mirrored.len() >= expected_ready,
        "{} objects mirrored a configuration",
        seen.mirrored.len()
    );
    assert!(
        calls as f64 <= bound,
        "{calls} calls over the bound {bound:.0}"
    );
    assert!(
        end_rss <= settled_rss * 1.25 + 4.0,
        "memory grew: {settled_rss:.1} -> {end_rss:.1} MiB"
    );
    assert_eq!(cluster.operator_pid(), pid, "the same operator process");
    assert_eq!(cluster.healthz(), 200);
    assert!(
        cluster.wait_operator_exit(Duration::ZERO).is_none(),
        "the operator exited:\n{}",
        cluster.operator_log()
    );
}

/// The soak in miniature, in `make test`.
#[test]
fn soak_short() {
    run(&Plan {
        objects: 100,
        keys: 10,
        fault_rate: 0.3,
        restarts: 1,
        fault_phase: Duration::from_secs(30),
        seed: 7,
    });
}

/// `make soak`.
#[test]
#[ignore = "long: run by `make soak`"]
fn soak_full() {
    run(&Plan {
        objects: 1000,
        keys: 50,
        fault_rate: 0.3,
        restarts: 3,
        fault_phase: Duration::from_secs(300),
        seed: 7,
    }
    .with_env_overrides());
}
