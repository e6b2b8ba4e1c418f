//! One log line per request, in the operations guide's words: `request_started` (debug), then
//! `request_completed` (info) with the method, the matched route, the status, `duration_ms`
//! and `request_id`, or `request_failed` (error) with its `error_type` when the answer is a
//! 5xx. Probes of mcpops itself are sampled, and a live stream logs once, when it ends.
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Which requests are logged: all, except that only one probe of mcpops (`/health/*`,
/// `/metrics`) in `probe_every` is, and none when it is 0.
pub struct RequestLog {
    probe_every: u64,
    probes: AtomicU64,
}

impl RequestLog {
    pub fn new(probe_every: u32) -> Arc<Self> {
        Arc::new(Self {
            probe_every: u64::from(probe_every),
            probes: AtomicU64::new(0),
        })
    }

    fn logs(&self, route: &str) -> bool {
        let probe = route.starts_with("/health/") || route == "/metrics";
        if !probe {
            return true;
        }
        self.probe_every > 0
            && self
                .probes
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(self.probe_every)
    }
}

/// A path logged as it was asked (a static file, an unknown path) is cut to this length.
const LONGEST_PATH: usize = 200;

/// The matched route pattern, so that a token inside a path is never written; the path
/// itself for a catch-all (server functions) and for what matched no route. Never the query,
/// where kiosk tokens travel.
fn route_of(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(matched) if !matched.as_str().contains("{*") => matched.as_str().to_owned(),
        _ => request.uri().path().chars().take(LONGEST_PATH).collect(),
    }
}

pub async fn log_requests(
    State(log): State<Arc<RequestLog>>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_of(&request);
    if !log.logs(&route) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    tracing::debug!(request_id, method, route, "request_started");
    let response = next.run(request).await;
    let finished = Finished {
        request_id,
        method,
        route,
        status: response.status(),
        started,
    };
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        finished.log(false);
        return response;
    }
    // A live page's stream is answered at once and lasts until the page goes: it is logged
    // when its body is dropped, with how long it ran.
    let (parts, body) = response.into_parts();
    let on_end = LogOnEnd(finished);
    let body = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _ = &on_end;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

struct Finished {
    request_id: String,
    method: String,
    route: String,
    status: StatusCode,
    started: Instant,
}

impl Finished {
    fn log(&self, stream: bool) {
        let Self {
            request_id,
            method,
            route,
            status,
            started,
        } = self;
        // Tenths of a millisecond: enough for the fastest answers, short in the log.
        let duration_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        let code = status.as_u16();
        if status.is_server_error() {
            let error_type = error_type(*status);
            tracing::error!(
                request_id,
                method,
                route,
                status = code,
                duration_ms,
                error_type,
                stream,
                "request_failed"
            );
        } else {
            tracing::info!(
                request_id,
                method,
                route,
                status = code,
                duration_ms,
                stream,
                "request_completed"
            );
        }
    }
}

/// What went wrong, from a 5xx status: `internal_server_error`, `service_unavailable`, ...
fn error_type(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("server error")
        .to_lowercase()
        .replace(' ', "_")
}

struct LogOnEnd(Finished);

impl Drop for LogOnEnd {
    fn drop(&mut self) {
        self.0.log(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_request_names_its_error_type_and_probes_are_sampled() {
        assert_eq!(
            error_type(StatusCode::INTERNAL_SERVER_ERROR),
            "internal_server_error"
        );
        assert_eq!(error_type(StatusCode::GATEWAY_TIMEOUT), "gateway_timeout");
        let every_third = RequestLog::new(3);
        let logged: Vec<bool> = (0..6).map(|_| every_third.logs("/health/ready")).collect();
        assert_eq!(logged, [true, false, false, true, false, false]);
        assert!(every_third.logs("/alerts/{id}"), "pages are always logged");
        let none = RequestLog::new(0);
        assert!(!none.logs("/metrics") && !none.logs("/health/live"));
    }
}
