//! Server functions for fleet-wide views: every target with its latest status.
use super::error::AppError;
use crate::domain::observation::{LiveUpdate, TrendPoint};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Up to this many targets the wall shows each with its figures and sparklines; larger
/// fleets get smaller tiles, whose history would not be readable.
pub const SPARKLINE_LIMIT: usize = 200;

/// One target as the wall shows it; `status` is `None` until its first poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetTile {
    pub id: i64,
    pub name: String,
    pub tags: Vec<String>,
    pub status: Option<LiveUpdate>,
    /// Its recent polls, oldest first (only up to `SPARKLINE_LIMIT` targets).
    pub trend: Vec<TrendPoint>,
}

#[server(endpoint = "fleet/overview")]
pub async fn fleet_overview() -> Result<Vec<FleetTile>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewWall)?.state;
    let targets = match state.store.list_targets().await {
        Ok(targets) => targets,
        Err(err) => return super::ssr::respond(Err(err.into())),
    };
    // Statuses come from the live hub's memory, which every poll (this replica's or relayed)
    // updates: a large fleet's wall is not a read of every status row per view.
    let mut by_target = state.hub.latest();
    let mut trends = if targets.len() <= SPARKLINE_LIMIT {
        state.hub.trends()
    } else {
        Default::default()
    };
    Ok(targets
        .into_iter()
        .map(|t| FleetTile {
            status: by_target.remove(&t.id),
            trend: trends.remove(&t.id).unwrap_or_default(),
            id: t.id,
            name: t.name,
            tags: t.tags,
        })
        .collect())
}
