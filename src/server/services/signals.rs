//! The one read path from a time range to sample rows, for every chart and API. It picks the
//! table (raw polls, 1-minute or 1-hour rollups) from how wide the range is and how long each
//! level is kept, and fills the edges from the neighbouring level: the start of a range whose
//! finer rows are already deleted or not yet rolled up, and the end, which rollups reach only
//! once their period has closed.
use crate::domain::observation::SampleRow;
use crate::server::services::rollup::RetentionConfig;
use crate::server::store::{PollStore, SampleTable, Store, StoreResult};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// The levels of one target's samples, finest first.
const LEVELS: [SampleTable; 3] = [SampleTable::Raw, SampleTable::Minute, SampleTable::Hour];

/// Ranges up to this wide read raw polls, up to `MINUTE_UP_TO` 1-minute rows, wider 1-hour
/// rows: a chart of any range reads a few thousand rows per target at most.
const RAW_UP_TO: Duration = Duration::hours(6);
const MINUTE_UP_TO: Duration = Duration::days(7);

#[derive(Clone)]
pub struct Signals {
    store: Arc<dyn Store>,
    retention: RetentionConfig,
}

impl Signals {
    pub fn new(store: Arc<dyn Store>, retention: RetentionConfig) -> Self {
        Self { store, retention }
    }

    /// The samples of one target, or the fleet's per-minute rows when `target_id` is `None`,
    /// in `[from, to)`, oldest first. Rows may be of different widths (see the module).
    pub async fn read(
        &self,
        target_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SampleRow>> {
        let Some(target_id) = target_id else {
            // The fleet has one row per minute however many targets it has.
            return self
                .store
                .samples(SampleTable::FleetMinute, None, from, to)
                .await;
        };
        let now = Utc::now();
        let table = table_for(from, to, now, &self.retention);
        let store: &dyn PollStore = self.store.as_ref();
        let rows = store.samples(table, Some(target_id), from, to).await?;
        let level = LEVELS.iter().position(|l| *l == table).unwrap_or(0);
        let coarser = LEVELS.get(level + 1).copied();
        let finer = level.checked_sub(1).map(|l| LEVELS[l]);
        let start = rows.first().map_or(to, |r| r.at);
        let end = rows.last().map_or(from, |r| r.at + width(table));
        let mut head = Vec::new();
        if let Some(coarser) = coarser.filter(|_| start > from + width(table) * 2) {
            head = store.samples(coarser, Some(target_id), from, start).await?;
            // A coarse row overlapping the first fine one would count its period twice.
            head.retain(|r| r.at + width(coarser) <= start);
        }
        let mut tail = Vec::new();
        if let Some(finer) = finer.filter(|_| end < to) {
            tail = store.samples(finer, Some(target_id), end, to).await?;
        }
        if rows.is_empty() && head.is_empty() && tail.is_empty() {
            // Nothing rolled up yet (a young target, or a range inside the newest period):
            // whatever rows there are finer still (the tail read the next finer level).
            for finer in LEVELS[..level.saturating_sub(1)].iter().rev() {
                let rows = store.samples(*finer, Some(target_id), from, to).await?;
                if !rows.is_empty() {
                    return Ok(rows);
                }
            }
        }
        head.extend(rows);
        head.extend(tail);
        Ok(head)
    }
}

/// How long one row of `table` covers; raw polls are treated as a minute, the longest usual
/// poll interval is shorter.
fn width(table: SampleTable) -> Duration {
    match table {
        SampleTable::Raw | SampleTable::Minute | SampleTable::FleetMinute => Duration::minutes(1),
        SampleTable::Hour => Duration::hours(1),
    }
}

/// The level that answers `[from, to)` for one target: the finest one still kept at `from`
/// that keeps a range this wide to a few thousand rows.
pub fn table_for(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    retention: &RetentionConfig,
) -> SampleTable {
    let wide = to - from;
    let age = now - from;
    let raw_kept = Duration::hours(i64::from(retention.raw_hours));
    let minutes_kept = Duration::days(i64::from(retention.minute_days));
    if wide <= RAW_UP_TO && age <= raw_kept {
        SampleTable::Raw
    } else if wide <= MINUTE_UP_TO && age <= minutes_kept {
        SampleTable::Minute
    } else {
        SampleTable::Hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_follows_the_width_and_what_is_still_kept() {
        let now = Utc::now();
        let kept = RetentionConfig::default();
        let table = |from_ago: Duration, wide: Duration| {
            table_for(now - from_ago, now - from_ago + wide, now, &kept)
        };
        assert_eq!(
            table(Duration::hours(1), Duration::hours(1)),
            SampleTable::Raw
        );
        assert_eq!(
            table(Duration::hours(6), Duration::hours(6)),
            SampleTable::Raw
        );
        assert_eq!(
            table(Duration::hours(24), Duration::hours(24)),
            SampleTable::Minute
        );
        assert_eq!(
            table(Duration::days(7), Duration::days(7)),
            SampleTable::Minute
        );
        assert_eq!(
            table(Duration::days(30), Duration::days(30)),
            SampleTable::Hour
        );
        // An hour three days ago: raw polls are gone (48 h), minute rows are kept.
        assert_eq!(
            table(Duration::days(3), Duration::hours(1)),
            SampleTable::Minute
        );
        // An hour three weeks ago: only hourly rows are kept (14 days of minutes).
        assert_eq!(
            table(Duration::days(21), Duration::hours(1)),
            SampleTable::Hour
        );
    }
}
