//! Where a channel sends: a web address, a PagerDuty routing key, or an SMTP server with
//! its mailboxes. Each is checked when taken, and its secret part never shown again.
use super::ChannelKind;
use super::FieldErrors;
use serde::{Deserialize, Serialize};

const MAX_URL: usize = 2048;
/// PagerDuty's Events API v2 address, used when a PagerDuty channel names none.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const MAX_RECIPIENTS: usize = 20;

/// A webhook address: http or https with a host. Its path and query often hold a secret,
/// so only `redacted()` is ever shown or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = parse_url(raw)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "must be an http or https URL, not {}:",
                url.scheme()
            ));
        }
        check_authority(&url)?;
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Scheme, host and port only, e.g. `https://hooks.example.com/…`.
    pub fn redacted(&self) -> String {
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        let rest = if self.0.path() == "/" && self.0.query().is_none() {
            ""
        } else {
            "/…"
        };
        format!(
            "{}://{}{port}{rest}",
            self.0.scheme(),
            self.0.host_str().unwrap_or_default()
        )
    }
}

/// A URL of at most `MAX_URL` characters.
fn parse_url(raw: &str) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} characters"));
    }
    url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))
}

/// A host, and no `user:password@`; checked after the scheme, whose error says more.
fn check_authority(url: &url::Url) -> Result<(), String> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in their own field, not user:password@".into());
    }
    Ok(())
}

/// A PagerDuty Events API v2 routing (integration) key: 32 letters and digits.
#[derive(Clone, PartialEq, Eq)]
pub struct RoutingKey(String);

impl std::fmt::Debug for RoutingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoutingKey(…)")
    }
}

impl RoutingKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let length = raw.chars().count();
        // The key itself is never echoed back: only its shape is described.
        if length != 32 {
            return Err(format!(
                "a PagerDuty routing key is 32 letters and digits; this one has {length} characters"
            ));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("a PagerDuty routing key has only letters and digits".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How the SMTP connection is encrypted; mail is never sent in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: a plain connection that must upgrade with STARTTLS (port 587 by default).
    StartTls,
    /// `smtps://`: TLS from the first byte (port 465 by default).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub security: SmtpSecurity,
    pub host: String,
    pub port: u16,
}

impl SmtpServer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = parse_url(raw)?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (SmtpSecurity::StartTls, 587),
            "smtps" => (SmtpSecurity::Tls, 465),
            other => {
                return Err(format!(
                    "must be smtp://host (STARTTLS) or smtps://host (TLS), not {other}:"
                ));
            }
        };
        check_authority(&url)?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err("an SMTP server is smtp://host:port, with no path or query".into());
        }
        Ok(Self {
            security,
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port().unwrap_or(default_port),
        })
    }

    pub fn url(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::StartTls => "smtp",
            SmtpSecurity::Tls => "smtps",
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// A bare mail address, `local@domain`: no display name, no spaces, at most 254 characters.
pub fn parse_address(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let Some((local, domain)) = raw.rsplit_once('@') else {
        return Err(format!("{} is not a mail address", shown(raw)));
    };
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_graphic() && !"<>,;:\"()[]\\@".contains(c))
    };
    if raw.len() > 254 || local.len() > 64 || !plain(local) || !plain(domain) {
        return Err(format!("{} is not a mail address", shown(raw)));
    }
    Ok(raw.to_owned())
}

/// An address quoted in an error, cut short so an error never carries a page of input.
fn shown(raw: &str) -> String {
    let short: String = raw.chars().take(60).collect();
    format!("“{short}”")
}

/// The mail side of an email channel.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailRoute {
    pub server: SmtpServer,
    /// Empty when the server takes mail without signing in.
    pub username: String,
    pub password: String,
    pub from: String,
    pub to: Vec<String>,
}

impl std::fmt::Debug for EmailRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailRoute")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// The parts of an email channel stored beside its server address and secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailSettings {
    pub username: String,
    pub from: String,
    pub to: Vec<String>,
}

/// Where one channel's notices go, with everything needed to send them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A generic webhook, Slack or Teams: one POST of JSON.
    Http(WebhookUrl),
    PagerDuty {
        url: WebhookUrl,
        routing_key: RoutingKey,
    },
    Email(EmailRoute),
}

/// How a destination is kept: its address, its secret, and any further settings as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDestination {
    pub url: String,
    pub secret: String,
    pub settings: String,
}

/// The raw text of a channel form's destination fields.
#[derive(Debug, Clone, Copy)]
pub struct DestinationFields<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub smtp_user: &'a str,
    pub email_from: &'a str,
    pub email_to: &'a str,
}

impl Destination {
    /// The kind a form chose (field `kind`) and the destination its fields make, each bad
    /// field named in `errors`.
    pub fn parse_with_kind(
        kind: &str,
        fields: DestinationFields<'_>,
        errors: &mut FieldErrors,
    ) -> Option<(ChannelKind, Self)> {
        let Some(kind) = ChannelKind::parse(kind.trim()) else {
            errors.add("kind", "webhook, slack, teams, pagerduty or email");
            return None;
        };
        Self::parse(kind, fields, errors).map(|destination| (kind, destination))
    }

    /// Checks the fields a kind needs, naming each bad one in `errors`.
    pub fn parse(
        kind: ChannelKind,
        fields: DestinationFields<'_>,
        errors: &mut FieldErrors,
    ) -> Option<Self> {
        match kind {
            ChannelKind::Webhook | ChannelKind::Slack | ChannelKind::Teams => {
                WebhookUrl::parse(fields.url)
                    .map_err(|reason| errors.add("url", reason))
                    .ok()
                    .map(Self::Http)
            }
            ChannelKind::PagerDuty => {
                let url = if fields.url.trim().is_empty() {
                    WebhookUrl::parse(PAGERDUTY_EVENTS_URL)
                } else {
                    WebhookUrl::parse(fields.url)
                }
                .map_err(|reason| errors.add("url", reason))
                .ok();
                let routing_key = RoutingKey::parse(fields.secret)
                    .map_err(|reason| errors.add("secret", reason))
                    .ok();
                Some(Self::PagerDuty {
                    url: url?,
                    routing_key: routing_key?,
                })
            }
            ChannelKind::Email => Self::parse_email(fields, errors).map(Self::Email),
        }
    }

    fn parse_email(fields: DestinationFields<'_>, errors: &mut FieldErrors) -> Option<EmailRoute> {
        let server = SmtpServer::parse(fields.url)
            .map_err(|reason| errors.add("url", reason))
            .ok();
        let from = parse_address(fields.email_from)
            .map_err(|reason| errors.add("email_from", reason))
            .ok();
        let to: Result<Vec<String>, String> = fields
            .email_to
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(parse_address)
            .collect();
        let to = match to {
            Ok(to) if to.is_empty() => Err("at least one address".to_owned()),
            Ok(to) if to.len() > MAX_RECIPIENTS => {
                Err(format!("at most {MAX_RECIPIENTS} addresses"))
            }
            other => other,
        }
        .map_err(|reason| errors.add("email_to", reason))
        .ok();
        let username = fields.smtp_user.trim().to_owned();
        if username.chars().count() > 256 {
            errors.add("smtp_user", "at most 256 characters");
        }
        let password = fields.secret.to_owned();
        if username.is_empty() != password.is_empty() {
            let (field, reason) = if username.is_empty() {
                ("smtp_user", "a password needs the user it belongs to")
            } else {
                ("secret", "the SMTP user needs its password")
            };
            errors.add(field, reason);
        }
        if password.len() > 1024 {
            errors.add("secret", "at most 1024 characters");
        }
        Some(EmailRoute {
            server: server?,
            username,
            password,
            from: from?,
            to: to?,
        })
    }

    /// What a page may show: scheme, host and port, and an email channel's recipients.
    pub fn redacted(&self) -> String {
        match self {
            Self::Http(url) | Self::PagerDuty { url, .. } => url.redacted(),
            Self::Email(route) => format!("{} → {}", route.server.url(), route.to.join(", ")),
        }
    }

    pub fn stored(&self) -> StoredDestination {
        match self {
            Self::Http(url) => StoredDestination {
                url: url.as_str().to_owned(),
                secret: String::new(),
                settings: "{}".into(),
            },
            Self::PagerDuty { url, routing_key } => StoredDestination {
                url: url.as_str().to_owned(),
                secret: routing_key.expose().to_owned(),
                settings: "{}".into(),
            },
            Self::Email(route) => StoredDestination {
                url: route.server.url(),
                secret: route.password.clone(),
                settings: serde_json::json!(EmailSettings {
                    username: route.username.clone(),
                    from: route.from.clone(),
                    to: route.to.clone(),
                })
                .to_string(),
            },
        }
    }

    /// Reads back what `stored` wrote; an error names what no longer parses.
    pub fn from_stored(kind: ChannelKind, stored: &StoredDestination) -> Result<Self, String> {
        let mut errors = FieldErrors::default();
        let settings: EmailSettings = if kind == ChannelKind::Email {
            serde_json::from_str(&stored.settings).map_err(|e| format!("email settings: {e}"))?
        } else {
            EmailSettings::default()
        };
        let to = settings.to.join(",");
        let fields = DestinationFields {
            url: &stored.url,
            secret: &stored.secret,
            smtp_user: &settings.username,
            email_from: &settings.from,
            email_to: &to,
        };
        match Self::parse(kind, fields, &mut errors) {
            Some(destination) if errors.is_empty() => Ok(destination),
            _ => Err(errors.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_webhooks_are_taken() {
        assert!(WebhookUrl::parse("https://hooks.example.com/T0/B0/secret").is_ok());
        let script = WebhookUrl::parse("javascript:alert(1)").unwrap_err();
        assert!(script.contains("http or https"), "{script}");
        for bad in [
            "ftp://example.com/x",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_webhook_url_is_shown_without_its_path_or_query() {
        let url =
            WebhookUrl::parse("https://hooks.example.com:8443/services/T0/B0/XSECRETX?token=abc")
                .unwrap();
        assert_eq!(url.redacted(), "https://hooks.example.com:8443/…");
        assert!(!format!("{url:?}").contains("SECRET"));
    }

    #[test]
    fn a_routing_key_of_the_wrong_shape_is_refused_without_being_echoed() {
        assert!(RoutingKey::parse("R0123456789abcdef0123456789ABCDE").is_ok());
        let short = RoutingKey::parse("hunter2").unwrap_err();
        assert!(short.contains("has 7 characters"), "{short}");
        assert!(!short.contains("hunter2"));
        let odd = RoutingKey::parse("R0123456789abcdef0123456789ABC-E").unwrap_err();
        assert!(odd.contains("only letters and digits"), "{odd}");
        let key = RoutingKey::parse("R0123456789abcdef0123456789ABCDE").unwrap();
        assert!(!format!("{key:?}").contains("R0123"));
    }

    #[test]
    fn smtp_servers_say_how_they_are_encrypted_and_default_their_port() {
        let starttls = SmtpServer::parse("smtp://mail.example.com").unwrap();
        assert_eq!(starttls.security, SmtpSecurity::StartTls);
        assert_eq!(starttls.url(), "smtp://mail.example.com:587");
        let tls = SmtpServer::parse("smtps://mail.example.com:2465").unwrap();
        assert_eq!((tls.security, tls.port), (SmtpSecurity::Tls, 2465));
        for bad in [
            "http://mail.example.com",
            "smtp://u:p@mail.example.com",
            "smtp://mail.example.com/inbox",
            "smtp://",
        ] {
            assert!(SmtpServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mail_addresses_are_bare_and_plain() {
        assert_eq!(
            parse_address(" ops@example.com ").unwrap(),
            "ops@example.com"
        );
        for bad in [
            "ops",
            "@example.com",
            "ops@",
            "Ops <ops@example.com>",
            "a b@example.com",
            "ops@exa\nmple.com",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }

    fn email_fields<'a>(url: &'a str, user: &'a str, secret: &'a str) -> DestinationFields<'a> {
        DestinationFields {
            url,
            secret,
            smtp_user: user,
            email_from: "mcpops@example.com",
            email_to: "ops@example.com, lead@example.com",
        }
    }

    #[test]
    fn an_email_destination_round_trips_through_storage() {
        let mut errors = FieldErrors::default();
        let parsed = Destination::parse(
            ChannelKind::Email,
            email_fields("smtps://mail.example.com", "mcpops", "pw"),
            &mut errors,
        )
        .unwrap();
        assert_eq!(
            parsed.redacted(),
            "smtps://mail.example.com:465 → ops@example.com, lead@example.com"
        );
        let stored = parsed.stored();
        assert_eq!(stored.secret, "pw");
        assert_eq!(
            Destination::from_stored(ChannelKind::Email, &stored).unwrap(),
            parsed
        );
        assert!(!format!("{parsed:?}").contains("pw\""));
    }

    #[test]
    fn a_password_without_its_user_is_named() {
        let mut errors = FieldErrors::default();
        let parsed = Destination::parse(
            ChannelKind::Email,
            email_fields("smtp://mail.example.com", "", "pw"),
            &mut errors,
        );
        assert!(parsed.is_some(), "the route itself parses");
        assert!(errors.0.contains_key("smtp_user"), "{errors:?}");
    }

    #[test]
    fn pagerduty_defaults_to_its_events_api() {
        let mut errors = FieldErrors::default();
        let fields = DestinationFields {
            url: "",
            secret: "R0123456789abcdef0123456789ABCDE",
            smtp_user: "",
            email_from: "",
            email_to: "",
        };
        let parsed = Destination::parse(ChannelKind::PagerDuty, fields, &mut errors).unwrap();
        assert_eq!(parsed.redacted(), "https://events.pagerduty.com/…");
        let mut errors = FieldErrors::default();
        let bad = DestinationFields {
            secret: "short",
            ..fields
        };
        assert!(Destination::parse(ChannelKind::PagerDuty, bad, &mut errors).is_none());
        assert!(errors.0["secret"].contains("32"));
    }
}
