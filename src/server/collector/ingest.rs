//! Ingest: publishes each observation to the live hub at once, stores them in batches, and
//! hands each stored batch to the alert engine, together with the changes of which targets
//! this replica polls, in the order they happened.
use super::hub::LiveHub;
use crate::domain::observation::{LiveUpdate, Observation, PollRecord};
use crate::server::alerts::{EngineInput, PollSink};
use crate::server::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 1000;
/// A short wait lets polls that finish together share one transaction.
const GATHER: Duration = Duration::from_millis(200);

/// What the scheduler hands ingest.
// Nearly every message is an observation; boxing it would cost an allocation per poll to
// save space on the rare ownership change.
#[allow(clippy::large_enum_variant)]
pub enum Collected {
    Observed(Observation),
    /// The scheduler started polling these targets.
    Adopted(Vec<i64>),
    /// The scheduler stopped polling these targets; their last polls came before this.
    Released(Vec<i64>),
}

pub async fn run(
    mut received: mpsc::Receiver<Collected>,
    store: Arc<dyn Store>,
    hub: LiveHub,
    alerts: Option<PollSink>,
) {
    let ingest = Ingest { store, hub, alerts };
    let mut incoming = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while received.recv_many(&mut incoming, MAX_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + GATHER;
        while incoming.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, received.recv()).await {
                Ok(Some(collected)) => incoming.push(collected),
                _ => break,
            }
        }
        for collected in incoming.drain(..) {
            match collected {
                Collected::Observed(observation) => {
                    batch.push(PollRecord::from_observation(&observation));
                }
                Collected::Adopted(ids) => {
                    ingest.store(&mut batch).await;
                    ingest.tell_engine(EngineInput::Adopted(ids)).await;
                }
                Collected::Released(ids) => {
                    ingest.store(&mut batch).await;
                    ingest.tell_engine(EngineInput::Released(ids)).await;
                }
            }
        }
        ingest.store(&mut batch).await;
    }
}

struct Ingest {
    store: Arc<dyn Store>,
    hub: LiveHub,
    alerts: Option<PollSink>,
}

impl Ingest {
    async fn store(&self, batch: &mut Vec<PollRecord>) {
        if batch.is_empty() {
            return;
        }
        let records: Arc<[PollRecord]> = batch.drain(..).collect();
        for record in records.iter() {
            self.hub.publish(LiveUpdate::from(&record.status));
        }
        if let Err(err) = self.store.record_polls(&records).await {
            // The live view already has these polls; the store will get the next ones.
            tracing::warn!(error = ?err, polls = records.len(), "could not store polls");
        }
        // Alerts are judged after storing, so every alert refers to stored polls.
        self.tell_engine(EngineInput::Polls(records)).await;
    }

    async fn tell_engine(&self, input: EngineInput) {
        if let Some(sink) = &self.alerts
            && sink.send(input).await.is_err()
        {
            tracing::warn!("the alert engine has stopped");
        }
    }
}
