//! Poll results: samples, the latest status per target, and versioned tool lists. The SQL is
//! shared by both dialects; times are Unix milliseconds.
use super::dialect::queries_for_any_backend;
use super::{StoreError, StoreResult, value_rows};
use crate::domain::checks::CheckResult;
use crate::domain::observation::{PollRecord, SampleRow, TargetState, TargetStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Database;
use std::sync::OnceLock;

/// Where samples live: raw polls, or one of the rollup levels (same columns in each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleTable {
    Raw,
    Minute,
    Hour,
    /// The whole fleet per minute (`series::FLEET_ID`).
    FleetMinute,
}

impl SampleTable {
    const COUNT: usize = Self::FleetMinute as usize + 1;

    /// The table's name in the database.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "samples",
            Self::Minute => "rollups_1m",
            Self::Hour => "rollups_1h",
            Self::FleetMinute => "fleet_rollups_1m",
        }
    }
}

const SAMPLE_COLUMNS: &str = "target_id, at, state, live_ms, mcp_ms, seconds, requests, errors, \
    p50, p95, p99, active_connections, cpu_cores, memory_bytes, tools_executed, resources_accessed, \
    sessions_active, quota_remaining, buckets, polls, polls_down, probe_buckets";

/// Rows per insert statement: a few save round trips; many make sqlx's binding slower than
/// one statement per row (measured: 500 rows per statement took 4× as long as 10).
const ROWS_PER_INSERT: usize = 10;

fn on_conflict(table: SampleTable) -> String {
    match table {
        // A poll is stored once; a rollup is recomputed when its period is rolled up again.
        SampleTable::Raw => "DO NOTHING".to_owned(),
        _ => {
            let updates: Vec<String> = SAMPLE_COLUMNS
                .split(',')
                .map(str::trim)
                .filter(|c| *c != "target_id" && *c != "at")
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            format!("DO UPDATE SET {}", updates.join(", "))
        }
    }
}

/// Statements by row count (1 to `ROWS_PER_INSERT`), each built on first use: a batch of
/// polls would otherwise format hundreds of placeholders for every chunk it stores.
struct ByRowCount([OnceLock<String>; ROWS_PER_INSERT]);

impl ByRowCount {
    const fn new() -> Self {
        Self([const { OnceLock::new() }; ROWS_PER_INSERT])
    }

    fn get(&self, rows: usize, build: impl FnOnce(usize) -> String) -> &str {
        self.0[rows - 1].get_or_init(|| build(rows))
    }
}

/// An insert of `rows` samples.
fn insert_samples_sql(table: SampleTable, rows: usize) -> &'static str {
    static BUILT: [ByRowCount; SampleTable::COUNT] =
        [const { ByRowCount::new() }; SampleTable::COUNT];
    BUILT[table as usize].get(rows, |rows| {
        format!(
            "INSERT INTO {} ({SAMPLE_COLUMNS}) VALUES {} ON CONFLICT (target_id, at) {}",
            table.name(),
            value_rows(rows, 22),
            on_conflict(table)
        )
    })
}

/// An upsert of `rows` statuses; an older poll never overwrites a newer one.
fn upsert_statuses_sql(rows: usize) -> &'static str {
    static BUILT: ByRowCount = ByRowCount::new();
    BUILT.get(rows, |rows| {
        format!(
            "INSERT INTO target_status (target_id, at, state, failures, readiness, mcp, p95, \
             error_ratio, rps, offers, certificate, tools, checks) VALUES {} ON CONFLICT (target_id) \
             DO UPDATE SET at = excluded.at, state = excluded.state, \
             failures = excluded.failures, readiness = excluded.readiness, mcp = excluded.mcp, \
             p95 = excluded.p95, error_ratio = excluded.error_ratio, rps = excluded.rps, \
             offers = excluded.offers, certificate = excluded.certificate, tools = excluded.tools, \
             checks = excluded.checks WHERE target_status.at <= excluded.at",
            value_rows(rows, 13)
        )
    })
}

/// An insert of `rows` synthetic call results.
fn insert_check_results_sql(rows: usize) -> &'static str {
    static BUILT: ByRowCount = ByRowCount::new();
    BUILT.get(rows, |rows| {
        format!(
            "INSERT INTO check_results (check_id, target_id, at, ms, outcome, reason) VALUES {}",
            value_rows(rows, 6)
        )
    })
}

const LATEST_TOOLS: &str =
    "SELECT tools FROM tool_catalogs WHERE target_id = $1 ORDER BY id DESC LIMIT 1";
const INSERT_TOOLS: &str =
    "INSERT INTO tool_catalogs (target_id, at, tools) VALUES ($1, $2, $3) RETURNING id";
/// A list this target served before, by its text (kept on its newest sighting only).
const EARLIER_TOOLS: &str = "SELECT id FROM tool_catalogs \
    WHERE target_id = $1 AND same_as IS NULL AND tools = $2 LIMIT 1";
/// Moves a list's text from its sighting `$2` (and those pointing there) to `$1`.
const POINT_TOOLS: &str =
    "UPDATE tool_catalogs SET tools = '', same_as = $1 WHERE id = $2 OR same_as = $2";
/// The stored tool lists of one target, together: a server that lists something new on
/// every poll keeps only its newest lists.
pub const MAX_CATALOG_BYTES_PER_TARGET: i64 = 4 * 1024 * 1024;
const CATALOG_SIZES: &str = "SELECT id, CAST(LENGTH(tools) AS BIGINT) FROM tool_catalogs \
    WHERE target_id = $1 AND same_as IS NULL ORDER BY id DESC";
const SELECT_STATUS: &str = "SELECT target_id, at, state, failures, readiness, mcp, p95, \
    error_ratio, rps, offers, certificate, tools, checks FROM target_status";
#[derive(sqlx::FromRow)]
pub(super) struct StatusRow {
    target_id: i64,
    at: i64,
    state: String,
    failures: String,
    readiness: Option<String>,
    mcp: Option<String>,
    p95: Option<f64>,
    error_ratio: Option<f64>,
    rps: Option<f64>,
    offers: Option<String>,
    certificate: Option<String>,
    tools: Option<String>,
    checks: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SampleDbRow {
    target_id: i64,
    at: i64,
    state: String,
    live_ms: Option<f64>,
    mcp_ms: Option<f64>,
    seconds: Option<f64>,
    requests: Option<f64>,
    errors: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    active_connections: Option<f64>,
    cpu_cores: Option<f64>,
    memory_bytes: Option<f64>,
    tools_executed: Option<f64>,
    resources_accessed: Option<f64>,
    sessions_active: Option<f64>,
    quota_remaining: Option<f64>,
    buckets: Option<String>,
    polls: Option<f64>,
    polls_down: Option<f64>,
    probe_buckets: Option<String>,
}

pub(super) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} out of range")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl TryFrom<StatusRow> for TargetStatus {
    type Error = StoreError;
    fn try_from(row: StatusRow) -> StoreResult<Self> {
        Ok(TargetStatus {
            target_id: row.target_id,
            at: from_millis(row.at)?,
            state: TargetState::parse(&row.state),
            failures: from_json(&row.failures)?,
            readiness: row.readiness.as_deref().map(from_json).transpose()?,
            mcp: row.mcp.as_deref().map(from_json).transpose()?,
            p95: row.p95,
            error_ratio: row.error_ratio,
            rps: row.rps,
            offers: row
                .offers
                .as_deref()
                .map(from_json)
                .transpose()?
                .unwrap_or_default(),
            certificate: row.certificate.as_deref().map(from_json).transpose()?,
            tools: row.tools.as_deref().map(from_json).transpose()?,
            checks: row
                .checks
                .as_deref()
                .map(from_json)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

impl TryFrom<SampleDbRow> for SampleRow {
    type Error = StoreError;
    fn try_from(row: SampleDbRow) -> StoreResult<Self> {
        Ok(SampleRow {
            target_id: row.target_id,
            at: from_millis(row.at)?,
            state: TargetState::parse(&row.state),
            live_ms: row.live_ms,
            mcp_ms: row.mcp_ms,
            seconds: row.seconds,
            requests: row.requests,
            errors: row.errors,
            p50: row.p50,
            p95: row.p95,
            p99: row.p99,
            active_connections: row.active_connections,
            cpu_cores: row.cpu_cores,
            memory_bytes: row.memory_bytes,
            tools_executed: row.tools_executed,
            resources_accessed: row.resources_accessed,
            sessions_active: row.sessions_active,
            quota_remaining: row.quota_remaining,
            buckets: row.buckets.as_deref().map(from_json).transpose()?,
            polls: row.polls,
            polls_down: row.polls_down,
            probe_buckets: row.probe_buckets.as_deref().map(from_json).transpose()?,
        })
    }
}

/// What each poll brought: samples and their rollups, and the latest status per target.
#[async_trait]
pub trait PollStore: Send + Sync {
    /// Stores a batch of polls (samples, latest status, changed tool lists) in one transaction.
    async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()>;
    /// The latest status of every target that has been polled.
    async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>>;
    /// One target's latest status; `None` before its first poll.
    async fn target_status(&self, target_id: i64) -> StoreResult<Option<TargetStatus>>;
    /// Rows of `table` in `[from, to)`, for one target or all, ordered by target then time.
    async fn samples(
        &self,
        table: SampleTable,
        target_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SampleRow>>;
    /// Stores rollup rows and, when given, records that `table` is rolled up to `up_to`.
    async fn record_rollups(
        &self,
        table: SampleTable,
        rows: &[SampleRow],
        up_to: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    async fn rollup_progress(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    async fn oldest_sample(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    /// Retention: deletes rows of `table` older than `cutoff`, returning how many.
    async fn delete_samples_before(
        &self,
        table: SampleTable,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

queries_for_any_backend! {
    area PollStore rows [StatusRow, SampleDbRow] {
        /// Stores a batch of polls in one transaction, many rows per statement: each statement
        /// is a round trip (to SQLite's worker thread or to PostgreSQL), and at thousands of
        /// polls a second one per row was a large part of a poll's cost.
        async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()> {
            // Rows are locked in one order, target by target: replicas whose batches overlap
            // while a target changes hands would otherwise deadlock on `target_status`, and
            // PostgreSQL would abort one batch.
            let mut ordered: Vec<&PollRecord> = batch.iter().collect();
            ordered.sort_by_key(|r| (r.status.target_id, r.status.at));
            // One status per target: a statement may not update a row twice (PostgreSQL), and
            // only the newest poll's status is kept anyway.
            let mut newest: Vec<&TargetStatus> = Vec::with_capacity(ordered.len());
            for record in &ordered {
                match newest.last_mut() {
                    Some(last) if last.target_id == record.status.target_id => *last = &record.status,
                    _ => newest.push(&record.status),
                }
            }
            let mut tx = self.poll_writer().begin().await?;
            for chunk in ordered.chunks(ROWS_PER_INSERT) {
                let sql = insert_samples_sql(SampleTable::Raw, chunk.len());
                let mut insert = sqlx::query::<DB>(sql);
                for record in chunk {
                    insert = bind_sample(insert, &record.sample)?;
                }
                insert.execute(&mut *tx).await?;
            }
            for chunk in newest.chunks(ROWS_PER_INSERT) {
                let sql = upsert_statuses_sql(chunk.len());
                let mut upsert = sqlx::query::<DB>(sql);
                for st in chunk {
                    upsert = upsert
                        .bind(st.target_id)
                        .bind(to_millis(st.at))
                        .bind(st.state.as_str().to_owned())
                        .bind(to_json(&st.failures)?)
                        .bind(st.readiness.as_ref().map(to_json).transpose()?)
                        .bind(st.mcp.as_ref().map(to_json).transpose()?)
                        .bind(st.p95)
                        .bind(st.error_ratio)
                        .bind(st.rps)
                        .bind(to_json(&st.offers)?)
                        .bind(st.certificate.as_ref().map(to_json).transpose()?)
                        .bind(st.tools.as_ref().map(to_json).transpose()?)
                        .bind(
                            (!st.checks.is_empty())
                                .then(|| to_json(&st.checks))
                                .transpose()?,
                        );
                }
                upsert.execute(&mut *tx).await?;
            }
            let results: Vec<&CheckResult> = ordered
                .iter()
                .flat_map(|r| r.check_results.iter())
                .collect();
            for chunk in results.chunks(ROWS_PER_INSERT) {
                let mut insert = sqlx::query::<DB>(insert_check_results_sql(chunk.len()));
                for result in chunk {
                    insert = insert
                        .bind(result.check_id)
                        .bind(result.target_id)
                        .bind(to_millis(result.at))
                        .bind(result.ms)
                        .bind(result.outcome.as_str().to_owned())
                        .bind(result.outcome.reason().map(str::to_owned));
                }
                insert.execute(&mut *tx).await?;
            }
            for record in ordered {
                let Some(tools) = &record.tools else { continue };
                let target_id = record.sample.target_id;
                let text = to_json(tools)?;
                let latest: Option<(String,)> = sqlx::query_as::<DB, (String,)>(LATEST_TOOLS)
                    .bind(target_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if latest.is_none_or(|(previous,)| previous != text) {
                    let earlier = sqlx::query_as::<DB, (i64,)>(EARLIER_TOOLS)
                        .bind(target_id)
                        .bind(text.clone())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_TOOLS)
                        .bind(target_id)
                        .bind(to_millis(record.sample.at))
                        .bind(text)
                        .fetch_one(&mut *tx)
                        .await?;
                    // Seen before: one copy, on this newest sighting.
                    if let Some((earlier,)) = earlier {
                        sqlx::query::<DB>(POINT_TOOLS)
                            .bind(id)
                            .bind(earlier)
                            .execute(&mut *tx)
                            .await?;
                    }
                    // The lists seen longest ago go once the target's pass the cap, with their
                    // sightings; the newest stays.
                    let sizes = sqlx::query_as::<DB, (i64, i64)>(CATALOG_SIZES)
                        .bind(target_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut total = 0;
                    for (index, (id, size)) in sizes.into_iter().enumerate() {
                        total += size;
                        if index > 0 && total > MAX_CATALOG_BYTES_PER_TARGET {
                            sqlx::query::<DB>(
                                "DELETE FROM tool_catalogs WHERE id = $1 OR same_as = $1",
                            )
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        }

        async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>> {
            sqlx::query_as::<DB, StatusRow>(SELECT_STATUS)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(TargetStatus::try_from)
                .collect()
        }

        async fn target_status(&self, target_id: i64) -> StoreResult<Option<TargetStatus>> {
            let sql = format!("{SELECT_STATUS} WHERE target_id = $1");
            sqlx::query_as::<DB, StatusRow>(&sql)
                .bind(target_id)
                .fetch_optional(self.pool())
                .await?
                .map(TargetStatus::try_from)
                .transpose()
        }

        async fn samples(
            &self,
            table: SampleTable,
            target_id: Option<i64>,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> StoreResult<Vec<SampleRow>> {
            let filter = if target_id.is_some() {
                "target_id = $3 AND"
            } else {
                ""
            };
            let sql = format!(
                "SELECT {SAMPLE_COLUMNS} FROM {} WHERE {filter} at >= $1 AND at < $2 ORDER BY target_id, at",
                table.name()
            );
            let mut query = sqlx::query_as::<DB, SampleDbRow>(&sql)
                .bind(to_millis(from))
                .bind(to_millis(to));
            if let Some(id) = target_id {
                query = query.bind(id);
            }
            query
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(SampleRow::try_from)
                .collect()
        }

        /// Stores rollup rows and moves the level's progress mark when given, in one transaction.
        async fn record_rollups(
            &self,
            table: SampleTable,
            rows: &[SampleRow],
            up_to: Option<DateTime<Utc>>,
        ) -> StoreResult<()> {
            let mut tx = self.pool().begin().await?;
            // Many rows per statement: a rollup pass (or a seeded history) writes tens of
            // thousands, and one statement per row is most of the cost.
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let sql = insert_samples_sql(table, chunk.len());
                let mut insert = sqlx::query::<DB>(sql);
                for row in chunk {
                    insert = bind_sample(insert, row)?;
                }
                insert.execute(&mut *tx).await?;
            }
            if let Some(up_to) = up_to {
                sqlx::query::<DB>(
                    "INSERT INTO rollup_progress (level, up_to) VALUES ($1, $2) \
                     ON CONFLICT (level) DO UPDATE SET up_to = excluded.up_to",
                )
                .bind(table.name().to_owned())
                .bind(to_millis(up_to))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn rollup_progress(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>> {
            let row: Option<(i64,)> =
                sqlx::query_as::<DB, (i64,)>("SELECT up_to FROM rollup_progress WHERE level = $1")
                    .bind(table.name().to_owned())
                    .fetch_optional(self.pool())
                    .await?;
            row.map(|(ms,)| from_millis(ms)).transpose()
        }

        /// The time of the oldest row in `table`, if any.
        async fn oldest_sample(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>> {
            let sql = format!("SELECT MIN(at) FROM {}", table.name());
            let row: Option<(Option<i64>,)> = sqlx::query_as::<DB, (Option<i64>,)>(&sql)
                .fetch_optional(self.pool())
                .await?;
            row.and_then(|(ms,)| ms).map(from_millis).transpose()
        }

        /// Deletes rows older than `cutoff`; returns how many went.
        async fn delete_samples_before(
            &self,
            table: SampleTable,
            cutoff: DateTime<Utc>,
        ) -> StoreResult<u64> {
            let sql = format!("DELETE FROM {} WHERE at < $1 RETURNING at", table.name());
            let deleted = sqlx::query_as::<DB, (i64,)>(&sql)
                .bind(to_millis(cutoff))
                .fetch_all(self.pool())
                .await?;
            Ok(deleted.len() as u64)
        }
    }
}

/// Binds a sample's 22 columns, in `SAMPLE_COLUMNS` order.
fn bind_sample<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>,
    s: &SampleRow,
) -> StoreResult<sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>>
where
    DB: Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Ok(query
        .bind(s.target_id)
        .bind(to_millis(s.at))
        .bind(s.state.as_str().to_owned())
        .bind(s.live_ms)
        .bind(s.mcp_ms)
        .bind(s.seconds)
        .bind(s.requests)
        .bind(s.errors)
        .bind(s.p50)
        .bind(s.p95)
        .bind(s.p99)
        .bind(s.active_connections)
        .bind(s.cpu_cores)
        .bind(s.memory_bytes)
        .bind(s.tools_executed)
        .bind(s.resources_accessed)
        .bind(s.sessions_active)
        .bind(s.quota_remaining)
        .bind(s.buckets.as_ref().map(to_json).transpose()?)
        .bind(s.polls)
        .bind(s.polls_down)
        .bind(s.probe_buckets.as_ref().map(to_json).transpose()?))
}
