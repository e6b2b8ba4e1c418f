//! The HTTP face of one demo server: /metrics, /health/*, and a minimal MCP endpoint.
use super::{DemoServer, lock, simulation};
use crate::domain::demo::DemoFault;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;

/// Protocol revisions this server speaks, newest last.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
const MAX_SESSIONS: usize = 256;

/// Open MCP sessions, oldest first; the oldest is forgotten past the cap.
#[derive(Default)]
pub struct Sessions(VecDeque<String>);

impl Sessions {
    fn open(&mut self) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        if self.0.len() == MAX_SESSIONS {
            self.0.pop_front();
        }
        self.0.push_back(id.clone());
        id
    }
    fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|s| s == id)
    }
    pub fn count(&self) -> usize {
        self.0.len()
    }
    fn close(&mut self, id: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|s| s != id);
        before != self.0.len()
    }
}

pub fn router(server: Arc<DemoServer>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/mcp", post(mcp_post).delete(mcp_delete))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(server.clone(), hang))
        .with_state(server)
}

/// Under the hang fault a request is held until the client gives up.
async fn hang(
    State(server): State<Arc<DemoServer>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if server.has_fault(DemoFault::Hang) {
        std::future::pending::<()>().await;
    }
    next.run(request).await
}

async fn metrics(State(server): State<Arc<DemoServer>>) -> Response {
    let body = lock(&server.sim).render_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn live() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

async fn ready(State(server): State<Arc<DemoServer>>) -> Response {
    if server.has_fault(DemoFault::NotReady) {
        let body = json!({"status": "not_ready",
            "checks": {"database": false, "cache": true, "dependencies": true}});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    } else {
        let body = json!({"status": "ready",
            "checks": {"database": true, "cache": true, "dependencies": true}});
        Json(body).into_response()
    }
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn session_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok())
}

/// Streamable HTTP: one JSON-RPC message per POST, answered as JSON.
async fn mcp_post(
    State(server): State<Arc<DemoServer>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Accept must list application/json and text/event-stream",
        )
            .into_response();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(rpc_error(&Value::Null, -32700, "parse error")),
        )
            .into_response();
    };
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();

    if method == "initialize" {
        let requested = message
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str);
        let version = requested
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .unwrap_or(PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
        let session = lock(&server.sessions).open();
        let result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": format!("mcpops-demo/{}", server.name), "version": "1.4.2"},
        });
        let mut response = Json(rpc_result(&id, result)).into_response();
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert("mcp-session-id", value);
        }
        return response;
    }

    let Some(session) = session_header(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(rpc_error(&id, -32600, "missing Mcp-Session-Id")),
        )
            .into_response();
    };
    if !lock(&server.sessions).contains(session) {
        return (
            StatusCode::NOT_FOUND,
            Json(rpc_error(&id, -32001, "session not found")),
        )
            .into_response();
    }
    match method {
        "notifications/initialized" => StatusCode::ACCEPTED.into_response(),
        "ping" => Json(rpc_result(&id, json!({}))).into_response(),
        "tools/list" => {
            let drifted = lock(&server.sim).drifted();
            Json(rpc_result(&id, json!({"tools": tool_list(drifted)}))).into_response()
        }
        "tools/call" => call_tool(&server, &id, &message).await,
        _ => Json(rpc_error(&id, -32601, "method not found")).into_response(),
    }
}

async fn mcp_delete(State(server): State<Arc<DemoServer>>, headers: HeaderMap) -> StatusCode {
    match session_header(&headers) {
        Some(session) if lock(&server.sessions).close(session) => StatusCode::OK,
        Some(_) => StatusCode::NOT_FOUND,
        None => StatusCode::BAD_REQUEST,
    }
}

/// Read-only tools answer; the others would change something, so the demo says it did not.
/// The latency and error faults reach the tools too, so synthetic calls notice them.
async fn call_tool(server: &DemoServer, id: &Value, message: &Value) -> Response {
    let drifted = lock(&server.sim).drifted();
    let name = message
        .pointer("/params/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !simulation::tool_names(drifted).contains(&name) {
        return Json(rpc_error(id, -32602, &format!("unknown tool: {name}"))).into_response();
    }
    let query = message
        .pointer("/params/arguments/query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if server.has_fault(DemoFault::LatencySpike) {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let failed =
        |text: String| json!({"isError": true, "content": [{"type": "text", "text": text}]});
    let result = if !simulation::read_only(name) {
        failed(format!(
            "{name} changes things; the demo does not carry it out"
        ))
    } else if server.has_fault(DemoFault::ErrorBurst) {
        failed("upstream unavailable".into())
    } else {
        json!({
            "content": [{"type": "text", "text": format!("{name}: 3 results for \"{query}\"")}],
            "structuredContent": {"status": "ok", "results": 3},
        })
    };
    Json(rpc_result(id, result)).into_response()
}

fn tool_list(drifted: bool) -> Vec<Value> {
    simulation::tool_names(drifted)
        .iter()
        .map(|name| {
            let mut properties = json!({"query": {"type": "string"}});
            // Drift also widens an existing tool's schema, as a careless deploy would.
            if drifted && *name == "create_ticket" {
                properties["priority"] = json!({"type": "string", "enum": ["low", "high"]});
            }
            json!({
                "name": name,
                "description": format!("Demo tool {name}"),
                "inputSchema": {"type": "object", "properties": properties},
                "annotations": {"readOnlyHint": simulation::read_only(name)},
            })
        })
        .collect()
}
