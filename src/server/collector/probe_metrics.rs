//! The metrics probe: scrape `/metrics`, parse it, and turn it into a snapshot of signals.
use super::fetch::{self, FetchLimits};
use crate::domain::exposition::{self, Limits, ParseError};
use crate::domain::observation::ProbeError;
use crate::domain::signals::{self, MetricProfile, Snapshot};

/// Bodies larger than this are parsed on the blocking pool: a scrape of thousands of series
/// takes milliseconds of CPU, which on an async worker would delay the polls queued behind it.
const PARSE_INLINE_BYTES: usize = 64 * 1024;

const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9,*/*;q=0.1";

impl From<ParseError> for ProbeError {
    fn from(err: ParseError) -> Self {
        match err {
            ParseError::InvalidUtf8 { line } => Self::InvalidUtf8 { line },
            ParseError::Line { line, reason } => Self::Parse { line, reason },
            ParseError::TooManySamples { limit } => Self::TooManySamples { limit },
        }
    }
}

pub async fn scrape(
    client: &reqwest::Client,
    url: &str,
    limits: FetchLimits<'_>,
    parse_limits: Limits,
    profile: &MetricProfile,
) -> Result<Snapshot, ProbeError> {
    let response = fetch::send(
        client.get(url).header(reqwest::header::ACCEPT, ACCEPT),
        limits,
    )
    .await?;
    let status = response.status();
    if !status.is_success() {
        return Err(ProbeError::HttpStatus(status.as_u16()));
    }
    let content_type = fetch::content_type(&response);
    let is_text = content_type.is_empty()
        || content_type.starts_with("text/plain")
        || content_type.starts_with("application/openmetrics-text");
    if !is_text {
        return Err(ProbeError::WrongContentType(
            content_type.chars().take(80).collect(),
        ));
    }
    let body = fetch::read_capped(response, limits).await?;
    if body.len() <= PARSE_INLINE_BYTES {
        return parse(&body, parse_limits, profile);
    }
    let profile = profile.clone();
    tokio::task::spawn_blocking(move || parse(&body, parse_limits, &profile))
        .await
        .map_err(|e| ProbeError::Io(format!("parsing stopped: {e}")))?
}

fn parse(
    body: &[u8],
    parse_limits: Limits,
    profile: &MetricProfile,
) -> Result<Snapshot, ProbeError> {
    let text = exposition::decode(body)?;
    let parsed = exposition::parse(text, parse_limits)?;
    signals::snapshot(&parsed, profile).map_err(|e| ProbeError::Histogram(e.to_string()))
}
