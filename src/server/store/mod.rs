//! Storage: one `Store` trait, implemented for SQLite and PostgreSQL.
mod polls;
mod postgres;
mod sqlite;

use crate::domain::observation::{PollRecord, SampleRow, TargetStatus};
use crate::domain::target::{Target, TargetSource, TargetSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub use polls::{SampleTable, ToolCatalog};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL scheme '{0}': use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(err)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict("that name is already taken".into())
            }
            _ => Self::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can run a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    async fn list_targets(&self) -> StoreResult<Vec<Target>>;
    async fn get_target(&self, id: i64) -> StoreResult<Target>;
    async fn insert_target(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target>;
    async fn update_target(&self, id: i64, spec: &TargetSpec) -> StoreResult<Target>;
    /// Creates or replaces the target with this name (used by generated fleets such as the demo).
    async fn upsert_target(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target>;
    async fn delete_target(&self, id: i64) -> StoreResult<()>;

    /// Stores a batch of polls (samples, latest status, changed tool lists) in one transaction.
    async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()>;
    /// The latest status of every target that has been polled.
    async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>>;
    /// Rows of `table` in `[from, to)`, for one target or all, ordered by target then time.
    async fn samples(
        &self,
        table: SampleTable,
        target_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SampleRow>>;
    /// Stores rollup rows and records that `table` is rolled up to `up_to`.
    async fn record_rollups(
        &self,
        table: SampleTable,
        rows: &[SampleRow],
        up_to: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn rollup_progress(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    async fn oldest_sample(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>>;
    /// Retention: deletes rows of `table` older than `cutoff`, returning how many.
    async fn delete_samples_before(
        &self,
        table: SampleTable,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The newest `limit` tool lists of a target, newest first.
    async fn tool_catalogs(&self, target_id: i64, limit: i64) -> StoreResult<Vec<ToolCatalog>>;
}

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens the backend the URL names and brings its schema up to date.
pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url, options).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::open(url, options).await?)),
        other => Err(StoreError::UnsupportedUrl(other.to_owned())),
    }
}

/// A `targets` row; both dialects decode into it.
#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i64,
    name: String,
    base_url: String,
    interval_secs: i32,
    tags: sqlx::types::Json<Vec<String>>,
    source: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<TargetRow> for Target {
    type Error = StoreError;
    fn try_from(row: TargetRow) -> StoreResult<Self> {
        Ok(Target {
            id: row.id,
            name: row.name,
            base_url: row.base_url,
            interval_secs: u32::try_from(row.interval_secs)
                .map_err(|_| StoreError::Corrupt("interval out of range".into()))?,
            tags: row.tags.0,
            source: TargetSource::parse(&row.source).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown target source '{}'", row.source))
            })?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Target queries written once for both backends: the SQL is the same in both dialects
/// (SQLite reads `$N` as positional too), only the pool type differs.
struct TargetQueries<'p, DB: sqlx::Database>(&'p sqlx::Pool<DB>);

const SELECT_TARGETS: &str =
    "SELECT id, name, base_url, interval_secs, tags, source, created_at, updated_at FROM targets";
const INSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id";
const UPSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) \
    ON CONFLICT (name) DO UPDATE SET base_url = excluded.base_url, \
    interval_secs = excluded.interval_secs, tags = excluded.tags, \
    source = excluded.source, updated_at = excluded.updated_at RETURNING id";
const UPDATE_TARGET: &str = "UPDATE targets SET name = $1, base_url = $2, interval_secs = $3, \
    tags = $4, updated_at = $5 WHERE id = $6 RETURNING id";
const DELETE_TARGET: &str = "DELETE FROM targets WHERE id = $1 RETURNING id";

impl<DB> TargetQueries<'_, DB>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> sqlx::types::Json<Vec<String>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> chrono::DateTime<chrono::Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> TargetRow: sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    async fn list(&self) -> StoreResult<Vec<Target>> {
        let sql = format!("{SELECT_TARGETS} ORDER BY name");
        sqlx::query_as::<DB, TargetRow>(&sql)
            .fetch_all(self.0)
            .await?
            .into_iter()
            .map(Target::try_from)
            .collect()
    }

    async fn get(&self, id: i64) -> StoreResult<Target> {
        let sql = format!("{SELECT_TARGETS} WHERE id = $1");
        sqlx::query_as::<DB, TargetRow>(&sql)
            .bind(id)
            .fetch_one(self.0)
            .await?
            .try_into()
    }

    /// Runs an insert or upsert of `spec` and returns the stored row.
    async fn write(
        &self,
        sql: &str,
        spec: &TargetSpec,
        source: TargetSource,
    ) -> StoreResult<Target> {
        let (id,): (i64,) = sqlx::query_as::<DB, (i64,)>(sql)
            .bind(spec.name.as_str().to_owned())
            .bind(spec.base_url.as_str().to_owned())
            .bind(interval_column(spec))
            .bind(sqlx::types::Json(spec.tags.clone()))
            .bind(source.as_str().to_owned())
            .bind(chrono::Utc::now())
            .fetch_one(self.0)
            .await?;
        self.get(id).await
    }

    async fn insert(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target> {
        self.write(INSERT_TARGET, spec, source).await
    }

    async fn upsert(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target> {
        self.write(UPSERT_TARGET, spec, source).await
    }

    async fn update(&self, id: i64, spec: &TargetSpec) -> StoreResult<Target> {
        sqlx::query_as::<DB, (i64,)>(UPDATE_TARGET)
            .bind(spec.name.as_str().to_owned())
            .bind(spec.base_url.as_str().to_owned())
            .bind(interval_column(spec))
            .bind(sqlx::types::Json(spec.tags.clone()))
            .bind(chrono::Utc::now())
            .bind(id)
            .fetch_optional(self.0)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.get(id).await
    }

    async fn delete(&self, id: i64) -> StoreResult<()> {
        sqlx::query_as::<DB, (i64,)>(DELETE_TARGET)
            .bind(id)
            .fetch_optional(self.0)
            .await?
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }
}

fn interval_column(spec: &TargetSpec) -> i32 {
    // Interval is validated to at most 3600 s, so it always fits.
    i32::try_from(spec.interval.secs()).unwrap_or(i32::MAX)
}
