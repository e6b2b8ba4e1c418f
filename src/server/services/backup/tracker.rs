//! A backup or restore run's progress, shared with the backups page while it runs.
use super::*;

/// Shares the current run's progress with the page. The tracker a run starts with clears it
/// when dropped; clones (handed to blocking tasks) only report.
pub struct Tracker {
    slot: Arc<Mutex<Option<Progress>>>,
    owner: bool,
}

impl Clone for Tracker {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
            owner: false,
        }
    }
}

impl Tracker {
    pub(super) fn start(slot: &Arc<Mutex<Option<Progress>>>, kind: RunKind) -> Self {
        if let Ok(mut p) = slot.lock() {
            *p = Some(Progress {
                kind,
                stage: "starting".into(),
                done_bytes: 0,
                total_bytes: 0,
                started_at: Utc::now(),
            });
        }
        Self {
            slot: slot.clone(),
            owner: true,
        }
    }

    /// A tracker nobody else watches, for the command line's own printing.
    pub fn detached(kind: RunKind) -> Self {
        Self::start(&Arc::default(), kind)
    }

    pub fn stage(&self, stage: &str, total_bytes: u64) {
        if let Ok(mut p) = self.slot.lock()
            && let Some(p) = p.as_mut()
        {
            p.stage = stage.to_owned();
            p.done_bytes = 0;
            p.total_bytes = total_bytes;
        }
    }

    pub(super) fn advance(&self, bytes: u64) {
        if let Ok(mut p) = self.slot.lock()
            && let Some(p) = p.as_mut()
        {
            p.done_bytes += bytes;
        }
    }

    pub fn snapshot(&self) -> Option<Progress> {
        self.slot.lock().ok().and_then(|p| p.clone())
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if self.owner
            && let Ok(mut p) = self.slot.lock()
        {
            *p = None;
        }
    }
}
