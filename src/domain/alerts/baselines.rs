//! The numbers degradation is judged against: defaults, overrides by scope, their form, and
//! baselines learned from history.
use super::*;

/// The numbers degradation is judged against. Latencies in ms, the error rate in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub error_rate_pct: f64,
    pub rps: f64,
    /// An alert fires when a signal stays above baseline × factor.
    pub factor: f64,
    /// Polls in a row above the threshold before a degradation alert fires.
    pub for_polls: u32,
}

impl Default for Baselines {
    /// The operations guide's baselines: p50 100 ms, p95 500 ms, p99 1 s, 0.1% errors,
    /// 1,000 requests per second, and alerting at 1.5×.
    fn default() -> Self {
        Self {
            p50_ms: 100.0,
            p95_ms: 500.0,
            p99_ms: 1000.0,
            error_rate_pct: 0.1,
            rps: 1000.0,
            factor: 1.5,
            for_polls: 3,
        }
    }
}

impl Baselines {
    pub fn value(&self, signal: GoldenSignal) -> f64 {
        match signal {
            GoldenSignal::P50 => self.p50_ms,
            GoldenSignal::P95 => self.p95_ms,
            GoldenSignal::P99 => self.p99_ms,
            GoldenSignal::ErrorRate => self.error_rate_pct,
            GoldenSignal::Rps => self.rps,
        }
    }

    pub fn threshold(&self, signal: GoldenSignal) -> f64 {
        self.value(signal) * self.factor
    }

    /// The baselines a target gets: the defaults, then the fleet's override, then its tags'
    /// (in tag order), then its own.
    pub fn for_target(overrides: &[BaselineOverride], target_id: i64, tags: &[String]) -> Self {
        let mut baselines = Self::default();
        let mut apply = |scope: &Scope| {
            if let Some(o) = overrides.iter().find(|o| &o.scope == scope) {
                o.apply_to(&mut baselines);
            }
        };
        apply(&Scope::Fleet);
        let mut sorted: Vec<&String> = tags.iter().collect();
        sorted.sort();
        for tag in sorted {
            apply(&Scope::Tag(tag.clone()));
        }
        apply(&Scope::Target(target_id));
        baselines
    }
}

/// What an override applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "key", rename_all = "snake_case")]
pub enum Scope {
    Fleet,
    Tag(String),
    Target(i64),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Fleet => "fleet",
            Self::Tag(_) => "tag",
            Self::Target(_) => "target",
        }
    }

    pub fn key(&self) -> String {
        match self {
            Self::Fleet => String::new(),
            Self::Tag(tag) => tag.clone(),
            Self::Target(id) => id.to_string(),
        }
    }

    /// One form value for the scope: `fleet`, `tag:NAME` or `target:ID`.
    pub fn param(&self) -> String {
        match self {
            Self::Fleet => "fleet".into(),
            other => format!("{}:{}", other.kind(), other.key()),
        }
    }

    pub fn from_param(raw: &str) -> Option<Self> {
        let (kind, key) = raw.split_once(':').unwrap_or((raw, ""));
        Self::from_parts(kind, key)
    }

    pub fn from_parts(kind: &str, key: &str) -> Option<Self> {
        match kind {
            "fleet" => Some(Self::Fleet),
            "tag" if !key.trim().is_empty() => Some(Self::Tag(key.trim().to_owned())),
            "target" => key.parse().ok().map(Self::Target),
            _ => None,
        }
    }
}

/// Some baselines replaced for a scope; `None` keeps what the wider scope says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineOverride {
    pub scope: Scope,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate_pct: Option<f64>,
    pub rps: Option<f64>,
    pub factor: Option<f64>,
    pub for_polls: Option<u32>,
}

/// The raw text of an override form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineForm {
    pub p50_ms: String,
    pub p95_ms: String,
    pub p99_ms: String,
    pub error_rate_pct: String,
    pub rps: String,
    pub factor: String,
    pub for_polls: String,
}

impl BaselineOverride {
    /// Parses a form: empty fields inherit; every bad field is named with its reason.
    pub fn parse(scope: Scope, form: &BaselineForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, raw: &str| -> Option<f64> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            match raw.parse::<f64>() {
                Ok(v) if !v.is_finite() => {
                    errors.add(field, "must be a finite number");
                    None
                }
                Ok(v) if v <= 0.0 => {
                    errors.add(field, "must be greater than 0");
                    None
                }
                Ok(v) => Some(v),
                Err(_) => {
                    errors.add(field, "must be a number");
                    None
                }
            }
        };
        let p50_ms = number("p50_ms", &form.p50_ms);
        let p95_ms = number("p95_ms", &form.p95_ms);
        let p99_ms = number("p99_ms", &form.p99_ms);
        let error_rate_pct = number("error_rate_pct", &form.error_rate_pct);
        let rps = number("rps", &form.rps);
        let factor = number("factor", &form.factor);
        if let Some(pct) = error_rate_pct.filter(|p| *p > 100.0) {
            errors.add("error_rate_pct", format!("{pct}% is more than 100%"));
        }
        if factor.is_some_and(|f| f <= 1.0) {
            errors.add(
                "factor",
                "must be greater than 1 (an alert fires above baseline × factor)",
            );
        }
        let for_polls = match form.for_polls.trim() {
            "" => None,
            raw => match raw.parse::<u32>() {
                Ok(n) if (1..=360).contains(&n) => Some(n),
                _ => {
                    errors.add("for_polls", "must be a whole number of polls from 1 to 360");
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            scope,
            p50_ms,
            p95_ms,
            p99_ms,
            error_rate_pct,
            rps,
            factor,
            for_polls,
        })
    }

    fn apply_to(&self, baselines: &mut Baselines) {
        let pairs = [
            (&mut baselines.p50_ms, self.p50_ms),
            (&mut baselines.p95_ms, self.p95_ms),
            (&mut baselines.p99_ms, self.p99_ms),
            (&mut baselines.error_rate_pct, self.error_rate_pct),
            (&mut baselines.rps, self.rps),
            (&mut baselines.factor, self.factor),
        ];
        for (slot, value) in pairs {
            if let Some(v) = value {
                *slot = v;
            }
        }
        if let Some(n) = self.for_polls {
            baselines.for_polls = n;
        }
    }
}

/// A target's baselines learned from its own history: the median of its hourly values.
pub fn learn_baselines(target_id: i64, hourly: &[SampleRow]) -> Option<LearnedBaselines> {
    let column = |read: &dyn Fn(&SampleRow) -> Option<f64>| {
        let mut values: Vec<f64> = hourly
            .iter()
            .filter_map(read)
            .filter(|v| v.is_finite())
            .collect();
        crate::domain::median(&mut values)
    };
    let ms = |seconds: Option<f64>| seconds.map(|s| s * 1000.0);
    let learned = LearnedBaselines {
        target_id,
        hours: hourly.len(),
        p50_ms: column(&|h| ms(h.p50)),
        p95_ms: column(&|h| ms(h.p95)),
        p99_ms: column(&|h| ms(h.p99)),
        error_rate_pct: column(&|h| h.error_ratio().map(|r| r * 100.0)),
        rps: column(&SampleRow::rps),
    };
    (learned.hours > 0).then_some(learned)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedBaselines {
    pub target_id: i64,
    /// How many hourly values the medians were taken over.
    pub hours: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate_pct: Option<f64>,
    pub rps: Option<f64>,
}

/// Describes a value against its baseline, e.g. "p95 latency 812 ms > 750 ms (500 ms × 1.5)";
/// an error rate is the lower bound judged, hence "at least".
pub fn describe_breach(signal: GoldenSignal, value: f64, baselines: &Baselines) -> String {
    format!(
        "{}{} {} > {} ({} × {})",
        signal.label(),
        if signal == GoldenSignal::ErrorRate {
            " at least"
        } else {
            ""
        },
        signal.format(value),
        signal.format(baselines.threshold(signal)),
        signal.format(baselines.value(signal)),
        baselines.factor
    )
}
