//! The error a request ends in, as the person who made it sees it: server functions return
//! it, and it crosses the wire as JSON. Causes are logged where it is made
//! (`server::error`); it carries only what the client may know.
use super::target::FieldErrors;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please correct the highlighted fields")]
    Invalid(FieldErrors),
    /// The request itself is malformed (an argument that does not parse, or is missing).
    #[error("{0}")]
    BadRequest(String),
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
}
