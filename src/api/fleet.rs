//! Server functions for fleet-wide views: every target with its latest status.
use super::error::AppError;
use crate::domain::observation::{LiveUpdate, TargetState, TrendPoint};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Up to this many targets the wall shows each with its figures and sparklines; larger
/// fleets get smaller tiles, whose history would not be readable.
const SPARKLINE_LIMIT: usize = 200;
/// Up to this many, compact tiles with name and state; beyond it each target is a coloured
/// cell, smaller again beyond `CELL_LIMIT`, so 10,000 fit on one 1080p screen.
const COMPACT_LIMIT: usize = 1500;
const CELL_LIMIT: usize = 4000;

/// How much each tile shows, from the fleet's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Density {
    /// Figures, sparklines, the last error and tags.
    Roomy,
    /// Name and state.
    Compact,
    /// A coloured cell labelled with name and state.
    Dense,
    /// A smaller cell.
    Tiny,
}

impl Density {
    pub fn of_fleet(targets: usize) -> Self {
        match targets {
            n if n <= SPARKLINE_LIMIT => Self::Roomy,
            n if n <= COMPACT_LIMIT => Self::Compact,
            n if n <= CELL_LIMIT => Self::Dense,
            _ => Self::Tiny,
        }
    }

    /// CSS classes of the tile lists.
    pub fn class(self) -> &'static str {
        match self {
            Self::Roomy => "roomy",
            Self::Compact => "compact",
            Self::Dense => "dense",
            Self::Tiny => "dense tiny",
        }
    }

    pub fn is_cell(self) -> bool {
        matches!(self, Self::Dense | Self::Tiny)
    }
}

/// One target as the wall shows it. Only roomy tiles carry figures, tags and history: a
/// 10,000-target wall sends no numbers nobody could read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetTile {
    pub id: i64,
    pub name: String,
    /// `Unknown` until its first poll.
    pub state: TargetState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LiveUpdate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Its recent polls, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<TrendPoint>,
}

/// Tiles under one value of the grouping tag; one unnamed group when ungrouped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileGroup {
    pub name: String,
    pub tiles: Vec<FleetTile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    pub density: Density,
    /// The shortest poll interval in the fleet: a wall that hears nothing for twice this
    /// says so.
    pub shortest_interval_secs: u32,
    pub grouped: bool,
    pub groups: Vec<TileGroup>,
}

impl FleetView {
    pub fn tiles(&self) -> impl Iterator<Item = &FleetTile> {
        self.groups.iter().flat_map(|g| g.tiles.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.tiles().next().is_none()
    }
}

/// Every target with its latest status, grouped by the tag key `group` (`"none"` for no
/// groups; without one, a fleet too large for roomy tiles is grouped by the key that splits
/// it best).
#[server(endpoint = "fleet/overview")]
pub async fn fleet_overview(group: Option<String>) -> Result<FleetView, AppError> {
    use crate::domain::auth::Permission;
    use crate::server::services::target_directory::Listing;
    use std::collections::HashMap;
    let state = super::ssr::require(Permission::ViewWall)?.state;
    let listing = match state.directory.listing(state.store.as_ref()).await {
        Ok(listing) => listing,
        Err(err) => return super::ssr::respond(Err(err.into())),
    };
    let targets = &listing.targets;
    let density = Density::of_fleet(targets.len());
    let key = match group.as_deref().map(str::trim) {
        Some("none") => None,
        // A rotating wall wants groups to rotate through, however small the fleet.
        Some("auto") => listing.grouping_key.clone(),
        Some(key) if !key.is_empty() => Some(key.to_owned()),
        _ if density != Density::Roomy => listing.grouping_key.clone(),
        _ => None,
    };
    // Statuses come from the live hub's memory, which every poll (this replica's or relayed)
    // updates: a large fleet's wall is not a read of every status row per view. Only roomy
    // tiles show figures; a larger fleet needs just each target's state.
    let roomy = density == Density::Roomy;
    let (mut latest, states) = if roomy {
        (state.hub.latest(), HashMap::new())
    } else {
        (HashMap::new(), state.hub.states())
    };
    let mut trends = if roomy {
        state.hub.trends()
    } else {
        HashMap::new()
    };
    let groups = if key == listing.grouping_key {
        listing.groups.clone()
    } else {
        Listing::group(targets, key.as_deref())
    };
    Ok(FleetView {
        density,
        shortest_interval_secs: targets
            .iter()
            .map(|t| t.interval_secs)
            .min()
            .unwrap_or(crate::domain::target::DEFAULT_INTERVAL_SECS),
        grouped: key.is_some(),
        groups: groups
            .into_iter()
            .map(|(name, members)| TileGroup {
                name,
                tiles: members
                    .into_iter()
                    .map(|i| {
                        let t = &targets[i];
                        let status = latest.remove(&t.id);
                        let tile_state = status
                            .as_ref()
                            .map(|s| s.state)
                            .or_else(|| states.get(&t.id).copied())
                            .unwrap_or(TargetState::Unknown);
                        FleetTile {
                            id: t.id,
                            name: t.name.clone(),
                            state: tile_state,
                            status,
                            tags: if roomy { t.tags.clone() } else { Vec::new() },
                            trend: trends.remove(&t.id).unwrap_or_default(),
                        }
                    })
                    .collect(),
            })
            .collect(),
    })
}
