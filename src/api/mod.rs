//! Server functions, one file per area: validate, call the store or a service, return a DTO.
pub mod demo;
pub mod error;
pub mod fleet;
pub mod servers;
pub mod targets;

#[cfg(feature = "ssr")]
mod ssr {
    use super::error::AppError;
    use crate::server::state::AppState;

    pub fn app_state() -> Result<AppState, AppError> {
        leptos::prelude::use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the server-function context");
            AppError::Internal
        })
    }

    /// Gives an error its HTTP status on the way out.
    pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(err) = &result {
            crate::server::error::set_status(err);
        }
        result
    }
}
