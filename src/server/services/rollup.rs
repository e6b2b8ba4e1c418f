//! Rollups and retention: merges raw samples into 1-minute rows, those into 1-hour rows and
//! into one fleet-wide row per minute, then deletes what is older than each level keeps.
//! Re-running a period recomputes it, so the job is idempotent and safe to repeat after a
//! crash.
use crate::domain::series::{fleet_roll_up, roll_up};
use crate::server::cluster::Membership;
use crate::server::store::{SampleTable, Store, StoreError, StoreResult};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long each level is kept (the `[retention]` section of the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub raw_hours: u32,
    pub minute_days: u32,
    pub hour_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            raw_hours: 48,
            minute_days: 14,
            hour_days: 400,
        }
    }
}

/// What one pass did, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub minute_rows: usize,
    pub hour_rows: usize,
    pub fleet_rows: usize,
    pub deleted: u64,
}

struct Level {
    source: SampleTable,
    target: SampleTable,
    width: Duration,
    /// Periods are rolled up only once this much time has passed after their end, so late
    /// samples (and the lower level's own rollup) are in.
    settle: Duration,
    /// Rows are read in slices of this length to bound memory on large fleets.
    slice: Duration,
    /// Merge every target into one fleet row per period, instead of one row per target.
    fleet: bool,
}

const LEVELS: [Level; 3] = [
    Level {
        source: SampleTable::Raw,
        target: SampleTable::Minute,
        width: Duration::minutes(1),
        settle: Duration::seconds(30),
        slice: Duration::minutes(5),
        fleet: false,
    },
    // Reads the minute rows the level above has just written in the same pass.
    Level {
        source: SampleTable::Minute,
        target: SampleTable::FleetMinute,
        width: Duration::minutes(1),
        settle: Duration::seconds(30),
        slice: Duration::minutes(5),
        fleet: true,
    },
    Level {
        source: SampleTable::Minute,
        target: SampleTable::Hour,
        width: Duration::hours(1),
        settle: Duration::minutes(2),
        slice: Duration::hours(6),
        fleet: false,
    },
];

pub async fn roll_up_once(
    store: &dyn Store,
    retention: &RetentionConfig,
    now: DateTime<Utc>,
) -> StoreResult<RollupReport> {
    let mut report = RollupReport::default();
    for level in &LEVELS {
        let end = (now - level.settle)
            .duration_trunc(level.width)
            .unwrap_or(now);
        let start = match store.rollup_progress(level.target).await? {
            Some(done) => done,
            None => match store.oldest_sample(level.source).await? {
                Some(oldest) => oldest.duration_trunc(level.width).unwrap_or(oldest),
                None => end,
            },
        };
        let mut from = start;
        while from < end {
            let to = (from + level.slice).min(end);
            let rows = store.samples(level.source, None, from, to).await?;
            // Hundreds of thousands of rows on a large fleet: merged on the blocking pool,
            // not on a worker that polls and serves pages.
            let (fleet, width) = (level.fleet, level.width);
            let rolled = tokio::task::spawn_blocking(move || {
                if fleet {
                    fleet_roll_up(&rows, width)
                } else {
                    roll_up(&rows, width)
                }
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("rollup stopped: {e}")))?;
            store
                .record_rollups(level.target, &rolled, Some(to))
                .await?;
            match level.target {
                SampleTable::Hour => report.hour_rows += rolled.len(),
                SampleTable::FleetMinute => report.fleet_rows += rolled.len(),
                _ => report.minute_rows += rolled.len(),
            }
            from = to;
        }
    }
    let cutoffs = [
        (
            SampleTable::Raw,
            Duration::hours(i64::from(retention.raw_hours)),
        ),
        (
            SampleTable::Minute,
            Duration::days(i64::from(retention.minute_days)),
        ),
        (
            SampleTable::Hour,
            Duration::days(i64::from(retention.hour_days)),
        ),
        (
            SampleTable::FleetMinute,
            Duration::days(i64::from(retention.minute_days)),
        ),
    ];
    for (table, keep) in cutoffs {
        report.deleted += store.delete_samples_before(table, now - keep).await?;
    }
    // Synthetic call results are kept as long as raw polls: one row per call adds up.
    let raw_keep = Duration::hours(i64::from(retention.raw_hours));
    report.deleted += store.delete_check_results_before(now - raw_keep).await?;
    // Old tool lists go with the hourly rollups; each target keeps its current one.
    let hour_keep = Duration::days(i64::from(retention.hour_days));
    report.deleted += store.delete_catalogs_before(now - hour_keep).await?;
    Ok(report)
}

/// Runs a pass every minute until the process stops.
/// Among replicas, only the one that leads does it.
pub async fn run(store: Arc<dyn Store>, retention: RetentionConfig, membership: Membership) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if !membership.leads() {
            continue;
        }
        match roll_up_once(store.as_ref(), &retention, Utc::now()).await {
            Ok(report) => tracing::debug!(?report, "rollup pass"),
            Err(err) => tracing::warn!(error = ?err, "rollup pass failed; it will be retried"),
        }
    }
}
