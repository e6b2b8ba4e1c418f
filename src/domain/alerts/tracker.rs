//! How readings become an alert: the policy and damping of a rule, and the tracker that moves
//! one alert through its states.
use super::*;

/// How a rule turns readings into an alert for one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub for_polls: u32,
    /// Healthy polls in a row before a firing alert resolves.
    pub clear_polls: u32,
    /// A firing alert stays firing at least this long, so a flapping target does not page
    /// on every swing.
    pub min_firing: Duration,
    /// For value rules: the value must be above this to start an alert.
    pub threshold: Option<f64>,
    /// For value rules: an active alert clears only at or below threshold × (1 − hysteresis).
    pub hysteresis: f64,
}

/// The engine's tuning that is not per target (the `[alerts]` section).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Damping {
    pub clear_polls: u32,
    pub min_firing: Duration,
    pub hysteresis: f64,
}

impl Default for Damping {
    fn default() -> Self {
        Self {
            clear_polls: 2,
            min_firing: Duration::minutes(2),
            hysteresis: 0.1,
        }
    }
}

impl Policy {
    pub fn for_rule(rule: RuleKind, baselines: &Baselines, damping: Damping) -> Self {
        let signal = rule.signal();
        Self {
            for_polls: if signal.is_some() {
                baselines.for_polls
            } else {
                rule.default_for_polls()
            },
            clear_polls: damping.clear_polls,
            min_firing: damping.min_firing,
            threshold: signal.map(|s| baselines.threshold(s)),
            hysteresis: damping.hysteresis,
        }
    }
}

/// A change the tracker asks the engine to store (and maybe notify).
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The condition started; it must hold `for` polls before firing.
    Pending {
        detail: String,
    },
    Firing {
        detail: String,
    },
    /// The condition cleared; `fired` says whether anyone was told it had started.
    Resolved {
        fired: bool,
    },
}

/// The engine's memory of one rule on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    phase: Phase,
    breaches: u32,
    clears: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    Pending,
    Firing { since: DateTime<Utc> },
}

impl Default for Tracker {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            breaches: 0,
            clears: 0,
        }
    }
}

impl Tracker {
    /// A tracker for an alert that was already open (after a restart).
    pub fn resume(state: AlertState, fired_at: Option<DateTime<Utc>>) -> Self {
        let phase = match (state, fired_at) {
            (AlertState::Pending, _) => Phase::Pending,
            (AlertState::Firing | AlertState::Acknowledged, Some(since)) => Phase::Firing { since },
            (AlertState::Firing | AlertState::Acknowledged, None) => Phase::Firing {
                since: DateTime::<Utc>::MIN_UTC,
            },
            (AlertState::Resolved, _) => Phase::Idle,
        };
        Self {
            phase,
            breaches: u32::from(phase == Phase::Pending),
            ..Self::default()
        }
    }

    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle
    }

    /// Judges one reading; returns the change to record, if any.
    pub fn step(
        &mut self,
        reading: Reading,
        at: DateTime<Utc>,
        policy: &Policy,
        describe: impl Fn(f64) -> String,
    ) -> Option<Transition> {
        let active = self.phase != Phase::Idle;
        let (breach, detail) = match reading {
            Reading::NoData => return None,
            Reading::Healthy => (false, String::new()),
            Reading::Failing(detail) => (true, detail),
            Reading::Value(value) => {
                let threshold = policy.threshold.unwrap_or(f64::INFINITY);
                let limit = if active {
                    threshold * (1.0 - policy.hysteresis)
                } else {
                    threshold
                };
                (value > limit, describe(value))
            }
        };
        if breach {
            self.clears = 0;
            self.breaches = self.breaches.saturating_add(1);
            match self.phase {
                Phase::Idle | Phase::Pending if self.breaches >= policy.for_polls.max(1) => {
                    self.phase = Phase::Firing { since: at };
                    Some(Transition::Firing { detail })
                }
                Phase::Idle => {
                    self.phase = Phase::Pending;
                    Some(Transition::Pending { detail })
                }
                Phase::Pending | Phase::Firing { .. } => None,
            }
        } else {
            self.breaches = 0;
            match self.phase {
                Phase::Idle => None,
                Phase::Pending => {
                    *self = Self::default();
                    Some(Transition::Resolved { fired: false })
                }
                Phase::Firing { since } => {
                    self.clears = self.clears.saturating_add(1);
                    let held = at - since >= policy.min_firing;
                    if self.clears >= policy.clear_polls.max(1) && held {
                        *self = Self::default();
                        Some(Transition::Resolved { fired: true })
                    } else {
                        None
                    }
                }
            }
        }
    }
}
