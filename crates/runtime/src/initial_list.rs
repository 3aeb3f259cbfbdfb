//! How the ConnectorInfo watch receives its full list, at start and on every relist: streamed
//! by the watch itself where the API server serves streaming lists (`sendInitialEvents`), else
//! in pages of [`LIST_PAGE_SIZE`]. A relist of 10,000 objects peaks at 1.06–1.08× the steady
//! memory streamed and 1.19× in pages of 100 (1.8–2.0× in kube's pages of 500; docs/scale.md,
//! "Memory").
//!
//! Whether a server streams lists is not a matter of its version alone: the WatchList feature
//! gate is on by default in 1.32, off again in 1.33 and on from 1.34, and any cluster may set it
//! either way. So the operator asks the server once at start, with a watch that matches no
//! object, and falls back to pages when the server refuses or does not answer as a streaming
//! server does (docs/design.md, "Initial lists").

use std::pin::pin;
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::ready;
use kube::Api;
use kube::api::{WatchEvent, WatchParams};
use kube::runtime::watcher;
use tracing::{info, warn};

use conninfo_core::crd::ConnectorInfo;

/// How the watch gets its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMode {
    /// `sendInitialEvents`: the watch sends every object, then a bookmark marking the end.
    Streaming,
    /// List requests in pages, then a watch from the list's resource version.
    Paged,
}

/// What `--initial-list` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Ask the server ([`probe`]) and stream where it can.
    Ask,
    Always(ListMode),
}

impl ListMode {
    /// The watcher configuration that lists this way.
    pub fn watcher_config(self) -> watcher::Config {
        match self {
            Self::Streaming => watcher::Config::default().streaming_lists(),
            // Any resource version: the watch cache serves the pages, etcd is spared.
            Self::Paged => watcher::Config::default()
                .any_semantic()
                .page_size(LIST_PAGE_SIZE),
        }
    }
}

/// Objects per list page. A page is held whole while the watch hands its objects on one by
/// one: the response body (copied twice on its way to a string) and every object decoded with
/// its `managedFields`, which the cache then drops. At kube's default of 500 that is about
/// 15 MB at once and a relist of 10,000 objects peaked at 1.8× the steady memory; at 100 it is
/// a fifth of that and the relist 1.19×, for 100 requests instead of 20 (docs/scale.md,
/// "Memory").
pub const LIST_PAGE_SIZE: u32 = 100;

/// No object can have this name (a name starts with a letter or digit), so the probe's watch
/// streams nothing but its closing bookmark.
const PROBE_NAME: &str = "-";
/// How long the server has to answer the probe; it stops the watch itself after this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The annotation on the bookmark that ends a streamed list.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Resolves `choice` to how the watch lists, asking the server when told to.
pub async fn choose(choice: Choice, api: &Api<ConnectorInfo>) -> ListMode {
    let mode = match choice {
        Choice::Always(mode) => mode,
        Choice::Ask => match probe(api).await {
            Ok(answer) => answer.mode(),
            Err(e) => {
                warn!(error = %e, "cannot tell whether the API server streams lists; listing in pages");
                ListMode::Paged
            }
        },
    };
    info!(mode = ?mode, "initial lists of ConnectorInfos");
    mode
}

/// What the server did with a streaming-list watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// It sent the bookmark that ends a streamed list.
    Streamed,
    /// It refused the request (the WatchList gate is off) or sent an error event.
    Refused,
    /// It closed the watch without either (an older server that ignores the parameter), or
    /// did not answer in time.
    Ignored,
}

impl Answer {
    pub fn mode(self) -> ListMode {
        match self {
            Self::Streamed => ListMode::Streaming,
            Self::Refused | Self::Ignored => ListMode::Paged,
        }
    }
}

/// Opens a streaming-list watch that matches no object and reads what the server makes of it.
/// Errors other than a refusal (network, permissions) are returned: the caller lists in pages.
pub async fn probe(api: &Api<ConnectorInfo>) -> Result<Answer, kube::Error> {
    let params = WatchParams::streaming_lists()
        .fields(&format!("metadata.name={PROBE_NAME}"))
        .timeout(PROBE_TIMEOUT.as_secs() as u32);
    let answer = async {
        let events = match api.watch(&params, "").await {
            Ok(events) => events,
            Err(kube::Error::Api(status)) if refusal(status.code) => return Ok(Answer::Refused),
            Err(e) => return Err(e),
        };
        let mut verdicts = pin!(events.try_filter_map(|event| ready(Ok(verdict(&event)))));
        Ok(verdicts.try_next().await?.unwrap_or(Answer::Ignored))
    };
    // The server ends the watch itself after `PROBE_TIMEOUT`; this bounds a server that does
    // not answer at all, so that start-up cannot hang here.
    tokio::time::timeout(2 * PROBE_TIMEOUT, answer)
        .await
        .unwrap_or(Ok(Answer::Ignored))
}

/// Bad Request or Unprocessable: what a server with the WatchList gate off answers.
fn refusal(code: u16) -> bool {
    code == 400 || code == 422
}

/// What one event of the probe's watch tells, if anything.
fn verdict<K>(event: &WatchEvent<K>) -> Option<Answer> {
    match event {
        WatchEvent::Bookmark(bookmark)
            if bookmark
                .metadata
                .annotations
                .get(INITIAL_EVENTS_END)
                .is_some_and(|v| v == "true") =>
        {
            Some(Answer::Streamed)
        }
        WatchEvent::Error(_) => Some(Answer::Refused),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::Status;
    use kube::core::watch::{Bookmark, BookmarkMeta};

    fn bookmark(annotations: &[(&str, &str)]) -> WatchEvent<ConnectorInfo> {
        WatchEvent::Bookmark(Bookmark {
            types: Default::default(),
            metadata: BookmarkMeta {
                resource_version: "42".into(),
                annotations: annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        })
    }

    #[test]
    fn only_the_bookmark_that_ends_a_streamed_list_means_streaming() {
        assert_eq!(
            verdict(&bookmark(&[(INITIAL_EVENTS_END, "true")])),
            Some(Answer::Streamed)
        );
        assert_eq!(verdict(&bookmark(&[])), None, "a plain bookmark");
        assert_eq!(verdict(&bookmark(&[(INITIAL_EVENTS_END, "false")])), None);
    }

    #[test]
    fn an_error_event_or_a_refused_request_means_pages() {
        let error = WatchEvent::<ConnectorInfo>::Error(Box::new(Status::failure("no", "Invalid")));
        assert_eq!(verdict(&error), Some(Answer::Refused));
        assert!(refusal(422) && refusal(400));
        assert!(
            !refusal(403) && !refusal(500),
            "not a refusal of the feature"
        );
        assert_eq!(Answer::Refused.mode(), ListMode::Paged);
        assert_eq!(Answer::Ignored.mode(), ListMode::Paged);
        assert_eq!(Answer::Streamed.mode(), ListMode::Streaming);
    }

    #[test]
    fn each_mode_configures_the_watcher_to_list_that_way() {
        use kube::runtime::watcher::InitialListStrategy;
        assert_eq!(
            ListMode::Streaming.watcher_config().initial_list_strategy,
            InitialListStrategy::StreamingList
        );
        assert_eq!(
            ListMode::Paged.watcher_config().initial_list_strategy,
            InitialListStrategy::ListWatch
        );
    }
}
