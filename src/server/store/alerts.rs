//! Alerts and what steers them: baseline overrides, transitions, channels and deliveries,
//! silences, accepted tool lists and deploy markers. SQL shared by both dialects; every
//! audited change writes its audit entry in the same transaction.
use super::accounts::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult, numbered_params};
use crate::domain::alerts::{
    Alert, AlertQuery, AlertState, AlertStep, BaselineOverride, OverrideRecord, RuleKind, Scope,
    Severity,
};
use crate::domain::audit::AuditEvent;
use crate::domain::deploys::Deploy;
use crate::domain::notifications::{
    Channel, ChannelKind, Delivery, NewChannel, NoticeEvent, WebhookUrl,
};
use crate::domain::observation::Tool;
use crate::domain::silences::{Matchers, NewSilence, Recurrence, Silence};
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, Pool};

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

fn corrupt(what: &str, raw: &str) -> StoreError {
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

#[derive(sqlx::FromRow)]
pub(super) struct ChannelRow {
    id: i64,
    name: String,
    kind: String,
    url: String,
    min_severity: String,
    tags: String,
    created_by: String,
    created_at: i64,
}

impl ChannelRow {
    fn decode(self) -> StoreResult<(Channel, WebhookUrl)> {
        let url = WebhookUrl::parse(&self.url).map_err(StoreError::Corrupt)?;
        Ok((
            Channel {
                id: self.id,
                name: self.name,
                kind: ChannelKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
                url_redacted: url.redacted(),
                min_severity: Severity::parse(&self.min_severity)
                    .ok_or_else(|| corrupt("severity", &self.min_severity))?,
                tags: from_json(&self.tags)?,
                created_by: self.created_by,
                created_at: from_millis(self.created_at)?,
            },
            url,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    channel_id: i64,
    alert_id: Option<i64>,
    event: String,
    attempt: i64,
    at: i64,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SilenceRow {
    id: i64,
    target: Option<String>,
    tag: Option<String>,
    rule: Option<String>,
    owner: String,
    reason: String,
    starts_at: i64,
    ends_at: i64,
    recurrence: Option<String>,
    created_at: i64,
}

impl TryFrom<SilenceRow> for Silence {
    type Error = StoreError;
    fn try_from(row: SilenceRow) -> StoreResult<Self> {
        let rule = row
            .rule
            .map(|r| RuleKind::parse(&r).ok_or_else(|| corrupt("rule", &r)))
            .transpose()?;
        let recurrence: Option<Recurrence> =
            row.recurrence.as_deref().map(from_json).transpose()?;
        Ok(Silence {
            id: row.id,
            matchers: Matchers {
                target: row.target,
                tag: row.tag,
                rule,
            },
            owner: row.owner,
            reason: row.reason,
            starts_at: from_millis(row.starts_at)?,
            ends_at: from_millis(row.ends_at)?,
            recurrence,
            created_at: from_millis(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeployRow {
    id: i64,
    target_id: Option<i64>,
    tag: Option<String>,
    version: String,
    note: String,
    at: i64,
    created_by: String,
}

impl TryFrom<DeployRow> for Deploy {
    type Error = StoreError;
    fn try_from(row: DeployRow) -> StoreResult<Self> {
        Ok(Deploy {
            id: row.id,
            target_id: row.target_id,
            tag: row.tag,
            version: row.version,
            note: row.note,
            at: from_millis(row.at)?,
            created_by: row.created_by,
        })
    }
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
const SELECT_CHANNELS: &str = "SELECT id, name, kind, url, min_severity, tags, created_by, \
    created_at FROM channels ORDER BY name";
const INSERT_CHANNEL: &str = "INSERT INTO channels (name, kind, url, min_severity, tags, \
    created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const DELETE_CHANNEL: &str = "DELETE FROM channels WHERE id = $1 RETURNING id";
const INSERT_DELIVERY: &str = "INSERT INTO deliveries (channel_id, alert_id, event, attempt, at, \
    error) VALUES ($1, $2, $3, $4, $5, $6)";
const SELECT_SILENCES: &str = "SELECT id, target, tag, rule, owner, reason, starts_at, ends_at, \
    recurrence, created_at FROM silences";
const INSERT_SILENCE: &str = "INSERT INTO silences (target, tag, rule, owner, reason, starts_at, \
    ends_at, recurrence, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
const EXPIRE_SILENCE: &str =
    "UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1 RETURNING id";
const SELECT_TOOL_ACKS: &str = "SELECT target_id, tools FROM tool_acks";
const UPSERT_TOOL_ACK: &str = "INSERT INTO tool_acks (target_id, tools, acked_by, acked_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (target_id) DO UPDATE SET tools = excluded.tools, \
    acked_by = excluded.acked_by, acked_at = excluded.acked_at";
const LATEST_CATALOG: &str =
    "SELECT target_id, tools FROM tool_catalogs WHERE target_id = $1 ORDER BY id DESC LIMIT 1";
const SELECT_DEPLOYS: &str =
    "SELECT id, target_id, tag, version, note, at, created_by FROM deploys";
const INSERT_DEPLOY: &str = "INSERT INTO deploys (target_id, tag, version, note, at, created_by) \
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

pub(super) struct AlertQueries<'p, DB: Database>(pub &'p Pool<DB>);

queries_for_any_backend! {
    impl AlertQueries rows [AlertRow, StepRow, OverrideRow, ChannelRow, DeliveryRow, SilenceRow, DeployRow] {
        pub async fn count(&self, states: &[AlertState]) -> StoreResult<Vec<(AlertState, i64)>> {
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
            q.fetch_all(self.0)
                .await?
                .into_iter()
                .map(|(count, state)| {
                    AlertState::parse(&state)
                        .map(|state| (state, count))
                        .ok_or_else(|| corrupt("alert state", &state))
                })
                .collect()
        }

        pub async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
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
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(Alert::try_from)
                .collect()
        }

        pub async fn alert(&self, id: i64) -> StoreResult<(Alert, Vec<AlertStep>)> {
            let alert = self.alert_in(self.0, id).await?;
            let steps = sqlx::query_as::<DB, StepRow>(SELECT_STEPS)
                .bind(id)
                .fetch_all(self.0)
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

        async fn alert_in<'e, E>(&self, executor: E, id: i64) -> StoreResult<Alert>
        where
            E: Executor<'e, Database = DB>,
        {
            let sql = format!("{SELECT_ALERTS} WHERE a.id = $1");
            sqlx::query_as::<DB, AlertRow>(&sql)
                .bind(id)
                .fetch_one(executor)
                .await?
                .try_into()
        }

        pub async fn open(&self, new: &NewAlert, event: AuditEvent) -> StoreResult<Alert> {
            let at = to_millis(new.at);
            let mut tx = DB::begin_serialized(self.0).await?;
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
            let alert = self.alert_in(&mut *tx, id).await?;
            tx.commit().await?;
            Ok(alert)
        }

        /// Moves an alert to another state, refused (as a conflict naming the current state)
        /// when it is no longer in one of the expected states. Accepting a drift alert also
        /// accepts the target's current tool list.
        pub async fn change(
            &self,
            id: i64,
            change: &AlertChange<'_>,
            event: AuditEvent,
        ) -> StoreResult<Alert> {
            let at = to_millis(change.at);
            let mut tx = DB::begin_serialized(self.0).await?;
            let mut alert = self.alert_in(&mut *tx, id).await?;
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
                    sqlx::query::<DB>(UPSERT_TOOL_ACK)
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

        pub async fn overrides(&self) -> StoreResult<Vec<OverrideRecord>> {
            sqlx::query_as::<DB, OverrideRow>(SELECT_OVERRIDES)
                .fetch_all(self.0)
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

        pub async fn save_override(
            &self,
            o: &BaselineOverride,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn delete_override(&self, scope: &Scope, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn channels(&self) -> StoreResult<Vec<(Channel, WebhookUrl)>> {
            sqlx::query_as::<DB, ChannelRow>(SELECT_CHANNELS)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(ChannelRow::decode)
                .collect()
        }

        pub async fn create_channel(
            &self,
            new: &NewChannel,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Channel> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_CHANNEL)
                .bind(new.name.clone())
                .bind(new.kind.as_str().to_owned())
                .bind(new.url.as_str().to_owned())
                .bind(new.min_severity.as_str().to_owned())
                .bind(to_json(&new.tags)?)
                .bind(by.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| match StoreError::from(err) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("a channel named {} exists", new.name))
                    }
                    other => other,
                })?;
            append(&mut tx, event.resource(&format!("channel:{id}"))).await?;
            tx.commit().await?;
            Ok(Channel {
                id,
                name: new.name.clone(),
                kind: new.kind,
                url_redacted: new.url.redacted(),
                min_severity: new.min_severity,
                tags: new.tags.clone(),
                created_by: by.to_owned(),
                created_at: at,
            })
        }

        pub async fn delete_channel(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
            sqlx::query_as::<DB, (i64,)>(DELETE_CHANNEL)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        pub async fn record_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
            sqlx::query::<DB>(INSERT_DELIVERY)
                .bind(delivery.channel_id)
                .bind(delivery.alert_id)
                .bind(delivery.event.as_str().to_owned())
                .bind(i64::from(delivery.attempt))
                .bind(to_millis(delivery.at))
                .bind(delivery.error.clone())
                .execute(self.0)
                .await?;
            Ok(())
        }

        /// The newest deliveries, of one channel or of all.
        pub async fn deliveries(
            &self,
            channel_id: Option<i64>,
            limit: i64,
        ) -> StoreResult<Vec<Delivery>> {
            let filter = if channel_id.is_some() {
                "WHERE channel_id = $2"
            } else {
                ""
            };
            let sql = format!(
                "SELECT channel_id, alert_id, event, attempt, at, error FROM deliveries {filter} \
                 ORDER BY id DESC LIMIT $1"
            );
            let mut q = sqlx::query_as::<DB, DeliveryRow>(&sql).bind(limit.clamp(1, 1000));
            if let Some(id) = channel_id {
                q = q.bind(id);
            }
            q.fetch_all(self.0)
                .await?
                .into_iter()
                .map(|row| {
                    let event = match row.event.as_str() {
                        "firing" => NoticeEvent::Firing,
                        "resolved" => NoticeEvent::Resolved,
                        "test" => NoticeEvent::Test,
                        other => return Err(corrupt("event", other)),
                    };
                    Ok(Delivery {
                        channel_id: row.channel_id,
                        alert_id: row.alert_id,
                        event,
                        attempt: u32::try_from(row.attempt).unwrap_or(0),
                        at: from_millis(row.at)?,
                        error: row.error,
                    })
                })
                .collect()
        }

        /// Silences that end after `since`, newest first.
        pub async fn silences(&self, since: DateTime<Utc>) -> StoreResult<Vec<Silence>> {
            let sql = format!("{SELECT_SILENCES} WHERE ends_at > $1 ORDER BY starts_at DESC, id DESC");
            sqlx::query_as::<DB, SilenceRow>(&sql)
                .bind(to_millis(since))
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(Silence::try_from)
                .collect()
        }

        pub async fn create_silence(
            &self,
            new: &NewSilence,
            owner: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Silence> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_SILENCE)
                .bind(new.matchers.target.clone())
                .bind(new.matchers.tag.clone())
                .bind(new.matchers.rule.map(|r| r.as_str().to_owned()))
                .bind(owner.to_owned())
                .bind(new.reason.clone())
                .bind(to_millis(new.starts_at))
                .bind(to_millis(new.ends_at))
                .bind(new.recurrence.as_ref().map(to_json).transpose()?)
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("silence:{id}"))).await?;
            tx.commit().await?;
            Ok(Silence {
                id,
                matchers: new.matchers.clone(),
                owner: owner.to_owned(),
                reason: new.reason.clone(),
                starts_at: new.starts_at,
                ends_at: new.ends_at,
                recurrence: new.recurrence.clone(),
                created_at: at,
            })
        }

        /// Ends a silence now; refused when it has already ended.
        pub async fn expire_silence(
            &self,
            id: i64,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
            sqlx::query_as::<DB, (i64,)>(EXPIRE_SILENCE)
                .bind(to_millis(at))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::Conflict("that silence has already ended".into()))?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        pub async fn tool_acks(&self) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
            Self::decode_catalogs(
                sqlx::query_as::<DB, (i64, String)>(SELECT_TOOL_ACKS)
                    .fetch_all(self.0)
                    .await?,
            )
        }

        pub async fn latest_catalogs(&self, target_ids: &[i64]) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
            if target_ids.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.target_id, c.tools FROM tool_catalogs c WHERE c.target_id IN ({}) \
                 AND c.id = (SELECT MAX(id) FROM tool_catalogs WHERE target_id = c.target_id)",
                numbered_params(1, target_ids.len())
            );
            let mut query = sqlx::query_as::<DB, (i64, String)>(&sql);
            for id in target_ids {
                query = query.bind(*id);
            }
            Self::decode_catalogs(query.fetch_all(self.0).await?)
        }

        fn decode_catalogs(rows: Vec<(i64, String)>) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
            rows.into_iter()
                .map(|(id, tools)| Ok((id, from_json(&tools)?)))
                .collect()
        }

        /// Records the tool list drift is measured against (the first one seen is accepted by
        /// the engine without an audit entry; an operator's acceptance is audited).
        pub async fn accept_tools(
            &self,
            target_id: i64,
            tools: &[Tool],
            by: &str,
            at: DateTime<Utc>,
        ) -> StoreResult<()> {
            sqlx::query::<DB>(UPSERT_TOOL_ACK)
                .bind(target_id)
                .bind(to_json(&tools)?)
                .bind(by.to_owned())
                .bind(to_millis(at))
                .execute(self.0)
                .await?;
            Ok(())
        }

        pub async fn create_deploy(&self, deploy: &Deploy, event: AuditEvent) -> StoreResult<Deploy> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_DEPLOY)
                .bind(deploy.target_id)
                .bind(deploy.tag.clone())
                .bind(deploy.version.clone())
                .bind(deploy.note.clone())
                .bind(to_millis(deploy.at))
                .bind(deploy.created_by.clone())
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("deploy:{id}"))).await?;
            tx.commit().await?;
            Ok(Deploy {
                id,
                ..deploy.clone()
            })
        }

        pub async fn deploys(
            &self,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> StoreResult<Vec<Deploy>> {
            let sql = format!("{SELECT_DEPLOYS} WHERE at >= $1 AND at < $2 ORDER BY at DESC LIMIT 500");
            sqlx::query_as::<DB, DeployRow>(&sql)
                .bind(to_millis(from))
                .bind(to_millis(to))
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(Deploy::try_from)
                .collect()
        }
    }
}
