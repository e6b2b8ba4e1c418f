//! The legacy HTTP+SSE transport (protocol 2024-11-05): a GET opens an event stream whose
//! first `endpoint` event names where to POST requests, and the answers come back on the
//! stream. The stream stays open between polls, as a Streamable HTTP session does, so a
//! routine poll costs one `ping`.
use super::{EventReader, rpc_error};
use crate::domain::observation::ProbeError;
use crate::server::collector::fetch::{self, FetchLimits};
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const LEGACY_VERSION: &str = "2024-11-05";
/// Messages the stream may hold until the probe reads them; server notifications beyond it
/// are dropped, answers are read before more requests go out.
const BACKLOG: usize = 64;

/// An open event stream and the endpoint it named. Dropping it closes the stream.
#[derive(Debug)]
pub struct LegacyStream {
    endpoint: reqwest::Url,
    /// What the stream carried, or why it ended.
    messages: mpsc::Receiver<Result<Value, ProbeError>>,
    reader: tokio::task::AbortHandle,
    next_id: i64,
}

impl Drop for LegacyStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LegacyStream {
    /// Opens the stream at `url` and waits for its `endpoint` event, within the probe's
    /// timeout. The endpoint must be on the target's own origin: the target does not get to
    /// point the probe, and its headers, elsewhere.
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        limits: FetchLimits<'_>,
    ) -> Result<Self, ProbeError> {
        let deadline = Instant::now() + limits.timeout;
        let timed_out = |_| ProbeError::Timeout {
            after_ms: limits.timeout.as_millis() as u64,
        };
        let base = reqwest::Url::parse(url).map_err(|e| ProbeError::Protocol(e.to_string()))?;
        fetch::allowed_host(&base, limits.deny)?;
        // No total timeout on the request itself: the stream is meant to outlive this poll.
        let request = client
            .get(base.clone())
            .headers(limits.headers.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(timed_out)?
            .map_err(|e| fetch::classify(&e, limits.timeout))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ProbeError::Rejected {
                request: "GET (event stream)".into(),
                status,
            });
        }
        let content_type = fetch::content_type(&response);
        if !content_type.starts_with("text/event-stream") {
            return Err(ProbeError::WrongContentType(content_type));
        }
        let mut events = EventReader::new(response, limits);
        let named = loop {
            let event = tokio::time::timeout_at(deadline, events.next())
                .await
                .map_err(timed_out)??
                .ok_or_else(|| {
                    ProbeError::Protocol("the event stream ended before its endpoint event".into())
                })?;
            if event.name == "endpoint" {
                break event.data;
            }
        };
        let endpoint = base
            .join(named.trim())
            .map_err(|e| ProbeError::Protocol(format!("the endpoint event is not a URL: {e}")))?;
        if endpoint.origin() != base.origin() {
            return Err(ProbeError::Protocol(
                "the endpoint event names another origin".into(),
            ));
        }
        let (sender, messages) = mpsc::channel(BACKLOG);
        let reader = tokio::spawn(forward(events, sender)).abort_handle();
        Ok(Self {
            endpoint,
            messages,
            reader,
            next_id: 1,
        })
    }

    /// Sends a request and waits, within the probe's timeout, for the answer with its id.
    pub async fn request(
        &mut self,
        client: &reqwest::Client,
        limits: FetchLimits<'_>,
        method: &str,
        params: Value,
    ) -> Result<Value, ProbeError> {
        let id = self.next_id;
        self.next_id += 1;
        let deadline = Instant::now() + limits.timeout;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.post(client, limits, method, &body).await?;
        loop {
            let message = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .map_err(|_| ProbeError::Timeout {
                    after_ms: limits.timeout.as_millis() as u64,
                })?
                .ok_or_else(|| ProbeError::Protocol("the event stream closed".into()))??;
            // Late answers to earlier requests, and the server's own messages, are skipped.
            if message.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(err) = rpc_error(&message) {
                return Err(err);
            }
            return message
                .get("result")
                .cloned()
                .ok_or_else(|| ProbeError::Protocol(format!("{method} answer has no result")));
        }
    }

    pub async fn notify(
        &self,
        client: &reqwest::Client,
        limits: FetchLimits<'_>,
        method: &str,
    ) -> Result<(), ProbeError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        self.post(client, limits, method, &body).await
    }

    /// The endpoint acknowledges a message (202) and answers on the stream.
    async fn post(
        &self,
        client: &reqwest::Client,
        limits: FetchLimits<'_>,
        method: &str,
        body: &Value,
    ) -> Result<(), ProbeError> {
        let response = fetch::send(client.post(self.endpoint.clone()).json(body), limits).await?;
        let status = response.status().as_u16();
        fetch::read_capped(response, limits).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(ProbeError::Rejected {
                request: method.to_owned(),
                status,
            })
        }
    }
}

/// Passes the stream's JSON messages on until it ends, fails, or the probe lets it go.
async fn forward(mut events: EventReader, sender: mpsc::Sender<Result<Value, ProbeError>>) {
    loop {
        let message = match events.next().await {
            Ok(Some(event)) => {
                events.allow_another();
                match serde_json::from_str::<Value>(&event.data) {
                    Ok(message) => message,
                    Err(_) => continue,
                }
            }
            Ok(None) => return,
            Err(err) => {
                let _ = sender.send(Err(err)).await;
                return;
            }
        };
        match sender.try_send(Ok(message)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
