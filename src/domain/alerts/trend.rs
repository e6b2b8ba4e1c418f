//! Rules over hours rather than polls: resident memory that keeps growing (a leak, the
//! memory-leak runbook's case), an API quota running out, and saturation (connections, CPU)
//! above the target's own usual level. Each target keeps a point every ten minutes for six
//! hours.
use super::rules::Reading;
use crate::domain::observation::SampleRow;
use std::collections::VecDeque;

/// One kept point per this many milliseconds.
const SPACING_MS: i64 = 10 * 60 * 1000;
/// Six hours of points.
const KEPT: usize = 36;
/// Growth is judged over at least three hours.
const GROWTH_MIN_SPAN_MS: i64 = 3 * 60 * 60 * 1000;
/// Growing by this share of its average an hour, steadily, is a leak.
const GROWTH_PER_HOUR: f64 = 0.02;
/// How steadily: the share of the variation a straight line explains (r²).
const GROWTH_STEADINESS: f64 = 0.9;
/// A quota below this share of the most seen remaining in six hours is running out.
const QUOTA_LOW: f64 = 0.1;
/// A usual level needs an hour of points before saturation is judged against it.
const SATURATION_MIN_POINTS: usize = 6;

/// One saturation signal: how it is read from a poll and the least rise that matters, so a
/// nearly idle server going from 2 connections to 4 is not saturated.
struct SaturationSignal {
    label: &'static str,
    read: fn(&SampleRow) -> Option<f64>,
    least_rise: f64,
    format: fn(f64) -> String,
}

const SATURATION_SIGNALS: [SaturationSignal; 2] = [
    SaturationSignal {
        label: "active connections",
        read: |s| s.active_connections,
        least_rise: 20.0,
        format: |v| format!("{v:.0}"),
    },
    SaturationSignal {
        label: "CPU",
        read: |s| s.cpu_cores,
        least_rise: 0.5,
        format: |v| format!("{:.0}%", v * 100.0),
    },
];

/// A target's resident memory and remaining API quota over the last hours.
#[derive(Debug, Clone, Default)]
pub struct ResourceHistory {
    memory: VecDeque<(i64, f64)>,
    quota: VecDeque<(i64, f64)>,
    /// In the order of `SATURATION_SIGNALS`.
    saturation: [VecDeque<(i64, f64)>; 2],
}

impl ResourceHistory {
    /// Keeps the poll's figures when the newest kept point is ten minutes old.
    pub fn push(&mut self, sample: &SampleRow) {
        let at = sample.at.timestamp_millis();
        keep(&mut self.memory, at, sample.memory_bytes);
        keep(&mut self.quota, at, sample.quota_remaining);
        for (points, signal) in self.saturation.iter_mut().zip(&SATURATION_SIGNALS) {
            keep(points, at, (signal.read)(sample));
        }
    }

    /// Whether this poll's connections or CPU are above `factor` times their usual level,
    /// the median of the last six hours' points, by at least a rise that matters.
    pub fn saturation(&self, sample: &SampleRow, factor: f64) -> Reading {
        let mut judged = false;
        let mut breaches = Vec::new();
        for (points, signal) in self.saturation.iter().zip(&SATURATION_SIGNALS) {
            let Some(now) = (signal.read)(sample).filter(|v| v.is_finite()) else {
                continue;
            };
            if points.len() < SATURATION_MIN_POINTS {
                continue;
            }
            let mut values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
            let Some(usual) = crate::domain::median(&mut values) else {
                continue;
            };
            judged = true;
            let threshold = usual * factor;
            if now > threshold && now - usual >= signal.least_rise {
                breaches.push(format!(
                    "{} {} > {} ({} usual over {:.0} h × {factor})",
                    signal.label,
                    (signal.format)(now),
                    (signal.format)(threshold),
                    (signal.format)(usual),
                    span_hours(points)
                ));
            }
        }
        match (judged, breaches.is_empty()) {
            (false, _) => Reading::NoData,
            (true, true) => Reading::Healthy,
            (true, false) => Reading::Failing(breaches.join("; ")),
        }
    }

    /// Whether resident memory has grown steadily for hours.
    pub fn memory_growth(&self) -> Reading {
        let points: Vec<(i64, f64)> = self.memory.iter().copied().collect();
        match steady_growth(&points) {
            None => Reading::NoData,
            Some(growth)
                if growth.per_hour >= GROWTH_PER_HOUR && growth.fit >= GROWTH_STEADINESS =>
            {
                Reading::Failing(format!(
                    "resident memory growing {:.1}% an hour for {:.1} h ({:.0} MB → {:.0} MB)",
                    growth.per_hour * 100.0,
                    growth.hours,
                    growth.first / 1e6,
                    growth.last / 1e6
                ))
            }
            Some(_) => Reading::Healthy,
        }
    }

    /// Whether the remaining API quota, `latest`, is low against the most seen lately.
    pub fn quota(&self, latest: Option<f64>) -> Reading {
        let Some(latest) = latest else {
            return Reading::NoData;
        };
        let most = self.quota.iter().map(|(_, q)| *q).fold(latest, f64::max);
        if most <= 0.0 {
            return Reading::NoData;
        }
        let share = latest / most;
        if share < QUOTA_LOW {
            Reading::Failing(format!(
                "API quota at {:.0}% ({latest:.0} left; {most:.0} in the last 6 h)",
                share * 100.0
            ))
        } else {
            Reading::Healthy
        }
    }
}

/// Hours from the oldest kept point to the newest, at least one.
fn span_hours(points: &VecDeque<(i64, f64)>) -> f64 {
    match (points.front(), points.back()) {
        (Some(first), Some(last)) => ((last.0 - first.0) as f64 / 3_600_000.0).max(1.0),
        _ => 1.0,
    }
}

fn keep(points: &mut VecDeque<(i64, f64)>, at: i64, value: Option<f64>) {
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return;
    };
    if points
        .back()
        .is_some_and(|(last, _)| at - last < SPACING_MS)
    {
        return;
    }
    points.push_back((at, value));
    while points.len() > KEPT {
        points.pop_front();
    }
}

/// A straight line through the points, by least squares.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Growth {
    /// The slope as a share of the average, per hour.
    per_hour: f64,
    /// r²: 1 for points on the line.
    fit: f64,
    hours: f64,
    first: f64,
    last: f64,
}

/// `None` while the points span under three hours.
fn steady_growth(points: &[(i64, f64)]) -> Option<Growth> {
    let (first, last) = (points.first()?, points.last()?);
    if last.0 - first.0 < GROWTH_MIN_SPAN_MS || points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let hours = |at: i64| (at - first.0) as f64 / 3_600_000.0;
    let mean_x = points.iter().map(|(at, _)| hours(*at)).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (at, value) in points {
        let (dx, dy) = (hours(*at) - mean_x, value - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || mean_y <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let fit = if syy == 0.0 {
        0.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    Some(Growth {
        per_hour: slope / mean_y,
        fit,
        hours: hours(last.0),
        first: first.1,
        last: last.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn sample(at: DateTime<Utc>, memory: Option<f64>, quota: Option<f64>) -> SampleRow {
        SampleRow {
            at,
            memory_bytes: memory,
            quota_remaining: quota,
            ..SampleRow::default()
        }
    }

    /// Polls every 10 s for `hours`, memory from `memory(hour)`.
    fn history(hours: f64, memory: impl Fn(f64) -> f64) -> ResourceHistory {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut history = ResourceHistory::default();
        let polls = (hours * 360.0) as i64;
        for i in 0..=polls {
            let at = start + Duration::seconds(10 * i);
            let hour = (10 * i) as f64 / 3600.0;
            history.push(&sample(at, Some(memory(hour)), None));
        }
        history
    }

    #[test]
    fn memory_that_grows_steadily_for_hours_is_a_leak() {
        // 400 MB growing 20 MB an hour: about 4% of its average an hour.
        let leaking = history(4.0, |h| 400e6 + 20e6 * h);
        match leaking.memory_growth() {
            Reading::Failing(detail) => assert!(detail.contains("an hour for 4.0 h"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flat_or_sawtooth_memory_is_not_a_leak() {
        let flat = history(4.0, |h| 400e6 + 5e6 * (h * 7.0).sin());
        assert_eq!(flat.memory_growth(), Reading::Healthy);
        // A collector freeing memory every 40 minutes: it rises within each cycle only.
        let sawtooth = history(5.0, |h| 400e6 + 60e6 * ((h * 1.5).fract()));
        assert_eq!(sawtooth.memory_growth(), Reading::Healthy);
        // Slow growth (0.5% an hour) is not judged a leak either.
        let slow = history(5.0, |h| 400e6 + 2e6 * h);
        assert_eq!(slow.memory_growth(), Reading::Healthy);
    }

    #[test]
    fn memory_is_judged_only_after_three_hours() {
        let young = history(2.5, |h| 400e6 + 50e6 * h);
        assert_eq!(young.memory_growth(), Reading::NoData);
        assert_eq!(ResourceHistory::default().memory_growth(), Reading::NoData);
    }

    #[test]
    fn a_quota_under_a_tenth_of_the_most_seen_lately_is_running_out() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut history = ResourceHistory::default();
        for (i, left) in [5000.0, 3000.0, 1200.0].into_iter().enumerate() {
            history.push(&sample(
                start + Duration::minutes(15 * i as i64),
                None,
                Some(left),
            ));
        }
        assert_eq!(history.quota(Some(1200.0)), Reading::Healthy);
        match history.quota(Some(400.0)) {
            Reading::Failing(detail) => {
                assert!(detail.contains("API quota at 8%"), "{detail}");
                assert!(detail.contains("5000 in the last 6 h"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(history.quota(None), Reading::NoData, "no quota exported");
        assert_eq!(
            ResourceHistory::default().quota(Some(0.0)),
            Reading::NoData,
            "nothing to compare with"
        );
    }

    fn load(at: DateTime<Utc>, connections: f64, cpu: f64) -> SampleRow {
        SampleRow {
            at,
            active_connections: Some(connections),
            cpu_cores: Some(cpu),
            ..SampleRow::default()
        }
    }

    /// Polls every 10 s for `hours` at 80 connections and 0.4 cores.
    fn usual_load(hours: i64) -> (ResourceHistory, DateTime<Utc>) {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut history = ResourceHistory::default();
        for i in 0..hours * 360 {
            history.push(&load(start + Duration::seconds(10 * i), 80.0, 0.4));
        }
        (history, start + Duration::hours(hours))
    }

    #[test]
    fn connections_or_cpu_well_above_their_usual_level_are_saturation() {
        let (history, now) = usual_load(3);
        assert_eq!(
            history.saturation(&load(now, 110.0, 0.5), 1.5),
            Reading::Healthy,
            "within baseline × factor"
        );
        match history.saturation(&load(now, 150.0, 0.5), 1.5) {
            Reading::Failing(detail) => {
                assert_eq!(
                    detail,
                    "active connections 150 > 120 (80 usual over 3 h × 1.5)"
                );
            }
            other => panic!("{other:?}"),
        }
        match history.saturation(&load(now, 90.0, 1.2), 1.5) {
            Reading::Failing(detail) => {
                assert_eq!(detail, "CPU 120% > 60% (40% usual over 3 h × 1.5)");
            }
            other => panic!("{other:?}"),
        }
        match history.saturation(&load(now, 200.0, 2.0), 2.0) {
            Reading::Failing(detail) => {
                assert!(detail.contains("active connections 200 > 160"), "{detail}");
                assert!(detail.contains("; CPU 200% > 80%"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_small_rise_on_a_quiet_server_is_not_saturation() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut history = ResourceHistory::default();
        for i in 0..2 * 360 {
            history.push(&load(start + Duration::seconds(10 * i), 2.0, 0.01));
        }
        // Four times the usual, yet 6 connections and 4% of a core: nothing to page about.
        let now = start + Duration::hours(2);
        assert_eq!(
            history.saturation(&load(now, 8.0, 0.04), 1.5),
            Reading::Healthy
        );
        assert!(matches!(
            history.saturation(&load(now, 30.0, 0.04), 1.5),
            Reading::Failing(_)
        ));
    }

    #[test]
    fn saturation_is_judged_only_after_an_hour_of_usual_load() {
        let (young, now) = usual_load(0);
        assert_eq!(
            young.saturation(&load(now, 500.0, 4.0), 1.5),
            Reading::NoData
        );
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut forty_minutes = ResourceHistory::default();
        for i in 0..240 {
            forty_minutes.push(&load(start + Duration::seconds(10 * i), 80.0, 0.4));
        }
        assert_eq!(
            forty_minutes.saturation(&load(now, 500.0, 4.0), 1.5),
            Reading::NoData
        );
        let (history, now) = usual_load(1);
        assert!(matches!(
            history.saturation(&load(now, 500.0, 4.0), 1.5),
            Reading::Failing(_)
        ));
        assert_eq!(
            history.saturation(
                &SampleRow {
                    at: now,
                    ..SampleRow::default()
                },
                1.5
            ),
            Reading::NoData,
            "a poll without metrics says nothing"
        );
    }
}
