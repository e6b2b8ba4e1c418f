//! Pure types and rules shared by the server and the browser: no I/O here.
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod deploys;
pub mod exposition;
pub mod incidents;
pub mod notifications;
pub mod observation;
pub mod readiness;
pub mod runbooks;
pub mod series;
pub mod signals;
pub mod silences;
pub mod target;
pub mod target_files;
pub mod tools;
