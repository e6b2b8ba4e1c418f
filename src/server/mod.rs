//! Server-only code, grouped by what it does:
//! - `services/`: the work behind the pages (alerts, incidents, capacity, backups, runbooks,
//!   deploys, signals, exports, targets from files);
//! - `http/`: the router, live streams, charts, mcpops' own metrics, errors at the edge;
//! - `collector/`, `store/`, `cluster/`, `auth/`: polling, storage, replicas, sign-in;
//! - `bench/` (every `mcpops bench`), `demo/` (the simulated fleet);
//! - `config`, `startup`, `state`, `telemetry`, `private_files`.
pub mod auth;
pub mod bench;
pub mod cluster;
pub mod collector;
pub mod config;
pub mod demo;
pub mod http;
pub mod private_files;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
