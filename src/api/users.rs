//! Server functions for managing accounts (admins only).
use super::error::AppError;
use crate::domain::auth::UserAccount;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A password an admin hands over once; the person must change it at their next sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporaryPassword {
    pub username: String,
    pub password: String,
}

#[server(endpoint = "users/list")]
pub async fn list_users() -> Result<Vec<UserAccount>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let users = caller.state.store.users().await.map_err(AppError::from);
    super::ssr::respond(users)
}

/// Creates an account with a generated temporary password, shown once.
#[server(endpoint = "users/add")]
pub async fn add_user(username: String, role: String) -> Result<TemporaryPassword, AppError> {
    use crate::domain::auth::{Permission, Role, parse_username};
    use crate::domain::target::FieldErrors;
    use crate::server::auth::password;
    use crate::server::store::NewUser;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("user", "create", username.trim())
        .details(&serde_json::json!({ "role": role }));
    let mut errors = FieldErrors::default();
    let name = parse_username(&username)
        .map_err(|e| errors.add("username", e))
        .ok();
    let role = Role::parse(&role).or_else(|| {
        errors.add("role", "choose viewer, operator, auditor or admin");
        None
    });
    let result = match (name, role) {
        (Some(name), Some(role)) => {
            let temporary = password::generate();
            match password::hash(temporary.clone()).await {
                Ok(hash) => {
                    let new = NewUser {
                        username: name.clone(),
                        password_hash: hash,
                        role,
                        must_reset: true,
                    };
                    caller
                        .state
                        .store
                        .create_user(&new, event.clone().resource(&name))
                        .await
                        .map(|_| TemporaryPassword {
                            username: name,
                            password: temporary,
                        })
                        .map_err(AppError::from)
                }
                Err(err) => Err(crate::server::http::error::internal(
                    "could not hash a temporary password",
                    err,
                )),
            }
        }
        _ => Err(AppError::Invalid(errors)),
    };
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

/// Changes an account's role or whether it may sign in. Admins cannot lock themselves out.
#[server(endpoint = "users/update")]
/// `disabled` is a checkbox: absent means enabled.
pub async fn update_user(
    id: i64,
    role: String,
    disabled: Option<bool>,
) -> Result<UserAccount, AppError> {
    use crate::domain::auth::{Permission, PrincipalKind, Role};
    use crate::domain::target::FieldErrors;
    use crate::server::store::UserChange;
    let caller = super::ssr::require(Permission::Administer)?;
    let disabled = disabled.unwrap_or(false);
    let event = caller
        .event(
            "user",
            if disabled { "disable" } else { "update" },
            &id.to_string(),
        )
        .details(&serde_json::json!({ "id": id, "role": role, "disabled": disabled }));
    let is_self = matches!(caller.principal.kind, PrincipalKind::User { id: me, .. } if me == id);
    let result = match Role::parse(&role) {
        None => {
            let mut errors = FieldErrors::default();
            errors.add("role", "choose viewer, operator, auditor or admin");
            Err(AppError::Invalid(errors))
        }
        Some(role) if is_self && (role != Role::Admin || disabled) => Err(AppError::Conflict(
            "you cannot remove your own admin role or disable yourself".into(),
        )),
        Some(role) => match caller.state.store.user(id).await {
            Ok(user) => caller
                .state
                .store
                .change_user(
                    id,
                    UserChange {
                        role: Some(role),
                        disabled: Some(disabled),
                        ..UserChange::default()
                    },
                    event.clone().resource(&user.account.username),
                )
                .await
                .map_err(AppError::from),
            Err(err) => Err(err.into()),
        },
    };
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

/// Ends every session of a user, on every replica (their open live pages within a second).
#[server(endpoint = "users/sign_out")]
pub async fn sign_out_user(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    use crate::server::store::UserChange;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller.event("user", "sign_out_everywhere", &id.to_string());
    let result = async {
        let user = caller.state.store.user(id).await?;
        let change = UserChange {
            end_sessions: true,
            ..UserChange::default()
        };
        let event = event.clone().resource(&user.account.username);
        caller.state.store.change_user(id, change, event).await?;
        Ok(())
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

/// Forces a password reset: a new temporary password, shown once, that must be changed.
#[server(endpoint = "users/reset")]
pub async fn reset_password(id: i64) -> Result<TemporaryPassword, AppError> {
    use crate::domain::auth::Permission;
    use crate::server::auth::password;
    use crate::server::store::UserChange;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller.event("user", "force_reset", &id.to_string());
    let result = async {
        let user = caller.state.store.user(id).await?;
        let temporary = password::generate();
        let hash = password::hash(temporary.clone()).await.map_err(|err| {
            crate::server::http::error::internal("could not hash a temporary password", err)
        })?;
        let change = UserChange {
            password_hash: Some(hash),
            must_reset: Some(true),
            end_sessions: true,
            ..UserChange::default()
        };
        let event = event.clone().resource(&user.account.username);
        caller.state.store.change_user(id, change, event).await?;
        Ok(TemporaryPassword {
            username: user.account.username,
            password: temporary,
        })
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}
