//! Server functions for the fleet's targets: list, add, edit, remove.
use super::error::AppError;
use crate::domain::target::Target;
use leptos::prelude::*;

#[server(endpoint = "targets/list")]
pub async fn list_targets() -> Result<Vec<Target>, AppError> {
    let state = super::ssr::app_state()?;
    super::ssr::respond(state.store.list_targets().await.map_err(AppError::from))
}

#[server(endpoint = "targets/get")]
pub async fn get_target(id: i64) -> Result<Target, AppError> {
    let state = super::ssr::app_state()?;
    super::ssr::respond(state.store.get_target(id).await.map_err(AppError::from))
}

/// Adds a target from the form's raw fields; every bad field is reported by name.
#[server(endpoint = "targets/add")]
pub async fn add_target(
    name: String,
    base_url: String,
    interval_secs: String,
    tags: String,
) -> Result<Target, AppError> {
    use crate::domain::target::{TargetSource, TargetSpec};
    let state = super::ssr::app_state()?;
    let result = match TargetSpec::from_form(&name, &base_url, &interval_secs, &tags) {
        Ok(spec) => state
            .store
            .insert_target(&spec, TargetSource::Ui)
            .await
            .map_err(AppError::from),
        Err(fields) => Err(AppError::Invalid(fields)),
    };
    if result.is_ok() {
        state.targets_changed();
    }
    super::ssr::respond(result)
}

#[server(endpoint = "targets/update")]
pub async fn update_target(
    id: i64,
    name: String,
    base_url: String,
    interval_secs: String,
    tags: String,
) -> Result<Target, AppError> {
    use crate::domain::target::TargetSpec;
    let state = super::ssr::app_state()?;
    let result = match TargetSpec::from_form(&name, &base_url, &interval_secs, &tags) {
        Ok(spec) => match editable(&state, id).await {
            Ok(()) => state
                .store
                .update_target(id, &spec)
                .await
                .map_err(AppError::from),
            Err(err) => Err(err),
        },
        Err(fields) => Err(AppError::Invalid(fields)),
    };
    if result.is_ok() {
        state.targets_changed();
    }
    super::ssr::respond(result)
}

#[server(endpoint = "targets/remove")]
pub async fn remove_target(id: i64) -> Result<(), AppError> {
    let state = super::ssr::app_state()?;
    let result = match editable(&state, id).await {
        Ok(()) => state.store.delete_target(id).await.map_err(AppError::from),
        Err(err) => Err(err),
    };
    if result.is_ok() {
        state.targets_changed();
    }
    super::ssr::respond(result)
}

/// Only targets made in the UI are changed in the UI; the others would come back from their source.
#[cfg(feature = "ssr")]
async fn editable(state: &crate::server::state::AppState, id: i64) -> Result<(), AppError> {
    use crate::domain::target::TargetSource;
    let target = state.store.get_target(id).await?;
    match target.source {
        TargetSource::Ui => Ok(()),
        other => Err(AppError::Conflict(format!(
            "{} is managed by its {} source; change it there",
            target.name,
            other.as_str()
        ))),
    }
}
