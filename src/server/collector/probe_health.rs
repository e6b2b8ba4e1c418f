//! Liveness and readiness probes: `/health/live` and `/health/ready` with its `checks` map.
use super::fetch::{self, FetchLimits};
use crate::domain::observation::{ProbeError, Readiness};
use serde_json::Value;
use std::time::Instant;

/// Health answers are small; anything larger is not a health answer.
const HEALTH_BODY_CAP: usize = 64 * 1024;

/// Round-trip time in milliseconds when the server says it is alive.
pub async fn live(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits<'_>,
) -> Result<f64, ProbeError> {
    let started = Instant::now();
    let response = fetch::send(client.get(url), limits).await?;
    let status = response.status();
    let limits = FetchLimits {
        max_body_bytes: limits.max_body_bytes.min(HEALTH_BODY_CAP),
        ..limits
    };
    fetch::read_capped(response, limits).await?;
    if status.is_success() {
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    } else {
        Err(ProbeError::HttpStatus(status.as_u16()))
    }
}

/// 200 is ready and 503 is not ready (naming the failing checks); other statuses are errors.
pub async fn ready(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits<'_>,
) -> Result<Readiness, ProbeError> {
    let response = fetch::send(client.get(url), limits).await?;
    let status = response.status().as_u16();
    let limits = FetchLimits {
        max_body_bytes: limits.max_body_bytes.min(HEALTH_BODY_CAP),
        ..limits
    };
    let body = fetch::read_capped(response, limits).await?;
    let ready = match status {
        200..=299 => true,
        503 => false,
        other => return Err(ProbeError::HttpStatus(other)),
    };
    Ok(Readiness {
        ready,
        checks: parse_checks(&body),
    })
}

/// Reads `{"checks": {...}}` leniently: a check passes when it is `true`, a passing word,
/// or an object whose `status` is one.
pub fn parse_checks(body: &[u8]) -> Vec<(String, bool)> {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let Some(checks) = json.get("checks").and_then(Value::as_object) else {
        return Vec::new();
    };
    fn passes(value: &Value) -> bool {
        match value {
            Value::Bool(ok) => *ok,
            Value::String(word) => {
                matches!(
                    word.to_ascii_lowercase().as_str(),
                    "ok" | "up" | "pass" | "passed" | "healthy" | "ready" | "true"
                )
            }
            Value::Object(map) => map
                .get("status")
                .or_else(|| map.get("ok"))
                .is_some_and(passes),
            _ => false,
        }
    }
    checks
        .iter()
        .take(64)
        .map(|(name, value)| (name.chars().take(64).collect(), passes(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_booleans_words_and_status_objects() {
        let body = br#"{"status":"not_ready","checks":{"database":false,"cache":"ok","queue":{"status":"down"}}}"#;
        let mut checks = parse_checks(body);
        checks.sort();
        assert_eq!(
            checks,
            vec![
                ("cache".into(), true),
                ("database".into(), false),
                ("queue".into(), false)
            ]
        );
    }

    #[test]
    fn a_body_without_checks_gives_none() {
        assert!(parse_checks(b"not json").is_empty());
        assert!(parse_checks(br#"{"status":"ready"}"#).is_empty());
    }
}
