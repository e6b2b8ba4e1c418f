//! Server functions for synthetic tool calls: list a target's checks with their recent
//! calls, add one, remove one.
use super::error::AppError;
use crate::domain::checks::{CheckForm, CheckStatus, CheckSummary, ToolCheck};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One check as its target's page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub check: ToolCheck,
    /// Where it stands after its latest call; none before the first.
    pub status: Option<CheckStatus>,
    /// Its calls over the last hour.
    pub summary: CheckSummary,
    /// Each call of the last hour: Unix ms, duration in ms, and whether it passed.
    pub calls: Vec<(i64, f64, bool)>,
}

#[server(endpoint = "checks/list")]
pub async fn target_checks(target_id: i64) -> Result<Vec<CheckView>, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::checks::Outcome;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let loaded = tokio::try_join!(
        state.store.tool_checks(Some(target_id)),
        state.store.target_status(target_id),
        state.store.check_results(target_id, from),
    );
    let (checks, status, results) = match loaded {
        Ok(all) => all,
        Err(err) => return super::ssr::respond(Err(err.into())),
    };
    let statuses = status.map(|s| s.checks).unwrap_or_default();
    let views = checks
        .into_iter()
        .map(|check| {
            let own: Vec<_> = results
                .iter()
                .filter(|r| r.check_id == check.id)
                .cloned()
                .collect();
            CheckView {
                status: statuses.iter().find(|s| s.check_id == check.id).cloned(),
                summary: CheckSummary::of(&own),
                calls: own
                    .iter()
                    .filter_map(|r| {
                        let ms = r.ms?;
                        Some((r.at.timestamp_millis(), ms, r.outcome == Outcome::Passed))
                    })
                    .collect(),
                check,
            }
        })
        .collect();
    Ok(views)
}

/// Adds a synthetic call: the tool must be in the target's latest tool list, annotated
/// read-only unless the override is ticked (which the audit entry records), and the
/// arguments must match its input schema.
#[server(endpoint = "checks/add")]
pub async fn add_check(target_id: i64, check: CheckForm) -> Result<ToolCheck, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let store = caller.state.store.clone();
    let target = match store.get_target(target_id).await {
        Ok(target) => target,
        Err(err) => return super::ssr::respond(Err(err.into())),
    };
    let event = caller
        .event(
            "tool_check",
            "create",
            &format!("{}/{}", target.name, check.tool.trim()),
        )
        .details(&serde_json::json!({
            "target_id": target_id,
            "tool": check.tool.trim(),
            "arguments": check.arguments.chars().take(2048).collect::<String>(),
            "interval_secs": check.interval_secs,
            "timeout_ms": check.timeout_ms,
            "override_read_only": check.override_read_only.is_some(),
        }));
    let result = match validated(&caller.state, target_id, &check).await {
        Ok(spec) => store
            .add_tool_check(target_id, &spec, &caller.principal.actor, event.clone())
            .await
            .map_err(AppError::from),
        Err(err) => Err(err),
    };
    super::targets::finish(&caller, event, result).await
}

#[server(endpoint = "checks/remove")]
pub async fn remove_check(target_id: i64, id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("tool_check", "delete", &id.to_string())
        .details(&serde_json::json!({ "target_id": target_id, "id": id }));
    let result = caller
        .state
        .store
        .remove_tool_check(target_id, id, event.clone())
        .await
        .map_err(AppError::from);
    super::targets::finish(&caller, event, result).await
}

/// The form as a check, with every problem named by field.
#[cfg(feature = "ssr")]
async fn validated(
    state: &crate::server::state::AppState,
    target_id: i64,
    form: &CheckForm,
) -> Result<crate::domain::checks::CheckSpec, AppError> {
    use crate::domain::checks::CheckSpec;
    use crate::domain::target::FieldErrors;
    let spec = CheckSpec::from_form(form).map_err(AppError::Invalid)?;
    let latest = state.store.tool_catalogs(target_id, 1).await?;
    let tools = latest
        .first()
        .map(|c| c.tools.as_slice())
        .unwrap_or_default();
    let field = |name: &str, message: String| {
        let mut errors = FieldErrors::default();
        errors.add(name, message);
        AppError::Invalid(errors)
    };
    if tools.is_empty() {
        return Err(field(
            "tool",
            "mcpops has not listed this target's tools yet; wait for its MCP probe to answer"
                .into(),
        ));
    }
    let tool = spec
        .allowed(tools)
        .map_err(|message| field("tool", message))?;
    crate::server::services::checks::match_schema(&tool.schema, &spec.arguments_json())
        .map_err(|message| field("arguments", message))?;
    Ok(spec)
}
