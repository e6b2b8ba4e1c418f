//! The live hub: every poll's compact update, broadcast to whoever is listening.
use crate::domain::observation::LiveUpdate;
use crate::server::cluster::relay::Relay;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

/// Room for a burst of a whole large fleet; a listener further behind than this is dropped.
const CAPACITY: usize = 16 * 1024;

#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<LiveUpdate>,
    /// Updates queued for one live page before it counts as too slow.
    page_queue: usize,
    /// Where this replica's own updates also go, when other replicas share the fleet.
    relay: Arc<OnceLock<Relay>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl LiveHub {
    pub fn new(page_queue: usize) -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            page_queue: page_queue.max(1),
            relay: Arc::default(),
        }
    }

    /// From now on, sends this replica's updates to the other replicas too.
    pub fn relay_to(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// An update from this replica's own poll.
    pub fn publish(&self, update: LiveUpdate) {
        if let Some(relay) = self.relay.get() {
            relay.poll(update.clone());
        }
        self.publish_local(update);
    }

    /// An update for this replica's pages only (one relayed from another replica).
    pub fn publish_local(&self, update: LiveUpdate) {
        // No listeners is normal: nobody has a live page open.
        let _ = self.sender.send(update);
    }

    /// A live page's own queue of the updates `wanted` lets through. A page that stops
    /// reading until its queue is full, or falls behind the hub itself, is dropped from the
    /// hub (its stream ends, and its EventSource reconnects), so it can never hold up the
    /// collector or another page.
    pub fn follow(
        &self,
        wanted: impl Fn(&LiveUpdate) -> bool + Send + 'static,
    ) -> mpsc::Receiver<LiveUpdate> {
        let (queue, page) = mpsc::channel(self.page_queue);
        let mut hub = self.sender.subscribe();
        tokio::spawn(async move {
            loop {
                match hub.recv().await {
                    Ok(update) if !wanted(&update) => {}
                    // Full: the page is not reading. Closed: the page is gone.
                    Ok(update) => {
                        if queue.try_send(update).is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_) | RecvError::Closed) => break,
                }
            }
        });
        page
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
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_page_that_stops_reading_is_dropped_while_the_others_get_everything() {
        let hub = LiveHub::new(4);
        let mut reading = hub.follow(|_| true);
        let _stalled = hub.follow(|_| true);
        let only_seven = hub.follow(|u| u.target_id == 7);
        settle().await;
        assert_eq!(hub.listeners(), 3);
        let mut received = Vec::new();
        for id in 0..20 {
            hub.publish(update(id));
            settle().await;
            while let Ok(u) = reading.try_recv() {
                received.push(u.target_id);
            }
        }
        assert_eq!(
            received,
            (0..20).collect::<Vec<_>>(),
            "the reading page missed nothing"
        );
        // The stalled page's queue filled at its fifth update: it left the hub. The filtered
        // page queued only target 7, so it stays.
        assert_eq!(hub.listeners(), 2);
        drop(only_seven);
        hub.publish(update(7));
        settle().await;
        assert_eq!(
            hub.listeners(),
            1,
            "a closed page leaves at the next update"
        );
    }
}
