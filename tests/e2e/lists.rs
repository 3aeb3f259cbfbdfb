//! How the operator lists ConnectorInfos on an API server without streaming lists
//! (`--initial-list=auto`; docs/design.md, "Initial lists"). With them (the pinned API
//! server's default), `scenarios::operator_survives_apiserver_restart` relists by streaming.

use conninfo_core::crd::ConnectorType;
use conninfo_test_support::builders::connector_info;

use super::cluster::Cluster;

/// An API server with the WatchList gate off (the default of 1.28–1.31 and of 1.33) refuses
/// streaming lists: the operator must notice at start and list in pages, or its watch would
/// never fill its cache and nothing would become Ready.
#[test]
fn a_server_without_streaming_lists_is_listed_in_pages() {
    let mut cluster = Cluster::start_with_apiserver_args(&["--feature-gates=WatchList=false"]);
    cluster.create_namespace("paged");
    cluster.apply(
        "paged",
        &connector_info("before", ConnectorType::Slack).manifest(),
    );
    cluster.start_operator(&[]);
    cluster.wait_ready("paged", "before");
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
