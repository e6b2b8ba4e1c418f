//! The MCP probe. It tries the stateless 2026-07-28 revision (`server/discover`) first, then
//! Streamable HTTP with a session (initialize → initialized → ping → tools/list), then, when
//! the server rejects that POST, the legacy HTTP+SSE transport (`legacy`). A session, or the
//! legacy event stream, is kept between polls so a routine poll costs one `ping`; the full
//! handshake and tool listing run on first contact, every few minutes, and after any session
//! error. A replaced or failed session is always closed with DELETE.
mod auth;
mod legacy;
mod report;
mod sse;
mod tools;

use super::fetch::{self, FetchLimits};
use crate::domain::canonical_json::canonical_json;
use crate::domain::observation::{FullHandshake, McpReport, ProbeError, Protection, Tool};
use chrono::Utc;
use legacy::{LEGACY_VERSION, LegacyStream};
use report::*;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use sse::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
pub use tools::Listed;
use tools::*;

const STATELESS_VERSION: &str = "2026-07-28";
const SESSION_VERSION: &str = "2025-11-25";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";
const MAX_TOOL_PAGES: usize = 20;
const MAX_TOOLS: usize = 2000;
/// The schemas of one tool list, together: every version of a list is stored.
const MAX_SCHEMA_BYTES: usize = 1024 * 1024;

/// What the probe remembers about one target between polls.
#[derive(Debug, Default)]
pub struct McpMemory {
    transport: Option<Transport>,
    session: Option<Session>,
    /// The open event stream, on the legacy transport.
    legacy: Option<LegacyStream>,
    last_full: Option<Instant>,
    full_handshake: Option<FullHandshake>,
    /// The server answered 401 at least once: it wants a token.
    asked_for_token: bool,
    /// What its authorization looked like when last checked, and what was wrong with it;
    /// checked again as often as the full handshake runs.
    protection: Option<(Instant, Protection, Option<String>)>,
    /// The last listing's tools, by name, and whether each is annotated read-only: a
    /// synthetic call goes only to a tool still listed as read-only.
    listed: Option<HashMap<String, bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Stateless,
    Sessions,
    Legacy,
}

#[derive(Debug, Clone)]
struct Session {
    /// `Mcp-Session-Id`; none on the legacy transport, where the stream is the session.
    id: Option<String>,
    protocol_version: String,
    server_name: String,
    server_version: String,
}

impl Session {
    fn from_initialize(result: &Value, id: Option<String>, requested: &str) -> Self {
        let (server_name, server_version) = server_info(result);
        Self {
            id,
            protocol_version: result
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or(requested)
                .chars()
                .take(32)
                .collect(),
            server_name,
            server_version,
        }
    }
}

pub struct McpProbe<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a str,
    pub limits: FetchLimits<'a>,
    /// How often the full handshake and `tools/list` run on a healthy session.
    pub full_every: Duration,
}

/// Step timings, in order, as the report shows them.
#[derive(Default)]
struct Steps(Vec<(String, f64)>);

impl Steps {
    async fn time<T>(
        &mut self,
        name: &str,
        step: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        let started = Instant::now();
        let result = step.await;
        self.0
            .push((name.to_owned(), started.elapsed().as_secs_f64() * 1000.0));
        result
    }
}

impl McpProbe<'_> {
    /// One poll's MCP probe. A 401 is an answer: the server is alive and protected, and its
    /// authorization is what the report shows.
    pub async fn run(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let started = Instant::now();
        match self.run_transport(memory).await {
            Err(ProbeError::Unauthorized { challenge }) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                Ok(self.protected(memory, &challenge, ms).await)
            }
            Ok(mut report) => {
                if memory.asked_for_token && !self.sends_token() {
                    report.warning = Some(
                        "no longer asks for authorization: it answered without a token after \
                         asking for one"
                            .into(),
                    );
                }
                Ok(report)
            }
            failed => failed,
        }
    }

    fn sends_token(&self) -> bool {
        self.limits
            .headers
            .contains_key(reqwest::header::AUTHORIZATION)
    }

    async fn protected(&self, memory: &mut McpMemory, challenge: &str, ms: f64) -> McpReport {
        memory.asked_for_token = true;
        let fresh = memory
            .protection
            .as_ref()
            .filter(|(at, _, _)| at.elapsed() < self.full_every);
        let (protection, problem) = match fresh {
            Some((_, protection, problem)) => (protection.clone(), problem.clone()),
            None => {
                let (protection, problem) = auth::check(self.client, challenge, self.limits).await;
                memory.protection = Some((Instant::now(), protection.clone(), problem.clone()));
                (protection, problem)
            }
        };
        let warning = if self.sends_token() {
            Some("the server refused the configured token (HTTP 401)".to_owned())
        } else {
            problem
        };
        McpReport {
            protocol_version: String::new(),
            server_name: "unknown".into(),
            server_version: "unknown".into(),
            steps: vec![("authorization required".into(), ms)],
            tools: None,
            full_handshake: None,
            protection: Some(protection),
            warning,
        }
    }

    async fn run_transport(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let due_for_full = memory
            .last_full
            .is_none_or(|at| at.elapsed() >= self.full_every);
        match memory.transport {
            Some(Transport::Stateless) => self.stateless(memory, due_for_full).await,
            Some(Transport::Sessions) if !due_for_full && memory.session.is_some() => {
                match self.ping_session(memory).await {
                    Ok(report) => Ok(report),
                    // A lost session (404) or any session error: start over with a new one.
                    Err(_) => self.handshake(memory).await,
                }
            }
            Some(Transport::Legacy) if !due_for_full && memory.legacy.is_some() => {
                match self.ping_legacy(memory).await {
                    Ok(report) => Ok(report),
                    Err(_) => self.legacy_handshake(memory).await,
                }
            }
            Some(Transport::Sessions) => self.handshake(memory).await,
            Some(Transport::Legacy) => self.legacy_handshake(memory).await,
            None => match self.stateless(memory, true).await {
                Ok(report) => Ok(report),
                Err(_) => self.handshake(memory).await,
            },
        }
    }

    /// Whether the last tool listing had `tool`, and how it was annotated.
    pub fn listed(memory: &McpMemory, tool: &str) -> Listed {
        match &memory.listed {
            None => Listed::NotYet,
            Some(tools) => match tools.get(tool) {
                None => Listed::Absent,
                Some(read_only) => Listed::Present {
                    read_only: *read_only,
                },
            },
        }
    }

    /// A synthetic `tools/call` over the transport this poll's probe used, under the check's
    /// own deadline; the answer is read under the same caps as every probe's.
    pub async fn call_tool(
        &self,
        memory: &mut McpMemory,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value, ProbeError> {
        let probe = McpProbe {
            limits: FetchLimits {
                timeout,
                ..self.limits
            },
            ..*self
        };
        let params = json!({"name": tool, "arguments": arguments});
        match memory.transport {
            Some(Transport::Stateless) => {
                probe
                    .call(None, STATELESS_VERSION, 3, "tools/call", params)
                    .await
            }
            Some(Transport::Sessions) => {
                let session = memory
                    .session
                    .clone()
                    .ok_or_else(|| ProbeError::Protocol("no session".into()))?;
                let version = session.protocol_version.clone();
                probe
                    .call(Some(&session), &version, 3, "tools/call", params)
                    .await
            }
            Some(Transport::Legacy) => {
                let stream = memory
                    .legacy
                    .as_mut()
                    .ok_or_else(|| ProbeError::Protocol("no event stream".into()))?;
                stream
                    .request(probe.client, probe.limits, "tools/call", params)
                    .await
            }
            None => Err(ProbeError::Protocol("no MCP connection".into())),
        }
    }

    /// Closes the held session or event stream, if any; used when a target is removed or
    /// mcpops stops.
    pub async fn close(&self, memory: &mut McpMemory) {
        memory.legacy = None;
        if let Some(session) = memory.session.take() {
            self.delete_session(&session).await;
        }
    }

    async fn stateless(
        &self,
        memory: &mut McpMemory,
        with_tools: bool,
    ) -> Result<McpReport, ProbeError> {
        let mut steps = Steps::default();
        let discovered = steps
            .time(
                "server/discover",
                self.call(None, STATELESS_VERSION, 1, "server/discover", json!({})),
            )
            .await?;
        let (server_name, server_version) = server_info(&discovered);
        let tools = if with_tools {
            let pages = ToolPages::Post {
                probe: self,
                session: None,
                version: STATELESS_VERSION,
            };
            Some(steps.time("tools/list", list_tools(pages)).await?)
        } else {
            None
        };
        memory.transport = Some(Transport::Stateless);
        let tools = tools.map(|listed| {
            memory.listed = Some(listing(&listed.tools));
            memory.last_full = Some(Instant::now());
            memory.full_handshake = Some(FullHandshake {
                at: Utc::now(),
                steps: steps.0.clone(),
                tools_cut: listed.cut,
            });
            listed.tools
        });
        Ok(McpReport {
            protocol_version: STATELESS_VERSION.into(),
            server_name,
            server_version,
            steps: steps.0,
            tools,
            full_handshake: memory.full_handshake.clone(),
            protection: None,
            warning: None,
        })
    }

    /// A Streamable HTTP session; a server that rejects its `initialize` POST may speak the
    /// legacy transport at the same URL, as the specification's compatibility advice says.
    async fn handshake(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let rejected = match self.session_handshake(memory).await {
            Err(err) if initialize_rejected(&err) => err,
            other => return other,
        };
        match self.legacy_handshake(memory).await {
            // Not a legacy server either: its answer to the POST is the reason to show.
            Err(ProbeError::Rejected { .. } | ProbeError::WrongContentType(_)) => Err(rejected),
            other => other,
        }
    }

    async fn session_handshake(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        if let Some(old) = memory.session.take() {
            self.delete_session(&old).await;
        }
        let mut steps = Steps::default();
        let params = json!({
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcpops", "version": env!("CARGO_PKG_VERSION")},
        });
        let (result, session_id) = steps
            .time("initialize", self.post(None, None, 1, "initialize", params))
            .await?;
        let session = Session::from_initialize(&result, session_id, SESSION_VERSION);
        match self.after_initialize(&session, &mut steps).await {
            Ok(tools) => Ok(full_report(
                memory,
                Transport::Sessions,
                session,
                steps,
                tools,
            )),
            Err(err) => {
                self.delete_session(&session).await;
                Err(err)
            }
        }
    }

    async fn after_initialize(
        &self,
        session: &Session,
        steps: &mut Steps,
    ) -> Result<ToolListing, ProbeError> {
        steps
            .time(
                "notifications/initialized",
                self.notify_initialized(session),
            )
            .await?;
        steps
            .time(
                "ping",
                self.call(
                    Some(session),
                    &session.protocol_version,
                    2,
                    "ping",
                    json!({}),
                ),
            )
            .await?;
        let pages = ToolPages::Post {
            probe: self,
            session: Some(session),
            version: &session.protocol_version,
        };
        steps.time("tools/list", list_tools(pages)).await
    }

    async fn ping_session(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let Some(session) = memory.session.clone() else {
            return Err(ProbeError::Protocol("no session".into()));
        };
        let mut steps = Steps::default();
        let result = steps
            .time(
                "ping",
                self.call(
                    Some(&session),
                    &session.protocol_version,
                    2,
                    "ping",
                    json!({}),
                ),
            )
            .await;
        match result {
            Ok(_) => Ok(ping_report(memory, session, steps)),
            Err(err) => {
                memory.session = None;
                self.delete_session(&session).await;
                Err(err)
            }
        }
    }

    /// Opens the event stream and runs the handshake over it. When that fails, the next poll
    /// starts again from the newest revision, in case the server was upgraded.
    async fn legacy_handshake(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        memory.legacy = None;
        let result = self.open_legacy(memory).await;
        if result.is_err() {
            memory.transport = None;
            memory.legacy = None;
        }
        result
    }

    async fn open_legacy(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let (client, limits) = (self.client, self.limits);
        let mut steps = Steps::default();
        let mut stream = steps
            .time(
                "GET event stream",
                LegacyStream::open(client, self.url, limits),
            )
            .await?;
        let params = json!({
            "protocolVersion": LEGACY_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcpops", "version": env!("CARGO_PKG_VERSION")},
        });
        let result = steps
            .time(
                "initialize",
                stream.request(client, limits, "initialize", params),
            )
            .await?;
        let session = Session::from_initialize(&result, None, LEGACY_VERSION);
        steps
            .time(
                "notifications/initialized",
                stream.notify(client, limits, "notifications/initialized"),
            )
            .await?;
        steps
            .time("ping", stream.request(client, limits, "ping", json!({})))
            .await?;
        let pages = ToolPages::Legacy {
            probe: self,
            stream: &mut stream,
        };
        let tools = steps.time("tools/list", list_tools(pages)).await?;
        memory.legacy = Some(stream);
        Ok(full_report(
            memory,
            Transport::Legacy,
            session,
            steps,
            tools,
        ))
    }

    async fn ping_legacy(&self, memory: &mut McpMemory) -> Result<McpReport, ProbeError> {
        let (Some(stream), Some(session)) = (memory.legacy.as_mut(), memory.session.clone()) else {
            return Err(ProbeError::Protocol("no event stream".into()));
        };
        let mut steps = Steps::default();
        let pinged = steps
            .time(
                "ping",
                stream.request(self.client, self.limits, "ping", json!({})),
            )
            .await;
        match pinged {
            Ok(_) => Ok(ping_report(memory, session, steps)),
            Err(err) => {
                memory.legacy = None;
                Err(err)
            }
        }
    }

    async fn call(
        &self,
        session: Option<&Session>,
        version: &str,
        id: i64,
        method: &str,
        params: Value,
    ) -> Result<Value, ProbeError> {
        self.post(session, Some(version), id, method, params)
            .await
            .map(|(result, _)| result)
    }

    /// One JSON-RPC request; the answer may be JSON or an SSE stream carrying it.
    async fn post(
        &self,
        session: Option<&Session>,
        version: Option<&str>,
        id: i64,
        method: &str,
        mut params: Value,
    ) -> Result<(Value, Option<String>), ProbeError> {
        let mut headers = self.headers(session, version);
        if version == Some(STATELESS_VERSION) {
            let header = |value: &str| {
                HeaderValue::from_str(value).map_err(|e| ProbeError::Protocol(e.to_string()))
            };
            headers.insert("mcp-method", header(method)?);
            // The revision routes a call by its tool's name too.
            if let Some(name) = params.get("name").and_then(Value::as_str) {
                headers.insert("mcp-name", header(name)?);
            }
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "mcpops", "version": env!("CARGO_PKG_VERSION")},
            });
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = fetch::send(
            self.client.post(self.url).headers(headers).json(&body),
            self.limits,
        )
        .await?;
        let status = response.status().as_u16();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        if status == 401 {
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(2048).collect())
                .unwrap_or_default();
            return Err(ProbeError::Unauthorized { challenge });
        }
        if !(200..300).contains(&status) {
            let text = fetch::read_capped(response, self.limits)
                .await
                .unwrap_or_default();
            if let Some(err) = rpc_error(&serde_json::from_slice(&text).unwrap_or(Value::Null)) {
                return Err(err);
            }
            return Err(ProbeError::Rejected {
                request: method.to_owned(),
                status,
            });
        }
        let message = if fetch::content_type(&response).starts_with("text/event-stream") {
            read_sse_response(response, id, self.limits).await?
        } else {
            let bytes = fetch::read_capped(response, self.limits).await?;
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| ProbeError::Protocol(format!("{method} answer is not JSON: {e}")))?
        };
        if let Some(err) = rpc_error(&message) {
            return Err(err);
        }
        if message.get("id") != Some(&json!(id)) {
            return Err(ProbeError::Protocol(format!(
                "{method} answer has the wrong id"
            )));
        }
        let result = message
            .get("result")
            .cloned()
            .ok_or_else(|| ProbeError::Protocol(format!("{method} answer has no result")))?;
        Ok((result, session_id))
    }

    async fn notify_initialized(&self, session: &Session) -> Result<(), ProbeError> {
        let headers = self.headers(Some(session), Some(&session.protocol_version));
        let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = fetch::send(
            self.client.post(self.url).headers(headers).json(&body),
            self.limits,
        )
        .await?;
        let status = response.status().as_u16();
        fetch::read_capped(response, self.limits).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(ProbeError::Rejected {
                request: "notifications/initialized".into(),
                status,
            })
        }
    }

    async fn delete_session(&self, session: &Session) {
        if session.id.is_none() {
            return;
        }
        let headers = self.headers(Some(session), Some(&session.protocol_version));
        // Best effort: a server that forgot the session already is fine.
        let _ = fetch::send(self.client.delete(self.url).headers(headers), self.limits).await;
    }

    fn headers(&self, session: Option<&Session>, version: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_BOTH));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert("mcp-protocol-version", value);
        }
        if let Some(value) = session
            .and_then(|s| s.id.as_deref())
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            headers.insert("mcp-session-id", value);
        }
        headers
    }
}
