//! HTTP for probes: one shared client, typed failures, and bodies read with a hard cap.
use crate::domain::observation::ProbeError;
use ipnet::IpNet;
use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Link-local addresses (169.254.169.254 is every major cloud's metadata service) and AWS's
/// IPv6 metadata address: a target pointed there would hand its credentials to whoever may
/// add targets.
pub const DEFAULT_DENY_NETWORKS: [&str; 2] = ["169.254.0.0/16", "fd00:ec2::254/128"];

/// Limits every probe request obeys, and the target's secret headers (no `Debug`: it would
/// print them).
#[derive(Clone, Copy)]
pub struct FetchLimits<'a> {
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub headers: &'a reqwest::header::HeaderMap,
    /// `[collector] deny_networks`, for URLs whose host is an address (names are checked by
    /// the client's resolver).
    pub deny: &'a [IpNet],
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
    deny: &[IpNet],
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
        .dns_resolver(deny_resolver(deny))
        .build()
}

/// A resolver for any client that must never reach `deny`'s networks by name.
pub fn deny_resolver(deny: &[IpNet]) -> Arc<impl reqwest::dns::Resolve + use<>> {
    Arc::new(PolicyResolver { deny: deny.into() })
}

/// The network of `deny` that holds `ip`; an IPv4-mapped IPv6 address counts as IPv4.
pub fn denied_network(ip: IpAddr, deny: &[IpNet]) -> Option<IpNet> {
    let ip = ip.to_canonical();
    deny.iter().copied().find(|net| net.contains(&ip))
}

/// Refuses a URL whose host is an address in a denied network; nothing is sent to it.
pub fn allowed_host(url: &reqwest::Url, deny: &[IpNet]) -> Result<(), ProbeError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match denied_network(ip, deny) {
        Some(network) => Err(ProbeError::Denied {
            address: ip.to_string(),
            network: network.to_string(),
        }),
        None => Ok(()),
    }
}

/// A name resolved to addresses of denied networks only.
#[derive(Debug, thiserror::Error)]
#[error("{address} is in {network}")]
struct DeniedAddress {
    address: IpAddr,
    network: IpNet,
}

/// Resolves names as the system does, then drops the addresses of denied networks, so a
/// name that points at the metadata service (or is rebound to it) is never connected to.
struct PolicyResolver {
    deny: Arc<[IpNet]>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.deny.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let (allowed, denied): (Vec<SocketAddr>, Vec<SocketAddr>) = found
                .into_iter()
                .partition(|addr| denied_network(addr.ip(), &deny).is_none());
            if allowed.is_empty()
                && let Some(addr) = denied.first()
                && let Some(network) = denied_network(addr.ip(), &deny)
            {
                return Err(Box::new(DeniedAddress {
                    address: addr.ip(),
                    network,
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
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
        if let Some(denied) = cause.downcast_ref::<DeniedAddress>() {
            return ProbeError::Denied {
                address: denied.address.to_string(),
                network: denied.network.to_string(),
            };
        }
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
    let (client, request) = request.timeout(limits.timeout).build_split();
    let request = request.map_err(|e| classify(&e, limits.timeout))?;
    allowed_host(request.url(), limits.deny)?;
    client
        .execute(request)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_refuses_cloud_metadata_and_allows_loopback_and_private_ranges() {
        let deny: Vec<IpNet> = DEFAULT_DENY_NETWORKS
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let refused = |url: &str| {
            let url = reqwest::Url::parse(url).expect("url");
            allowed_host(&url, &deny).is_err()
        };
        assert!(refused("http://169.254.169.254/latest/meta-data/"));
        assert!(refused("http://[fd00:ec2::254]/"));
        assert!(refused("http://[::ffff:169.254.169.254]/"), "IPv4-mapped");
        assert!(!refused("http://127.0.0.1:8080/mcp"));
        assert!(!refused("http://10.1.2.3/mcp"));
        assert!(!refused("http://[::1]/mcp"));
        assert!(
            !refused("http://metadata.example/"),
            "names are judged once resolved"
        );
    }
}
