//! An API-server restart (etcd kept, so the objects survive): the operator's watch breaks, its
//! resource version is gone from the new server's cache, and it lists everything again. What
//! that costs in memory, against the RSS just before.

use std::time::{Duration, Instant};

use conninfo_test_support::controlplane::ControlPlane;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::Error;
use crate::config::{self, PROBE_NAMESPACE};
use crate::procs::{Operator, RssSampler, memory_mib, reset_peak_rss, rss_split_mib};

pub struct Relist {
    /// The operator's peak RSS over the run until the restart (VmHWM).
    pub run_peak_rss_mib: f64,
    /// Its RSS just before the restart.
    pub steady_rss_mib: f64,
    /// Of which its own (anonymous) memory, and file pages (its binary's code).
    pub steady_rss_anon_mib: f64,
    pub steady_rss_file_mib: f64,
    /// Its peak RSS from the restart to the end of the window: VmHWM after resetting it, or
    /// (when the reset did not take) the highest RSS sampled every 100 ms.
    pub relist_peak_rss_mib: f64,
    pub peak_from_hwm: bool,
    /// What the new API server served for ConnectorInfos in the window: cluster-wide LIST
    /// requests (a relist in pages) and watch events sent (a streaming relist sends one per
    /// object; a watch that resumed, none).
    pub lists: u64,
    pub watch_events: u64,
    /// Restarts it took until the operator relisted (a watch that resumed does not).
    pub restarts: u32,
}

/// A watch that streams lists also receives bookmarks, so it may resume on the restarted
/// server instead of relisting; the phase then restarts it again, this many times at most.
const MAX_RESTARTS: u32 = 3;

pub async fn run(
    cluster: &mut ControlPlane,
    client: &kube::Client,
    operator: &Operator,
    n: usize,
) -> Result<Relist, Error> {
    let pid = operator.pid();
    let (run_peak_rss_mib, steady_rss_mib) = memory_mib(pid);
    let (steady_rss_anon_mib, steady_rss_file_mib) = rss_split_mib(pid);
    let peak_from_hwm = reset_peak_rss(pid);
    let sampler = RssSampler::start(pid);
    let mut restarts = 0;
    let metrics = loop {
        restarts += 1;
        // A write just before the restart moves the store's revision past the operator's last
        // one, so the new API server's watch cache, which starts at the current revision,
        // cannot resume its watch (unless a bookmark brought it that far) and it lists again.
        bump_revision(client, restarts).await?;
        tokio::task::block_in_place(|| cluster.restart_apiserver())?;
        let (metrics, relisted) = wait_relisted(client, n).await?;
        if relisted || restarts == MAX_RESTARTS {
            break metrics;
        }
        eprintln!("bench: the operator's watch resumed without a relist; restarting again");
    };
    let sampled = sampler.finish();
    let relist_peak_rss_mib = if peak_from_hwm {
        memory_mib(pid).0.max(sampled)
    } else {
        sampled
    };
    Ok(Relist {
        run_peak_rss_mib,
        steady_rss_mib,
        steady_rss_anon_mib,
        steady_rss_file_mib,
        relist_peak_rss_mib,
        peak_from_hwm,
        lists: conninfo_requests(&metrics, "LIST") as u64,
        watch_events: conninfo_watch_events(&metrics) as u64,
        restarts,
    })
}

/// Waits until the new API server has served the operator a relist (a LIST, or a watch event
/// per object), at most `BENCH_RELIST_SECS`, then 10 s more for it to settle (the watch
/// reconnects with backoff, so the wait is not fixed). Returns the API server's metrics and
/// whether it relisted.
async fn wait_relisted(client: &kube::Client, n: usize) -> Result<(String, bool), Error> {
    let deadline = Instant::now() + config::relist_window();
    let relisted = |metrics: &str| {
        conninfo_requests(metrics, "LIST") > 0.0 || conninfo_watch_events(metrics) >= n as f64
    };
    loop {
        let metrics = apiserver_metrics(client).await?;
        if relisted(&metrics) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // poll interval of a completion check
    }
    tokio::time::sleep(Duration::from_secs(10)).await; // the relist's own time, then settling
    let metrics = apiserver_metrics(client).await?;
    let done = relisted(&metrics);
    Ok((metrics, done))
}

async fn apiserver_metrics(client: &kube::Client) -> Result<String, Error> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    Ok(client.request_text(request).await?)
}

async fn bump_revision(client: &kube::Client, attempt: u32) -> Result<(), Error> {
    let marker: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("bench-relist-{attempt}"), "namespace": PROBE_NAMESPACE},
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), PROBE_NAMESPACE)
        .create(&PostParams::default(), &marker)
        .await?;
    Ok(())
}

fn conninfo_watch_events(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_watch_events_total{"))
        .filter(|l| l.contains("resource=\"connectorinfos\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The API server's count of cluster-wide `verb` requests for ConnectorInfos, all codes.
fn conninfo_requests(metrics: &str, verb: &str) -> f64 {
    let verb = format!("verb=\"{verb}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| l.contains("resource=\"connectorinfos\"") && l.contains("scope=\"cluster\""))
        .filter(|l| l.contains(&verb))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cluster_wide_requests_of_one_verb_over_all_codes() {
        let metrics = r#"# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="LIST",version="v1beta1"} 20
apiserver_request_total{code="410",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="LIST",version="v1beta1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="namespace",subresource="",verb="LIST",version="v1beta1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="namespaces",scope="cluster",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="WATCH",version="v1beta1"} 2"#;
        assert_eq!(conninfo_requests(metrics, "LIST"), 21.0);
        assert_eq!(conninfo_requests(metrics, "WATCH"), 2.0);
        let events = r#"apiserver_watch_events_total{component="apiserver",group="appflow.connectorinfo.dev",resource="connectorinfos",version="v1beta1"} 10042
apiserver_watch_events_total{component="apiserver",group="",resource="namespaces",version="v1"} 21"#;
        assert_eq!(conninfo_watch_events(events), 10042.0);
    }
}
