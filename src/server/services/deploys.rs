//! Deploy markers: recorded from the form or `POST /api/v1/deploys`, and reviewed against
//! the 30 minutes either side.
use crate::domain::alerts::Baselines;
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::auth::{Permission, Principal};
use crate::domain::deploys::{COMPARE_WINDOW, Deploy, DeployForm, SignalChange, compare};
use crate::domain::error::AppError;
use crate::domain::target::FieldErrors;
use crate::server::services::signals::Signals;
use crate::server::state::AppState;
use crate::server::store::{Store, StoreError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};

/// Checks the form, resolves the target by name and stores the marker with its audit entry.
pub async fn record(
    store: &dyn Store,
    form: &DeployForm,
    actor: &str,
    origin: &RequestOrigin,
) -> Result<Deploy, AppError> {
    let event = AuditEvent::new(
        "deploy",
        actor,
        "mark",
        &format!("{}{}", form.target.trim(), form.tag.trim()),
        origin,
    )
    .details(&serde_json::json!({ "version": form.version, "note": form.note }));
    form.check().map_err(AppError::Invalid)?;
    let target_id = match form.target.trim() {
        "" => None,
        name => {
            let targets = store.list_targets().await?;
            let found = targets.into_iter().find(|t| t.name == name).map(|t| t.id);
            if found.is_none() {
                let mut errors = FieldErrors::default();
                errors.add("target", format!("no target is named {name}"));
                return Err(AppError::Invalid(errors));
            }
            found
        }
    };
    let deploy = Deploy {
        id: 0,
        target_id,
        tag: Some(form.tag.trim().to_owned()).filter(|t| !t.is_empty()),
        version: form.version.trim().to_owned(),
        note: form.note.trim().to_owned(),
        at: Utc::now(),
        created_by: actor.to_owned(),
    };
    Ok(store.create_deploy(&deploy, event).await?)
}

/// The target's deploys of the last 7 days (newest first, at most 10), each compared.
pub async fn review(
    store: &dyn Store,
    signals: &Signals,
    target_id: i64,
) -> Result<Vec<(Deploy, Vec<SignalChange>)>, StoreError> {
    let target = store.get_target(target_id).await?;
    let now = Utc::now();
    let overrides: Vec<_> = store
        .baseline_overrides()
        .await?
        .into_iter()
        .map(|r| r.baselines)
        .collect();
    let baselines = Baselines::for_target(&overrides, target.id, &target.tags);
    let deploys: Vec<Deploy> = store
        .deploys(now - Duration::days(7), now + Duration::minutes(1))
        .await?
        .into_iter()
        .filter(|d| d.covers(target.id, &target.tags))
        .take(10)
        .collect();
    let mut reviews = Vec::with_capacity(deploys.len());
    for deploy in deploys {
        let samples = signals
            .read(
                Some(target.id),
                deploy.at - COMPARE_WINDOW,
                deploy.at + COMPARE_WINDOW,
            )
            .await?;
        let changes = compare(&samples, deploy.at, &baselines);
        reviews.push((deploy, changes));
    }
    Ok(reviews)
}

/// `POST /api/v1/deploys` with an API token: `{"target": "name", "version": "1.4.2"}` or
/// `{"tag": "edge", "version": …, "note": …}`.
pub async fn post(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    origin: Option<axum::Extension<RequestOrigin>>,
    body: Result<Json<DeployForm>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(axum::Extension(principal)) = principal else {
        return AppError::Unauthorized("send an API token".into()).into_response();
    };
    if !principal.allows(Permission::Operate) {
        return AppError::Forbidden.into_response();
    }
    let Json(form) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, rejection.body_text()).into_response();
        }
    };
    let origin = origin.map(|o| o.0).unwrap_or_default();
    match record(state.store.as_ref(), &form, &principal.actor, &origin).await {
        Ok(deploy) => (StatusCode::CREATED, Json(deploy)).into_response(),
        Err(err) => err.into_response(),
    }
}
