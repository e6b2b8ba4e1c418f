//! A fleet in which one target in five misbehaves, each in its own way (slowloris, 100 MB
//! bodies, endless SSE, garbage, huge label sets, resets mid-body, redirect loops, wrong
//! content types, JSON-RPC errors): every hostile target shows its specific reason, every
//! healthy one keeps its schedule, and memory stays bounded. It prints the scheduling lag and
//! RSS with and without the hostile targets.
//!
//! CI runs 200 targets; `MCPOPS_HOSTILE_TARGETS=1000 cargo test --release --features ssr
//! --test hostile_fleet -- --nocapture` runs the full size.
use crate::common;

use common::hostile::hostile_server;
use common::{TestApp, TestDb, eventually, spawn_app_with};
use mcpops::server::demo::DemoFleet;
use mcpops::server::store::SampleTable;
use std::sync::Arc;
use std::time::Duration;

/// Path prefix on the hostile server, the probe that must fail, and the reason it must give.
const KINDS: [(&str, &str, &str); 9] = [
    ("slow", "metrics", "timed out after 1500 ms"),
    ("giant", "metrics", "body larger than 4194304 bytes"),
    ("sse", "mcp", "timed out after 1500 ms"),
    ("garbage", "metrics", "parse error at line 2"),
    ("labels", "metrics", "more than 5000 samples"),
    ("reset", "metrics", "I/O error"),
    ("loop", "metrics", "too many redirects"),
    ("html", "metrics", "unexpected content type 'text/html'"),
    ("rpcerr", "mcp", "JSON-RPC error -32603: backend exploded"),
];
/// Each measured window, after as long again to settle.
const WINDOW: Duration = Duration::from_secs(6);

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// p50 and p99 of the collector's scheduling lag over one window, in milliseconds.
async fn lag_over_window(app: &TestApp) -> (f32, f32) {
    let stats = app.state.collector.as_ref().expect("collector").stats();
    tokio::time::sleep(WINDOW).await;
    stats.drain_lags();
    tokio::time::sleep(WINDOW).await;
    let mut lags = stats.drain_lags();
    assert!(!lags.is_empty(), "polls happened");
    lags.sort_by(f32::total_cmp);
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_target_in_five_is_hostile_and_the_rest_keep_their_schedule() {
    let targets: usize = std::env::var("MCPOPS_HOSTILE_TARGETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let hostile_count = targets / 5;
    let healthy = targets - hostile_count;
    let db = TestDb::sqlite();
    let fleet = Arc::new(DemoFleet::start(healthy).await.expect("demo fleet"));
    let app = spawn_app_with(db.url(), Some(fleet), |c| {
        c.demo.interval_secs = 1;
        c.collector.timeout_ms = 1500;
        c.collector.max_samples = 5000;
    })
    .await;

    let (clean_p50, clean_p99) = lag_over_window(&app).await;
    let clean_rss = rss_mb();

    let hostile = hostile_server().await;
    let mut hostile_names = Vec::new();
    for i in 0..hostile_count {
        let (kind, _, _) = KINDS[i % KINDS.len()];
        let name = format!("hostile-{kind}-{i:03}");
        let url = format!("http://{hostile}/{kind}");
        common::add_target(app.state.store.as_ref(), &name, &url).await;
        hostile_names.push((name, i % KINDS.len()));
    }
    app.state.targets_changed();
    let from = chrono::Utc::now() + chrono::Duration::from_std(WINDOW).expect("window");
    let (hostile_p50, hostile_p99) = lag_over_window(&app).await;
    let to = chrono::Utc::now();
    let hostile_rss = rss_mb();

    // Every healthy target was polled about once a second throughout.
    let expected = WINDOW.as_secs() as usize;
    let listed = app.state.store.list_targets().await.expect("targets");
    for target in listed.iter().filter(|t| t.name.starts_with("demo-")) {
        let polls = app
            .state
            .store
            .samples(SampleTable::Raw, Some(target.id), from, to)
            .await
            .expect("samples")
            .len();
        assert!(
            polls + 1 >= expected,
            "{} polled {polls} times in {expected} s beside the hostile targets",
            target.name
        );
    }
    // Every hostile target names its own reason.
    let statuses = eventually(Duration::from_secs(10), "every hostile reason", || async {
        let statuses = app.state.store.target_statuses().await.ok()?;
        let all_failed = hostile_names.iter().all(|(name, kind)| {
            let (_, probe, _) = KINDS[*kind];
            let id = listed.iter().find(|t| &t.name == name).map(|t| t.id);
            statuses
                .iter()
                .find(|s| Some(s.target_id) == id)
                .is_some_and(|s| s.failures.iter().any(|f| f.probe == probe))
        });
        all_failed.then_some(statuses)
    })
    .await;
    for (name, kind) in &hostile_names {
        let (_, probe, reason) = KINDS[*kind];
        let id = listed.iter().find(|t| &t.name == name).map(|t| t.id);
        let status = statuses
            .iter()
            .find(|s| Some(s.target_id) == id)
            .expect("status");
        let failure = status
            .failures
            .iter()
            .find(|f| f.probe == probe)
            .expect("failure");
        assert!(
            failure.reason.contains(reason),
            "{name}: expected '{reason}' in '{}'",
            failure.reason
        );
    }
    eprintln!(
        "{targets} targets ({hostile_count} hostile): lag p50/p99 {clean_p50:.1}/{clean_p99:.1} ms \
         without the hostile ones, {hostile_p50:.1}/{hostile_p99:.1} ms with them; RSS \
         {clean_rss:.0} MB → {hostile_rss:.0} MB (test process: app, demo fleet, hostile server)"
    );
    assert!(hostile_p99 < 1000.0, "lag p99 {hostile_p99} ms");
    // 100 MB bodies and 2.6 MB label sets, read at most to the 4 MiB cap, each poll's memory
    // freed: the hostile fifth of the fleet may not grow the process by their size.
    assert!(
        hostile_rss - clean_rss < 150.0,
        "RSS grew from {clean_rss:.0} MB to {hostile_rss:.0} MB"
    );
}
