//! `mcpops bench backup`: fills a database shaped like `days` of `targets` polled every 10 s
//! under the default retention (raw polls for 48 h, minute and hour rollups for the rest),
//! then times a backup and a verified restore (the RTO: unpack, integrity, audit chain and
//! row counts), and prints sizes.
use crate::domain::audit::RequestOrigin;
use crate::domain::backups::RunKind;
use crate::domain::observation::SampleRow;
use crate::domain::target::{Interval, TargetName, TargetSource, TargetSpec, TargetUrl};
use crate::server::config::Config;
use crate::server::demo::simulation::Simulation;
use crate::server::services::backup::{self, Backups, Tracker};
use crate::server::store::{self, SampleTable, Store, StoreOptions};
use chrono::{DateTime, Duration, DurationRound, Utc};
use secrecy::SecretString;
use std::time::Instant;

pub struct BackupBenchOptions {
    pub targets: usize,
    pub days: i64,
    /// A database URL (it must be empty); a temporary SQLite file by default.
    pub database_url: Option<String>,
}

/// Raw polls are kept this long by default (`retention.raw_hours`).
const RAW_HOURS: i64 = 48;
const POLL_SECS: i64 = 10;
/// Rows per insert transaction.
const BATCH: usize = 20_000;

pub async fn run(options: &BackupBenchOptions, config: &Config) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", work.path().join("bench.db").display()));
    // Generous: after seeding gigabytes, a new SQLite connection can wait seconds for the
    // checkpoint of the seeding's write-ahead log.
    let options_store = StoreOptions {
        acquire_timeout: std::time::Duration::from_secs(120),
        ..StoreOptions::default()
    };
    let store = store::open(&url, &options_store).await?;
    let now = Utc::now().duration_trunc(Duration::minutes(1))?;
    let clock = Instant::now();
    let rows = seed(store.as_ref(), &url, options, now).await?;
    eprintln!();
    println!(
        "seeded {rows} rows for {} targets × {} days in {:.0} s",
        options.targets,
        options.days,
        clock.elapsed().as_secs_f64()
    );
    // Open afresh, as a server starting on this database would: the pool's connections sat
    // idle through the long seeding and a new one has to wait out the seeding's checkpoint.
    store.close().await;
    let store = store::open(&url, &options_store).await?;
    let database_bytes = database_size(&url);

    let backups = Backups::new(
        store.clone(),
        SecretString::from(url.clone()),
        config.backup.clone(),
        Default::default(),
    );
    let dir = work.path().join("archives");
    let done = backups
        .back_up(Some(&dir), "bench", &RequestOrigin::local())
        .await?;
    let tracker = Tracker::detached(RunKind::Verify);
    let verified = backup::verify(&url, &done.archive, &tracker).await?;
    store.close().await;
    println!();
    println!("| what | value |");
    println!("|---|---|");
    println!(
        "| targets × days | {} × {} |",
        options.targets, options.days
    );
    println!("| rows | {rows} |");
    if let Some(bytes) = database_bytes {
        println!("| database size | {} |", megabytes(bytes));
    }
    println!("| archive size | {} |", megabytes(done.bytes));
    println!("| backup time | {:.1} s |", done.took.as_secs_f64());
    println!(
        "| verified restore (unpack, integrity, audit chain, row counts) | {:.1} s |",
        verified.took.as_secs_f64()
    );
    Ok(())
}

/// Raw polls for the last 48 h (or all days if fewer), minute rollups and hour rollups for
/// every day; returns the rows written. SQLite is filled by `INSERT … SELECT` over a counting
/// CTE with random figures per row (tens of millions of rows in a minute or two); other
/// databases through the store, row by row (slow).
async fn seed(
    store: &dyn Store,
    url: &str,
    options: &BackupBenchOptions,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let mut ids = Vec::with_capacity(options.targets);
    for n in 0..options.targets {
        let spec = TargetSpec {
            name: TargetName::parse(&format!("bench-{n:05}")).map_err(anyhow::Error::msg)?,
            base_url: TargetUrl::parse(&format!("http://10.0.{}.{}:8080", n / 250, n % 250 + 1))
                .map_err(anyhow::Error::msg)?,
            interval: Interval::try_from(POLL_SECS as u32).unwrap_or_default(),
            tags: vec![format!("team-{}", n % 20)],
            probe: Default::default(),
            headers: None,
        };
        ids.push(
            store
                .upsert_target(&spec, TargetSource::Ui, "", None)
                .await?
                .id,
        );
    }
    let span = Duration::days(options.days);
    let raw_span = span.min(Duration::hours(RAW_HOURS));
    let levels = [
        (SampleTable::Raw, raw_span, POLL_SECS),
        (SampleTable::Minute, span, 60),
        (SampleTable::Hour, span, 3600),
    ];
    if url.starts_with("sqlite:") {
        return seed_sqlite(url, &ids, &levels, now).await;
    }
    let mut written = 0;
    for (table, span, step) in levels {
        let mut batch = Vec::with_capacity(BATCH);
        for (n, id) in ids.iter().enumerate() {
            let mut sim = Simulation::new(n as u64);
            let shape = sim.history_row(*id, now, step as f64, 1.0);
            for p in 1..=span.num_seconds() / step {
                let at = now - Duration::seconds(p * step);
                batch.push(SampleRow {
                    at,
                    ..shape.clone()
                });
                if batch.len() == BATCH {
                    store.record_rollups(table, &batch, Some(now)).await?;
                    written += batch.len();
                    batch.clear();
                    eprint!("\rseeding {table:?}: {written} rows");
                }
            }
        }
        if !batch.is_empty() {
            store.record_rollups(table, &batch, Some(now)).await?;
            written += batch.len();
        }
    }
    Ok(written)
}

async fn seed_sqlite(
    url: &str,
    ids: &[i64],
    levels: &[(SampleTable, Duration, i64)],
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let pool = sqlx::SqlitePool::connect(url).await?;
    let mut written = 0;
    for (table, span, step) in levels {
        let name = table.name();
        let periods = span.num_seconds() / step;
        // Fifty targets per statement keeps each transaction (and the WAL) to a few hundred MB.
        for group in ids.chunks(50) {
            let (first, last) = (group[0], group[group.len() - 1]);
            let sql = format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {periods}) \
                 INSERT INTO {name} (target_id, at, state, live_ms, mcp_ms, seconds, requests, errors, \
                 p50, p95, p99, active_connections, cpu_cores, memory_bytes, tools_executed, \
                 resources_accessed, sessions_active, quota_remaining, buckets) \
                 SELECT t.id, {now_ms} - n.i * {step_ms}, 'up', \
                 0.5 + (abs(random()) % 1000) / 1000.0, 3.0 + (abs(random()) % 1000) / 400.0, \
                 {step}, {step} * (20 + abs(random()) % 100), abs(random()) % 3, \
                 0.04 + (abs(random()) % 100) / 5000.0, 0.12 + (abs(random()) % 100) / 2000.0, \
                 0.25 + (abs(random()) % 100) / 1000.0, 5 + abs(random()) % 40, \
                 0.05 + (abs(random()) % 100) / 1000.0, 125829120 + abs(random()) % 50000000, \
                 {step} * (10 + abs(random()) % 60), {step} * (2 + abs(random()) % 20), \
                 abs(random()) % 80, abs(random()) % 100000, \
                 json_object('bounds', json('[0.005,0.01,0.025,0.05,0.1,0.25,0.5,1.0,2.5,5.0,10.0]'), \
                 'counts', json_array(abs(random()) % 10, abs(random()) % 60, abs(random()) % 300, \
                 abs(random()) % 900, abs(random()) % 1200, abs(random()) % 300, abs(random()) % 60, \
                 abs(random()) % 10, abs(random()) % 3, 0, 0, 0)) \
                 FROM targets t, n WHERE t.id BETWEEN {first} AND {last}",
                now_ms = now.timestamp_millis(),
                step_ms = step * 1000,
            );
            let done = sqlx::query(&sql).execute(&pool).await?;
            written += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
            eprint!("\rseeding {table:?}: {written} rows");
        }
    }
    // Fold the write-ahead log into the database now, not at the backup's first read.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(written)
}

fn database_size(url: &str) -> Option<u64> {
    let path = url.strip_prefix("sqlite://")?;
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1_000_000.0)
}
