//! `mcpops bench load`: the whole console under load, measured from outside as an operator
//! would. Real `mcpops serve` processes poll a simulated fleet running in other processes;
//! the bench reads their own `/metrics` (polls, scheduling lag), their CPU and memory from
//! `/proc`, the database's growth, how long the wall and a server page take to render, and
//! how late live updates reach many browsers at once. One table, one row per setup.
use super::collector::{self as bench, start_fleet};
use crate::domain::auth::Role;
use crate::domain::exposition::{self, Limits};
use crate::domain::signals::{BucketDeltas, Histogram};
use crate::domain::target::{Interval, TargetName, TargetSource, TargetSpec, TargetUrl};
use crate::server::services::accounts;
use crate::server::store::{self, StoreOptions};
use futures::StreamExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;

pub struct LoadBenchOptions {
    /// Fleet sizes measured on one machine (SQLite).
    pub sizes: Vec<usize>,
    /// How long each setup's polling is measured, after the fleet settles.
    pub seconds: u64,
    /// Requests timed per page.
    pub page_requests: usize,
    /// Browsers following `/events` at once.
    pub live_clients: usize,
    /// A PostgreSQL server on which the bench may create (and then drop) a scratch database
    /// for the replica row; the row is skipped without it.
    pub postgres_url: Option<String>,
    pub replicas: usize,
    /// Fleet size of the replica row.
    pub replica_targets: usize,
}

const INTERVAL_SECS: u32 = 10;
/// Tags spread the fleet over this many groups, as a large fleet is grouped on the wall.
const ZONES: usize = 20;
const BENCH_USER: &str = "bench";
/// How long the live clients listen.
const LIVE_SECONDS: u64 = 10;

struct Row {
    setup: String,
    targets: usize,
    polls_per_sec: f64,
    lag_p99_ms: f64,
    cpu_cores: f64,
    cpu_per_1000_polls: f64,
    rss_per_target_kb: f64,
    stored_per_target_day_kb: f64,
    wall_p95_ms: f64,
    server_page_p95_ms: f64,
    live: LiveFigures,
}

struct LiveFigures {
    clients: usize,
    /// Clients whose stream the server ended as too slow.
    dropped: usize,
    updates: usize,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
}

pub async fn run(options: &LoadBenchOptions) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for &targets in &options.sizes {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("load.db").display());
        let setup = Setup {
            label: "1 process, SQLite".into(),
            database_url: url,
            replicas: 1,
            targets,
        };
        rows.push(setup.measure(options).await?);
    }
    if let Some(admin_url) = &options.postgres_url {
        let scratch = ScratchDatabase::create(admin_url).await?;
        let setup = Setup {
            label: format!("{} replicas, PostgreSQL", options.replicas),
            database_url: scratch.url.clone(),
            replicas: options.replicas,
            targets: options.replica_targets,
        };
        let row = setup.measure(options).await;
        scratch.drop_database().await?;
        rows.push(row?);
    } else {
        eprintln!("no --postgres-url: the replica row is skipped");
    }
    print_table(&rows);
    Ok(())
}

struct Setup {
    label: String,
    database_url: String,
    replicas: usize,
    targets: usize,
}

/// One `mcpops serve` process being measured.
struct Replica {
    process: Child,
    addr: SocketAddr,
}

impl Replica {
    fn pid(&self) -> anyhow::Result<String> {
        self.process
            .id()
            .map(|pid| pid.to_string())
            .ok_or_else(|| anyhow::anyhow!("a serve process exited during the bench"))
    }
}

impl Setup {
    async fn measure(&self, options: &LoadBenchOptions) -> anyhow::Result<Row> {
        eprintln!("{}: {} targets", self.label, self.targets);
        let (_fleet, addrs) = start_fleet(self.targets).await?;
        let password = self.seed(&addrs).await?;
        let mut replicas = Vec::new();
        for index in 0..self.replicas {
            replicas.push(spawn_serve(&self.database_url, index).await?);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(options.live_clients + 8)
            .build()?;
        let cookie = sign_in(&http, replicas[0].addr, &password).await?;
        wait_until_settled(&http, &replicas, self.targets).await?;

        eprintln!("  polling for {} s", options.seconds);
        let before = Snapshot::take(&http, &replicas, &self.database_url).await?;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(options.seconds)).await;
        let after = Snapshot::take(&http, &replicas, &self.database_url).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let rss: u64 = replicas
            .iter()
            .map(|r| bench::rss_bytes(&r.pid()?))
            .sum::<anyhow::Result<u64>>()?;

        eprintln!("  rendering pages");
        let base = format!("http://{}", replicas[0].addr);
        let wall = time_page(
            &http,
            &cookie,
            &format!("{base}/wall"),
            options.page_requests,
        )
        .await?;
        let target_id = first_target_id(&http, &cookie, &base).await?;
        let server_page = time_page(
            &http,
            &cookie,
            &format!("{base}/targets/{target_id}"),
            options.page_requests,
        )
        .await?;

        eprintln!(
            "  {} live clients for {LIVE_SECONDS} s",
            options.live_clients
        );
        let live = follow_live(&http, &cookie, &replicas, options.live_clients).await?;

        for replica in &mut replicas {
            stop(replica).await;
        }
        let polls = after.polls - before.polls;
        let cpu = after.cpu_seconds - before.cpu_seconds;
        let mut lag = after.lag.clone();
        lag.counts
            .iter_mut()
            .zip(&before.lag.counts)
            .for_each(|(a, b)| *a = (*a - b).max(0.0));
        let stored = after.stored_bytes.saturating_sub(before.stored_bytes) as f64;
        Ok(Row {
            setup: self.label.clone(),
            targets: self.targets,
            polls_per_sec: polls / elapsed,
            lag_p99_ms: lag.quantile(0.99).unwrap_or(0.0) * 1000.0,
            cpu_cores: cpu / elapsed,
            cpu_per_1000_polls: if polls > 0.0 {
                cpu / polls * 1000.0
            } else {
                0.0
            },
            rss_per_target_kb: rss as f64 / self.targets as f64 / 1024.0,
            stored_per_target_day_kb: stored / self.targets as f64 / elapsed * 86_400.0 / 1024.0,
            wall_p95_ms: wall,
            server_page_p95_ms: server_page,
            live,
        })
    }

    /// Records the fleet as targets and creates the bench's account; returns its password.
    async fn seed(&self, addrs: &[String]) -> anyhow::Result<String> {
        let store = store::open(&self.database_url, &StoreOptions::default()).await?;
        let interval = Interval::try_from(INTERVAL_SECS).map_err(anyhow::Error::msg)?;
        for (index, addr) in addrs.iter().enumerate() {
            let spec = TargetSpec {
                name: TargetName::parse(&format!("load-{index:05}")).map_err(anyhow::Error::msg)?,
                base_url: TargetUrl::parse(&format!("http://{addr}"))
                    .map_err(anyhow::Error::msg)?,
                interval,
                tags: vec![format!("zone:{:02}", index % ZONES)],
                probe: Default::default(),
                headers: None,
            };
            store
                .upsert_target(&spec, TargetSource::Demo, "", None)
                .await?;
        }
        let password = uuid::Uuid::new_v4().simple().to_string();
        accounts::add_user(
            store.as_ref(),
            BENCH_USER,
            Role::Viewer,
            Some(password.clone()),
        )
        .await?;
        store.close().await;
        Ok(password)
    }
}

async fn spawn_serve(database_url: &str, index: usize) -> anyhow::Result<Replica> {
    let mut process = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("MCPOPS__DATABASE__URL", database_url)
        .env("MCPOPS__SERVER__LISTEN", "127.0.0.1:0")
        .env("MCPOPS__CLUSTER__NAME", format!("r{}", index + 1))
        .env("MCPOPS__BACKUP__EVERY_MINUTES", "0")
        .env("MCPOPS__LOG__LEVEL", "warn")
        // The live clients stand for hundreds of people but share one sign-in.
        .env("MCPOPS__SERVER__MAX_STREAMS_PER_PRINCIPAL", "100000")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = process
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("serve has no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = crate::server::startup::dashboard_addr(&line) {
                return Some(addr);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| anyhow::anyhow!("mcpops serve did not start"))?;
    // Keep reading, so a full pipe never blocks the server.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Replica { process, addr })
}

/// SIGTERM, so a replica gives its leases back, then wait for it.
async fn stop(replica: &mut Replica) {
    if let Some(pid) = replica.process.id() {
        let _ = tokio::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(30), replica.process.wait())
        .await
        .is_err()
    {
        let _ = replica.process.kill().await;
    }
}

/// Signs in as the bench's account and returns the session cookie.
async fn sign_in(
    http: &reqwest::Client,
    addr: SocketAddr,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("http://{addr}/api/auth/login"))
        .form(&[
            ("username", BENCH_USER),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await?;
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .next()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("sign-in gave no session ({})", response.status()))
}

/// Waits until every replica is ready and the leases cover the fleet, then one interval
/// more so the first polls' spread is over.
async fn wait_until_settled(
    http: &reqwest::Client,
    replicas: &[Replica],
    targets: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut held = Vec::new();
        for replica in replicas {
            let ready = http
                .get(format!("http://{}/health/ready", replica.addr))
                .send()
                .await;
            let body: Option<serde_json::Value> = match ready {
                Ok(r) if r.status().is_success() => r.json().await.ok(),
                _ => None,
            };
            held.push(body.map(|b| b["cluster"]["held"].as_u64().unwrap_or(targets as u64)));
        }
        let settled = match held.iter().copied().collect::<Option<Vec<u64>>>() {
            Some(held) if replicas.len() == 1 => !held.is_empty(),
            Some(held) => held.iter().sum::<u64>() == targets as u64 && held.iter().all(|h| *h > 0),
            None => false,
        };
        if settled {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the replicas did not share out the fleet within 3 minutes: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(u64::from(INTERVAL_SECS))).await;
    Ok(())
}

/// The serving processes' figures at one moment, summed over replicas.
struct Snapshot {
    polls: f64,
    lag: BucketDeltas,
    cpu_seconds: f64,
    stored_bytes: u64,
}

impl Snapshot {
    async fn take(
        http: &reqwest::Client,
        replicas: &[Replica],
        database_url: &str,
    ) -> anyhow::Result<Self> {
        let mut polls = 0.0;
        let mut lag = BucketDeltas::default();
        let mut cpu_seconds = 0.0;
        for replica in replicas {
            let text = http
                .get(format!("http://{}/metrics", replica.addr))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            let (replica_polls, histogram) = collector_figures(&text)?;
            polls += replica_polls;
            // Cumulative counts since start; the difference of two snapshots is the window.
            lag.merge(&BucketDeltas::between(&Histogram::default(), &histogram));
            cpu_seconds += bench::cpu_seconds(&replica.pid()?)?;
        }
        Ok(Self {
            polls,
            lag,
            cpu_seconds,
            stored_bytes: stored_bytes(database_url).await?,
        })
    }
}

/// Polls started and the scheduling-lag histogram, from a replica's own exposition.
fn collector_figures(text: &str) -> anyhow::Result<(f64, Histogram)> {
    let exposition =
        exposition::parse(text, Limits::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut polls = None;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for sample in &exposition.samples {
        match sample.name {
            "mcpops_collector_polls_total" => polls = Some(sample.value),
            "mcpops_collector_schedule_lag_seconds_bucket" => {
                if let Some(le) = sample.label("le").and_then(|le| le.parse::<f64>().ok()) {
                    buckets.push((le, sample.value));
                }
            }
            _ => {}
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let polls = polls.ok_or_else(|| anyhow::anyhow!("no mcpops_collector_polls_total"))?;
    let histogram = Histogram {
        bounds: buckets
            .iter()
            .map(|(le, _)| *le)
            .filter(|le| le.is_finite())
            .collect(),
        cumulative: buckets.iter().map(|(_, count)| *count).collect(),
    };
    Ok((polls, histogram))
}

async fn stored_bytes(database_url: &str) -> anyhow::Result<u64> {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        return Ok(["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{path}{suffix}")).ok())
            .map(|m| m.len())
            .sum());
    }
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(database_url).await?;
    let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// p95 in milliseconds of `requests` sequential GETs of a page, each read to its end.
async fn time_page(
    http: &reqwest::Client,
    cookie: &str,
    url: &str,
    requests: usize,
) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let response = http
            .get(url)
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url} answered {}",
            response.status()
        );
        response.bytes().await?;
        times.push(started.elapsed().as_secs_f32() * 1000.0);
    }
    times.sort_by(f32::total_cmp);
    Ok(bench::percentile(&times, 0.95))
}

async fn first_target_id(http: &reqwest::Client, cookie: &str, base: &str) -> anyhow::Result<i64> {
    let page = http
        .get(format!("{base}/wall"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await?
        .text()
        .await?;
    page.split("href=\"/targets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the wall links no target"))
}

/// `clients` browsers follow `/events` (spread over the replicas) for `LIVE_SECONDS`; each
/// update's delay is its arrival time minus the poll's timestamp.
async fn follow_live(
    http: &reqwest::Client,
    cookie: &str,
    replicas: &[Replica],
    clients: usize,
) -> anyhow::Result<LiveFigures> {
    let until = Instant::now() + Duration::from_secs(LIVE_SECONDS);
    let mut listeners = tokio::task::JoinSet::new();
    for index in 0..clients {
        let request = http
            .get(format!(
                "http://{}/events",
                replicas[index % replicas.len()].addr
            ))
            .header(reqwest::header::COOKIE, cookie);
        listeners.spawn(listen(request, until));
    }
    let (mut delays, mut dropped) = (Vec::new(), 0);
    while let Some(listened) = listeners.join_next().await {
        let (client_delays, ended_early) = listened??;
        delays.extend(client_delays);
        dropped += usize::from(ended_early);
    }
    delays.sort_by(f32::total_cmp);
    Ok(LiveFigures {
        clients,
        dropped,
        updates: delays.len(),
        delay_p50_ms: bench::percentile(&delays, 0.5),
        delay_p99_ms: bench::percentile(&delays, 0.99),
    })
}

/// One live client: the delays it saw, and whether the server ended its stream early.
async fn listen(
    request: reqwest::RequestBuilder,
    until: Instant,
) -> anyhow::Result<(Vec<f32>, bool)> {
    let response = request.send().await?.error_for_status()?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let mut delays = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(until.into(), body.next()).await {
            Err(_) => return Ok((delays, false)),
            Ok(None) | Ok(Some(Err(_))) => return Ok((delays, true)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            delays.extend(poll_times(&line).map(|at_ms| (now_ms - at_ms) as f32));
        }
    }
}

/// The `at_ms` of every update in a data line (read without parsing the whole batch, so
/// the bench's own client costs little).
fn poll_times(line: &[u8]) -> impl Iterator<Item = i64> + '_ {
    const KEY: &str = "\"at_ms\":";
    let data = std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.strip_prefix("data:"))
        .unwrap_or("");
    data.split(KEY).skip(1).filter_map(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|digits| digits.parse().ok())
    })
}

/// A database of its own on a PostgreSQL server, dropped when the bench is done.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!(
            "mcpops_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&name);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin_url).await?;
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| setup | targets | polls/s | lag p99 | CPU cores | CPU s per 1k polls | RSS per target | stored per target-day | wall p95 | server page p95 | live clients (dropped) | live delay p50 / p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.1} ms | {:.2} | {:.2} | {:.0} KB | {:.0} KB | {:.1} ms | {:.1} ms | {} ({}), {} updates | {:.0} / {:.0} ms |",
            r.setup,
            r.targets,
            r.polls_per_sec,
            r.lag_p99_ms,
            r.cpu_cores,
            r.cpu_per_1000_polls,
            r.rss_per_target_kb,
            r.stored_per_target_day_kb,
            r.wall_p95_ms,
            r.server_page_p95_ms,
            r.live.clients,
            r.live.dropped,
            r.live.updates,
            r.live.delay_p50_ms,
            r.live.delay_p99_ms,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_poll_times_of_a_batch_of_updates() {
        let line = br#"data: [{"target_id":4,"at_ms":1764180000123,"state":"up"},{"target_id":5,"at_ms":1764180000200}]"#;
        assert_eq!(
            poll_times(line).collect::<Vec<_>>(),
            vec![1_764_180_000_123, 1_764_180_000_200]
        );
        assert_eq!(poll_times(b"event: updates").count(), 0);
        assert_eq!(poll_times(b"data: {\"kind\":\"alert\"}").count(), 0);
    }

    #[test]
    fn reads_polls_and_the_lag_histogram_from_the_exposition() {
        let text = "# TYPE mcpops_collector_polls_total counter\n\
            mcpops_collector_polls_total 1200\n\
            # TYPE mcpops_collector_schedule_lag_seconds histogram\n\
            mcpops_collector_schedule_lag_seconds_bucket{le=\"0.01\"} 1000\n\
            mcpops_collector_schedule_lag_seconds_bucket{le=\"0.001\"} 400\n\
            mcpops_collector_schedule_lag_seconds_bucket{le=\"+Inf\"} 1200\n\
            mcpops_collector_schedule_lag_seconds_sum 3.5\n";
        let (polls, histogram) = collector_figures(text).expect("figures");
        assert_eq!(polls, 1200.0);
        assert_eq!(histogram.bounds, vec![0.001, 0.01]);
        assert_eq!(histogram.cumulative, vec![400.0, 1000.0, 1200.0]);
        // As `Snapshot::take` sums replicas: merged onto nothing, it keeps its buckets.
        let mut lag = BucketDeltas::default();
        lag.merge(&BucketDeltas::between(&Histogram::default(), &histogram));
        assert_eq!(lag.bounds, vec![0.001, 0.01]);
        assert_eq!(lag.counts, vec![400.0, 600.0, 200.0]);
    }
}
