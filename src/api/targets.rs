//! Server functions for the fleet's targets: list, add, edit, remove.
use super::error::AppError;
use crate::domain::target::Target;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The advanced fields of the target form, sent as `probe[…]`. Empty fields keep the
/// defaults; empty `headers` keep the saved ones unless `clear_headers` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeForm {
    pub timeout_ms: String,
    pub live_path: String,
    pub ready_path: String,
    pub metrics_path: String,
    pub mcp_path: String,
    pub profile: String,
    pub metric_names: String,
    /// Each probe's switch: `auto`, `on` or `off`.
    pub live_switch: String,
    pub ready_switch: String,
    pub metrics_switch: String,
    pub mcp_switch: String,
    /// One `Name: value` per line.
    pub headers: String,
    pub clear_headers: Option<String>,
}

#[server(endpoint = "targets/list")]
pub async fn list_targets() -> Result<Vec<Target>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    let targets = state.directory.targets(state.store.as_ref()).await;
    super::ssr::respond(targets.map(|t| t.to_vec()).map_err(AppError::from))
}

#[server(endpoint = "targets/get")]
pub async fn get_target(id: i64) -> Result<Target, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    super::ssr::respond(state.store.get_target(id).await.map_err(AppError::from))
}

/// What each polled target offers (liveness, readiness, metrics, MCP), by target id.
#[server(endpoint = "targets/offers")]
pub async fn target_offers() -> Result<Vec<(i64, crate::domain::offers::ProbeOffers)>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    let statuses = state.store.target_statuses().await;
    super::ssr::respond(
        statuses
            .map(|all| all.iter().map(|s| (s.target_id, s.offers)).collect())
            .map_err(AppError::from),
    )
}

/// The target files and how each read at its last reading (empty when none are configured).
#[server(endpoint = "targets/sources")]
pub async fn target_sources() -> Result<Vec<crate::domain::target_files::SourceStatus>, AppError> {
    use crate::domain::auth::Permission;
    let state = super::ssr::require(Permission::ViewDashboards)?.state;
    Ok(state
        .target_files
        .as_ref()
        .map(|files| files.status())
        .unwrap_or_default())
}

/// Adds a target from the form's raw fields; every bad field is reported by name.
#[server(endpoint = "targets/add")]
pub async fn add_target(
    name: String,
    base_url: String,
    interval_secs: String,
    tags: String,
    probe: Option<ProbeForm>,
) -> Result<Target, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::target::TargetSource;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("target", "create", name.trim())
        .details(&form_details(
            &base_url,
            &interval_secs,
            &tags,
            probe.as_ref(),
        ));
    let result = match spec_from_form(&name, &base_url, &interval_secs, &tags, probe.as_ref()) {
        Ok(spec) => caller
            .state
            .store
            .insert_target(&spec, TargetSource::Ui, event.clone())
            .await
            .map_err(AppError::from),
        Err(fields) => Err(AppError::Invalid(fields)),
    };
    finish(&caller, event, result).await
}

#[server(endpoint = "targets/update")]
pub async fn update_target(
    id: i64,
    name: String,
    base_url: String,
    interval_secs: String,
    tags: String,
    probe: Option<ProbeForm>,
) -> Result<Target, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller
        .event("target", "update", name.trim())
        .details(&serde_json::json!({
            "id": id,
            "form": form_details(&base_url, &interval_secs, &tags, probe.as_ref()),
        }));
    let result = match spec_from_form(&name, &base_url, &interval_secs, &tags, probe.as_ref()) {
        Ok(spec) => match editable(&caller.state, id).await {
            Ok(_) => caller
                .state
                .store
                .update_target(id, &spec, event.clone())
                .await
                .map_err(AppError::from),
            Err(err) => Err(err),
        },
        Err(fields) => Err(AppError::Invalid(fields)),
    };
    finish(&caller, event, result).await
}

#[server(endpoint = "targets/remove")]
pub async fn remove_target(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let mut event = caller
        .event("target", "delete", &id.to_string())
        .details(&serde_json::json!({ "id": id }));
    let result = match editable(&caller.state, id).await {
        Ok(target) => {
            event = event.resource(&target.name);
            caller
                .state
                .store
                .delete_target(id, event.clone())
                .await
                .map_err(AppError::from)
        }
        Err(err) => Err(err),
    };
    finish(&caller, event, result).await
}

/// What the form asked for, for the audit log (the URL may carry credentials, so no userinfo).
#[cfg(feature = "ssr")]
fn form_details(
    base_url: &str,
    interval_secs: &str,
    tags: &str,
    probe: Option<&ProbeForm>,
) -> serde_json::Value {
    // Header values are secrets: only their names are recorded.
    let header_names: Vec<&str> = probe
        .map(|p| {
            p.headers
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(n, _)| n.trim())
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "base_url": crate::server::config::redact_url(base_url),
        "interval_secs": interval_secs,
        "tags": tags,
        "probe": probe.map(|p| serde_json::json!({
            "timeout_ms": p.timeout_ms, "live_path": p.live_path, "ready_path": p.ready_path,
            "metrics_path": p.metrics_path, "mcp_path": p.mcp_path, "profile": p.profile,
            "metric_names": p.metric_names, "headers": header_names,
            "switches": [&p.live_switch, &p.ready_switch, &p.metrics_switch, &p.mcp_switch],
            "clear_headers": p.clear_headers.is_some(),
        })),
    })
}

/// The basic fields and, when sent, the advanced ones, with every bad field named.
#[cfg(feature = "ssr")]
fn spec_from_form(
    name: &str,
    base_url: &str,
    interval_secs: &str,
    tags: &str,
    probe: Option<&ProbeForm>,
) -> Result<crate::domain::target::TargetSpec, crate::domain::target::FieldErrors> {
    use crate::domain::target::{ProbeSettings, TargetSpec, parse_headers};
    let spec = TargetSpec::from_form(name, base_url, interval_secs, tags);
    let Some(form) = probe else {
        return spec;
    };
    let settings = ProbeSettings::from_form(
        &form.timeout_ms,
        [
            &form.live_path,
            &form.ready_path,
            &form.metrics_path,
            &form.mcp_path,
        ],
        &form.profile,
        &form.metric_names,
    )
    .and_then(|mut settings| {
        let mut errors = crate::domain::target::FieldErrors::default();
        let switches = [
            ("live", "live_switch", &form.live_switch),
            ("ready", "ready_switch", &form.ready_switch),
            ("metrics", "metrics_switch", &form.metrics_switch),
            ("mcp", "mcp_switch", &form.mcp_switch),
        ];
        for (probe, field, value) in switches {
            if let Err(message) = settings.switches.set_by_key(probe, value) {
                errors.add(field, message);
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    });
    let headers = if !form.headers.trim().is_empty() {
        parse_headers(&form.headers).map(Some)
    } else if form.clear_headers.is_some() {
        Ok(Some(Vec::new()))
    } else {
        Ok(None)
    };
    match (spec, settings, headers) {
        (Ok(mut spec), Ok(settings), Ok(headers)) => {
            spec.probe = settings;
            spec.headers = headers;
            Ok(spec)
        }
        (spec, settings, headers) => {
            let mut errors = spec.err().unwrap_or_default();
            for (field, message) in settings.err().unwrap_or_default().0 {
                errors.add(&field, message);
            }
            if let Err(message) = headers {
                errors.add("headers", message);
            }
            Err(errors)
        }
    }
}

/// Tells the collector about a change, audits a failure, and sets the response status.
#[cfg(feature = "ssr")]
pub(super) async fn finish<T>(
    caller: &super::ssr::Caller,
    event: crate::domain::audit::AuditEvent,
    result: Result<T, AppError>,
) -> Result<T, AppError> {
    match &result {
        Ok(_) => caller.state.targets_changed(),
        Err(err) => caller.record_failure(event, err).await,
    }
    super::ssr::respond(result)
}

/// Only targets made in the UI are changed in the UI; the others would come back from their source.
#[cfg(feature = "ssr")]
async fn editable(state: &crate::server::state::AppState, id: i64) -> Result<Target, AppError> {
    use crate::domain::target::TargetSource;
    let target = state.store.get_target(id).await?;
    match target.source {
        TargetSource::Ui => Ok(target),
        other => Err(AppError::Conflict(format!(
            "{} is managed by its {} source; change it there",
            target.name,
            other.as_str()
        ))),
    }
}
