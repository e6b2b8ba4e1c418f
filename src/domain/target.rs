//! A monitored MCP server: its validated identity, address and polling interval.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const NAME_MAX_CHARS: usize = 64;
pub const URL_MAX_CHARS: usize = 2048;
pub const TAGS_MAX: usize = 16;
pub const TAG_MAX_CHARS: usize = 32;
pub const INTERVAL_MIN_SECS: u32 = 1;
pub const INTERVAL_MAX_SECS: u32 = 3600;
pub const DEFAULT_INTERVAL_SECS: u32 = 10;

/// Problems found in a form, keyed by field name, so each shows next to its field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(f, "{}", parts.join("; "))
    }
}

/// A target name: short, unique in the fleet, safe in URLs and metric labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetName(String);

impl TargetName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("a name is required".into());
        }
        if name.chars().count() > NAME_MAX_CHARS {
            return Err(format!("at most {NAME_MAX_CHARS} characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err("use letters, digits, '-', '_' and '.' only".into());
        }
        Ok(Self(name.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The base URL of an MCP server: http(s), with a host, and no credentials
/// (those belong in headers, where they can be kept secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUrl(String);

impl TargetUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("a URL is required".into());
        }
        if raw.len() > URL_MAX_CHARS {
            return Err(format!("at most {URL_MAX_CHARS} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("use http or https, not {}", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL needs a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in a header, not in the URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("a base URL has no query or fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The absolute URL of `path` on this server.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.0, path.trim_start_matches('/'))
    }
}

/// How often a target is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval(u32);

impl Interval {
    pub fn secs(self) -> u32 {
        self.0
    }
}

impl Default for Interval {
    fn default() -> Self {
        Self(DEFAULT_INTERVAL_SECS)
    }
}

impl TryFrom<u32> for Interval {
    type Error = String;
    fn try_from(secs: u32) -> Result<Self, String> {
        if (INTERVAL_MIN_SECS..=INTERVAL_MAX_SECS).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(format!(
                "between {INTERVAL_MIN_SECS} and {INTERVAL_MAX_SECS} seconds"
            ))
        }
    }
}

/// Parses a comma-separated tag list; tags are lower-cased and deduplicated.
pub fn parse_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if tag.chars().count() > TAG_MAX_CHARS {
            return Err(format!("each tag at most {TAG_MAX_CHARS} characters"));
        }
        if !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '='))
        {
            return Err(format!(
                "tag '{tag}' may use letters, digits, - _ . : = only"
            ));
        }
        let tag = tag.to_ascii_lowercase();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > TAGS_MAX {
        return Err(format!("at most {TAGS_MAX} tags"));
    }
    Ok(tags)
}

/// Where a target's definition came from; only UI targets are edited in the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    Ui,
    Demo,
    /// A TOML targets file (`[targets] files`).
    File,
    /// A Prometheus `file_sd` JSON file (`[targets] file_sd`).
    FileSd,
}

impl TargetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ui => "ui",
            Self::Demo => "demo",
            Self::File => "file",
            Self::FileSd => "file_sd",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ui" => Some(Self::Ui),
            "demo" => Some(Self::Demo),
            "file" => Some(Self::File),
            "file_sd" => Some(Self::FileSd),
            _ => None,
        }
    }
}

/// A validated target definition, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub name: TargetName,
    pub base_url: TargetUrl,
    pub interval: Interval,
    pub tags: Vec<String>,
}

impl TargetSpec {
    /// Validates raw form fields, collecting every problem at once.
    pub fn from_form(
        name: &str,
        base_url: &str,
        interval_secs: &str,
        tags: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = TargetName::parse(name)
            .map_err(|e| errors.add("name", e))
            .ok();
        let base_url = TargetUrl::parse(base_url)
            .map_err(|e| errors.add("base_url", e))
            .ok();
        let interval = match interval_secs.trim() {
            "" => Some(Interval::default()),
            raw => raw
                .parse::<u32>()
                .map_err(|_| "a whole number of seconds".to_owned())
                .and_then(Interval::try_from)
                .map_err(|e| errors.add("interval_secs", e))
                .ok(),
        };
        let tags = parse_tags(tags).map_err(|e| errors.add("tags", e)).ok();
        match (name, base_url, interval, tags) {
            (Some(name), Some(base_url), Some(interval), Some(tags)) if errors.is_empty() => {
                Ok(Self {
                    name,
                    base_url,
                    interval,
                    tags,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A stored target, as pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: i64,
    pub name: String,
    pub base_url: String,
    pub interval_secs: u32,
    pub tags: Vec<String>,
    pub source: TargetSource,
    /// The file that lists it, for file sources; empty otherwise.
    pub origin: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_without_scheme_is_refused_with_reason() {
        let err = TargetUrl::parse("localhost:8080").unwrap_err();
        assert!(err.contains("http"), "{err}");
    }

    #[test]
    fn url_with_credentials_is_refused() {
        assert!(TargetUrl::parse("http://user:pw@example.com").is_err());
    }

    #[test]
    fn url_trailing_slash_is_normalised_and_joins_paths() {
        let url = TargetUrl::parse(" http://127.0.0.1:9000/ ").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000");
        assert_eq!(
            url.join("/health/live"),
            "http://127.0.0.1:9000/health/live"
        );
    }

    #[test]
    fn ftp_and_javascript_urls_are_refused() {
        assert!(TargetUrl::parse("ftp://example.com").is_err());
        assert!(TargetUrl::parse("javascript:alert(1)").is_err());
    }

    #[test]
    fn name_rejects_spaces_and_overlong_values() {
        assert!(TargetName::parse("has space").is_err());
        assert!(TargetName::parse(&"a".repeat(NAME_MAX_CHARS + 1)).is_err());
        assert_eq!(TargetName::parse(" api-1 ").unwrap().as_str(), "api-1");
    }

    #[test]
    fn interval_bounds_are_inclusive() {
        assert!(Interval::try_from(0).is_err());
        assert!(Interval::try_from(1).is_ok());
        assert!(Interval::try_from(3600).is_ok());
        assert!(Interval::try_from(3601).is_err());
    }

    #[test]
    fn tags_are_lowercased_and_deduplicated() {
        assert_eq!(parse_tags("Prod, eu, prod,,").unwrap(), vec!["prod", "eu"]);
        assert!(parse_tags("bad tag").is_err());
    }

    #[test]
    fn form_reports_every_bad_field_at_once() {
        let errors = TargetSpec::from_form("", "nope", "abc", "").unwrap_err();
        assert!(errors.get("name").is_some());
        assert!(errors.get("base_url").is_some());
        assert!(errors.get("interval_secs").is_some());
        assert!(errors.get("tags").is_none());
    }

    #[test]
    fn form_defaults_the_interval() {
        let spec = TargetSpec::from_form("a", "https://mcp.example.com", "", "").unwrap();
        assert_eq!(spec.interval.secs(), DEFAULT_INTERVAL_SECS);
    }
}
