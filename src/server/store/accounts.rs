//! Users and their API and kiosk tokens. Every change writes its audit entry in the same
//! transaction.
use super::audit::append;
use super::dialect::queries_for_any_backend;
use super::{StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::auth::{Role, Standings, TokenKind, TokenScope};
pub use crate::domain::auth::{TokenRecord, UserAccount};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, Transaction};

/// A user as stored, with the password hash (never sent to the browser).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub account: UserAccount,
    pub password_hash: String,
    /// Sessions begun before this (Unix ms) were ended and are refused.
    pub sessions_after_ms: i64,
}

pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub must_reset: bool,
}

/// A change to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub must_reset: Option<bool>,
    pub disabled: Option<bool>,
    /// Ends every session the user has: "sign out everywhere", and a new password (except
    /// the demo admin's, renewed at each start). A new role or being disabled end them too.
    pub end_sessions: bool,
}

pub struct NewToken {
    pub kind: TokenKind,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<TokenScope>,
    pub secret_hash: String,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    must_reset: bool,
    disabled: bool,
    created_at: DateTime<Utc>,
    sessions_after_ms: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(row: UserRow) -> StoreResult<Self> {
        Ok(Self {
            account: UserAccount {
                id: row.id,
                username: row.username,
                role: parse_role(&row.role)?,
                must_reset: row.must_reset,
                disabled: row.disabled,
                created_at: row.created_at,
            },
            password_hash: row.password_hash,
            sessions_after_ms: row.sessions_after_ms,
        })
    }
}

fn parse_role(raw: &str) -> StoreResult<Role> {
    Role::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{raw}'")))
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    id: i64,
    kind: String,
    name: String,
    role: String,
    scopes: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(row: TokenRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            kind: TokenKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown token kind '{}'", row.kind)))?,
            name: row.name,
            role: parse_role(&row.role)?,
            scopes: TokenScope::split(&row.scopes).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown token scopes '{}'", row.scopes))
            })?,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

const SELECT_USERS: &str = "SELECT id, username, password_hash, role, must_reset, disabled, \
    created_at, sessions_after_ms FROM users";
const INSERT_USER: &str = "INSERT INTO users (username, password_hash, role, must_reset, \
    disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, FALSE, $5, $5) RETURNING id";
const UPDATE_USER: &str = "UPDATE users SET role = COALESCE($1, role), \
    password_hash = COALESCE($2, password_hash), must_reset = COALESCE($3, must_reset), \
    disabled = COALESCE($4, disabled), updated_at = $5, \
    sessions_after_ms = COALESCE($7, sessions_after_ms) WHERE id = $6 RETURNING id";
const SELECT_TOKENS: &str = "SELECT id, kind, name, role, scopes, created_by, created_at, \
    expires_at, last_used_at, revoked_at FROM tokens";
const INSERT_TOKEN: &str = "INSERT INTO tokens (kind, name, role, scopes, secret_hash, \
    created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id";
const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_at = $1 WHERE id = $2";
/// Users and their tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Every user's standing and the revoked kiosk tokens, for ending live streams.
    async fn standings(&self) -> StoreResult<crate::domain::auth::Standings>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn user(&self, id: i64) -> StoreResult<UserRecord>;
    async fn users(&self) -> StoreResult<Vec<UserAccount>>;
    /// Changes below write their audit entry in the same transaction: both land or neither.
    async fn create_user(&self, new: &NewUser, event: AuditEvent) -> StoreResult<UserAccount>;
    async fn change_user(
        &self,
        id: i64,
        change: UserChange,
        event: AuditEvent,
    ) -> StoreResult<UserAccount>;
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    async fn token_by_secret(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn create_token(&self, new: &NewToken, event: AuditEvent) -> StoreResult<TokenRecord>;
    async fn revoke_token(&self, id: i64, event: AuditEvent) -> StoreResult<TokenRecord>;
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
}

queries_for_any_backend! {
    area AccountStore rows [UserRow, TokenRow] {
        /// Every user's standing and the revoked kiosk tokens, for ending live streams.
        async fn standings(&self) -> StoreResult<Standings> {
            let users = sqlx::query_as::<DB, (i64, bool, i64)>(
                "SELECT id, disabled, sessions_after_ms FROM users",
            )
            .fetch_all(self.pool())
            .await?;
            let revoked = sqlx::query_as::<DB, (i64,)>(
                "SELECT id FROM tokens WHERE kind = 'kiosk' AND revoked_at IS NOT NULL",
            )
            .fetch_all(self.pool())
            .await?;
            Ok(Standings {
                users: users
                    .into_iter()
                    .map(|(id, disabled, after)| (id, (disabled, after)))
                    .collect(),
                revoked_kiosks: revoked.into_iter().map(|(id,)| id).collect(),
            })
        }

        async fn count_users(&self) -> StoreResult<i64> {
            let (count,): (i64,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM users")
                .fetch_one(self.pool())
                .await?;
            Ok(count)
        }

        async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
            let sql = format!("{SELECT_USERS} WHERE username = $1");
            sqlx::query_as::<DB, UserRow>(&sql)
                .bind(username.to_owned())
                .fetch_optional(self.pool())
                .await?
                .map(UserRecord::try_from)
                .transpose()
        }

        async fn user(&self, id: i64) -> StoreResult<UserRecord> {
            let sql = format!("{SELECT_USERS} WHERE id = $1");
            sqlx::query_as::<DB, UserRow>(&sql)
                .bind(id)
                .fetch_one(self.pool())
                .await?
                .try_into()
        }

        async fn users(&self) -> StoreResult<Vec<UserAccount>> {
            let sql = format!("{SELECT_USERS} ORDER BY username");
            sqlx::query_as::<DB, UserRow>(&sql)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(|row| UserRecord::try_from(row).map(|r| r.account))
                .collect()
        }

        async fn create_user(&self, new: &NewUser, event: AuditEvent) -> StoreResult<UserAccount> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_USER)
                .bind(new.username.clone())
                .bind(new.password_hash.clone())
                .bind(new.role.as_str().to_owned())
                .bind(new.must_reset)
                .bind(Utc::now())
                .fetch_one(&mut *tx)
                .await?;
            let user = user_in(&mut tx, id).await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(user.account)
        }

        async fn change_user(
            &self,
            id: i64,
            change: UserChange,
            event: AuditEvent,
        ) -> StoreResult<UserAccount> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let before = user_in(&mut tx, id).await?;
            let ends_sessions = change.end_sessions
                || change.role.is_some_and(|role| role != before.account.role)
                || (change.disabled == Some(true) && !before.account.disabled);
            sqlx::query_as::<DB, (i64,)>(UPDATE_USER)
                .bind(change.role.map(|r| r.as_str().to_owned()))
                .bind(change.password_hash)
                .bind(change.must_reset)
                .bind(change.disabled)
                .bind(Utc::now())
                .bind(id)
                .bind(ends_sessions.then(|| Utc::now().timestamp_millis()))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let user = user_in(&mut tx, id).await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(user.account)
        }

        async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
            let sql = format!("{SELECT_TOKENS} ORDER BY revoked_at IS NOT NULL, name, id");
            sqlx::query_as::<DB, TokenRow>(&sql)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .map(TokenRecord::try_from)
                .collect()
        }

        async fn token_by_secret(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
            let sql = format!("{SELECT_TOKENS} WHERE secret_hash = $1");
            sqlx::query_as::<DB, TokenRow>(&sql)
                .bind(secret_hash.to_owned())
                .fetch_optional(self.pool())
                .await?
                .map(TokenRecord::try_from)
                .transpose()
        }

        async fn create_token(
            &self,
            new: &NewToken,
            event: AuditEvent,
        ) -> StoreResult<TokenRecord> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            let (id,) = sqlx::query_as::<DB, (i64,)>(INSERT_TOKEN)
                .bind(new.kind.as_str().to_owned())
                .bind(new.name.clone())
                .bind(new.role.as_str().to_owned())
                .bind(TokenScope::join(&new.scopes))
                .bind(new.secret_hash.clone())
                .bind(new.created_by.clone())
                .bind(Utc::now())
                .bind(new.expires_at)
                .fetch_one(&mut *tx)
                .await?;
            let token = token_in(&mut tx, id).await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(token)
        }

        async fn revoke_token(&self, id: i64, event: AuditEvent) -> StoreResult<TokenRecord> {
            let mut tx = DB::begin_serialized(self.pool()).await?;
            sqlx::query_as::<DB, (i64,)>(REVOKE_TOKEN)
                .bind(Utc::now())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let token = token_in(&mut tx, id).await?;
            append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(token)
        }

        async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
            sqlx::query::<DB>(TOUCH_TOKEN)
                .bind(at)
                .bind(id)
                .execute(self.pool())
                .await?;
            Ok(())
        }
    }
}

async fn user_in<DB>(tx: &mut Transaction<'static, DB>, id: i64) -> StoreResult<UserRecord>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> UserRow: sqlx::FromRow<'r, DB::Row>,
{
    let sql = format!("{SELECT_USERS} WHERE id = $1");
    sqlx::query_as::<DB, UserRow>(&sql)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?
        .try_into()
}

async fn token_in<DB>(tx: &mut Transaction<'static, DB>, id: i64) -> StoreResult<TokenRecord>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> TokenRow: sqlx::FromRow<'r, DB::Row>,
{
    let sql = format!("{SELECT_TOKENS} WHERE id = $1");
    sqlx::query_as::<DB, TokenRow>(&sql)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?
        .try_into()
}
