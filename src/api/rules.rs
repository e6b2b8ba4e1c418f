//! Server functions for alert baselines: view, override per fleet, tag or target, and learn
//! a target's baseline from its own history.
// Form-shaped server functions take one argument per field; `expect` would not hold in
// every build (the macro emits the signature differently per feature).
#![allow(clippy::too_many_arguments)]
use super::error::AppError;
use crate::domain::alerts::{Baselines, LearnedBaselines, OverrideRecord};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    pub defaults: Baselines,
    pub overrides: Vec<OverrideRecord>,
    /// Every target (id, name) and tag, for choosing a scope.
    pub targets: Vec<(i64, String)>,
    pub tags: Vec<String>,
}

#[server(endpoint = "rules/list")]
pub async fn list_rules() -> Result<RulesView, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let view = async {
        let store = &caller.state.store;
        let overrides = store.baseline_overrides().await?;
        let targets = store.list_targets().await?;
        let mut tags: Vec<String> = targets.iter().flat_map(|t| t.tags.clone()).collect();
        tags.sort();
        tags.dedup();
        Ok(RulesView {
            defaults: Baselines::default(),
            overrides,
            targets: targets.into_iter().map(|t| (t.id, t.name)).collect(),
            tags,
        })
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(view)
}

/// Sets the baselines of a scope (`fleet`, `tag:NAME` or `target:ID`). Empty fields inherit
/// from the wider scope.
#[server(endpoint = "rules/save")]
pub async fn save_rule(
    scope: String,
    p50_ms: String,
    p95_ms: String,
    p99_ms: String,
    error_rate_pct: String,
    rps: String,
    factor: String,
    for_polls: String,
) -> Result<(), AppError> {
    use crate::domain::alerts::{BaselineForm, BaselineOverride, Scope};
    use crate::domain::auth::Permission;
    use crate::domain::target::FieldErrors;
    let caller = super::ssr::require(Permission::Operate)?;
    let form = BaselineForm {
        p50_ms,
        p95_ms,
        p99_ms,
        error_rate_pct,
        rps,
        factor,
        for_polls,
    };
    let event = caller
        .event("rule", "save", &scope)
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let parsed = Scope::from_param(&scope)
        .ok_or_else(|| {
            let mut errors = FieldErrors::default();
            errors.add("scope", "choose the fleet, a tag or a target");
            errors
        })
        .and_then(|scope| BaselineOverride::parse(scope, &form));
    let result = match parsed {
        Ok(baselines) => {
            if let Scope::Target(id) = baselines.scope {
                // Refuse an override for a target that is not there.
                if let Err(err) = caller.state.store.get_target(id).await {
                    return super::ssr::respond(Err(AppError::from(err)));
                }
            }
            caller
                .state
                .store
                .save_baseline_override(
                    &baselines,
                    &caller.principal.actor,
                    chrono::Utc::now(),
                    event.clone(),
                )
                .await
                .map_err(AppError::from)
        }
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match &result {
        Ok(()) => caller.state.alerts.rules_changed(),
        Err(err) => caller.record_failure(event, err).await,
    }
    super::ssr::respond(result)
}

#[server(endpoint = "rules/delete")]
pub async fn delete_rule(scope: String) -> Result<(), AppError> {
    use crate::domain::alerts::Scope;
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let Some(parsed) = Scope::from_param(&scope) else {
        return super::ssr::respond(Err(AppError::NotFound));
    };
    let event = caller.event("rule", "delete", &scope);
    let result = caller
        .state
        .store
        .delete_baseline_override(&parsed, event)
        .await
        .map_err(AppError::from);
    if result.is_ok() {
        caller.state.alerts.rules_changed();
    }
    super::ssr::respond(result)
}

/// A target's baselines from its last 7 days: the median of its hourly values. Nothing is
/// saved; the page shows the numbers for the operator to save.
#[server(endpoint = "rules/learn")]
pub async fn learn_baseline(target_id: i64) -> Result<LearnedBaselines, AppError> {
    use crate::domain::alerts::learn_baselines;
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let store = &caller.state.store;
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(7);
    let learned = async {
        store.get_target(target_id).await?;
        let rows = caller.state.signals.read(Some(target_id), from, to).await?;
        let hourly = crate::domain::series::roll_up(&rows, chrono::Duration::hours(1));
        Ok(learn_baselines(target_id, &hourly))
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err))
    .and_then(|learned| {
        learned.ok_or_else(|| {
            AppError::Conflict("this target has no polls with metrics in the last 7 days".into())
        })
    });
    super::ssr::respond(learned)
}
