//! How fresh what a live page shows is: the page's connection to the server, and each
//! target's newest poll.
use serde::{Deserialize, Serialize};

/// Every live stream carries a heartbeat this often, so a quiet fleet does not look stale.
pub const HEARTBEAT_SECS: u64 = 5;

/// A target whose newest poll is older than this many of its intervals is stale: its polls
/// stopped (the collector stalled, or its replica lost the lease) and its colour is old news.
pub const STALE_AFTER_INTERVALS: i64 = 3;

/// A page that has been disconnected this long says so, however recent its last event.
const DISCONNECTED_GRACE_MS: f64 = 5_000.0;

/// A live page's connection, as its `EventSource` reports it. Times are milliseconds since
/// the epoch by the browser's clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Connection {
    Connecting,
    /// `back_at`: when it opened again after a break.
    Live {
        back_at: Option<f64>,
    },
    /// The browser is retrying by itself.
    Reconnecting {
        since: f64,
    },
    /// The browser gave up (the server answered with an error); the page retries later.
    Offline {
        since: f64,
    },
}

/// Whether a live page's figures can be trusted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Nothing has arrived for this many seconds, or the connection is down.
    Quiet {
        for_secs: u64,
    },
}

/// How long a page may hear nothing before it says its figures may be old: twice the fleet's
/// shortest poll interval, and never less than two heartbeats.
pub fn quiet_limit_ms(shortest_interval_secs: u32) -> f64 {
    let interval = u64::from(shortest_interval_secs).max(HEARTBEAT_SECS);
    (2 * interval * 1000) as f64
}

/// Judges a page's freshness at `now_ms`; `now_ms` of 0 is the server's render, which is
/// fresh by definition.
pub fn freshness(
    connection: Connection,
    last_event_ms: f64,
    now_ms: f64,
    shortest_interval_secs: u32,
) -> Freshness {
    if now_ms <= 0.0 {
        return Freshness::Fresh;
    }
    let quiet_ms = (now_ms - last_event_ms).max(0.0);
    let down_long = match connection {
        Connection::Reconnecting { since } | Connection::Offline { since } => {
            now_ms - since >= DISCONNECTED_GRACE_MS
        }
        Connection::Connecting | Connection::Live { .. } => false,
    };
    if down_long || quiet_ms > quiet_limit_ms(shortest_interval_secs) {
        Freshness::Quiet {
            for_secs: (quiet_ms / 1000.0) as u64,
        }
    } else {
        Freshness::Fresh
    }
}

/// Whether a target whose newest poll was at `last_poll_ms` is stale at `now_ms`.
pub fn is_stale(last_poll_ms: i64, interval_secs: u32, now_ms: i64) -> bool {
    now_ms - last_poll_ms > STALE_AFTER_INTERVALS * i64::from(interval_secs) * 1000
}

/// The wall's `?rotate=` bounds, in seconds: long enough to read a group, short enough
/// that a room sees every group within the hour.
pub const ROTATE_MIN_SECS: u32 = 5;
pub const ROTATE_MAX_SECS: u32 = 3600;

/// Seconds per group from `?rotate=N`, or why the value is refused.
pub fn rotation_secs(raw: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|secs| (ROTATE_MIN_SECS..=ROTATE_MAX_SECS).contains(secs))
        .ok_or_else(|| {
            format!(
                "rotate={raw} ignored: give whole seconds from {ROTATE_MIN_SECS} to {ROTATE_MAX_SECS}"
            )
        })
}

/// Which of `groups` a rotating wall shows at `now_ms`. From the clock rather than a counter,
/// so walls in different rooms show the same group and a reload keeps its place.
pub fn rotation_index(now_ms: f64, every_secs: u32, groups: usize) -> usize {
    if groups == 0 || every_secs == 0 {
        return 0;
    }
    let turns = (now_ms.max(0.0) / 1000.0 / f64::from(every_secs)) as u64;
    (turns % groups as u64) as usize
}

/// Seconds until a rotating wall moves on.
pub fn rotation_left_secs(now_ms: f64, every_secs: u32) -> u32 {
    let every_ms = f64::from(every_secs) * 1000.0;
    let into = now_ms.max(0.0) % every_ms;
    ((every_ms - into) / 1000.0).ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: Connection = Connection::Live { back_at: None };

    #[test]
    fn a_page_is_quiet_after_twice_the_shortest_interval_and_never_sooner_than_two_heartbeats() {
        assert_eq!(quiet_limit_ms(10), 20_000.0);
        assert_eq!(quiet_limit_ms(1), 10_000.0);
        assert_eq!(freshness(LIVE, 100_000.0, 119_000.0, 10), Freshness::Fresh);
        assert_eq!(
            freshness(LIVE, 100_000.0, 121_000.0, 10),
            Freshness::Quiet { for_secs: 21 }
        );
    }

    #[test]
    fn a_connection_down_for_five_seconds_is_quiet_even_after_a_recent_event() {
        let down = Connection::Reconnecting { since: 100_000.0 };
        assert_eq!(freshness(down, 100_000.0, 103_000.0, 10), Freshness::Fresh);
        assert_eq!(
            freshness(down, 100_000.0, 105_000.0, 10),
            Freshness::Quiet { for_secs: 5 }
        );
        let gave_up = Connection::Offline { since: 100_000.0 };
        assert!(matches!(
            freshness(gave_up, 100_000.0, 106_000.0, 10),
            Freshness::Quiet { .. }
        ));
    }

    #[test]
    fn the_servers_render_is_fresh() {
        assert_eq!(
            freshness(Connection::Connecting, 0.0, 0.0, 10),
            Freshness::Fresh
        );
    }

    #[test]
    fn a_target_is_stale_after_three_intervals_without_a_poll() {
        assert!(!is_stale(0, 10, 30_000));
        assert!(is_stale(0, 10, 30_001));
    }

    #[test]
    fn rotation_is_bounded_and_follows_the_clock() {
        assert_eq!(rotation_secs("30"), Ok(30));
        assert_eq!(rotation_secs(" 5 "), Ok(5));
        for bad in ["", "0", "4", "3601", "-3", "abc", "2.5"] {
            let refused = rotation_secs(bad).expect_err(bad);
            assert!(refused.contains("from 5 to 3600"), "{refused}");
        }
        assert_eq!(rotation_index(0.0, 30, 4), 0);
        assert_eq!(rotation_index(29_999.0, 30, 4), 0);
        assert_eq!(rotation_index(30_000.0, 30, 4), 1);
        assert_eq!(
            rotation_index(121_000.0, 30, 4),
            0,
            "wraps after four turns"
        );
        assert_eq!(rotation_index(50_000.0, 30, 0), 0);
        assert_eq!(rotation_left_secs(30_000.0, 30), 30);
        assert_eq!(rotation_left_secs(59_500.0, 30), 1);
    }
}
