//! Incidents: declared with their plan, steps checked once (a second check is refused with
//! who was first), phases advanced once, notes and resolution; each with its audit entry in
//! the same transaction. SQL shared by both dialects.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::alerts::Severity;
use crate::domain::audit::AuditEvent;
use crate::domain::incidents::comms::update_cadence;
use crate::domain::incidents::{
    Incident, IncidentState, PhaseRun, StepRun, StepState, TimelineEvent, TimelineKind,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};

/// An incident as declared: its plan is a list of (phase, budget, steps).
pub struct NewIncident {
    pub title: String,
    pub severity: Severity,
    pub commander: String,
    pub runbook: Option<String>,
    pub alert_id: Option<i64>,
    pub target_ids: Vec<i64>,
    pub plan: Vec<(String, Option<u32>, Vec<String>)>,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct IncidentRow {
    id: i64,
    title: String,
    severity: String,
    commander: String,
    ops_lead: Option<String>,
    comms_lead: Option<String>,
    state: String,
    runbook: Option<String>,
    alert_id: Option<i64>,
    target_ids: String,
    declared_by: String,
    declared_at: i64,
    resolved_at: Option<i64>,
    current_phase: i64,
    update_due_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct PhaseRow {
    name: String,
    budget_secs: Option<i64>,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct StepRow {
    id: i64,
    phase: i64,
    text: String,
    state: String,
    actor: Option<String>,
    at: Option<i64>,
    reason: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    at: i64,
    kind: String,
    actor: String,
    text: String,
}

pub(super) fn corrupt(what: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} '{raw}'"))
}

fn index(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

const SELECT_INCIDENTS: &str = "SELECT id, title, severity, commander, ops_lead, comms_lead, \
    state, runbook, alert_id, target_ids, declared_by, declared_at, resolved_at, current_phase, \
    update_due_at FROM incidents";
const INSERT_INCIDENT: &str = "INSERT INTO incidents (title, severity, commander, state, runbook, \
    alert_id, target_ids, declared_by, declared_at, current_phase, update_due_at) \
    VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, 0, $9) RETURNING id";
const INSERT_PHASE: &str = "INSERT INTO incident_phases (incident_id, idx, name, budget_secs, \
    started_at) VALUES ($1, $2, $3, $4, $5)";
const INSERT_STEP: &str =
    "INSERT INTO incident_steps (incident_id, phase, text, state) VALUES ($1, $2, $3, 'pending')";
const INSERT_EVENT: &str = "INSERT INTO incident_events (incident_id, at, kind, actor, text) \
    VALUES ($1, $2, $3, $4, $5)";
const SELECT_PHASES: &str = "SELECT name, budget_secs, started_at, ended_at FROM incident_phases \
    WHERE incident_id = $1 ORDER BY idx";
const SELECT_STEPS: &str = "SELECT id, phase, text, state, actor, at, reason FROM incident_steps \
    WHERE incident_id = $1 ORDER BY id";
const SELECT_EVENTS: &str = "SELECT at, kind, actor, text FROM incident_events \
    WHERE incident_id = $1 ORDER BY id";
/// Only a pending step changes: the second of two people checking it changes nothing.
const MARK_STEP: &str = "UPDATE incident_steps SET state = $1, actor = $2, at = $3, reason = $4 \
    WHERE id = $5 AND incident_id = $6 AND state = 'pending' RETURNING text";
const SELECT_STEP: &str = "SELECT id, phase, text, state, actor, at, reason FROM incident_steps \
    WHERE id = $1 AND incident_id = $2";
/// Advances only from the phase the caller saw, so a double click moves one phase.
const ADVANCE: &str = "UPDATE incidents SET current_phase = current_phase + 1 \
    WHERE id = $1 AND current_phase = $2 AND state = 'open' RETURNING current_phase";
const END_PHASE: &str = "UPDATE incident_phases SET ended_at = $1 WHERE incident_id = $2 AND idx = $3 AND ended_at IS NULL";
const START_PHASE: &str =
    "UPDATE incident_phases SET started_at = $1 WHERE incident_id = $2 AND idx = $3 RETURNING name";
const RESOLVE: &str = "UPDATE incidents SET state = 'resolved', resolved_at = $1, \
    update_due_at = NULL \
    WHERE id = $2 AND state = 'open' RETURNING current_phase";

/// Steps the incident methods share.
struct IncidentQueries<'p, DB: Database>(&'p Pool<DB>);

/// Incidents: their plan, steps, phases, notes and resolution.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn declare_incident(&self, new: &NewIncident, event: AuditEvent)
    -> StoreResult<Incident>;
    /// Open incidents first, then the newest.
    async fn incidents(&self) -> StoreResult<Vec<Incident>>;
    async fn incident(&self, id: i64) -> StoreResult<Incident>;
    /// The incident's own timeline entries (declared, phases, steps, notes, resolved).
    async fn incident_events(&self, id: i64) -> StoreResult<Vec<TimelineEvent>>;
    #[expect(
        clippy::too_many_arguments,
        reason = "the step, what happened, and its audit"
    )]
    async fn mark_step(
        &self,
        incident_id: i64,
        step_id: i64,
        state: StepState,
        actor: &str,
        reason: Option<String>,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn add_incident_note(
        &self,
        incident_id: i64,
        actor: &str,
        text: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn advance_incident(
        &self,
        incident_id: i64,
        from_phase: usize,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
    async fn resolve_incident(
        &self,
        incident_id: i64,
        actor: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Incident>;
}

queries_for_any_backend! {
    area IncidentStore rows [IncidentRow, PhaseRow, StepRow, EventRow] {
        async fn declare_incident(&self, new: &NewIncident, event: AuditEvent) -> StoreResult<Incident> {
            let at = to_millis(new.at);
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_INCIDENT)
                .bind(new.title.clone())
                .bind(new.severity.as_str().to_owned())
                .bind(new.commander.clone())
                .bind(new.runbook.clone())
                .bind(new.alert_id)
                .bind(to_json(&new.target_ids)?)
                .bind(new.by.clone())
                .bind(at)
                .bind(update_cadence(new.severity).map(|c| to_millis(new.at + c)))
                .fetch_one(&mut *tx)
                .await?;
            for (idx, (name, budget, steps)) in new.plan.iter().enumerate() {
                let idx = i64::try_from(idx).unwrap_or(i64::MAX);
                sqlx::query::<DB>(INSERT_PHASE)
                    .bind(id)
                    .bind(idx)
                    .bind(name.clone())
                    .bind(budget.map(i64::from))
                    .bind((idx == 0).then_some(at))
                    .execute(&mut *tx)
                    .await?;
                for step in steps {
                    sqlx::query::<DB>(INSERT_STEP)
                        .bind(id)
                        .bind(idx)
                        .bind(step.clone())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let declared = format!(
                "declared ({}, commander {}){}",
                new.severity.as_str(),
                new.commander,
                new.runbook
                    .as_ref()
                    .map(|r| format!(" with runbook {r}"))
                    .unwrap_or_default()
            );
            add_event(&mut tx, id, at, TimelineKind::Declared, &new.by, &declared).await?;
            if let Some((first, _, _)) = new.plan.first() {
                add_event(
                    &mut tx,
                    id,
                    at,
                    TimelineKind::Phase,
                    &new.by,
                    &format!("phase {first} started"),
                )
                .await?;
            }
            append(&mut tx, event.resource(&format!("incident:{id}"))).await?;
            tx.commit().await?;
            self.incident(id).await
        }

        async fn incidents(&self) -> StoreResult<Vec<Incident>> {
            let sql = format!("{SELECT_INCIDENTS} ORDER BY state, declared_at DESC LIMIT 200");
            let rows = sqlx::query_as::<DB, IncidentRow>(&sql)
                .fetch_all(self.pool())
                .await?;
            let mut incidents = Vec::with_capacity(rows.len());
            for row in rows {
                incidents.push(IncidentQueries::<DB>(self.pool()).assemble(row).await?);
            }
            Ok(incidents)
        }

        async fn incident(&self, id: i64) -> StoreResult<Incident> {
            let sql = format!("{SELECT_INCIDENTS} WHERE id = $1");
            let row = sqlx::query_as::<DB, IncidentRow>(&sql)
                .bind(id)
                .fetch_one(self.pool())
                .await?;
            IncidentQueries::<DB>(self.pool()).assemble(row).await
        }

        async fn incident_events(&self, id: i64) -> StoreResult<Vec<TimelineEvent>> {
            sqlx::query_as::<DB, EventRow>(SELECT_EVENTS)
                .bind(id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| {
                    Ok(TimelineEvent {
                        at: from_millis(row.at)?,
                        kind: TimelineKind::parse(&row.kind)
                            .ok_or_else(|| corrupt("kind", &row.kind))?,
                        actor: row.actor,
                        text: row.text,
                    })
                })
                .collect()
        }

        /// Checks off or skips a pending step. A step already done is a conflict that names who
        /// did it and when.
        async fn mark_step(
            &self,
            incident_id: i64,
            step_id: i64,
            state: StepState,
            actor: &str,
            reason: Option<String>,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let marked = sqlx::query_as::<DB, (String,)>(MARK_STEP)
                .bind(state.as_str().to_owned())
                .bind(actor.to_owned())
                .bind(to_millis(at))
                .bind(reason.clone())
                .bind(step_id)
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((text,)) = marked else {
                let step = sqlx::query_as::<DB, StepRow>(SELECT_STEP)
                    .bind(step_id)
                    .bind(incident_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let step = step_run(step)?;
                return Err(StoreError::Conflict(format!(
                    "already {} by {} at {}",
                    step.state.as_str(),
                    step.actor.unwrap_or_default(),
                    step.at
                        .map(|t| t.format("%H:%M:%S UTC").to_string())
                        .unwrap_or_default()
                )));
            };
            let line = match (&state, &reason) {
                (StepState::Skipped, Some(reason)) => format!("skipped: {text} ({reason})"),
                _ => format!("done: {text}"),
            };
            add_event(
                &mut tx,
                incident_id,
                to_millis(at),
                TimelineKind::Step,
                actor,
                &line,
            )
            .await?;
            append(&mut tx, event.resource(&format!("incident:{incident_id}"))).await?;
            tx.commit().await?;
            self.incident(incident_id).await
        }

        async fn add_incident_note(
            &self,
            incident_id: i64,
            actor: &str,
            text: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            IncidentQueries::<DB>(self.pool()).open_in(&mut tx, incident_id).await?;
            add_event(
                &mut tx,
                incident_id,
                to_millis(at),
                TimelineKind::Note,
                actor,
                text,
            )
            .await?;
            append(&mut tx, event.resource(&format!("incident:{incident_id}"))).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Ends the phase the caller was looking at and starts the next one.
        async fn advance_incident(
            &self,
            incident_id: i64,
            from_phase: usize,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let from = i64::try_from(from_phase).unwrap_or(i64::MAX);
            let at_ms = to_millis(at);
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let phases = sqlx::query_as::<DB, PhaseRow>(SELECT_PHASES)
                .bind(incident_id)
                .fetch_all(&mut *tx)
                .await?;
            if from_phase + 1 >= phases.len() {
                return Err(StoreError::Conflict(
                    "this is the last phase: resolve the incident instead".into(),
                ));
            }
            sqlx::query_as::<DB, (i64,)>(ADVANCE)
                .bind(incident_id)
                .bind(from)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    StoreError::Conflict("the incident has already moved on from that phase".into())
                })?;
            sqlx::query::<DB>(END_PHASE)
                .bind(at_ms)
                .bind(incident_id)
                .bind(from)
                .execute(&mut *tx)
                .await?;
            let (name,) = sqlx::query_as::<DB, (String,)>(START_PHASE)
                .bind(at_ms)
                .bind(incident_id)
                .bind(from + 1)
                .fetch_one(&mut *tx)
                .await?;
            add_event(
                &mut tx,
                incident_id,
                at_ms,
                TimelineKind::Phase,
                actor,
                &format!("phase {name} started"),
            )
            .await?;
            append(&mut tx, event.resource(&format!("incident:{incident_id}"))).await?;
            tx.commit().await?;
            self.incident(incident_id).await
        }

        async fn resolve_incident(
            &self,
            incident_id: i64,
            actor: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Incident> {
            let at_ms = to_millis(at);
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (phase,) = sqlx::query_as::<DB, (i64,)>(RESOLVE)
                .bind(at_ms)
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::Conflict("the incident is already resolved".into()))?;
            sqlx::query::<DB>(END_PHASE)
                .bind(at_ms)
                .bind(incident_id)
                .bind(phase)
                .execute(&mut *tx)
                .await?;
            add_event(
                &mut tx,
                incident_id,
                at_ms,
                TimelineKind::Resolved,
                actor,
                "resolved",
            )
            .await?;
            append(&mut tx, event.resource(&format!("incident:{incident_id}"))).await?;
            tx.commit().await?;
            self.incident(incident_id).await
        }
    }
}

queries_for_any_backend! {
    impl IncidentQueries rows [IncidentRow, PhaseRow, StepRow, EventRow] {
        async fn assemble(&self, row: IncidentRow) -> StoreResult<Incident> {
            let phases = sqlx::query_as::<DB, PhaseRow>(SELECT_PHASES)
                .bind(row.id)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(|p| {
                    Ok(PhaseRun {
                        name: p.name,
                        budget_secs: p.budget_secs.and_then(|b| u32::try_from(b).ok()),
                        started_at: p.started_at.map(from_millis).transpose()?,
                        ended_at: p.ended_at.map(from_millis).transpose()?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let steps = sqlx::query_as::<DB, StepRow>(SELECT_STEPS)
                .bind(row.id)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(step_run)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Incident {
                id: row.id,
                title: row.title,
                severity: Severity::parse(&row.severity)
                    .ok_or_else(|| corrupt("severity", &row.severity))?,
                commander: row.commander,
                ops_lead: row.ops_lead,
                comms_lead: row.comms_lead,
                state: IncidentState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
                runbook: row.runbook,
                alert_id: row.alert_id,
                target_ids: from_json(&row.target_ids)?,
                declared_by: row.declared_by,
                declared_at: from_millis(row.declared_at)?,
                resolved_at: row.resolved_at.map(from_millis).transpose()?,
                current_phase: index(row.current_phase),
                phases,
                steps,
                update_due_at: row.update_due_at.map(from_millis).transpose()?,
            })
        }

        async fn open_in(&self, tx: &mut Transaction<'static, DB>, id: i64) -> StoreResult<()> {
            let sql = format!("{SELECT_INCIDENTS} WHERE id = $1");
            let row = sqlx::query_as::<DB, IncidentRow>(&sql)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            if row.state != IncidentState::Open.as_str() {
                return Err(StoreError::Conflict("the incident is resolved".into()));
            }
            Ok(())
        }
    }
}

fn step_run(row: StepRow) -> StoreResult<StepRun> {
    Ok(StepRun {
        id: row.id,
        phase: index(row.phase),
        text: row.text,
        state: StepState::parse(&row.state).ok_or_else(|| corrupt("step state", &row.state))?,
        actor: row.actor,
        at: row.at.map(from_millis).transpose()?,
        reason: row.reason,
    })
}

pub(super) async fn add_event<DB>(
    tx: &mut Transaction<'static, DB>,
    incident_id: i64,
    at: i64,
    kind: TimelineKind,
    actor: &str,
    text: &str,
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(INSERT_EVENT)
        .bind(incident_id)
        .bind(at)
        .bind(kind.as_str().to_owned())
        .bind(actor.to_owned())
        .bind(text.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
