//! Which probes a target offers. Most MCP servers speak MCP and nothing else: a missing
//! `/health/*` or `/metrics` is something a server may add, not a failure. Each probe is
//! found out on first contact, tried again now and then while it is missing, and may be
//! switched on or off per target by an admin.
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four probes of a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Live,
    Ready,
    Metrics,
    Mcp,
}

impl ProbeKind {
    pub const ALL: [Self; 4] = [Self::Live, Self::Ready, Self::Metrics, Self::Mcp];

    /// The name used in switches (`live=off`) and file_sd labels.
    pub fn key(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Ready => "ready",
            Self::Metrics => "metrics",
            Self::Mcp => "mcp",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "liveness",
            Self::Ready => "readiness",
            Self::Metrics => "metrics",
            Self::Mcp => "MCP",
        }
    }
}

/// One value for each of a target's four probes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PerProbe<T> {
    pub live: T,
    pub ready: T,
    pub metrics: T,
    pub mcp: T,
}

impl<T: Copy> PerProbe<T> {
    pub fn get(&self, probe: ProbeKind) -> T {
        *self.slot(probe)
    }

    pub fn set(&mut self, probe: ProbeKind, value: T) {
        *self.get_mut(probe) = value;
    }

    fn slot(&self, probe: ProbeKind) -> &T {
        match probe {
            ProbeKind::Live => &self.live,
            ProbeKind::Ready => &self.ready,
            ProbeKind::Metrics => &self.metrics,
            ProbeKind::Mcp => &self.mcp,
        }
    }

    pub fn get_mut(&mut self, probe: ProbeKind) -> &mut T {
        match probe {
            ProbeKind::Live => &mut self.live,
            ProbeKind::Ready => &mut self.ready,
            ProbeKind::Metrics => &mut self.metrics,
            ProbeKind::Mcp => &mut self.mcp,
        }
    }
}

/// An admin's choice for one probe of one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSwitch {
    /// Probed when the server offers it, found out by asking.
    #[default]
    Auto,
    /// Always probed: a 404 is a failure.
    On,
    /// Never probed.
    Off,
}

impl ProbeSwitch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(format!("'{other}' is not auto, on or off")),
        }
    }
}

/// The switches of a target's four probes; all `auto` unless an admin said otherwise.
pub type ProbeSwitches = PerProbe<ProbeSwitch>;

impl ProbeSwitches {
    /// Parses `live=off, metrics=on` (the file_sd label `__probes__`); probes not named stay
    /// `auto`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut switches = Self::default();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("'{part}' is not probe=auto|on|off"));
            };
            switches.set_by_key(key, value)?;
        }
        Ok(switches)
    }

    /// Sets one probe's switch by its key (`live`, `ready`, `metrics`, `mcp`).
    pub fn set_by_key(&mut self, key: &str, value: &str) -> Result<(), String> {
        let key = key.trim();
        let probe = ProbeKind::ALL
            .into_iter()
            .find(|p| p.key() == key)
            .ok_or_else(|| format!("unknown probe '{key}'; use live, ready, metrics or mcp"))?;
        self.set(probe, ProbeSwitch::parse(value)?);
        Ok(())
    }
}

impl fmt::Display for ProbeSwitches {
    /// The switches that are not `auto`, as `parse` reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<String> = ProbeKind::ALL
            .into_iter()
            .filter(|p| self.get(*p) != ProbeSwitch::Auto)
            .map(|p| format!("{}={}", p.key(), self.get(p).as_str()))
            .collect();
        f.write_str(&set.join(", "))
    }
}

/// What a poll found out about one probe, as pages show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offer {
    /// Not found out yet (never asked, or the server did not answer).
    #[default]
    Unknown,
    Offered,
    /// Answers 404 or 405: the server does not have it.
    NotOffered,
    /// Offered, or switched on, and failing.
    Failing,
    /// Switched off by an admin.
    Off,
}

impl Offer {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unknown => "not known yet",
            Self::Offered => "offered",
            Self::NotOffered => "not offered",
            Self::Failing => "failing",
            Self::Off => "switched off",
        }
    }

    pub fn css_name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Offered => "offered",
            Self::NotOffered => "not-offered",
            Self::Failing => "failing",
            Self::Off => "off",
        }
    }
}

/// Each probe's offer on a poll.
pub type ProbeOffers = PerProbe<Offer>;

impl ProbeOffers {
    /// Offered or failing: the server has it, so it counts.
    pub fn has(&self, probe: ProbeKind) -> bool {
        matches!(self.get(probe), Offer::Offered | Offer::Failing)
    }
}

/// How one probe's request went, as the offer cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A good answer.
    Answered,
    /// 404 or 405: nothing there.
    Missing,
    /// An answer that is wrong (another status, a parse error, a protocol error).
    Broken,
    /// No answer at all (refused, timed out, TLS).
    Unreachable,
}

/// What the collector remembers of one probe between polls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Discovery {
    /// Not found out yet: asked on every poll.
    #[default]
    Untried,
    /// The server has it: asked on every poll.
    Offered,
    /// Missing: asked again at `retry_at`.
    NotOffered { retry_at: DateTime<Utc> },
}

impl Discovery {
    /// Whether this poll asks the probe.
    pub fn due(&self, switch: ProbeSwitch, now: DateTime<Utc>) -> bool {
        match (switch, self) {
            (ProbeSwitch::Off, _) => false,
            (ProbeSwitch::On, _) => true,
            (ProbeSwitch::Auto, Self::NotOffered { retry_at }) => now >= *retry_at,
            (ProbeSwitch::Auto, _) => true,
        }
    }

    /// Takes one asked probe's answer and says what it means for this poll. A 404 or 405
    /// means "not offered" until the server has once answered; after that it is a failure,
    /// as is any failure of a probe switched on.
    pub fn observe(
        &mut self,
        switch: ProbeSwitch,
        answer: Answer,
        now: DateTime<Utc>,
        retry_after: Duration,
    ) -> Offer {
        if switch == ProbeSwitch::On {
            *self = Self::Offered;
            return if answer == Answer::Answered {
                Offer::Offered
            } else {
                Offer::Failing
            };
        }
        match (*self, answer) {
            (_, Answer::Answered) => {
                *self = Self::Offered;
                Offer::Offered
            }
            (Self::Offered, _) => Offer::Failing,
            (Self::Untried | Self::NotOffered { .. }, Answer::Missing) => {
                *self = Self::NotOffered {
                    retry_at: now + retry_after,
                };
                Offer::NotOffered
            }
            // It answered, wrongly: it is there, and broken.
            (Self::Untried | Self::NotOffered { .. }, Answer::Broken) => {
                *self = Self::Offered;
                Offer::Failing
            }
            // Nothing answered: failing for now, and nothing learned.
            (Self::Untried, Answer::Unreachable) => Offer::Failing,
            (Self::NotOffered { .. }, Answer::Unreachable) => {
                *self = Self::NotOffered {
                    retry_at: now + retry_after,
                };
                Offer::NotOffered
            }
        }
    }

    /// The offer of a probe this poll did not ask.
    pub fn unasked(&self, switch: ProbeSwitch) -> Offer {
        match (switch, self) {
            (ProbeSwitch::Off, _) => Offer::Off,
            (_, Self::NotOffered { .. }) => Offer::NotOffered,
            (_, Self::Offered) => Offer::Offered,
            (_, Self::Untried) => Offer::Unknown,
        }
    }
}

/// The discovery of all four probes of one target.
pub type Discoveries = PerProbe<Discovery>;

impl Discoveries {
    /// Which probes this poll asks. When none is due (everything missing and waiting for
    /// its retry), every probe not switched off is asked, so a target is never left
    /// unpolled and one that comes back is seen at once.
    pub fn due(&self, switches: &ProbeSwitches, now: DateTime<Utc>) -> [bool; 4] {
        let due = ProbeKind::ALL.map(|p| self.get(p).due(switches.get(p), now));
        if due.iter().any(|d| *d) {
            due
        } else {
            ProbeKind::ALL.map(|p| switches.get(p) != ProbeSwitch::Off)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    const RETRY: Duration = Duration::minutes(10);

    #[test]
    fn a_404_on_first_contact_is_not_offered_and_asked_again_after_the_retry() {
        let mut metrics = Discovery::default();
        let auto = ProbeSwitch::Auto;
        assert!(metrics.due(auto, at(0)));
        assert_eq!(
            metrics.observe(auto, Answer::Missing, at(0), RETRY),
            Offer::NotOffered
        );
        assert!(!metrics.due(auto, at(5)));
        assert_eq!(metrics.unasked(auto), Offer::NotOffered);
        assert!(metrics.due(auto, at(10)));
        // Still missing: wait another period.
        assert_eq!(
            metrics.observe(auto, Answer::Missing, at(10), RETRY),
            Offer::NotOffered
        );
        assert!(!metrics.due(auto, at(19)));
    }

    #[test]
    fn a_server_that_adds_metrics_later_is_picked_up_at_the_next_retry() {
        let mut metrics = Discovery::default();
        let auto = ProbeSwitch::Auto;
        metrics.observe(auto, Answer::Missing, at(0), RETRY);
        assert!(metrics.due(auto, at(10)));
        assert_eq!(
            metrics.observe(auto, Answer::Answered, at(10), RETRY),
            Offer::Offered
        );
        assert!(metrics.due(auto, at(10)), "asked on every poll from now on");
        // Once offered, losing it is a failure, not a quiet "not offered".
        assert_eq!(
            metrics.observe(auto, Answer::Missing, at(11), RETRY),
            Offer::Failing
        );
    }

    #[test]
    fn an_unreachable_server_teaches_nothing_and_a_broken_answer_means_offered_and_failing() {
        let mut live = Discovery::default();
        let auto = ProbeSwitch::Auto;
        assert_eq!(
            live.observe(auto, Answer::Unreachable, at(0), RETRY),
            Offer::Failing
        );
        assert_eq!(live, Discovery::Untried);
        assert_eq!(
            live.observe(auto, Answer::Broken, at(1), RETRY),
            Offer::Failing
        );
        assert_eq!(live, Discovery::Offered);
    }

    #[test]
    fn a_probe_switched_on_fails_on_404_and_one_switched_off_is_never_asked() {
        let mut ready = Discovery::default();
        assert_eq!(
            ready.observe(ProbeSwitch::On, Answer::Missing, at(0), RETRY),
            Offer::Failing
        );
        assert!(!ready.due(ProbeSwitch::Off, at(0)));
        assert_eq!(ready.unasked(ProbeSwitch::Off), Offer::Off);
    }

    #[test]
    fn when_nothing_is_due_every_probe_not_switched_off_is_asked() {
        let mut all = Discoveries::default();
        let switches = ProbeSwitches::parse("ready=off").unwrap();
        for probe in ProbeKind::ALL {
            all.get_mut(probe)
                .observe(ProbeSwitch::Auto, Answer::Missing, at(0), RETRY);
        }
        assert_eq!(all.due(&switches, at(1)), [true, false, true, true]);
        all.mcp = Discovery::Offered;
        assert_eq!(all.due(&switches, at(1)), [false, false, false, true]);
    }

    #[test]
    fn switches_parse_and_print_as_the_file_sd_label_writes_them() {
        let switches = ProbeSwitches::parse(" live=off , metrics=ON ").unwrap();
        assert_eq!(switches.live, ProbeSwitch::Off);
        assert_eq!(switches.metrics, ProbeSwitch::On);
        assert_eq!(switches.mcp, ProbeSwitch::Auto);
        assert_eq!(switches.to_string(), "live=off, metrics=on");
        assert_eq!(ProbeSwitches::parse(&switches.to_string()), Ok(switches));
        assert!(ProbeSwitches::parse("health=off").is_err());
        assert!(ProbeSwitches::parse("mcp=maybe").is_err());
        assert!(ProbeSwitches::parse("mcp").is_err());
    }
}
