//! Live streams (`/events`) open at once per principal are capped, so one person, kiosk or
//! token cannot hold every connection the server has.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct OpenStreams {
    cap: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream; dropping it (the stream ended) frees its place.
pub struct StreamSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    holder: String,
}

impl OpenStreams {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `holder`, unless they have `cap` open already.
    pub fn take(&self, holder: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(holder.to_owned()).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            open: self.open.clone(),
            holder: holder.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.holder) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpenStreams;

    #[test]
    fn a_holder_gets_its_cap_and_a_place_back_when_a_stream_ends() {
        let streams = OpenStreams::new(2);
        let first = streams.take("ann").expect("first");
        let _second = streams.take("ann").expect("second");
        assert!(streams.take("ann").is_none(), "over the cap");
        assert!(streams.take("bob").is_some(), "others are not affected");
        drop(first);
        assert!(streams.take("ann").is_some(), "a place came back");
    }
}
