//! Server functions for capacity planning: the report for a scope, and each person's own
//! what-if inputs.
use super::error::AppError;
use crate::domain::capacity::CapacityReport;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityView {
    pub report: CapacityReport,
    /// Scopes to pick from: (`fleet` | `tag:NAME` | `target:ID`, label).
    pub scopes: Vec<(String, String)>,
    /// Whether the caller can save what-if inputs (people can; tokens cannot).
    pub can_save: bool,
}

#[server(endpoint = "capacity/get")]
pub async fn capacity_page(scope: String, window: String) -> Result<CapacityView, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let store = caller.state.store.as_ref();
    let result = async {
        let report = crate::server::services::capacity::report(
            store,
            &caller.principal,
            &scope,
            &window,
            chrono::Utc::now(),
        )
        .await?;
        let targets = store.list_targets().await?;
        let mut tags: Vec<&String> = targets.iter().flat_map(|t| &t.tags).collect();
        tags.sort();
        tags.dedup();
        let scopes = std::iter::once(("fleet".to_owned(), "Whole fleet".to_owned()))
            .chain(
                tags.into_iter()
                    .map(|t| (format!("tag:{t}"), format!("Tag {t}"))),
            )
            .chain(
                targets
                    .iter()
                    .map(|t| (format!("target:{}", t.id), t.name.clone())),
            )
            .collect();
        Ok(CapacityView {
            report,
            scopes,
            can_save: crate::server::services::capacity::user_id(&caller.principal).is_some(),
        })
    }
    .await;
    super::ssr::respond(result)
}

/// Saves the caller's what-if inputs for a scope; empty fields fall back to the measured or
/// default values, and `reset` removes them all.
#[server(endpoint = "capacity/save")]
pub async fn save_what_if(
    scope: String,
    inputs: Option<BTreeMap<String, String>>,
    reset: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::alerts::Scope;
    use crate::domain::auth::Permission;
    use crate::domain::capacity::Overrides;
    use crate::domain::target::FieldErrors;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let Some(user) = crate::server::services::capacity::user_id(&caller.principal) else {
        return super::ssr::respond(Err(AppError::Conflict(
            "what-if inputs are saved per person: sign in with an account".into(),
        )));
    };
    let Some(scope) = Scope::from_param(&scope) else {
        let mut errors = FieldErrors::default();
        errors.add("scope", "fleet, tag:NAME or target:ID");
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    };
    let values = if reset.is_some() {
        BTreeMap::new()
    } else {
        match Overrides::parse(&inputs.unwrap_or_default()) {
            Ok(values) => values,
            Err(errors) => return super::ssr::respond(Err(AppError::Invalid(errors))),
        }
    };
    let json = (!values.is_empty())
        .then(|| serde_json::to_string(&values))
        .transpose()
        .map_err(|err| {
            crate::server::http::error::internal("could not encode what-if inputs", err)
        })?;
    let event = caller
        .event(
            "capacity",
            if json.is_some() {
                "what_if_saved"
            } else {
                "what_if_cleared"
            },
            &scope.param(),
        )
        .details(&serde_json::json!({ "inputs": values }));
    let result = caller
        .state
        .store
        .save_capacity_plan(
            user,
            &scope.param(),
            json.as_deref(),
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}
