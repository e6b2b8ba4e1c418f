//! Incident timelines (the incident's own entries, plus the alerts and deploys of its
//! targets) and the post-incident report as Markdown or printable HTML.
use crate::domain::alerts::AlertQuery;
use crate::domain::error::AppError;
use crate::domain::incidents::{
    Incident, ReportParts, TimelineEvent, TimelineKind, ordered, report_markdown,
};
use crate::domain::series::downsample;
use crate::server::http::charts::{self, Chart, Marker};
use crate::server::services::signals::Signals;
use crate::server::state::AppState;
use crate::server::store::{Store, StoreError};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

/// Everything that happened to the incident and its targets, oldest first.
pub async fn timeline(
    store: &dyn Store,
    incident: &Incident,
    now: DateTime<Utc>,
) -> Result<Vec<TimelineEvent>, StoreError> {
    let mut events = store.incident_events(incident.id).await?;
    let from = incident.window_start();
    let to = incident.resolved_at.unwrap_or(now);
    let targets = store.list_targets().await?;
    for target_id in &incident.target_ids {
        let query = AlertQuery {
            target_ids: vec![*target_id],
            limit: 200,
            ..AlertQuery::default()
        };
        for alert in store.alerts(&query).await? {
            if alert.opened_at > to || alert.resolved_at.is_some_and(|r| r < from) {
                continue;
            }
            let (_, steps) = store.alert(alert.id).await?;
            events.extend(
                steps
                    .into_iter()
                    .filter(|s| s.at >= from && s.at <= to)
                    .map(|s| TimelineEvent {
                        at: s.at,
                        kind: TimelineKind::Alert,
                        actor: s.actor,
                        text: format!(
                            "{} on {}: {}",
                            alert.rule.label(),
                            alert.target_name,
                            s.to.as_str()
                        ),
                    }),
            );
        }
    }
    for deploy in store.deploys(from, to).await? {
        let covered: Vec<&str> = targets
            .iter()
            .filter(|t| incident.target_ids.contains(&t.id) && deploy.covers(t.id, &t.tags))
            .map(|t| t.name.as_str())
            .collect();
        if !covered.is_empty() {
            events.push(TimelineEvent {
                at: deploy.at,
                kind: TimelineKind::Deploy,
                actor: deploy.created_by.clone(),
                text: format!("deploy {} of {}", deploy.version, covered.join(", ")),
            });
        }
    }
    Ok(ordered(events))
}

/// Latency and error charts of each affected target over the incident (and the half hour
/// before it), as SVG.
async fn charts(
    store: &dyn Store,
    signals: &Signals,
    incident: &Incident,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, StoreError> {
    let from = incident.window_start();
    let to = incident
        .resolved_at
        .unwrap_or(now)
        .max(from + Duration::minutes(5));
    let targets = store.list_targets().await?;
    let mut svgs = Vec::new();
    for target in targets
        .iter()
        .filter(|t| incident.target_ids.contains(&t.id))
    {
        let samples = signals.read(Some(target.id), from, to).await?;
        let points = downsample(&samples, from, to, 120);
        let markers: Vec<Marker> = store
            .deploys(from, to)
            .await?
            .into_iter()
            .filter(|d| d.covers(target.id, &target.tags))
            .map(|d| Marker {
                at: d.at,
                label: d.version,
            })
            .collect();
        for chart in [Chart::Latency, Chart::Errors] {
            match charts::render(chart, charts::Frame::Page, &points, &markers, from, to) {
                Ok(svg) => svgs.push((format!("{}: {}", target.name, chart.title()), svg)),
                Err(err) => tracing::warn!(error = %err, "could not draw a report chart"),
            }
        }
    }
    Ok(svgs)
}

/// The report's Markdown; the charts are images carried inside the file.
pub async fn report(
    store: &dyn Store,
    signals: &Signals,
    id: i64,
) -> Result<(Incident, String), AppError> {
    let now = Utc::now();
    let incident = store.incident(id).await?;
    let events = timeline(store, &incident, now).await?;
    let images: Vec<(String, String)> = charts(store, signals, &incident, now)
        .await?
        .into_iter()
        .map(|(title, svg)| {
            let data = base64::engine::general_purpose::STANDARD.encode(svg);
            let image = format!("![{title}](data:image/svg+xml;base64,{data})");
            (title, image)
        })
        .collect();
    let updates = store.status_updates(id).await?;
    let action_items = store.action_items(id).await?;
    let parts = ReportParts {
        incident: &incident,
        timeline: &events,
        updates: &updates,
        action_items: &action_items,
        charts: &images,
    };
    let markdown = report_markdown(&parts, now);
    Ok((incident, markdown))
}

/// `GET /reports/incident-{id}.md` (a Markdown download) or `…/incident-{id}.html` (a page
/// made for printing: its text sanitised like a runbook, the images mcpops' own charts).
pub async fn report_file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let parsed = file.strip_prefix("incident-").and_then(|rest| {
        rest.strip_suffix(".md")
            .map(|id| (id, false))
            .or_else(|| rest.strip_suffix(".html").map(|id| (id, true)))
    });
    let Some((Ok(id), html)) = parsed.map(|(id, html)| (id.parse::<i64>(), html)) else {
        return AppError::NotFound.into_response();
    };
    let (incident, markdown) = match report(state.store.as_ref(), &state.signals, id).await {
        Ok(report) => report,
        Err(err) => return err.into_response(),
    };
    if !html {
        return (
            [
                (
                    header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"incident-{id}.md\""),
                ),
            ],
            markdown,
        )
            .into_response();
    }
    let body = crate::server::services::runbooks::render_with_images(&markdown);
    let title = ammonia::clean_text(&format!("Incident #{}: {}", incident.id, incident.title));
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{REPORT_CSS}</style></head><body>{body}</body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

const REPORT_CSS: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
    padding:0 1rem;color:#111}table{border-collapse:collapse;width:100%;margin:1rem 0}\
    th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}\
    img{max-width:100%;break-inside:avoid}@media print{body{margin:0}}";
