//! Errors at the HTTP edge: causes are logged once here, clients get an opaque message.
use crate::domain::error::AppError;
use crate::server::store::StoreError;
use axum::http::StatusCode;

/// The HTTP status a request that ended in `err` answers with.
pub fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden => StatusCode::FORBIDDEN,
        AppError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

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

/// A failure the client cannot act on: its cause is logged here, once, and the client is told
/// only that something went wrong.
pub fn internal(what: &str, cause: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %cause, "{what}");
    AppError::Internal
}

/// A failure of something the server depends on (the session store, the database), which may
/// pass: logged once, and the client is told to try again.
pub fn unavailable(what: &str, cause: impl std::fmt::Display) -> AppError {
    tracing::warn!(error = %cause, "{what}");
    AppError::Unavailable
}

/// Sets the HTTP status of a server-function response to match its error.
pub fn set_status(err: &AppError) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status(err));
    }
}

/// For plain REST routes: the status, and the error as the same JSON server functions send.
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        (status(&self), axum::Json(self)).into_response()
    }
}
