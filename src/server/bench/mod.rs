//! The `mcpops bench` commands: each prints figures for docs/benchmarks.md. Speed and memory
//! goals are measured here, never in timed tests.
pub mod audit;
pub mod backup;
pub mod collector;
pub mod load;
pub mod sign_in;
