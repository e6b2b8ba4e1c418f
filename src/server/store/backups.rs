//! Backup runs, per-user what-if capacity inputs, the load aggregates capacity planning
//! reads, and row counts for checking a restore. SQL shared by both dialects.
use super::accounts::append;
use super::dialect::queries_for_any_backend;
use super::polls::{SampleTable, from_millis, to_millis};
use super::{StoreError, StoreResult, numbered_params};
use crate::domain::audit::AuditEvent;
use crate::domain::backups::{BackupRun, NewBackupRun, RunKind};
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool};
use std::collections::BTreeMap;

/// One period of load summed over the targets in scope.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LoadRow {
    pub at: i64,
    pub requests: Option<f64>,
    /// CPU seconds used, and the requests served while CPU was measured.
    pub cpu_seconds: Option<f64>,
    pub cpu_requests: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub connections: Option<f64>,
    /// Σ p50 × requests, and the requests it covers: a request-weighted typical latency.
    pub latency_weighted: Option<f64>,
    pub latency_requests: Option<f64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    id: i64,
    kind: String,
    actor: String,
    archive: String,
    started_at: i64,
    finished_at: i64,
    ok: bool,
    bytes: Option<i64>,
    detail: String,
}

impl TryFrom<RunRow> for BackupRun {
    type Error = StoreError;
    fn try_from(row: RunRow) -> StoreResult<Self> {
        Ok(BackupRun {
            id: row.id,
            kind: RunKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown run kind '{}'", row.kind)))?,
            actor: row.actor,
            archive: row.archive,
            started_at: from_millis(row.started_at)?,
            finished_at: from_millis(row.finished_at)?,
            ok: row.ok,
            bytes: row.bytes,
            detail: row.detail,
        })
    }
}

const INSERT_RUN: &str = "INSERT INTO backup_runs (kind, actor, archive, started_at, finished_at, \
    ok, bytes, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const SELECT_RUNS: &str = "SELECT id, kind, actor, archive, started_at, finished_at, ok, bytes, \
    detail FROM backup_runs ORDER BY finished_at DESC, id DESC LIMIT $1";
const SELECT_PLAN: &str =
    "SELECT overrides, updated_at FROM capacity_plans WHERE user_id = $1 AND scope = $2";
const UPSERT_PLAN: &str = "INSERT INTO capacity_plans (user_id, scope, overrides, updated_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, scope) \
    DO UPDATE SET overrides = excluded.overrides, updated_at = excluded.updated_at";
const DELETE_PLAN: &str = "DELETE FROM capacity_plans WHERE user_id = $1 AND scope = $2";

/// The aggregate over `table` in `[$1, $2)`, optionally for some targets only.
fn load_sql(table: SampleTable, targets: Option<usize>) -> String {
    let filter = match targets {
        Some(n) => format!(" AND target_id IN ({})", numbered_params(3, n)),
        None => String::new(),
    };
    format!(
        "SELECT at, SUM(requests) AS requests, \
         SUM(cpu_cores * seconds) AS cpu_seconds, \
         SUM(CASE WHEN cpu_cores IS NOT NULL THEN requests END) AS cpu_requests, \
         SUM(memory_bytes) AS memory_bytes, SUM(active_connections) AS connections, \
         SUM(p50 * requests) AS latency_weighted, \
         SUM(CASE WHEN p50 IS NOT NULL THEN requests END) AS latency_requests \
         FROM {} WHERE at >= $1 AND at < $2{filter} GROUP BY at ORDER BY at",
        table.name()
    )
}

pub(super) struct BackupQueries<'p, DB: Database>(pub &'p Pool<DB>);

queries_for_any_backend! {
    impl BackupQueries rows [RunRow, LoadRow] {
        pub async fn record_run(&self, run: &NewBackupRun, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
            sqlx::query::<DB>(INSERT_RUN)
                .bind(run.kind.as_str().to_owned())
                .bind(run.actor.clone())
                .bind(run.archive.clone())
                .bind(to_millis(run.started_at))
                .bind(to_millis(run.finished_at))
                .bind(run.ok)
                .bind(run.bytes)
                .bind(run.detail.clone())
                .execute(&mut *tx)
                .await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        pub async fn runs(&self, limit: i64) -> StoreResult<Vec<BackupRun>> {
            sqlx::query_as::<DB, RunRow>(SELECT_RUNS)
                .bind(limit)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(BackupRun::try_from)
                .collect()
        }

        pub async fn capacity_plan(
            &self,
            user_id: i64,
            scope: &str,
        ) -> StoreResult<Option<(String, DateTime<Utc>)>> {
            sqlx::query_as::<DB, (String, i64)>(SELECT_PLAN)
                .bind(user_id)
                .bind(scope.to_owned())
                .fetch_optional(self.0)
                .await?
                .map(|(overrides, at)| Ok((overrides, from_millis(at)?)))
                .transpose()
        }

        /// `overrides: None` removes the user's what-if inputs for the scope.
        pub async fn save_capacity_plan(
            &self,
            user_id: i64,
            scope: &str,
            overrides: Option<&str>,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.0).await?;
            match overrides {
                Some(json) => {
                    sqlx::query::<DB>(UPSERT_PLAN)
                        .bind(user_id)
                        .bind(scope.to_owned())
                        .bind(json.to_owned())
                        .bind(to_millis(at))
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query::<DB>(DELETE_PLAN)
                        .bind(user_id)
                        .bind(scope.to_owned())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        pub async fn load(
            &self,
            table: SampleTable,
            target_ids: Option<&[i64]>,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> StoreResult<Vec<LoadRow>> {
            let sql = load_sql(table, target_ids.map(<[i64]>::len));
            let mut query = sqlx::query_as::<DB, LoadRow>(&sql)
                .bind(to_millis(from))
                .bind(to_millis(to));
            for id in target_ids.unwrap_or_default() {
                query = query.bind(*id);
            }
            Ok(query.fetch_all(self.0).await?)
        }

        /// Rows in every table of the application's schema (not the migration ledger).
        pub async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>> {
            let tables = sqlx::query_as::<DB, (String,)>(DB::LIST_TABLES)
                .fetch_all(self.0)
                .await?;
            let mut counts = BTreeMap::new();
            for (table,) in tables {
                if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                let (count,) = sqlx::query_as::<DB, (i64,)>(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(self.0)
                    .await?;
                counts.insert(table, count);
            }
            Ok(counts)
        }

        /// The newest migration applied.
        pub async fn schema_version(&self) -> StoreResult<i64> {
            let (version,) = sqlx::query_as::<DB, (i64,)>(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(self.0)
            .await?;
            Ok(version)
        }
    }
}
