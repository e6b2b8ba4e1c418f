//! Rollups and retention on both backends, with samples written as ingest writes them.
use crate::common;

use chrono::{Duration, DurationRound, Utc};
use common::{BACKENDS, Backend, TestDb};
use mcpops::domain::observation::{
    Certificate, PollRecord, Readiness, SampleRow, TargetState, TargetStatus,
};
use mcpops::domain::offers::{Offer, ProbeOffers};
use mcpops::domain::signals::BucketDeltas;
use mcpops::domain::target::{TargetSource, TargetSpec};
use mcpops::domain::tool_signals::{ToolSignals, ToolTable};
use mcpops::server::services::rollup::{RetentionConfig, roll_up_once};
use mcpops::server::store::{self, SampleTable, StoreOptions};

fn record(target_id: i64, at: chrono::DateTime<Utc>, requests: f64) -> PollRecord {
    let sample = SampleRow {
        target_id,
        at,
        state: TargetState::Up,
        live_ms: Some(2.0),
        mcp_ms: Some(5.0),
        seconds: Some(10.0),
        requests: Some(requests),
        errors: Some(1.0),
        p50: None,
        p95: None,
        p99: None,
        active_connections: Some(3.0),
        cpu_cores: Some(0.2),
        memory_bytes: Some(1e8),
        tools_executed: Some(requests),
        resources_accessed: None,
        sessions_active: None,
        quota_remaining: None,
        buckets: Some(BucketDeltas {
            bounds: vec![0.1, 1.0],
            counts: vec![requests, 0.0, 0.0],
        }),
        polls: None,
        polls_down: None,
        probe_buckets: None,
    };
    let status = TargetStatus {
        target_id,
        at,
        state: TargetState::Up,
        failures: vec![],
        readiness: Some(Readiness {
            ready: true,
            checks: vec![],
        }),
        mcp: None,
        p95: None,
        error_ratio: None,
        rps: None,
        offers: served_without_health(),
        certificate: Some(certificate()),
        tools: Some(ToolTable {
            tools: vec![ToolSignals {
                name: "search".into(),
                calls_per_sec: 2.0,
                tool_error_ratio: Some(0.1),
                protocol_error_ratio: Some(0.0),
                p95_ms: Some(120.0),
            }],
            dropped: 3,
        }),
        checks: vec![],
    };
    PollRecord {
        sample,
        status,
        tools: None,
        check_results: vec![],
    }
}

fn certificate() -> Certificate {
    Certificate {
        subject: "CN=mcp.test".into(),
        issuer: "CN=Test CA".into(),
        not_after: chrono::DateTime::from_timestamp(1_900_000_000, 0).expect("time"),
    }
}

/// What a server that speaks MCP and metrics but has no health endpoints offers.
fn served_without_health() -> ProbeOffers {
    ProbeOffers {
        live: Offer::NotOffered,
        ready: Offer::NotOffered,
        metrics: Offer::Offered,
        mcp: Offer::Offered,
    }
}

async fn rollups_merge_and_retention_deletes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store::open(db.url(), &StoreOptions::default())
        .await
        .expect("store");
    let spec = TargetSpec::from_form("t", "http://127.0.0.1:1", "10", "").expect("spec");
    let id = store
        .insert_target(&spec, TargetSource::Ui, common::test_event())
        .await
        .expect("target")
        .id;

    let now = Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("trunc")
        + Duration::minutes(30);
    let other_spec = TargetSpec::from_form("u", "http://127.0.0.1:2", "10", "").expect("spec");
    let other = store
        .insert_target(&other_spec, TargetSource::Ui, common::test_event())
        .await
        .expect("target")
        .id;
    // Three hours of polls every 10 s of two targets, plus one poll older than raw retention.
    let start = now - Duration::hours(3);
    let batch: Vec<PollRecord> = (0..(3 * 360))
        .flat_map(|i| {
            let at = start + Duration::seconds(10 * i);
            [record(id, at, 10.0), record(other, at, 20.0)]
        })
        .collect();
    store.record_polls(&batch).await.expect("polls");
    let latest = store.target_status(other).await.expect("status");
    assert_eq!(
        latest.as_ref().map(|s| s.offers),
        Some(served_without_health()),
        "{backend:?}: what the target offers is stored with its status"
    );
    assert_eq!(
        latest.as_ref().and_then(|s| s.certificate.clone()),
        Some(certificate()),
        "{backend:?}: the certificate is stored with the status"
    );
    assert_eq!(
        latest
            .as_ref()
            .and_then(|s| s.tools.as_ref())
            .map(|t| (t.tools.len(), t.dropped)),
        Some((1, 3)),
        "{backend:?}: the tool table is stored with the status"
    );
    assert_eq!(
        latest.map(|s| s.at),
        Some(start + Duration::seconds(10 * (3 * 360 - 1))),
        "{backend:?}: one target's latest status"
    );
    // A late, older poll (and a repeat of one already stored) leaves the newest status alone.
    store
        .record_polls(&[record(other, start, 20.0), record(other, start, 20.0)])
        .await
        .expect("late polls");
    let after_late = store.target_status(other).await.expect("status");
    assert_eq!(
        after_late.map(|s| s.at),
        Some(start + Duration::seconds(10 * (3 * 360 - 1))),
        "{backend:?}: an older poll does not overwrite the status"
    );
    assert!(
        store
            .target_status(other + 100)
            .await
            .expect("status")
            .is_none()
    );
    store
        .record_polls(&[record(id, now - Duration::hours(60), 99.0)])
        .await
        .expect("old poll");

    let retention = RetentionConfig {
        raw_hours: 48,
        minute_days: 14,
        hour_days: 400,
    };
    let report = roll_up_once(store.as_ref(), &retention, now)
        .await
        .expect("rollup");
    assert_eq!(
        report.deleted, 1,
        "{backend:?}: the poll older than 48 h is gone"
    );

    let minutes = store
        .samples(SampleTable::Minute, Some(id), start, now)
        .await
        .expect("minutes");
    // Every complete, settled minute between the first poll and now.
    assert!(
        minutes.len() >= 179,
        "{backend:?}: {} minute rows",
        minutes.len()
    );
    assert!(
        minutes
            .iter()
            .all(|m| m.requests == Some(60.0) && m.seconds == Some(60.0)),
        "{:?}",
        minutes[0]
    );
    assert_eq!(
        minutes[0].buckets.as_ref().map(BucketDeltas::total),
        Some(60.0)
    );

    let first_hour = start.duration_trunc(Duration::hours(1)).expect("trunc");
    let hours = store
        .samples(SampleTable::Hour, Some(id), first_hour, now)
        .await
        .expect("hours");
    // The polls began half-way through the first hour; the current hour is not complete.
    assert_eq!(hours.len(), 3, "{backend:?}: {hours:?}");
    assert_eq!(hours[0].requests, Some(1800.0));
    assert_eq!(hours[1].requests, Some(3600.0));
    assert_eq!(
        hours[1].p50,
        Some(0.05),
        "p50 comes from the merged buckets"
    );

    // One fleet row per minute: both targets' requests over the minute, buckets merged.
    let fleet = store
        .samples(SampleTable::FleetMinute, None, start, now)
        .await
        .expect("fleet minutes");
    assert_eq!(fleet.len(), minutes.len(), "{backend:?}");
    // The pass also rolled up the minute of the poll older than raw retention.
    assert_eq!(report.fleet_rows, fleet.len() + 1);
    assert!(
        fleet.iter().all(|m| m.target_id == 0
            && m.rps() == Some(3.0)
            && m.buckets.as_ref().map(BucketDeltas::total) == Some(180.0)),
        "{backend:?}: {:?}",
        fleet[0]
    );

    // A second pass finds nothing new to do, and changes nothing.
    let again = roll_up_once(store.as_ref(), &retention, now)
        .await
        .expect("rollup");
    assert_eq!(
        (
            again.minute_rows,
            again.hour_rows,
            again.fleet_rows,
            again.deleted
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        store
            .samples(SampleTable::Hour, Some(id), first_hour, now)
            .await
            .expect("hours"),
        hours
    );
}

#[tokio::test]
async fn conformance_rollups_merge_and_retention_deletes() {
    for backend in BACKENDS {
        rollups_merge_and_retention_deletes(backend).await;
    }
}

/// The signals service reads the level a range needs and fills its edges from the next one:
/// a 30-day chart reaches the current hour through minute rows, and a 1-hour chart of a
/// target whose raw polls began ten minutes ago starts with minute rows.
async fn signals_read_the_right_level_and_fill_the_edges(backend: Backend) {
    use mcpops::server::services::signals::Signals;
    let db = TestDb::new(backend).await;
    let store = store::open(db.url(), &StoreOptions::default())
        .await
        .expect("store");
    let mut ids = Vec::new();
    for name in ["polled", "seeded"] {
        let spec = TargetSpec::from_form(name, "http://127.0.0.1:1", "10", "").expect("spec");
        let target = store
            .insert_target(&spec, TargetSource::Ui, common::test_event())
            .await
            .expect("target");
        ids.push(target.id);
    }
    let (polled, seeded) = (ids[0], ids[1]);
    // Times are stored to the millisecond.
    let now = Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .expect("trunc");
    let this_hour = now.duration_trunc(Duration::hours(1)).expect("trunc");
    let this_minute = now.duration_trunc(Duration::minutes(1)).expect("trunc");
    let hours: Vec<SampleRow> = (1..=30 * 24)
        .rev()
        .map(|h| record(polled, this_hour - Duration::hours(h), 36_000.0).sample)
        .collect();
    let minutes = |target: i64| -> Vec<SampleRow> {
        (1..=180)
            .rev()
            .map(|m| record(target, this_minute - Duration::minutes(m), 600.0).sample)
            .collect()
    };
    store
        .record_rollups(SampleTable::Hour, &hours, None)
        .await
        .expect("hours");
    for target in [polled, seeded] {
        store
            .record_rollups(SampleTable::Minute, &minutes(target), None)
            .await
            .expect("minutes");
    }
    let raw_start = now - Duration::minutes(10);
    let raw: Vec<PollRecord> = (0..60)
        .map(|i| record(polled, raw_start + Duration::seconds(10 * i), 10.0))
        .collect();
    store.record_polls(&raw).await.expect("polls");
    let signals = Signals::new(store.clone(), RetentionConfig::default());
    let times = |rows: &[SampleRow]| rows.iter().map(|r| r.at).collect::<Vec<_>>();

    // 30 days: hourly rows, then the minutes of the hour not rolled up yet.
    let from = now - Duration::days(30);
    let month = signals.read(Some(polled), from, now).await.expect("month");
    let mut expected: Vec<_> = times(&hours).into_iter().filter(|at| *at >= from).collect();
    expected.extend(
        times(&minutes(polled))
            .into_iter()
            .filter(|at| *at >= this_hour),
    );
    assert_eq!(times(&month), expected, "{backend:?}: a month");

    // 1 hour: minute rows up to the first raw poll, then the raw polls.
    let from = now - Duration::hours(1);
    let hour = signals.read(Some(polled), from, now).await.expect("hour");
    let mut expected: Vec<_> = times(&minutes(polled))
        .into_iter()
        .filter(|at| *at >= from && *at + Duration::minutes(1) <= raw_start)
        .collect();
    expected.extend(raw.iter().map(|r| r.sample.at));
    assert_eq!(
        times(&hour),
        expected,
        "{backend:?}: an hour with raw polls"
    );

    // 1 hour of a target with no raw polls at all: its minute rows.
    let seeded_hour = signals.read(Some(seeded), from, now).await.expect("seeded");
    let expected: Vec<_> = times(&minutes(seeded))
        .into_iter()
        .filter(|at| *at >= from)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        times(&seeded_hour),
        expected,
        "{backend:?}: an hour of rollups only"
    );
}

#[tokio::test]
async fn conformance_signals_read_the_right_level_and_fill_the_edges() {
    common::on_each_backend(signals_read_the_right_level_and_fill_the_edges).await;
}
