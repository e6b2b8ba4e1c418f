//! Users, tokens and the audit log. The SQL is shared by both dialects except for the two
//! places `Dialect` covers: how appends are serialized, and full-text search.
use super::dialect::queries_for_any_backend;
use super::{StoreError, StoreResult, value_rows};
use crate::domain::audit::{
    AuditEntry, AuditEvent, AuditFilter, GENESIS_HASH, Outcome, RequestOrigin,
};
use crate::domain::auth::{Role, Standings, TokenKind, TokenScope};
pub use crate::domain::auth::{TokenRecord, UserAccount};
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};

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

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    at_ms: i64,
    event_type: String,
    actor: String,
    action: String,
    resource: String,
    result: String,
    ip: String,
    user_agent: String,
    request_id: String,
    reason: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> StoreResult<Self> {
        Ok(Self {
            seq: row.seq,
            at_ms: row.at_ms,
            event: AuditEvent {
                event_type: row.event_type,
                actor: row.actor,
                action: row.action,
                resource: row.resource,
                result: Outcome::parse(&row.result).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown audit result '{}'", row.result))
                })?,
                origin: RequestOrigin {
                    ip: row.ip,
                    user_agent: row.user_agent,
                    request_id: row.request_id,
                },
                reason: row.reason,
                details: row.details,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
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
const AUDIT_COLUMNS: &str = "seq, at_ms, event_type, actor, action, resource, result, ip, \
    user_agent, request_id, reason, details, prev_hash, hash";
const AUDIT_TAIL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at_ms, event_type, actor, action, \
    resource, result, ip, user_agent, request_id, reason, details, prev_hash, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

pub(super) struct AccountQueries<'p, DB: Database>(pub &'p Pool<DB>);

/// A bind value for queries assembled from optional filters.
enum Param {
    Text(String),
    Int(i64),
}

queries_for_any_backend! {
    impl AccountQueries rows [UserRow, TokenRow, AuditRow] {
        /// Every user's standing and the revoked kiosk tokens, for ending live streams.
        pub async fn standings(&self) -> StoreResult<Standings> {
            let users = sqlx::query_as::<DB, (i64, bool, i64)>(
                "SELECT id, disabled, sessions_after_ms FROM users",
            )
            .fetch_all(self.0)
            .await?;
            let revoked = sqlx::query_as::<DB, (i64,)>(
                "SELECT id FROM tokens WHERE kind = 'kiosk' AND revoked_at IS NOT NULL",
            )
            .fetch_all(self.0)
            .await?;
            Ok(Standings {
                users: users
                    .into_iter()
                    .map(|(id, disabled, after)| (id, (disabled, after)))
                    .collect(),
                revoked_kiosks: revoked.into_iter().map(|(id,)| id).collect(),
            })
        }

        pub async fn count_users(&self) -> StoreResult<i64> {
            let (count,): (i64,) = sqlx::query_as::<DB, (i64,)>("SELECT COUNT(*) FROM users")
                .fetch_one(self.0)
                .await?;
            Ok(count)
        }

        pub async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
            let sql = format!("{SELECT_USERS} WHERE username = $1");
            sqlx::query_as::<DB, UserRow>(&sql)
                .bind(username.to_owned())
                .fetch_optional(self.0)
                .await?
                .map(UserRecord::try_from)
                .transpose()
        }

        pub async fn user(&self, id: i64) -> StoreResult<UserRecord> {
            let sql = format!("{SELECT_USERS} WHERE id = $1");
            sqlx::query_as::<DB, UserRow>(&sql)
                .bind(id)
                .fetch_one(self.0)
                .await?
                .try_into()
        }

        pub async fn users(&self) -> StoreResult<Vec<UserAccount>> {
            let sql = format!("{SELECT_USERS} ORDER BY username");
            sqlx::query_as::<DB, UserRow>(&sql)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(|row| UserRecord::try_from(row).map(|r| r.account))
                .collect()
        }

        pub async fn create_user(&self, new: &NewUser, event: AuditEvent) -> StoreResult<UserAccount> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn change_user(
            &self,
            id: i64,
            change: UserChange,
            event: AuditEvent,
        ) -> StoreResult<UserAccount> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
            let sql = format!("{SELECT_TOKENS} ORDER BY revoked_at IS NOT NULL, name, id");
            sqlx::query_as::<DB, TokenRow>(&sql)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(TokenRecord::try_from)
                .collect()
        }

        pub async fn token_by_secret(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
            let sql = format!("{SELECT_TOKENS} WHERE secret_hash = $1");
            sqlx::query_as::<DB, TokenRow>(&sql)
                .bind(secret_hash.to_owned())
                .fetch_optional(self.0)
                .await?
                .map(TokenRecord::try_from)
                .transpose()
        }

        pub async fn create_token(
            &self,
            new: &NewToken,
            event: AuditEvent,
        ) -> StoreResult<TokenRecord> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn revoke_token(&self, id: i64, event: AuditEvent) -> StoreResult<TokenRecord> {
            let mut tx = DB::begin_serialized(self.0).await?;
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

        pub async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
            sqlx::query::<DB>(TOUCH_TOKEN)
                .bind(at)
                .bind(id)
                .execute(self.0)
                .await?;
            Ok(())
        }

        pub async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditEntry> {
            let mut tx = DB::begin_serialized(self.0).await?;
            let entry = append(&mut tx, event).await?;
            tx.commit().await?;
            Ok(entry)
        }

        /// Appends entries already chained in order; refused unless the first follows the tail.
        pub async fn append_chained(&self, entries: &[AuditEntry]) -> StoreResult<()> {
            let Some(first) = entries.first() else {
                return Ok(());
            };
            let mut tx = DB::begin_serialized(self.0).await?;
            let tail = sqlx::query_as::<DB, (i64, String)>(AUDIT_TAIL)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
            if (first.seq, first.prev_hash.as_str()) != (tail.0 + 1, tail.1.as_str()) {
                return Err(StoreError::Conflict(
                    "these entries do not continue the audit chain".into(),
                ));
            }
            // Small statements: sqlx resolves each `$N` of a SQLite statement by scanning the
            // parameter names, so the cost of one statement grows with the square of its size.
            for chunk in entries.chunks(32) {
                let sql = format!(
                    "INSERT INTO audit_log (seq, at_ms, event_type, actor, action, resource, result, \
                     ip, user_agent, request_id, reason, details, prev_hash, hash) VALUES {}",
                    value_rows(chunk.len(), 14)
                );
                let mut query = sqlx::query::<DB>(&sql);
                for entry in chunk {
                    let e = &entry.event;
                    query = query
                        .bind(entry.seq)
                        .bind(entry.at_ms)
                        .bind(e.event_type.clone())
                        .bind(e.actor.clone())
                        .bind(e.action.clone())
                        .bind(e.resource.clone())
                        .bind(e.result.as_str().to_owned())
                        .bind(e.origin.ip.clone())
                        .bind(e.origin.user_agent.clone())
                        .bind(e.origin.request_id.clone())
                        .bind(e.reason.clone())
                        .bind(e.details.clone())
                        .bind(entry.prev_hash.clone())
                        .bind(entry.hash.clone());
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Newest first, `limit` entries with `seq < before`.
        pub async fn search_audit(
            &self,
            filter: &AuditFilter,
            before: Option<i64>,
            limit: i64,
        ) -> StoreResult<Vec<AuditEntry>> {
            let mut conditions = Vec::new();
            let mut params = Vec::new();
            let mut add = |column: &str, param: Param| {
                params.push(param);
                conditions.push(format!("{column} ${}", params.len()));
            };
            if let Some(actor) = &filter.actor {
                add("a.actor =", Param::Text(actor.clone()));
            }
            if let Some(event_type) = &filter.event_type {
                add("a.event_type =", Param::Text(event_type.clone()));
            }
            if let Some(action) = &filter.action {
                add("a.action =", Param::Text(action.clone()));
            }
            if let Some(resource) = &filter.resource {
                add("a.resource =", Param::Text(resource.clone()));
            }
            if let Some(result) = filter.result {
                add("a.result =", Param::Text(result.as_str().to_owned()));
            }
            if let Some(from) = filter.from_ms {
                add("a.at_ms >=", Param::Int(from));
            }
            if let Some(to) = filter.to_ms {
                add("a.at_ms <", Param::Int(to));
            }
            if let Some(before) = before {
                add("a.seq <", Param::Int(before));
            }
            let text_param = DB::text_query(filter).map(|text| {
                params.push(Param::Text(text));
                params.len()
            });
            let shape = DB::search_shape(text_param);
            conditions.extend(shape.condition);
            params.push(Param::Int(limit));
            let limit_param = params.len();
            let where_clause = if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            };
            let columns = AUDIT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {columns} FROM {} {where_clause} ORDER BY {} LIMIT ${limit_param}",
                shape.from, shape.order
            );
            let mut query = sqlx::query_as::<DB, AuditRow>(&sql);
            for param in params {
                query = match param {
                    Param::Text(text) => query.bind(text),
                    Param::Int(int) => query.bind(int),
                };
            }
            query
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
        }

        /// Oldest first, `limit` entries with `seq > after`: the order `verify-audit` walks in.
        pub async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditEntry>> {
            let sql =
                format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
            sqlx::query_as::<DB, AuditRow>(&sql)
                .bind(after)
                .bind(limit)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(AuditEntry::try_from)
                .collect()
        }

        /// One entry and the one before it (to check its link).
        pub async fn audit_entry(&self, seq: i64) -> StoreResult<(Option<AuditEntry>, AuditEntry)> {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq <= $1 ORDER BY seq DESC LIMIT 2"
            );
            let mut rows = sqlx::query_as::<DB, AuditRow>(&sql)
                .bind(seq)
                .fetch_all(self.0)
                .await?
                .into_iter()
                .map(AuditEntry::try_from);
            let entry = rows.next().ok_or(StoreError::NotFound)??;
            if entry.seq != seq {
                return Err(StoreError::NotFound);
            }
            Ok((rows.next().transpose()?, entry))
        }
    }
}

/// Appends `event` after the chain's current tail, inside the caller's serialized transaction:
/// if the append fails, so does the change it records.
pub(super) async fn append<DB>(
    tx: &mut Transaction<'static, DB>,
    event: AuditEvent,
) -> StoreResult<AuditEntry>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    let tail = sqlx::query_as::<DB, (i64, String)>(AUDIT_TAIL)
        .fetch_optional(&mut **tx)
        .await?;
    let (prev_seq, prev_hash) = tail.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    let entry = AuditEntry::chain(
        prev_seq + 1,
        Utc::now().timestamp_millis(),
        event,
        &prev_hash,
    );
    let event = &entry.event;
    sqlx::query::<DB>(INSERT_AUDIT)
        .bind(entry.seq)
        .bind(entry.at_ms)
        .bind(event.event_type.clone())
        .bind(event.actor.clone())
        .bind(event.action.clone())
        .bind(event.resource.clone())
        .bind(event.result.as_str().to_owned())
        .bind(event.origin.ip.clone())
        .bind(event.origin.user_agent.clone())
        .bind(event.origin.request_id.clone())
        .bind(event.reason.clone())
        .bind(event.details.clone())
        .bind(entry.prev_hash.clone())
        .bind(entry.hash.clone())
        .execute(&mut **tx)
        .await?;
    Ok(entry)
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
