//! Notification channels and the record of every delivery to them.
use super::alerts::corrupt;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::alerts::Severity;
use crate::domain::audit::AuditEvent;
use crate::domain::notifications::{
    AlertDelivery, Channel, ChannelKind, Delivery, Destination, NewChannel, NoticeEvent,
    StoredDestination,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct ChannelRow {
    id: i64,
    name: String,
    kind: String,
    url: String,
    secret: String,
    settings: String,
    min_severity: String,
    tags: String,
    created_by: String,
    created_at: i64,
}

impl ChannelRow {
    fn decode(self) -> StoreResult<(Channel, Destination)> {
        let kind = ChannelKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?;
        let stored = StoredDestination {
            url: self.url,
            secret: self.secret,
            settings: self.settings,
        };
        let destination = Destination::from_stored(kind, &stored)
            .map_err(|reason| StoreError::Corrupt(format!("channel {}: {reason}", self.id)))?;
        Ok((
            Channel {
                id: self.id,
                name: self.name,
                kind,
                url_redacted: destination.redacted(),
                min_severity: Severity::parse(&self.min_severity)
                    .ok_or_else(|| corrupt("severity", &self.min_severity))?,
                tags: from_json(&self.tags)?,
                created_by: self.created_by,
                created_at: from_millis(self.created_at)?,
            },
            destination,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    /// Filled only where the channel is joined in.
    #[sqlx(default)]
    channel_name: Option<String>,
    #[sqlx(default)]
    channel_kind: Option<String>,
    channel_id: i64,
    alert_id: Option<i64>,
    event: String,
    attempt: i64,
    at: i64,
    error: Option<String>,
}

const SELECT_CHANNELS: &str = "SELECT id, name, kind, url, secret, settings, min_severity, tags, \
    created_by, created_at FROM channels ORDER BY name";
const INSERT_CHANNEL: &str = "INSERT INTO channels (name, kind, url, secret, settings, \
    min_severity, tags, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    RETURNING id";
const DELETE_CHANNEL: &str = "DELETE FROM channels WHERE id = $1 RETURNING id";
/// At most this many deliveries are listed for one alert (a storm of retries is cut short).
const ALERT_DELIVERIES: i64 = 200;
/// The newest, read newest first and listed oldest first.
const SELECT_ALERT_DELIVERIES: &str = "SELECT c.name AS channel_name, c.kind AS channel_kind, \
    d.channel_id, d.alert_id, d.event, d.attempt, d.at, d.error FROM deliveries d \
    JOIN channels c ON c.id = d.channel_id WHERE d.alert_id = $1 ORDER BY d.id DESC LIMIT $2";
/// Skips an alert deleted since the notice was sent, rather than failing the whole group.
const INSERT_MEMBER_DELIVERY: &str = "INSERT INTO deliveries (channel_id, alert_id, event, \
    attempt, at, error) SELECT $1, id, $3, $4, $5, $6 FROM alerts WHERE id = $2";
const INSERT_DELIVERY: &str = "INSERT INTO deliveries (channel_id, alert_id, event, attempt, at, \
    error) VALUES ($1, $2, $3, $4, $5, $6)";

/// Where alert notifications go, and what happened to each one sent.
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Channels with their destinations, secrets included (for sending; pages get only
    /// `Channel`).
    async fn channels(&self) -> StoreResult<Vec<(Channel, Destination)>>;
    async fn create_channel(
        &self,
        new: &NewChannel,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<Channel>;
    async fn delete_channel(&self, id: i64, event: AuditEvent) -> StoreResult<()>;
    async fn record_delivery(&self, delivery: &Delivery) -> StoreResult<()>;
    /// One attempt that told a channel about several alerts at once: a row for each, so
    /// every alert's page lists it.
    async fn record_group_delivery(
        &self,
        delivery: &Delivery,
        alert_ids: &[i64],
    ) -> StoreResult<()>;
    async fn deliveries(&self, channel_id: Option<i64>, limit: i64) -> StoreResult<Vec<Delivery>>;
    /// The latest attempts to tell anyone about one alert (at most 200), oldest first.
    async fn alert_deliveries(&self, alert_id: i64) -> StoreResult<Vec<AlertDelivery>>;
}

impl DeliveryRow {
    fn decode(self) -> StoreResult<Delivery> {
        Ok(Delivery {
            channel_id: self.channel_id,
            alert_id: self.alert_id,
            event: NoticeEvent::parse(&self.event).ok_or_else(|| corrupt("event", &self.event))?,
            attempt: u32::try_from(self.attempt).unwrap_or(0),
            at: from_millis(self.at)?,
            error: self.error,
        })
    }
}

queries_for_any_backend! {
    area ChannelStore rows [ChannelRow, DeliveryRow] {
        async fn channels(&self) -> StoreResult<Vec<(Channel, Destination)>> {
            sqlx::query_as::<DB, ChannelRow>(SELECT_CHANNELS)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(ChannelRow::decode)
                .collect()
        }

        async fn create_channel(
            &self,
            new: &NewChannel,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<Channel> {
            let stored = new.destination.stored();
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_CHANNEL)
                .bind(new.name.clone())
                .bind(new.kind.as_str().to_owned())
                .bind(stored.url)
                .bind(stored.secret)
                .bind(stored.settings)
                .bind(new.min_severity.as_str().to_owned())
                .bind(to_json(&new.tags)?)
                .bind(by.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| match StoreError::from(err) {
                    StoreError::Conflict(_) => {
                        StoreError::Conflict(format!("a channel named {} exists", new.name))
                    }
                    other => other,
                })?;
            append(&mut tx, event.resource(&format!("channel:{id}"))).await?;
            tx.commit().await?;
            Ok(Channel {
                id,
                name: new.name.clone(),
                kind: new.kind,
                url_redacted: new.destination.redacted(),
                min_severity: new.min_severity,
                tags: new.tags.clone(),
                created_by: by.to_owned(),
                created_at: at,
            })
        }

        async fn delete_channel(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(DELETE_CHANNEL)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn record_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
            sqlx::query::<DB>(INSERT_DELIVERY)
                .bind(delivery.channel_id)
                .bind(delivery.alert_id)
                .bind(delivery.event.as_str().to_owned())
                .bind(i64::from(delivery.attempt))
                .bind(to_millis(delivery.at))
                .bind(delivery.error.clone())
                .execute(self.pool())
                .await?;
            Ok(())
        }

        async fn record_group_delivery(
            &self,
            delivery: &Delivery,
            alert_ids: &[i64],
        ) -> StoreResult<()> {
            let mut tx = self.pool().begin().await?;
            for alert_id in alert_ids {
                sqlx::query::<DB>(INSERT_MEMBER_DELIVERY)
                    .bind(delivery.channel_id)
                    .bind(*alert_id)
                    .bind(delivery.event.as_str().to_owned())
                    .bind(i64::from(delivery.attempt))
                    .bind(to_millis(delivery.at))
                    .bind(delivery.error.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// The newest deliveries, of one channel or of all.
        async fn deliveries(
            &self,
            channel_id: Option<i64>,
            limit: i64,
        ) -> StoreResult<Vec<Delivery>> {
            let filter = if channel_id.is_some() {
                "WHERE channel_id = $2"
            } else {
                ""
            };
            let sql = format!(
                "SELECT channel_id, alert_id, event, attempt, at, error FROM deliveries {filter} \
                 ORDER BY id DESC LIMIT $1"
            );
            let mut q = sqlx::query_as::<DB, DeliveryRow>(&sql).bind(limit.clamp(1, 1000));
            if let Some(id) = channel_id {
                q = q.bind(id);
            }
            q.fetch_all(self.pool())
                .await?
                .into_iter()
                .map(DeliveryRow::decode)
                .collect()
        }

        async fn alert_deliveries(&self, alert_id: i64) -> StoreResult<Vec<AlertDelivery>> {
            let mut sent = sqlx::query_as::<DB, DeliveryRow>(SELECT_ALERT_DELIVERIES)
                .bind(alert_id)
                .bind(ALERT_DELIVERIES)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|mut row| {
                    let channel = row.channel_name.take().unwrap_or_default();
                    let kind = row.channel_kind.take().unwrap_or_default();
                    Ok(AlertDelivery {
                        kind: ChannelKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                        channel,
                        delivery: row.decode()?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            sent.reverse();
            Ok(sent)
        }
    }
}
