//! An API-server restart (etcd kept, so the objects survive): the operator's watch breaks, its
//! resource version is gone from the new server's cache, and it lists everything again. What
//! that costs in memory, against the RSS just before.

use conninfo_test_support::controlplane::ControlPlane;

use crate::Error;
use crate::config;
use crate::procs::{Operator, RssSampler, memory_mib, reset_peak_rss};

pub struct Relist {
    /// The operator's peak RSS over the run until the restart (VmHWM).
    pub run_peak_rss_mib: f64,
    /// Its RSS just before the restart.
    pub steady_rss_mib: f64,
    /// Its peak RSS from the restart to the end of the window: VmHWM after resetting it, or
    /// (when the reset did not take) the highest RSS sampled every 100 ms.
    pub relist_peak_rss_mib: f64,
    pub peak_from_hwm: bool,
    /// Cluster-wide LIST and WATCH requests for ConnectorInfos the new API server served in
    /// the window (the operator's relist: LIST pages, or one streaming WATCH).
    pub lists: f64,
    pub watches: f64,
}

pub async fn run(
    cluster: &mut ControlPlane,
    client: &kube::Client,
    operator: &Operator,
) -> Result<Relist, Error> {
    let pid = operator.pid();
    let (run_peak_rss_mib, steady_rss_mib) = memory_mib(pid);
    let peak_from_hwm = reset_peak_rss(pid);
    let sampler = RssSampler::start(pid);
    tokio::task::block_in_place(|| cluster.restart_apiserver())?;
    tokio::time::sleep(config::relist_window()).await; // the observation window itself
    let sampled = sampler.finish();
    let relist_peak_rss_mib = if peak_from_hwm {
        memory_mib(pid).0.max(sampled)
    } else {
        sampled
    };
    let metrics = client
        .request_text(
            http::Request::get("/metrics")
                .body(Vec::new())
                .map_err(|e| e.to_string())?,
        )
        .await?;
    Ok(Relist {
        run_peak_rss_mib,
        steady_rss_mib,
        relist_peak_rss_mib,
        peak_from_hwm,
        lists: conninfo_requests(&metrics, "LIST"),
        watches: conninfo_requests(&metrics, "WATCH"),
    })
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
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="LIST",version="v1alpha1"} 20
apiserver_request_total{code="410",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="LIST",version="v1alpha1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="namespace",subresource="",verb="LIST",version="v1alpha1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="namespaces",scope="cluster",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="appflow.connectorinfo.dev",resource="connectorinfos",scope="cluster",subresource="",verb="WATCH",version="v1alpha1"} 2"#;
        assert_eq!(conninfo_requests(metrics, "LIST"), 21.0);
        assert_eq!(conninfo_requests(metrics, "WATCH"), 2.0);
    }
}
