//! `mcpops bench collector`: polls a simulated fleet running in child processes on loopback
//! for a fixed time and prints throughput, CPU, memory, scheduling lag and storage figures.
use crate::domain::audit::{AuditEvent, RequestOrigin};
use crate::domain::checks::CheckSpec;
use crate::domain::target::{Interval, TargetName, TargetSource, TargetSpec, TargetUrl};
use crate::server::cluster::Membership;
use crate::server::collector::hub::LiveHub;
use crate::server::collector::{Collector, CollectorConfig, PollMode};
use crate::server::store::{self, StoreOptions};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// Servers per fleet process: each costs a listener and a connection, and file
/// descriptors are limited per process.
const SERVERS_PER_FLEET: usize = 4000;

pub struct BenchOptions {
    pub targets: usize,
    pub seconds: u64,
    pub interval_secs: u32,
    pub modes: Vec<PollMode>,
    /// A synthetic tool call per target per minute, in full mode.
    pub calls: bool,
}

#[derive(Debug)]
pub struct BenchFigures {
    pub mode: PollMode,
    pub targets: usize,
    pub polls_per_sec: f64,
    pub calls_per_sec: f64,
    pub cpu_secs_per_1000_polls: f64,
    pub cpu_cores: f64,
    pub rss_bytes: u64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub stored_bytes_per_target_day: f64,
}

/// Starts fleet processes (`mcpops fleet`) and returns them with every server's address.
pub(super) async fn start_fleet(
    targets: usize,
) -> anyhow::Result<(Vec<tokio::process::Child>, Vec<String>)> {
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    let mut addrs = Vec::with_capacity(targets);
    let mut remaining = targets;
    while remaining > 0 {
        let count = remaining.min(SERVERS_PER_FLEET);
        remaining -= count;
        let mut child = tokio::process::Command::new(&exe)
            .args(["fleet", "--servers", &count.to_string()])
            .env("MCPOPS__LOG__LEVEL", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("fleet has no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if line == "ready" {
                break;
            }
            addrs.push(line);
        }
        children.push(child);
    }
    anyhow::ensure!(
        addrs.len() == targets,
        "the fleet started {} of {targets} servers",
        addrs.len()
    );
    Ok((children, addrs))
}

/// User plus system CPU time of a process (`self` or a pid), from /proc.
pub(super) fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    // Failing to read /proc here usually means the process ran out of file descriptors.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| anyhow::anyhow!("cannot read /proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((ticks(11) + ticks(12)) / 100.0)
}

pub(super) fn rss_bytes(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| anyhow::anyhow!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

fn database_bytes(dir: &Path) -> u64 {
    ["bench.db", "bench.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

pub(super) fn percentile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[rank])
}

pub async fn run_collector(options: &BenchOptions) -> anyhow::Result<Vec<BenchFigures>> {
    let mut results = Vec::new();
    for &mode in &options.modes {
        results.push(run_mode(options, mode).await?);
    }
    Ok(results)
}

async fn run_mode(options: &BenchOptions, mode: PollMode) -> anyhow::Result<BenchFigures> {
    let (_fleet, addrs) = start_fleet(options.targets).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = store::open(&url, &StoreOptions::default()).await?;
    let interval = Interval::try_from(options.interval_secs).map_err(anyhow::Error::msg)?;
    for (index, addr) in addrs.iter().enumerate() {
        let spec = TargetSpec {
            name: TargetName::parse(&format!("bench-{index:05}")).map_err(anyhow::Error::msg)?,
            base_url: TargetUrl::parse(&format!("http://{addr}")).map_err(anyhow::Error::msg)?,
            interval,
            tags: vec![],
            probe: Default::default(),
            headers: None,
        };
        let target = store
            .upsert_target(&spec, TargetSource::Demo, "", None)
            .await?;
        if options.calls && mode == PollMode::Full {
            let event = AuditEvent::new(
                "tool_check",
                "bench",
                "create",
                spec.name.as_str(),
                &RequestOrigin::local(),
            );
            store
                .add_tool_check(target.id, &bench_check(), "bench", event)
                .await?;
        }
    }
    let config = CollectorConfig {
        mode,
        ..CollectorConfig::default()
    };
    let stopping = tokio_util::sync::CancellationToken::new();
    let collector = Collector::start(
        config,
        store.clone(),
        Default::default(),
        LiveHub::default(),
        None,
        Membership::Solo,
        stopping.clone(),
    )?;

    // One interval to spread the first polls and fill connection pools, then measure.
    tokio::time::sleep(Duration::from_secs(u64::from(options.interval_secs))).await;
    let stats = collector.stats();
    stats.drain_lags();
    let calls_before = stats.calls();
    let (polls_before, cpu_before, bytes_before) = (
        stats.polls(),
        cpu_seconds("self")?,
        database_bytes(dir.path()),
    );
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let polls = (stats.polls() - polls_before) as f64;
    let calls = (stats.calls() - calls_before) as f64;
    let cpu = cpu_seconds("self")? - cpu_before;
    let mut lags = stats.drain_lags();
    lags.sort_by(f32::total_cmp);
    let stored = database_bytes(dir.path()).saturating_sub(bytes_before) as f64;
    let rss = rss_bytes("self")?;
    // Stopped before the next mode, so it is measured alone.
    stopping.cancel();
    collector.drained().await;
    store.close().await;
    Ok(BenchFigures {
        mode,
        targets: options.targets,
        polls_per_sec: polls / elapsed,
        calls_per_sec: calls / elapsed,
        cpu_secs_per_1000_polls: if polls > 0.0 {
            cpu / polls * 1000.0
        } else {
            0.0
        },
        cpu_cores: cpu / elapsed,
        rss_bytes: rss,
        lag_p50_ms: percentile(&lags, 0.5),
        lag_p99_ms: percentile(&lags, 0.99),
        stored_bytes_per_target_day: stored / options.targets as f64 / elapsed * 86_400.0,
    })
}

/// The demo fleet's read-only search, once a minute.
fn bench_check() -> CheckSpec {
    CheckSpec {
        tool: "search_docs".into(),
        arguments: r#"{"query": "bench"}"#.into(),
        interval_secs: 60,
        timeout_ms: 5_000,
        text_contains: "results".into(),
        json_pointer: String::new(),
        json_equals: String::new(),
        slow_ms: None,
        override_read_only: false,
    }
}

pub fn print_table(results: &[BenchFigures]) {
    println!(
        "{:<13} {:>8} {:>9} {:>8} {:>15} {:>9} {:>13} {:>11} {:>11} {:>19}",
        "mode",
        "targets",
        "polls/s",
        "calls/s",
        "CPU s/1k polls",
        "CPU cores",
        "RSS/target KB",
        "lag p50 ms",
        "lag p99 ms",
        "stored/target-day"
    );
    for r in results {
        let mode = match r.mode {
            PollMode::Full => "full",
            PollMode::MetricsOnly => "metrics-only",
        };
        println!(
            "{:<13} {:>8} {:>9.1} {:>8.1} {:>15.3} {:>9.2} {:>13.1} {:>11.1} {:>11.1} {:>16.0} KB",
            mode,
            r.targets,
            r.polls_per_sec,
            r.calls_per_sec,
            r.cpu_secs_per_1000_polls,
            r.cpu_cores,
            r.rss_bytes as f64 / r.targets as f64 / 1024.0,
            r.lag_p50_ms,
            r.lag_p99_ms,
            r.stored_bytes_per_target_day / 1024.0,
        );
    }
}
