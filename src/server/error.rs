//! Errors at the HTTP edge: causes are logged once here, clients get an opaque message.
use super::store::StoreError;
use crate::api::error::AppError;

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(message) => AppError::Conflict(message),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = ?err, "database unavailable");
                AppError::Unavailable
            }
            StoreError::ShuttingDown => AppError::Unavailable,
            other => {
                tracing::error!(error = ?other, "storage failure");
                AppError::Internal
            }
        }
    }
}

/// Sets the HTTP status of a server-function response to match its error.
pub fn set_status(err: &AppError) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(err.status());
    }
}

/// For plain REST routes: the status, and the error as the same JSON server functions send.
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        (self.status(), axum::Json(self)).into_response()
    }
}
