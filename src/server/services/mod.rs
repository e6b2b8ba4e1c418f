//! The work behind the pages and the API, each over the store and the shared state.
pub mod accounts;
pub mod alerts;
pub mod audit_export;
pub mod backup;
pub mod capacity;
pub mod checks;
pub mod deploys;
pub mod incidents;
pub mod oncall;
pub mod readiness;
pub mod rollup;
pub mod runbooks;
pub mod signals;
pub mod target_directory;
pub mod target_files;
