//! Server functions for a target's operational readiness checklist.
use super::error::AppError;
use crate::domain::readiness::{ReadinessRow, ServerReadiness};
use leptos::prelude::*;

/// The checklist: what mcpops proves from its own data, and what people ticked.
#[server(endpoint = "readiness/get")]
pub async fn target_readiness(target_id: i64) -> Result<Vec<ReadinessRow>, AppError> {
    use crate::domain::auth::Permission;
    use crate::server::services::readiness::FleetFacts;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let state = &caller.state;
    let rows = async {
        let target = state.store.get_target(target_id).await?;
        let status = state.store.target_status(target_id).await?;
        let ticks = state.store.readiness_ticks(target_id).await?;
        Ok(FleetFacts::gather(state)
            .await?
            .checklist(&target, status.as_ref(), &ticks))
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(rows)
}

/// Every target's checklist, for the fleet's readiness matrix.
#[server(endpoint = "readiness/fleet")]
pub async fn fleet_readiness() -> Result<Vec<ServerReadiness>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let rows = crate::server::services::readiness::fleet(&caller.state)
        .await
        .map_err(AppError::from);
    super::ssr::respond(rows)
}

/// Ticks a manual readiness item (or clears it with `ticked` = false).
#[server(endpoint = "readiness/tick")]
pub async fn tick_readiness(target_id: i64, item: String, ticked: bool) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::readiness::ReadinessItem;
    let caller = super::ssr::require(Permission::Operate)?;
    let Some(item) = ReadinessItem::parse(&item).filter(|i| !i.is_automatic()) else {
        let mut errors = crate::domain::target::FieldErrors::default();
        errors.add("item", "only items mcpops cannot prove are ticked by hand");
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    };
    let event = caller
        .event(
            "readiness",
            if ticked { "tick" } else { "untick" },
            &format!("target:{target_id}"),
        )
        .details(&serde_json::json!({ "item": item.as_str() }));
    let now = chrono::Utc::now();
    let result = async {
        caller.state.store.get_target(target_id).await?;
        let by = caller.principal.actor.as_str();
        caller
            .state
            .store
            .set_readiness_tick(target_id, item, ticked.then_some((by, now)), event)
            .await
    }
    .await
    .map_err(AppError::from);
    super::ssr::respond(result)
}
