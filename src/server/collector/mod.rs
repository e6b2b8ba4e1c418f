//! The collector: a scheduler that polls every target on its own jittered interval with
//! bounded concurrency, the probes, and ingest, which stores polls and feeds the live hub.
mod fetch;
pub mod hub;
mod ingest;
mod probe_health;
mod probe_mcp;
mod probe_metrics;

use crate::domain::exposition::Limits;
use crate::domain::observation::{Observation, ProbeError};
use crate::domain::signals::{IntervalSignals, Snapshot};
use crate::domain::target::{Target, TargetUrl};
use crate::server::alerts::PollSink;
use crate::server::store::Store;
use fetch::FetchLimits;
use hub::LiveHub;
use probe_mcp::{McpMemory, McpProbe};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;

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
    pub mode: PollMode,
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
            mode: PollMode::Full,
        }
    }
}

/// The running collector; `reload` makes it pick up target changes at once.
#[derive(Clone)]
pub struct Collector {
    reload: Arc<Notify>,
    stats: Arc<CollectorStats>,
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

    /// Starts the scheduler and ingest tasks; they run until the runtime stops.
    pub fn start(
        config: CollectorConfig,
        store: Arc<dyn Store>,
        hub: LiveHub,
        alerts: Option<PollSink>,
    ) -> reqwest::Result<Self> {
        let client = fetch::shared_client(
            Duration::from_millis(config.connect_timeout_ms),
            config.max_redirects,
        )?;
        let reload = Arc::new(Notify::new());
        let stats = Arc::new(CollectorStats::default());
        let (observations, received) = mpsc::channel(16 * 1024);
        tokio::spawn(ingest::run(received, store.clone(), hub, alerts));
        let scheduler = Scheduler {
            context: Arc::new(PollContext {
                client,
                config,
                observations,
                stats: stats.clone(),
            }),
            store,
            reload: reload.clone(),
        };
        tokio::spawn(scheduler.run());
        Ok(Self { reload, stats })
    }
}

/// What every poll needs and nothing owns exclusively.
struct PollContext {
    client: reqwest::Client,
    config: CollectorConfig,
    observations: mpsc::Sender<Observation>,
    stats: Arc<CollectorStats>,
}

/// What the collector remembers about one target between its polls.
#[derive(Default)]
struct TargetMemory {
    previous_scrape: Option<(Snapshot, Instant)>,
    mcp: McpMemory,
}

struct Slot {
    target: Target,
    /// Present while no poll is running; a running poll owns it, so polls never overlap.
    memory: Option<TargetMemory>,
}

struct Finished {
    target: Target,
    due: Instant,
    memory: TargetMemory,
}

struct Scheduler {
    context: Arc<PollContext>,
    store: Arc<dyn Store>,
    reload: Arc<Notify>,
}

/// Targets are also re-read on this period, for changes made by another process.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

impl Scheduler {
    async fn run(self) {
        let permits = Arc::new(Semaphore::new(self.context.config.concurrency.max(1)));
        let mut slots: HashMap<i64, Slot> = HashMap::new();
        let mut queue: BinaryHeap<Reverse<(Instant, i64)>> = BinaryHeap::new();
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let mut next_refresh = Instant::now();

        loop {
            if Instant::now() >= next_refresh {
                self.refresh(&mut slots, &mut queue).await;
                next_refresh = Instant::now() + REFRESH_EVERY;
            }
            let wake = queue
                .peek()
                .map_or(next_refresh, |Reverse((due, _))| (*due).min(next_refresh));
            tokio::select! {
                () = self.reload.notified() => next_refresh = Instant::now(),
                Some(done) = finished.recv() => self.finish(done, &mut slots, &mut queue).await,
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    while let Some(Reverse((due, id))) = queue.peek().copied() {
                        if due > now {
                            break;
                        }
                        queue.pop();
                        let Some(slot) = slots.get_mut(&id) else { continue };
                        let Some(memory) = slot.memory.take() else { continue };
                        let target = slot.target.clone();
                        let context = self.context.clone();
                        let permits = permits.clone();
                        let done = finished_tx.clone();
                        tokio::spawn(async move {
                            let Ok(_permit) = permits.acquire_owned().await else { return };
                            context.stats.record(Instant::now().saturating_duration_since(due));
                            let mut memory = memory;
                            let observation = poll(&context, &target, &mut memory).await;
                            // Ingest is gone only when the process is stopping.
                            let _ = context.observations.send(observation).await;
                            let _ = done.send(Finished { target, due, memory });
                        });
                    }
                }
            }
        }
    }

    /// Re-reads the target list: new targets start at a random point of their interval, so
    /// a large fleet is spread out instead of polled in bursts.
    async fn refresh(
        &self,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let targets = match self.store.list_targets().await {
            Ok(targets) => targets,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read targets; keeping the current schedule");
                return;
            }
        };
        let mut seen = std::collections::HashSet::with_capacity(targets.len());
        let now = Instant::now();
        for target in targets {
            seen.insert(target.id);
            match slots.get_mut(&target.id) {
                Some(slot) => {
                    if slot.target.base_url != target.base_url
                        && let Some(memory) = slot.memory.as_mut()
                    {
                        *memory = TargetMemory::default();
                    }
                    slot.target = target;
                }
                None => {
                    let interval = Duration::from_secs(u64::from(target.interval_secs));
                    let offset = rand::rng().random_range(0.0..1.0) * interval.as_secs_f64();
                    queue.push(Reverse((now + Duration::from_secs_f64(offset), target.id)));
                    slots.insert(
                        target.id,
                        Slot {
                            target,
                            memory: Some(TargetMemory::default()),
                        },
                    );
                }
            }
        }
        slots.retain(|id, _| seen.contains(id));
    }

    /// Puts a polled target back in the queue at its next slot. The schedule keeps its phase;
    /// a poll that overran its interval skips the slots it missed instead of bunching up.
    async fn finish(
        &self,
        done: Finished,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let Some(slot) = slots.get_mut(&done.target.id) else {
            // Removed while it was being polled: close its MCP session.
            let mut memory = done.memory;
            let context = self.context.clone();
            let target = done.target;
            tokio::spawn(async move { close_session(&context, &target, &mut memory).await });
            return;
        };
        let interval = Duration::from_secs(u64::from(slot.target.interval_secs));
        let mut next = done.due + interval;
        let now = Instant::now();
        while next <= now {
            next += interval;
        }
        slot.memory = Some(done.memory);
        queue.push(Reverse((next, done.target.id)));
    }
}

/// Failures that mean nothing answered at all, as opposed to a wrong answer.
fn unreachable(err: &ProbeError) -> bool {
    matches!(
        err,
        ProbeError::Refused
            | ProbeError::Timeout { .. }
            | ProbeError::Connect(_)
            | ProbeError::Tls(_)
    )
}

fn endpoint(target: &Target, path: &str) -> String {
    TargetUrl::parse(&target.base_url)
        .map(|b| b.join(path))
        .unwrap_or_default()
}

async fn close_session(context: &PollContext, target: &Target, memory: &mut TargetMemory) {
    let headers = fetch::header_map(&target.secret_headers);
    let url = endpoint(target, &target.probe.mcp_path);
    let probe = McpProbe {
        client: &context.client,
        url: &url,
        limits: limits(&context.config, target, &headers),
        full_every: Duration::ZERO,
    };
    probe.close(&mut memory.mcp).await;
}

/// The collector's limits, with the target's own timeout when it has one.
fn limits<'a>(
    config: &CollectorConfig,
    target: &Target,
    headers: &'a reqwest::header::HeaderMap,
) -> FetchLimits<'a> {
    let timeout_ms = target.probe.timeout_ms.map_or(config.timeout_ms, u64::from);
    FetchLimits {
        timeout: Duration::from_millis(timeout_ms),
        max_body_bytes: config.max_body_bytes,
        headers,
    }
}

/// One poll: liveness, readiness, metrics and MCP at once, each under its own deadline.
async fn poll(context: &PollContext, target: &Target, memory: &mut TargetMemory) -> Observation {
    let at = chrono::Utc::now();
    let headers = fetch::header_map(&target.secret_headers);
    let limits = limits(&context.config, target, &headers);
    let probe = &target.probe;
    let (live_url, ready_url, metrics_url, mcp_url) = (
        endpoint(target, &probe.live_path),
        endpoint(target, &probe.ready_path),
        endpoint(target, &probe.metrics_path),
        endpoint(target, &probe.mcp_path),
    );
    let client = &context.client;
    let parse_limits = Limits {
        max_samples: context.config.max_samples,
        ..Limits::default()
    };
    let profile = probe.metric_profile();
    let mcp_probe = McpProbe {
        client,
        url: &mcp_url,
        limits,
        full_every: Duration::from_secs(context.config.mcp_full_every_secs),
    };
    // Probes run one after another so a target needs one kept-alive connection, not four;
    // a target that cannot be reached is not asked again within the same poll.
    let full = context.config.mode == PollMode::Full;
    let live = if full {
        Some(probe_health::live(client, &live_url, limits).await)
    } else {
        None
    };
    if let Some(Err(err)) = &live
        && unreachable(err)
    {
        return Observation {
            target_id: target.id,
            at,
            live: Err(err.clone()),
            ready: None,
            metrics: None,
            mcp: None,
        };
    }
    let ready = if full {
        Some(probe_health::ready(client, &ready_url, limits).await)
    } else {
        None
    };
    let started = Instant::now();
    let scrape = probe_metrics::scrape(client, &metrics_url, limits, parse_limits, &profile).await;
    let scraped_at = Instant::now();
    let mcp = if full {
        Some(mcp_probe.run(&mut memory.mcp).await)
    } else {
        None
    };
    // Without a health probe, a scrape that reached the server is the sign of life.
    let live = live.unwrap_or_else(|| match &scrape {
        Err(err) if unreachable(err) => Err(err.clone()),
        _ => Ok(scraped_at.duration_since(started).as_secs_f64() * 1000.0),
    });
    let metrics = scrape.map(|snapshot| {
        let signals = memory
            .previous_scrape
            .as_ref()
            .map(|(previous, previous_at)| {
                IntervalSignals::between(
                    previous,
                    &snapshot,
                    scraped_at.duration_since(*previous_at).as_secs_f64(),
                )
            });
        memory.previous_scrape = Some((snapshot, scraped_at));
        signals
    });
    Observation {
        target_id: target.id,
        at,
        live,
        ready,
        metrics: Some(metrics),
        mcp,
    }
}
