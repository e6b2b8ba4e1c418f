//! Server functions for incidents: declare (from an alert in one click, or by hand), work the
//! checklist phase by phase, take notes, and resolve.
use super::error::AppError;
use crate::domain::incidents::comms::{ActionItem, StatusUpdate};
use crate::domain::incidents::{Incident, TimelineEvent};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The guided view: the incident, its timeline, its targets' names, its status updates
/// (oldest first) and action items, and the server's clock (so countdowns do not depend on
/// the viewer's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub incident: Incident,
    pub timeline: Vec<TimelineEvent>,
    pub targets: Vec<(i64, String)>,
    pub updates: Vec<StatusUpdate>,
    pub action_items: Vec<ActionItem>,
    pub now: chrono::DateTime<chrono::Utc>,
}

#[cfg(feature = "ssr")]
pub(super) const MAX_TEXT: usize = 2000;

/// Loads the incident and checks `action` against its state, for a clear refusal.
#[cfg(feature = "ssr")]
pub(super) async fn check(
    caller: &super::ssr::Caller,
    incident_id: i64,
    action: crate::domain::incidents::IncidentAction,
) -> Result<(), AppError> {
    let incident = caller.state.store.incident(incident_id).await?;
    incident.allows(action).map_err(AppError::Conflict)
}

#[server(endpoint = "incidents/list")]
pub async fn list_incidents() -> Result<Vec<Incident>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let list = caller.state.store.incidents().await.map_err(AppError::from);
    super::ssr::respond(list)
}

/// Declares an incident. With `alert_id`, everything comes from the alert: its target, its
/// severity, its rule's runbook as the checklist, and the caller as commander. By hand, a
/// title is needed; the runbook, targets (names, comma-separated) and commander are optional.
#[server(endpoint = "incidents/declare")]
pub async fn declare_incident(
    alert_id: Option<i64>,
    title: Option<String>,
    runbook: Option<String>,
    severity: Option<String>,
    commander: Option<String>,
    targets: Option<String>,
) -> Result<Incident, AppError> {
    use crate::domain::alerts::Severity;
    use crate::domain::auth::Permission;
    use crate::domain::incidents::plan;
    use crate::domain::notifications::NoticeEvent;
    use crate::domain::target::FieldErrors;
    use crate::server::store::NewIncident;
    let caller = super::ssr::require(Permission::Operate)?;
    let store = &caller.state.store;
    let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut errors = FieldErrors::default();
    let (title, severity, target_ids, runbook_slug) = match alert_id {
        Some(id) => {
            let (alert, _) = match store.alert(id).await {
                Ok(found) => found,
                Err(err) => return super::ssr::respond(Err(AppError::from(err))),
            };
            (
                format!("{} on {}", alert.rule.label(), alert.target_name),
                alert.severity,
                vec![alert.target_id],
                Some(alert.rule.runbook().to_owned()),
            )
        }
        None => {
            let title = text(title);
            if title.as_ref().is_none_or(|t| t.chars().count() > 200) {
                errors.add("title", "1 to 200 characters");
            }
            let severity = match text(severity) {
                None => Some(Severity::Warning),
                Some(raw) => Severity::parse(&raw),
            };
            if severity.is_none() {
                errors.add("severity", "critical, warning or info");
            }
            let all = match store.list_targets().await {
                Ok(all) => all,
                Err(err) => return super::ssr::respond(Err(AppError::from(err))),
            };
            let mut ids = Vec::new();
            for name in text(targets)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                match all.iter().find(|t| t.name == name) {
                    Some(t) => ids.push(t.id),
                    None => errors.add("targets", format!("no target is named {name}")),
                }
            }
            (
                title.unwrap_or_default(),
                severity.unwrap_or(Severity::Warning),
                ids,
                text(runbook),
            )
        }
    };
    let runbook = match &runbook_slug {
        Some(slug) => {
            let found = caller.state.runbooks.get(slug).await;
            if found.is_none() && alert_id.is_none() {
                errors.add("runbook", format!("no runbook is named {slug}"));
            }
            found
        }
        None => None,
    };
    let commander = text(commander).unwrap_or_else(|| caller.principal.actor.clone());
    if commander.chars().count() > 100 {
        errors.add("commander", "at most 100 characters");
    }
    if !errors.is_empty() {
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    }
    let new = NewIncident {
        title: title.clone(),
        severity,
        commander,
        runbook: runbook.as_ref().map(|r| r.slug.clone()),
        alert_id,
        target_ids,
        plan: plan(runbook.as_ref()),
        by: caller.principal.actor.clone(),
        at: chrono::Utc::now(),
    };
    let event = caller
        .event("incident", "declare", &title)
        .details(&serde_json::json!({ "alert": alert_id, "runbook": new.runbook }));
    let result = store
        .declare_incident(&new, event)
        .await
        .map_err(AppError::from);
    if let Ok(incident) = &result {
        let summary = format!(
            "{}: declared by {}, commander {}",
            incident.title, incident.declared_by, incident.commander
        );
        announce(&caller.state, incident, NoticeEvent::Declared, summary).await;
    }
    super::ssr::respond(result)
}

/// Tells the channels that want the incident's severity and its targets' tags.
#[cfg(feature = "ssr")]
pub(super) async fn announce(
    state: &crate::server::state::AppState,
    incident: &Incident,
    event: crate::domain::notifications::NoticeEvent,
    summary: String,
) {
    let tags = state
        .directory
        .tags_of(state.store.as_ref(), &incident.target_ids)
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "could not read targets; incident notice routed untagged");
            Vec::new()
        });
    state
        .alerts
        .notifier()
        .send_incident(incident, event, summary, tags);
}

#[server(endpoint = "incidents/get")]
pub async fn get_incident(id: i64) -> Result<IncidentView, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let store = caller.state.store.as_ref();
    let now = chrono::Utc::now();
    let view = async {
        let incident = store.incident(id).await?;
        let timeline = crate::server::services::incidents::timeline(store, &incident, now).await?;
        let targets = store
            .list_targets()
            .await?
            .into_iter()
            .filter(|t| incident.target_ids.contains(&t.id))
            .map(|t| (t.id, t.name))
            .collect();
        Ok(IncidentView {
            updates: store.status_updates(id).await?,
            action_items: store.action_items(id).await?,
            incident,
            timeline,
            targets,
            now,
        })
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(view)
}

/// Checks off a step (`action` = "done") or skips it with a reason (`action` = "skip").
#[server(endpoint = "incidents/step")]
pub async fn mark_step(
    incident_id: i64,
    step_id: i64,
    action: String,
    reason: Option<String>,
) -> Result<Incident, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::incidents::StepState;
    use crate::domain::target::FieldErrors;
    let caller = super::ssr::require(Permission::Operate)?;
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let mut errors = FieldErrors::default();
    let state = match action.as_str() {
        "done" => StepState::Done,
        "skip"
            if reason
                .as_ref()
                .is_some_and(|r| r.chars().count() <= MAX_TEXT) =>
        {
            StepState::Skipped
        }
        "skip" => {
            errors.add("reason", "say why the step is skipped");
            StepState::Skipped
        }
        _ => {
            errors.add("action", "done or skip");
            StepState::Pending
        }
    };
    if !errors.is_empty() {
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    }
    let action = crate::domain::incidents::IncidentAction::Step { step_id };
    if let Err(err) = check(&caller, incident_id, action).await {
        return super::ssr::respond(Err(err));
    }
    let event = caller
        .event("incident", &format!("step {}", state.as_str()), "")
        .details(&serde_json::json!({ "step": step_id, "reason": reason }));
    let result = caller
        .state
        .store
        .mark_step(
            incident_id,
            step_id,
            state,
            &caller.principal.actor,
            reason,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

#[server(endpoint = "incidents/note")]
pub async fn add_note(incident_id: i64, text: String) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::target::FieldErrors;
    let caller = super::ssr::require(Permission::Operate)?;
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        let mut errors = FieldErrors::default();
        errors.add("text", format!("1 to {MAX_TEXT} characters"));
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    }
    if let Err(err) = check(
        &caller,
        incident_id,
        crate::domain::incidents::IncidentAction::Note,
    )
    .await
    {
        return super::ssr::respond(Err(err));
    }
    let event = caller.event("incident", "note", "");
    let result = caller
        .state
        .store
        .add_incident_note(
            incident_id,
            &caller.principal.actor,
            &text,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Moves from the phase the caller was looking at to the next one.
#[server(endpoint = "incidents/advance")]
pub async fn next_phase(incident_id: i64, from_phase: usize) -> Result<Incident, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let action = crate::domain::incidents::IncidentAction::Advance { from_phase };
    if let Err(err) = check(&caller, incident_id, action).await {
        return super::ssr::respond(Err(err));
    }
    let event = caller.event("incident", "next phase", "");
    let result = caller
        .state
        .store
        .advance_incident(
            incident_id,
            from_phase,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

#[server(endpoint = "incidents/resolve")]
pub async fn resolve_incident(incident_id: i64) -> Result<Incident, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::notifications::NoticeEvent;
    let caller = super::ssr::require(Permission::Operate)?;
    let action = crate::domain::incidents::IncidentAction::Resolve;
    if let Err(err) = check(&caller, incident_id, action).await {
        return super::ssr::respond(Err(err));
    }
    let event = caller.event("incident", "resolve", "");
    let result = caller
        .state
        .store
        .resolve_incident(
            incident_id,
            &caller.principal.actor,
            chrono::Utc::now(),
            event,
        )
        .await
        .map_err(AppError::from);
    if let Ok(incident) = &result {
        let summary = format!("{}: resolved by {}", incident.title, caller.principal.actor);
        announce(&caller.state, incident, NoticeEvent::Resolved, summary).await;
    }
    super::ssr::respond(result)
}
