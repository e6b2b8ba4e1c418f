//! The database as a whole: health, sessions, statistics, integrity and consistent copies.
//! This is where the backends differ most, so each implements `DatabaseStore` itself.
use super::StoreResult;
use super::dialect::queries_for_any_backend;
use async_trait::async_trait;
use sqlx::{Database, Pool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The database itself, rather than any one area's rows.
#[async_trait]
pub trait DatabaseStore: Send + Sync {
    /// Answers when the database can run a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    /// Refreshes the query planner's statistics (after a bulk load).
    async fn refresh_statistics(&self) -> StoreResult<()>;
    /// Where login sessions live: the same database.
    fn sessions(&self) -> SessionStoreHandle;
    /// Closes every connection, waiting for them to finish.
    async fn close(&self);
    /// Whether `close` was called: the process is stopping.
    fn is_closed(&self) -> bool;
    /// Rows in every table of the application's schema (not the migration ledger).
    async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>>;
    /// The newest schema migration applied.
    async fn schema_version(&self) -> StoreResult<i64>;
    /// What the database's own integrity check reports wrong; empty when it is sound.
    async fn integrity_problems(&self) -> StoreResult<Vec<String>>;
    /// Copies the database consistently into `dir` while it stays in use, counting each
    /// table's rows in the same snapshot.
    async fn snapshot_database(&self, dir: &Path) -> StoreResult<DatabaseSnapshot>;
}

/// Queries on the schema both backends answer alike, over any pool (a copy's too).
pub(super) struct SchemaQueries<'p, DB: Database>(pub &'p Pool<DB>);

queries_for_any_backend! {
    impl SchemaQueries rows [] {
        pub(super) async fn ping(&self) -> StoreResult<()> {
            sqlx::query::<DB>("SELECT 1").execute(self.0).await?;
            Ok(())
        }

        pub(super) async fn refresh_statistics(&self) -> StoreResult<()> {
            sqlx::query::<DB>(DB::ANALYZE).execute(self.0).await?;
            Ok(())
        }

        /// Rows in every table of the application's schema (not the migration ledger).
        pub(super) async fn row_counts(&self) -> StoreResult<BTreeMap<String, i64>> {
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
        pub(super) async fn schema_version(&self) -> StoreResult<i64> {
            let (version,) = sqlx::query_as::<DB, (i64,)>(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(self.0)
            .await?;
            Ok(version)
        }
    }
}

type SweepFn = dyn Fn() -> futures::future::BoxFuture<'static, tower_sessions::session_store::Result<()>>
    + Send
    + Sync;

/// The session store tower-sessions uses, whichever backend holds it.
#[derive(Clone)]
pub struct SessionStoreHandle {
    store: Arc<dyn tower_sessions::SessionStore>,
    sweep: Arc<SweepFn>,
}

impl std::fmt::Debug for SessionStoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreHandle").finish_non_exhaustive()
    }
}

impl SessionStoreHandle {
    pub fn new<S>(store: S) -> Self
    where
        S: tower_sessions::ExpiredDeletion + Clone,
    {
        let swept = store.clone();
        Self {
            store: Arc::new(store),
            sweep: Arc::new(move || {
                let store = swept.clone();
                Box::pin(async move { store.delete_expired().await })
            }),
        }
    }

    /// Removes sessions past their expiry (the cookie is gone by then; the row is not).
    pub async fn delete_expired(&self) -> tower_sessions::session_store::Result<()> {
        (self.sweep)().await
    }
}

#[async_trait]
impl tower_sessions::SessionStore for SessionStoreHandle {
    async fn create(
        &self,
        record: &mut tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.create(record).await
    }
    async fn save(
        &self,
        record: &tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.save(record).await
    }
    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        self.store.load(id).await
    }
    async fn delete(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<()> {
        self.store.delete(id).await
    }
}

/// A consistent copy of the database, made while it stayed in use.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSnapshot {
    pub file: PathBuf,
    pub row_counts: BTreeMap<String, i64>,
    pub schema_version: i64,
}
