//! What differs between the backends, and the sqlx bounds every area's queries need, written
//! once. Each area's queries are generic over the backend; `queries_for_any_backend!` opens
//! their `impl` with the bounds both backends meet, and the area names only its row types.
use super::StoreResult;
use crate::domain::audit::AuditFilter;
use sqlx::{Database, Pool, Transaction};
use std::future::Future;

/// Writes an `impl` for any backend, with the sqlx bounds for the scalar types and small
/// tuples the store reads and writes; the caller lists its own row types.
///
/// - `area AreaStore rows [..] { .. }` implements an area's trait for every `SqlBackend`.
/// - `impl AreaQueries rows [..] { .. }` opens the inherent `impl` of a helper struct over a
///   pool, for steps an area's methods share.
macro_rules! queries_for_any_backend {
    (area $area:ident rows [$($row:ty),* $(,)?] { $($body:tt)* }) => {
        $crate::server::store::dialect::queries_for_any_backend! {
            @with_bounds
            [#[async_trait::async_trait] impl<S, DB> $area for S]
            [S: $crate::server::store::dialect::SqlBackend<Db = DB>,]
            [$($row),*]
            { $($body)* }
        }
    };
    (impl $queries:ident rows [$($row:ty),* $(,)?] { $($body:tt)* }) => {
        $crate::server::store::dialect::queries_for_any_backend! {
            @with_bounds [impl<DB> $queries<'_, DB>] [] [$($row),*] { $($body)* }
        }
    };
    (@with_bounds [$($header:tt)*] [$($extra:tt)*] [$($row:ty),*] { $($body:tt)* }) => {
        $($header)*
        where
            $($extra)*
            DB: $crate::server::store::dialect::Dialect,
            for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
            for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> chrono::DateTime<chrono::Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<chrono::DateTime<chrono::Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> sqlx::types::Json<Vec<String>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (Option<i64>,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, i64, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, bool, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String, String, i64): sqlx::FromRow<'r, DB::Row>,
            $(for<'r> $row: sqlx::FromRow<'r, DB::Row>,)*
        {
            $($body)*
        }
    };
}
pub(super) use queries_for_any_backend;

/// A database the area traits are implemented for: its pools, whichever backend it is.
pub trait SqlBackend: Send + Sync + 'static {
    type Db: Dialect;
    fn pool(&self) -> &Pool<Self::Db>;
    /// Where polls are written: SQLite gives them a connection of their own.
    fn poll_writer(&self) -> &Pool<Self::Db>;
}

/// What differs between the backends for audited writes and search.
pub trait Dialect: Database {
    /// Begins a transaction in which audit appends are serialized, across processes too.
    fn begin_serialized(
        pool: &Pool<Self>,
    ) -> impl Future<Output = StoreResult<Transaction<'static, Self>>> + Send;
    /// The FROM clause, an extra condition and the ORDER BY of a newest-first search of
    /// `audit_log a`, given the parameter number of the full-text query when there is one.
    fn search_shape(text_param: Option<usize>) -> SearchShape;
    fn text_query(filter: &AuditFilter) -> Option<String>;
    /// The statement that refreshes planner statistics.
    const ANALYZE: &'static str;
    /// The application's tables, for counting rows after a restore.
    const LIST_TABLES: &'static str;
    /// Appended to a claim's inner SELECT so concurrent claims pass each other's rows by.
    const SKIP_LOCKED: &'static str;
    /// The targets table's row count, highest id and newest change (as text).
    const TARGET_STAMP: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const ANALYZE: &'static str = "PRAGMA optimize";
    const SKIP_LOCKED: &'static str = "";
    const TARGET_STAMP: &'static str = "SELECT COUNT(*), COALESCE(MAX(id), 0), \
        COALESCE(SUM(CAST((julianday(updated_at) - 2440587.5) * 86400000 AS INTEGER)), 0) \
        FROM targets";
    const LIST_TABLES: &'static str = "SELECT name FROM sqlite_master WHERE type = 'table' \
        AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name";
    async fn begin_serialized(pool: &Pool<Self>) -> StoreResult<Transaction<'static, Self>> {
        // IMMEDIATE takes the write lock up front, so reading the chain's tail and appending
        // after it cannot interleave with another writer.
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }
    fn search_shape(text_param: Option<usize>) -> SearchShape {
        match text_param {
            // Walking the index newest first lets a LIMIT stop early, however common the word.
            Some(n) => SearchShape {
                from: "audit_search JOIN audit_log a ON a.seq = audit_search.rowid",
                condition: Some(format!("audit_search MATCH ${n}")),
                order: "audit_search.rowid DESC",
            },
            None => SearchShape::plain(),
        }
    }
    fn text_query(filter: &AuditFilter) -> Option<String> {
        filter.fts5_query()
    }
}

pub struct SearchShape {
    pub from: &'static str,
    pub condition: Option<String>,
    pub order: &'static str,
}

impl SearchShape {
    fn plain() -> Self {
        Self {
            from: "audit_log a",
            condition: None,
            order: "a.seq DESC",
        }
    }
}

/// Any constant works; it only has to be the same in every replica.
const AUDIT_LOCK_KEY: i64 = 0x6d63_706f_7073;

impl Dialect for sqlx::Postgres {
    const ANALYZE: &'static str = "ANALYZE";
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const TARGET_STAMP: &'static str = "SELECT COUNT(*), COALESCE(MAX(id), 0), \
        COALESCE(SUM((EXTRACT(EPOCH FROM updated_at) * 1000)::bigint), 0)::bigint FROM targets";
    const LIST_TABLES: &'static str = "SELECT tablename::text FROM pg_tables \
        WHERE schemaname = current_schema() AND tablename NOT LIKE '_sqlx%' ORDER BY tablename";
    async fn begin_serialized(pool: &Pool<Self>) -> StoreResult<Transaction<'static, Self>> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
    fn search_shape(text_param: Option<usize>) -> SearchShape {
        SearchShape {
            condition: text_param.map(|n| format!("a.search @@ to_tsquery('simple', ${n})")),
            ..SearchShape::plain()
        }
    }
    fn text_query(filter: &AuditFilter) -> Option<String> {
        filter.tsquery()
    }
}
