//! The axum router: mcpops' own health and metrics, the Leptos app, and the layers every route gets.
pub mod charts;
pub mod error;
pub mod metrics;
mod request_log;
pub mod streams;

use crate::app::{App, shell};
use crate::server::auth;
use crate::server::cluster::Membership;
use crate::server::config::Config;
use crate::server::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use leptos::prelude::use_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How long readiness waits for the database before calling it down.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn app(state: AppState, config: &Config) -> Router {
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    let page_policy = {
        let frame_ancestors = config.server.frame_ancestors.clone();
        // Runs for every rendered page, after leptos_axum has made the page's nonce.
        move || {
            let response = use_context::<leptos_axum::ResponseOptions>();
            if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), response) {
                response.insert_header(
                    header::CONTENT_SECURITY_POLICY,
                    content_security_policy(&frame_ancestors, Some(&nonce)),
                );
            }
        }
    };
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/events", get(events))
        .route("/charts/{id}/{chart}", get(chart))
        .route("/charts/fleet/{chart}", get(fleet_chart))
        .route(
            "/charts/capacity.svg",
            get(crate::server::services::capacity::chart),
        )
        .leptos_routes_with_context(&state, routes, page_policy.clone(), move || {
            shell(leptos_options.clone())
        })
        .route(
            "/audit/export",
            get(crate::server::services::audit_export::export),
        )
        .route(
            "/api/v1/deploys",
            axum::routing::post(crate::server::services::deploys::post),
        )
        .route(
            "/reports/{file}",
            get(crate::server::services::incidents::report_file),
        )
        .route(
            "/calendar/{file}",
            get(crate::server::services::oncall::calendar_file),
        )
        .route(
            "/reports/capacity.csv",
            get(crate::server::services::capacity::csv),
        )
        .fallback({
            let not_found =
                leptos_axum::file_and_error_handler_with_context::<AppState, _>(page_policy, shell);
            move |State(state): State<AppState>, request: Request| {
                site_file_or(state, request, not_found.clone())
            }
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(auth::session_layer(state.store.sessions(), &config.auth))
        .layer(middleware::from_fn(same_origin_writes))
        .layer(middleware::from_fn_with_state(
            state.leptos_options.hash_files,
            cache_policy,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn_with_state(
                    request_log::RequestLog::new(config.log.probe_requests_every),
                    request_log::log_requests,
                ))
                .layer(CatchPanicLayer::new())
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                // Kiosk tokens travel in URLs: no page hands its address to another site.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    content_security_policy(&config.server.frame_ancestors, None),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    config
                        .auth
                        .secure_cookies
                        .then(|| HeaderValue::from_static("max-age=31536000")),
                ))
                .layer(RequestBodyLimitLayer::new(config.server.body_limit_bytes))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(config.server.request_timeout_secs),
                )),
        )
        .with_state(state)
}

/// Serves a file of the site (precompressed when the browser takes it), and hands anything
/// else to `not_found`, Leptos's handler, to render the app's not-found page.
///
/// Files are not left to that handler: it runs the page context for a file in a child of
/// whichever reactive owner its thread last had, and when that is a page being rendered,
/// the file's response takes the page's headers, so the page arrives without its CSP nonce
/// and its scripts are blocked (about one page in twenty with assets loading alongside).
async fn site_file_or<F, Fut>(state: AppState, request: Request, not_found: F) -> Response
where
    F: FnOnce(axum::http::Uri, State<AppState>, Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    use tower::ServiceExt;
    let uri = request.uri().clone();
    if !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        return not_found(uri, State(state), request).await;
    }
    let mut file_request = Request::new(axum::body::Body::empty());
    *file_request.method_mut() = request.method().clone();
    *file_request.uri_mut() = uri.clone();
    if let Some(accepted) = request.headers().get(header::ACCEPT_ENCODING) {
        file_request
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, accepted.clone());
    }
    let files = tower_http::services::ServeDir::new(&*state.leptos_options.site_root)
        .precompressed_br()
        .precompressed_gzip();
    let Ok(response) = files.oneshot(file_request).await;
    if response.status() == StatusCode::OK {
        return response.into_response();
    }
    not_found(uri, State(state), request).await
}

/// What the browser may load and who may frame the pages. Scripts come from this origin, or
/// inline with the page's nonce (Leptos's hydration script and streamed chunks); WebAssembly
/// may be compiled. Responses that are not pages get no nonce, so no inline script at all.
fn content_security_policy(frame_ancestors: &str, nonce: Option<&str>) -> HeaderValue {
    let inline = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'{inline} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors {frame_ancestors}; base-uri 'self'; \
         object-src 'none'"
    );
    // The configuration refuses control characters, so this always holds.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'self'"))
}

/// Assets under hashed names (`/pkg/mcpops.<hash>.wasm`) never change and are kept a year;
/// everything else, pages first, is checked again on each visit. Unhashed assets (a build
/// without `hash-files`) are revalidated too, so a new build is never hidden by a cache.
/// Assets come gzip- or brotli-encoded by what the browser accepts, which a shared cache
/// must key on.
async fn cache_policy(State(hashed): State<bool>, request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let policy = if asset && hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(policy));
    if asset && !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_else(|| request.uri().path());
    tracing::info_span!("request", request_id, method = %request.method(), route)
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // Unmatched paths (static files, 404s) share one label so scanners cannot explode cardinality.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Refuses state-changing requests that a browser sent from another origin (CSRF): browsers
/// always send `Origin` on cross-origin POSTs, and it must name this host.
async fn same_origin_writes(request: Request, next: Next) -> Response {
    use axum::http::{Method, header};
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    // Browsers name where a request comes from in `Sec-Fetch-Site`. It decides when present:
    // under `Referrer-Policy: no-referrer` a form's `Origin` is "null".
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") => return next.run(request).await,
        Some(_) => return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response(),
        None => {}
    }
    let origin_host = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest).to_owned());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(origin), Some(host)) if origin != host => {
            (StatusCode::FORBIDDEN, "cross-origin request refused").into_response()
        }
        _ => next.run(request).await,
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "alive"}))
}

async fn ready(State(state): State<AppState>) -> Response {
    let database = matches!(
        tokio::time::timeout(READY_DB_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    let mut checks = json!({"database": database});
    let mut body = json!({});
    let mut ready = database;
    // A replica whose heartbeats stall has paused polling: another replica should serve.
    if let Membership::Shared { .. } = &state.membership {
        let leases = state.membership.holds_leases(tokio::time::Instant::now());
        checks["leases"] = json!(leases);
        ready &= leases;
        if let Some(standing) = state.membership.standing() {
            body["cluster"] = json!({
                "replica": standing.replica_id,
                "replicas": standing.view.replicas.len(),
                "targets": standing.view.targets,
                "held": standing.view.held,
                "leads": state.membership.leads(),
            });
        }
    }
    body["status"] = json!(if ready { "ready" } else { "not_ready" });
    body["checks"] = checks;
    if ready {
        Json(body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[derive(serde::Deserialize)]
struct ChartQuery {
    range: Option<String>,
    /// A window of its own instead of a range (an incident's), in Unix milliseconds; `to`
    /// is now when left out.
    from: Option<i64>,
    to: Option<i64>,
    /// `wall` draws for a wall screen.
    frame: Option<String>,
}

/// The longest window a chart may cover: the hourly rollups' default retention.
const LONGEST_CHART_WINDOW: chrono::Duration = chrono::Duration::days(400);

/// `GET /charts/{id}/{latency|traffic|errors|saturation}.svg?range=1h`
async fn chart(
    State(state): State<AppState>,
    axum::extract::Path((id, file)): axum::extract::Path<(i64, String)>,
    axum::extract::Query(query): axum::extract::Query<ChartQuery>,
) -> Response {
    render_chart(&state, Some(id), &file, query).await
}

/// The whole fleet's golden signals, from the fleet-wide minute rollups.
async fn fleet_chart(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<ChartQuery>,
) -> Response {
    render_chart(&state, None, &file, query).await
}

/// A target's chart (`Some(id)`), or the fleet's.
async fn render_chart(
    state: &AppState,
    target_id: Option<i64>,
    file: &str,
    query: ChartQuery,
) -> Response {
    use crate::domain::series::{FLEET_ID, TimeRange};
    use crate::server::http::charts::{self, Chart};
    let Some(kind) = file.strip_suffix(".svg").and_then(Chart::parse) else {
        return (StatusCode::NOT_FOUND, "no such chart").into_response();
    };
    let Some(frame) = query
        .frame
        .as_deref()
        .map_or(Some(charts::Frame::Page), charts::Frame::parse)
    else {
        return (StatusCode::BAD_REQUEST, "frame must be page or wall").into_response();
    };
    let now = chrono::Utc::now();
    if let Some(from) = query.from {
        let window = chrono::DateTime::from_timestamp_millis(from).zip(
            query
                .to
                .map_or(Some(now), chrono::DateTime::from_timestamp_millis),
        );
        let Some((from, to)) = window.filter(|(from, to)| {
            from < to
                && *to - *from <= LONGEST_CHART_WINDOW
                && *to <= now + chrono::Duration::minutes(5)
        }) else {
            return (
                StatusCode::BAD_REQUEST,
                "from and to must be Unix milliseconds, from before to, at most 400 days apart",
            )
                .into_response();
        };
        // Windows of their own are few (incident pages) and not cached.
        return match draw_chart(state, target_id, kind, frame, from, to).await {
            Ok(svg) => svg_response(svg),
            Err(response) => response,
        };
    }
    let range = match query.range.as_deref() {
        None => TimeRange::default(),
        Some(raw) => match TimeRange::parse(raw) {
            Some(range) => range,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    "range must be one of 15m, 1h, 6h, 24h, 7d, 30d",
                )
                    .into_response();
            }
        },
    };
    let tick = now.timestamp() / charts::TICK_SECS;
    let key = (target_id.unwrap_or(FLEET_ID), kind, frame, range, tick);
    let svg = match state.charts.get(key) {
        Some(svg) => svg,
        None => {
            match draw_chart(state, target_id, kind, frame, now - range.duration(), now).await {
                Ok(svg) => {
                    state.charts.put(key, svg.clone());
                    svg
                }
                Err(response) => return response,
            }
        }
    };
    svg_response(svg)
}

/// Reads a chart's rows and deploy markers for `[from, to)` and draws it.
async fn draw_chart(
    state: &AppState,
    target_id: Option<i64>,
    kind: crate::server::http::charts::Chart,
    frame: crate::server::http::charts::Frame,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<String, Response> {
    use crate::domain::series::downsample;
    use crate::server::http::charts;
    let read = async {
        let samples = state.signals.read(target_id, from, to).await?;
        let markers = match target_id {
            Some(id) => deploy_markers(state, id, from, to).await?,
            None => Vec::new(),
        };
        Ok::<_, crate::server::store::StoreError>((samples, markers))
    };
    let (samples, markers) = read
        .await
        .map_err(|err| crate::domain::error::AppError::from(err).into_response())?;
    let points = downsample(&samples, from, to, 120);
    charts::render(kind, frame, &points, &markers, from, to).map_err(|err| {
        tracing::error!(error = %err, "chart rendering failed");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

fn svg_response(svg: String) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "max-age=5"),
        ],
        svg,
    )
        .into_response()
}

/// The deploys of this target (or of its tags) inside the chart's window.
async fn deploy_markers(
    state: &AppState,
    target_id: i64,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<crate::server::http::charts::Marker>, crate::server::store::StoreError> {
    let target = state.store.get_target(target_id).await?;
    Ok(state
        .store
        .deploys(from, to)
        .await?
        .into_iter()
        .filter(|d| d.covers(target.id, &target.tags))
        .map(|d| crate::server::http::charts::Marker {
            at: d.at,
            label: d.version,
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct EventFilter {
    /// Comma-separated target ids; all targets when absent.
    targets: Option<String>,
}

/// Server-sent events: an `updates` event (a JSON array) per batch of polls and an `alert`
/// event per alert change.
/// A client that falls too far behind on polls is dropped from the hub (its EventSource
/// reconnects) rather than slowing anyone else; see `LiveHub::follow`.
async fn events(
    State(state): State<AppState>,
    principal: Option<axum::Extension<crate::domain::auth::Principal>>,
    started: Option<axum::Extension<crate::server::auth::SessionStart>>,
    axum::extract::Query(filter): axum::extract::Query<EventFilter>,
) -> Response {
    use axum::response::sse::{Event, Sse};
    use tokio_stream::StreamExt;
    let holder = principal.as_ref().map_or("", |p| p.0.actor.as_str());
    let Some(slot) = state.streams.take(holder) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many live pages open at once for you; close some",
        )
            .into_response();
    };
    let wanted: Option<std::collections::HashSet<i64>> = filter.targets.map(|raw| {
        raw.split(',')
            .take(10_000)
            .filter_map(|id| id.trim().parse().ok())
            .collect()
    });
    let stopping = state.shutdown.clone().cancelled_owned();
    // A page that shows no polls (`?targets=`) does not follow the hub at all.
    let polls: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Option<Event>> + Send>> =
        match wanted {
            Some(ids) if ids.is_empty() => Box::pin(tokio_stream::pending()),
            wanted => Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(state.hub.follow(wanted))
                    .map(|batch| Some(Event::default().event("updates").data(batch.json())))
                    // The hub dropped this page as too slow: end the stream (see below).
                    .chain(tokio_stream::once(None)),
            ),
        };
    // Alert changes go to every page, which refetches what it shows at most once a second.
    let alert_changes = tokio_stream::wrappers::BroadcastStream::new(state.alerts.subscribe())
        .filter_map(|change| {
            let change = change.ok()?;
            Event::default()
                .event("alert")
                .json_data(&change)
                .ok()
                .map(Some)
        });
    // A quiet fleet still says it is alive, so a page can tell quiet from cut off.
    let heartbeat = {
        let period = Duration::from_secs(crate::domain::live::HEARTBEAT_SECS);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio_stream::wrappers::IntervalStream::new(every).map(|_| {
            let now = chrono::Utc::now().timestamp_millis();
            Some(Event::default().event("heartbeat").data(now.to_string()))
        })
    };
    // The whole stream ends when the page was dropped from the hub, so its EventSource
    // reconnects and starts afresh, instead of staying open with alerts only.
    let updates = polls
        .merge(alert_changes)
        .merge(heartbeat)
        .map_while(|event| event.map(Ok::<_, std::convert::Infallible>));
    // The stream ends once its user is disabled or signed out everywhere, or its kiosk token
    // is revoked, on whichever replica that happened; the reconnect is then refused.
    let mut standings = state.auth.standings.clone();
    let since = started.map(|s| s.0.0);
    let revoked = async move {
        let Some(axum::Extension(principal)) = principal else {
            return std::future::pending::<()>().await;
        };
        loop {
            if !standings.borrow_and_update().allows(&principal, since) {
                break;
            }
            if standings.changed().await.is_err() {
                // Stopping: `stopping` ends the stream.
                std::future::pending::<()>().await;
            }
        }
    };
    let stopping = async move {
        tokio::select! {
            () = stopping => {},
            () = revoked => {},
        }
    };
    let updates = futures::StreamExt::take_until(updates, Box::pin(stopping)).map(move |event| {
        // Held as long as the stream is open.
        let _slot = &slot;
        event
    });
    Sse::new(updates).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
