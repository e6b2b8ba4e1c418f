//! The collector: a scheduler that polls every target on its own jittered interval with
//! bounded concurrency, the probes, and ingest, which stores polls and feeds the live hub.
mod certificate;
pub(crate) mod fetch;
pub mod hub;
mod ingest;
mod poll;
mod probe_health;
mod probe_mcp;
mod probe_metrics;
mod scheduler;

use crate::domain::checks::{CheckHistory, CheckResult, CheckStatus, Outcome, ToolCheck};
use crate::domain::exposition::Limits;
use crate::domain::leases::ClusterView;
use crate::domain::observation::{Certificate, Observation, ProbeError};
use crate::domain::offers::{
    Answer, Discoveries, ProbeKind, ProbeOffers, ProbeSwitch, ProbeSwitches,
};
use crate::domain::signals::{IntervalSignals, MetricProfile, Snapshot};
use crate::domain::target::{Target, TargetUrl};
use crate::server::cluster::Membership;
use crate::server::services::alerts::PollSink;
use crate::server::services::target_directory::TargetDirectory;
use crate::server::store::{Store, StoreError, StoreResult};
use fetch::FetchLimits;
use futures::StreamExt;
use hub::LiveHub;
use ingest::Collected;
use poll::*;
use probe_mcp::{Listed, McpMemory, McpProbe};
use rand::Rng;
use scheduler::*;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Collector settings (the `[collector]` section of the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    pub enabled: bool,
    /// Polls in flight at once, across the fleet.
    pub concurrency: usize,
    pub connect_timeout_ms: u64,
    /// The deadline of each probe request, body included.
    pub timeout_ms: u64,
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    pub max_samples: usize,
    /// How often a healthy MCP session gets the full handshake and `tools/list` again.
    pub mcp_full_every_secs: u64,
    /// How often a probe the server does not offer (404) is tried again.
    pub offer_retry_secs: u64,
    /// A PEM file of extra certificate authorities to trust (an internal CA); the system's
    /// roots stay trusted.
    pub ca_file: String,
    /// Synthetic tool calls in flight at once, across the fleet.
    pub call_concurrency: usize,
    pub mode: PollMode,
    /// Networks no probe may reach, checked on the resolved address (so a DNS name cannot
    /// slip past): link-local and cloud metadata by default. Loopback and private ranges
    /// stay allowed unless listed.
    pub deny_networks: Vec<ipnet::IpNet>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 256,
            connect_timeout_ms: 2_000,
            timeout_ms: 5_000,
            max_body_bytes: 4 * 1024 * 1024,
            max_redirects: 3,
            max_samples: 50_000,
            mcp_full_every_secs: 300,
            offer_retry_secs: 600,
            ca_file: String::new(),
            call_concurrency: 32,
            mode: PollMode::Full,
            deny_networks: fetch::DEFAULT_DENY_NETWORKS
                .iter()
                .filter_map(|net| net.parse().ok())
                .collect(),
        }
    }
}

/// The running collector; `reload` makes it pick up target changes at once.
#[derive(Clone)]
pub struct Collector {
    reload: Arc<Notify>,
    stats: Arc<CollectorStats>,
    /// Cancelled once polling has stopped and every poll taken has been stored.
    drained: CancellationToken,
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the probes' HTTP client")]
    Client(#[from] reqwest::Error),
    #[error("cannot start the polling thread")]
    Thread(#[from] std::io::Error),
    #[error("cannot read [collector] ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// Which probes a poll runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollMode {
    /// Liveness, readiness, metrics and MCP.
    Full,
    /// Only `/metrics`, for fleets whose health and MCP endpoints are not reachable.
    MetricsOnly,
}

/// Counters the benchmark and `/metrics` read.
#[derive(Default)]
pub struct CollectorStats {
    polls: std::sync::atomic::AtomicU64,
    /// Synthetic tool calls made.
    calls: std::sync::atomic::AtomicU64,
    /// Scheduling lag of recent polls (start minus due), in milliseconds.
    lag_ms: std::sync::Mutex<std::collections::VecDeque<f32>>,
    /// The same lag for `/metrics`, once the console's registry watches this collector.
    lag_histogram: std::sync::OnceLock<prometheus::Histogram>,
}

/// How many lag values are kept for percentiles.
const LAG_WINDOW: usize = 200_000;

impl CollectorStats {
    fn record(&self, lag: Duration) {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut lags = self
            .lag_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lags.len() == LAG_WINDOW {
            lags.pop_front();
        }
        lags.push_back(lag.as_secs_f32() * 1000.0);
        if let Some(histogram) = self.lag_histogram.get() {
            histogram.observe(lag.as_secs_f64());
        }
    }

    /// Exports the lag as a histogram from now on (the first registry to ask wins).
    pub fn export_lag(&self, histogram: prometheus::Histogram) {
        let _ = self.lag_histogram.set(histogram);
    }

    pub fn polls(&self) -> u64 {
        self.polls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the recorded lags, leaving the window empty.
    pub fn drain_lags(&self) -> Vec<f32> {
        let mut lags = self
            .lag_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lags.drain(..).collect()
    }
}

impl Collector {
    pub fn stats(&self) -> &Arc<CollectorStats> {
        &self.stats
    }

    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Resolves once the collector has stopped (after `stopping` is cancelled) and the polls
    /// it took are stored and handed to the alert engine.
    pub async fn drained(&self) {
        self.drained.cancelled().await;
    }

    /// Starts the scheduler and ingest; they run until `stopping` is cancelled. The scheduler
    /// polls the targets `membership` lets it hold: all of them on a database of its own, its
    /// share when replicas share the database.
    ///
    /// The scheduler and its polls run on a thread of their own with a single-threaded
    /// runtime. On the shared runtime, a poll's steps (the request, the connection's task,
    /// the answer) were woken on whichever thread was free, and handing work between threads
    /// cost more CPU than the polls themselves (measured: 20% fewer CPU seconds per poll on
    /// one thread). Ingest and the store stay on the shared runtime.
    pub fn start(
        config: CollectorConfig,
        store: Arc<dyn Store>,
        directory: TargetDirectory,
        hub: LiveHub,
        alerts: Option<PollSink>,
        membership: Membership,
        stopping: CancellationToken,
    ) -> Result<Self, StartError> {
        let extra_roots = if config.ca_file.is_empty() {
            Vec::new()
        } else {
            let failed = |reason: String| StartError::CaFile {
                path: config.ca_file.clone(),
                reason,
            };
            let pem = std::fs::read(&config.ca_file).map_err(|e| failed(e.to_string()))?;
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(e.to_string()))?
        };
        let client = fetch::shared_client(
            Duration::from_millis(config.connect_timeout_ms),
            config.max_redirects,
            membership.name(),
            extra_roots,
            &config.deny_networks,
        )?;
        let reload = Arc::new(Notify::new());
        let stats = Arc::new(CollectorStats::default());
        let (observations, received) = mpsc::channel(16 * 1024);
        let (to_store, queued) = mpsc::channel(ingest::STORE_QUEUE);
        let drained = CancellationToken::new();
        let done = drained.clone();
        tokio::spawn({
            let store = store.clone();
            async move {
                ingest::store_batches(queued, store, alerts).await;
                done.cancel();
            }
        });
        let scheduler = Scheduler {
            context: Arc::new(PollContext {
                client,
                call_permits: Semaphore::new(config.call_concurrency.max(1)),
                config,
                observations,
                stats: stats.clone(),
            }),
            store,
            directory,
            shared_runtime: Handle::current(),
            reload: reload.clone(),
            leases: Leases {
                membership,
                held: HashSet::new(),
                generation: 0,
            },
            stopping,
        };
        let polling = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("mcpops-polls".into())
            .spawn(move || {
                polling.block_on(async move {
                    let gathering = tokio::spawn(ingest::gather(received, hub, to_store));
                    scheduler.run().await;
                    // Gathering ends once the last poll still running has handed over its
                    // observation, then the storing stage stores what is left and stops.
                    let _ = gathering.await;
                });
            })?;
        Ok(Self {
            reload,
            stats,
            drained,
        })
    }
}
