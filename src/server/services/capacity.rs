//! Capacity planning: measured load of a scope from the rollups, the caller's own what-if
//! inputs over it, the plan and the forecast; also the forecast chart and the CSV export.
use crate::domain::alerts::Scope;
use crate::domain::auth::{Principal, PrincipalKind};
use crate::domain::capacity::{
    CapacityReport, DailyPeak, Exhaustion, LoadPoint, Overrides, Trend, daily_peaks, exhaustion,
    inputs, limits, measure, plan, theil_sen,
};
use crate::domain::error::AppError;
use crate::domain::series::TimeRange;
use crate::server::state::AppState;
use crate::server::store::{LoadRow, SampleTable, Store, StoreError};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use plotters::prelude::*;
use serde::Deserialize;

/// How far back the forecast looks.
const HISTORY: Duration = Duration::days(30);
/// How far ahead the forecast chart draws the trend: at least a month, and far enough to show
/// a run-out date within a year.
const AHEAD_MIN_DAYS: i64 = 30;
const AHEAD_MAX_DAYS: i64 = 365;

/// The windows the page offers for measuring.
pub fn window(raw: &str) -> Option<TimeRange> {
    TimeRange::parse(raw).filter(|w| matches!(w, TimeRange::H24 | TimeRange::D7 | TimeRange::D30))
}

/// A user's what-if inputs are keyed by their account; tokens have none.
pub fn user_id(principal: &Principal) -> Option<i64> {
    match principal.kind {
        PrincipalKind::User { id, .. } => Some(id),
        _ => None,
    }
}

fn point(row: LoadRow) -> Result<LoadPoint, StoreError> {
    Ok(LoadPoint {
        at: DateTime::from_timestamp_millis(row.at)
            .ok_or_else(|| StoreError::Corrupt(format!("time {} out of range", row.at)))?,
        requests: row.requests,
        cpu_seconds: row.cpu_seconds,
        cpu_requests: row.cpu_requests,
        memory_bytes: row.memory_bytes,
        connections: row.connections,
        latency_weighted: row.latency_weighted,
        latency_requests: row.latency_requests,
    })
}

async fn load(
    store: &dyn Store,
    table: SampleTable,
    ids: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<LoadPoint>, StoreError> {
    store
        .load(table, ids, from, to)
        .await?
        .into_iter()
        .map(point)
        .collect()
}

/// The report for `scope` measured over `window`, with `principal`'s what-if inputs.
pub async fn report(
    store: &dyn Store,
    principal: &Principal,
    scope: &str,
    window_raw: &str,
    now: DateTime<Utc>,
) -> Result<CapacityReport, AppError> {
    let invalid = |field: &str, message: &str| {
        let mut errors = crate::domain::target::FieldErrors::default();
        errors.add(field, message);
        AppError::Invalid(errors)
    };
    let parsed =
        Scope::from_param(scope).ok_or_else(|| invalid("scope", "fleet, tag:NAME or target:ID"))?;
    let range = window(window_raw).ok_or_else(|| invalid("window", "24h, 7d or 30d"))?;
    let targets = store.list_targets().await?;
    let (label, ids): (String, Option<Vec<i64>>) = match &parsed {
        Scope::Fleet => ("the whole fleet".into(), None),
        Scope::Tag(tag) => (
            format!("tag {tag}"),
            Some(
                targets
                    .iter()
                    .filter(|t| t.tags.contains(tag))
                    .map(|t| t.id)
                    .collect(),
            ),
        ),
        Scope::Target(id) => {
            let target = targets
                .iter()
                .find(|t| t.id == *id)
                .ok_or(AppError::NotFound)?;
            (target.name.clone(), Some(vec![target.id]))
        }
    };
    let instances = ids.as_ref().map_or(targets.len(), Vec::len);
    let (window_minutes, history_minutes, history_hours) = if instances == 0 {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let ids = ids.as_deref();
        let history_minutes = load(store, SampleTable::Minute, ids, now - HISTORY, now).await?;
        let from = now - range.duration();
        let window_minutes: Vec<LoadPoint> = history_minutes
            .iter()
            .filter(|m| m.at >= from)
            .cloned()
            .collect();
        let history_hours = load(store, SampleTable::Hour, ids, now - HISTORY, now).await?;
        (window_minutes, history_minutes, history_hours)
    };
    let measured = measure(&window_minutes, instances);
    let overrides = match user_id(principal) {
        Some(user) => saved_overrides(store, user, &parsed.param(), &principal.actor).await?,
        None => None,
    };
    let inputs = inputs(&measured, overrides.as_ref());
    let planned = plan(&inputs);
    let limits = limits(&inputs);
    let peaks = daily_peaks(&history_minutes, &history_hours);
    let trend = theil_sen(&peaks);
    let today = now.date_naive();
    Ok(CapacityReport {
        scope: parsed.param(),
        scope_label: label,
        window: range.as_str().to_owned(),
        today,
        cpu_runs_out: exhaustion(trend.as_ref(), limits.cpu_rps, today),
        memory_runs_out: exhaustion(trend.as_ref(), limits.memory_rps, today),
        missing: planned
            .as_ref()
            .err()
            .map(|m| m.0.clone())
            .unwrap_or_default(),
        plan: planned.ok(),
        inputs,
        limits,
        trend,
        peaks,
    })
}

async fn saved_overrides(
    store: &dyn Store,
    user: i64,
    scope: &str,
    actor: &str,
) -> Result<Option<Overrides>, StoreError> {
    Ok(match store.capacity_plan(user, scope).await? {
        Some((json, at)) => Some(Overrides {
            values: serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            by: actor.to_owned(),
            at,
        }),
        None => None,
    })
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    #[serde(default = "fleet")]
    scope: String,
    #[serde(default = "seven_days")]
    window: String,
}

fn fleet() -> String {
    "fleet".into()
}

fn seven_days() -> String {
    "7d".into()
}

/// The report a chart or export asks for, as of now.
async fn queried(
    state: &AppState,
    principal: &Principal,
    query: &ReportQuery,
) -> Result<CapacityReport, AppError> {
    report(
        state.store.as_ref(),
        principal,
        &query.scope,
        &query.window,
        Utc::now(),
    )
    .await
}

/// `GET /reports/capacity.csv?scope=…&window=…`: the plan as the caller sees it, as CSV.
pub async fn csv(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ReportQuery>,
) -> Response {
    match queried(&state, &principal, &query).await {
        Ok(report) => {
            let name: String = report
                .scope
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!(
                            "attachment; filename=\"capacity-{name}-{}.csv\"",
                            report.window
                        ),
                    ),
                ],
                report.csv(),
            )
                .into_response()
        }
        Err(err) => err.into_response(),
    }
}

/// `GET /charts/capacity.svg?scope=…&window=…`: daily peaks, the trend and the limit lines.
pub async fn chart(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let report = match queried(&state, &principal, &query).await {
        Ok(report) => report,
        Err(err) => return err.into_response(),
    };
    match render_forecast(&report, Utc::now().date_naive()) {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "capacity chart failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

const BACKGROUND: RGBColor = RGBColor(0x15, 0x1a, 0x20);
const GRID: RGBColor = RGBColor(0x2a, 0x32, 0x3c);
const TEXT: RGBColor = RGBColor(0xd8, 0xe0, 0xe8);
const HISTORY_COLOR: RGBColor = RGBColor(0x5c, 0xc8, 0xff);
const TREND_COLOR: RGBColor = RGBColor(0xff, 0xb0, 0x20);
const CPU_COLOR: RGBColor = RGBColor(0xff, 0x4d, 0x5e);
const MEMORY_COLOR: RGBColor = RGBColor(0xc0, 0x8c, 0xff);

/// The forecast: x is days relative to today (history left of 0, trend to the right).
pub fn render_forecast(
    report: &CapacityReport,
    today: chrono::NaiveDate,
) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let x_of = |day: chrono::NaiveDate| (day - today).num_days() as f64;
    let history: Vec<(f64, f64)> = report
        .peaks
        .iter()
        .map(|DailyPeak { day, rps }| (x_of(*day), *rps))
        .collect();
    let first = history.first().map_or(-30.0, |(x, _)| x.min(-1.0));
    let run_out_days = [report.cpu_runs_out, report.memory_runs_out]
        .iter()
        .filter_map(|e| match e {
            Exhaustion::On(day) => Some((*day - today).num_days()),
            _ => None,
        })
        .filter(|d| *d <= AHEAD_MAX_DAYS)
        .max()
        .unwrap_or(0);
    let last = (run_out_days + run_out_days / 10).max(AHEAD_MIN_DAYS) as f64;
    let trend_line = |trend: &Trend| -> Vec<(f64, f64)> {
        [first, last]
            .iter()
            .map(|x| {
                let day = today + Duration::days(*x as i64);
                (*x, trend.value_at(day).max(0.0))
            })
            .collect()
    };
    let limits = [
        ("CPU limit", report.limits.cpu_rps, CPU_COLOR),
        ("memory limit", report.limits.memory_rps, MEMORY_COLOR),
    ];
    let top = history
        .iter()
        .map(|(_, y)| *y)
        .chain(
            report
                .trend
                .iter()
                .flat_map(|t| trend_line(t).into_iter().map(|(_, y)| y)),
        )
        .chain(limits.iter().filter_map(|(_, l, _)| *l))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 300)).into_drawing_area();
        root.fill(&BACKGROUND).map_err(|e| fail(&e))?;
        let mut plot = ChartBuilder::on(&root)
            .caption(
                format!("Daily peak traffic (rps): {}", report.scope_label),
                ("sans-serif", 20).into_font().color(&TEXT),
            )
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(first..last, 0.0..top)
            .map_err(|e| fail(&e))?;
        plot.configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(BACKGROUND)
            .axis_style(GRID)
            .label_style(("sans-serif", 15).into_font().color(&TEXT))
            .x_labels(7)
            .y_labels(5)
            .x_label_formatter(&|x| {
                (today + Duration::days(*x as i64))
                    .format("%d %b")
                    .to_string()
            })
            .draw()
            .map_err(|e| fail(&e))?;
        plot.draw_series(LineSeries::new(
            history.iter().copied(),
            HISTORY_COLOR.stroke_width(2),
        ))
        .map_err(|e| fail(&e))?
        .label("daily peak")
        .legend(|(x, y)| {
            PathElement::new(vec![(x, y), (x + 16, y)], HISTORY_COLOR.stroke_width(3))
        });
        plot.draw_series(
            history
                .iter()
                .map(|p| Circle::new(*p, 3, HISTORY_COLOR.filled())),
        )
        .map_err(|e| fail(&e))?;
        if let Some(trend) = &report.trend {
            plot.draw_series(LineSeries::new(
                trend_line(trend),
                TREND_COLOR.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?
            .label("trend (Theil–Sen)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], TREND_COLOR.stroke_width(3))
            });
        }
        for (label, limit, color) in limits {
            if let Some(limit) = limit.filter(|l| l.is_finite() && *l <= top) {
                plot.draw_series(LineSeries::new(
                    [(first, limit), (last, limit)],
                    color.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                });
            }
        }
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(BACKGROUND.mix(0.85))
            .border_style(GRID)
            .label_font(("sans-serif", 15).into_font().color(&TEXT))
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}
