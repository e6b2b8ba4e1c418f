//! Ingest: publishes each observation to the live hub at once, stores them in batches, and
//! hands each stored batch to the alert engine.
use super::hub::LiveHub;
use crate::domain::observation::{LiveUpdate, Observation, PollRecord};
use crate::server::alerts::PollSink;
use crate::server::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 1000;
/// A short wait lets polls that finish together share one transaction.
const GATHER: Duration = Duration::from_millis(200);

pub async fn run(
    mut observations: mpsc::Receiver<Observation>,
    store: Arc<dyn Store>,
    hub: LiveHub,
    alerts: Option<PollSink>,
) {
    let mut received = Vec::with_capacity(MAX_BATCH);
    while observations.recv_many(&mut received, MAX_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + GATHER;
        while received.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, observations.recv()).await {
                Ok(Some(observation)) => received.push(observation),
                _ => break,
            }
        }
        let batch: Arc<[PollRecord]> = received
            .drain(..)
            .map(|o| PollRecord::from_observation(&o))
            .collect();
        for record in batch.iter() {
            hub.publish(LiveUpdate::from(&record.status));
        }
        if let Err(err) = store.record_polls(&batch).await {
            // The live view already has these polls; the store will get the next ones.
            tracing::warn!(error = ?err, polls = batch.len(), "could not store polls");
        }
        // Alerts are judged after storing, so every alert refers to stored polls.
        if let Some(sink) = &alerts
            && sink.send(batch).await.is_err()
        {
            tracing::warn!("the alert engine has stopped");
        }
    }
}
