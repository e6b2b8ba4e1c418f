//! SQLite backend: one file, WAL journal, created if missing.
use super::polls::PollQueries;
use super::{
    SampleTable, Store, StoreError, StoreOptions, StoreResult, TargetQueries, ToolCatalog,
};
use crate::domain::observation::{PollRecord, SampleRow, TargetStatus};
use crate::domain::target::{Target, TargetSource, TargetSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Database)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(dir) = connect
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    fn targets(&self) -> TargetQueries<'_, sqlx::Sqlite> {
        TargetQueries(&self.pool)
    }

    fn polls(&self) -> PollQueries<'_, sqlx::Sqlite> {
        PollQueries(&self.pool)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn list_targets(&self) -> StoreResult<Vec<Target>> {
        self.targets().list().await
    }
    async fn get_target(&self, id: i64) -> StoreResult<Target> {
        self.targets().get(id).await
    }
    async fn insert_target(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target> {
        self.targets().insert(spec, source).await
    }
    async fn update_target(&self, id: i64, spec: &TargetSpec) -> StoreResult<Target> {
        self.targets().update(id, spec).await
    }
    async fn upsert_target(&self, spec: &TargetSpec, source: TargetSource) -> StoreResult<Target> {
        self.targets().upsert(spec, source).await
    }
    async fn delete_target(&self, id: i64) -> StoreResult<()> {
        self.targets().delete(id).await
    }
    async fn record_polls(&self, batch: &[PollRecord]) -> StoreResult<()> {
        self.polls().record(batch).await
    }
    async fn target_statuses(&self) -> StoreResult<Vec<TargetStatus>> {
        self.polls().statuses().await
    }
    async fn samples(
        &self,
        table: SampleTable,
        target_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SampleRow>> {
        self.polls().samples(table, target_id, from, to).await
    }
    async fn record_rollups(
        &self,
        table: SampleTable,
        rows: &[SampleRow],
        up_to: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.polls().record_rollups(table, rows, up_to).await
    }
    async fn rollup_progress(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>> {
        self.polls().rollup_progress(table).await
    }
    async fn oldest_sample(&self, table: SampleTable) -> StoreResult<Option<DateTime<Utc>>> {
        self.polls().oldest(table).await
    }
    async fn delete_samples_before(
        &self,
        table: SampleTable,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.polls().delete_before(table, cutoff).await
    }
    async fn tool_catalogs(&self, target_id: i64, limit: i64) -> StoreResult<Vec<ToolCatalog>> {
        self.polls().catalogs(target_id, limit).await
    }
}
