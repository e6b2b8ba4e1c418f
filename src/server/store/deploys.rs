//! Deploy markers, which charts draw and deploy reviews compare around.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_millis, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::deploys::Deploy;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct DeployRow {
    id: i64,
    target_id: Option<i64>,
    tag: Option<String>,
    version: String,
    note: String,
    at: i64,
    created_by: String,
}

impl TryFrom<DeployRow> for Deploy {
    type Error = StoreError;
    fn try_from(row: DeployRow) -> StoreResult<Self> {
        Ok(Deploy {
            id: row.id,
            target_id: row.target_id,
            tag: row.tag,
            version: row.version,
            note: row.note,
            at: from_millis(row.at)?,
            created_by: row.created_by,
        })
    }
}

const SELECT_DEPLOYS: &str =
    "SELECT id, target_id, tag, version, note, at, created_by FROM deploys";
const INSERT_DEPLOY: &str = "INSERT INTO deploys (target_id, tag, version, note, at, created_by) \
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// Deploy markers.
#[async_trait]
pub trait DeployStore: Send + Sync {
    async fn create_deploy(&self, deploy: &Deploy, event: AuditEvent) -> StoreResult<Deploy>;
    async fn deploys(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Deploy>>;
}

queries_for_any_backend! {
    area DeployStore rows [DeployRow] {
        async fn create_deploy(&self, deploy: &Deploy, event: AuditEvent) -> StoreResult<Deploy> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_DEPLOY)
                .bind(deploy.target_id)
                .bind(deploy.tag.clone())
                .bind(deploy.version.clone())
                .bind(deploy.note.clone())
                .bind(to_millis(deploy.at))
                .bind(deploy.created_by.clone())
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("deploy:{id}"))).await?;
            tx.commit().await?;
            Ok(Deploy {
                id,
                ..deploy.clone()
            })
        }

        async fn deploys(
            &self,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> StoreResult<Vec<Deploy>> {
            let sql = format!("{SELECT_DEPLOYS} WHERE at >= $1 AND at < $2 ORDER BY at DESC LIMIT 500");
            sqlx::query_as::<DB, DeployRow>(&sql)
                .bind(to_millis(from))
                .bind(to_millis(to))
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(Deploy::try_from)
                .collect()
        }
    }
}
