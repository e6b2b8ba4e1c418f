//! Server functions for silences and maintenance windows.
// Form-shaped server functions take one argument per field; `expect` would not hold in
// every build (the macro emits the signature differently per feature).
#![allow(clippy::too_many_arguments)]
use super::error::AppError;
use crate::domain::silences::{Silence, SilenceStatus};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A silence as its page shows it: how it stands now, and whether it covers any target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    pub silence: Silence,
    pub status: SilenceStatus,
    /// How many targets its matchers cover today; 0 means it matches nothing.
    pub targets_matched: usize,
}

/// Silences that are running, waiting, or ended in the last 7 days.
#[server(endpoint = "silences/list")]
pub async fn list_silences() -> Result<Vec<SilenceView>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let now = chrono::Utc::now();
    let views = async {
        let store = &caller.state.store;
        let silences = store.silences(now - chrono::Duration::days(7)).await?;
        let targets = store.list_targets().await?;
        Ok(silences
            .into_iter()
            .map(|silence| {
                let targets_matched = targets
                    .iter()
                    .filter(|t| {
                        silence
                            .matchers
                            .target
                            .as_ref()
                            .is_none_or(|n| *n == t.name)
                            && silence
                                .matchers
                                .tag
                                .as_ref()
                                .is_none_or(|g| t.tags.contains(g))
                    })
                    .count();
                SilenceView {
                    status: silence.status(now),
                    silence,
                    targets_matched,
                }
            })
            .collect())
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(views)
}

/// Creates a silence: one-off (starts in N minutes, lasts M) or a weekly window.
#[server(endpoint = "silences/create")]
pub async fn create_silence(
    target: String,
    tag: String,
    rule: String,
    reason: String,
    starts_in_minutes: String,
    duration_minutes: String,
    weekdays: String,
    window_start: String,
    window_minutes: String,
    until_days: String,
) -> Result<Silence, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::silences::{NewSilence, SilenceForm};
    let caller = super::ssr::require(Permission::Operate)?;
    let form = SilenceForm {
        target,
        tag,
        rule,
        reason,
        starts_in_minutes,
        duration_minutes,
        weekdays,
        window_start,
        window_minutes,
        until_days,
    };
    let now = chrono::Utc::now();
    let event = caller
        .event("silence", "create", "")
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let result = match NewSilence::parse(&form, now) {
        Ok(new) => caller
            .state
            .store
            .create_silence(&new, &caller.principal.actor, now, event.clone())
            .await
            .map_err(AppError::from),
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match &result {
        Ok(_) => caller.state.alerts.rules_changed(),
        Err(err) => caller.record_failure(event, err).await,
    }
    super::ssr::respond(result)
}

/// Ends a silence now.
#[server(endpoint = "silences/expire")]
pub async fn expire_silence(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller.event("silence", "expire", &format!("silence:{id}"));
    let result = caller
        .state
        .store
        .expire_silence(id, chrono::Utc::now(), event)
        .await
        .map_err(AppError::from);
    if result.is_ok() {
        caller.state.alerts.rules_changed();
    }
    super::ssr::respond(result)
}
