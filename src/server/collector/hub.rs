//! The live hub: every poll's compact update, broadcast to whoever is listening. Updates go
//! out in the batches ingest stores them in, each serialized once however many pages
//! follow it, so a thousand polls a second to hundreds of pages stays cheap.
use crate::domain::live::is_stale;
use crate::domain::observation::{LiveUpdate, TargetState, TrendPoint};
use crate::server::cluster::relay::Relay;
use crate::server::services::target_directory::TargetDirectory;
use crate::server::store::Store;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

/// Batches the hub holds for listeners that are behind; one further behind is dropped.
const CAPACITY: usize = 1024;
/// Batches queued for one live page before it counts as too slow: a minute or so at
/// ingest's pace of a few batches a second.
pub const PAGE_QUEUE: usize = 256;
/// How often targets are checked for staleness.
const STALE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Updates published together, shared by every page that follows them.
#[derive(Debug, Default)]
pub struct UpdateBatch {
    updates: Vec<LiveUpdate>,
    json: OnceLock<String>,
}

impl UpdateBatch {
    pub fn new(updates: Vec<LiveUpdate>) -> Self {
        Self {
            updates,
            json: OnceLock::new(),
        }
    }

    pub fn updates(&self) -> &[LiveUpdate] {
        &self.updates
    }

    /// The updates as a JSON array, serialized by the first page that sends them.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(&self.updates).unwrap_or_else(|_| "[]".into()))
    }
}

#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<UpdateBatch>>,
    page_queue: usize,
    /// Where this replica's own updates also go, when other replicas share the fleet.
    relay: Arc<OnceLock<Relay>>,
    /// Every target's newest update and last few polls, so the wall is drawn from memory
    /// instead of reading the whole fleet's status from the database per view.
    recent: Arc<Mutex<HashMap<i64, Recent>>>,
}

struct Recent {
    latest: LiveUpdate,
    trend: VecDeque<TrendPoint>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new(PAGE_QUEUE)
    }
}

impl LiveHub {
    /// A hub whose pages may fall `page_queue` batches behind.
    pub fn new(page_queue: usize) -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            page_queue: page_queue.max(1),
            relay: Arc::default(),
            recent: Arc::default(),
        }
    }

    /// From now on, sends this replica's updates to the other replicas too.
    pub fn relay_to(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// Updates from this replica's own polls.
    pub fn publish(&self, updates: Vec<LiveUpdate>) {
        if let Some(relay) = self.relay.get() {
            for update in &updates {
                relay.poll(update.clone());
            }
        }
        self.publish_local(updates);
    }

    /// Updates for this replica's pages only (relayed from another replica).
    pub fn publish_local(&self, updates: Vec<LiveUpdate>) {
        if updates.is_empty() {
            return;
        }
        {
            let mut recent = self.lock_recent();
            for update in &updates {
                let known = recent.entry(update.target_id).or_insert_with(|| Recent {
                    latest: update.clone(),
                    trend: VecDeque::new(),
                });
                if known.trend.len() == TrendPoint::KEPT {
                    known.trend.pop_front();
                }
                known.trend.push_back(TrendPoint::from(update));
                known.latest = update.clone();
            }
        }
        // No listeners is normal: nobody has a live page open.
        let _ = self.sender.send(Arc::new(UpdateBatch::new(updates)));
    }

    /// A live page's own queue of batches, with only the targets in `only` when given. A
    /// page that stops reading until its queue is full, or falls behind the hub itself, is
    /// dropped from the hub (its stream ends, and its EventSource reconnects), so it can
    /// never hold up the collector or another page.
    pub fn follow(&self, only: Option<HashSet<i64>>) -> mpsc::Receiver<Arc<UpdateBatch>> {
        let (queue, page) = mpsc::channel(self.page_queue);
        let mut hub = self.sender.subscribe();
        tokio::spawn(async move {
            loop {
                let batch = match hub.recv().await {
                    Ok(batch) => batch,
                    Err(RecvError::Lagged(_) | RecvError::Closed) => break,
                };
                let batch = match &only {
                    None => batch,
                    Some(ids) => {
                        let wanted: Vec<LiveUpdate> = batch
                            .updates()
                            .iter()
                            .filter(|u| ids.contains(&u.target_id))
                            .cloned()
                            .collect();
                        if wanted.is_empty() {
                            continue;
                        }
                        Arc::new(UpdateBatch::new(wanted))
                    }
                };
                // Full: the page is not reading. Closed: the page is gone.
                if queue.try_send(batch).is_err() {
                    break;
                }
            }
        });
        page
    }

    /// Takes the stored statuses of targets not polled since this process started, so the
    /// wall shows them before their next poll.
    pub fn remember(&self, stored: impl IntoIterator<Item = LiveUpdate>) {
        let mut recent = self.lock_recent();
        for update in stored {
            recent.entry(update.target_id).or_insert_with(|| Recent {
                latest: update,
                trend: VecDeque::new(),
            });
        }
    }

    /// Marks stale, for this replica's pages, every target whose newest poll is older than
    /// three of its intervals (`intervals` by target). Each
    /// replica judges for its own pages, so a replica that stops polling shows on the others.
    pub fn mark_stale(&self, intervals: &HashMap<i64, u32>, now_ms: i64) {
        let stale: Vec<LiveUpdate> = {
            let mut recent = self.lock_recent();
            recent
                .iter_mut()
                .filter_map(|(id, known)| {
                    let interval = *intervals.get(id)?;
                    let latest = &mut known.latest;
                    if latest.state == TargetState::Stale
                        || !is_stale(latest.at_ms, interval, now_ms)
                    {
                        return None;
                    }
                    latest.state = TargetState::Stale;
                    latest.error =
                        Some(format!("no poll for {} s", (now_ms - latest.at_ms) / 1000));
                    Some(latest.clone())
                })
                .collect()
        };
        if !stale.is_empty() {
            // Not a poll: the trends keep their points.
            let _ = self.sender.send(Arc::new(UpdateBatch::new(stale)));
        }
    }

    /// Looks for stale targets every few seconds until `stopping`.
    pub async fn watch_staleness(
        self,
        directory: TargetDirectory,
        store: Arc<dyn Store>,
        stopping: tokio_util::sync::CancellationToken,
    ) {
        let mut every = tokio::time::interval(STALE_CHECK_EVERY);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = every.tick() => {}
            }
            let targets = match directory.targets(store.as_ref()).await {
                Ok(targets) => targets,
                Err(err) => {
                    tracing::warn!(error = %err, "could not list targets to look for stale ones");
                    continue;
                }
            };
            let intervals = targets.iter().map(|t| (t.id, t.interval_secs)).collect();
            self.mark_stale(&intervals, chrono::Utc::now().timestamp_millis());
        }
    }

    /// Each target's newest update.
    pub fn latest(&self) -> HashMap<i64, LiveUpdate> {
        let recent = self.lock_recent();
        recent
            .iter()
            .map(|(id, known)| (*id, known.latest.clone()))
            .collect()
    }

    /// Each target's newest state, for views too large to show figures.
    pub fn states(&self) -> HashMap<i64, TargetState> {
        let recent = self.lock_recent();
        recent
            .iter()
            .map(|(id, known)| (*id, known.latest.state))
            .collect()
    }

    /// The recent polls of each target, oldest first.
    pub fn trends(&self) -> HashMap<i64, Vec<TrendPoint>> {
        let recent = self.lock_recent();
        recent
            .iter()
            .map(|(id, known)| (*id, known.trend.iter().copied().collect()))
            .collect()
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Recent>> {
        // A panic elsewhere while holding it leaves whole entries; they are still good.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Live pages following the hub now.
    pub fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::TargetState;
    use std::time::Duration;

    fn update(target_id: i64) -> LiveUpdate {
        LiveUpdate {
            target_id,
            at_ms: 0,
            state: TargetState::Up,
            p95_ms: None,
            error_ratio: None,
            rps: None,
            error: None,
            probe_ms: None,
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[test]
    fn the_hub_keeps_each_targets_newest_update_and_last_polls() {
        let hub = LiveHub::default();
        for i in 0..(TrendPoint::KEPT + 5) {
            hub.publish(vec![LiveUpdate {
                p95_ms: Some(i as f64),
                ..update(1)
            }]);
        }
        hub.remember([update(2), update(3)]);
        hub.publish(vec![LiveUpdate {
            state: TargetState::Down,
            ..update(2)
        }]);
        let trends = hub.trends();
        let first: Vec<Option<f64>> = trends[&1].iter().map(|p| p.p95_ms).collect();
        assert_eq!(first.len(), TrendPoint::KEPT);
        assert_eq!(first[0], Some(5.0));
        assert_eq!(first.last(), Some(&Some((TrendPoint::KEPT + 4) as f64)));
        assert_eq!(trends[&2].len(), 1);
        assert!(trends[&3].is_empty(), "a remembered status is not a poll");
        let latest = hub.latest();
        assert_eq!(latest[&1].p95_ms, Some((TrendPoint::KEPT + 4) as f64));
        assert_eq!(
            latest[&2].state,
            TargetState::Down,
            "a poll replaces what was stored"
        );
        assert_eq!(latest[&3], update(3));
        let states = hub.states();
        assert_eq!(states.len(), 3);
        assert_eq!(states[&2], TargetState::Down);
        assert_eq!(states[&3], TargetState::Up);
    }

    #[tokio::test]
    async fn a_page_that_stops_reading_is_dropped_while_the_others_get_everything() {
        let hub = LiveHub::new(4);
        let mut reading = hub.follow(None);
        let _stalled = hub.follow(None);
        let mut only_seven = hub.follow(Some(HashSet::from([7])));
        settle().await;
        assert_eq!(hub.listeners(), 3);
        let mut received = Vec::new();
        for id in 0..20 {
            // Two updates per batch: the target and one nobody filters for.
            hub.publish(vec![update(id), update(100 + id)]);
            settle().await;
            while let Ok(batch) = reading.try_recv() {
                received.extend(batch.updates().iter().map(|u| u.target_id));
            }
        }
        let expected: Vec<i64> = (0..20).flat_map(|id| [id, 100 + id]).collect();
        assert_eq!(received, expected, "the reading page missed nothing");
        // The stalled page's queue filled at its fifth batch: it left the hub. The filtered
        // page queued only the batch with target 7, and only that update.
        assert_eq!(hub.listeners(), 2);
        let seven = only_seven.try_recv().expect("target 7's batch");
        assert_eq!(
            seven.json(),
            serde_json::to_string(&[update(7)]).expect("json")
        );
        assert!(only_seven.try_recv().is_err());
        drop(only_seven);
        hub.publish(vec![update(7)]);
        settle().await;
        assert_eq!(
            hub.listeners(),
            1,
            "a closed page leaves at the next update"
        );
    }
}
