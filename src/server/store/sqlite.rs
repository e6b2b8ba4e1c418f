//! SQLite backend: one file, WAL journal, created if missing.
use super::database::{DatabaseSnapshot, DatabaseStore, SchemaQueries, SessionStoreHandle};
use super::{StoreError, StoreOptions, StoreResult};
use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Polls are written through one connection of their own: SQLite has one writer anyway,
    /// and a connection's page cache is dropped whenever another connection writes, so a
    /// writer that takes turns with readers re-reads each page it touches.
    poll_writer: SqlitePool,
    sessions: SessionStoreHandle,
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
        let unavailable = |e| StoreError::Unavailable(sqlx::Error::Io(e));
        let file = connect.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::server::private_files::create_dir(dir).map_err(unavailable)?;
        }
        // SQLite gives its WAL and shared-memory files the database file's permissions.
        if file != Path::new(":memory:") {
            crate::server::private_files::create_if_missing(file).map_err(unavailable)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        // Each target's newest sample and status sit on pages of their own, so a poll dirties
        // about two 4 KiB pages: a cache this size keeps them for some 8,000 targets instead
        // of reading them back on every poll.
        let poll_writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(
                connect
                    .pragma("cache_size", format!("-{POLL_WRITER_CACHE_KIB}"))
                    // A batch's many-row statements each get a statement journal: in memory
                    // it is not a temporary file created, written and removed per batch.
                    .pragma("temp_store", "memory"),
            )
            .await?;
        let sessions = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
        sessions.migrate().await?;
        Ok(Self {
            pool,
            poll_writer,
            sessions: SessionStoreHandle::new(sessions),
        })
    }
}

/// The poll writer's page cache, in KiB.
const POLL_WRITER_CACHE_KIB: u32 = 64 * 1024;

#[async_trait]
impl DatabaseStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        SchemaQueries(&self.pool).ping().await
    }

    async fn refresh_statistics(&self) -> StoreResult<()> {
        SchemaQueries(&self.pool).refresh_statistics().await
    }

    fn sessions(&self) -> SessionStoreHandle {
        self.sessions.clone()
    }

    async fn close(&self) {
        // Writer first: the last connection to close checkpoints the WAL.
        self.poll_writer.close().await;
        self.pool.close().await;
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>> {
        SchemaQueries(&self.pool).row_counts().await
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        SchemaQueries(&self.pool).schema_version().await
    }

    async fn snapshot_database(&self, dir: &Path) -> StoreResult<DatabaseSnapshot> {
        let file = dir.join("mcpops.db");
        let path = file.to_str().ok_or_else(|| {
            StoreError::External("the backup directory's path is not UTF-8".into())
        })?;
        // VACUUM INTO reads one snapshot and leaves writers running: polling goes on.
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_owned())
            .execute(&self.pool)
            .await?;
        // Counted in the copy, so the counts are exactly what was copied.
        let copy = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(&file).read_only(true))
            .await?;
        let queries = SchemaQueries::<sqlx::Sqlite>(&copy);
        let row_counts = queries.row_counts().await;
        let schema_version = queries.schema_version().await;
        copy.close().await;
        Ok(DatabaseSnapshot {
            file,
            row_counts: row_counts?,
            schema_version: schema_version?,
        })
    }

    async fn integrity_problems(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(line,)| line)
            .filter(|line| line != "ok")
            .collect())
    }
}

impl super::dialect::SqlBackend for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.pool
    }
    fn poll_writer(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.poll_writer
    }
}
