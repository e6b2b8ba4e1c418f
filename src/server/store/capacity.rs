//! What capacity planning reads: load per period summed over targets, and each user's what-if
//! inputs. SQL shared by both dialects.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{SampleTable, from_millis, to_millis};
use super::{StoreResult, numbered_params};
use crate::domain::audit::AuditEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

/// Load aggregates and what-if capacity inputs.
#[async_trait]
pub trait CapacityStore: Send + Sync {
    /// A user's what-if capacity inputs for a scope (JSON) and when they were saved.
    async fn capacity_plan(
        &self,
        user_id: i64,
        scope: &str,
    ) -> StoreResult<Option<(String, DateTime<Utc>)>>;
    /// `overrides: None` removes them.
    async fn save_capacity_plan(
        &self,
        user_id: i64,
        scope: &str,
        overrides: Option<&str>,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// Load per period of `table` in `[from, to)`, summed over the targets (all when `None`).
    async fn load(
        &self,
        table: SampleTable,
        target_ids: Option<&[i64]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<LoadRow>>;
}

queries_for_any_backend! {
    area CapacityStore rows [LoadRow] {
        async fn capacity_plan(
            &self,
            user_id: i64,
            scope: &str,
        ) -> StoreResult<Option<(String, DateTime<Utc>)>> {
            sqlx::query_as::<DB, (String, i64)>(SELECT_PLAN)
                .bind(user_id)
                .bind(scope.to_owned())
                .fetch_optional(self.pool())
                .await?
                .map(|(overrides, at)| Ok((overrides, from_millis(at)?)))
                .transpose()
        }

        /// `overrides: None` removes the user's what-if inputs for the scope.
        async fn save_capacity_plan(
            &self,
            user_id: i64,
            scope: &str,
            overrides: Option<&str>,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
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

        async fn load(
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
            Ok(query.fetch_all(self.pool()).await?)
        }
    }
}
