//! Alerts, their transitions and the baseline overrides that steer them. SQL shared by both
//! dialects; every audited change writes its audit entry in the same transaction.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_millis, to_millis};
use super::{StoreError, StoreResult, numbered_params};
use crate::domain::alerts::{
    Alert, AlertQuery, AlertState, AlertStep, BaselineOverride, OverrideRecord, RuleKind, Scope,
    Severity,
};
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments};

/// A new alert as the engine opens it.
pub struct NewAlert {
    pub rule: RuleKind,
    pub target_id: i64,
    pub state: AlertState,
    pub summary: String,
    pub silenced: bool,
    pub at: DateTime<Utc>,
}

/// A change of state; `expected` lists the states it may start from.
pub struct AlertChange<'a> {
    pub to: AlertState,
    pub expected: &'a [AlertState],
    pub at: DateTime<Utc>,
    pub actor: String,
    pub note: String,
    pub summary: Option<String>,
    pub silenced: Option<bool>,
}

#[derive(sqlx::FromRow)]
pub(super) struct AlertRow {
    id: i64,
    rule: String,
    target_id: i64,
    target_name: String,
    severity: String,
    state: String,
    summary: String,
    silenced: bool,
    opened_at: i64,
    fired_at: Option<i64>,
    acked_at: Option<i64>,
    acked_by: Option<String>,
    ack_note: Option<String>,
    resolved_at: Option<i64>,
}

pub(super) fn corrupt(what: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} '{raw}'"))
}

fn optional_time(ms: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    ms.map(from_millis).transpose()
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;
    fn try_from(row: AlertRow) -> StoreResult<Self> {
        Ok(Alert {
            id: row.id,
            rule: RuleKind::parse(&row.rule).ok_or_else(|| corrupt("rule", &row.rule))?,
            target_id: row.target_id,
            target_name: row.target_name,
            severity: Severity::parse(&row.severity)
                .ok_or_else(|| corrupt("severity", &row.severity))?,
            state: AlertState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
            summary: row.summary,
            silenced: row.silenced,
            opened_at: from_millis(row.opened_at)?,
            fired_at: optional_time(row.fired_at)?,
            acked_at: optional_time(row.acked_at)?,
            acked_by: row.acked_by,
            ack_note: row.ack_note,
            resolved_at: optional_time(row.resolved_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StepRow {
    at: i64,
    from_state: Option<String>,
    to_state: String,
    actor: String,
    note: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct OverrideRow {
    scope: String,
    scope_key: String,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    error_rate_pct: Option<f64>,
    rps: Option<f64>,
    factor: Option<f64>,
    for_polls: Option<i64>,
    updated_by: String,
    updated_at: i64,
}

const SELECT_ALERTS: &str = "SELECT a.id, a.rule, a.target_id, t.name AS target_name, a.severity, \
    a.state, a.summary, a.silenced, a.opened_at, a.fired_at, a.acked_at, a.acked_by, a.ack_note, \
    a.resolved_at FROM alerts a JOIN targets t ON t.id = a.target_id";
/// Firing first, then acknowledged, pending and resolved; the most severe first within each.
const ALERT_ORDER: &str = "CASE a.state WHEN 'firing' THEN 0 WHEN 'acknowledged' THEN 1 \
    WHEN 'pending' THEN 2 ELSE 3 END, CASE a.severity WHEN 'critical' THEN 0 \
    WHEN 'warning' THEN 1 ELSE 2 END, a.opened_at DESC, a.id DESC";
const INSERT_ALERT: &str = "INSERT INTO alerts (rule, target_id, severity, state, summary, \
    silenced, opened_at, fired_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7) \
    RETURNING id";
const UPDATE_ALERT: &str = "UPDATE alerts SET state = $1, summary = $2, silenced = $3, \
    fired_at = $4, acked_at = $5, acked_by = $6, ack_note = $7, resolved_at = $8, \
    updated_at = $9 WHERE id = $10";
const INSERT_STEP: &str = "INSERT INTO alert_transitions (alert_id, at, from_state, to_state, \
    actor, note) VALUES ($1, $2, $3, $4, $5, $6)";
const SELECT_STEPS: &str = "SELECT at, from_state, to_state, actor, note FROM alert_transitions \
    WHERE alert_id = $1 ORDER BY id";
const SELECT_OVERRIDES: &str = "SELECT scope, scope_key, p50_ms, p95_ms, p99_ms, error_rate_pct, \
    rps, factor, for_polls, updated_by, updated_at FROM baseline_overrides ORDER BY \
    CASE scope WHEN 'fleet' THEN 0 WHEN 'tag' THEN 1 ELSE 2 END, scope_key";
const UPSERT_OVERRIDE: &str = "INSERT INTO baseline_overrides (scope, scope_key, p50_ms, p95_ms, \
    p99_ms, error_rate_pct, rps, factor, for_polls, updated_by, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (scope, scope_key) DO UPDATE \
    SET p50_ms = excluded.p50_ms, p95_ms = excluded.p95_ms, p99_ms = excluded.p99_ms, \
    error_rate_pct = excluded.error_rate_pct, rps = excluded.rps, factor = excluded.factor, \
    for_polls = excluded.for_polls, updated_by = excluded.updated_by, \
    updated_at = excluded.updated_at";
const DELETE_OVERRIDE: &str =
    "DELETE FROM baseline_overrides WHERE scope = $1 AND scope_key = $2 RETURNING id";
const LATEST_CATALOG: &str =
    "SELECT target_id, tools FROM tool_catalogs WHERE target_id = $1 ORDER BY id DESC LIMIT 1";

/// Alerts, their transitions, and the baseline overrides that steer the rules.
#[async_trait]
pub trait AlertStore: Send + Sync {
    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>>;
    /// How many alerts are in each of `states`; a state with none is left out.
    async fn count_alerts(&self, states: &[AlertState]) -> StoreResult<Vec<(AlertState, i64)>>;
    /// An alert and every change of its state, oldest first.
    async fn alert(&self, id: i64) -> StoreResult<(Alert, Vec<AlertStep>)>;
    /// Opens an alert; a conflict when the rule already has an open one on the target.
    async fn open_alert(&self, new: &NewAlert, event: AuditEvent) -> StoreResult<Alert>;
    async fn change_alert(
        &self,
        id: i64,
        change: &AlertChange<'_>,
        event: AuditEvent,
    ) -> StoreResult<Alert>;
    async fn baseline_overrides(&self) -> StoreResult<Vec<OverrideRecord>>;
    async fn save_baseline_override(
        &self,
        baselines: &BaselineOverride,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn delete_baseline_override(&self, scope: &Scope, event: AuditEvent) -> StoreResult<()>;
}

queries_for_any_backend! {
    area AlertStore rows [AlertRow, StepRow, OverrideRow] {
        async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
            let mut conditions = Vec::new();
            let mut next = 1;
            let mut params = |count: usize| {
                let listed = numbered_params(next, count);
                next += count;
                listed
            };
            if !query.states.is_empty() {
                conditions.push(format!("a.state IN ({})", params(query.states.len())));
            }
            if query.severity.is_some() {
                conditions.push(format!("a.severity = {}", params(1)));
            }
            if query.rule.is_some() {
                conditions.push(format!("a.rule = {}", params(1)));
            }
            if !query.target_ids.is_empty() {
                conditions.push(format!(
                    "a.target_id IN ({})",
                    params(query.target_ids.len())
                ));
            }
            let filter = if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            };
            let sql = format!(
                "{SELECT_ALERTS}{filter} ORDER BY {ALERT_ORDER} LIMIT {}",
                params(1)
            );
            let mut q = sqlx::query_as::<DB, AlertRow>(&sql);
            for state in &query.states {
                q = q.bind(state.as_str().to_owned());
            }
            if let Some(severity) = query.severity {
                q = q.bind(severity.as_str().to_owned());
            }
            if let Some(rule) = query.rule {
                q = q.bind(rule.as_str().to_owned());
            }
            for target in &query.target_ids {
                q = q.bind(*target);
            }
            q.bind(query.limit.max(1))
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(Alert::try_from)
                .collect()
        }

        async fn count_alerts(&self, states: &[AlertState]) -> StoreResult<Vec<(AlertState, i64)>> {
            if states.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT COUNT(*), state FROM alerts WHERE state IN ({}) GROUP BY state",
                numbered_params(1, states.len())
            );
            let mut q = sqlx::query_as::<DB, (i64, String)>(&sql);
            for state in states {
                q = q.bind(state.as_str().to_owned());
            }
            q.fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|(count, state)| {
                    AlertState::parse(&state)
                        .map(|state| (state, count))
                        .ok_or_else(|| corrupt("alert state", &state))
                })
                .collect()
        }

        async fn alert(&self, id: i64) -> StoreResult<(Alert, Vec<AlertStep>)> {
            let alert = alert_in(self.pool(), id).await?;
            let steps = sqlx::query_as::<DB, StepRow>(SELECT_STEPS)
                .bind(id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| {
                    Ok(AlertStep {
                        at: from_millis(row.at)?,
                        from: row
                            .from_state
                            .map(|s| AlertState::parse(&s).ok_or_else(|| corrupt("state", &s)))
                            .transpose()?,
                        to: AlertState::parse(&row.to_state)
                            .ok_or_else(|| corrupt("state", &row.to_state))?,
                        actor: row.actor,
                        note: row.note,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((alert, steps))
        }

        async fn open_alert(&self, new: &NewAlert, event: AuditEvent) -> StoreResult<Alert> {
            let at = to_millis(new.at);
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_ALERT)
                .bind(new.rule.as_str().to_owned())
                .bind(new.target_id)
                .bind(new.rule.severity().as_str().to_owned())
                .bind(new.state.as_str().to_owned())
                .bind(new.summary.clone())
                .bind(new.silenced)
                .bind(at)
                .bind((new.state == AlertState::Firing).then_some(at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| match StoreError::from(err) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict("this rule already has an open alert on the target".into())
                    }
                    other => other,
                })?;
            sqlx::query::<DB>(INSERT_STEP)
                .bind(id)
                .bind(at)
                .bind(None::<String>)
                .bind(new.state.as_str().to_owned())
                .bind(event.actor.clone())
                .bind(new.summary.clone())
                .execute(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("alert:{id}"))).await?;
            let alert = alert_in(&mut *tx, id).await?;
            tx.commit().await?;
            Ok(alert)
        }

        /// Moves an alert to another state, refused (as a conflict naming the current state)
        /// when it is no longer in one of the expected states. Accepting a drift alert also
        /// accepts the target's current tool list.
        async fn change_alert(
            &self,
            id: i64,
            change: &AlertChange<'_>,
            event: AuditEvent,
        ) -> StoreResult<Alert> {
            let at = to_millis(change.at);
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let mut alert = alert_in(&mut *tx, id).await?;
            if !change.expected.contains(&alert.state) {
                let by = match (&alert.state, &alert.acked_by) {
                    (AlertState::Acknowledged, Some(who)) => format!(" by {who}"),
                    _ => String::new(),
                };
                return Err(StoreError::Conflict(format!(
                    "the alert is already {}{by}",
                    alert.state.as_str()
                )));
            }
            let from = alert.state;
            alert.state = change.to;
            match change.to {
                AlertState::Firing => alert.fired_at = Some(change.at),
                AlertState::Acknowledged => {
                    alert.acked_at = Some(change.at);
                    alert.acked_by = Some(change.actor.clone());
                    alert.ack_note = Some(change.note.clone());
                }
                AlertState::Resolved => alert.resolved_at = Some(change.at),
                AlertState::Pending => {}
            }
            if let Some(summary) = &change.summary {
                alert.summary.clone_from(summary);
            }
            if let Some(silenced) = change.silenced {
                alert.silenced = silenced;
            }
            sqlx::query::<DB>(UPDATE_ALERT)
                .bind(alert.state.as_str().to_owned())
                .bind(alert.summary.clone())
                .bind(alert.silenced)
                .bind(alert.fired_at.map(to_millis))
                .bind(alert.acked_at.map(to_millis))
                .bind(alert.acked_by.clone())
                .bind(alert.ack_note.clone())
                .bind(alert.resolved_at.map(to_millis))
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if from != change.to {
                sqlx::query::<DB>(INSERT_STEP)
                    .bind(id)
                    .bind(at)
                    .bind(Some(from.as_str().to_owned()))
                    .bind(change.to.as_str().to_owned())
                    .bind(change.actor.clone())
                    .bind(change.note.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            if change.to == AlertState::Acknowledged && alert.rule == RuleKind::ToolDrift {
                let latest = sqlx::query_as::<DB, (i64, String)>(LATEST_CATALOG)
                    .bind(alert.target_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((_, tools)) = latest {
                    sqlx::query::<DB>(super::tools::UPSERT_TOOL_ACK)
                        .bind(alert.target_id)
                        .bind(tools)
                        .bind(change.actor.clone())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            append(&mut tx, event.resource(&format!("alert:{id}"))).await?;
            tx.commit().await?;
            Ok(alert)
        }

        async fn baseline_overrides(&self) -> StoreResult<Vec<OverrideRecord>> {
            sqlx::query_as::<DB, OverrideRow>(SELECT_OVERRIDES)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| {
                    let scope = Scope::from_parts(&row.scope, &row.scope_key)
                        .ok_or_else(|| corrupt("scope", &row.scope))?;
                    Ok(OverrideRecord {
                        baselines: BaselineOverride {
                            scope,
                            p50_ms: row.p50_ms,
                            p95_ms: row.p95_ms,
                            p99_ms: row.p99_ms,
                            error_rate_pct: row.error_rate_pct,
                            rps: row.rps,
                            factor: row.factor,
                            for_polls: row.for_polls.and_then(|n| u32::try_from(n).ok()),
                        },
                        updated_by: row.updated_by,
                        updated_at: from_millis(row.updated_at)?,
                    })
                })
                .collect()
        }

        async fn save_baseline_override(
            &self,
            o: &BaselineOverride,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query::<DB>(UPSERT_OVERRIDE)
                .bind(o.scope.kind().to_owned())
                .bind(o.scope.key())
                .bind(o.p50_ms)
                .bind(o.p95_ms)
                .bind(o.p99_ms)
                .bind(o.error_rate_pct)
                .bind(o.rps)
                .bind(o.factor)
                .bind(o.for_polls.map(i64::from))
                .bind(by.to_owned())
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn delete_baseline_override(&self, scope: &Scope, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(DELETE_OVERRIDE)
                .bind(scope.kind().to_owned())
                .bind(scope.key())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// One alert, read through a pool or inside a transaction.
async fn alert_in<'e, DB, E>(executor: E, id: i64) -> StoreResult<Alert>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> AlertRow: sqlx::FromRow<'r, DB::Row>,
{
    let sql = format!("{SELECT_ALERTS} WHERE a.id = $1");
    sqlx::query_as::<DB, AlertRow>(&sql)
        .bind(id)
        .fetch_one(executor)
        .await?
        .try_into()
}
