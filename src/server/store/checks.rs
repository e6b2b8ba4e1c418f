//! Synthetic tool calls: the checks admins define and the result of each call. SQL shared by
//! both dialects; times are Unix milliseconds.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::checks::{CheckResult, CheckSpec, MAX_CHECKS_PER_TARGET, Outcome, ToolCheck};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct CheckRow {
    id: i64,
    target_id: i64,
    spec: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<CheckRow> for ToolCheck {
    type Error = StoreError;
    fn try_from(row: CheckRow) -> StoreResult<Self> {
        Ok(ToolCheck {
            id: row.id,
            target_id: row.target_id,
            spec: from_json(&row.spec)?,
            created_by: row.created_by,
            created_at: from_millis(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ResultRow {
    check_id: i64,
    target_id: i64,
    at: i64,
    ms: Option<f64>,
    outcome: String,
    reason: Option<String>,
}

impl TryFrom<ResultRow> for CheckResult {
    type Error = StoreError;
    fn try_from(row: ResultRow) -> StoreResult<Self> {
        Ok(CheckResult {
            check_id: row.check_id,
            target_id: row.target_id,
            at: from_millis(row.at)?,
            ms: row.ms,
            outcome: Outcome::from_parts(&row.outcome, row.reason),
        })
    }
}

const SELECT_CHECKS: &str = "SELECT id, target_id, spec, created_by, created_at FROM tool_checks";

/// Synthetic tool calls and their results.
#[async_trait]
pub trait CheckStore: Send + Sync {
    /// Synthetic tool calls: every target's checks, or one target's, oldest first.
    async fn tool_checks(&self, target_id: Option<i64>) -> StoreResult<Vec<ToolCheck>>;
    async fn add_tool_check(
        &self,
        target_id: i64,
        spec: &CheckSpec,
        created_by: &str,
        event: AuditEvent,
    ) -> StoreResult<ToolCheck>;
    /// Removes a check of `target_id` and its results.
    async fn remove_tool_check(
        &self,
        target_id: i64,
        id: i64,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// A target's call results since `from`, by check, oldest first.
    async fn check_results(
        &self,
        target_id: i64,
        from: DateTime<Utc>,
    ) -> StoreResult<Vec<CheckResult>>;
    /// Retention: results older than `cutoff` and those of deleted checks.
    async fn delete_check_results_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
}

queries_for_any_backend! {
    area CheckStore rows [CheckRow, ResultRow] {
        /// Every check, or one target's, in the order they were made.
        async fn tool_checks(&self, target_id: Option<i64>) -> StoreResult<Vec<ToolCheck>> {
            let rows = match target_id {
                Some(id) => {
                    sqlx::query_as::<DB, CheckRow>(&format!(
                        "{SELECT_CHECKS} WHERE target_id = $1 ORDER BY id"
                    ))
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?
                }
                None => {
                    sqlx::query_as::<DB, CheckRow>(&format!("{SELECT_CHECKS} ORDER BY id"))
                        .fetch_all(self.pool())
                        .await?
                }
            };
            rows.into_iter().map(ToolCheck::try_from).collect()
        }

        /// Adds a check with its audit entry; refused past `MAX_CHECKS_PER_TARGET`.
        async fn add_tool_check(
            &self,
            target_id: i64,
            spec: &CheckSpec,
            created_by: &str,
            event: AuditEvent,
        ) -> StoreResult<ToolCheck> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (count,) =
                sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM tool_checks WHERE target_id = $1")
                    .bind(target_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= MAX_CHECKS_PER_TARGET as i64 {
                return Err(StoreError::Conflict(format!(
                    "a target has at most {MAX_CHECKS_PER_TARGET} synthetic calls; remove one first"
                )));
            }
            let (id,) = sqlx::query_as::<DB, (i64,)>(
                "INSERT INTO tool_checks (target_id, spec, created_by, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(target_id)
            .bind(to_json(spec)?)
            .bind(created_by.to_owned())
            .bind(to_millis(Utc::now()))
            .fetch_one(&mut *tx)
            .await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            sqlx::query_as::<DB, CheckRow>(&format!("{SELECT_CHECKS} WHERE id = $1"))
                .bind(id)
                .fetch_one(self.pool())
                .await?
                .try_into()
        }

        /// Removes a check of `target_id` and its results, with its audit entry.
        async fn remove_tool_check(&self, target_id: i64, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM tool_checks WHERE id = $1 AND target_id = $2 RETURNING id",
            )
            .bind(id)
            .bind(target_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            sqlx::query::<DB>("DELETE FROM check_results WHERE check_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        /// A target's call results since `from`, by check, oldest first.
        async fn check_results(
            &self,
            target_id: i64,
            from: DateTime<Utc>,
        ) -> StoreResult<Vec<CheckResult>> {
            sqlx::query_as::<DB, ResultRow>(
                "SELECT check_id, target_id, at, ms, outcome, reason FROM check_results \
                 WHERE target_id = $1 AND at >= $2 ORDER BY check_id, at",
            )
            .bind(target_id)
            .bind(to_millis(from))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(CheckResult::try_from)
            .collect()
        }

        /// Retention: results older than `cutoff`, and those of checks since deleted (with their
        /// target, say), returning how many went.
        async fn delete_check_results_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
            let old = sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM check_results WHERE at < $1 RETURNING check_id",
            )
            .bind(to_millis(cutoff))
            .fetch_all(self.pool())
            .await?;
            let orphaned = sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM check_results WHERE check_id NOT IN (SELECT id FROM tool_checks) \
                 RETURNING check_id",
            )
            .fetch_all(self.pool())
            .await?;
            Ok((old.len() + orphaned.len()) as u64)
        }
    }
}
