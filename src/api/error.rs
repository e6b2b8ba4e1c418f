//! The error every server function returns (`domain::error::AppError`) and its wire codec.
pub use crate::domain::error::AppError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                Self::BadRequest(value.to_string())
            }
            other => Self::Transport(other.to_string()),
        };
        // On the server, arguments that do not parse are the caller's mistake: 400, not 500.
        #[cfg(feature = "ssr")]
        crate::server::http::error::set_status(&err);
        err
    }
}
