//! One module per page.
pub mod access;
pub mod account;
pub mod admin;
pub mod alerts;
pub mod audit;
pub mod backups;
pub mod capacity;
pub mod channels;
pub mod fleet;
pub mod incidents;
pub mod readiness;
pub mod rules;
pub mod runbooks;
pub mod server;
pub mod silences;
pub mod synthetic_calls;
pub mod wall;
