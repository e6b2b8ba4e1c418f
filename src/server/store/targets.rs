//! The targets table: the servers mcpops polls. The SQL is the same in both dialects (SQLite
//! reads `$N` as positional too), only the pool type differs.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::target::{Target, TargetSource, TargetSpec};
use async_trait::async_trait;

/// The targets polled: their settings and where they came from.
#[async_trait]
pub trait TargetStore: Send + Sync {
    async fn list_targets(&self) -> StoreResult<Vec<Target>>;
    /// A cheap fingerprint of the targets table that moves whenever a target is added,
    /// changed or removed; a cached target list is current while it stays the same.
    async fn target_stamp(&self) -> StoreResult<TargetStamp>;
    async fn get_target(&self, id: i64) -> StoreResult<Target>;
    async fn insert_target(
        &self,
        spec: &TargetSpec,
        source: TargetSource,
        event: AuditEvent,
    ) -> StoreResult<Target>;
    async fn update_target(
        &self,
        id: i64,
        spec: &TargetSpec,
        event: AuditEvent,
    ) -> StoreResult<Target>;
    /// Creates or replaces the target with this name for a source that owns its targets (the
    /// demo, target files); a name held by another source is a conflict.
    async fn upsert_target(
        &self,
        spec: &TargetSpec,
        source: TargetSource,
        origin: &str,
        event: Option<AuditEvent>,
    ) -> StoreResult<Target>;
    async fn delete_target(&self, id: i64, event: AuditEvent) -> StoreResult<()>;
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
    origin: String,
    probe: String,
    headers: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<TargetRow> for Target {
    type Error = StoreError;
    fn try_from(row: TargetRow) -> StoreResult<Self> {
        let secret_headers: Vec<(String, String)> = serde_json::from_str(&row.headers)
            .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?;
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
            origin: row.origin,
            probe: serde_json::from_str(&row.probe)
                .map_err(|e| StoreError::Corrupt(format!("probe settings: {e}")))?,
            header_names: secret_headers
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
            secret_headers,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The writes that insert and upsert share.
struct TargetQueries<'p, DB: sqlx::Database>(&'p sqlx::Pool<DB>);

/// See `TargetStore::target_stamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStamp {
    rows: i64,
    max_id: i64,
    updated_sum_ms: i64,
}

const SELECT_TARGETS: &str = "SELECT id, name, base_url, interval_secs, tags, source, origin, \
    probe, headers, created_at, updated_at FROM targets";
const INSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, origin, probe, headers, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $7, $8, COALESCE($9, '[]'), $6, $6) RETURNING id";
const UPSERT_TARGET: &str = "INSERT INTO targets \
    (name, base_url, interval_secs, tags, source, origin, probe, headers, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $7, $8, COALESCE($9, '[]'), $6, $6) \
    ON CONFLICT (name) DO UPDATE SET base_url = excluded.base_url, \
    interval_secs = excluded.interval_secs, tags = excluded.tags, \
    origin = excluded.origin, probe = excluded.probe, headers = excluded.headers, \
    updated_at = excluded.updated_at \
    WHERE targets.source = excluded.source RETURNING id";
const UPDATE_TARGET: &str = "UPDATE targets SET name = $1, base_url = $2, interval_secs = $3, \
    tags = $4, updated_at = $5, probe = $7, headers = COALESCE($8, headers) \
    WHERE id = $6 RETURNING id";
const DELETE_TARGET: &str = "DELETE FROM targets WHERE id = $1 RETURNING id";

queries_for_any_backend! {
    impl TargetQueries rows [] {
        /// Runs an insert or upsert of `spec`, with its audit entry when it has one.
        async fn write(
            &self,
            sql: &str,
            spec: &TargetSpec,
            source: TargetSource,
            origin: &str,
            event: Option<AuditEvent>,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let written = sqlx::query_as::<DB, (i64,)>(sql)
                .bind(spec.name.as_str().to_owned())
                .bind(spec.base_url.as_str().to_owned())
                .bind(interval_column(spec))
                .bind(sqlx::types::Json(spec.tags.clone()))
                .bind(source.as_str().to_owned())
                .bind(chrono::Utc::now())
                .bind(origin.to_owned())
                .bind(probe_column(spec)?)
                .bind(headers_column(spec)?)
                .fetch_optional(&mut *tx)
                .await?;
            // An upsert writes nothing when the name belongs to another source.
            let (id,) = written.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "{} is already a target from another source",
                    spec.name.as_str()
                ))
            })?;
            if let Some(event) = event {
                append(&mut tx, event).await?;
            }
            tx.commit().await?;
            Ok(id)
        }
    }
}

queries_for_any_backend! {
    area TargetStore rows [TargetRow] {
        async fn target_stamp(&self) -> StoreResult<TargetStamp> {
            // Every insert and update sets `updated_at` to now, which moves the sum; a removal
            // lowers the count, and a row deleted and replaced by a new one raises the top id.
            // Not the newest `updated_at`: an edit by a replica whose clock runs behind another's
            // would not move that.
            let (rows, max_id, updated_sum_ms) =
                sqlx::query_as::<DB, (i64, i64, i64)>(DB::TARGET_STAMP)
                    .fetch_one(self.pool())
                    .await?;
            Ok(TargetStamp {
                rows,
                max_id,
                updated_sum_ms,
            })
        }

        async fn list_targets(&self) -> StoreResult<Vec<Target>> {
            let sql = format!("{SELECT_TARGETS} ORDER BY name");
            sqlx::query_as::<DB, TargetRow>(&sql)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(Target::try_from)
                .collect()
        }

        async fn get_target(&self, id: i64) -> StoreResult<Target> {
            let sql = format!("{SELECT_TARGETS} WHERE id = $1");
            sqlx::query_as::<DB, TargetRow>(&sql)
                .bind(id)
                .fetch_one(self.pool())
                .await?
                .try_into()
        }

        async fn insert_target(
            &self,
            spec: &TargetSpec,
            source: TargetSource,
            event: AuditEvent,
        ) -> StoreResult<Target> {
            let id = TargetQueries::<DB>(self.pool())
                .write(INSERT_TARGET, spec, source, "", Some(event))
                .await?;
            self.get_target(id).await
        }

        async fn upsert_target(
            &self,
            spec: &TargetSpec,
            source: TargetSource,
            origin: &str,
            event: Option<AuditEvent>,
        ) -> StoreResult<Target> {
            let id = TargetQueries::<DB>(self.pool())
                .write(UPSERT_TARGET, spec, source, origin, event)
                .await?;
            self.get_target(id).await
        }

        async fn update_target(&self, id: i64, spec: &TargetSpec, event: AuditEvent) -> StoreResult<Target> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(UPDATE_TARGET)
                .bind(spec.name.as_str().to_owned())
                .bind(spec.base_url.as_str().to_owned())
                .bind(interval_column(spec))
                .bind(sqlx::types::Json(spec.tags.clone()))
                .bind(chrono::Utc::now())
                .bind(id)
                .bind(probe_column(spec)?)
                .bind(headers_column(spec)?)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            self.get_target(id).await
        }

        async fn delete_target(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(DELETE_TARGET)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

fn probe_column(spec: &TargetSpec) -> StoreResult<String> {
    serde_json::to_string(&spec.probe).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `None` leaves the stored headers as they are.
fn headers_column(spec: &TargetSpec) -> StoreResult<Option<String>> {
    spec.headers
        .as_ref()
        .map(|h| serde_json::to_string(h).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn interval_column(spec: &TargetSpec) -> i32 {
    // Interval is validated to at most 3600 s, so it always fits.
    i32::try_from(spec.interval.secs()).unwrap_or(i32::MAX)
}
