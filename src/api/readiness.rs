//! Server functions for a target's operational readiness checklist.
use super::error::AppError;
use crate::domain::readiness::ReadinessRow;
use leptos::prelude::*;

/// The checklist: what mcpops proves from its own data, and what people ticked.
#[server(endpoint = "readiness/get")]
pub async fn target_readiness(target_id: i64) -> Result<Vec<ReadinessRow>, AppError> {
    use crate::domain::alerts::RuleKind;
    use crate::domain::auth::Permission;
    use crate::domain::readiness::{ReadinessFacts, checklist};
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let state = &caller.state;
    let rows = async {
        state.store.get_target(target_id).await?;
        let status = state.store.target_status(target_id).await?;
        let runbooks = state.runbooks.all().await;
        let linked = RuleKind::ALL
            .iter()
            .filter(|rule| runbooks.iter().any(|r| r.slug == rule.runbook()))
            .count();
        let failed = |probe: &str| {
            status
                .as_ref()
                .is_none_or(|s| s.failures.iter().any(|f| f.probe == probe))
        };
        let facts = ReadinessFacts {
            last_poll: status.as_ref().map(|s| s.at),
            metrics_scraped: status
                .as_ref()
                .is_some_and(|s| s.rps.is_some() || s.p95.is_some()),
            live: !failed("liveness"),
            ready: !failed("readiness")
                && status
                    .as_ref()
                    .is_some_and(|s| s.readiness.as_ref().is_some_and(|r| r.ready)),
            ready_checks: status
                .as_ref()
                .and_then(|s| s.readiness.as_ref())
                .map(|r| r.checks.iter().map(|(name, _)| name.clone()).collect())
                .unwrap_or_default(),
            mcp_protocol: status
                .as_ref()
                .and_then(|s| s.mcp.as_ref())
                // A protected server that asked for a token has negotiated nothing yet.
                .filter(|m| !m.protocol_version.is_empty())
                .map(|m| m.protocol_version.clone()),
            alert_engine_on: state.alerts.engine_on,
            rules: RuleKind::ALL.len(),
            rules_with_runbooks: (linked, RuleKind::ALL.len()),
            last_verified_restore: state
                .backups
                .recovery()
                .await?
                .last_verified
                .map(|run| run.finished_at),
            offers: status.as_ref().map(|s| s.offers).unwrap_or_default(),
        };
        let ticks = state.store.readiness_ticks(target_id).await?;
        Ok(checklist(&facts, &ticks))
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
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
