//! Escalation policies, the escalations under way and every page sent.
use super::alerts::corrupt;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::alerts::Severity;
use crate::domain::audit::AuditEvent;
use crate::domain::escalation::{
    Escalation, EscalationEnd, EscalationPolicy, NewPolicy, Page, Step,
};
use crate::domain::notifications::{ChannelKind, NoticeEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct PolicyRow {
    id: i64,
    name: String,
    min_severity: String,
    tags: String,
    levels: String,
    repeat_count: i64,
    created_by: String,
    created_at: i64,
}

impl PolicyRow {
    fn decode(self) -> StoreResult<EscalationPolicy> {
        Ok(EscalationPolicy {
            id: self.id,
            name: self.name,
            min_severity: Severity::parse(&self.min_severity)
                .ok_or_else(|| corrupt("severity", &self.min_severity))?,
            tags: from_json(&self.tags)?,
            levels: from_json(&self.levels)?,
            repeat: u32::try_from(self.repeat_count).unwrap_or(0),
            created_by: self.created_by,
            created_at: from_millis(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EscalationRow {
    id: i64,
    group_key: String,
    policy_id: Option<i64>,
    policy_name: String,
    level_index: i64,
    round_index: i64,
    next_at: Option<i64>,
    started_at: i64,
    ended_at: Option<i64>,
    ended: Option<String>,
    /// Filled only where the alerts are counted.
    #[sqlx(default)]
    open_alerts: Option<i64>,
    #[sqlx(default)]
    acknowledged_by: Option<String>,
}

impl EscalationRow {
    fn decode(self) -> StoreResult<Escalation> {
        Ok(Escalation {
            id: self.id,
            group_key: self.group_key,
            policy_id: self.policy_id,
            policy_name: self.policy_name,
            step: Step {
                level: u32::try_from(self.level_index).unwrap_or(0),
                round: u32::try_from(self.round_index).unwrap_or(0),
            },
            next_at: self.next_at.map(from_millis).transpose()?,
            started_at: from_millis(self.started_at)?,
            ended_at: self.ended_at.map(from_millis).transpose()?,
            end: self.ended.as_deref().map(from_json).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PageRow {
    escalation_id: i64,
    level_index: i64,
    round_index: i64,
    event: String,
    username: String,
    method: String,
    method_id: Option<i64>,
    kind: Option<String>,
    at: i64,
    pending: bool,
    error: Option<String>,
}

impl PageRow {
    fn decode(self) -> StoreResult<Page> {
        Ok(Page {
            escalation_id: self.escalation_id,
            step: Step {
                level: u32::try_from(self.level_index).unwrap_or(0),
                round: u32::try_from(self.round_index).unwrap_or(0),
            },
            event: NoticeEvent::parse(&self.event).ok_or_else(|| corrupt("event", &self.event))?,
            username: self.username,
            method: self.method,
            method_id: self.method_id,
            kind: self.kind.as_deref().and_then(ChannelKind::parse),
            at: from_millis(self.at)?,
            pending: self.pending,
            error: self.error,
        })
    }
}

/// An escalation not yet resolved, with what became of its alerts.
#[derive(Debug, Clone)]
pub struct UnresolvedEscalation {
    pub escalation: Escalation,
    /// Its alerts not resolved (deleted ones are gone from the count).
    pub open_alerts: usize,
    /// Who first took one of its alerts on.
    pub acknowledged_by: Option<String>,
}

const SELECT_POLICIES: &str = "SELECT id, name, min_severity, tags, levels, repeat_count, \
    created_by, created_at FROM escalation_policies ORDER BY name";
const INSERT_POLICY: &str = "INSERT INTO escalation_policies (name, min_severity, tags, levels, \
    repeat_count, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const ESCALATION_COLUMNS: &str = "e.id, e.group_key, e.policy_id, e.policy_name, \
    e.level_index, e.round_index, e.next_at, e.started_at, e.ended_at, e.ended";
/// Opens one per group and policy; a second replica's insert finds the first one's row.
const INSERT_ESCALATION: &str = "INSERT INTO escalations (group_key, policy_id, policy_name, \
    level_index, round_index, started_at) VALUES ($1, $2, $3, 0, 0, $4) \
    ON CONFLICT (group_key, policy_id) WHERE resolved_at IS NULL DO NOTHING RETURNING id";
const SELECT_OPEN_ESCALATION: &str = "SELECT id, ended FROM escalations \
    WHERE group_key = $1 AND policy_id = $2 AND resolved_at IS NULL";
const RESTART_ESCALATION: &str = "UPDATE escalations SET level_index = 0, round_index = 0, \
    next_at = NULL, ended_at = NULL, ended = NULL WHERE id = $1";
/// Alerts joined to an escalation per statement: a fleet-wide group is a few statements,
/// well under either backend's limit of bound values.
const ALERTS_PER_INSERT: usize = 500;
/// Advances only from the step this replica saw, so two replicas never page one step twice.
const CLAIM_STEP: &str = "UPDATE escalations SET level_index = $1, round_index = $2, \
    next_at = $3 WHERE id = $4 AND level_index = $5 AND round_index = $6 \
    AND COALESCE(next_at, -1) = $7 AND ended_at IS NULL RETURNING id";
const END_ESCALATION: &str = "UPDATE escalations SET ended_at = $1, ended = $2 \
    WHERE id = $3 AND ended_at IS NULL RETURNING id";
const RESOLVE_ESCALATION: &str = "UPDATE escalations SET resolved_at = $1, \
    ended_at = COALESCE(ended_at, $1), ended = COALESCE(ended, $2) \
    WHERE id = $3 AND resolved_at IS NULL RETURNING id";
const INSERT_PAGE: &str = "INSERT INTO pages (escalation_id, level_index, round_index, \
    event, username, method, method_id, kind, at, pending, error) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
const FINISH_PAGE: &str = "UPDATE pages SET pending = FALSE, at = $1, error = $2 WHERE id = $3";
const PAGE_COLUMNS: &str = "escalation_id, level_index, round_index, event, username, method, \
    method_id, kind, at, pending, error";

/// Escalation policies, escalations and pages.
#[async_trait]
pub trait EscalationStore: Send + Sync {
    async fn escalation_policies(&self) -> StoreResult<Vec<EscalationPolicy>>;
    /// Refused as a conflict when the name is taken.
    async fn create_policy(
        &self,
        new: &NewPolicy,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<i64>;
    /// Its escalations under way stop paging (as "its policy was deleted").
    async fn delete_policy(&self, id: i64, event: AuditEvent) -> StoreResult<()>;
    /// Adds the alerts to the group's unresolved escalation under the policy, opening one
    /// (audited) if there is none, or starting it again from level 1 if it stopped with
    /// nobody answering; the id is `Some` only when it pages anew.
    async fn open_escalation(
        &self,
        group_key: &str,
        policy: &EscalationPolicy,
        alert_ids: &[i64],
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Option<i64>>;
    async fn unresolved_escalations(&self) -> StoreResult<Vec<UnresolvedEscalation>>;
    /// The alerts an escalation is about, oldest first.
    async fn escalation_alert_ids(&self, id: i64) -> StoreResult<Vec<i64>>;
    /// Moves an escalation from the step it was seen at (`seen`) to `to`, audited; false
    /// when another replica moved it first.
    async fn claim_step(
        &self,
        escalation: &Escalation,
        to: Step,
        next_at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<bool>;
    /// Stops paging, audited; false when it had already stopped.
    async fn end_escalation(
        &self,
        id: i64,
        end: &EscalationEnd,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<bool>;
    /// Marks it resolved (and stopped, if it was not), audited; false when it already was.
    async fn resolve_escalation(
        &self,
        id: i64,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<bool>;
    /// Records a page (a pending one before it is sent); its id is for `finish_page`.
    async fn record_page(&self, page: &Page) -> StoreResult<i64>;
    /// How a pending page went: reached (`error` none) or not, and when that was known.
    async fn finish_page(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()>;
    /// Every page of an escalation, oldest first.
    async fn pages(&self, escalation_id: i64) -> StoreResult<Vec<Page>>;
    /// The escalations an alert is part of, oldest first, each with its pages.
    async fn alert_escalations(&self, alert_id: i64) -> StoreResult<Vec<(Escalation, Vec<Page>)>>;
}

queries_for_any_backend! {
    area EscalationStore rows [PolicyRow, EscalationRow, PageRow, (i64, Option<String>)] {
        async fn escalation_policies(&self) -> StoreResult<Vec<EscalationPolicy>> {
            sqlx::query_as::<DB, PolicyRow>(SELECT_POLICIES)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(PolicyRow::decode)
                .collect()
        }

        async fn create_policy(
            &self,
            new: &NewPolicy,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let taken =
                sqlx::query_as::<DB, (i64,)>("SELECT id FROM escalation_policies WHERE name = $1")
                    .bind(new.name.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a policy called '{}' already exists",
                    new.name
                )));
            }
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_POLICY)
                .bind(new.name.clone())
                .bind(new.min_severity.as_str().to_owned())
                .bind(to_json(&new.tags)?)
                .bind(to_json(&new.levels)?)
                .bind(i64::from(new.repeat))
                .bind(by.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("escalation_policy:{id}"))).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn delete_policy(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM escalation_policies WHERE id = $1 RETURNING id",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn open_escalation(
            &self,
            group_key: &str,
            policy: &EscalationPolicy,
            alert_ids: &[i64],
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Option<i64>> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let opened = sqlx::query_as::<DB, (i64,)>(INSERT_ESCALATION)
                .bind(group_key.to_owned())
                .bind(policy.id)
                .bind(policy.name.clone())
                .bind(to_millis(at))
                .fetch_optional(&mut *tx)
                .await?;
            let (id, paging_anew) = match opened {
                Some((id,)) => (id, true),
                None => {
                    let (id, ended) =
                        sqlx::query_as::<DB, (i64, Option<String>)>(SELECT_OPEN_ESCALATION)
                            .bind(group_key.to_owned())
                            .bind(policy.id)
                            .fetch_one(&mut *tx)
                            .await?;
                    // One that stopped with nobody answering pages again from level 1 for
                    // a new alert; one someone acknowledged takes it in quietly.
                    let ended: Option<EscalationEnd> = ended.as_deref().map(from_json).transpose()?;
                    let unanswered = ended
                        .is_some_and(|end| !matches!(end, EscalationEnd::Acknowledged { .. }));
                    if unanswered {
                        sqlx::query(RESTART_ESCALATION)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    (id, unanswered)
                }
            };
            for chunk in alert_ids.chunks(ALERTS_PER_INSERT) {
                let placeholders: Vec<String> =
                    (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
                // Skips an alert deleted meanwhile.
                let sql = format!(
                    "INSERT INTO escalation_alerts (escalation_id, alert_id) \
                     SELECT $1, id FROM alerts WHERE id IN ({}) ON CONFLICT DO NOTHING",
                    placeholders.join(", ")
                );
                let mut insert = sqlx::query(&sql).bind(id);
                for alert_id in chunk {
                    insert = insert.bind(*alert_id);
                }
                insert.execute(&mut *tx).await?;
            }
            if paging_anew {
                append(&mut tx, event.resource(&format!("escalation:{id}"))).await?;
            }
            tx.commit().await?;
            Ok(paging_anew.then_some(id))
        }

        async fn unresolved_escalations(&self) -> StoreResult<Vec<UnresolvedEscalation>> {
            let sql = format!(
                "SELECT {ESCALATION_COLUMNS}, \
                 (SELECT COUNT(*) FROM escalation_alerts ea JOIN alerts a ON a.id = ea.alert_id \
                  WHERE ea.escalation_id = e.id AND a.state <> 'resolved') AS open_alerts, \
                 (SELECT a.acked_by FROM escalation_alerts ea JOIN alerts a ON a.id = ea.alert_id \
                  WHERE ea.escalation_id = e.id AND a.acked_by IS NOT NULL \
                  ORDER BY a.acked_at LIMIT 1) AS acknowledged_by \
                 FROM escalations e WHERE e.resolved_at IS NULL ORDER BY e.id"
            );
            sqlx::query_as::<DB, EscalationRow>(&sql)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|mut row| {
                    let open_alerts = usize::try_from(row.open_alerts.take().unwrap_or(0))
                        .unwrap_or(0);
                    let acknowledged_by = row.acknowledged_by.take();
                    Ok(UnresolvedEscalation {
                        escalation: row.decode()?,
                        open_alerts,
                        acknowledged_by,
                    })
                })
                .collect()
        }

        async fn escalation_alert_ids(&self, id: i64) -> StoreResult<Vec<i64>> {
            Ok(sqlx::query_as::<DB, (i64,)>(
                "SELECT alert_id FROM escalation_alerts WHERE escalation_id = $1 ORDER BY alert_id",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect())
        }

        async fn claim_step(
            &self,
            escalation: &Escalation,
            to: Step,
            next_at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<bool> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let claimed = sqlx::query_as::<DB, (i64,)>(CLAIM_STEP)
                .bind(i64::from(to.level))
                .bind(i64::from(to.round))
                .bind(to_millis(next_at))
                .bind(escalation.id)
                .bind(i64::from(escalation.step.level))
                .bind(i64::from(escalation.step.round))
                .bind(escalation.next_at.map_or(-1, to_millis))
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            audit_if_changed(tx, claimed, event).await
        }

        async fn end_escalation(
            &self,
            id: i64,
            end: &EscalationEnd,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<bool> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let ended = sqlx::query_as::<DB, (i64,)>(END_ESCALATION)
                .bind(to_millis(at))
                .bind(to_json(end)?)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            audit_if_changed(tx, ended, event).await
        }

        async fn resolve_escalation(
            &self,
            id: i64,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<bool> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let resolved = sqlx::query_as::<DB, (i64,)>(RESOLVE_ESCALATION)
                .bind(to_millis(at))
                .bind(to_json(&EscalationEnd::Resolved)?)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            audit_if_changed(tx, resolved, event).await
        }

        async fn record_page(&self, page: &Page) -> StoreResult<i64> {
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_PAGE)
                .bind(page.escalation_id)
                .bind(i64::from(page.step.level))
                .bind(i64::from(page.step.round))
                .bind(page.event.as_str().to_owned())
                .bind(page.username.clone())
                .bind(page.method.clone())
                .bind(page.method_id)
                .bind(page.kind.map(|k| k.as_str().to_owned()))
                .bind(to_millis(page.at))
                .bind(page.pending)
                .bind(page.error.clone())
                .fetch_one(self.pool())
                .await?;
            Ok(id)
        }

        async fn finish_page(
            &self,
            id: i64,
            at: DateTime<Utc>,
            error: Option<String>,
        ) -> StoreResult<()> {
            sqlx::query(FINISH_PAGE)
                .bind(to_millis(at))
                .bind(error)
                .bind(id)
                .execute(self.pool())
                .await?;
            Ok(())
        }

        async fn pages(&self, escalation_id: i64) -> StoreResult<Vec<Page>> {
            let sql = format!(
                "SELECT {PAGE_COLUMNS} FROM pages WHERE escalation_id = $1 ORDER BY id"
            );
            sqlx::query_as::<DB, PageRow>(&sql)
                .bind(escalation_id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(PageRow::decode)
                .collect()
        }

        async fn alert_escalations(
            &self,
            alert_id: i64,
        ) -> StoreResult<Vec<(Escalation, Vec<Page>)>> {
            let sql = format!(
                "SELECT {ESCALATION_COLUMNS} FROM escalations e \
                 JOIN escalation_alerts ea ON ea.escalation_id = e.id \
                 WHERE ea.alert_id = $1 ORDER BY e.id"
            );
            let escalations = sqlx::query_as::<DB, EscalationRow>(&sql)
                .bind(alert_id)
                .fetch_all(self.pool())
                .await?;
            let mut out = Vec::new();
            for row in escalations {
                let escalation = row.decode()?;
                let pages = self.pages(escalation.id).await?;
                out.push((escalation, pages));
            }
            Ok(out)
        }
    }
}

/// Ends a guarded change: audits and commits it when it took (`changed`), and says whether it
/// did; a change another replica made first is left without an entry.
async fn audit_if_changed<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    changed: bool,
    event: AuditEvent,
) -> StoreResult<bool>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    if changed {
        append(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
