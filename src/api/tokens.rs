//! Server functions for kiosk and API tokens (admins only). A secret is shown once, at creation.
use super::error::AppError;
use crate::domain::auth::TokenRecord;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A token just made: the only time its secret leaves the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: TokenRecord,
    pub secret: String,
}

#[server(endpoint = "tokens/list")]
pub async fn list_tokens() -> Result<Vec<TokenRecord>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let tokens = caller.state.store.tokens().await.map_err(AppError::from);
    super::ssr::respond(tokens)
}

/// Creates a token. Kiosk tokens open only the wall; API tokens carry the chosen role, narrowed
/// to at least one scope, and may expire after `expires_days`.
#[server(endpoint = "tokens/create")]
pub async fn create_token(
    kind: String,
    name: String,
    role: String,
    #[server(default)] scopes: Vec<String>,
    #[server(default)] expires_days: String,
) -> Result<IssuedToken, AppError> {
    use crate::domain::auth::{
        Permission, Role, TokenKind, TokenScope, parse_expiry_days, parse_token_name,
    };
    use crate::domain::target::FieldErrors;
    use crate::server::auth::{hash_token_secret, new_token_secret};
    use crate::server::store::NewToken;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("token", "create", name.trim())
        .details(&serde_json::json!({
            "kind": kind, "role": role, "scopes": scopes, "expires_days": expires_days,
        }));
    let mut errors = FieldErrors::default();
    let kind = TokenKind::parse(&kind).or_else(|| {
        errors.add("kind", "choose kiosk or api");
        None
    });
    let name = parse_token_name(&name)
        .map_err(|e| errors.add("name", e))
        .ok();
    let role = match kind {
        Some(TokenKind::Kiosk) => Some(Role::Viewer),
        _ => Role::parse(&role).or_else(|| {
            errors.add("role", "choose viewer, operator, auditor or admin");
            None
        }),
    };
    let scopes = match kind {
        Some(TokenKind::Kiosk) => Some(Vec::new()),
        _ => match scopes
            .iter()
            .map(|s| TokenScope::parse(s))
            .collect::<Option<Vec<_>>>()
        {
            Some(scopes) if !scopes.is_empty() => Some(scopes),
            Some(_) => {
                errors.add("scopes", "choose at least one scope");
                None
            }
            None => {
                errors.add(
                    "scopes",
                    "scopes are read, deploys:write, alerts:write and admin",
                );
                None
            }
        },
    };
    let expires_at = match parse_expiry_days(&expires_days) {
        Ok(days) => Some(days.map(|d| chrono::Utc::now() + chrono::Duration::days(d))),
        Err(message) => {
            errors.add("expires_days", message);
            None
        }
    };
    let result = match (kind, name, role, scopes, expires_at) {
        (Some(kind), Some(name), Some(role), Some(scopes), Some(expires_at)) => {
            let secret = new_token_secret(kind);
            let new = NewToken {
                kind,
                name,
                role,
                scopes,
                secret_hash: hash_token_secret(&secret),
                created_by: caller.principal.actor.clone(),
                expires_at,
            };
            caller
                .state
                .store
                .create_token(&new, event.clone())
                .await
                .map(|token| IssuedToken { token, secret })
                .map_err(AppError::from)
        }
        _ => Err(AppError::Invalid(errors)),
    };
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

/// Revokes a token; a wall using it loses access at its next request.
#[server(endpoint = "tokens/revoke")]
pub async fn revoke_token(id: i64) -> Result<TokenRecord, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller.event("token", "revoke", &id.to_string());
    let result = async {
        let name = caller
            .state
            .store
            .tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| t.name)
            .ok_or(AppError::NotFound)?;
        // Walls open with it end within a second, on every replica (`auth::standings`).
        let token = caller
            .state
            .store
            .revoke_token(id, event.clone().resource(&name))
            .await?;
        Ok(token)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}
