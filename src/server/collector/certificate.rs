//! The certificate an https target presents: who it names, who issued it, and when it
//! expires. Read from the TLS session of a request to the target's base URL.
use super::fetch::{self, FetchLimits};
use crate::domain::observation::Certificate;
use std::time::Duration;

/// Certificates change rarely: read once an hour, and on first contact.
pub const READ_EVERY: Duration = Duration::from_secs(3600);

/// The target's certificate, or `None` when the request failed (the probes say why) or the
/// connection carried no certificate.
pub async fn read(
    client: &reqwest::Client,
    base_url: &str,
    limits: FetchLimits<'_>,
) -> Option<Certificate> {
    let response = fetch::send(client.head(base_url), limits).await.ok()?;
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    parse(info.peer_certificate()?)
}

/// The fields pages and rules need from a DER certificate.
pub fn parse(der: &[u8]) -> Option<Certificate> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = chrono::DateTime::from_timestamp(parsed.validity().not_after.timestamp(), 0)?;
    Some(Certificate {
        subject: capped(parsed.subject().to_string()),
        issuer: capped(parsed.issuer().to_string()),
        not_after,
    })
}

fn capped(name: String) -> String {
    name.chars().take(256).collect()
}
