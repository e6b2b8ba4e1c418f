//! Pure types and rules shared by the server and the browser: no I/O here.
pub mod target;
