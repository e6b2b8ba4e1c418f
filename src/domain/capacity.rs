//! Capacity planning from measured load: the operations guide's formula, the inputs behind it
//! (each saying where its value came from), a robust daily-peak trend and when it meets the
//! limits of the current fleet. No I/O here.
//!
//! Values are held in the unit their label shows (MiB, GiB, ms, percent), so a form field, a
//! stored override and the CSV are the same number; units are converted only inside formulas.
use super::target::FieldErrors;
use chrono::{DateTime, Duration, Months, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One input of the capacity formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKey {
    PeakRps,
    CpuPerRequest,
    MemoryPerConnection,
    AvgRequestMs,
    Headroom,
    CoresPerInstance,
    MemoryPerInstance,
    CurrentInstances,
}

impl InputKey {
    pub const ALL: [InputKey; 8] = [
        Self::PeakRps,
        Self::CpuPerRequest,
        Self::MemoryPerConnection,
        Self::AvgRequestMs,
        Self::Headroom,
        Self::CoresPerInstance,
        Self::MemoryPerInstance,
        Self::CurrentInstances,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PeakRps => "peak_rps",
            Self::CpuPerRequest => "cpu_per_request",
            Self::MemoryPerConnection => "memory_per_connection",
            Self::AvgRequestMs => "avg_request_ms",
            Self::Headroom => "headroom",
            Self::CoresPerInstance => "cores_per_instance",
            Self::MemoryPerInstance => "memory_per_instance",
            Self::CurrentInstances => "current_instances",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PeakRps => "Peak traffic (rps)",
            Self::CpuPerRequest => "CPU per request (core-seconds)",
            Self::MemoryPerConnection => "Memory per connection (MiB)",
            Self::AvgRequestMs => "Average request time (ms)",
            Self::Headroom => "Headroom (%)",
            Self::CoresPerInstance => "Cores per instance",
            Self::MemoryPerInstance => "Memory per instance (GiB)",
            Self::CurrentInstances => "Current instances",
        }
    }

    /// The unit the value is stored in (the one its label shows).
    pub fn unit(self) -> &'static str {
        match self {
            Self::PeakRps => "rps",
            Self::CpuPerRequest => "core-seconds",
            Self::MemoryPerConnection => "MiB",
            Self::AvgRequestMs => "ms",
            Self::Headroom => "%",
            Self::CoresPerInstance => "cores",
            Self::MemoryPerInstance => "GiB",
            Self::CurrentInstances => "instances",
        }
    }

    /// How the value is measured, so an operator can judge it before overriding it.
    pub fn help(self) -> &'static str {
        match self {
            Self::PeakRps => "p99 of per-minute traffic over the window",
            Self::CpuPerRequest => "Δ CPU seconds / Δ requests",
            Self::MemoryPerConnection => "memory / active connections",
            Self::AvgRequestMs => "request-weighted median latency",
            Self::Headroom => "spare capacity above peak; default 50%",
            Self::CoresPerInstance => "cores each instance gets; default 4",
            Self::MemoryPerInstance => "memory each instance gets; default 16 GiB",
            Self::CurrentInstances => "targets in scope",
        }
    }

    /// Sizing choices have a default; measurements never do (a guess would hide a gap).
    pub fn default_value(self) -> Option<f64> {
        match self {
            Self::Headroom => Some(50.0),
            Self::CoresPerInstance => Some(4.0),
            Self::MemoryPerInstance => Some(16.0),
            _ => None,
        }
    }

    /// These divide the formulas, so zero is refused for them.
    fn must_be_positive(self) -> bool {
        matches!(
            self,
            Self::CoresPerInstance | Self::MemoryPerInstance | Self::CurrentInstances
        )
    }
}

/// Where an input's value came from; shown beside it so a plan can be trusted or questioned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Measured,
    Default,
    Override { by: String, at: DateTime<Utc> },
    Unmeasured,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Self::Measured => "measured".into(),
            Self::Default => "default".into(),
            Self::Override { by, at } => {
                format!(
                    "override by {by} at {}",
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
            Self::Unmeasured => "unmeasured".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub key: InputKey,
    pub value: Option<f64>,
    pub source: Source,
}

/// What the server measured over the window; `None` when there was nothing to measure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub peak_rps: Option<f64>,
    pub cpu_per_request: Option<f64>,
    pub memory_per_connection_mib: Option<f64>,
    pub avg_request_ms: Option<f64>,
    pub current_instances: Option<f64>,
}

impl Measured {
    fn value(&self, key: InputKey) -> Option<f64> {
        match key {
            InputKey::PeakRps => self.peak_rps,
            InputKey::CpuPerRequest => self.cpu_per_request,
            InputKey::MemoryPerConnection => self.memory_per_connection_mib,
            InputKey::AvgRequestMs => self.avg_request_ms,
            InputKey::CurrentInstances => self.current_instances,
            _ => None,
        }
    }
}

/// Values an operator typed over the measured or default ones, keyed by `InputKey::as_str`
/// (plain strings keep the stored JSON readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    pub values: BTreeMap<String, f64>,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Overrides {
    pub fn get(&self, key: InputKey) -> Option<f64> {
        self.values.get(key.as_str()).copied()
    }

    /// Checks a posted form; an empty field means "no override" for that input.
    pub fn parse(form: &BTreeMap<String, String>) -> Result<BTreeMap<String, f64>, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut values = BTreeMap::new();
        for (field, raw) in form {
            let Some(key) = InputKey::parse(field) else {
                errors.add(field, "not a capacity input");
                continue;
            };
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            match raw.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => {
                    if key == InputKey::Headroom && v > 1000.0 {
                        errors.add(field, "a percentage from 0 to 1000");
                    } else if key.must_be_positive() && v <= 0.0 {
                        errors.add(field, "a number above 0");
                    } else {
                        // `-0` parses as negative zero; store it as plain zero.
                        values.insert(key.as_str().to_owned(), v.abs());
                    }
                }
                _ => errors.add(field, "a number, 0 or more"),
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }
}

/// Every input in `InputKey::ALL` order: an override wins, then a default for sizing choices,
/// then the measurement (or `Unmeasured` when there was none).
pub fn inputs(measured: &Measured, overrides: Option<&Overrides>) -> Vec<Input> {
    InputKey::ALL
        .into_iter()
        .map(|key| {
            let (value, source) = if let Some(o) = overrides
                && let Some(v) = o.get(key)
            {
                let source = Source::Override {
                    by: o.by.clone(),
                    at: o.at,
                };
                (Some(v), source)
            } else if let Some(v) = key.default_value() {
                (Some(v), Source::Default)
            } else if let Some(v) = measured.value(key) {
                (Some(v), Source::Measured)
            } else {
                (None, Source::Unmeasured)
            };
            Input { key, value, source }
        })
        .collect()
}

fn value_of(inputs: &[Input], key: InputKey) -> Option<f64> {
    inputs.iter().find(|i| i.key == key).and_then(|i| i.value)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub required_cores: f64,
    pub required_memory_gib: f64,
    /// Sized by CPU, as the guide's formula is; memory is checked through `Limits`.
    pub instances: u64,
    /// Requests in flight at peak (Little's law); `None` without an average request time.
    pub concurrency: Option<f64>,
}

/// The inputs a plan needs but has no value for, in `InputKey::ALL` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing(pub Vec<InputKey>);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self.0.iter().map(|k| k.label()).collect();
        write!(f, "needs {}", labels.join(", "))
    }
}

/// cores = rps × cpu × (1 + headroom); memory = rps × memory per connection × (1 + headroom).
pub fn plan(inputs: &[Input]) -> Result<Plan, Missing> {
    use InputKey::*;
    let need = [
        PeakRps,
        CpuPerRequest,
        MemoryPerConnection,
        Headroom,
        CoresPerInstance,
    ];
    let [rps, cpu, mem, headroom, cores] = need.map(|k| value_of(inputs, k));
    let (Some(rps), Some(cpu), Some(mem), Some(headroom), Some(cores)) =
        (rps, cpu, mem, headroom, cores)
    else {
        return Err(Missing(
            need.into_iter()
                .filter(|k| value_of(inputs, *k).is_none())
                .collect(),
        ));
    };
    let factor = 1.0 + headroom / 100.0;
    let required_cores = rps * cpu * factor;
    let instances = if rps <= 0.0 || cores <= 0.0 {
        0
    } else {
        // The epsilon stops float noise (16.000000000000004 / 4) from adding an instance;
        // any traffic at all needs one.
        (required_cores / cores - 1e-9).ceil().max(1.0) as u64
    };
    Ok(Plan {
        required_cores,
        required_memory_gib: rps * mem * factor / 1024.0,
        instances,
        concurrency: value_of(inputs, AvgRequestMs).map(|ms| rps * ms / 1000.0),
    })
}

/// The busiest the scope got on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPeak {
    pub day: NaiveDate,
    pub rps: f64,
}

/// A straight line through daily peaks; x counts days from `origin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub slope_per_day: f64,
    pub intercept: f64,
    pub origin: NaiveDate,
}

impl Trend {
    pub fn value_at(&self, day: NaiveDate) -> f64 {
        self.intercept + self.slope_per_day * (day - self.origin).num_days() as f64
    }
}

/// Theil–Sen: the median of pairwise slopes, so one launch-day spike or outage day cannot
/// tilt the forecast the way least squares would. Quadratic, but the points are days.
pub fn theil_sen(points: &[DailyPeak]) -> Option<Trend> {
    let finite: Vec<&DailyPeak> = points.iter().filter(|p| p.rps.is_finite()).collect();
    let origin = finite.iter().map(|p| p.day).min()?;
    let xy: Vec<(i64, f64)> = finite
        .iter()
        .map(|p| ((p.day - origin).num_days(), p.rps))
        .collect();
    let mut slopes = Vec::new();
    for (i, &(x1, y1)) in xy.iter().enumerate() {
        for &(x2, y2) in &xy[i + 1..] {
            if x1 != x2 {
                slopes.push((y2 - y1) / (x2 - x1) as f64);
            }
        }
    }
    let slope = crate::domain::median(&mut slopes)?;
    let mut residuals: Vec<f64> = xy.iter().map(|&(x, y)| y - slope * x as f64).collect();
    let intercept = crate::domain::median(&mut residuals)?;
    Some(Trend {
        slope_per_day: slope,
        intercept,
        origin,
    })
}

/// The peak traffic the current instances can carry with the headroom kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub cpu_rps: Option<f64>,
    pub memory_rps: Option<f64>,
}

pub fn limits(inputs: &[Input]) -> Limits {
    use InputKey::*;
    let v = |k| value_of(inputs, k);
    let factor = v(Headroom).map(|h| 1.0 + h / 100.0);
    let capacity = |per_instance: Option<f64>, per_request: Option<f64>| -> Option<f64> {
        let total = v(CurrentInstances)? * per_instance?;
        let divisor = per_request? * factor?;
        if divisor > 0.0 {
            Some(total / divisor).filter(|r| r.is_finite())
        } else {
            None
        }
    };
    Limits {
        cpu_rps: capacity(v(CoresPerInstance), v(CpuPerRequest)),
        memory_rps: capacity(
            v(MemoryPerInstance).map(|gib| gib * 1024.0),
            v(MemoryPerConnection),
        ),
    }
}

/// When the daily-peak trend meets a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exhaustion {
    Already,
    On(NaiveDate),
    NotOnTrend,
    Unknown,
}

impl Exhaustion {
    pub fn describe(&self) -> String {
        match self {
            Self::Already => "already above the limit".into(),
            Self::On(day) => format!("runs out on {day}"),
            Self::NotOnTrend => "not on the current trend".into(),
            Self::Unknown => "not enough data".into(),
        }
    }

    /// Out of capacity already, or within a month: worth a warning colour.
    pub fn urgent(&self, today: NaiveDate) -> bool {
        match self {
            Self::Already => true,
            Self::On(day) => (*day - today).num_days() <= 30,
            _ => false,
        }
    }

    fn cell(&self) -> String {
        match self {
            Self::On(day) => day.to_string(),
            other => other.describe(),
        }
    }
}

/// A date further out than ten years is noise from a nearly flat slope, not a forecast.
pub fn exhaustion(trend: Option<&Trend>, limit: Option<f64>, today: NaiveDate) -> Exhaustion {
    let (Some(trend), Some(limit)) = (trend, limit) else {
        return Exhaustion::Unknown;
    };
    if !limit.is_finite() || !trend.slope_per_day.is_finite() || !trend.intercept.is_finite() {
        return Exhaustion::Unknown;
    }
    if trend.value_at(today) >= limit {
        return Exhaustion::Already;
    }
    if trend.slope_per_day <= 0.0 {
        return Exhaustion::NotOnTrend;
    }
    let today_x = (today - trend.origin).num_days();
    // Rounded up: the first whole day at or past the limit.
    let ahead = ((limit - trend.intercept) / trend.slope_per_day).ceil() - today_x as f64;
    if ahead > 4000.0 {
        return Exhaustion::NotOnTrend;
    }
    // Today is below the limit, so the day is at least tomorrow even if rounding says today.
    let day = today.checked_add_signed(Duration::days((ahead as i64).max(1)));
    match (day, today.checked_add_months(Months::new(120))) {
        (Some(day), Some(horizon)) if day <= horizon => Exhaustion::On(day),
        _ => Exhaustion::NotOnTrend,
    }
}

/// Rounded to nine decimals so float noise (15.000000000000002) does not reach a spreadsheet.
fn number(value: Option<f64>) -> String {
    value
        .map(|v| ((v * 1e9).round() / 1e9).to_string())
        .unwrap_or_default()
}

/// The plan as CSV (`item,value,unit,source`, CRLF line ends per RFC 4180).
pub fn csv(
    scope_label: &str,
    inputs: &[Input],
    plan: Result<&Plan, &Missing>,
    limits: &Limits,
    cpu: &Exhaustion,
    memory: &Exhaustion,
) -> String {
    let row = |item: &str, value: String, unit: &str, source: String| -> [String; 4] {
        [item.to_owned(), value, unit.to_owned(), source]
    };
    let mut rows = vec![
        row("item", "value".into(), "unit", "source".into()),
        row("scope", scope_label.to_owned(), "", String::new()),
    ];
    for input in inputs {
        let (key, source) = (input.key, input.source.describe());
        rows.push(row(key.as_str(), number(input.value), key.unit(), source));
    }
    let computed = match plan {
        Ok(_) => "computed".to_owned(),
        Err(Missing(keys)) => {
            let names: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            format!("missing {}", names.join(" "))
        }
    };
    let p = plan.ok();
    let concurrency_source = if p.is_some_and(|p| p.concurrency.is_none()) {
        "missing avg_request_ms".to_owned()
    } else {
        computed.clone()
    };
    let from_plan = |item: &str, value: Option<f64>, unit: &str| {
        row(item, number(value), unit, computed.clone())
    };
    let from_limits = |item: &str, value: Option<f64>, unit: &str| {
        row(item, number(value), unit, "computed".into())
    };
    rows.extend([
        from_plan("required_cores", p.map(|p| p.required_cores), "cores"),
        from_plan(
            "required_memory_gib",
            p.map(|p| p.required_memory_gib),
            "GiB",
        ),
        from_plan("instances", p.map(|p| p.instances as f64), "instances"),
        row(
            "concurrency",
            number(p.and_then(|p| p.concurrency)),
            "requests",
            concurrency_source,
        ),
        from_limits("cpu_limit_rps", limits.cpu_rps, "rps"),
        from_limits("memory_limit_rps", limits.memory_rps, "rps"),
        row("cpu_runs_out", cpu.cell(), "date", "trend".into()),
        row("memory_runs_out", memory.cell(), "date", "trend".into()),
    ]);
    let mut out = String::new();
    for r in &rows {
        super::csv::push_row(&mut out, r.iter().map(String::as_str));
    }
    out
}

/// One period (a minute or an hour) of load summed over the targets in scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadPoint {
    pub at: DateTime<Utc>,
    pub requests: Option<f64>,
    pub cpu_seconds: Option<f64>,
    /// Requests served in periods where CPU was measured too.
    pub cpu_requests: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub connections: Option<f64>,
    /// Σ p50 (seconds) × requests, and the requests that carried a p50.
    pub latency_weighted: Option<f64>,
    pub latency_requests: Option<f64>,
}

const MIB: f64 = 1024.0 * 1024.0;

/// The guide's inputs from per-minute load: peak rps is the p99 of per-minute traffic, CPU
/// per request is Δcpu / Δrequests, memory per connection averages memory / connections over
/// the minutes that had both, and the request time is the request-weighted median latency.
pub fn measure(minutes: &[LoadPoint], instances: usize) -> Measured {
    let mut rps: Vec<f64> = minutes
        .iter()
        .filter_map(|m| m.requests)
        .map(|r| r / 60.0)
        .collect();
    let ratio = |num: f64, den: f64| (den > 0.0).then_some(num / den);
    let sum = |read: fn(&LoadPoint) -> Option<f64>| minutes.iter().filter_map(read).sum::<f64>();
    let per_connection: Vec<f64> = minutes
        .iter()
        .filter_map(|m| match (m.memory_bytes, m.connections) {
            (Some(mem), Some(conns)) if conns > 0.0 => Some(mem / conns / MIB),
            _ => None,
        })
        .collect();
    Measured {
        peak_rps: percentile(&mut rps, 0.99),
        cpu_per_request: ratio(sum(|m| m.cpu_seconds), sum(|m| m.cpu_requests)),
        memory_per_connection_mib: ratio(per_connection.iter().sum(), per_connection.len() as f64),
        avg_request_ms: ratio(sum(|m| m.latency_weighted), sum(|m| m.latency_requests))
            .map(|secs| secs * 1000.0),
        current_instances: (instances > 0).then_some(instances as f64),
    }
}

/// Each day's peak: the p99 of its per-minute traffic where minutes are kept, otherwise its
/// busiest hour (older days live only in the hourly rollups).
pub fn daily_peaks(minutes: &[LoadPoint], hours: &[LoadPoint]) -> Vec<DailyPeak> {
    let mut by_day: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for m in minutes {
        if let Some(r) = m.requests {
            by_day.entry(m.at.date_naive()).or_default().push(r / 60.0);
        }
    }
    let mut peaks: BTreeMap<NaiveDate, f64> = by_day
        .into_iter()
        .filter_map(|(day, mut rps)| percentile(&mut rps, 0.99).map(|p| (day, p)))
        .collect();
    let minute_days: Vec<NaiveDate> = peaks.keys().copied().collect();
    for h in hours {
        let day = h.at.date_naive();
        if let Some(r) = h.requests
            && !minute_days.contains(&day)
        {
            let peak = peaks.entry(day).or_insert(0.0);
            *peak = peak.max(r / 3600.0);
        }
    }
    peaks
        .into_iter()
        .map(|(day, rps)| DailyPeak { day, rps })
        .collect()
}

/// The full capacity picture for one scope, as the page, the chart and the CSV show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// `fleet`, `tag:NAME` or `target:ID`.
    pub scope: String,
    pub scope_label: String,
    /// `24h`, `7d` or `30d`.
    pub window: String,
    /// The server's date, which run-out dates are judged against.
    pub today: NaiveDate,
    pub inputs: Vec<Input>,
    pub plan: Option<Plan>,
    pub missing: Vec<InputKey>,
    pub limits: Limits,
    pub cpu_runs_out: Exhaustion,
    pub memory_runs_out: Exhaustion,
    pub trend: Option<Trend>,
    pub peaks: Vec<DailyPeak>,
}

impl CapacityReport {
    pub fn csv(&self) -> String {
        let missing = Missing(self.missing.clone());
        let plan = self.plan.as_ref().ok_or(&missing);
        csv(
            &self.scope_label,
            &self.inputs,
            plan,
            &self.limits,
            &self.cpu_runs_out,
            &self.memory_runs_out,
        )
    }
}

/// Nearest-rank percentile, `q` from 0 to 1 (0.99 for p99); sorts `values` in place.
/// Nearest rank returns an observed minute, never an interpolated one.
pub fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    // The epsilon keeps 0.95 × 20 = 19.000000000000004 from rounding up a rank.
    let rank = ((q * n as f64 - 1e-9).ceil() as usize).clamp(1, n);
    Some(values[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The guide's example: 1,000 rps, 10 ms of CPU and 2 MiB per request, 200 ms each.
    fn worked() -> Vec<Input> {
        let measured = Measured {
            peak_rps: Some(1000.0),
            cpu_per_request: Some(0.01),
            memory_per_connection_mib: Some(2.0),
            avg_request_ms: Some(200.0),
            current_instances: Some(4.0),
        };
        inputs(&measured, None)
    }

    #[test]
    fn keys_round_trip_and_serialise_as_their_names() {
        for key in InputKey::ALL {
            assert_eq!(InputKey::parse(key.as_str()), Some(key));
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(json, format!("\"{}\"", key.as_str()));
        }
        assert_eq!(InputKey::parse("nope"), None);
    }

    #[test]
    fn guide_worked_example() {
        let plan = plan(&worked()).unwrap();
        assert!((plan.required_cores - 15.0).abs() < 1e-9);
        assert_eq!(plan.instances, 4);
        assert!((plan.required_memory_gib - 3000.0 / 1024.0).abs() < 1e-9);
        assert!((plan.concurrency.unwrap() - 200.0).abs() < 1e-9);
    }

    #[test]
    fn plan_names_what_is_missing_and_idle_needs_no_instances() {
        let missing = plan(&inputs(&Measured::default(), None)).unwrap_err();
        use InputKey::*;
        assert_eq!(
            missing,
            Missing(vec![PeakRps, CpuPerRequest, MemoryPerConnection])
        );
        let idle = Measured {
            peak_rps: Some(0.0),
            cpu_per_request: Some(0.01),
            memory_per_connection_mib: Some(1.0),
            ..Measured::default()
        };
        let p = plan(&inputs(&idle, None)).unwrap();
        assert_eq!((p.instances, p.concurrency), (0, None));
    }

    #[test]
    fn override_wins_then_default_then_measurement() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let values = BTreeMap::from([
            ("headroom".to_owned(), 20.0),
            ("cpu_per_request".to_owned(), 0.02),
        ]);
        let o = Overrides {
            values,
            by: "ana".into(),
            at,
        };
        let measured = Measured {
            peak_rps: Some(500.0),
            ..Measured::default()
        };
        let all = inputs(&measured, Some(&o));
        assert_eq!(all.len(), InputKey::ALL.len());
        let get = |k| all.iter().find(|i| i.key == k).cloned().unwrap();
        assert_eq!(get(InputKey::PeakRps).source, Source::Measured);
        assert_eq!(get(InputKey::CpuPerRequest).value, Some(0.02));
        assert_eq!(
            get(InputKey::Headroom).source,
            Source::Override {
                by: "ana".into(),
                at
            }
        );
        assert_eq!(get(InputKey::CoresPerInstance).value, Some(4.0));
        assert_eq!(get(InputKey::CoresPerInstance).source, Source::Default);
        let avg = get(InputKey::AvgRequestMs);
        assert_eq!((avg.value, avg.source), (None, Source::Unmeasured));
        assert_eq!(
            get(InputKey::Headroom).source.describe(),
            "override by ana at 2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn override_form_is_checked() {
        let form = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = Overrides::parse(&form(&[
            ("headroom", " 30 "),
            ("peak_rps", ""),
            ("cpu_per_request", "0"),
        ]));
        assert_eq!(
            ok.unwrap(),
            BTreeMap::from([
                ("headroom".to_owned(), 30.0),
                ("cpu_per_request".to_owned(), 0.0)
            ])
        );
        let errors = Overrides::parse(&form(&[
            ("peak_rps", "lots"),
            ("avg_request_ms", "-1"),
            ("cpu_per_request", "NaN"),
            ("memory_per_connection", "inf"),
            ("headroom", "2000"),
            ("cores_per_instance", "0"),
            ("bogus", "1"),
        ]))
        .unwrap_err();
        assert_eq!(errors.get("peak_rps"), Some("a number, 0 or more"));
        assert_eq!(errors.get("avg_request_ms"), Some("a number, 0 or more"));
        assert_eq!(errors.get("cpu_per_request"), Some("a number, 0 or more"));
        assert_eq!(
            errors.get("memory_per_connection"),
            Some("a number, 0 or more")
        );
        assert_eq!(errors.get("headroom"), Some("a percentage from 0 to 1000"));
        assert_eq!(errors.get("cores_per_instance"), Some("a number above 0"));
        assert_eq!(errors.get("bogus"), Some("not a capacity input"));
    }

    fn line(days: i64, spike_at: Option<i64>) -> Vec<DailyPeak> {
        (0..days)
            .map(|x| DailyPeak {
                day: day(2026, 1, 1) + Duration::days(x),
                rps: if Some(x) == spike_at {
                    100_000.0
                } else {
                    100.0 + 10.0 * x as f64
                },
            })
            .collect()
    }

    #[test]
    fn theil_sen_fits_a_line_and_ignores_one_spike() {
        for points in [line(10, None), line(10, Some(5))] {
            let trend = theil_sen(&points).unwrap();
            assert!((trend.slope_per_day - 10.0).abs() < 1e-9);
            assert!((trend.intercept - 100.0).abs() < 1e-9);
            assert!((trend.value_at(day(2026, 1, 21)) - 300.0).abs() < 1e-9);
        }
        let same_day = vec![
            DailyPeak {
                day: day(2026, 1, 1),
                rps: 1.0
            };
            3
        ];
        assert_eq!(theil_sen(&same_day), None);
        assert_eq!(theil_sen(&[]), None);
    }

    #[test]
    fn limits_at_current_instances() {
        let l = limits(&worked());
        // 4 × 4 cores / (0.01 × 1.5); 4 × 16 GiB × 1024 / (2 MiB × 1.5).
        assert!((l.cpu_rps.unwrap() - 16.0 / 0.015).abs() < 1e-6);
        assert!((l.memory_rps.unwrap() - 65536.0 / 3.0).abs() < 1e-6);
        let none = limits(&inputs(&Measured::default(), None));
        assert_eq!(
            none,
            Limits {
                cpu_rps: None,
                memory_rps: None
            }
        );
    }

    #[test]
    fn exhaustion_dates() {
        let trend = Trend {
            slope_per_day: 10.0,
            intercept: 100.0,
            origin: day(2026, 1, 1),
        };
        let today = day(2026, 1, 11);
        assert_eq!(
            exhaustion(Some(&trend), Some(1000.0), today),
            Exhaustion::On(day(2026, 4, 1))
        );
        assert_eq!(
            exhaustion(Some(&trend), Some(1005.0), today),
            Exhaustion::On(day(2026, 4, 2))
        );
        assert_eq!(
            exhaustion(Some(&trend), Some(150.0), today),
            Exhaustion::Already
        );
        assert_eq!(exhaustion(Some(&trend), None, today), Exhaustion::Unknown);
        assert_eq!(exhaustion(None, Some(1.0), today), Exhaustion::Unknown);
        let flat = Trend {
            slope_per_day: -1.0,
            ..trend.clone()
        };
        assert_eq!(
            exhaustion(Some(&flat), Some(1000.0), today),
            Exhaustion::NotOnTrend
        );
        let slow = Trend {
            slope_per_day: 0.001,
            ..trend
        };
        assert_eq!(
            exhaustion(Some(&slow), Some(1e6), today),
            Exhaustion::NotOnTrend
        );
        assert_eq!(
            Exhaustion::On(day(2026, 12, 24)).describe(),
            "runs out on 2026-12-24"
        );
        assert_eq!(Exhaustion::Unknown.describe(), "not enough data");
    }

    #[test]
    fn the_plan_as_csv() {
        let all = worked();
        let p = plan(&all).unwrap();
        let out = csv(
            "prod, \"eu\"",
            &all,
            Ok(&p),
            &limits(&all),
            &Exhaustion::Already,
            &Exhaustion::Unknown,
        );
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], "\"item\",\"value\",\"unit\",\"source\"");
        assert_eq!(lines[1], "\"scope\",\"prod, \"\"eu\"\"\",\"\",\"\"");
        assert_eq!(lines[2], "\"peak_rps\",\"1000\",\"rps\",\"measured\"");
        assert!(out.contains("\r\n\"headroom\",\"50\",\"%\",\"default\"\r\n"));
        assert!(out.contains("\r\n\"required_cores\",\"15\",\"cores\",\"computed\"\r\n"));
        assert!(out.contains("\r\n\"instances\",\"4\",\"instances\",\"computed\"\r\n"));
        assert!(
            out.contains("\r\n\"cpu_runs_out\",\"already above the limit\",\"date\",\"trend\"\r\n")
        );

        let missing = Missing(vec![InputKey::PeakRps]);
        let out = csv(
            "x",
            &all,
            Err(&missing),
            &limits(&all),
            &Exhaustion::Unknown,
            &Exhaustion::Unknown,
        );
        assert!(out.contains("\r\n\"instances\",\"\",\"instances\",\"missing peak_rps\"\r\n"));
    }

    fn minute(at: DateTime<Utc>, requests: f64) -> LoadPoint {
        LoadPoint {
            at,
            requests: Some(requests),
            cpu_seconds: Some(requests * 0.01),
            cpu_requests: Some(requests),
            memory_bytes: Some(200.0 * 1024.0 * 1024.0),
            connections: Some(100.0),
            latency_weighted: Some(requests * 0.05),
            latency_requests: Some(requests),
        }
    }

    #[test]
    fn measured_inputs_follow_the_guide() {
        let start = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        // 100 minutes at 600 requests (10 rps), one at 60,000 (1,000 rps).
        let mut minutes: Vec<LoadPoint> = (0..100)
            .map(|i| minute(start + Duration::minutes(i), 600.0))
            .collect();
        minutes.push(minute(start + Duration::minutes(100), 60_000.0));
        let measured = measure(&minutes, 3);
        // p99 of 101 minutes is the 100th smallest: a normal minute, not the one spike.
        assert_eq!(measured.peak_rps, Some(10.0));
        assert!((measured.cpu_per_request.unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(measured.memory_per_connection_mib, Some(2.0));
        assert!((measured.avg_request_ms.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(measured.current_instances, Some(3.0));
        assert_eq!(measure(&[], 0), Measured::default());
    }

    #[test]
    fn daily_peaks_prefer_minutes_and_fall_back_to_hours() {
        let day1 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let day2 = day1 + Duration::days(1);
        let minutes = vec![
            minute(day2, 120.0),
            minute(day2 + Duration::minutes(1), 600.0),
        ];
        let hour = |at, requests| LoadPoint {
            at,
            requests: Some(requests),
            ..LoadPoint::default()
        };
        let hours = vec![
            hour(day1, 3600.0),
            hour(day1 + Duration::hours(1), 7200.0),
            hour(day2, 360_000.0),
        ];
        let peaks = daily_peaks(&minutes, &hours);
        assert_eq!(
            peaks,
            vec![
                DailyPeak {
                    day: day1.date_naive(),
                    rps: 2.0
                },
                DailyPeak {
                    day: day2.date_naive(),
                    rps: 10.0
                },
            ]
        );
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut values, 0.99), Some(99.0));
        assert_eq!(percentile(&mut values, 0.5), Some(50.0));
        assert_eq!(percentile(&mut values, 1.0), Some(100.0));
        assert_eq!(percentile(&mut values, 0.0), Some(1.0));
        let mut twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&mut twenty, 0.95), Some(19.0));
        assert_eq!(percentile(&mut [], 0.99), None);
        assert_eq!(percentile(&mut [1.0], 1.5), None);
    }
}
