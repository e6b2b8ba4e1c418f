//! A protected server's authorization, as a client would discover it: the 401 challenge's
//! `resource_metadata` (RFC 9728), the authorization servers that document lists, and each
//! one's own metadata (RFC 8414, or OpenID discovery). The target's secret headers are never
//! sent to these URLs: the server names them, and they may be anywhere.
use crate::domain::observation::{AuthorizationServer, Protection};
use crate::server::collector::fetch::{self, FetchLimits};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Metadata documents are small.
const METADATA_BODY_CAP: usize = 64 * 1024;
/// Authorization servers checked per resource.
const MAX_AUTHORIZATION_SERVERS: usize = 4;

/// What the challenge leads to, and the first thing wrong with it.
pub async fn check(
    client: &reqwest::Client,
    challenge: &str,
    limits: FetchLimits<'_>,
) -> (Protection, Option<String>) {
    let no_headers = HeaderMap::new();
    let limits = FetchLimits {
        max_body_bytes: limits.max_body_bytes.min(METADATA_BODY_CAP),
        headers: &no_headers,
        ..limits
    };
    let Some(resource_metadata) = challenge_param(challenge, "resource_metadata") else {
        let protection = Protection {
            resource_metadata: None,
            authorization_servers: Vec::new(),
        };
        return (protection, None);
    };
    let document = match fetch_json(client, &resource_metadata, limits).await {
        Ok(document) => document,
        Err(why) => {
            let problem =
                format!("its resource metadata {resource_metadata} does not answer: {why}");
            let protection = Protection {
                resource_metadata: Some(resource_metadata),
                authorization_servers: Vec::new(),
            };
            return (protection, Some(problem));
        }
    };
    let issuers: Vec<String> = document
        .get("authorization_servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(MAX_AUTHORIZATION_SERVERS)
        .map(|issuer| issuer.chars().take(512).collect())
        .collect();
    let mut problem = issuers
        .is_empty()
        .then(|| "its resource metadata lists no authorization server".to_owned());
    let mut authorization_servers = Vec::with_capacity(issuers.len());
    for issuer in issuers {
        let metadata = authorization_server_metadata(client, &issuer, limits).await;
        if let (Err(why), None) = (&metadata, &problem) {
            problem = Some(format!("authorization server {issuer}: {why}"));
        }
        authorization_servers.push(AuthorizationServer { issuer, metadata });
    }
    let protection = Protection {
        resource_metadata: Some(resource_metadata),
        authorization_servers,
    };
    (protection, problem)
}

/// The URL of the issuer's metadata that answered with that issuer, or why none did.
async fn authorization_server_metadata(
    client: &reqwest::Client,
    issuer: &str,
    limits: FetchLimits<'_>,
) -> Result<String, String> {
    let urls = metadata_urls(issuer)?;
    let mut last = String::new();
    for url in urls {
        match fetch_json(client, &url, limits).await {
            Ok(document) => {
                let said = document
                    .get("issuer")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if said.trim_end_matches('/') == issuer.trim_end_matches('/') {
                    return Ok(url);
                }
                last = format!("{url} names another issuer ('{said}')");
            }
            Err(why) => last = format!("{url}: {why}"),
        }
    }
    Err(format!("no metadata answers ({last})"))
}

/// RFC 8414's well-known URL (inserted before the issuer's path), then OpenID discovery's
/// (appended to it).
fn metadata_urls(issuer: &str) -> Result<[String; 2], String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("'{issuer}' is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{issuer}' is not an http(s) URL"));
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok([
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ])
}

async fn fetch_json(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits<'_>,
) -> Result<Value, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("not an http(s) URL".into());
    }
    let response = fetch::send(client.get(parsed), limits)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = fetch::read_capped(response, limits)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP status {}", status.as_u16()));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(document) if document.is_object() => Ok(document),
        _ => Err("not a JSON object".into()),
    }
}

/// A parameter of a `WWW-Authenticate` challenge, quoted or not.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge
        .match_indices(name)
        .map(|(at, _)| at)
        .find(|&at| {
            let before = challenge[..at].chars().next_back();
            before.is_none_or(|c| c == ' ' || c == ',')
                && challenge[at + name.len()..].starts_with('=')
        })?;
    let rest = &challenge[start + name.len() + 1..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split([',', ' ']).next()?,
    };
    (!value.is_empty()).then(|| value.chars().take(2048).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_metadata_is_read_from_the_challenge() {
        let challenge = r#"Bearer error="invalid_token", error_description="no token", resource_metadata="http://127.0.0.1:8/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            challenge_param(challenge, "resource_metadata").as_deref(),
            Some("http://127.0.0.1:8/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            challenge_param(
                "Bearer resource_metadata=http://a/m, scope=x",
                "resource_metadata"
            )
            .as_deref(),
            Some("http://a/m")
        );
        assert_eq!(
            challenge_param("Bearer xresource_metadata=\"a\"", "resource_metadata"),
            None
        );
        assert_eq!(
            challenge_param("Bearer realm=\"x\"", "resource_metadata"),
            None
        );
    }

    #[test]
    fn authorization_server_metadata_is_looked_for_where_both_specifications_put_it() {
        assert_eq!(
            metadata_urls("https://auth.test/tenant/").unwrap(),
            [
                "https://auth.test/.well-known/oauth-authorization-server/tenant",
                "https://auth.test/tenant/.well-known/openid-configuration",
            ]
        );
        assert!(metadata_urls("ftp://auth.test").is_err());
    }
}
