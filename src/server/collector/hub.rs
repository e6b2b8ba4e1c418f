//! The live hub: every poll's compact update, broadcast to whoever is listening.
use crate::domain::observation::LiveUpdate;
use tokio::sync::broadcast;

/// Room for a burst of a whole large fleet; a listener further behind than this is dropped.
const CAPACITY: usize = 16 * 1024;

#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<LiveUpdate>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl LiveHub {
    pub fn publish(&self, update: LiveUpdate) {
        // No listeners is normal: nobody has a live page open.
        let _ = self.sender.send(update);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveUpdate> {
        self.sender.subscribe()
    }
}
