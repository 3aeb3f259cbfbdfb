//! How the operator lists ConnectorInfos on an API server without streaming lists
//! (`--initial-list=auto`; docs/design.md, "Initial lists"). With them (the pinned API
//! server's default), `scenarios::operator_survives_apiserver_restart` relists by streaming.

use conninfo_core::crd::ConnectorType;
use conninfo_runtime::initial_list::LIST_PAGE_SIZE;
use conninfo_test_support::builders::connector_info;

use super::cluster::Cluster;

/// An API server with the WatchList gate off (the default of 1.28–1.31 and of 1.33) refuses
/// streaming lists: the operator must notice at start and list in pages, or its watch would
/// never fill its cache and nothing would become Ready. One object more than a page holds is
/// there before it starts, so the list follows a continue token and every page reaches the cache.
#[test]
fn a_server_without_streaming_lists_is_listed_in_pages() {
    let mut cluster = Cluster::start_with_apiserver_args(&["--feature-gates=WatchList=false"]);
    cluster.create_namespace("paged");
    let before = LIST_PAGE_SIZE as usize + 1;
    let manifests: Vec<String> = (0..before)
        .map(|i| connector_info(&format!("before-{i}"), ConnectorType::Slack).manifest())
        .collect();
    cluster.apply("paged", &manifests.join("\n---\n"));
    cluster.start_operator(&[]);
    cluster.kubectl_ok(&[
        "wait",
        "-n",
        "paged",
        "conninfo",
        "--all",
        "--for=condition=Ready",
        "--timeout=120s",
    ]);
    let lists = cluster_lists_of_connector_infos(&cluster);
    assert!(
        lists >= 2.0,
        "{before} objects at {LIST_PAGE_SIZE} a page need at least two list requests; the API server counted {lists}"
    );
    cluster.apply(
        "paged",
        &connector_info("after", ConnectorType::Zendesk).manifest(),
    );
    cluster.wait_ready("paged", "after");
    let log = cluster.operator_log();
    assert!(
        log.lines()
            .any(|l| l.contains("initial lists of ConnectorInfos") && l.contains("mode=Paged")),
        "the operator did not choose pages:\n{log}"
    );
}

/// The API server's count of cluster-wide LIST requests for ConnectorInfos (its own metric).
fn cluster_lists_of_connector_infos(cluster: &Cluster) -> f64 {
    cluster
        .kubectl_ok(&["get", "--raw", "/metrics"])
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| {
            l.contains("resource=\"connectorinfos\"")
                && l.contains("scope=\"cluster\"")
                && l.contains("verb=\"LIST\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
