//! Server functions for one target's page: its status, MCP handshake and tool history.
use super::error::AppError;
use crate::domain::observation::{TargetStatus, Tool};
use crate::domain::target::Target;
use crate::domain::tools::ToolDiff;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A version of the tool list and what changed from the version before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogVersion {
    pub at: DateTime<Utc>,
    pub tools: Vec<Tool>,
    pub diff: ToolDiff,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerDetail {
    pub target: Target,
    pub status: Option<TargetStatus>,
    /// Newest first.
    pub catalogs: Vec<CatalogVersion>,
    /// How many different tool lists the instances behind this URL serve, when recent
    /// listings went back and forth between them.
    pub instances_disagree: Option<usize>,
}

#[server(endpoint = "servers/detail")]
pub async fn target_detail(id: i64) -> Result<ServerDetail, AppError> {
    /// How many tool-list versions the page shows.
    const CATALOG_HISTORY: i64 = 20;
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    let loaded = tokio::try_join!(
        state.store.get_target(id),
        state.store.target_status(id),
        state.store.tool_catalogs(id, CATALOG_HISTORY + 1),
    );
    let (target, status, stored) = match loaded {
        Ok(all) => all,
        Err(err) => return super::ssr::respond(Err(err.into())),
    };
    let catalogs = stored
        .iter()
        .enumerate()
        .take(CATALOG_HISTORY as usize)
        .map(|(i, catalog)| CatalogVersion {
            at: catalog.at,
            tools: catalog.tools.clone(),
            diff: stored
                .get(i + 1)
                .map(|older| ToolDiff::between(&older.tools, &catalog.tools))
                .unwrap_or_default(),
        })
        .collect();
    // Each stored version is a change; versions of the last hour that return to an earlier
    // list are instances that disagree (a rollback days later is not).
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let recent = stored
        .iter()
        .take(crate::domain::tools::RecentListings::KEPT)
        .filter(|catalog| catalog.at >= hour_ago)
        .rev()
        .map(|catalog| catalog.tools.as_slice());
    Ok(ServerDetail {
        target,
        status,
        catalogs,
        instances_disagree: crate::domain::tools::instances_disagree(recent),
    })
}
