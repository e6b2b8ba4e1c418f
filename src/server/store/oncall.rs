//! On-call schedules, their layers and overrides, and each user's calendar feed secret.
use super::alerts::corrupt;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_json, from_millis, to_json, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::oncall::{
    DailyWindow, Layer, NewLayer, NewOverride, NewSchedule, Override, Rotation, Schedule,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};

const HANDOFF_FORMAT: &str = "%Y-%m-%dT%H:%M";
const WINDOW_FORMAT: &str = "%H:%M";

#[derive(sqlx::FromRow)]
pub(super) struct LayerRow {
    id: i64,
    schedule_id: i64,
    name: String,
    rotation: String,
    first_handoff: String,
    participants: String,
    window_start: Option<String>,
    window_end: Option<String>,
}

impl LayerRow {
    fn into_layer(self) -> StoreResult<(i64, Layer)> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw, WINDOW_FORMAT).map_err(|_| corrupt("window", raw))
        };
        let window = match (self.window_start.as_deref(), self.window_end.as_deref()) {
            (Some(start), Some(end)) => Some(DailyWindow {
                start: time(start)?,
                end: time(end)?,
            }),
            _ => None,
        };
        let layer = Layer {
            id: self.id,
            name: self.name,
            rotation: Rotation::parse(&self.rotation)
                .ok_or_else(|| corrupt("rotation", &self.rotation))?,
            first_handoff: NaiveDateTime::parse_from_str(&self.first_handoff, HANDOFF_FORMAT)
                .map_err(|_| corrupt("handoff", &self.first_handoff))?,
            participants: from_json(&self.participants)?,
            window,
        };
        Ok((self.schedule_id, layer))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OverrideRow {
    id: i64,
    schedule_id: i64,
    username: String,
    starts_at: i64,
    ends_at: i64,
    created_by: String,
}

impl OverrideRow {
    fn into_override(self) -> StoreResult<(i64, Override)> {
        Ok((
            self.schedule_id,
            Override {
                id: self.id,
                user: self.username,
                starts_at: from_millis(self.starts_at)?,
                ends_at: from_millis(self.ends_at)?,
                created_by: self.created_by,
            },
        ))
    }
}

const SELECT_SCHEDULES: &str = "SELECT id, name, time_zone FROM oncall_schedules ORDER BY name";
const SELECT_LAYERS: &str = "SELECT id, schedule_id, name, rotation, first_handoff, \
    participants, window_start, window_end FROM oncall_layers ORDER BY schedule_id, id";
const SELECT_OVERRIDES: &str = "SELECT id, schedule_id, username, starts_at, ends_at, created_by \
    FROM oncall_overrides WHERE ends_at > $1 ORDER BY schedule_id, starts_at, id";
const INSERT_SCHEDULE: &str = "INSERT INTO oncall_schedules (name, time_zone, created_by, \
    created_at) VALUES ($1, $2, $3, $4) RETURNING id";
const INSERT_LAYER: &str = "INSERT INTO oncall_layers (schedule_id, name, rotation, \
    first_handoff, participants, window_start, window_end) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const COUNT_LAYERS: &str = "SELECT COUNT(*) FROM oncall_layers WHERE schedule_id = $1";
const INSERT_OVERRIDE: &str = "INSERT INTO oncall_overrides (schedule_id, username, starts_at, \
    ends_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// Schedules, their layers and overrides, and calendar feed secrets.
#[async_trait]
pub trait OnCallStore: Send + Sync {
    /// Every schedule by name, with its layers and the overrides that end after `since`.
    async fn schedules(&self, since: DateTime<Utc>) -> StoreResult<Vec<Schedule>>;
    /// Refused as a conflict when the name is taken.
    async fn create_schedule(
        &self,
        new: &NewSchedule,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<i64>;
    async fn delete_schedule(&self, id: i64, event: AuditEvent) -> StoreResult<()>;
    async fn add_layer(
        &self,
        schedule_id: i64,
        new: &NewLayer,
        event: AuditEvent,
    ) -> StoreResult<i64>;
    /// Refused when it is the schedule's last layer.
    async fn delete_layer(
        &self,
        schedule_id: i64,
        layer_id: i64,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn add_override(
        &self,
        schedule_id: i64,
        new: &NewOverride,
        by: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<i64>;
    async fn delete_override(
        &self,
        schedule_id: i64,
        override_id: i64,
        event: AuditEvent,
    ) -> StoreResult<()>;
    /// Replaces the user's calendar feed secret (only its hash is given).
    async fn set_calendar_feed(
        &self,
        user_id: i64,
        secret_hash: &str,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<()>;
    async fn revoke_calendar_feed(&self, user_id: i64, event: AuditEvent) -> StoreResult<()>;
    /// Whether the user has a feed, and since when.
    async fn calendar_feed_since(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>>;
    /// The user a feed secret hash belongs to.
    async fn calendar_feed_user(&self, secret_hash: &str) -> StoreResult<Option<i64>>;
}

queries_for_any_backend! {
    area OnCallStore rows [(i64, String, String), LayerRow, OverrideRow] {
        async fn schedules(&self, since: DateTime<Utc>) -> StoreResult<Vec<Schedule>> {
            let mut schedules: Vec<Schedule> =
                sqlx::query_as::<DB, (i64, String, String)>(SELECT_SCHEDULES)
                    .fetch_all(self.pool())
                    .await?
                    .into_iter()
                    .map(|(id, name, time_zone)| Schedule {
                        id,
                        name,
                        time_zone,
                        layers: Vec::new(),
                        overrides: Vec::new(),
                    })
                    .collect();
            let layers = sqlx::query_as::<DB, LayerRow>(SELECT_LAYERS)
                .fetch_all(self.pool())
                .await?;
            for row in layers {
                let (schedule_id, layer) = row.into_layer()?;
                if let Some(s) = schedules.iter_mut().find(|s| s.id == schedule_id) {
                    s.layers.push(layer);
                }
            }
            let overrides = sqlx::query_as::<DB, OverrideRow>(SELECT_OVERRIDES)
                .bind(to_millis(since))
                .fetch_all(self.pool())
                .await?;
            for row in overrides {
                let (schedule_id, o) = row.into_override()?;
                if let Some(s) = schedules.iter_mut().find(|s| s.id == schedule_id) {
                    s.overrides.push(o);
                }
            }
            Ok(schedules)
        }

        async fn create_schedule(
            &self,
            new: &NewSchedule,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let taken = sqlx::query_as::<DB, (i64,)>("SELECT id FROM oncall_schedules WHERE name = $1")
                .bind(new.name.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a schedule called '{}' already exists",
                    new.name
                )));
            }
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_SCHEDULE)
                .bind(new.name.clone())
                .bind(new.time_zone.clone())
                .bind(by.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            insert_layer::<DB>(&mut tx, id, &new.layer).await?;
            append(&mut tx, event.resource(&format!("schedule:{id}"))).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn delete_schedule(&self, id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>("DELETE FROM oncall_schedules WHERE id = $1 RETURNING id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn add_layer(
            &self,
            schedule_id: i64,
            new: &NewLayer,
            event: AuditEvent,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (layers,) = sqlx::query_as::<DB, (i64,)>(COUNT_LAYERS)
                .bind(schedule_id)
            .fetch_one(&mut *tx)
            .await?;
            if layers == 0 {
                return Err(StoreError::NotFound);
            }
            if layers >= crate::domain::oncall::MAX_LAYERS as i64 {
                return Err(StoreError::Conflict(format!(
                    "a schedule has at most {} layers",
                    crate::domain::oncall::MAX_LAYERS
                )));
            }
            let id = insert_layer::<DB>(&mut tx, schedule_id, new).await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn delete_layer(
            &self,
            schedule_id: i64,
            layer_id: i64,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (layers,) = sqlx::query_as::<DB, (i64,)>(COUNT_LAYERS)
                .bind(schedule_id)
            .fetch_one(&mut *tx)
            .await?;
            if layers == 1 {
                return Err(StoreError::Conflict(
                    "this is the schedule's only layer: delete the schedule instead".into(),
                ));
            }
            delete_part::<DB>(tx, "oncall_layers", schedule_id, layer_id, event).await
        }

        async fn add_override(
            &self,
            schedule_id: i64,
            new: &NewOverride,
            by: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>("SELECT id FROM oncall_schedules WHERE id = $1")
                .bind(schedule_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_OVERRIDE)
                .bind(schedule_id)
                .bind(new.user.clone())
                .bind(to_millis(new.starts_at))
                .bind(to_millis(new.ends_at))
                .bind(by.to_owned())
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("schedule:{schedule_id}"))).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn delete_override(
            &self,
            schedule_id: i64,
            override_id: i64,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let tx = DB::begin_serialized(self.pool()).await?;
            delete_part::<DB>(tx, "oncall_overrides", schedule_id, override_id, event).await
        }

        async fn set_calendar_feed(
            &self,
            user_id: i64,
            secret_hash: &str,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO calendar_feeds (user_id, secret_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(secret_hash.to_owned())
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn revoke_calendar_feed(&self, user_id: i64, event: AuditEvent) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM calendar_feeds WHERE user_id = $1 RETURNING user_id",
            )
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn calendar_feed_since(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
            sqlx::query_as::<DB, (i64,)>("SELECT created_at FROM calendar_feeds WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?
                .map(|(at,)| from_millis(at))
                .transpose()
        }

        async fn calendar_feed_user(&self, secret_hash: &str) -> StoreResult<Option<i64>> {
            Ok(sqlx::query_as::<DB, (i64,)>(
                "SELECT user_id FROM calendar_feeds WHERE secret_hash = $1",
            )
            .bind(secret_hash.to_owned())
            .fetch_optional(self.pool())
            .await?
            .map(|(id,)| id))
        }
    }
}

async fn insert_layer<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    schedule_id: i64,
    new: &NewLayer,
) -> StoreResult<i64>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
{
    let window = |pick: fn(&crate::domain::oncall::DailyWindow) -> NaiveTime| {
        new.window
            .as_ref()
            .map(|w| pick(w).format(WINDOW_FORMAT).to_string())
    };
    let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_LAYER)
        .bind(schedule_id)
        .bind(new.name.clone())
        .bind(new.rotation.as_str().to_owned())
        .bind(new.first_handoff.format(HANDOFF_FORMAT).to_string())
        .bind(to_json(&new.participants)?)
        .bind(window(|w| w.start))
        .bind(window(|w| w.end))
        .fetch_one(&mut **tx)
        .await?;
    Ok(id)
}

/// Deletes row `id` of a schedule's part (`oncall_layers` or `oncall_overrides`) and audits it,
/// in `tx`; not found when the schedule has no such row.
async fn delete_part<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    table: &'static str,
    schedule_id: i64,
    id: i64,
    event: AuditEvent,
) -> StoreResult<()>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    let sql = format!("DELETE FROM {table} WHERE id = $1 AND schedule_id = $2 RETURNING id");
    sqlx::query_as::<DB, (i64,)>(&sql)
        .bind(id)
        .bind(schedule_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}
