//! One module per page.
pub mod admin;
pub mod fleet;
pub mod planned;
pub mod server;
pub mod wall;
