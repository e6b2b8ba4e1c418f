//! Incident communication: roles assigned and handed over, severity changes, reopening,
//! status updates (which move the update clock), and action items. Each change writes its
//! timeline line and audit entry in one transaction. SQL shared by both dialects.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::incidents::{EventRow, IncidentRow, PhaseRow, StepRow, add_event, corrupt};
use super::polls::{from_millis, to_millis};
use super::{IncidentStore, StoreError, StoreResult};
use crate::domain::alerts::Severity;
use crate::domain::audit::AuditEvent;
use crate::domain::incidents::comms::{
    ActionItem, NewActionItem, NewStatusUpdate, OPEN_ACTION_ITEMS_SHOWN, Role, StatusUpdate,
    due_after_severity_change, role_change, update_cadence,
};
use crate::domain::incidents::{Incident, TimelineKind};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Transaction};

#[derive(sqlx::FromRow)]
pub(super) struct StandingRow {
    state: String,
    severity: String,
    commander: String,
    ops_lead: Option<String>,
    comms_lead: Option<String>,
    update_due_at: Option<i64>,
    current_phase: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct UpdateRow {
    id: i64,
    at: i64,
    author: String,
    affected: String,
    impact: String,
    next_update_at: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct ItemRow {
    id: i64,
    incident_id: i64,
    text: String,
    owner: String,
    due_day: String,
    created_by: String,
    created_at: i64,
    closed_by: Option<String>,
    closed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct OpenItemRow {
    #[sqlx(flatten)]
    item: ItemRow,
    title: String,
}

/// Where an incident stands, read inside the writing transaction.
const SELECT_STANDING: &str = "SELECT state, severity, commander, ops_lead, comms_lead, \
    update_due_at, current_phase FROM incidents WHERE id = $1";
const SET_COMMANDER: &str = "UPDATE incidents SET commander = $1 WHERE id = $2";
const SET_OPS_LEAD: &str = "UPDATE incidents SET ops_lead = $1 WHERE id = $2";
const SET_COMMS_LEAD: &str = "UPDATE incidents SET comms_lead = $1 WHERE id = $2";
const SET_SEVERITY: &str = "UPDATE incidents SET severity = $1, update_due_at = $2 WHERE id = $3";
const SET_UPDATE_DUE: &str = "UPDATE incidents SET update_due_at = $1 WHERE id = $2";
const REOPEN: &str = "UPDATE incidents SET state = 'open', resolved_at = NULL, \
    update_due_at = $1 WHERE id = $2";
/// The phase the incident was resolved in runs again: its clock goes on from where it
/// stopped, the resolved spell left out.
const RESUME_PHASE: &str = "UPDATE incident_phases \
    SET started_at = COALESCE(started_at + ($1 - ended_at), $1), ended_at = NULL \
    WHERE incident_id = $2 AND idx = $3";
const INSERT_UPDATE: &str = "INSERT INTO incident_updates (incident_id, at, author, affected, \
    impact, next_update_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
const SELECT_UPDATES: &str = "SELECT id, at, author, affected, impact, next_update_at \
    FROM incident_updates WHERE incident_id = $1 ORDER BY id";
const ITEM_COLUMNS: &str = "i.id, i.incident_id, i.text, i.owner, i.due_day, i.created_by, \
    i.created_at, i.closed_by, i.closed_at";
const INSERT_ITEM: &str = "INSERT INTO incident_action_items (incident_id, text, owner, \
    due_day, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
/// Only an open item closes: the second of two people closing it changes nothing.
const CLOSE_ITEM: &str = "UPDATE incident_action_items SET closed_by = $1, closed_at = $2 \
    WHERE id = $3 AND incident_id = $4 AND closed_at IS NULL RETURNING text";

/// Roles, severity, reopening, status updates and action items of incidents.
#[async_trait]
pub trait IncidentCommsStore: Send + Sync {
    /// Gives `role` to `holder` (none stands a lead down). Refused when nothing changes.
    async fn assign_role(
        &self,
        incident_id: i64,
        role: Role,
        holder: Option<String>,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    /// A more urgent severity also brings the next status update forward.
    async fn change_severity(
        &self,
        incident_id: i64,
        severity: Severity,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn reopen_incident(
        &self,
        incident_id: i64,
        reason: Option<String>,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn post_status_update(
        &self,
        incident_id: i64,
        update: &NewStatusUpdate,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<StatusUpdate>;
    /// Oldest first.
    async fn status_updates(&self, incident_id: i64) -> StoreResult<Vec<StatusUpdate>>;
    async fn add_action_item(
        &self,
        incident_id: i64,
        item: &NewActionItem,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<ActionItem>;
    /// Closes an open item; closing a closed one is a conflict that names who closed it.
    async fn close_action_item(
        &self,
        incident_id: i64,
        item_id: i64,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<ActionItem>;
    async fn action_items(&self, incident_id: i64) -> StoreResult<Vec<ActionItem>>;
    /// Open items with their incident's title, soonest due first, at most
    /// `OPEN_ACTION_ITEMS_SHOWN`.
    async fn open_action_items(&self) -> StoreResult<Vec<(ActionItem, String)>>;
}

queries_for_any_backend! {
    area IncidentCommsStore rows [
        IncidentRow, PhaseRow, StepRow, EventRow, StandingRow, UpdateRow, ItemRow, OpenItemRow
    ] {
        async fn assign_role(
            &self,
            incident_id: i64,
            role: Role,
            holder: Option<String>,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let standing = open_standing(&mut tx, incident_id).await?;
            let current = match role {
                Role::Commander => Some(standing.commander.as_str()),
                Role::OpsLead => standing.ops_lead.as_deref(),
                Role::CommsLead => standing.comms_lead.as_deref(),
            };
            let Some(line) = role_change(role, current, holder.as_deref()) else {
                return Err(StoreError::Conflict(match current {
                    Some(who) => format!("{who} already is the {}", role.label()),
                    None => format!("nobody is the {}", role.label()),
                }));
            };
            let sql = match role {
                Role::Commander => SET_COMMANDER,
                Role::OpsLead => SET_OPS_LEAD,
                Role::CommsLead => SET_COMMS_LEAD,
            };
            sqlx::query::<DB>(sql)
                .bind(holder)
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            record(tx, incident_id, at, TimelineKind::Role, actor, &line, event).await?;
            self.incident(incident_id).await
        }

        async fn change_severity(
            &self,
            incident_id: i64,
            severity: Severity,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let standing = open_standing(&mut tx, incident_id).await?;
            if standing.severity == severity.as_str() {
                return Err(StoreError::Conflict(format!(
                    "the incident already is {}",
                    severity.as_str()
                )));
            }
            let due = standing.update_due_at.map(from_millis).transpose()?;
            let due = due_after_severity_change(due, severity, at);
            sqlx::query::<DB>(SET_SEVERITY)
                .bind(severity.as_str().to_owned())
                .bind(due.map(to_millis))
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            let line = format!("severity {} → {}", standing.severity, severity.as_str());
            record(tx, incident_id, at, TimelineKind::Severity, actor, &line, event).await?;
            self.incident(incident_id).await
        }

        async fn reopen_incident(
            &self,
            incident_id: i64,
            reason: Option<String>,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let standing = standing(&mut tx, incident_id).await?;
            if standing.state != "resolved" {
                return Err(StoreError::Conflict("the incident is open".into()));
            }
            let severity = Severity::parse(&standing.severity)
                .ok_or_else(|| corrupt("severity", &standing.severity))?;
            sqlx::query::<DB>(REOPEN)
                .bind(update_cadence(severity).map(|c| to_millis(at + c)))
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query::<DB>(RESUME_PHASE)
                .bind(to_millis(at))
                .bind(incident_id)
                .bind(standing.current_phase)
                .execute(&mut *tx)
                .await?;
            let line = match reason {
                Some(reason) => format!("reopened: {reason}"),
                None => "reopened".to_owned(),
            };
            record(tx, incident_id, at, TimelineKind::Reopened, actor, &line, event).await?;
            self.incident(incident_id).await
        }

        async fn post_status_update(
            &self,
            incident_id: i64,
            update: &NewStatusUpdate,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<StatusUpdate> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let standing = open_standing(&mut tx, incident_id).await?;
            let severity = Severity::parse(&standing.severity)
                .ok_or_else(|| corrupt("severity", &standing.severity))?;
            let next_update_at = update.next_update_at(severity, at);
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_UPDATE)
                .bind(incident_id)
                .bind(to_millis(at))
                .bind(actor.to_owned())
                .bind(update.affected.clone())
                .bind(update.impact.clone())
                .bind(to_millis(next_update_at))
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query::<DB>(SET_UPDATE_DUE)
                .bind(to_millis(next_update_at))
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            let posted = StatusUpdate {
                id,
                at,
                author: actor.to_owned(),
                affected: update.affected.clone(),
                impact: update.impact.clone(),
                next_update_at,
            };
            let text = posted.text();
            record(tx, incident_id, at, TimelineKind::Update, actor, &text, event).await?;
            Ok(posted)
        }

        async fn status_updates(&self, incident_id: i64) -> StoreResult<Vec<StatusUpdate>> {
            sqlx::query_as::<DB, UpdateRow>(SELECT_UPDATES)
                .bind(incident_id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| {
                    Ok(StatusUpdate {
                        id: row.id,
                        at: from_millis(row.at)?,
                        author: row.author,
                        affected: row.affected,
                        impact: row.impact,
                        next_update_at: from_millis(row.next_update_at)?,
                    })
                })
                .collect()
        }

        async fn add_action_item(
            &self,
            incident_id: i64,
            item: &NewActionItem,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<ActionItem> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            standing(&mut tx, incident_id).await?;
            let due = item.due.format("%Y-%m-%d").to_string();
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_ITEM)
                .bind(incident_id)
                .bind(item.text.clone())
                .bind(item.owner.clone())
                .bind(due.clone())
                .bind(actor.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            let line = format!("action item for {} by {due}: {}", item.owner, item.text);
            record(tx, incident_id, at, TimelineKind::ActionItem, actor, &line, event).await?;
            Ok(ActionItem {
                id,
                incident_id,
                text: item.text.clone(),
                owner: item.owner.clone(),
                due: item.due,
                created_by: actor.to_owned(),
                created_at: at,
                closed_by: None,
                closed_at: None,
            })
        }

        async fn close_action_item(
            &self,
            incident_id: i64,
            item_id: i64,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<ActionItem> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let closed = sqlx::query_as::<DB, (String,)>(CLOSE_ITEM)
                .bind(actor.to_owned())
                .bind(to_millis(at))
                .bind(item_id)
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((text,)) = closed else {
                drop(tx);
                let items = self.action_items(incident_id).await?;
                let item = items.into_iter().find(|i| i.id == item_id).ok_or(StoreError::NotFound)?;
                return Err(StoreError::Conflict(format!(
                    "already closed by {}",
                    item.closed_by.unwrap_or_default()
                )));
            };
            let line = format!("action item closed: {text}");
            record(tx, incident_id, at, TimelineKind::ActionItem, actor, &line, event).await?;
            self.action_items(incident_id)
                .await?
                .into_iter()
                .find(|i| i.id == item_id)
                .ok_or(StoreError::NotFound)
        }

        async fn action_items(&self, incident_id: i64) -> StoreResult<Vec<ActionItem>> {
            let sql = format!(
                "SELECT {ITEM_COLUMNS} FROM incident_action_items i WHERE i.incident_id = $1 \
                 ORDER BY i.id"
            );
            sqlx::query_as::<DB, ItemRow>(&sql)
                .bind(incident_id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(action_item)
                .collect()
        }

        async fn open_action_items(&self) -> StoreResult<Vec<(ActionItem, String)>> {
            let sql = format!(
                "SELECT {ITEM_COLUMNS}, n.title FROM incident_action_items i \
                 JOIN incidents n ON n.id = i.incident_id WHERE i.closed_at IS NULL \
                 ORDER BY i.due_day, i.id LIMIT $1"
            );
            sqlx::query_as::<DB, OpenItemRow>(&sql)
                .bind(i64::try_from(OPEN_ACTION_ITEMS_SHOWN).unwrap_or(i64::MAX))
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| Ok((action_item(row.item)?, row.title)))
                .collect()
        }
    }
}

/// The incident's standing inside the transaction that changes it.
async fn standing<DB>(tx: &mut Transaction<'static, DB>, id: i64) -> StoreResult<StandingRow>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> StandingRow: sqlx::FromRow<'r, DB::Row>,
{
    sqlx::query_as::<DB, StandingRow>(SELECT_STANDING)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The same, refused when the incident is resolved.
async fn open_standing<DB>(tx: &mut Transaction<'static, DB>, id: i64) -> StoreResult<StandingRow>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> StandingRow: sqlx::FromRow<'r, DB::Row>,
{
    let standing = standing(tx, id).await?;
    if standing.state != "open" {
        return Err(StoreError::Conflict("the incident is resolved".into()));
    }
    Ok(standing)
}

/// Writes the timeline line and the audit entry, and commits.
async fn record<DB>(
    mut tx: Transaction<'static, DB>,
    incident_id: i64,
    at: DateTime<Utc>,
    kind: TimelineKind,
    actor: &str,
    line: &str,
    event: AuditEvent,
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    add_event(&mut tx, incident_id, to_millis(at), kind, actor, line).await?;
    append(&mut tx, event.resource(&format!("incident:{incident_id}"))).await?;
    tx.commit().await?;
    Ok(())
}

fn action_item(row: ItemRow) -> StoreResult<ActionItem> {
    Ok(ActionItem {
        id: row.id,
        incident_id: row.incident_id,
        text: row.text,
        owner: row.owner,
        due: NaiveDate::parse_from_str(&row.due_day, "%Y-%m-%d")
            .map_err(|_| corrupt("due day", &row.due_day))?,
        created_by: row.created_by,
        created_at: from_millis(row.created_at)?,
        closed_by: row.closed_by,
        closed_at: row.closed_at.map(from_millis).transpose()?,
    })
}
