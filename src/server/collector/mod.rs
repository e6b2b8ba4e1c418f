//! The collector: a scheduler that polls every target on its own jittered interval with
//! bounded concurrency, the probes, and ingest, which stores polls and feeds the live hub.
mod certificate;
mod fetch;
pub mod hub;
mod ingest;
mod probe_health;
mod probe_mcp;
mod probe_metrics;

use crate::domain::checks::{CheckHistory, CheckResult, CheckStatus, Outcome, ToolCheck};
use crate::domain::exposition::Limits;
use crate::domain::leases::ClusterView;
use crate::domain::observation::{Certificate, Observation, ProbeError};
use crate::domain::offers::{
    Answer, Discoveries, ProbeKind, ProbeOffers, ProbeSwitch, ProbeSwitches,
};
use crate::domain::signals::{IntervalSignals, MetricProfile, Snapshot};
use crate::domain::target::{Target, TargetUrl};
use crate::server::alerts::PollSink;
use crate::server::cluster::Membership;
use crate::server::store::{Store, StoreError, StoreResult};
use crate::server::target_directory::TargetDirectory;
use fetch::FetchLimits;
use futures::StreamExt;
use hub::LiveHub;
use ingest::Collected;
use probe_mcp::{Listed, McpMemory, McpProbe};
use rand::Rng;
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

/// What every poll needs and nothing owns exclusively.
struct PollContext {
    client: reqwest::Client,
    /// Caps the synthetic tool calls in flight, which may each take far longer than a poll.
    call_permits: Semaphore,
    config: CollectorConfig,
    observations: mpsc::Sender<Collected>,
    stats: Arc<CollectorStats>,
}

/// What the collector remembers about one target between its polls.
#[derive(Default)]
struct TargetMemory {
    previous_scrape: Option<(Snapshot, Instant)>,
    mcp: McpMemory,
    /// Which probes the target offers, found out by asking.
    discoveries: Discoveries,
    /// An https target's certificate and when it was read.
    certificate: Option<(Instant, Certificate)>,
    /// Each synthetic tool call's schedule and recent calls, by check id.
    checks: HashMap<i64, CheckMemory>,
}

struct CheckMemory {
    due: Instant,
    history: CheckHistory,
    status: Option<CheckStatus>,
}

/// A target as its polls need it: URLs, headers and metric names are worked out when the
/// target changes, not on every poll, and a poll holds it by reference count.
struct PolledTarget {
    target: Target,
    live_url: String,
    ready_url: String,
    metrics_url: String,
    mcp_url: String,
    headers: reqwest::header::HeaderMap,
    profile: MetricProfile,
    /// Its synthetic tool calls.
    checks: Vec<ToolCheck>,
}

impl PolledTarget {
    fn new(target: Target, checks: Vec<ToolCheck>) -> Arc<Self> {
        let probe = &target.probe;
        Arc::new(Self {
            checks,
            live_url: endpoint(&target, &probe.live_path),
            ready_url: endpoint(&target, &probe.ready_path),
            metrics_url: endpoint(&target, &probe.metrics_path),
            mcp_url: endpoint(&target, &probe.mcp_path),
            headers: fetch::header_map(&target.secret_headers),
            profile: probe.metric_profile(),
            target,
        })
    }
}

struct Slot {
    polled: Arc<PolledTarget>,
    /// Present while no poll is running; a running poll owns it, so polls never overlap.
    memory: Option<TargetMemory>,
}

struct Finished {
    polled: Arc<PolledTarget>,
    due: Instant,
    memory: TargetMemory,
}

struct Scheduler {
    context: Arc<PollContext>,
    store: Arc<dyn Store>,
    directory: TargetDirectory,
    /// Where store calls run (see `on_shared_runtime`).
    shared_runtime: Handle,
    reload: Arc<Notify>,
    leases: Leases,
    stopping: CancellationToken,
}

/// The targets this replica may poll.
struct Leases {
    membership: Membership,
    /// When replicas share the database: the targets this one holds.
    held: HashSet<i64>,
    /// The membership these leases were claimed under.
    generation: u64,
}

impl Leases {
    fn allows(&self, target_id: i64) -> bool {
        matches!(self.membership, Membership::Solo) || self.held.contains(&target_id)
    }

    /// One round after a heartbeat: gives back what is above this replica's fair share (only
    /// targets not being polled right now, so no poll outlives its lease) and claims what is
    /// below it. Returns whether the held set changed.
    async fn rebalance(
        &mut self,
        store: &Arc<dyn Store>,
        runtime: &Handle,
        idle: impl Fn(i64) -> bool,
    ) -> bool {
        let Some(standing) = self.membership.standing() else {
            return false;
        };
        let before = std::mem::take(&mut self.held);
        if standing.generation == self.generation {
            self.held = before.clone();
        } else {
            // The membership lapsed: anything held under it may be polled elsewhere already.
            self.generation = standing.generation;
        }
        let view = ClusterView {
            held: self.held.len(),
            ..standing.view
        };
        let wanted = view.rebalance();
        let me = standing.replica_id;
        if wanted.release > 0 {
            let give_back: Vec<i64> = self
                .held
                .iter()
                .copied()
                .filter(|id| idle(*id))
                .take(wanted.release)
                .collect();
            let released = on_shared_runtime(runtime, store, {
                let (me, give_back) = (me.clone(), give_back.clone());
                move |store| async move { store.release_targets(&me, &give_back).await }
            });
            match released.await {
                Ok(()) => self.held.retain(|id| !give_back.contains(id)),
                Err(err) => tracing::warn!(error = %err, "could not give targets back"),
            }
        }
        if wanted.claim > 0 {
            let now = chrono::Utc::now().timestamp_millis();
            let me = me.clone();
            let claimed = on_shared_runtime(runtime, store, move |store| async move {
                store.claim_targets(&me, now, wanted.claim).await
            });
            match claimed.await {
                Ok(claimed) => self.held.extend(claimed),
                Err(err) => tracing::warn!(error = %err, "could not claim targets"),
            }
        }
        // The store has the last word (a target deleted, leases cleared by hand).
        let held = on_shared_runtime(runtime, store, move |store| async move {
            store.held_targets(&me).await
        });
        match held.await {
            Ok(held) => self.held = held.into_iter().collect(),
            Err(err) => tracing::warn!(error = %err, "could not read the targets held"),
        }
        self.held != before
    }
}

/// Targets are also re-read on this period, for changes made by another process.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Polls that fall due close together are started together: the polling thread then wakes
/// twenty times a second, not once per poll, and the answers to polls started together
/// arrive together. Waking up cost more than the polls themselves: at 2,000 targets a 50 ms
/// tick measured 0.20 CPU seconds per 1,000 polls against 0.26 with 20 ms. Polls start up to
/// this much late (lag p50 about 25 ms), which a 10 s interval does not notice.
const LAUNCH_TICK: Duration = Duration::from_millis(50);

impl Scheduler {
    async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(self.context.config.concurrency.max(1)));
        let mut slots: HashMap<i64, Slot> = HashMap::new();
        let mut queue: BinaryHeap<Reverse<(Instant, i64)>> = BinaryHeap::new();
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let mut next_refresh = Instant::now();
        let mut heartbeats = self.leases.membership.heartbeats();
        let mut next_launch = Instant::now();

        loop {
            if Instant::now() >= next_refresh {
                self.refresh(&mut slots, &mut queue).await;
                next_refresh = Instant::now() + REFRESH_EVERY;
            }
            let wake = queue.peek().map_or(next_refresh, |Reverse((due, _))| {
                (*due).max(next_launch).min(next_refresh)
            });
            tokio::select! {
                () = self.stopping.cancelled() => break,
                () = self.reload.notified() => next_refresh = Instant::now(),
                Some(done) = finished.recv() => self.finish(done, &mut slots, &mut queue).await,
                () = Membership::next_heartbeat(&mut heartbeats) => {
                    let idle = |id: i64| slots.get(&id).is_some_and(|slot| slot.memory.is_some());
                    if self.leases.rebalance(&self.store, &self.shared_runtime, idle).await {
                        // At once, so a target given back is not polled again here.
                        self.refresh(&mut slots, &mut queue).await;
                        next_refresh = Instant::now() + REFRESH_EVERY;
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    next_launch = now + LAUNCH_TICK;
                    let holds_leases = self.leases.membership.holds_leases(now);
                    while let Some(Reverse((due, id))) = queue.peek().copied() {
                        if due > now {
                            break;
                        }
                        queue.pop();
                        let Some(slot) = slots.get_mut(&id) else { continue };
                        if !holds_leases {
                            // Heartbeats stalled: another replica may hold this target by
                            // now, so skip the slot rather than poll it twice.
                            let interval = Duration::from_secs(u64::from(slot.polled.target.interval_secs));
                            queue.push(Reverse((next_slot(due, interval, now), id)));
                            continue;
                        }
                        let Some(memory) = slot.memory.take() else { continue };
                        let polled = slot.polled.clone();
                        let context = self.context.clone();
                        let permits = permits.clone();
                        let done = finished_tx.clone();
                        tokio::spawn(async move {
                            let Ok(_permit) = permits.acquire_owned().await else { return };
                            context.stats.record(Instant::now().saturating_duration_since(due));
                            let mut memory = memory;
                            let observation = poll(&context, &polled, &mut memory).await;
                            // Ingest is gone only when the process is stopping.
                            let _ = context.observations.send(Collected::Observed(observation)).await;
                            let _ = done.send(Finished { polled, due, memory });
                        });
                    }
                }
            }
        }
        drop(finished_tx);
        self.stop(slots, finished).await;
    }

    /// Lets running polls finish and closes every MCP session held. Ingest stops once the
    /// last poll is handed over, as this drops the last sender it reads from.
    async fn stop(
        self,
        mut slots: HashMap<i64, Slot>,
        mut finished: mpsc::UnboundedReceiver<Finished>,
    ) {
        let mut sessions: Vec<(Arc<PolledTarget>, TargetMemory)> = slots
            .drain()
            .filter_map(|(_, slot)| Some((slot.polled, slot.memory?)))
            .collect();
        while let Some(done) = finished.recv().await {
            sessions.push((done.polled, done.memory));
        }
        let context = &self.context;
        futures::stream::iter(sessions)
            .for_each_concurrent(
                context.config.concurrency.max(1),
                |(polled, mut memory)| async move {
                    close_session(context, &polled, &mut memory).await;
                },
            )
            .await;
    }

    /// Re-reads the target list: new targets start at a random point of their interval, so
    /// a large fleet is spread out instead of polled in bursts.
    async fn refresh(
        &self,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let directory = self.directory.clone();
        let listed = on_shared_runtime(&self.shared_runtime, &self.store, |store| async move {
            directory.targets(store.as_ref()).await
        });
        let targets = match listed.await {
            Ok(targets) => targets,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read targets; keeping the current schedule");
                return;
            }
        };
        let checks = on_shared_runtime(&self.shared_runtime, &self.store, |store| async move {
            store.tool_checks(None).await
        });
        let mut checks_by_target: Option<HashMap<i64, Vec<ToolCheck>>> = match checks.await {
            Ok(checks) => {
                let mut by_target: HashMap<i64, Vec<ToolCheck>> = HashMap::new();
                for check in checks {
                    by_target.entry(check.target_id).or_default().push(check);
                }
                Some(by_target)
            }
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read synthetic calls; keeping the current ones");
                None
            }
        };
        let mut seen = HashSet::with_capacity(targets.len());
        let mut adopted = Vec::new();
        let now = Instant::now();
        for target in targets.iter().filter(|t| self.leases.allows(t.id)) {
            seen.insert(target.id);
            let checks = match checks_by_target.as_mut() {
                Some(by_target) => by_target.remove(&target.id).unwrap_or_default(),
                None => slots
                    .get(&target.id)
                    .map(|slot| slot.polled.checks.clone())
                    .unwrap_or_default(),
            };
            match slots.get_mut(&target.id) {
                Some(slot) if slot.polled.target != *target || slot.polled.checks != checks => {
                    if let Some(memory) = slot.memory.as_mut()
                        && slot.polled.target != *target
                    {
                        forget_on_change(memory, &slot.polled.target, target);
                    }
                    slot.polled = PolledTarget::new(target.clone(), checks);
                }
                Some(_) => {}
                None => {
                    let interval = Duration::from_secs(u64::from(target.interval_secs));
                    let offset = rand::rng().random_range(0.0..1.0) * interval.as_secs_f64();
                    queue.push(Reverse((now + Duration::from_secs_f64(offset), target.id)));
                    adopted.push(target.id);
                    slots.insert(
                        target.id,
                        Slot {
                            polled: PolledTarget::new(target.clone(), checks),
                            memory: Some(TargetMemory::default()),
                        },
                    );
                }
            }
        }
        let released: Vec<i64> = slots
            .keys()
            .copied()
            .filter(|id| !seen.contains(id))
            .collect();
        for id in &released {
            if let Some(Slot {
                polled,
                memory: Some(mut memory),
            }) = slots.remove(id)
            {
                let context = self.context.clone();
                tokio::spawn(async move { close_session(&context, &polled, &mut memory).await });
            }
        }
        // Through ingest, so the engine hears of these in order with the polls. Ingest is gone
        // only when the process is stopping.
        let observations = &self.context.observations;
        if !released.is_empty() {
            let _ = observations.send(Collected::Released(released)).await;
        }
        if !adopted.is_empty() {
            let _ = observations.send(Collected::Adopted(adopted)).await;
        }
    }

    /// Puts a polled target back in the queue at its next slot.
    async fn finish(
        &self,
        done: Finished,
        slots: &mut HashMap<i64, Slot>,
        queue: &mut BinaryHeap<Reverse<(Instant, i64)>>,
    ) {
        let Some(slot) = slots.get_mut(&done.polled.target.id) else {
            // Removed while it was being polled: close its MCP session.
            let mut memory = done.memory;
            let context = self.context.clone();
            let polled = done.polled;
            tokio::spawn(async move { close_session(&context, &polled, &mut memory).await });
            return;
        };
        let interval = Duration::from_secs(u64::from(slot.polled.target.interval_secs));
        let mut memory = done.memory;
        if !Arc::ptr_eq(&slot.polled, &done.polled) {
            // Changed while it was being polled.
            forget_on_change(&mut memory, &done.polled.target, &slot.polled.target);
        }
        slot.memory = Some(memory);
        queue.push(Reverse((
            next_slot(done.due, interval, Instant::now()),
            done.polled.target.id,
        )));
    }
}

/// Runs a store call on the shared runtime. A database connection belongs to the runtime
/// that opened it, and the polling runtime ends first: a connection opened there would be
/// dead for the rest of the process.
async fn on_shared_runtime<T, F>(
    runtime: &Handle,
    store: &Arc<dyn Store>,
    call: impl FnOnce(Arc<dyn Store>) -> F,
) -> StoreResult<T>
where
    T: Send + 'static,
    F: Future<Output = StoreResult<T>> + Send + 'static,
{
    runtime
        .spawn(call(store.clone()))
        .await
        // The call ends early only when the shared runtime is shutting down.
        .map_err(|_| StoreError::ShuttingDown)?
}

/// The first slot of the schedule after `now`: the schedule keeps its phase, and slots missed
/// (a poll that overran, a pause) are skipped instead of bunching up.
fn next_slot(due: Instant, interval: Duration, now: Instant) -> Instant {
    let mut next = due + interval;
    while next <= now {
        next += interval;
    }
    next
}

/// A changed target is found out afresh; a new address also starts a new MCP session and
/// scrape history.
fn forget_on_change(memory: &mut TargetMemory, before: &Target, after: &Target) {
    if before.base_url != after.base_url {
        *memory = TargetMemory::default();
    } else {
        memory.discoveries = Discoveries::default();
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
            | ProbeError::Denied { .. }
    )
}

fn endpoint(target: &Target, path: &str) -> String {
    TargetUrl::parse(&target.base_url)
        .map(|b| b.join(path))
        .unwrap_or_default()
}

async fn close_session(context: &PollContext, polled: &PolledTarget, memory: &mut TargetMemory) {
    let probe = McpProbe {
        client: &context.client,
        url: &polled.mcp_url,
        limits: limits(&context.config, &polled.target, &polled.headers),
        full_every: Duration::ZERO,
    };
    probe.close(&mut memory.mcp).await;
}

/// The collector's limits, with the target's own timeout when it has one.
fn limits<'a>(
    config: &'a CollectorConfig,
    target: &Target,
    headers: &'a reqwest::header::HeaderMap,
) -> FetchLimits<'a> {
    let timeout_ms = target.probe.timeout_ms.map_or(config.timeout_ms, u64::from);
    FetchLimits {
        timeout: Duration::from_millis(timeout_ms),
        max_body_bytes: config.max_body_bytes,
        headers,
        deny: &config.deny_networks,
    }
}

/// Metrics-only polling asks `/metrics` and nothing else; a 404 there is a failure.
const METRICS_ONLY: ProbeSwitches = ProbeSwitches {
    live: ProbeSwitch::Off,
    ready: ProbeSwitch::Off,
    metrics: ProbeSwitch::On,
    mcp: ProbeSwitch::Off,
};

/// How a probe's failure bears on whether the server offers it.
fn answer<T>(result: &Result<T, ProbeError>, probe: ProbeKind) -> Answer {
    match result {
        Ok(_) => Answer::Answered,
        Err(err) if unreachable(err) => Answer::Unreachable,
        Err(ProbeError::HttpStatus(404 | 405)) => Answer::Missing,
        // Health and metrics behind the server's own authorization are not offered to
        // mcpops (unless switched on, or once they have answered).
        Err(ProbeError::HttpStatus(401 | 403)) if probe != ProbeKind::Mcp => Answer::Missing,
        // The MCP probe reports the Streamable HTTP POST's status once the legacy transport
        // was not found either.
        Err(ProbeError::Rejected {
            request,
            status: 404 | 405,
        }) if probe == ProbeKind::Mcp && request == "initialize" => Answer::Missing,
        Err(_) => Answer::Broken,
    }
}

/// Whether anything has answered yet on this poll, or why nothing did.
#[derive(Default)]
struct Quiet {
    heard: bool,
    /// The failure of the first probe that found nobody there, before anything answered.
    silence: Option<ProbeError>,
}

impl Quiet {
    fn hear<T>(&mut self, result: &Option<Result<T, ProbeError>>) {
        match result {
            None => {}
            Some(Err(err)) if unreachable(err) && !self.heard && self.silence.is_none() => {
                self.silence = Some(err.clone());
            }
            Some(Err(err)) if unreachable(err) => {}
            Some(_) => self.heard = true,
        }
    }

    fn asking(&self) -> bool {
        self.silence.is_none()
    }
}

/// Whether an MCP failure means the server is not alive, when MCP is all there is to judge
/// by: its own errors (5xx) do; a protocol error or a JSON-RPC error is an answer.
fn mcp_means_down(err: &ProbeError) -> bool {
    matches!(err, ProbeError::Rejected { status, .. } if *status >= 500)
        || matches!(err, ProbeError::HttpStatus(status) if *status >= 500)
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// One poll: the probes the target offers, one after another, each under its own deadline.
/// Liveness comes from `/health/live` when the server has it, otherwise from its MCP answer
/// (or the scrape, or readiness): most MCP servers offer nothing but MCP.
async fn poll(
    context: &PollContext,
    polled: &PolledTarget,
    memory: &mut TargetMemory,
) -> Observation {
    let at = chrono::Utc::now();
    let target = &polled.target;
    let limits = limits(&context.config, target, &polled.headers);
    let client = &context.client;
    let parse_limits = Limits {
        max_samples: context.config.max_samples,
        ..Limits::default()
    };
    let mcp_probe = McpProbe {
        client,
        url: &polled.mcp_url,
        limits,
        full_every: Duration::from_secs(context.config.mcp_full_every_secs),
    };
    let switches = match context.config.mode {
        PollMode::Full => target.probe.switches,
        PollMode::MetricsOnly => METRICS_ONLY,
    };
    let [ask_live, ask_ready, ask_metrics, ask_mcp] = memory.discoveries.due(&switches, at);
    // Probes run one after another so a target needs one kept-alive connection, not four.
    // While nothing has answered, a probe that finds nobody there ends the poll: the rest
    // would only wait for the same timeout.
    let mut quiet = Quiet::default();
    let live = if ask_live {
        Some(probe_health::live(client, &polled.live_url, limits).await)
    } else {
        None
    };
    quiet.hear(&live);
    let ready_started = Instant::now();
    let ready = if ask_ready && quiet.asking() {
        Some(probe_health::ready(client, &polled.ready_url, limits).await)
    } else {
        None
    };
    let ready_ms = elapsed_ms(ready_started);
    quiet.hear(&ready);
    let scrape_started = Instant::now();
    let scrape = if ask_metrics && quiet.asking() {
        Some(
            probe_metrics::scrape(
                client,
                &polled.metrics_url,
                limits,
                parse_limits,
                &polled.profile,
            )
            .await,
        )
    } else {
        None
    };
    let scraped_at = Instant::now();
    quiet.hear(&scrape);
    let mcp_started = Instant::now();
    let mcp = if ask_mcp && quiet.asking() {
        Some(mcp_probe.run(&mut memory.mcp).await)
    } else {
        None
    };
    let mcp_ms = elapsed_ms(mcp_started);
    quiet.hear(&mcp);

    let retry = chrono::Duration::seconds(context.config.offer_retry_secs.min(86_400 * 365) as i64);
    let mut offers = ProbeOffers::default();
    let answers = [
        live.as_ref().map(|r| answer(r, ProbeKind::Live)),
        ready.as_ref().map(|r| answer(r, ProbeKind::Ready)),
        scrape.as_ref().map(|r| answer(r, ProbeKind::Metrics)),
        mcp.as_ref().map(|r| answer(r, ProbeKind::Mcp)),
    ];
    for (probe, answered) in ProbeKind::ALL.into_iter().zip(answers) {
        let switch = switches.get(probe);
        let discovery = memory.discoveries.get_mut(probe);
        let offer = match answered {
            Some(answered) => discovery.observe(switch, answered, at, retry),
            None => discovery.unasked(switch),
        };
        offers.set(probe, offer);
    }
    if let Some(err) = quiet.silence {
        return Observation {
            target_id: target.id,
            at,
            live: Err(err),
            ready: None,
            metrics: None,
            mcp: None,
            offers,
            // The last one read: an expired certificate may be why nothing answers.
            certificate: memory.certificate.as_ref().map(|(_, c)| c.clone()),
            checks: check_statuses(polled, memory),
            check_results: Vec::new(),
        };
    }
    if target.base_url.starts_with("https://")
        && memory
            .certificate
            .as_ref()
            .is_none_or(|(read_at, _)| read_at.elapsed() >= certificate::READ_EVERY)
        && let Some(read) = certificate::read(client, &target.base_url, limits).await
    {
        memory.certificate = Some((Instant::now(), read));
    }
    // A probe the server does not offer says nothing, so it is left out.
    let offered = |probe: ProbeKind| offers.has(probe);
    let ready = ready.filter(|_| offered(ProbeKind::Ready));
    let scrape = scrape.filter(|_| offered(ProbeKind::Metrics));
    let mut mcp = mcp.filter(|_| offered(ProbeKind::Mcp));
    let live = match live.filter(|_| offered(ProbeKind::Live)) {
        Some(live) => live,
        None => match &mcp {
            Some(Err(err)) if mcp_means_down(err) => {
                let err = err.clone();
                // Said once, as the liveness failure.
                mcp = None;
                Err(err)
            }
            Some(_) => Ok(mcp_ms),
            None if scrape.is_some() => {
                Ok(scraped_at.duration_since(scrape_started).as_secs_f64() * 1000.0)
            }
            None if ready.is_some() => Ok(ready_ms),
            None => Err(ProbeError::NothingAnswers),
        },
    };
    let metrics = scrape.map(|scrape| {
        scrape.map(|snapshot| {
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
        })
    });
    // Calls go only to a server whose MCP probe just answered, on the same connection.
    let answered = matches!(&mcp, Some(Ok(report)) if report.protection.is_none());
    let check_results = if answered {
        call_tools(context, polled, memory, &mcp_probe, at).await
    } else {
        Vec::new()
    };
    Observation {
        target_id: target.id,
        at,
        live,
        ready,
        metrics,
        mcp,
        offers,
        certificate: memory.certificate.as_ref().map(|(_, c)| c.clone()),
        checks: check_statuses(polled, memory),
        check_results,
    }
}

/// Makes the synthetic tool calls that are due, one after another, each under its own
/// deadline and the fleet's cap on calls in flight. A tool gone from the tool list, or no
/// longer annotated read-only without the admin's override, is not called.
async fn call_tools(
    context: &PollContext,
    polled: &PolledTarget,
    memory: &mut TargetMemory,
    probe: &McpProbe<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<CheckResult> {
    memory
        .checks
        .retain(|id, _| polled.checks.iter().any(|c| c.id == *id));
    let mut results = Vec::new();
    // A call falls due between polls: one due within half a poll interval is made now, or
    // it would wait a whole interval more.
    let slack = Duration::from_secs(u64::from(polled.target.interval_secs)) / 2;
    for check in &polled.checks {
        let now = Instant::now();
        let interval = Duration::from_secs(u64::from(check.spec.interval_secs));
        let state = memory
            .checks
            .entry(check.id)
            .or_insert_with(|| CheckMemory {
                due: first_call(check, interval, now, at),
                history: CheckHistory::default(),
                status: None,
            });
        if state.due > now + slack {
            continue;
        }
        state.due = now + interval;
        let tool = &check.spec.tool;
        let skip = match McpProbe::listed(&memory.mcp, tool) {
            Listed::Absent => Some(format!("{tool} is no longer in the tool list")),
            Listed::Present { read_only: false } if !check.spec.override_read_only => {
                Some(format!("{tool} is no longer annotated read-only"))
            }
            Listed::NotYet | Listed::Present { .. } => None,
        };
        let (ms, outcome) = match skip {
            Some(reason) => (None, Outcome::Skipped(reason)),
            None => {
                // Closed only when the collector stops.
                let Ok(_permit) = context.call_permits.acquire().await else {
                    break;
                };
                let started = Instant::now();
                let timeout = Duration::from_millis(u64::from(check.spec.timeout_ms));
                let answer = probe
                    .call_tool(&mut memory.mcp, tool, check.spec.arguments_json(), timeout)
                    .await;
                context
                    .stats
                    .calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let outcome = match answer.map(|result| check.spec.judge(&result)) {
                    Ok(Ok(())) => Outcome::Passed,
                    Ok(Err(reason)) => Outcome::Failed(reason),
                    Err(err) => Outcome::Failed(err.to_string()),
                };
                (Some(elapsed_ms(started)), outcome)
            }
        };
        let result = CheckResult {
            check_id: check.id,
            target_id: polled.target.id,
            at,
            ms,
            outcome,
        };
        state.status = Some(state.history.push(tool, &check.spec, result.clone()));
        results.push(result);
    }
    results
}

/// A check just added is called at once, so its maker sees an answer; the checks found at
/// start-up start at a random point of their interval, so a fleet's calls are spread out.
fn first_call(
    check: &ToolCheck,
    interval: Duration,
    now: Instant,
    at: chrono::DateTime<chrono::Utc>,
) -> Instant {
    let age = (at - check.created_at).to_std().unwrap_or_default();
    if age < interval {
        now
    } else {
        now + interval.mul_f64(rand::rng().random_range(0.0..1.0))
    }
}

/// Where each of the target's synthetic calls stands, in the order they were made.
fn check_statuses(polled: &PolledTarget, memory: &TargetMemory) -> Vec<CheckStatus> {
    polled
        .checks
        .iter()
        .filter_map(|c| memory.checks.get(&c.id)?.status.clone())
        .collect()
}
