//! The production-readiness items ticked by hand on each target.
use super::StoreResult;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::incidents::corrupt;
use super::polls::{from_millis, to_millis};
use crate::domain::audit::AuditEvent;
use crate::domain::readiness::{ReadinessItem, Tick};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

const SELECT_TICKS: &str =
    "SELECT item, ticked_by, ticked_at FROM readiness_ticks WHERE target_id = $1";
const SELECT_ALL_TICKS: &str = "SELECT target_id, item, ticked_by, ticked_at FROM readiness_ticks";
const INSERT_TICK: &str = "INSERT INTO readiness_ticks (target_id, item, ticked_by, ticked_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (target_id, item) DO NOTHING";
const DELETE_TICK: &str = "DELETE FROM readiness_ticks WHERE target_id = $1 AND item = $2";

fn tick(item: String, by: String, at: i64) -> StoreResult<Tick> {
    Ok(Tick {
        item: ReadinessItem::parse(&item).ok_or_else(|| corrupt("item", &item))?,
        by,
        at: from_millis(at)?,
    })
}

/// Readiness items ticked by hand.
#[async_trait]
pub trait ReadinessStore: Send + Sync {
    async fn readiness_ticks(&self, target_id: i64) -> StoreResult<Vec<Tick>>;
    /// Every tick of every target, for the fleet's matrix.
    async fn all_readiness_ticks(&self) -> StoreResult<Vec<(i64, Tick)>>;
    /// `ticked: None` clears the item.
    async fn set_readiness_tick(
        &self,
        target_id: i64,
        item: ReadinessItem,
        ticked: Option<(&str, DateTime<Utc>)>,
        event: AuditEvent,
    ) -> StoreResult<()>;
}

queries_for_any_backend! {
    area ReadinessStore rows [(i64, String, String, i64)] {
        /// The readiness items ticked by hand on a target.
        async fn readiness_ticks(&self, target_id: i64) -> StoreResult<Vec<Tick>> {
            sqlx::query_as::<DB, (String, String, i64)>(SELECT_TICKS)
                .bind(target_id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|(item, by, at)| tick(item, by, at))
                .collect()
        }

        async fn all_readiness_ticks(&self) -> StoreResult<Vec<(i64, Tick)>> {
            sqlx::query_as::<DB, (i64, String, String, i64)>(SELECT_ALL_TICKS)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|(target_id, item, by, at)| Ok((target_id, tick(item, by, at)?)))
                .collect()
        }

        /// Ticks (keeping the first tick's who and when) or clears a readiness item.
        async fn set_readiness_tick(
            &self,
            target_id: i64,
            item: ReadinessItem,
            ticked: Option<(&str, DateTime<Utc>)>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            match ticked {
                Some((by, at)) => {
                    sqlx::query::<DB>(INSERT_TICK)
                        .bind(target_id)
                        .bind(item.as_str().to_owned())
                        .bind(by.to_owned())
                        .bind(to_millis(at))
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query::<DB>(DELETE_TICK)
                        .bind(target_id)
                        .bind(item.as_str().to_owned())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
