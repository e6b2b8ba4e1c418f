//! The error every server function returns; it crosses the wire as JSON.
use crate::domain::target::FieldErrors;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please correct the highlighted fields")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("your role does not allow this")]
    Forbidden,
    #[error("{0}")]
    Throttled(String),
    #[error("the database is not answering; try again shortly")]
    Unavailable,
    #[error("something went wrong on the server; it has been logged")]
    Internal,
    #[error("could not reach the server: {0}")]
    Transport(String),
}

impl AppError {
    /// The field-level problems, when the error is a validation failure.
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            Self::Invalid(fields) => Some(fields),
            _ => None,
        }
    }

    #[cfg(feature = "ssr")]
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}
