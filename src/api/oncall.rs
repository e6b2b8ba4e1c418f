//! Server functions for on-call schedules: who is on call now and next, the shifts ahead and
//! their gaps, editing layers and overrides, and each user's calendar feed secret.
// Form-shaped server functions take one argument per field; `expect` would not hold in
// every build (the macro emits the signature differently per feature).
#![allow(clippy::too_many_arguments)]
use super::error::AppError;
use crate::domain::oncall::{Coverage, Gap, Schedule, Shift};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A schedule as the lists show it: who is on call now, who is next, and the gaps ahead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnCallSummary {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub now: Option<Shift>,
    pub next: Option<Shift>,
    /// Spans nobody covers in the next 14 days.
    pub gaps: Vec<Gap>,
}

/// One schedule in full: its layers and overrides, and the next 14 days' shifts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub summary: OnCallSummary,
    pub schedule: Schedule,
    pub coverage: Coverage,
    /// Whether the caller may edit schedules.
    pub can_edit: bool,
}

/// The caller's calendar feed: whether it exists and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarFeedStatus {
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only when just made: the one time the secret leaves the server.
    pub secret: Option<String>,
}

#[cfg(feature = "ssr")]
mod lookup {
    use super::*;
    use crate::domain::oncall::LOOKAHEAD_DAYS;
    use chrono::{DateTime, Duration, Utc};

    /// The next 14 days of `schedule` from `now`.
    pub fn ahead(schedule: &Schedule, now: DateTime<Utc>) -> Coverage {
        schedule.coverage(now, now + Duration::days(LOOKAHEAD_DAYS))
    }

    /// `coverage` must be `ahead(schedule, now)`.
    pub fn summary(schedule: &Schedule, coverage: &Coverage, now: DateTime<Utc>) -> OnCallSummary {
        let (current, next) = coverage.now_and_next(now);
        OnCallSummary {
            id: schedule.id,
            name: schedule.name.clone(),
            time_zone: schedule.time_zone.clone(),
            now: current,
            next,
            gaps: coverage.gaps.clone(),
        }
    }

    pub async fn usernames(caller: &crate::api::ssr::Caller) -> Result<Vec<String>, AppError> {
        Ok(caller
            .state
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| u.username)
            .collect())
    }

    pub async fn schedule(caller: &crate::api::ssr::Caller, id: i64) -> Result<Schedule, AppError> {
        caller
            .state
            .store
            .schedules(Utc::now())
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(AppError::NotFound)
    }

    /// The caller's own user id: feeds belong to people, not tokens.
    pub fn user_id(caller: &crate::api::ssr::Caller) -> Result<i64, AppError> {
        match caller.principal.kind {
            crate::domain::auth::PrincipalKind::User { id, .. } => Ok(id),
            _ => Err(AppError::Forbidden),
        }
    }
}

#[cfg(feature = "ssr")]
pub(super) use lookup::{user_id as caller_user_id, usernames as active_usernames};

/// Every schedule with who is on call now and next; for the wall, too.
#[server(endpoint = "oncall/summaries")]
pub async fn on_call_summaries() -> Result<Vec<OnCallSummary>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewWall)?;
    let now = chrono::Utc::now();
    let result = caller
        .state
        .store
        .schedules(now)
        .await
        .map(|all| {
            all.iter()
                .map(|s| lookup::summary(s, &lookup::ahead(s, now), now))
                .collect()
        })
        .map_err(AppError::from);
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/schedule")]
pub async fn schedule_detail(id: i64) -> Result<ScheduleView, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = async {
        let now = chrono::Utc::now();
        let schedule = lookup::schedule(&caller, id).await?;
        let coverage = lookup::ahead(&schedule, now);
        Ok(ScheduleView {
            summary: lookup::summary(&schedule, &coverage, now),
            coverage,
            schedule,
            can_edit: caller.principal.allows(Permission::Operate),
        })
    }
    .await;
    super::ssr::respond(result)
}

/// Creates a schedule with its first layer.
#[server(endpoint = "oncall/create")]
pub async fn create_schedule(
    name: String,
    time_zone: String,
    layer_name: String,
    rotation: String,
    first_handoff: String,
    participants: String,
    #[server(default)] window_start: String,
    #[server(default)] window_end: String,
) -> Result<i64, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::oncall::{LayerForm, NewSchedule, ScheduleForm};
    let caller = super::ssr::require(Permission::Operate)?;
    let form = ScheduleForm {
        name,
        time_zone,
        layer: LayerForm {
            layer_name,
            rotation,
            first_handoff,
            participants,
            window_start,
            window_end,
        },
    };
    let event = caller
        .event("schedule", "create", form.name.trim())
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let result = async {
        let users = lookup::usernames(&caller).await?;
        let new = NewSchedule::parse(&form, &users).map_err(AppError::Invalid)?;
        let store = &caller.state.store;
        Ok(store
            .create_schedule(
                &new,
                &caller.principal.actor,
                chrono::Utc::now(),
                event.clone(),
            )
            .await?)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/delete")]
pub async fn delete_schedule(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller.event("schedule", "delete", &format!("schedule:{id}"));
    let result = caller
        .state
        .store
        .delete_schedule(id, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Adds a layer above the schedule's others: it wins where it covers.
#[server(endpoint = "oncall/layer/add")]
pub async fn add_layer(
    schedule_id: i64,
    layer_name: String,
    rotation: String,
    first_handoff: String,
    participants: String,
    #[server(default)] window_start: String,
    #[server(default)] window_end: String,
) -> Result<i64, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::oncall::{LayerForm, NewLayer};
    let caller = super::ssr::require(Permission::Operate)?;
    let form = LayerForm {
        layer_name,
        rotation,
        first_handoff,
        participants,
        window_start,
        window_end,
    };
    let event = caller
        .event("schedule", "add_layer", &format!("schedule:{schedule_id}"))
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let result = async {
        let users = lookup::usernames(&caller).await?;
        let new = NewLayer::parse(&form, &users).map_err(AppError::Invalid)?;
        Ok(caller
            .state
            .store
            .add_layer(schedule_id, &new, event.clone())
            .await?)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/layer/delete")]
pub async fn delete_layer(schedule_id: i64, layer_id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller
        .event(
            "schedule",
            "delete_layer",
            &format!("schedule:{schedule_id}"),
        )
        .details(&serde_json::json!({ "layer": layer_id }));
    let result = caller
        .state
        .store
        .delete_layer(schedule_id, layer_id, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Puts someone on call for a span, above every layer ("I cover Tuesday").
#[server(endpoint = "oncall/override/add")]
pub async fn add_override(
    schedule_id: i64,
    user: String,
    starts: String,
    ends: String,
) -> Result<i64, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::oncall::{NewOverride, OverrideForm};
    let caller = super::ssr::require(Permission::Operate)?;
    let form = OverrideForm { user, starts, ends };
    let event = caller
        .event(
            "schedule",
            "add_override",
            &format!("schedule:{schedule_id}"),
        )
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let result = async {
        let schedule = lookup::schedule(&caller, schedule_id).await?;
        let users = lookup::usernames(&caller).await?;
        let new = NewOverride::parse(&form, schedule.tz(), &users).map_err(AppError::Invalid)?;
        Ok(caller
            .state
            .store
            .add_override(
                schedule_id,
                &new,
                &caller.principal.actor,
                chrono::Utc::now(),
                event.clone(),
            )
            .await?)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/override/delete")]
pub async fn delete_override(schedule_id: i64, override_id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller
        .event(
            "schedule",
            "delete_override",
            &format!("schedule:{schedule_id}"),
        )
        .details(&serde_json::json!({ "override": override_id }));
    let result = caller
        .state
        .store
        .delete_override(schedule_id, override_id, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/feed")]
pub async fn calendar_feed() -> Result<CalendarFeedStatus, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = async {
        let user = lookup::user_id(&caller)?;
        Ok(CalendarFeedStatus {
            since: caller.state.store.calendar_feed_since(user).await?,
            secret: None,
        })
    }
    .await;
    super::ssr::respond(result)
}

/// Makes a new calendar feed secret for the caller; the old one stops working.
#[server(endpoint = "oncall/feed/new")]
pub async fn new_calendar_feed() -> Result<CalendarFeedStatus, AppError> {
    use crate::domain::auth::Permission;
    use crate::server::auth::{hash_token_secret, new_secret};
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let event = caller.event("calendar_feed", "create", &caller.principal.actor);
    let result = async {
        let user = lookup::user_id(&caller)?;
        let secret = new_secret("calendar");
        let now = chrono::Utc::now();
        caller
            .state
            .store
            .set_calendar_feed(user, &hash_token_secret(&secret), now, event)
            .await?;
        Ok(CalendarFeedStatus {
            since: Some(now),
            secret: Some(secret),
        })
    }
    .await;
    super::ssr::respond(result)
}

#[server(endpoint = "oncall/feed/revoke")]
pub async fn revoke_calendar_feed() -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let event = caller.event("calendar_feed", "revoke", &caller.principal.actor);
    let result = async {
        let user = lookup::user_id(&caller)?;
        Ok(caller.state.store.revoke_calendar_feed(user, event).await?)
    }
    .await;
    super::ssr::respond(result)
}
