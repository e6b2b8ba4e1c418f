//! Server functions for the simulated demo fleet: list its servers and inject faults.
use super::error::AppError;
use leptos::prelude::*;
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
}

impl DemoFault {
    pub const ALL: [DemoFault; 5] = [
        Self::LatencySpike,
        Self::ErrorBurst,
        Self::Down,
        Self::NotReady,
        Self::ToolDrift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LatencySpike => "latency",
            Self::ErrorBurst => "errors",
            Self::Down => "down",
            Self::NotReady => "not_ready",
            Self::ToolDrift => "drift",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::LatencySpike => "Latency spike",
            Self::ErrorBurst => "Error burst",
            Self::Down => "Down",
            Self::NotReady => "Not ready",
            Self::ToolDrift => "Tool drift",
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

/// The demo fleet's servers, or an empty list when mcpops runs without it.
#[server(endpoint = "demo/list")]
pub async fn list_demo_servers() -> Result<Vec<DemoServerView>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    Ok(state
        .demo
        .as_ref()
        .map(|fleet| fleet.views())
        .unwrap_or_default())
}

/// Switches one fault on or off for one demo server.
#[server(endpoint = "demo/fault")]
pub async fn set_demo_fault(server: String, fault: String, on: bool) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let fleet = caller.state.demo.as_ref().ok_or(AppError::NotFound)?;
    let event = caller
        .event("demo", if on { "fault_on" } else { "fault_off" }, &server)
        .details(&serde_json::json!({ "fault": fault }));
    let fault = DemoFault::parse(&fault).ok_or_else(|| {
        let mut errors = crate::domain::target::FieldErrors::default();
        errors.add("fault", format!("unknown fault '{fault}'"));
        AppError::Invalid(errors)
    });
    let result = match fault {
        Ok(fault) if fleet.has_server(&server) => {
            // Audited first: a fault that cannot be recorded is not injected.
            match caller.state.store.append_audit(event).await {
                Ok(_) => fleet
                    .set_fault(&server, fault, on)
                    .await
                    .map_err(|_| AppError::NotFound),
                Err(err) => Err(err.into()),
            }
        }
        Ok(_) => Err(AppError::NotFound),
        Err(err) => {
            caller.record_failure(event, &err).await;
            Err(err)
        }
    };
    super::ssr::respond(result)
}
