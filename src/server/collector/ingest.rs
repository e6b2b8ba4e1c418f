//! Ingest: publishes observations to the live hub as they arrive (gathered for at most a
//! tenth of a second), stores them in batches behind that, and hands each stored batch to the alert engine, together with the changes
//! of which targets this replica polls, in the order they happened.
use super::hub::LiveHub;
use crate::domain::observation::{LiveUpdate, Observation, PollRecord};
use crate::server::alerts::{EngineInput, PollSink};
use crate::server::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const MAX_BATCH: usize = 1000;
/// A short wait lets polls that finish together share one transaction.
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

/// Polls queued between publishing and storing: half a minute of a 10,000-target fleet, so
/// a database write that stalls for seconds (a rollup holding SQLite's write lock) delays
/// neither the live pages nor the schedule. Beyond that the scheduler waits, rather than
/// memory growing.
const STORE_QUEUE: usize = 32 * MAX_BATCH;

/// What the storing side receives: polls already turned into records, and lease changes in
/// their order among them.
// As with `Collected`: nearly every item is a poll, so boxing would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum ToStore {
    Poll(PollRecord),
    Adopted(Vec<i64>),
    Released(Vec<i64>),
}

pub async fn run(
    mut received: mpsc::Receiver<Collected>,
    store: Arc<dyn Store>,
    hub: LiveHub,
    alerts: Option<PollSink>,
) {
    let (to_store, queued) = mpsc::channel(STORE_QUEUE);
    let storing = tokio::spawn(store_batches(queued, Ingest { store, alerts }));
    let mut incoming = Vec::with_capacity(MAX_BATCH);
    let mut items = Vec::with_capacity(MAX_BATCH);
    let mut updates = Vec::with_capacity(MAX_BATCH);
    // When the updates gathered so far go out, at the latest.
    let mut publish_by: Option<Instant> = None;
    loop {
        let arrived = match publish_by {
            None => received.recv_many(&mut incoming, MAX_BATCH).await,
            Some(deadline) => {
                match tokio::time::timeout_at(
                    deadline,
                    received.recv_many(&mut incoming, MAX_BATCH),
                )
                .await
                {
                    Ok(arrived) => arrived,
                    Err(_) => {
                        hub.publish(std::mem::take(&mut updates));
                        publish_by = None;
                        continue;
                    }
                }
            }
        };
        if arrived == 0 {
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
        if updates.len() >= MAX_BATCH {
            hub.publish(std::mem::take(&mut updates));
            publish_by = None;
        } else if !updates.is_empty() && publish_by.is_none() {
            publish_by = Some(Instant::now() + PUBLISH_WITHIN);
        }
        for item in items.drain(..) {
            if to_store.send(item).await.is_err() {
                return;
            }
        }
    }
    hub.publish(updates);
    drop(to_store);
    let _ = storing.await;
}

async fn store_batches(mut queued: mpsc::Receiver<ToStore>, ingest: Ingest) {
    let mut incoming = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queued.recv_many(&mut incoming, MAX_BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + GATHER;
        while incoming.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, queued.recv()).await {
                Ok(Some(item)) => incoming.push(item),
                _ => break,
            }
        }
        for item in incoming.drain(..) {
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
