//! The calendar feed of an on-call schedule: `GET /calendar/{id}.ics?token=…`. Calendar apps
//! cannot sign in, so the URL carries the reader's own feed secret, which they can revoke.
use crate::domain::auth::Permission;
use crate::domain::error::AppError;
use crate::server::auth::hash_token_secret;
use crate::server::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

/// A week back, so a shift just ended stays visible, and eight ahead.
const FEED_PAST_DAYS: i64 = 7;
const FEED_AHEAD_DAYS: i64 = 56;
/// Longer than any secret mcpops makes: not looked up.
const SECRET_MAX: usize = 128;

#[derive(Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    token: String,
}

pub async fn calendar_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<FeedQuery>,
) -> Response {
    let Some(Ok(id)) = file.strip_suffix(".ics").map(str::parse::<i64>) else {
        return AppError::NotFound.into_response();
    };
    match feed(&state, id, &query.token).await {
        Ok(ics) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/calendar; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"oncall-{id}.ics\""),
                ),
            ],
            ics,
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn feed(state: &AppState, id: i64, secret: &str) -> Result<String, AppError> {
    let refused = || AppError::Unauthorized("this calendar link is unknown or revoked".into());
    if secret.is_empty() || secret.len() > SECRET_MAX {
        return Err(refused());
    }
    let store = &state.store;
    let user_id = store
        .calendar_feed_user(&hash_token_secret(secret))
        .await?
        .ok_or_else(refused)?;
    let user = store.user(user_id).await?.account;
    // A disabled user's link stops with their account.
    if user.disabled || !user.role.allows(Permission::ViewDashboards) {
        return Err(refused());
    }
    let now = Utc::now();
    let from = now - Duration::days(FEED_PAST_DAYS);
    let schedule = store
        .schedules(from)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(AppError::NotFound)?;
    let coverage = schedule.coverage(from, now + Duration::days(FEED_AHEAD_DAYS));
    Ok(crate::domain::oncall::calendar(&schedule, &coverage, now))
}
