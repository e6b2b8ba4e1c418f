//! Replica membership and target leases, for replicas sharing one database. SQL shared by
//! both dialects; only PostgreSQL adds `FOR UPDATE SKIP LOCKED`, since SQLite serializes
//! writers anyway.
use super::dialect::queries_for_any_backend;
use super::{StoreResult, numbered_params};
use crate::domain::leases::{ClusterView, Replica};
use async_trait::async_trait;

/// Releases are sent in chunks this size, well under either backend's parameter limit.
const RELEASE_CHUNK: usize = 1000;
/// A replica row this long expired is deleted when another replica joins.
const FORGET_AFTER_MS: i64 = 3_600_000;

#[derive(sqlx::FromRow)]
pub(super) struct ReplicaRow {
    id: String,
    name: String,
    started_at: i64,
    heartbeat_at: i64,
}

/// Replicas sharing one database, and which of them polls each target.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Registers a replica sharing this database; its membership lasts until `expires_at`.
    async fn join_cluster(&self, replica: &Replica, expires_at: i64) -> StoreResult<()>;
    /// Renews a live membership; `false` when it had already lapsed.
    async fn heartbeat(&self, replica_id: &str, now: i64, expires_at: i64) -> StoreResult<bool>;
    async fn cluster_view(&self, replica_id: &str, now: i64) -> StoreResult<ClusterView>;
    /// Takes up to `max` targets no live replica holds; returns their ids.
    async fn claim_targets(&self, replica_id: &str, now: i64, max: usize) -> StoreResult<Vec<i64>>;
    async fn release_targets(&self, replica_id: &str, target_ids: &[i64]) -> StoreResult<()>;
    async fn held_targets(&self, replica_id: &str) -> StoreResult<Vec<i64>>;
    async fn leave_cluster(&self, replica_id: &str) -> StoreResult<()>;
}

queries_for_any_backend! {
    area LeaseStore rows [ReplicaRow] {
        async fn join_cluster(&self, replica: &Replica, expires_at: i64) -> StoreResult<()> {
            sqlx::query::<DB>("DELETE FROM replicas WHERE expires_at < $1")
                .bind(replica.started_at - FORGET_AFTER_MS)
                .execute(self.pool())
                .await?;
            sqlx::query::<DB>(
                "INSERT INTO replicas (id, name, started_at, heartbeat_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(replica.id.clone())
            .bind(replica.name.clone())
            .bind(replica.started_at)
            .bind(replica.heartbeat_at)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
            Ok(())
        }

        /// Renews the membership while it is still live; `false` means it lapsed (the replica
        /// stalled), so its targets may already be someone else's and it must join afresh.
        async fn heartbeat(
            &self,
            replica_id: &str,
            now: i64,
            expires_at: i64,
        ) -> StoreResult<bool> {
            let renewed = sqlx::query_as::<DB, (i64,)>(
                "UPDATE replicas SET heartbeat_at = $2, expires_at = $3 \
                 WHERE id = $1 AND expires_at > $2 RETURNING heartbeat_at",
            )
            .bind(replica_id.to_owned())
            .bind(now)
            .bind(expires_at)
            .fetch_optional(self.pool())
            .await?;
            Ok(renewed.is_some())
        }

        async fn cluster_view(&self, replica_id: &str, now: i64) -> StoreResult<ClusterView> {
            let replicas = sqlx::query_as::<DB, ReplicaRow>(
                "SELECT id, name, started_at, heartbeat_at FROM replicas WHERE expires_at > $1 \
                 ORDER BY started_at, id",
            )
            .bind(now)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|row| Replica {
                id: row.id,
                name: row.name,
                started_at: row.started_at,
                heartbeat_at: row.heartbeat_at,
            })
            .collect();
            let (targets,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM targets")
                .fetch_one(self.pool())
                .await?;
            let (held,) =
                sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM targets WHERE lease_holder = $1")
                    .bind(replica_id.to_owned())
                    .fetch_one(self.pool())
                    .await?;
            Ok(ClusterView {
                replicas,
                targets: usize::try_from(targets).unwrap_or_default(),
                held: usize::try_from(held).unwrap_or_default(),
            })
        }

        /// Takes up to `max` targets that nobody live holds. Concurrent claims skip each other's
        /// rows instead of waiting, and never take the same target twice.
        async fn claim_targets(&self, replica_id: &str, now: i64, max: usize) -> StoreResult<Vec<i64>> {
            if max == 0 {
                return Ok(Vec::new());
            }
            let sql = format!(
                "UPDATE targets SET lease_holder = $1 WHERE id IN (\
                   SELECT t.id FROM targets t WHERE t.lease_holder IS NULL OR NOT EXISTS (\
                     SELECT 1 FROM replicas r WHERE r.id = t.lease_holder AND r.expires_at > $2) \
                   ORDER BY t.id LIMIT $3 {}) \
                 RETURNING id",
                DB::SKIP_LOCKED
            );
            let claimed = sqlx::query_as::<DB, (i64,)>(&sql)
                .bind(replica_id.to_owned())
                .bind(now)
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(self.pool())
                .await?;
            Ok(claimed.into_iter().map(|(id,)| id).collect())
        }

        async fn release_targets(&self, replica_id: &str, target_ids: &[i64]) -> StoreResult<()> {
            for chunk in target_ids.chunks(RELEASE_CHUNK) {
                let sql = format!(
                    "UPDATE targets SET lease_holder = NULL WHERE lease_holder = $1 AND id IN ({})",
                    numbered_params(2, chunk.len())
                );
                let mut query = sqlx::query::<DB>(&sql).bind(replica_id.to_owned());
                for id in chunk {
                    query = query.bind(*id);
                }
                query.execute(self.pool()).await?;
            }
            Ok(())
        }

        async fn held_targets(&self, replica_id: &str) -> StoreResult<Vec<i64>> {
            let held = sqlx::query_as::<DB, (i64,)>(
                "SELECT id FROM targets WHERE lease_holder = $1 ORDER BY id",
            )
            .bind(replica_id.to_owned())
            .fetch_all(self.pool())
            .await?;
            Ok(held.into_iter().map(|(id,)| id).collect())
        }

        /// Gives every target back and leaves at once, so the others need not wait for expiry.
        async fn leave_cluster(&self, replica_id: &str) -> StoreResult<()> {
            sqlx::query::<DB>("UPDATE targets SET lease_holder = NULL WHERE lease_holder = $1")
                .bind(replica_id.to_owned())
                .execute(self.pool())
                .await?;
            sqlx::query::<DB>("DELETE FROM replicas WHERE id = $1")
                .bind(replica_id.to_owned())
                .execute(self.pool())
                .await?;
            Ok(())
        }
    }
}
