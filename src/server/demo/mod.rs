//! A simulated MCP fleet: real HTTP servers on 127.0.0.1 with Prometheus metrics,
//! health endpoints, a small MCP Streamable HTTP endpoint, and fault injection.
mod endpoints;
pub(crate) mod simulation;

use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::checks::CheckSpec;
use crate::domain::demo::{DemoFault, DemoServerView};
use crate::domain::target::{Interval, TargetName, TargetSource, TargetSpec, TargetUrl};
use crate::server::store::{SampleTable, Store, StoreResult};
use chrono::{DateTime, DurationRound, Utc};
use simulation::Simulation;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("no demo server named '{0}'")]
    UnknownServer(String),
    #[error("could not bind a demo server: {0}")]
    Bind(#[from] std::io::Error),
}

/// One simulated server. Its address stays the same across a "down" fault.
pub struct DemoServer {
    pub name: String,
    pub addr: SocketAddr,
    pub tags: Vec<String>,
    sim: Mutex<Simulation>,
    faults: Mutex<HashSet<DemoFault>>,
    sessions: Mutex<endpoints::Sessions>,
    /// Cancelling it stops accepting connections and closes idle ones.
    running: Mutex<Option<CancellationToken>>,
}

impl DemoServer {
    pub fn has_fault(&self, fault: DemoFault) -> bool {
        lock(&self.faults).contains(&fault)
    }

    /// MCP sessions opened and not yet deleted by their client.
    pub fn open_sessions(&self) -> usize {
        lock(&self.sessions).count()
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The running fleet; dropping it does not stop the servers, `shutdown` does.
pub struct DemoFleet {
    servers: Vec<Arc<DemoServer>>,
    ticker: JoinHandle<()>,
}

const TICK: Duration = Duration::from_secs(1);
/// How much made-up history `seed_history` writes.
const HISTORY_DAYS: i64 = 30;
/// Hours of fleet-wide minute rows `seed_history` writes, for the wall's charts.
const FLEET_SEED_HOURS: i64 = 1;
/// Servers whose history `seed_history` writes per transaction: about 100,000 rows.
const SEED_SERVERS_PER_STEP: usize = 50;
/// How often a long seed reports how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl DemoFleet {
    /// Starts `count` servers named demo-01, demo-02, … on ephemeral loopback ports.
    pub async fn start(count: usize) -> Result<Self, DemoError> {
        let mut servers = Vec::with_capacity(count);
        let width = count.to_string().len().max(2);
        for index in 0..count {
            let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
            let server = Arc::new(DemoServer {
                name: format!("demo-{:0width$}", index + 1),
                addr: listener.local_addr()?,
                tags: demo_tags(index),
                sim: Mutex::new(Simulation::new(index as u64)),
                faults: Mutex::new(HashSet::new()),
                sessions: Mutex::new(endpoints::Sessions::default()),
                running: Mutex::new(None),
            });
            serve(&server, listener);
            servers.push(server);
        }
        let ticking = servers.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let now = chrono::Utc::now();
                for server in &ticking {
                    let faults = lock(&server.faults).clone();
                    lock(&server.sim).advance(TICK.as_secs_f64(), now, &faults);
                }
            }
        });
        Ok(Self { servers, ticker })
    }

    pub fn servers(&self) -> &[Arc<DemoServer>] {
        &self.servers
    }

    /// Records every demo server as a target, replacing the addresses of an earlier run.
    pub async fn register(&self, store: &dyn Store, interval: Interval) -> StoreResult<()> {
        for server in &self.servers {
            let spec = TargetSpec {
                name: TargetName::parse(&server.name)
                    .map_err(crate::server::store::StoreError::Corrupt)?,
                base_url: TargetUrl::parse(&server.url())
                    .map_err(crate::server::store::StoreError::Corrupt)?,
                interval,
                tags: server.tags.clone(),
                probe: Default::default(),
                headers: None,
            };
            let target = store
                .upsert_target(&spec, TargetSource::Demo, "", None)
                .await?;
            if store.tool_checks(Some(target.id)).await?.is_empty() {
                let event = AuditEvent::new(
                    "tool_check",
                    "demo",
                    "create",
                    &format!("{}/search_docs", server.name),
                    &RequestOrigin::local(),
                );
                store
                    .add_tool_check(target.id, &demo_check(), "demo", event)
                    .await?;
            }
        }
        Ok(())
    }

    /// Thirty days of hourly and one day of per-minute history before the demo started, its
    /// traffic growing about 1% a day, so long chart ranges and the capacity forecast have
    /// something to show at once. Only into a database that has never been rolled up.
    ///
    /// A large fleet's month is millions of rows: they are written a few servers at a time,
    /// with progress in the log, and the rollup marks come last, so a seed cut short is
    /// written again (over itself) on the next start rather than left half done.
    pub async fn seed_history(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<()> {
        if store.rollup_progress(SampleTable::Hour).await?.is_some()
            || store.rollup_progress(SampleTable::Minute).await?.is_some()
        {
            return Ok(());
        }
        let ids: HashMap<String, i64> = store
            .list_targets()
            .await?
            .into_iter()
            .map(|t| (t.name.as_str().to_owned(), t.id))
            .collect();
        let hour_end = now
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap_or(now);
        let minute_end = now
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(now);
        let scale = |at: DateTime<Utc>| 1.0 - 0.01 * (now - at).num_hours() as f64 / 24.0;
        let total = self.servers.len();
        let mut reported = Instant::now();
        let mut seeded = 0;
        // The wall's fleet charts show the last hour: its fleet rows are seeded too.
        let fleet_from = minute_end - chrono::Duration::hours(FLEET_SEED_HOURS);
        let mut last_hour = Vec::new();
        for step in self.servers.chunks(SEED_SERVERS_PER_STEP) {
            let (mut hours, mut minutes) = (Vec::new(), Vec::new());
            for server in step {
                let Some(&id) = ids.get(&server.name) else {
                    continue;
                };
                let mut sim = lock(&server.sim);
                for h in 1..=HISTORY_DAYS * 24 {
                    let at = hour_end - chrono::Duration::hours(h);
                    hours.push(sim.history_row(id, at, 3600.0, scale(at)));
                }
                for m in 1..=24 * 60 {
                    let at = minute_end - chrono::Duration::minutes(m);
                    minutes.push(sim.history_row(id, at, 60.0, scale(at)));
                }
            }
            store
                .record_rollups(SampleTable::Hour, &hours, None)
                .await?;
            store
                .record_rollups(SampleTable::Minute, &minutes, None)
                .await?;
            last_hour.extend(minutes.into_iter().filter(|row| row.at >= fleet_from));
            seeded += step.len();
            if reported.elapsed() >= PROGRESS_EVERY {
                reported = Instant::now();
                tracing::info!(seeded, total, "seeding the demo's history");
            }
        }
        let fleet = crate::domain::series::fleet_roll_up(&last_hour, chrono::Duration::minutes(1));
        store
            .record_rollups(SampleTable::FleetMinute, &fleet, None)
            .await?;
        store
            .record_rollups(SampleTable::Hour, &[], Some(hour_end))
            .await?;
        store
            .record_rollups(SampleTable::Minute, &[], Some(minute_end))
            .await?;
        tracing::info!(servers = total, "seeded the demo's history");
        Ok(())
    }

    pub fn views(&self) -> Vec<DemoServerView> {
        self.servers
            .iter()
            .map(|s| {
                let mut faults: Vec<DemoFault> = lock(&s.faults).iter().copied().collect();
                faults.sort_by_key(|f| f.as_str());
                DemoServerView {
                    name: s.name.clone(),
                    url: s.url(),
                    faults,
                }
            })
            .collect()
    }

    pub fn has_server(&self, name: &str) -> bool {
        self.servers.iter().any(|s| s.name == name)
    }

    /// Turns a fault on or off; "down" closes the listener, and clearing it listens again.
    pub async fn set_fault(&self, name: &str, fault: DemoFault, on: bool) -> Result<(), DemoError> {
        let server = self
            .servers
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| DemoError::UnknownServer(name.to_owned()))?;
        let changed = {
            let mut faults = lock(&server.faults);
            if on {
                faults.insert(fault)
            } else {
                faults.remove(&fault)
            }
        };
        if changed && fault == DemoFault::Down {
            if on {
                if let Some(token) = lock(&server.running).take() {
                    token.cancel();
                }
            } else {
                let listener = bind_again(server.addr).await?;
                serve(server, listener);
            }
        }
        if changed && fault == DemoFault::ToolDrift {
            lock(&server.sim).tools_changed();
        }
        tracing::info!(server = %server.name, %fault, on, "demo fault changed");
        Ok(())
    }

    pub fn shutdown(&self) {
        self.ticker.abort();
        for server in &self.servers {
            if let Some(token) = lock(&server.running).take() {
                token.cancel();
            }
        }
    }
}

/// The port was ours a moment ago; a new listener may need a few tries while the old one closes.
async fn bind_again(addr: SocketAddr) -> Result<TcpListener, DemoError> {
    let mut last_error = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(err) => {
                last_error = Some(err);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Err(DemoError::Bind(
        last_error.unwrap_or_else(|| std::io::Error::other("bind failed")),
    ))
}

fn serve(server: &Arc<DemoServer>, listener: TcpListener) {
    let token = CancellationToken::new();
    *lock(&server.running) = Some(token.clone());
    let app = endpoints::router(server.clone());
    tokio::spawn(async move {
        let shutdown = token.cancelled_owned();
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %err, "demo server stopped");
        }
    });
}

/// Every demo server gets a synthetic call of its read-only search tool once a minute.
fn demo_check() -> CheckSpec {
    CheckSpec {
        tool: "search_docs".into(),
        arguments: r#"{"query": "status"}"#.into(),
        interval_secs: 60,
        timeout_ms: 5_000,
        text_contains: "results".into(),
        json_pointer: "/status".into(),
        json_equals: "\"ok\"".into(),
        slow_ms: None,
        override_read_only: false,
    }
}

fn demo_tags(index: usize) -> Vec<String> {
    let region = if index.is_multiple_of(2) {
        "region:eu"
    } else {
        "region:us"
    };
    let team = ["team:search", "team:payments", "team:support"][index % 3];
    vec!["demo".into(), region.into(), team.into()]
}

/// A poisoned lock only means another task panicked mid-update; the simulated data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
