//! Server functions, one file per area: validate, call the store or a service, return a DTO.
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod capacity;
pub mod channels;
pub mod checks;
pub mod demo;
pub mod deploys;
pub mod error;
pub mod fleet;
pub mod incident_comms;
pub mod incidents;
pub mod oncall;
pub mod paging;
pub mod readiness;
pub mod rules;
pub mod runbooks;
pub mod servers;
pub mod silences;
pub mod targets;
pub mod tokens;
pub mod users;

#[cfg(feature = "ssr")]
mod ssr {
    use super::error::AppError;
    use crate::domain::audit::{AuditEvent, Outcome, RequestOrigin};
    use crate::domain::auth::{Permission, Principal};
    use crate::server::state::AppState;

    pub fn app_state() -> Result<AppState, AppError> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the server-function context");
            AppError::Internal
        })
    }

    /// The caller of a server function, after its permission has been checked.
    pub struct Caller {
        pub state: AppState,
        pub principal: Principal,
        pub origin: RequestOrigin,
    }

    impl Caller {
        /// An audit event by this caller, from this request.
        pub fn event(&self, event_type: &str, action: &str, resource: &str) -> AuditEvent {
            AuditEvent::new(
                event_type,
                &self.principal.actor,
                action,
                resource,
                &self.origin,
            )
        }

        /// Records an attempt that failed; the caller still gets the original error.
        pub async fn record_failure(&self, event: AuditEvent, err: &AppError) {
            let event = event.outcome(Outcome::Failure).reason(err.to_string());
            if let Err(err) = self.state.store.append_audit(event).await {
                tracing::warn!(error = %err, "could not audit a failed action");
            }
        }

        /// Audits a test send to `name` and says how it went: "`name` accepted the test
        /// `what`", or why not as a conflict.
        pub async fn audited_test(
            &self,
            event: AuditEvent,
            name: &str,
            what: &str,
            outcome: Result<(), String>,
        ) -> Result<String, AppError> {
            let event = match &outcome {
                Ok(()) => event,
                Err(reason) => event.outcome(Outcome::Failure).reason(reason),
            };
            if let Err(err) = self.state.store.append_audit(event).await {
                tracing::warn!(error = %err, "could not audit a test send");
            }
            outcome
                .map(|()| format!("{name} accepted the test {what}"))
                .map_err(|reason| {
                    AppError::Conflict(format!("{name} did not accept the test {what}: {reason}"))
                })
        }
    }

    fn parts() -> Result<axum::http::request::Parts, AppError> {
        leptos::prelude::use_context::<axum::http::request::Parts>().ok_or_else(|| {
            tracing::error!("request parts missing from the server-function context");
            AppError::Internal
        })
    }

    /// Where the current request came from (set by the authorization middleware).
    pub fn origin() -> Result<RequestOrigin, AppError> {
        Ok(parts()?
            .extensions
            .get::<RequestOrigin>()
            .cloned()
            .unwrap_or_default())
    }

    /// Who is asking, if anyone.
    pub fn principal() -> Result<Option<Principal>, AppError> {
        Ok(parts()?.extensions.get::<Principal>().cloned())
    }

    /// Checks the caller holds `permission`. The middleware has already enforced the route's
    /// policy; this second check keeps each function safe on its own.
    pub fn require(permission: Permission) -> Result<Caller, AppError> {
        let checked = (|| {
            let state = app_state()?;
            let principal =
                principal()?.ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
            if !principal.allows(permission) {
                return Err(AppError::Forbidden);
            }
            Ok(Caller {
                state,
                principal,
                origin: origin()?,
            })
        })();
        respond(checked)
    }

    /// Gives an error its HTTP status on the way out.
    pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(err) = &result {
            crate::server::http::error::set_status(err);
        }
        result
    }
}
