//! The fleet's targets as pages list them, held in memory and read again only when the
//! targets table's stamp moves: the wall of a 10,000-target fleet would otherwise read every
//! row on each view. Changes made by another replica or by hand show up just the same.
use crate::domain::target::{Target, group_by_tag, grouping_key};
use crate::server::store::{Store, StoreResult, TargetStamp};
use std::sync::Arc;

/// One per process, shared by pages, the collector and the alert engine (clones share it).
#[derive(Default, Clone)]
pub struct TargetDirectory {
    /// Held across a reload, so readers arriving together read the table once.
    cached: Arc<tokio::sync::Mutex<Option<Cached>>>,
}

/// A listing and the stamp of the table it was read at.
type Cached = (TargetStamp, Arc<Listing>);

/// The targets, and what the wall derives from all of them, worked out once per change.
pub struct Listing {
    /// In name order.
    pub targets: Arc<[Target]>,
    /// The tag key a large fleet's wall is grouped by when the viewer picks none.
    pub grouping_key: Option<String>,
    /// The groups under that key, as positions in `targets`.
    pub groups: Vec<(String, Vec<usize>)>,
}

impl Listing {
    fn new(targets: Arc<[Target]>) -> Self {
        let grouping_key = grouping_key(targets.iter().map(|t| t.tags.as_slice()));
        Self {
            groups: Self::group(&targets, grouping_key.as_deref()),
            grouping_key,
            targets,
        }
    }

    /// The targets grouped by the tag `key`, as positions in `targets`.
    pub fn group(targets: &[Target], key: Option<&str>) -> Vec<(String, Vec<usize>)> {
        let items = targets
            .iter()
            .map(|t| t.tags.as_slice())
            .enumerate()
            .collect();
        group_by_tag(items, key, |(_, tags)| tags)
            .into_iter()
            .map(|(name, members)| (name, members.into_iter().map(|(i, _)| i).collect()))
            .collect()
    }
}

impl TargetDirectory {
    /// Every target, in name order. The same `Arc` until the table changes.
    pub async fn targets(&self, store: &dyn Store) -> StoreResult<Arc<[Target]>> {
        Ok(self.listing(store).await?.targets.clone())
    }

    /// The tags of the targets with these ids, each once, for routing their notices.
    pub async fn tags_of(&self, store: &dyn Store, ids: &[i64]) -> StoreResult<Vec<String>> {
        let mut tags: Vec<String> = self
            .targets(store)
            .await?
            .iter()
            .filter(|t| ids.contains(&t.id))
            .flat_map(|t| t.tags.iter().cloned())
            .collect();
        tags.sort_unstable();
        tags.dedup();
        Ok(tags)
    }

    pub async fn listing(&self, store: &dyn Store) -> StoreResult<Arc<Listing>> {
        // Taken before the list: a change in between leaves an older stamp with a newer
        // list, which the next call reads again.
        let stamp = store.target_stamp().await?;
        let mut cached = self.cached.lock().await;
        if let Some((seen, listing)) = cached.as_ref()
            && *seen == stamp
        {
            return Ok(listing.clone());
        }
        let targets: Arc<[Target]> = store.list_targets().await?.into();
        let listing = Arc::new(Listing::new(targets));
        *cached = Some((stamp, listing.clone()));
        Ok(listing)
    }
}
