//! Each person's contact methods: how a page reaches them.
use super::alerts::corrupt;
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::polls::{from_millis, to_millis};
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::escalation::{ContactMethod, MAX_CONTACT_METHODS, NewContactMethod};
use crate::domain::notifications::{ChannelKind, Destination, StoredDestination};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(super) struct ContactRow {
    id: i64,
    username: String,
    label: String,
    kind: String,
    url: String,
    secret: String,
    settings: String,
    created_at: i64,
}

impl ContactRow {
    fn decode(self) -> StoreResult<(ContactMethod, Destination)> {
        let kind = ChannelKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?;
        let stored = StoredDestination {
            url: self.url,
            secret: self.secret,
            settings: self.settings,
        };
        let destination = Destination::from_stored(kind, &stored).map_err(|reason| {
            StoreError::Corrupt(format!("contact method {}: {reason}", self.id))
        })?;
        Ok((
            ContactMethod {
                id: self.id,
                username: self.username,
                label: self.label,
                kind,
                address_redacted: destination.redacted(),
                created_at: from_millis(self.created_at)?,
            },
            destination,
        ))
    }
}

const SELECT_CONTACTS: &str = "SELECT m.id, u.username, m.label, m.kind, m.url, m.secret, \
    m.settings, m.created_at FROM contact_methods m JOIN users u ON u.id = m.user_id";
const INSERT_CONTACT: &str = "INSERT INTO contact_methods (user_id, label, kind, url, secret, \
    settings, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
/// Each person's contact methods, secrets included for sending (pages get only
/// `ContactMethod`).
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// One user's contact methods, by label.
    async fn contact_methods(&self, user_id: i64) -> StoreResult<Vec<ContactMethod>>;
    /// The contact methods of these users, with their destinations (for paging).
    async fn contact_methods_of(
        &self,
        usernames: &[String],
    ) -> StoreResult<Vec<(ContactMethod, Destination)>>;
    /// One of a user's contact methods, with its destination (for a test page).
    async fn contact_method(
        &self,
        user_id: i64,
        id: i64,
    ) -> StoreResult<(ContactMethod, Destination)>;
    /// Refused as a conflict beyond `MAX_CONTACT_METHODS` or when the label is taken.
    async fn add_contact_method(
        &self,
        user_id: i64,
        new: &NewContactMethod,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> StoreResult<i64>;
    async fn delete_contact_method(
        &self,
        user_id: i64,
        id: i64,
        event: AuditEvent,
    ) -> StoreResult<()>;
}

queries_for_any_backend! {
    area ContactStore rows [ContactRow] {
        async fn contact_methods(&self, user_id: i64) -> StoreResult<Vec<ContactMethod>> {
            let sql = format!("{SELECT_CONTACTS} WHERE m.user_id = $1 ORDER BY m.label");
            sqlx::query_as::<DB, ContactRow>(&sql)
                .bind(user_id)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| row.decode().map(|(method, _)| method))
                .collect()
        }

        async fn contact_methods_of(
            &self,
            usernames: &[String],
        ) -> StoreResult<Vec<(ContactMethod, Destination)>> {
            // Few rows (at most ten a person): read them all and keep the people asked for.
            // A disabled account is paged no more.
            let sql = format!("{SELECT_CONTACTS} WHERE NOT u.disabled ORDER BY u.username, m.label");
            let mut methods = Vec::new();
            for row in sqlx::query_as::<DB, ContactRow>(&sql)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .filter(|row| usernames.contains(&row.username))
            {
                // One unreadable method must not keep the others from being paged.
                match row.decode() {
                    Ok(method) => methods.push(method),
                    Err(err) => tracing::warn!(error = %err, "contact method skipped"),
                }
            }
            Ok(methods)
        }

        async fn contact_method(
            &self,
            user_id: i64,
            id: i64,
        ) -> StoreResult<(ContactMethod, Destination)> {
            let sql = format!("{SELECT_CONTACTS} WHERE m.user_id = $1 AND m.id = $2");
            sqlx::query_as::<DB, ContactRow>(&sql)
                .bind(user_id)
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .ok_or(StoreError::NotFound)?
                .decode()
        }

        async fn add_contact_method(
            &self,
            user_id: i64,
            new: &NewContactMethod,
            at: DateTime<Utc>,
            event: AuditEvent,
        ) -> StoreResult<i64> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let labels = sqlx::query_as::<DB, (String,)>(
                "SELECT label FROM contact_methods WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            if labels.len() >= MAX_CONTACT_METHODS {
                return Err(StoreError::Conflict(format!(
                    "at most {MAX_CONTACT_METHODS} contact methods; delete one first"
                )));
            }
            if labels.iter().any(|(label,)| *label == new.label) {
                return Err(StoreError::Conflict(format!(
                    "you already have a contact method called '{}'",
                    new.label
                )));
            }
            let stored = new.destination.stored();
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_CONTACT)
                .bind(user_id)
                .bind(new.label.clone())
                .bind(new.kind.as_str().to_owned())
                .bind(stored.url)
                .bind(stored.secret)
                .bind(stored.settings)
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?;
            append(&mut tx, event.resource(&format!("contact_method:{id}"))).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn delete_contact_method(
            &self,
            user_id: i64,
            id: i64,
            event: AuditEvent,
        ) -> StoreResult<()> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(
                "DELETE FROM contact_methods WHERE id = $1 AND user_id = $2 RETURNING id",
            )
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
