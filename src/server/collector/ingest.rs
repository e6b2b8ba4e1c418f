//! Ingest, in two stages. Gathering runs beside the polls: it turns each observation into
//! a record and a live update, and at most a tenth of a second later publishes the updates
//! to the live hub and hands the records over in one batch. Storing runs on the shared
//! runtime: it writes batches to the store and then hands each to the alert engine,
//! together with the changes of which targets this replica polls, in the order they
//! happened. One hand-over per batch, not per poll, keeps the two threads from waking each
//! other a thousand times a second.
use super::hub::LiveHub;
use crate::domain::observation::{LiveUpdate, Observation, PollRecord};
use crate::server::services::alerts::{EngineInput, PollSink};
use crate::server::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const MAX_BATCH: usize = 1000;
/// A short wait lets batches that arrive close together share one transaction.
const GATHER: Duration = Duration::from_millis(200);
/// Pages see a poll before it is stored, at most this long after it arrives: gathering polls
/// that finish close together means each of hundreds of pages is sent a few batches a second
/// rather than one per poll.
const PUBLISH_WITHIN: Duration = Duration::from_millis(100);

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

/// Batches queued between publishing and storing: half a minute of hand-overs, one every
/// tenth of a second, so a database write that stalls for seconds (a rollup holding
/// SQLite's write lock) delays neither the live pages nor the schedule. Beyond that the
/// scheduler waits, rather than memory growing.
pub const STORE_QUEUE: usize = 300;

/// What the storing side receives: polls already turned into records, and lease changes in
/// their order among them.
// As with `Collected`: nearly every item is a poll, so boxing would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum ToStore {
    Poll(PollRecord),
    Adopted(Vec<i64>),
    Released(Vec<i64>),
}

/// The gathering stage; it ends when every sender of `received` is gone, after handing over
/// what it holds.
pub async fn gather(
    mut received: mpsc::Receiver<Collected>,
    hub: LiveHub,
    to_store: mpsc::Sender<Vec<ToStore>>,
) {
    let mut incoming = Vec::with_capacity(MAX_BATCH);
    let mut items = Vec::with_capacity(MAX_BATCH);
    let mut updates = Vec::with_capacity(MAX_BATCH);
    // When what was gathered so far goes out, at the latest.
    let mut hand_over_by: Option<Instant> = None;
    loop {
        let receiving = received.recv_many(&mut incoming, MAX_BATCH);
        // `None` when the deadline came first (receiving many is cancel-safe).
        let arrived = match hand_over_by {
            None => Some(receiving.await),
            Some(deadline) => tokio::time::timeout_at(deadline, receiving).await.ok(),
        };
        if arrived == Some(0) {
            break;
        }
        for collected in incoming.drain(..) {
            items.push(match collected {
                Collected::Observed(observation) => {
                    let record = PollRecord::from_observation(&observation);
                    updates.push(LiveUpdate::from(&record.status));
                    ToStore::Poll(record)
                }
                Collected::Adopted(ids) => ToStore::Adopted(ids),
                Collected::Released(ids) => ToStore::Released(ids),
            });
        }
        if arrived.is_none() || items.len() >= MAX_BATCH {
            hand_over_by = None;
            if hand_over(&hub, &mut updates, &mut items, &to_store)
                .await
                .is_err()
            {
                return;
            }
        } else if hand_over_by.is_none() {
            hand_over_by = Some(Instant::now() + PUBLISH_WITHIN);
        }
    }
    let _ = hand_over(&hub, &mut updates, &mut items, &to_store).await;
}

/// Publishes the updates gathered and queues their records for storing. Fails only when
/// the storing stage is gone, which happens only when the process is stopping.
async fn hand_over(
    hub: &LiveHub,
    updates: &mut Vec<LiveUpdate>,
    items: &mut Vec<ToStore>,
    to_store: &mpsc::Sender<Vec<ToStore>>,
) -> Result<(), ()> {
    if !updates.is_empty() {
        hub.publish(std::mem::take(updates));
    }
    if items.is_empty() {
        return Ok(());
    }
    let batch = std::mem::replace(items, Vec::with_capacity(MAX_BATCH));
    to_store.send(batch).await.map_err(|_| ())
}

/// The storing stage; it ends when the gathering stage has handed over its last batch.
pub async fn store_batches(
    mut queued: mpsc::Receiver<Vec<ToStore>>,
    store: Arc<dyn Store>,
    alerts: Option<PollSink>,
) {
    let ingest = Ingest { store, alerts };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(mut items) = queued.recv().await {
        let deadline = Instant::now() + GATHER;
        while items.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, queued.recv()).await {
                Ok(Some(more)) => items.extend(more),
                _ => break,
            }
        }
        for item in items {
            match item {
                ToStore::Poll(record) => batch.push(record),
                ToStore::Adopted(ids) => {
                    ingest.store(&mut batch).await;
                    ingest.tell_engine(EngineInput::Adopted(ids)).await;
                }
                ToStore::Released(ids) => {
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
    alerts: Option<PollSink>,
}

impl Ingest {
    async fn store(&self, batch: &mut Vec<PollRecord>) {
        if batch.is_empty() {
            return;
        }
        let records: Arc<[PollRecord]> = batch.drain(..).collect();
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
