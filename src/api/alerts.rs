//! Server functions for alerts: the list, one alert with its history, and acknowledging.
use super::error::AppError;
use crate::domain::alerts::{Alert, AlertStep};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How many alerts one page lists.
#[cfg(feature = "ssr")]
const PAGE_SIZE: i64 = 200;
/// How many alerts the wall lists; it counts the rest.
#[cfg(feature = "ssr")]
const WALL_SHOWN: i64 = 8;
#[cfg(feature = "ssr")]
const MAX_NOTE: usize = 1000;

/// What the wall shows of the alerts: the first few, firing and most severe first, and how
/// many there are in all. A fleet-wide outage is thousands of alerts, and a wall that listed
/// them all would push the fleet off the screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallAlertSummary {
    pub shown: Vec<Alert>,
    pub firing: i64,
    pub acknowledged: i64,
}

impl WallAlertSummary {
    /// Alerts there are beyond the ones shown.
    pub fn unshown(&self) -> i64 {
        (self.firing + self.acknowledged - self.shown.len() as i64).max(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDetail {
    pub alert: Alert,
    pub steps: Vec<AlertStep>,
    /// Every attempt to tell a channel about it, oldest first.
    pub notified: Vec<crate::domain::notifications::AlertDelivery>,
    /// The escalations that paged people about it, each with its pages, oldest first.
    pub escalations: Vec<(
        crate::domain::escalation::Escalation,
        Vec<crate::domain::escalation::Page>,
    )>,
}

/// Alerts, firing first. `state`: empty for every open alert, `all` to include resolved
/// ones, or one state; the other filters are empty for "any".
#[server(endpoint = "alerts/list")]
pub async fn list_alerts(
    state: String,
    severity: String,
    rule: String,
    target: String,
) -> Result<Vec<Alert>, AppError> {
    use crate::domain::alerts::{AlertQuery, AlertState, RuleKind, Severity};
    use crate::domain::auth::Permission;
    use crate::domain::target::FieldErrors;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let mut errors = FieldErrors::default();
    let mut pick = |field: &str, raw: &str, parse: &dyn Fn(&str) -> bool| {
        if !raw.is_empty() && !parse(raw) {
            errors.add(field, format!("unknown {field} '{raw}'"));
        }
    };
    pick("state", &state, &|s| {
        s == "all" || AlertState::parse(s).is_some()
    });
    pick("severity", &severity, &|s| Severity::parse(s).is_some());
    pick("rule", &rule, &|s| RuleKind::parse(s).is_some());
    pick("target", &target, &|s| s.parse::<i64>().is_ok());
    if !errors.is_empty() {
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    }
    let query = AlertQuery {
        states: match (state.as_str(), AlertState::parse(&state)) {
            ("all", _) => Vec::new(),
            (_, Some(one)) => vec![one],
            _ => AlertState::OPEN.to_vec(),
        },
        severity: Severity::parse(&severity),
        rule: RuleKind::parse(&rule),
        target_ids: target.parse().into_iter().collect(),
        limit: PAGE_SIZE,
    };
    let alerts = caller
        .state
        .store
        .alerts(&query)
        .await
        .map_err(AppError::from);
    super::ssr::respond(alerts)
}

/// The alerts a wall shows: the first firing and acknowledged ones, and how many there are.
#[server(endpoint = "alerts/wall")]
pub async fn wall_alerts() -> Result<WallAlertSummary, AppError> {
    use crate::domain::alerts::{AlertQuery, AlertState};
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewWall)?;
    let store = &caller.state.store;
    let states = [AlertState::Firing, AlertState::Acknowledged];
    // Chosen by the database: a large fleet can hold thousands of pending alerts, which
    // the wall would otherwise read and sort on every view only to drop.
    let query = AlertQuery {
        states: states.to_vec(),
        limit: WALL_SHOWN,
        ..AlertQuery::default()
    };
    let summary: Result<_, crate::server::store::StoreError> = async {
        let counts = store.count_alerts(&states).await?;
        let count = |state| {
            counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n)
        };
        Ok(WallAlertSummary {
            firing: count(AlertState::Firing),
            acknowledged: count(AlertState::Acknowledged),
            shown: store.alerts(&query).await?,
        })
    }
    .await;
    super::ssr::respond(summary.map_err(AppError::from))
}

#[server(endpoint = "alerts/detail")]
pub async fn alert_with_history(id: i64) -> Result<AlertDetail, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let store = &caller.state.store;
    let detail = async {
        let (alert, steps) = store.alert(id).await?;
        let notified = store.alert_deliveries(id).await?;
        let escalations = store.alert_escalations(id).await?;
        Ok(AlertDetail {
            alert,
            steps,
            notified,
            escalations,
        })
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(detail)
}

/// Tells the alert's channels who took it on; routing by tag needs the target's tags.
#[cfg(feature = "ssr")]
async fn notify_acknowledged(state: &crate::server::state::AppState, alert: &Alert) {
    use crate::server::services::alerts::Acknowledgement;
    let tags = state
        .directory
        .tags_of(state.store.as_ref(), &[alert.target_id])
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "could not read targets; acknowledgement routed untagged");
            Vec::new()
        });
    let ack = Acknowledgement {
        by: alert.acked_by.as_deref().unwrap_or_default(),
        note: alert.ack_note.as_deref().unwrap_or_default(),
    };
    state.alerts.notifier().send_acknowledged(alert, &tags, ack);
}

/// Acknowledges a firing alert with a note. Two people acknowledging at once: the second
/// is told who was first. Acknowledging tool drift accepts the new tool list.
#[server(endpoint = "alerts/acknowledge")]
pub async fn acknowledge_alert(id: i64, note: String) -> Result<Alert, AppError> {
    use crate::domain::alerts::AlertState;
    use crate::domain::auth::Permission;
    use crate::domain::target::FieldErrors;
    use crate::server::store::AlertChange;
    let caller = super::ssr::require(Permission::Operate)?;
    let note = note.trim().to_owned();
    let mut errors = FieldErrors::default();
    if note.is_empty() {
        errors.add("note", "say what you are doing about it");
    } else if note.chars().count() > MAX_NOTE {
        errors.add("note", format!("at most {MAX_NOTE} characters"));
    }
    if !errors.is_empty() {
        return super::ssr::respond(Err(AppError::Invalid(errors)));
    }
    let event = caller
        .event("alert", "acknowledge", "")
        .details(&serde_json::json!({ "note": note }));
    let change = AlertChange {
        to: AlertState::Acknowledged,
        expected: &[AlertState::Firing],
        at: chrono::Utc::now(),
        actor: caller.principal.actor.clone(),
        note,
        summary: None,
        silenced: None,
    };
    let result = caller
        .state
        .store
        .change_alert(id, &change, event.clone())
        .await
        .map_err(AppError::from);
    match &result {
        Ok(alert) => {
            caller.state.alerts.publish(alert);
            caller.state.alerts.rules_changed();
            if !alert.silenced {
                notify_acknowledged(&caller.state, alert).await;
            }
        }
        Err(err) => {
            caller
                .record_failure(event.resource(&format!("alert:{id}")), err)
                .await
        }
    }
    super::ssr::respond(result)
}
