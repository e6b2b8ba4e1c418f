//! Every integration test, in one binary: one link instead of one per file, and tests of
//! different files run side by side. Each file is a module; `cargo test --features ssr
//! --test integration oncall::` runs one of them.
mod common;

mod accounts;
mod alerts;
mod authorization;
mod backup;
mod capacity;
mod channels;
mod cli;
mod collector;
mod crash;
mod demo_fleet;
mod escalation;
mod hostile_fleet;
mod http_operability;
mod incident_comms;
mod incidents;
mod interop;
mod layers;
mod mcp_servers;
mod oncall;
mod replicas;
mod request_log;
mod rollups;
mod runbooks_guide;
mod security;
mod store_conformance;
mod target_files;
mod targets_api;
