//! The simulated demo fleet's vocabulary: the faults it can inject, and a server as pages
//! list it.
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fault the demo fleet can simulate on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoFault {
    LatencySpike,
    ErrorBurst,
    Down,
    NotReady,
    ToolDrift,
    /// Accepts every request and never answers: a poll waits out its whole timeout.
    Hang,
}

impl DemoFault {
    pub const ALL: [DemoFault; 6] = [
        Self::LatencySpike,
        Self::ErrorBurst,
        Self::Down,
        Self::NotReady,
        Self::ToolDrift,
        Self::Hang,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LatencySpike => "latency",
            Self::ErrorBurst => "errors",
            Self::Down => "down",
            Self::NotReady => "not_ready",
            Self::ToolDrift => "drift",
            Self::Hang => "hang",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::LatencySpike => "Latency spike",
            Self::ErrorBurst => "Error burst",
            Self::Down => "Down",
            Self::NotReady => "Not ready",
            Self::ToolDrift => "Tool drift",
            Self::Hang => "Hang (never answer)",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }
}

impl fmt::Display for DemoFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoServerView {
    pub name: String,
    pub url: String,
    pub faults: Vec<DemoFault>,
}
