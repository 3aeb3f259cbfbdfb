//! Publishes Kubernetes Events off the reconcile path.
//!
//! An Event is one more API write per transition; waiting for it inside a reconcile held a
//! reconcile slot for a second round trip, which halved first-sync throughput at fleet scale.
//! Events are best effort (a failed publish never fails a reconcile), so they go through a
//! bounded queue drained by a task of their own, as client-go's event broadcaster does. The
//! task publishes as many at once as the controller reconciles; a full queue makes the
//! reconcile wait (memory stays bounded and no Event is dropped).
//!
//! Each Event goes through a fresh `Recorder`: kube's recorder keeps every Event it published
//! for six minutes (to turn repeats into a series), which after a fleet's first sync is one
//! cached Event per object — about 25 MiB at 10,000 objects (measured with `make bench`) and a
//! scan of that cache on every publish. Our Events mark transitions, which rarely repeat
//! within minutes, so a series is not worth that.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::leader::Leadership;
use crate::metrics::Metrics;

/// Events waiting to be published; client-go's broadcaster queue holds 1,000.
pub const QUEUE_CAPACITY: usize = 1024;

/// The sending side; the publishing task ends once every sender is dropped and the queue is
/// drained.
pub struct EventQueue {
    sender: mpsc::Sender<(Event, ObjectReference)>,
}

impl EventQueue {
    /// Starts the publishing task on the current Tokio runtime.
    /// Events still queued when this replica stops leading are not published: a new leader
    /// may already be writing.
    pub fn start(
        client: Client,
        reporter: Reporter,
        metrics: Arc<Metrics>,
        concurrency: usize,
        leadership: Leadership,
    ) -> Self {
        let (sender, receiver) = mpsc::channel::<(Event, ObjectReference)>(QUEUE_CAPACITY);
        let queued = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|queued| (queued, receiver))
        });
        tokio::spawn(
            queued.for_each_concurrent(concurrency.max(1), move |(event, reference)| {
                let recorder = Recorder::new(client.clone(), reporter.clone());
                let metrics = metrics.clone();
                let leading = leadership.is_leading();
                async move {
                    if !leading {
                        metrics.event("not_leading");
                        return;
                    }
                    match recorder.publish(&event, &reference).await {
                        Ok(()) => metrics.event("published"),
                        Err(e) => {
                            metrics.event("failed");
                            warn!(error = %e, reason = %event.reason, "could not publish event");
                        }
                    }
                }
            }),
        );
        Self { sender }
    }

    /// Queues an Event, waiting while the queue is full.
    pub async fn publish(&self, event: Event, reference: ObjectReference) {
        if self.sender.send((event, reference)).await.is_err() {
            debug!("event publisher stopped, event not published");
        }
    }
}
