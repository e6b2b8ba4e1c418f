//! Who is asking, and may they: sessions, API and kiosk tokens, and the per-route policy.
pub mod failures;
pub mod password;
pub mod policy;
pub mod standings;
pub mod throttle;

use crate::domain::audit::{AuditEvent, Outcome, RequestOrigin};
use crate::domain::auth::{Principal, PrincipalKind, TokenKind};
use crate::server::state::AppState;
use crate::server::store::{SessionStoreHandle, TokenRecord};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use ipnet::IpNet;
use policy::Access;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use throttle::{LoginThrottle, ThrottleLimits};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A session unused for this long ends.
    pub idle_timeout_minutes: u64,
    /// A session ends this long after login, however busy.
    pub absolute_timeout_hours: u64,
    /// Mark cookies `Secure`; set when mcpops is served over TLS (directly or behind a proxy).
    pub secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` is believed, e.g. `["10.0.0.0/8"]`.
    pub trusted_proxies: Vec<IpNet>,
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub lockout_minutes: u64,
    /// Failed sign-ins are audited once per burst; a burst ends after this long without one.
    pub failed_sign_in_quiet_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 8 * 60,
            absolute_timeout_hours: 24,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            lockout_minutes: 15,
            failed_sign_in_quiet_seconds: 60,
        }
    }
}

/// Authentication state shared by every request.
#[derive(Debug)]
pub struct Auth {
    pub config: AuthConfig,
    pub throttle: LoginThrottle,
    pub failures: std::sync::Arc<failures::SignInFailures>,
    /// Who may still be signed in, read again every second (see `standings`).
    pub standings: tokio::sync::watch::Receiver<std::sync::Arc<crate::domain::auth::Standings>>,
}

impl Auth {
    pub fn new(
        config: AuthConfig,
        standings: tokio::sync::watch::Receiver<std::sync::Arc<crate::domain::auth::Standings>>,
    ) -> Self {
        let throttle = LoginThrottle::new(ThrottleLimits {
            per_account: config.max_failures_per_account,
            per_ip: config.max_failures_per_ip,
            window: Duration::from_secs(config.lockout_minutes * 60),
        });
        let failures = std::sync::Arc::new(failures::SignInFailures::new(Duration::from_secs(
            config.failed_sign_in_quiet_seconds,
        )));
        Self {
            config,
            throttle,
            failures,
            standings,
        }
    }
}

/// What a session remembers about who signed in.
pub const SESSION_KEY: &str = "auth";

/// When the session behind a request began (Unix ms), for the live stream to judge later.
#[derive(Debug, Clone, Copy)]
pub struct SessionStart(pub i64);

/// Signs `user_id` in on `session` as of now. Sessions ended before now stay ended; this one
/// is new, which also keeps it when its own user changes their password.
pub async fn start_session(
    session: &Session,
    user_id: i64,
) -> Result<(), tower_sessions::session::Error> {
    session
        .insert(
            SESSION_KEY,
            SessionAuth::User {
                user_id,
                login_at_ms: Utc::now().timestamp_millis(),
            },
        )
        .await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionAuth {
    User {
        user_id: i64,
        login_at_ms: i64,
    },
    /// A wall opened with `?kiosk=TOKEN`; the token is checked again on every request.
    Kiosk {
        secret_hash: String,
    },
}

pub fn session_layer(
    store: SessionStoreHandle,
    config: &AuthConfig,
) -> SessionManagerLayer<SessionStoreHandle> {
    SessionManagerLayer::new(store)
        .with_name("mcpops_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::minutes(
                i64::try_from(config.idle_timeout_minutes).unwrap_or(i64::MAX / 60_000),
            ),
        ))
}

/// Tokens look like `mcpops_api_…`; only their SHA-256 is stored.
pub fn new_token_secret(kind: TokenKind) -> String {
    new_secret(kind.as_str())
}

/// 32 random bytes in hex, prefixed with what the secret opens (`mcpops_calendar_…`), so a
/// leaked one is recognised.
pub fn new_secret(purpose: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("mcpops_{purpose}_{}", hex::encode(bytes))
}

pub fn hash_token_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Longest token we look up; anything longer is not ours.
const TOKEN_MAX: usize = 128;

/// The client address: the socket's, unless it is a trusted proxy, in which case the nearest
/// untrusted address in `X-Forwarded-For`.
pub fn client_ip(socket: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !trusted.iter().any(|net| net.contains(&socket)) {
        return socket;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|net| net.contains(ip)))
        .unwrap_or(socket)
}

fn request_origin(request: &Request, trusted: &[IpNet]) -> RequestOrigin {
    let headers = request.headers();
    let socket = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    };
    RequestOrigin {
        ip: client_ip(socket, headers, trusted).to_string(),
        user_agent: text(header::USER_AGENT.as_str()),
        request_id: text("x-request-id"),
    }
}

/// Resolves the principal, enforces the route's policy, and hands both the principal and the
/// request's origin to whatever runs next (server functions read them from the request parts).
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let origin = request_origin(&request, &state.auth.config.trusted_proxies);
    let path = request.uri().path().to_owned();
    let access = policy::access(&path);
    // Static files, health and metrics answer anyone; skip the session and token lookups.
    if access == Access::Public && !path.starts_with("/api/") {
        request.extensions_mut().insert(origin);
        return next.run(request).await;
    }
    let session = request.extensions().get::<Session>().cloned();
    let kiosk = (path == "/wall").then(|| kiosk_param(&request)).flatten();
    let bearer = bearer(request.headers()).map(str::to_owned);
    let (principal, started) = match resolve(&state, bearer, kiosk, session.as_ref(), &origin).await
    {
        Ok(Some((principal, started))) => (Some(principal), started),
        Ok(None) => (None, None),
        Err(response) => return response,
    };
    let allowed = match (access, &principal) {
        (Access::Public, _) => true,
        (Access::SignedIn, Some(p)) => matches!(p.kind, PrincipalKind::User { .. }),
        (Access::Need(permission), Some(p)) => p.allows(permission),
        _ => false,
    } && principal.as_ref().is_none_or(|p| match &p.kind {
        PrincipalKind::ApiToken { scopes, .. } => policy::token_scopes_allow(scopes, &path, access),
        _ => true,
    });
    if !allowed {
        return refuse(&state, access, principal.as_ref(), &path, &origin).await;
    }
    request.extensions_mut().insert(origin);
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    if let Some(started) = started {
        request.extensions_mut().insert(SessionStart(started));
    }
    next.run(request).await
}

async fn refuse(
    state: &AppState,
    access: Access,
    principal: Option<&Principal>,
    path: &str,
    origin: &RequestOrigin,
) -> Response {
    let page = policy::is_page(path);
    match principal {
        None if page => Redirect::to(&format!("/login?next={}", encode_next(path))).into_response(),
        None => (StatusCode::UNAUTHORIZED, "sign in first").into_response(),
        Some(p) if page && p.must_reset() => Redirect::to("/account/password").into_response(),
        Some(p) => {
            if access == Access::Unlisted {
                tracing::error!(path, "no authorization policy for this endpoint");
            }
            // A signed-in person reaching for more than their role is worth an auditor's look.
            let event = AuditEvent::new("access", &p.actor, "denied", path, origin)
                .outcome(Outcome::Denied)
                .reason(format!("role {} lacks access", p.role.as_str()));
            if let Err(err) = state.store.append_audit(event).await {
                tracing::warn!(error = %err, "could not audit a refused request");
            }
            (StatusCode::FORBIDDEN, "your role does not allow this").into_response()
        }
    }
}

/// The page to come back to after signing in; the login form accepts only local paths.
fn encode_next(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

/// Finds who is asking: a bearer token, a kiosk token in the wall's URL, or the session.
/// `Err` is a finished response (a kiosk token that is not valid).
async fn resolve(
    state: &AppState,
    bearer: Option<String>,
    kiosk: Option<String>,
    session: Option<&Session>,
    origin: &RequestOrigin,
) -> Result<Option<(Principal, Option<i64>)>, Response> {
    if let Some(secret) = bearer {
        return Ok(api_token(state, &secret).await.map(|p| (p, None)));
    }
    let Some(session) = session else {
        return Ok(None);
    };
    if let Some(secret) = kiosk {
        return kiosk_login(state, session, &secret, origin)
            .await
            .map(|p| Some((p, None)));
    }
    let Ok(Some(auth)) = session.get::<SessionAuth>(SESSION_KEY).await else {
        return Ok(None);
    };
    let principal = match auth {
        SessionAuth::User {
            user_id,
            login_at_ms,
        } => {
            let absolute = state.auth.config.absolute_timeout_hours * 3_600_000;
            let age = Utc::now().timestamp_millis() - login_at_ms;
            match state.store.user(user_id).await {
                // A session begun before the user's sessions were ended (a new password,
                // "sign out everywhere", …) is over.
                Ok(user)
                    if !user.account.disabled
                        && u64::try_from(age).unwrap_or(0) < absolute
                        && login_at_ms >= user.sessions_after_ms =>
                {
                    Some((
                        Principal {
                            actor: user.account.username,
                            role: user.account.role,
                            kind: PrincipalKind::User {
                                id: user_id,
                                must_reset: user.account.must_reset,
                            },
                        },
                        Some(login_at_ms),
                    ))
                }
                _ => None,
            }
        }
        SessionAuth::Kiosk { secret_hash } => match state.store.token_by_secret(&secret_hash).await
        {
            Ok(Some(token)) if token.revoked_at.is_none() => Some((kiosk_principal(&token), None)),
            _ => None,
        },
    };
    if principal.is_none() {
        // Expired, disabled or revoked: forget the session so the next request starts clean.
        let _ = session.flush().await;
    }
    Ok(principal)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| t.len() <= TOKEN_MAX)
}

fn kiosk_param(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "kiosk")
        .map(|(_, v)| v.into_owned())
        .filter(|t| t.len() <= TOKEN_MAX)
}

/// An API token works while it is neither revoked nor expired and its creator's account is
/// enabled; it gets what both its role and its creator's current role allow, narrowed again
/// by its scopes at each route.
async fn api_token(state: &AppState, secret: &str) -> Option<Principal> {
    let token = state
        .store
        .token_by_secret(&hash_token_secret(secret))
        .await
        .ok()??;
    let expired = token.expires_at.is_some_and(|at| at <= Utc::now());
    if token.kind != TokenKind::Api || token.revoked_at.is_some() || expired {
        return None;
    }
    let creator = state.store.user_by_name(&token.created_by).await.ok()??;
    if creator.account.disabled {
        return None;
    }
    touch(state, &token).await;
    Some(Principal {
        actor: format!("token:{}", token.name),
        role: token.role.meet(creator.account.role),
        kind: PrincipalKind::ApiToken {
            id: token.id,
            scopes: token.scopes,
        },
    })
}

/// Records use, at most once a minute per token so a busy client does not write on every call.
async fn touch(state: &AppState, token: &TokenRecord) {
    let now = Utc::now();
    let stale = token
        .last_used_at
        .is_none_or(|last| now - last > chrono::Duration::minutes(1));
    if stale && let Err(err) = state.store.touch_token(token.id, now).await {
        tracing::warn!(error = %err, "could not record token use");
    }
}

fn kiosk_principal(token: &TokenRecord) -> Principal {
    Principal {
        actor: format!("kiosk:{}", token.name),
        role: token.role,
        kind: PrincipalKind::Kiosk { id: token.id },
    }
}

/// Opens a kiosk session from `?kiosk=TOKEN`: checked, recorded in the audit log, remembered.
async fn kiosk_login(
    state: &AppState,
    session: &Session,
    secret: &str,
    origin: &RequestOrigin,
) -> Result<Principal, Response> {
    let secret_hash = hash_token_secret(secret);
    let token = match state.store.token_by_secret(&secret_hash).await {
        Ok(Some(token)) if token.kind == TokenKind::Kiosk && token.revoked_at.is_none() => token,
        Ok(_) => {
            let _ = session.flush().await;
            return Err(kiosk_refused());
        }
        Err(err) => {
            return Err(crate::domain::error::AppError::from(err).into_response());
        }
    };
    let principal = kiosk_principal(&token);
    let event = AuditEvent::new("token", &principal.actor, "kiosk_use", &token.name, origin);
    if let Err(err) = state.store.append_audit(event).await {
        return Err(crate::domain::error::AppError::from(err).into_response());
    }
    touch(state, &token).await;
    let stored = async {
        session.cycle_id().await?;
        session
            .insert(SESSION_KEY, SessionAuth::Kiosk { secret_hash })
            .await
    };
    if let Err(err) = stored.await {
        tracing::error!(error = %err, "could not store the kiosk session");
        return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    Ok(principal)
}

fn kiosk_refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Kiosk token not valid</title>\
         <body style=\"background:#0b0f14;color:#e6edf3;font:2rem system-ui;padding:3rem\">\
         <h1>This kiosk link no longer works</h1>\
         <p>The token was revoked or mistyped. Ask an administrator for a new kiosk link.</p>",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 10.0.0.5".parse().expect("header"),
        );
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let stranger: IpAddr = [198, 51, 100, 7].into();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
    }

    #[test]
    fn token_secrets_are_long_random_and_hashed() {
        let one = new_token_secret(TokenKind::Api);
        let two = new_token_secret(TokenKind::Api);
        assert!(one.starts_with("mcpops_api_") && one.len() == 75);
        assert_ne!(one, two);
        assert_eq!(hash_token_secret(&one).len(), 64);
        assert_ne!(hash_token_secret(&one), one);
    }
}
