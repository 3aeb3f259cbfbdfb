//! Fleet-wide refresh requests, two ways: every object annotated at once with one time value
//! (`kubectl annotate --all …="$(date +%s)"`: one call per key), and every object annotated by
//! a slow client at a steady rate over `refresh_spread`, each with the time it was annotated,
//! with probes created meanwhile: objects on a key the operator has never described (a custom
//! connector registered just before) and on one of the fleet's cached keys, each timed from
//! create to Ready.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::time::Instant;

use crate::Error;
use crate::config::{self, KEYS};
use crate::fleet::{key_name, object_api, refresh_handled, spec_for};
use crate::phases::poll_until;
use crate::probe::{ProbeSummary, ReadyWatch};
use crate::procs::{Emulator, Metrics, Operator, WRITTEN_SERIES, calls_to, longest_between};

/// The refresh annotation.
const ANNOTATION: &str = "appflow.connectorinfo.dev/refresh";

/// The fleet annotated at once with one value.
pub struct AtOnce {
    /// From the first annotation until every object has handled its request.
    pub seconds: f64,
    pub calls_on_fleet_keys: u64,
}

/// Every object annotated with one time value (Unix seconds), as fast as the API server takes
/// the patches; then every object's request handled.
pub async fn at_once(
    client: &kube::Client,
    operator: &Operator,
    emulator: &Emulator,
    n: usize,
) -> Result<AtOnce, Error> {
    let before = emulator.stats()?;
    let writes_before = operator.scrape()?.value(WRITTEN_SERIES);
    let started = Instant::now();
    let value = jiff::Timestamp::now().as_second().to_string();
    futures::stream::iter(0..n)
        .map(|i| annotate_one(client, i, value.clone()))
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    wait_handled(client, operator, n, writes_before).await?;
    let after = emulator.stats()?;
    Ok(AtOnce {
        seconds: started.elapsed().as_secs_f64(),
        calls_on_fleet_keys: calls_on_fleet_keys(&before, &after),
    })
}

fn calls_on_fleet_keys(before: &serde_json::Value, after: &serde_json::Value) -> u64 {
    (0..KEYS)
        .map(|k| calls_to(after, &key_name(k)).saturating_sub(calls_to(before, &key_name(k))))
        .sum()
}

/// Object `i`'s refresh annotation set to `value`.
async fn annotate_one(client: &kube::Client, i: usize, value: String) -> Result<(), Error> {
    let patch = json!({"metadata": {"annotations": {ANNOTATION: value}}});
    object_api(client, i)
        .patch(
            &format!("c-{i}"),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

pub struct Forced {
    pub spread_seconds: f64,
    /// From the first annotation until every object has handled its request.
    pub seconds: f64,
    pub calls_on_fleet_keys: u64,
    pub new_key: ProbeSummary,
    pub cached_key: ProbeSummary,
    /// Where the time went, from the operator's histograms over the phase (bucket bounds).
    pub longest: Longest,
}

/// The longest waits and reconciliations during the phase, each the upper bound of its
/// histogram bucket (`None`: none observed).
#[derive(serde::Serialize, Clone, Copy, Default)]
pub struct Longest {
    /// At the reconcile queue, in the `changed` lane (the probes, mostly).
    pub changed_lane_wait_seconds: Option<f64>,
    /// A whole reconciliation of any lane (describe and status write): how long a worker was
    /// held.
    pub reconcile_seconds: Option<f64>,
}

const WAIT_HISTOGRAM: &str = "appflow_connector_operator_queue_wait_seconds";
const CHANGED_LANE: &str = "lane=\"changed\"";
const RECONCILE_HISTOGRAM: &str = "appflow_connector_operator_reconcile_duration_seconds";

impl Longest {
    fn between(before: &Metrics, after: &Metrics) -> Longest {
        let longest = |name, labels| {
            longest_between(&before.buckets(name, labels), &after.buckets(name, labels))
        };
        Longest {
            changed_lane_wait_seconds: longest(WAIT_HISTOGRAM, CHANGED_LANE),
            reconcile_seconds: longest(RECONCILE_HISTOGRAM, ""),
        }
    }
}

pub async fn run(
    client: &kube::Client,
    operator: &Operator,
    emulator: &Emulator,
    n: usize,
) -> Result<Forced, Error> {
    let spread = config::refresh_spread(n);
    let probes = config::probes();
    let watch = ReadyWatch::start(client).await?;
    let before = emulator.stats()?;
    let scraped_before = operator.scrape()?;
    let writes_before = scraped_before.value(WRITTEN_SERIES);
    let started = Instant::now();
    let (annotated, probed) = tokio::join!(
        annotate(client, n, started, spread),
        probe(&watch, emulator, probes, started, spread)
    );
    annotated?;
    probed?;
    wait_handled(client, operator, n, writes_before).await?;
    let seconds = started.elapsed().as_secs_f64();
    let longest = Longest::between(&scraped_before, &operator.scrape()?);
    let calls_on_fleet_keys = calls_on_fleet_keys(&before, &emulator.stats()?);
    let ready = watch.finish(Duration::from_secs(120)).await;
    let times = |kind: &str| -> Vec<f64> {
        (0..probes)
            .filter_map(|k| ready.get(&format!("{kind}-{k}")))
            .map(Duration::as_secs_f64)
            .collect()
    };
    Ok(Forced {
        spread_seconds: spread.as_secs_f64(),
        seconds,
        calls_on_fleet_keys,
        new_key: ProbeSummary::of(probes, times("new")),
        cached_key: ProbeSummary::of(probes, times("cached")),
        longest,
    })
}

/// Object `i` is annotated at `started + spread × i / n` with the time it is annotated (RFC
/// 3339, as Flux's requestedAt), 16 requests in flight at most.
async fn annotate(
    client: &kube::Client,
    n: usize,
    started: Instant,
    spread: Duration,
) -> Result<(), Error> {
    futures::stream::iter(0..n)
        .map(|i| async move {
            tokio::time::sleep_until(started + spread.mul_f64(i as f64 / n as f64)).await;
            annotate_one(client, i, jiff::Timestamp::now().to_string()).await
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

/// `count` probes of each kind spread evenly over the refresh: a new key, then half an
/// interval later a cached one.
async fn probe(
    watch: &ReadyWatch,
    emulator: &Emulator,
    count: usize,
    started: Instant,
    spread: Duration,
) -> Result<(), Error> {
    let interval = spread.div_f64(count as f64);
    for k in 0..count {
        let slot = started + interval.mul_f64(k as f64);
        tokio::time::sleep_until(slot).await;
        let label = format!("probe-{k}");
        emulator.register_connector(&label)?;
        let new_key = json!({"connectorType": "CustomConnector", "connectorLabel": label});
        watch.create(&format!("new-{k}"), new_key).await?;
        tokio::time::sleep_until(slot + interval / 2).await;
        watch.create(&format!("cached-{k}"), spec_for(k)).await?;
    }
    Ok(())
}

/// Every fleet object has handled the request: first as many status writes as objects (each
/// handles its request with one), then checked on the objects themselves.
async fn wait_handled(
    client: &kube::Client,
    operator: &Operator,
    n: usize,
    writes_before: f64,
) -> Result<(), Error> {
    let limit = Duration::from_secs(1800);
    poll_until(limit, "the forced refresh did not finish", || {
        Ok(operator.scrape()?.value(WRITTEN_SERIES) >= writes_before + n as f64)
    })
    .await?;
    let started = Instant::now();
    while refresh_handled(client).await? < n {
        if started.elapsed() > limit {
            return Err("the forced refresh was not handled by every object".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // poll interval of a completion check
    }
    Ok(())
}
