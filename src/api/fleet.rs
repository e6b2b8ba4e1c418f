//! Server functions for fleet-wide views: every target with its latest status.
use super::error::AppError;
use crate::domain::observation::LiveUpdate;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One target as the wall shows it; `status` is `None` until its first poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetTile {
    pub id: i64,
    pub name: String,
    pub tags: Vec<String>,
    pub status: Option<LiveUpdate>,
}

#[server(endpoint = "fleet/overview")]
pub async fn fleet_overview() -> Result<Vec<FleetTile>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewWall)?.state;
    let (targets, statuses) =
        match tokio::try_join!(state.store.list_targets(), state.store.target_statuses()) {
            Ok(both) => both,
            Err(err) => return super::ssr::respond(Err(err.into())),
        };
    let mut by_target: std::collections::HashMap<i64, LiveUpdate> = statuses
        .iter()
        .map(|s| (s.target_id, LiveUpdate::from(s)))
        .collect();
    Ok(targets
        .into_iter()
        .map(|t| FleetTile {
            status: by_target.remove(&t.id),
            id: t.id,
            name: t.name,
            tags: t.tags,
        })
        .collect())
}
