//! Server functions for the simulated demo fleet: list its servers and inject faults.
use super::error::AppError;
use crate::domain::demo::DemoServerView;
use leptos::prelude::*;

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
    let fault = crate::domain::demo::DemoFault::parse(&fault).ok_or_else(|| {
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
                    .map_err(|err| match err {
                        crate::server::demo::DemoError::UnknownServer(_) => AppError::NotFound,
                        other => crate::server::http::error::internal(
                            "could not change a demo fault",
                            other,
                        ),
                    }),
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
