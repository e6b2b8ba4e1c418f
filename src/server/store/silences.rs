//! Silences: matchers that keep alerts from notifying for a while.
use super::alerts::corrupt;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::alerts::RuleKind;
use crate::domain::audit::AuditEvent;
use crate::domain::silences::{Matchers, NewSilence, Recurrence, Silence};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct SilenceRow {
    id: i64,
    target: Option<String>,
    tag: Option<String>,
    rule: Option<String>,
    owner: String,
    reason: String,
    starts_at: i64,
    ends_at: i64,
    recurrence: Option<String>,
    created_at: i64,
}

impl TryFrom<SilenceRow> for Silence {
    type Error = StoreError;
    fn try_from(row: SilenceRow) -> StoreResult<Self> {
        let rule = row
            .rule
            .map(|r| RuleKind::parse(&r).ok_or_else(|| corrupt("rule", &r)))
            .transpose()?;
        let recurrence: Option<Recurrence> =
            row.recurrence.as_deref().map(from_json).transpose()?;
        Ok(Silence {
            id: row.id,
            matchers: Matchers {
                target: row.target,
                tag: row.tag,
                rule,
            },
            owner: row.owner,
            reason: row.reason,
            starts_at: from_millis(row.starts_at)?,
            ends_at: from_millis(row.ends_at)?,
            recurrence,
            created_at: from_millis(row.created_at)?,
        })
    }
}

const SELECT_SILENCES: &str = "SELECT id, target, tag, rule, owner, reason, starts_at, ends_at, \
    recurrence, created_at FROM silences";
const INSERT_SILENCE: &str = "INSERT INTO silences (target, tag, rule, owner, reason, starts_at, \
    ends_at, recurrence, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
const EXPIRE_SILENCE: &str =
    "UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1 RETURNING id";

/// Silences, which keep matching alerts from notifying while they last.
#[async_trait]
pub trait SilenceStore: Send + Sync {
    /// Silences that end after `since`.
    async fn silences(&self, since: DateTime<Utc>) -> StoreResult<Vec<Silence>>;
    async fn create_silence(
        &self,
        new: &NewSilence,
        owner: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Silence>;
    async fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
}

queries_for_any_backend! {
    area SilenceStore rows [SilenceRow] {
        /// Silences that end after `since`, newest first.
        async fn silences(&self, since: DateTime<Utc>) -> StoreResult<Vec<Silence>> {
            let sql = format!("{SELECT_SILENCES} WHERE ends_at > $1 ORDER BY starts_at DESC, id DESC");
            sqlx::query_as::<DB, SilenceRow>(&sql)
                .bind(to_millis(since))
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(Silence::try_from)
                .collect()
        }

        async fn create_silence(
            &self,
            new: &NewSilence,
            owner: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Silence> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_SILENCE)
                .bind(new.matchers.target.clone())
                .bind(new.matchers.tag.clone())
                .bind(new.matchers.rule.map(|r| r.as_str().to_owned()))
                .bind(owner.to_owned())
                .bind(new.reason.clone())
                .bind(to_millis(new.starts_at))
                .bind(to_millis(new.ends_at))
                .bind(new.recurrence.as_ref().map(to_json).transpose()?)
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("silence:{id}"))).await?;
            tx.commit().await?;
            Ok(Silence {
                id,
                matchers: new.matchers.clone(),
                owner: owner.to_owned(),
                reason: new.reason.clone(),
                starts_at: new.starts_at,
                ends_at: new.ends_at,
                recurrence: new.recurrence.clone(),
                created_at: at,
            })
        }

        /// Ends a silence now; refused when it has already ended.
        async fn expire_silence(
            &self,
            id: i64,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(EXPIRE_SILENCE)
                .bind(to_millis(at))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::Conflict("that silence has already ended".into()))?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
