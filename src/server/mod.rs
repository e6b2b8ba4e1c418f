//! Server-only code: configuration, HTTP, storage and the demo fleet.
pub mod accounts;
pub mod audit_bench;
pub mod audit_export;
pub mod auth;
pub mod bench;
pub mod charts;
pub mod collector;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod metrics;
pub mod rollup;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
