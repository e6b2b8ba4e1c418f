//! Server functions for signing in and out, and for one's own password.
use super::error::AppError;
use crate::domain::auth::Viewer;
use leptos::prelude::*;

/// Who is signed in, or `None`.
#[server(endpoint = "auth/me")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    Ok(super::ssr::principal()?.map(|p| Viewer::from_principal(&p)))
}

/// Signs in. Wrong username and wrong password get the same answer, after the same work.
#[server(endpoint = "auth/login")]
pub async fn login(username: String, password: String, next: String) -> Result<Viewer, AppError> {
    let result = sign_in(username, password).await;
    if let Ok(viewer) = &result {
        let target = if viewer.must_reset {
            "/account/password"
        } else {
            crate::domain::auth::local_path(&next)
        };
        leptos_axum::redirect(target);
    }
    super::ssr::respond(result)
}

/// Audits a failed sign-in as part of its burst: by account when the name exists, otherwise
/// by address (see `server::auth::failures`).
#[cfg(feature = "ssr")]
async fn audit_failure(
    state: &crate::server::state::AppState,
    account: &str,
    known: bool,
    ip: std::net::IpAddr,
    origin: &crate::domain::audit::RequestOrigin,
    reason: &str,
) -> Result<(), AppError> {
    use crate::server::auth::failures::{BurstKey, Failure};
    let key = if known {
        BurstKey::Account(account.to_owned())
    } else {
        BurstKey::Address(ip)
    };
    let failure = Failure {
        name: account,
        reason,
        origin,
    };
    let first =
        state
            .auth
            .failures
            .note(key, &failure, std::time::Instant::now(), chrono::Utc::now());
    if let Some(event) = first {
        state.store.append_audit(event).await?;
    }
    Ok(())
}

#[cfg(feature = "ssr")]
async fn sign_in(username: String, password: String) -> Result<Viewer, AppError> {
    use crate::domain::audit::AuditEvent;
    use crate::domain::auth::{PASSWORD_MAX, Principal, PrincipalKind, USERNAME_MAX};
    use crate::server::auth::{password, start_session};
    use std::time::Instant;

    let state = super::ssr::app_state()?;
    let origin = super::ssr::origin()?;
    let account: String = username.trim().to_lowercase();
    let mut errors = crate::domain::target::FieldErrors::default();
    if account.chars().count() > USERNAME_MAX {
        errors.add("username", format!("at most {USERNAME_MAX} characters"));
    }
    if password.len() > PASSWORD_MAX {
        errors.add("password", format!("at most {PASSWORD_MAX} bytes"));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    if account.is_empty() {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    let ip = origin
        .ip
        .parse()
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    // The slot is taken before the password is checked: guesses sent in parallel are
    // counted as they come, not after their hashes.
    let attempted_at = Instant::now();
    if let Err(wait) = state.auth.throttle.attempt(&account, ip, attempted_at) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let known = state.store.user_by_name(&account).await?.is_some();
        audit_failure(&state, &account, known, ip, &origin, "throttled").await?;
        return Err(AppError::Throttled(format!(
            "too many failed sign-ins; try again in {}",
            crate::domain::counted(minutes, "minute")
        )));
    }
    let user = state.store.user_by_name(&account).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password::verify(password, stored).await;
    let user = match user {
        Some(user) if verified && !user.account.disabled => user,
        other => {
            let reason = match &other {
                Some(u) if u.account.disabled && verified => "account disabled",
                Some(_) => "wrong password",
                None => "unknown user",
            };
            // The log names the real reason; the person at the form does not learn it.
            audit_failure(&state, &account, other.is_some(), ip, &origin, reason).await?;
            return Err(AppError::Unauthorized("wrong username or password".into()));
        }
    };
    let event = AuditEvent::new("auth", &account, "login", &account, &origin);
    state.store.append_audit(event).await?;
    state.auth.throttle.succeeded(&account, ip, attempted_at);

    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|e| crate::server::http::error::internal("no session on a sign-in request", e))?;
    // A new id at login: whatever id the browser had before (perhaps planted) is worthless.
    let stored = async {
        session.cycle_id().await?;
        start_session(&session, user.account.id).await
    };
    stored.await.map_err(|err| {
        tracing::error!(error = %err, "could not store the session");
        AppError::Unavailable
    })?;
    Ok(Viewer::from_principal(&Principal {
        actor: user.account.username,
        role: user.account.role,
        kind: PrincipalKind::User {
            id: user.account.id,
            must_reset: user.account.must_reset,
        },
    }))
}

#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    let principal = super::ssr::principal()?;
    let origin = super::ssr::origin()?;
    let state = super::ssr::app_state()?;
    if let Some(principal) = principal {
        let event = crate::domain::audit::AuditEvent::new(
            "auth",
            &principal.actor,
            "logout",
            &principal.actor,
            &origin,
        );
        state.store.append_audit(event).await?;
    }
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|e| crate::server::http::error::internal("no session on a sign-out request", e))?;
    session
        .flush()
        .await
        .map_err(|e| crate::server::http::error::unavailable("could not end the session", e))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the signed-in person's own password (required after an admin reset).
#[server(endpoint = "auth/password")]
pub async fn change_password(
    current: String,
    new_password: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::domain::auth::{PrincipalKind, check_new_password};
    use crate::domain::target::FieldErrors;
    use crate::server::auth::password;
    use crate::server::store::UserChange;

    let state = super::ssr::app_state()?;
    let origin = super::ssr::origin()?;
    let principal = super::ssr::principal()?;
    let Some((user_id, actor)) = principal.and_then(|p| match p.kind {
        PrincipalKind::User { id, .. } => Some((id, p.actor)),
        _ => None,
    }) else {
        return super::ssr::respond(Err(AppError::Unauthorized("sign in first".into())));
    };
    let event =
        crate::domain::audit::AuditEvent::new("user", &actor, "change_password", &actor, &origin);
    let mut errors = FieldErrors::default();
    if let Err(message) = check_new_password(&new_password) {
        errors.add("new_password", message);
    } else if new_password != confirm {
        errors.add("confirm", "does not match the new password");
    }
    let user = state.store.user(user_id).await?;
    if current.len() > crate::domain::auth::PASSWORD_MAX
        || !password::verify(current, Some(user.password_hash)).await
    {
        errors.add("current", "this is not your current password");
    }
    if !errors.is_empty() {
        let err = AppError::Invalid(errors);
        let failed = event
            .outcome(crate::domain::audit::Outcome::Failure)
            .reason(err.to_string());
        state.store.append_audit(failed).await?;
        return super::ssr::respond(Err(err));
    }
    let hash = password::hash(new_password)
        .await
        .map_err(|e| crate::server::http::error::internal("could not hash a new password", e))?;
    let change = UserChange {
        password_hash: Some(hash),
        must_reset: Some(false),
        end_sessions: true,
        ..UserChange::default()
    };
    // Every other session of this user ends; this one goes on, begun afresh.
    let result = match state.store.change_user(user_id, change, event).await {
        Ok(_) => restart_own_session(user_id).await,
        Err(err) => Err(err.into()),
    };
    if result.is_ok() {
        leptos_axum::redirect("/");
    }
    super::ssr::respond(result)
}

/// Ends every other session of the signed-in person, on every replica; this one goes on.
#[server(endpoint = "auth/sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    use crate::domain::auth::PrincipalKind;
    use crate::server::store::UserChange;
    let state = super::ssr::app_state()?;
    let origin = super::ssr::origin()?;
    let Some((user_id, actor)) = super::ssr::principal()?.and_then(|p| match p.kind {
        PrincipalKind::User { id, .. } => Some((id, p.actor)),
        _ => None,
    }) else {
        return super::ssr::respond(Err(AppError::Unauthorized("sign in first".into())));
    };
    let event = crate::domain::audit::AuditEvent::new(
        "user",
        &actor,
        "sign_out_everywhere",
        &actor,
        &origin,
    );
    let change = UserChange {
        end_sessions: true,
        ..UserChange::default()
    };
    let result = match state.store.change_user(user_id, change, event).await {
        Ok(_) => restart_own_session(user_id).await,
        Err(err) => Err(err.into()),
    };
    super::ssr::respond(result)
}

/// Begins the caller's session afresh, after their other sessions were ended.
#[cfg(feature = "ssr")]
async fn restart_own_session(user_id: i64) -> Result<(), AppError> {
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|e| crate::server::http::error::internal("no session on the request", e))?;
    crate::server::auth::start_session(&session, user_id)
        .await
        .map_err(|err| crate::server::http::error::unavailable("could not store the session", err))
}
