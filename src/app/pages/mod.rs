//! One module per page.
pub mod access;
pub mod account;
pub mod admin;
pub mod audit;
pub mod fleet;
pub mod planned;
pub mod server;
pub mod wall;
