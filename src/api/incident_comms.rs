//! Server functions for incident communication: roles and handoffs, severity changes,
//! reopening, status updates posted to the incident's channels, and action items.
use super::error::AppError;
use crate::domain::incidents::Incident;
use crate::domain::incidents::comms::{ActionItem, StatusUpdate};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Every open action item with its incident's title, and the server's day (which decides
/// what is overdue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemList {
    pub items: Vec<(ActionItem, String)>,
    pub today: chrono::NaiveDate,
}

/// Refuses with the reason next to `field`.
#[cfg(feature = "ssr")]
fn invalid<T>(field: &str, message: impl Into<String>) -> Result<T, AppError> {
    let mut errors = crate::domain::target::FieldErrors::default();
    errors.add(field, message);
    super::ssr::respond(Err(AppError::Invalid(errors)))
}

/// Gives a role (commander, ops_lead, comms_lead) to `person`; an empty name stands a lead
/// down. A commander handing over names who takes over.
#[server(endpoint = "incidents/role")]
pub async fn assign_role(
    incident_id: i64,
    role: String,
    person: String,
) -> Result<Incident, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::incidents::IncidentAction;
    use crate::domain::incidents::comms::{Role, parse_holder};
    let caller = super::ssr::require(Permission::Operate)?;
    let Some(role) = Role::parse(&role) else {
        return invalid("role", "commander, ops_lead or comms_lead");
    };
    let holder = match parse_holder(role, &person) {
        Ok(holder) => holder,
        Err(message) => return invalid("person", message),
    };
    let checked = super::incidents::check(&caller, incident_id, IncidentAction::Communicate).await;
    if let Err(err) = checked {
        return super::ssr::respond(Err(err));
    }
    let event = caller
        .event("incident", &format!("assign {}", role.as_str()), "")
        .details(&serde_json::json!({ "role": role.as_str(), "person": holder }));
    let result = caller
        .state
        .store
        .assign_role(
            incident_id,
            role,
            holder,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Raises or lowers the severity; the channels hear of it, and a more urgent severity
/// brings the next status update forward.
#[server(endpoint = "incidents/severity")]
pub async fn change_severity(incident_id: i64, severity: String) -> Result<Incident, AppError> {
    use crate::domain::alerts::Severity;
    use crate::domain::auth::Permission;
    use crate::domain::incidents::IncidentAction;
    use crate::domain::notifications::NoticeEvent;
    let caller = super::ssr::require(Permission::Operate)?;
    let Some(severity) = Severity::parse(severity.trim()) else {
        return invalid("severity", "critical, warning or info");
    };
    let checked = super::incidents::check(&caller, incident_id, IncidentAction::Communicate).await;
    if let Err(err) = checked {
        return super::ssr::respond(Err(err));
    }
    let event = caller
        .event("incident", "change severity", "")
        .details(&serde_json::json!({ "severity": severity.as_str() }));
    let result = caller
        .state
        .store
        .change_severity(
            incident_id,
            severity,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    if let Ok(incident) = &result {
        let summary = format!(
            "{}: severity now {}, set by {}",
            incident.title,
            severity.as_str(),
            caller.principal.actor
        );
        super::incidents::announce(&caller.state, incident, NoticeEvent::Updated, summary).await;
    }
    super::ssr::respond(result)
}

/// Opens a resolved incident again (the problem came back), with an optional reason; its
/// last phase runs again and the channels hear of it.
#[server(endpoint = "incidents/reopen")]
pub async fn reopen_incident(
    incident_id: i64,
    reason: Option<String>,
) -> Result<Incident, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::incidents::IncidentAction;
    use crate::domain::notifications::NoticeEvent;
    let caller = super::ssr::require(Permission::Operate)?;
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > super::incidents::MAX_TEXT)
    {
        return invalid(
            "reason",
            format!("at most {} characters", super::incidents::MAX_TEXT),
        );
    }
    let checked = super::incidents::check(&caller, incident_id, IncidentAction::Reopen).await;
    if let Err(err) = checked {
        return super::ssr::respond(Err(err));
    }
    let event = caller
        .event("incident", "reopen", "")
        .details(&serde_json::json!({ "reason": reason }));
    let result = caller
        .state
        .store
        .reopen_incident(
            incident_id,
            reason.clone(),
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    if let Ok(incident) = &result {
        let summary = format!(
            "{}: reopened by {}{}",
            incident.title,
            caller.principal.actor,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        super::incidents::announce(&caller.state, incident, NoticeEvent::Updated, summary).await;
    }
    super::ssr::respond(result)
}

/// Posts a status update: what is affected, the impact, and minutes until the next one
/// (empty takes the severity's cadence). It goes to the incident's channels and moves its
/// update clock.
#[server(endpoint = "incidents/update")]
pub async fn post_status_update(
    incident_id: i64,
    affected: String,
    impact: String,
    next_update_minutes: Option<String>,
) -> Result<StatusUpdate, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::incidents::IncidentAction;
    use crate::domain::incidents::comms::{NewStatusUpdate, StatusForm};
    use crate::domain::notifications::NoticeEvent;
    let caller = super::ssr::require(Permission::Operate)?;
    let form = StatusForm {
        affected: &affected,
        impact: &impact,
        next_update_minutes: next_update_minutes.as_deref().unwrap_or(""),
    };
    let update = match NewStatusUpdate::parse(&form) {
        Ok(update) => update,
        Err(errors) => return super::ssr::respond(Err(AppError::Invalid(errors))),
    };
    let checked = super::incidents::check(&caller, incident_id, IncidentAction::Communicate).await;
    if let Err(err) = checked {
        return super::ssr::respond(Err(err));
    }
    let event = caller.event("incident", "status update", "").details(
        &serde_json::json!({ "next_in_minutes": update.next_in.map(|d| d.num_minutes()) }),
    );
    let store = &caller.state.store;
    let result = store
        .post_status_update(
            incident_id,
            &update,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    if let Ok(posted) = &result
        && let Ok(incident) = store.incident(incident_id).await
    {
        let summary = format!("{}: status update. {}", incident.title, posted.text());
        super::incidents::announce(&caller.state, &incident, NoticeEvent::Updated, summary).await;
    }
    super::ssr::respond(result)
}

/// Adds a follow-up: what, who owns it, and the day it is due (YYYY-MM-DD, from today on).
#[server(endpoint = "incidents/action-items/add")]
pub async fn add_action_item(
    incident_id: i64,
    text: String,
    owner: String,
    due: String,
) -> Result<ActionItem, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::incidents::IncidentAction;
    use crate::domain::incidents::comms::NewActionItem;
    let caller = super::ssr::require(Permission::Operate)?;
    let now = chrono::Utc::now();
    let item = match NewActionItem::parse(&text, &owner, &due, now.date_naive()) {
        Ok(item) => item,
        Err(errors) => return super::ssr::respond(Err(AppError::Invalid(errors))),
    };
    let checked = super::incidents::check(&caller, incident_id, IncidentAction::FollowUp).await;
    if let Err(err) = checked {
        return super::ssr::respond(Err(err));
    }
    let event = caller
        .event("incident", "add action item", "")
        .details(&serde_json::json!({ "owner": item.owner, "due": item.due.to_string() }));
    let result = caller
        .state
        .store
        .add_action_item(incident_id, &item, &caller.principal.actor, now, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Closes an open action item, once.
#[server(endpoint = "incidents/action-items/close")]
pub async fn close_action_item(incident_id: i64, item_id: i64) -> Result<ActionItem, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller
        .event("incident", "close action item", "")
        .details(&serde_json::json!({ "item": item_id }));
    let result = caller
        .state
        .store
        .close_action_item(
            incident_id,
            item_id,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Every open action item across incidents, soonest due first.
#[server(endpoint = "incidents/action-items")]
pub async fn open_action_items() -> Result<ActionItemList, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = caller
        .state
        .store
        .open_action_items()
        .await
        .map(|items| ActionItemList {
            items,
            today: chrono::Utc::now().date_naive(),
        })
        .map_err(AppError::from);
    super::ssr::respond(result)
}
