//! HTTP for probes: one shared client, typed failures, and bodies read with a hard cap.
use crate::domain::observation::ProbeError;
use std::error::Error as _;
use std::time::Duration;

/// Limits every probe request obeys, and the target's secret headers (no `Debug`: it would
/// print them).
#[derive(Clone, Copy)]
pub struct FetchLimits<'a> {
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub headers: &'a reqwest::header::HeaderMap,
}

/// A target's headers as a map; they were checked when saved, so a bad one is skipped.
pub fn header_map(headers: &[(String, String)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).ok()?,
                reqwest::header::HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect()
}

/// The client all probes share: keep-alive, a connect timeout and a redirect limit.
/// The probes say who is asking, and which replica when several share the fleet, so a
/// target's operator can tell the pollers apart.
pub fn shared_client(
    connect_timeout: Duration,
    max_redirects: usize,
    replica: Option<&str>,
    extra_roots: Vec<reqwest::Certificate>,
) -> reqwest::Result<reqwest::Client> {
    let version = concat!("mcpops/", env!("CARGO_PKG_VERSION"));
    let user_agent = match replica {
        Some(name) => format!("{version} (replica {name})"),
        None => version.to_owned(),
    };
    let builder = extra_roots
        .into_iter()
        .fold(reqwest::Client::builder(), |builder, root| {
            builder.add_root_certificate(root)
        });
    builder
        // Each response carries the peer's certificate, for its expiry.
        .tls_info(true)
        .connect_timeout(connect_timeout)
        .redirect(same_origin_redirects(max_redirects))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(4)
        .tcp_nodelay(true)
        .user_agent(user_agent)
        .build()
}

/// A redirect that leaves the origin of the first request.
#[derive(Debug, thiserror::Error)]
#[error("redirected to {0}")]
struct LeftOrigin(String);

/// Redirects are followed up to `max` times and only within the origin first asked: a probe
/// carries the target's secret headers, and a redirect elsewhere would hand them over.
fn same_origin_redirects(max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if first.is_some_and(|origin| origin != attempt.url().origin()) {
            let origin = attempt.url().origin().ascii_serialization();
            attempt.error(LeftOrigin(origin))
        } else if attempt.previous().len() > max {
            attempt.error(TooMany)
        } else {
            attempt.follow()
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooMany;

/// Turns a reqwest failure into the reason an operator can act on.
pub fn classify(err: &reqwest::Error, timeout: Duration) -> ProbeError {
    if err.is_timeout() {
        return ProbeError::Timeout {
            after_ms: timeout.as_millis() as u64,
        };
    }
    if err.is_redirect() {
        let mut source = err.source();
        while let Some(cause) = source {
            if let Some(LeftOrigin(origin)) = cause.downcast_ref::<LeftOrigin>() {
                return ProbeError::RedirectedAway(origin.clone());
            }
            source = cause.source();
        }
        return ProbeError::TooManyRedirects;
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return ProbeError::Refused,
                std::io::ErrorKind::TimedOut => {
                    return ProbeError::Timeout {
                        after_ms: timeout.as_millis() as u64,
                    };
                }
                _ => {}
            }
        }
        let text = cause.to_string();
        if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
            return ProbeError::Tls(text);
        }
        source = cause.source();
    }
    if err.is_connect() {
        return ProbeError::Connect(root_cause(err));
    }
    ProbeError::Io(root_cause(err))
}

fn root_cause(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// Reads the body chunk by chunk and stops at the cap, so a huge or endless body costs
/// at most `max_body_bytes` of memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    limits: FetchLimits<'_>,
) -> Result<Vec<u8>, ProbeError> {
    let cap = limits.max_body_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(ProbeError::BodyTooLarge {
            limit_bytes: cap as u64,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(&e, limits.timeout))?
    {
        if body.len() + chunk.len() > cap {
            return Err(ProbeError::BodyTooLarge {
                limit_bytes: cap as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends a request under the probe's total deadline, which also covers a server that
/// trickles its answer byte by byte.
pub async fn send(
    request: reqwest::RequestBuilder,
    limits: FetchLimits<'_>,
) -> Result<reqwest::Response, ProbeError> {
    let request = if limits.headers.is_empty() {
        request
    } else {
        request.headers(limits.headers.clone())
    };
    request
        .timeout(limits.timeout)
        .send()
        .await
        .map_err(|e| classify(&e, limits.timeout))
}

pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}
