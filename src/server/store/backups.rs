//! The record of backups, verifications and restores. SQL shared by both dialects.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_millis, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::backups::{BackupRun, NewBackupRun, RunKind};
use async_trait::async_trait;

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
/// The record of backups, verifications and restores.
#[async_trait]
pub trait BackupStore: Send + Sync {
    async fn record_backup_run(&self, run: &NewBackupRun, event: AuditEvent) -> StoreResult<()>;
    /// The newest `limit` backups, verifications and restores, newest first.
    async fn backup_runs(&self, limit: i64) -> StoreResult<Vec<BackupRun>>;
}

queries_for_any_backend! {
    area BackupStore rows [RunRow] {
        async fn record_backup_run(&self, run: &NewBackupRun, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
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

        async fn backup_runs(&self, limit: i64) -> StoreResult<Vec<BackupRun>> {
            sqlx::query_as::<DB, RunRow>(SELECT_RUNS)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(BackupRun::try_from)
                .collect()
        }
    }
}
