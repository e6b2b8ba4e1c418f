//! The audit log: a hash chain appended inside the transaction of each change it records. The
//! SQL is shared by both dialects except for the two places `Dialect` covers: how appends are
//! serialized, and full-text search.
use super::dialect::queries_for_any_backend;
use super::{StoreError, StoreResult, value_rows};
use crate::domain::audit::{
    AuditEntry, AuditEvent, AuditFilter, GENESIS_HASH, Outcome, RequestOrigin,
};
use async_trait::async_trait;
use chrono::Utc;
use sqlx::{Database, Executor, IntoArguments, Transaction};

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    at_ms: i64,
    event_type: String,
    actor: String,
    action: String,
    resource: String,
    result: String,
    ip: String,
    user_agent: String,
    request_id: String,
    reason: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> StoreResult<Self> {
        Ok(Self {
            seq: row.seq,
            at_ms: row.at_ms,
            event: AuditEvent {
                event_type: row.event_type,
                actor: row.actor,
                action: row.action,
                resource: row.resource,
                result: Outcome::parse(&row.result).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown audit result '{}'", row.result))
                })?,
                origin: RequestOrigin {
                    ip: row.ip,
                    user_agent: row.user_agent,
                    request_id: row.request_id,
                },
                reason: row.reason,
                details: row.details,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

const AUDIT_COLUMNS: &str = "seq, at_ms, event_type, actor, action, resource, result, ip, \
    user_agent, request_id, reason, details, prev_hash, hash";
const AUDIT_TAIL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at_ms, event_type, actor, action, \
    resource, result, ip, user_agent, request_id, reason, details, prev_hash, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// A bind value for queries assembled from optional filters.
enum Param {
    Text(String),
    Int(i64),
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry on its own (for events that change nothing else, such as a login).
    async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditEntry>;
    /// Appends entries chained elsewhere (bulk seeding for the benchmark); they must continue
    /// the chain from its current tail.
    async fn append_chained_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first: at most `limit` entries matching `filter` with `seq < before`.
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Oldest first: at most `limit` entries with `seq > after`.
    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditEntry>>;
    /// An entry and its predecessor.
    async fn audit_entry(&self, seq: i64) -> StoreResult<(Option<AuditEntry>, AuditEntry)>;
}

queries_for_any_backend! {
    area AuditStore rows [AuditRow] {
        async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditEntry> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let entry = append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(entry)
        }

        /// Appends entries already chained in order; refused unless the first follows the tail.
        async fn append_chained_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
            let Some(first) = entries.first() else {
                return Ok(());
            };
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let tail = sqlx::query_as::<DB, (i64, String)>(AUDIT_TAIL)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
            if (first.seq, first.prev_hash.as_str()) != (tail.0 + 1, tail.1.as_str()) {
                return Err(StoreError::Conflict(
                    "these entries do not continue the audit chain".into(),
                ));
            }
            // Small statements: sqlx resolves each `$N` of a SQLite statement by scanning the
            // parameter names, so the cost of one statement grows with the square of its size.
            for chunk in entries.chunks(32) {
                let sql = format!(
                    "INSERT INTO audit_log (seq, at_ms, event_type, actor, action, resource, result, \
                     ip, user_agent, request_id, reason, details, prev_hash, hash) VALUES {}",
                    value_rows(chunk.len(), 14)
                );
                let mut query = sqlx::query::<DB>(&sql);
                for entry in chunk {
                    let e = &entry.event;
                    query = query
                        .bind(entry.seq)
                        .bind(entry.at_ms)
                        .bind(e.event_type.clone())
                        .bind(e.actor.clone())
                        .bind(e.action.clone())
                        .bind(e.resource.clone())
                        .bind(e.result.as_str().to_owned())
                        .bind(e.origin.ip.clone())
                        .bind(e.origin.user_agent.clone())
                        .bind(e.origin.request_id.clone())
                        .bind(e.reason.clone())
                        .bind(e.details.clone())
                        .bind(entry.prev_hash.clone())
                        .bind(entry.hash.clone());
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Newest first, `limit` entries with `seq < before`.
        async fn search_audit(
            &self,
            filter: &AuditFilter,
            before: Option<i64>,
            limit: i64,
        ) -> StoreResult<Vec<AuditEntry>> {
            let mut conditions = Vec::new();
            let mut params = Vec::new();
            let mut add = |column: &str, param: Param| {
                params.push(param);
                conditions.push(format!("{column} ${}", params.len()));
            };
            if let Some(actor) = &filter.actor {
                add("a.actor =", Param::Text(actor.clone()));
            }
            if let Some(event_type) = &filter.event_type {
                add("a.event_type =", Param::Text(event_type.clone()));
            }
            if let Some(action) = &filter.action {
                add("a.action =", Param::Text(action.clone()));
            }
            if let Some(resource) = &filter.resource {
                add("a.resource =", Param::Text(resource.clone()));
            }
            if let Some(result) = filter.result {
                add("a.result =", Param::Text(result.as_str().to_owned()));
            }
            if let Some(from) = filter.from_ms {
                add("a.at_ms >=", Param::Int(from));
            }
            if let Some(to) = filter.to_ms {
                add("a.at_ms <", Param::Int(to));
            }
            if let Some(before) = before {
                add("a.seq <", Param::Int(before));
            }
            let text_param = DB::text_query(filter).map(|text| {
                params.push(Param::Text(text));
                params.len()
            });
            let shape = DB::search_shape(text_param);
            conditions.extend(shape.condition);
            params.push(Param::Int(limit));
            let limit_param = params.len();
            let where_clause = if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            };
            let columns = AUDIT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {columns} FROM {} {where_clause} ORDER BY {} LIMIT ${limit_param}",
                shape.from, shape.order
            );
            let mut query = sqlx::query_as::<DB, AuditRow>(&sql);
            for param in params {
                query = match param {
                    Param::Text(text) => query.bind(text),
                    Param::Int(int) => query.bind(int),
                };
            }
            query
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
        }

        /// Oldest first, `limit` entries with `seq > after`: the order `verify-audit` walks in.
        async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditEntry>> {
            let sql =
                format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
            sqlx::query_as::<DB, AuditRow>(&sql)
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
        }

        /// One entry and the one before it (to check its link).
        async fn audit_entry(&self, seq: i64) -> StoreResult<(Option<AuditEntry>, AuditEntry)> {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq <= $1 ORDER BY seq DESC LIMIT 2"
            );
            let mut rows = sqlx::query_as::<DB, AuditRow>(&sql)
                .bind(seq)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(AuditEntry::try_from);
            let entry = rows.next().ok_or(StoreError::NotFound)??;
            if entry.seq != seq {
                return Err(StoreError::NotFound);
            }
            Ok((rows.next().transpose()?, entry))
        }
    }
}

/// Appends `event` after the chain's current tail, inside the caller's serialized transaction:
/// if the append fails, so does the change it records.
pub(super) async fn append<DB>(
    tx: &mut Transaction<'static, DB>,
    event: AuditEvent,
) -> StoreResult<AuditEntry>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    let tail = sqlx::query_as::<DB, (i64, String)>(AUDIT_TAIL)
        .fetch_optional(&mut **tx)
        .await?;
    let (prev_seq, prev_hash) = tail.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    let entry = AuditEntry::chain(
        prev_seq + 1,
        Utc::now().timestamp_millis(),
        event,
        &prev_hash,
    );
    let event = &entry.event;
    sqlx::query::<DB>(INSERT_AUDIT)
        .bind(entry.seq)
        .bind(entry.at_ms)
        .bind(event.event_type.clone())
        .bind(event.actor.clone())
        .bind(event.action.clone())
        .bind(event.resource.clone())
        .bind(event.result.as_str().to_owned())
        .bind(event.origin.ip.clone())
        .bind(event.origin.user_agent.clone())
        .bind(event.origin.request_id.clone())
        .bind(event.reason.clone())
        .bind(event.details.clone())
        .bind(entry.prev_hash.clone())
        .bind(entry.hash.clone())
        .execute(&mut **tx)
        .await?;
    Ok(entry)
}
