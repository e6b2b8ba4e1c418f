//! Tool lists: each target's versions as polls found them, and the list its drift is measured
//! against. Polls write the lists (`PollStore::record_polls`); this reads and accepts them.
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreResult, numbered_params};
use crate::domain::observation::Tool;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A stored tool list and when it was first seen.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCatalog {
    pub at: DateTime<Utc>,
    pub tools: Vec<Tool>,
}

const SELECT_CATALOGS: &str = "SELECT c.at, COALESCE(t.tools, c.tools) FROM tool_catalogs c \
    LEFT JOIN tool_catalogs t ON t.id = c.same_as \
    WHERE c.target_id = $1 ORDER BY c.id DESC LIMIT $2";
const SELECT_TOOL_ACKS: &str = "SELECT target_id, tools FROM tool_acks";
pub(super) const UPSERT_TOOL_ACK: &str = "INSERT INTO tool_acks (target_id, tools, acked_by, acked_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (target_id) DO UPDATE SET tools = excluded.tools, \
    acked_by = excluded.acked_by, acked_at = excluded.acked_at";

/// Tool lists as polls found them, and the accepted list drift is measured against.
#[async_trait]
pub trait ToolListStore: Send + Sync {
    /// The newest `limit` tool lists of a target, newest first.
    async fn tool_catalogs(&self, target_id: i64, limit: i64) -> StoreResult<Vec<ToolCatalog>>;
    /// The newest tool list seen on each of `target_ids` that has one.
    async fn latest_tool_catalogs(&self, target_ids: &[i64]) -> StoreResult<Vec<(i64, Vec<Tool>)>>;
    /// Retention: tool lists last seen before `cutoff`, except each target's newest.
    async fn delete_catalogs_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// The tool list each target's drift is measured against.
    async fn tool_acks(&self) -> StoreResult<Vec<(i64, Vec<Tool>)>>;
    async fn accept_tools(
        &self,
        target_id: i64,
        tools: &[Tool],
        by: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

queries_for_any_backend! {
    area ToolListStore rows [] {
        async fn tool_catalogs(&self, target_id: i64, limit: i64) -> StoreResult<Vec<ToolCatalog>> {
            sqlx::query_as::<DB, (i64, String)>(SELECT_CATALOGS)
                .bind(target_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|(at, tools)| {
                    Ok(ToolCatalog {
                        at: from_millis(at)?,
                        tools: from_json(&tools)?,
                    })
                })
                .collect()
        }

        /// Retention: tool lists last seen before `cutoff`, except each target's newest. A list's
        /// text is on its newest sighting, so the sightings pointing there are older still.
        async fn delete_catalogs_before(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
            let deleted = sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM tool_catalogs WHERE at < $1 AND id NOT IN \
                 (SELECT MAX(id) FROM tool_catalogs GROUP BY target_id) RETURNING id",
            )
            .bind(to_millis(cutoff))
            .fetch_all(self.pool())
            .await?;
            Ok(deleted.len() as u64)
        }

        async fn latest_tool_catalogs(&self, target_ids: &[i64]) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
            if target_ids.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.target_id, c.tools FROM tool_catalogs c WHERE c.target_id IN ({}) \
                 AND c.id = (SELECT MAX(id) FROM tool_catalogs WHERE target_id = c.target_id)",
                numbered_params(1, target_ids.len())
            );
            let mut query = sqlx::query_as::<DB, (i64, String)>(&sql);
            for id in target_ids {
                query = query.bind(*id);
            }
            decode_catalogs(query.fetch_all(self.pool()).await?)
        }

        async fn tool_acks(&self) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
            decode_catalogs(
                sqlx::query_as::<DB, (i64, String)>(SELECT_TOOL_ACKS)
                    .fetch_all(self.pool())
                    .await?,
            )
        }

        /// Records the tool list drift is measured against (the first one seen is accepted by
        /// the engine without an audit entry; an operator's acceptance is audited).
        async fn accept_tools(
            &self,
            target_id: i64,
            tools: &[Tool],
            by: &str,
            at: DateTime<Utc>,
        ) -> StoreResult<()> {
            sqlx::query::<DB>(UPSERT_TOOL_ACK)
                .bind(target_id)
                .bind(to_json(&tools)?)
                .bind(by.to_owned())
                .bind(to_millis(at))
                .execute(self.pool())
                .await?;
            Ok(())
        }
    }
}

fn decode_catalogs(rows: Vec<(i64, String)>) -> StoreResult<Vec<(i64, Vec<Tool>)>> {
    rows.into_iter()
        .map(|(id, tools)| Ok((id, from_json(&tools)?)))
        .collect()
}
