//! `mcpops bench audit`: seeds a large audit log, then measures filtered full-text search,
//! export throughput and a full chain verification.
use crate::domain::audit::{
    AuditEntry, AuditEvent, AuditFilter, GENESIS_HASH, Outcome, RequestOrigin,
};
use crate::server::services::audit_export::{export_rows, verify_chain};
use crate::server::store::{self, Store, StoreOptions};
use rand::Rng;
use rand::SeedableRng;
use std::time::{Duration, Instant};

pub struct AuditBenchOptions {
    /// Entries to seed first; 0 measures the log already in the database.
    pub entries: u64,
    /// A database URL; a temporary SQLite file when `None`.
    pub database_url: Option<String>,
    pub searches: usize,
}

const ACTORS: usize = 200;
const RESOURCES: usize = 20_000;
const WORDS: [&str; 12] = [
    "payments",
    "search",
    "billing",
    "checkout",
    "gateway",
    "inventory",
    "ledger",
    "mailer",
    "reports",
    "profile",
    "catalog",
    "shipping",
];

/// A plausible entry: a few hundred users acting on twenty thousand resources.
fn synthetic_event(rng: &mut impl Rng) -> AuditEvent {
    let kinds = [
        ("target", "update"),
        ("target", "create"),
        ("auth", "login"),
        ("alert", "acknowledge"),
        ("incident", "check_step"),
        ("token", "kiosk_use"),
    ];
    let (event_type, action) = kinds[rng.random_range(0..kinds.len())];
    let actor = format!("user{:03}", rng.random_range(0..ACTORS));
    let word = WORDS[rng.random_range(0..WORDS.len())];
    let resource = format!("{word}-mcp-{:05}", rng.random_range(0..RESOURCES));
    let origin = RequestOrigin {
        ip: format!(
            "10.{}.{}.{}",
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..255)
        ),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131".into(),
        request_id: format!("{:032x}", rng.random::<u128>()),
    };
    let result = if rng.random_ratio(1, 50) {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    AuditEvent::new(event_type, &actor, action, &resource, &origin)
        .outcome(result)
        .details(&serde_json::json!({
            "interval_secs": rng.random_range(5..60),
            "tags": [word, "prod"],
            "note": format!("{word} change {}", rng.random_range(0..1000)),
        }))
}

pub async fn run(options: &AuditBenchOptions) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("audit-bench.db").display()));
    let store = store::open(&url, &StoreOptions::default()).await?;
    let backend = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };

    let seeded = if options.entries > 0 {
        Some(seed(store.as_ref(), options.entries).await?)
    } else {
        None
    };
    // As autovacuum (PostgreSQL) or `PRAGMA optimize` would after a load this size.
    store.refresh_statistics().await?;
    let search = search_latencies(store.as_ref(), options.searches).await?;
    let export = export_throughput(store.clone()).await?;
    let verify_started = Instant::now();
    let report = verify_chain(store.as_ref(), |_| {}).await?;
    let verify = verify_started.elapsed();
    anyhow::ensure!(
        report.broken.is_none(),
        "the chain does not verify: {report:?}"
    );

    println!();
    println!(
        "audit log benchmark on {backend}, {} entries",
        report.checked
    );
    println!("{:<44} {:>14}", "figure", "value");
    if let Some(seeded) = seeded {
        println!(
            "{:<44} {:>11.0} /s",
            "seeding (hash + batched insert)", seeded
        );
    }
    for (kind, p50, p95) in &search {
        println!(
            "{:<44} {:>5.1} / {:>5.1} ms",
            format!("search p50 / p95: {kind}"),
            p50,
            p95
        );
    }
    println!("{:<44} {:>11.0} /s", "CSV export rows", export.0);
    println!("{:<44} {:>11.1} MB/s", "CSV export bytes", export.1 / 1e6);
    println!(
        "{:<44} {:>11.1} s ({:.0} entries/s)",
        "verify-audit, whole chain",
        verify.as_secs_f64(),
        report.checked as f64 / verify.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Chains and inserts `count` entries after the current tail; returns entries per second.
async fn seed(store: &dyn Store, count: u64) -> anyhow::Result<f64> {
    const BATCH: u64 = 10_000;
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let tail = store.audit_after(0, 1).await?;
    anyhow::ensure!(
        tail.is_empty(),
        "seed into an empty audit log (or pass --entries 0)"
    );
    let mut prev = GENESIS_HASH.to_owned();
    let mut at_ms = chrono::Utc::now().timestamp_millis() - i64::try_from(count)? * 250;
    let mut seq = 0_i64;
    let mut last_report = Instant::now();
    while u64::try_from(seq)? < count {
        let n = BATCH.min(count - u64::try_from(seq)?);
        let mut batch = Vec::with_capacity(usize::try_from(n)?);
        for _ in 0..n {
            seq += 1;
            at_ms += rng.random_range(1..500);
            let entry = AuditEntry::chain(seq, at_ms, synthetic_event(&mut rng), &prev);
            prev.clone_from(&entry.hash);
            batch.push(entry);
        }
        store.append_chained_audit(&batch).await?;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "seeded {seq} of {count} ({:.0}/s)",
                seq as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

const SEARCH_KINDS: [&str; 5] = [
    "two words (resource)",
    "user + common word",
    "type + failures + two words",
    "user + last 24 h",
    "all kinds",
];

/// p50 and p95 of searches an auditor would run (one page, newest first), by kind.
async fn search_latencies(
    store: &dyn Store,
    searches: usize,
) -> anyhow::Result<Vec<(&'static str, f64, f64)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut millis: Vec<Vec<f64>> = vec![Vec::new(); SEARCH_KINDS.len()];
    for i in 0..searches {
        let word = WORDS[rng.random_range(0..WORDS.len())];
        let filter = match i % 4 {
            0 => AuditFilter {
                text: Some(format!("{word} {:05}", rng.random_range(0..RESOURCES))),
                ..AuditFilter::default()
            },
            1 => AuditFilter {
                actor: Some(format!("user{:03}", rng.random_range(0..ACTORS))),
                text: Some(word.to_owned()),
                ..AuditFilter::default()
            },
            2 => AuditFilter {
                event_type: Some("target".into()),
                result: Some(Outcome::Failure),
                text: Some(format!("{word} change")),
                ..AuditFilter::default()
            },
            _ => AuditFilter {
                actor: Some(format!("user{:03}", rng.random_range(0..ACTORS))),
                from_ms: Some(chrono::Utc::now().timestamp_millis() - 86_400_000),
                ..AuditFilter::default()
            },
        };
        let started = Instant::now();
        store.search_audit(&filter, None, 51).await?;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        millis[i % 4].push(took);
        millis[4].push(took);
    }
    Ok(SEARCH_KINDS
        .iter()
        .zip(&mut millis)
        .filter(|(_, m)| !m.is_empty())
        .map(|(kind, m)| {
            m.sort_by(f64::total_cmp);
            let at = |q: f64| m[((m.len() - 1) as f64 * q).round() as usize];
            (*kind, at(0.5), at(0.95))
        })
        .collect())
}

/// Exports the newest 200,000 entries of one event type as CSV; rows/s and bytes/s.
async fn export_throughput(store: std::sync::Arc<dyn Store>) -> anyhow::Result<(f64, f64)> {
    let filter = AuditFilter {
        event_type: Some("target".into()),
        ..AuditFilter::default()
    };
    let started = Instant::now();
    let (rows, bytes) = export_rows(store, &filter, 200_000).await?;
    let secs = started.elapsed().as_secs_f64();
    Ok((rows as f64 / secs, bytes as f64 / secs))
}
