//! Server functions for kiosk and API tokens (admins only). A secret is shown once, at creation.
use super::error::AppError;
use crate::domain::auth::{Role, TokenKind};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub kind: TokenKind,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just made: the only time its secret leaves the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: TokenView,
    pub secret: String,
}

#[cfg(feature = "ssr")]
impl From<crate::server::store::TokenRecord> for TokenView {
    fn from(t: crate::server::store::TokenRecord) -> Self {
        Self {
            id: t.id,
            kind: t.kind,
            name: t.name,
            role: t.role,
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[server(endpoint = "tokens/list")]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let tokens = caller.state.store.tokens().await.map_err(AppError::from);
    super::ssr::respond(tokens.map(|t| t.into_iter().map(TokenView::from).collect()))
}

/// Creates a token. Kiosk tokens are always read-only; API tokens carry the chosen role.
#[server(endpoint = "tokens/create")]
pub async fn create_token(
    kind: String,
    name: String,
    role: String,
) -> Result<IssuedToken, AppError> {
    use crate::domain::auth::{Permission, parse_token_name};
    use crate::domain::target::FieldErrors;
    use crate::server::auth::{hash_token_secret, new_token_secret};
    use crate::server::store::NewToken;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("token", "create", name.trim())
        .details(&serde_json::json!({ "kind": kind, "role": role }));
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
    let result = match (kind, name, role) {
        (Some(kind), Some(name), Some(role)) => {
            let secret = new_token_secret(kind);
            let new = NewToken {
                kind,
                name,
                role,
                secret_hash: hash_token_secret(&secret),
                created_by: caller.principal.actor.clone(),
            };
            caller
                .state
                .store
                .create_token(&new, event.clone())
                .await
                .map(|token| IssuedToken {
                    token: token.into(),
                    secret,
                })
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
pub async fn revoke_token(id: i64) -> Result<TokenView, AppError> {
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
        let token = caller
            .state
            .store
            .revoke_token(id, event.clone().resource(&name))
            .await?;
        caller.state.kiosk_revoked(token.id);
        Ok(TokenView::from(token))
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}
