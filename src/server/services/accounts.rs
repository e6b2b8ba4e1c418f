//! Account work done from the command line: the first admin, and the demo's admin.
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::auth::{Role, check_new_password, parse_username};
use crate::server::auth::password;
use crate::server::store::{NewUser, Store, StoreError, UserChange};

/// The account `mcpops demo` signs you in with; its password is new on every demo start.
pub const DEMO_ADMIN: &str = "demo-admin";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username: {0}")]
    Username(String),
    #[error("password: {0}")]
    Password(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hash(#[from] password::HashError),
}

pub struct CreatedUser {
    pub username: String,
    /// Set when a temporary password was generated (and must be changed at first sign-in).
    pub temporary_password: Option<String>,
}

fn shell_origin() -> RequestOrigin {
    RequestOrigin {
        ip: "local".into(),
        user_agent: "mcpops-cli".into(),
        request_id: String::new(),
    }
}

fn shell_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub async fn add_user(
    store: &dyn Store,
    username: &str,
    role: Role,
    password: Option<String>,
) -> Result<CreatedUser, AccountError> {
    let username = parse_username(username).map_err(AccountError::Username)?;
    if let Some(password) = &password {
        check_new_password(password).map_err(AccountError::Password)?;
    }
    let temporary_password = password.is_none().then(password::generate);
    let chosen = password
        .or_else(|| temporary_password.clone())
        .unwrap_or_default();
    let new = NewUser {
        username: username.clone(),
        password_hash: password::hash(chosen).await?,
        role,
        must_reset: temporary_password.is_some(),
    };
    let event = AuditEvent::new("user", &shell_actor(), "create", &username, &shell_origin())
        .details(&serde_json::json!({ "role": role.as_str() }));
    store.create_user(&new, event).await?;
    Ok(CreatedUser {
        username,
        temporary_password,
    })
}

/// Creates the demo admin, or gives it a fresh password; returns the password.
pub async fn reset_demo_admin(store: &dyn Store) -> Result<String, AccountError> {
    let fresh = password::generate();
    let hash = password::hash(fresh.clone()).await?;
    let event = AuditEvent::new(
        "user",
        &shell_actor(),
        "demo_reset",
        DEMO_ADMIN,
        &shell_origin(),
    );
    match store.user_by_name(DEMO_ADMIN).await? {
        Some(user) => {
            let change = UserChange {
                password_hash: Some(hash),
                must_reset: Some(false),
                disabled: Some(false),
                role: Some(Role::Admin),
                end_sessions: false,
            };
            store.change_user(user.account.id, change, event).await?;
        }
        None => {
            let new = NewUser {
                username: DEMO_ADMIN.into(),
                password_hash: hash,
                role: Role::Admin,
                must_reset: false,
            };
            store.create_user(&new, event).await?;
        }
    }
    Ok(fresh)
}
