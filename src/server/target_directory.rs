//! The fleet's targets as pages list them, held in memory and read again only when the
//! targets table's stamp moves: the wall of a 10,000-target fleet would otherwise read every
//! row on each view. Changes made by another replica or by hand show up just the same.
use super::store::{Store, StoreResult, TargetStamp};
use crate::domain::target::Target;
use std::sync::Arc;

#[derive(Default)]
pub struct TargetDirectory {
    /// Held across a reload, so views arriving together read the table once.
    cached: tokio::sync::Mutex<Option<(TargetStamp, Arc<[Target]>)>>,
}

impl TargetDirectory {
    /// Every target, in name order.
    pub async fn targets(&self, store: &dyn Store) -> StoreResult<Arc<[Target]>> {
        // Taken before the list: a change in between leaves an older stamp with a newer
        // list, which the next call reads again.
        let stamp = store.target_stamp().await?;
        let mut cached = self.cached.lock().await;
        if let Some((seen, targets)) = cached.as_ref()
            && *seen == stamp
        {
            return Ok(targets.clone());
        }
        let targets: Arc<[Target]> = store.list_targets().await?.into();
        *cached = Some((stamp, targets.clone()));
        Ok(targets)
    }
}
