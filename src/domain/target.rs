//! A monitored MCP server: its validated identity, address and polling interval.
use super::offers::ProbeSwitches;
use super::signals::MetricProfile;
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
    pub probe: ProbeSettings,
    /// Secret headers sent with every probe; `None` keeps the stored ones (an update that
    /// does not touch them). Never serialized.
    #[serde(skip)]
    pub headers: Option<Vec<(String, String)>>,
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
                    probe: ProbeSettings::default(),
                    headers: None,
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
    pub probe: ProbeSettings,
    /// The names of its secret headers, for pages; the values stay on the server.
    pub header_names: Vec<String>,
    #[serde(skip)]
    pub secret_headers: Vec<(String, String)>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Where and how one target is probed, where it differs from the defaults. Holds no secrets:
/// header values live in `Target::secret_headers`, which is never serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeSettings {
    /// Each probe request's deadline; `None` uses `[collector] timeout_ms`.
    pub timeout_ms: Option<u32>,
    pub live_path: String,
    pub ready_path: String,
    pub metrics_path: String,
    pub mcp_path: String,
    /// `guide` (the operations guide's names) or `opentelemetry`.
    pub profile: String,
    /// Metric names that replace the profile's, by signal (e.g. `requests_total`).
    pub metric_names: BTreeMap<String, String>,
    /// Which probes run: `auto` finds out what the server offers.
    pub switches: ProbeSwitches,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            timeout_ms: None,
            live_path: "/health/live".into(),
            ready_path: "/health/ready".into(),
            metrics_path: "/metrics".into(),
            mcp_path: "/mcp".into(),
            profile: "guide".into(),
            metric_names: BTreeMap::new(),
            switches: ProbeSwitches::default(),
        }
    }
}

/// The signals a custom mapping may rename.
pub const METRIC_FIELDS: [&str; 11] = [
    "requests_total",
    "errors_total",
    "error_label",
    "duration_histogram",
    "active_connections",
    "cpu_seconds_total",
    "resident_memory_bytes",
    "tools_executed_total",
    "resources_accessed_total",
    "sessions_active",
    "quota_remaining",
];

const HEADERS_MAX: usize = 10;
/// Headers the client or the MCP probe sets itself; a target may not override them.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
];

impl ProbeSettings {
    /// Parses the advanced fields of the target form; empty fields keep the defaults.
    /// `metric_names` is one `signal = metric_name` per line.
    pub fn from_form(
        timeout_ms: &str,
        paths: [&str; 4],
        profile: &str,
        metric_names: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut settings = Self::default();
        match timeout_ms.trim() {
            "" => {}
            raw => match raw.parse::<u32>() {
                Ok(ms) if (100..=60_000).contains(&ms) => settings.timeout_ms = Some(ms),
                _ => errors.add("timeout_ms", "milliseconds from 100 to 60000"),
            },
        }
        let slots = [
            ("live_path", &mut settings.live_path),
            ("ready_path", &mut settings.ready_path),
            ("metrics_path", &mut settings.metrics_path),
            ("mcp_path", &mut settings.mcp_path),
        ];
        for ((field, slot), raw) in slots.into_iter().zip(paths) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            if !raw.starts_with('/')
                || raw.len() > 200
                || raw.contains("//")
                || raw.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errors.add(
                    field,
                    "a path such as /metrics (starting with /, no spaces)",
                );
            } else {
                *slot = raw.to_owned();
            }
        }
        match profile.trim() {
            "" | "guide" => {}
            "opentelemetry" => settings.profile = "opentelemetry".into(),
            _ => errors.add("profile", "guide or opentelemetry"),
        }
        for line in metric_names
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some((field, name)) = line.split_once('=') else {
                errors.add(
                    "metric_names",
                    format!("'{line}' is not signal = metric_name"),
                );
                continue;
            };
            let (field, name) = (field.trim(), name.trim());
            if !METRIC_FIELDS.contains(&field) {
                errors.add(
                    "metric_names",
                    format!(
                        "unknown signal '{field}'; use one of {}",
                        METRIC_FIELDS.join(", ")
                    ),
                );
            } else if !is_metric_name(name) {
                errors.add(
                    "metric_names",
                    format!("'{name}' is not a Prometheus metric name"),
                );
            } else {
                settings
                    .metric_names
                    .insert(field.to_owned(), name.to_owned());
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// The metric profile these settings select, with the custom names applied.
    pub fn metric_profile(&self) -> MetricProfile {
        let mut profile = match self.profile.as_str() {
            "opentelemetry" => MetricProfile::opentelemetry(),
            _ => MetricProfile::operations_guide(),
        };
        for (field, name) in &self.metric_names {
            let name = name.clone();
            match field.as_str() {
                "requests_total" => profile.requests_total = Some(name),
                "errors_total" => profile.errors_total = Some(name),
                "error_label" => profile.error_label = Some(name),
                "duration_histogram" => profile.duration_histogram = name,
                "active_connections" => profile.active_connections = name,
                "cpu_seconds_total" => profile.cpu_seconds_total = name,
                "resident_memory_bytes" => profile.resident_memory_bytes = name,
                "tools_executed_total" => profile.tools_executed_total = name,
                "resources_accessed_total" => profile.resources_accessed_total = name,
                "sessions_active" => profile.sessions_active = name,
                "quota_remaining" => profile.quota_remaining = name,
                _ => {}
            }
        }
        profile
    }

    /// The custom names as the form shows them, one per line.
    pub fn metric_names_text(&self) -> String {
        self.metric_names
            .iter()
            .map(|(field, name)| format!("{field} = {name}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && name.len() <= 200
}

/// Secret headers from the form: one `Name: value` per line.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err("one header per line, as Name: value".into());
        };
        let (name, value) = (name.trim(), value.trim());
        let token = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !token {
            return Err(format!("'{name}' is not a header name"));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("{name} is set by mcpops itself"));
        }
        if value.is_empty() || value.len() > 4096 || value.chars().any(|c| c.is_control()) {
            return Err(format!(
                "the value of {name} must be 1 to 4096 printable characters"
            ));
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    if headers.len() > HEADERS_MAX {
        return Err(format!("at most {HEADERS_MAX} headers"));
    }
    Ok(headers)
}

/// The value of a `key:value` tag, e.g. `team` in `team:search`.
pub fn tag_value<'a>(tags: &'a [String], key: &str) -> Option<&'a str> {
    tags.iter().find_map(|tag| {
        tag.split_once(':')
            .filter(|(k, _)| *k == key)
            .map(|(_, value)| value)
    })
}

/// The tag key that groups a fleet best when nobody chose one: the `key:value` key most
/// targets carry, among those with at least two values; more values break a tie, then the
/// name, so the choice is stable.
pub fn grouping_key<'a>(fleet: impl IntoIterator<Item = &'a [String]>) -> Option<String> {
    let mut keys: BTreeMap<&str, (usize, std::collections::BTreeSet<&str>)> = BTreeMap::new();
    let mut seen = Vec::new();
    for tags in fleet {
        // A target has a handful of tags: a list is cheaper than a set per target.
        seen.clear();
        for (key, value) in tags.iter().filter_map(|t| t.split_once(':')) {
            if !seen.contains(&key) {
                seen.push(key);
                let entry = keys.entry(key).or_default();
                entry.0 += 1;
                entry.1.insert(value);
            }
        }
    }
    keys.into_iter()
        .filter(|(_, (_, values))| values.len() >= 2)
        .max_by(
            |(a_key, (a_count, a_values)), (b_key, (b_count, b_values))| {
                a_count
                    .cmp(b_count)
                    .then(a_values.len().cmp(&b_values.len()))
                    .then(b_key.cmp(a_key))
            },
        )
        .map(|(key, _)| key.to_owned())
}

/// `items` grouped by the value of their tag `key`, as `("key: value", items)` in value order
/// and `("no key", items)` last, keeping each group's order; one unnamed group without a key.
pub fn group_by_tag<T>(
    items: Vec<T>,
    key: Option<&str>,
    tags_of: impl Fn(&T) -> &[String],
) -> Vec<(String, Vec<T>)> {
    let Some(key) = key else {
        return vec![(String::new(), items)];
    };
    // Keyed by the bare value, so only a group's first item allocates.
    let mut tagged: BTreeMap<String, Vec<T>> = BTreeMap::new();
    let mut untagged = Vec::new();
    for item in items {
        match tag_value(tags_of(&item), key) {
            None => untagged.push(item),
            Some(value) => match tagged.get_mut(value) {
                Some(members) => members.push(item),
                None => {
                    let value = value.to_owned();
                    tagged.insert(value, vec![item]);
                }
            },
        }
    }
    let mut groups: Vec<(String, Vec<T>)> = tagged
        .into_iter()
        .map(|(value, items)| (format!("{key}: {value}"), items))
        .collect();
    if !untagged.is_empty() {
        groups.push((format!("no {key}"), untagged));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_tag_value_and_untagged_items_come_last() {
        let items = vec![
            ("a", tags(&["team:search"])),
            ("b", tags(&["prod"])),
            ("c", tags(&["team:billing"])),
            ("d", tags(&["team:search", "zone:1"])),
        ];
        let grouped = group_by_tag(items.clone(), Some("team"), |(_, t)| t.as_slice());
        let names: Vec<(&str, Vec<&str>)> = grouped
            .iter()
            .map(|(name, members)| (name.as_str(), members.iter().map(|(n, _)| *n).collect()))
            .collect();
        assert_eq!(
            names,
            [
                ("team: billing", vec!["c"]),
                ("team: search", vec!["a", "d"]),
                ("no team", vec!["b"]),
            ]
        );
        let ungrouped = group_by_tag(items, None, |(_, t)| t.as_slice());
        assert_eq!(ungrouped.len(), 1);
        assert_eq!(ungrouped[0].0, "");
        assert_eq!(ungrouped[0].1.len(), 4);
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_grouping_key_is_the_most_common_key_with_several_values() {
        let fleet = [
            tags(&["demo", "region:eu", "team:search", "env:prod"]),
            tags(&["demo", "region:us", "team:payments", "env:prod"]),
            tags(&["demo", "region:eu", "team:support", "env:prod"]),
            tags(&["team:search"]),
        ];
        // team is on every target; env has a single value; region is on three of four.
        assert_eq!(
            grouping_key(fleet.iter().map(Vec::as_slice)).as_deref(),
            Some("team")
        );
        assert_eq!(tag_value(&fleet[1], "team"), Some("payments"));
        assert_eq!(tag_value(&fleet[3], "region"), None);
        let untagged = [tags(&["demo"]), tags(&["env:prod"])];
        assert_eq!(grouping_key(untagged.iter().map(Vec::as_slice)), None);
        // A tie on coverage goes to more values, then to the first name.
        let tie = [tags(&["a:1", "b:1"]), tags(&["a:2", "b:2"])];
        assert_eq!(
            grouping_key(tie.iter().map(Vec::as_slice)).as_deref(),
            Some("a")
        );
    }

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

    #[test]
    fn probe_settings_take_paths_a_timeout_and_custom_metric_names() {
        let settings = ProbeSettings::from_form(
            "2500",
            ["/livez", "", "/admin/metrics", ""],
            "opentelemetry",
            "requests_total = http_requests_total\nduration_histogram = http_request_duration_seconds",
        )
        .unwrap();
        assert_eq!(settings.timeout_ms, Some(2500));
        assert_eq!(settings.live_path, "/livez");
        assert_eq!(settings.ready_path, "/health/ready");
        let profile = settings.metric_profile();
        assert_eq!(
            profile.requests_total.as_deref(),
            Some("http_requests_total")
        );
        assert_eq!(profile.duration_histogram, "http_request_duration_seconds");
        assert_eq!(
            profile.error_label.as_deref(),
            Some("error_type"),
            "from the OpenTelemetry base"
        );
    }

    #[test]
    fn bad_probe_settings_are_named_field_by_field() {
        let errors = ProbeSettings::from_form(
            "5",
            ["health", "", "/a b", ""],
            "nagios",
            "latency = x\nrequests_total = 9bad",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "live_path",
                "metric_names",
                "metrics_path",
                "profile",
                "timeout_ms"
            ]
        );
    }

    #[test]
    fn secret_headers_are_parsed_and_reserved_ones_refused() {
        assert_eq!(
            parse_headers("Authorization: Bearer s3cr3t\n\nX-Tenant: eu").unwrap(),
            vec![
                ("Authorization".to_owned(), "Bearer s3cr3t".to_owned()),
                ("X-Tenant".to_owned(), "eu".to_owned())
            ]
        );
        assert!(parse_headers("Host: evil").is_err());
        assert!(parse_headers("no colon").is_err());
        assert!(parse_headers("Bad Name: x").is_err());
    }

    #[test]
    fn a_target_sent_to_a_page_carries_header_names_but_never_values() {
        let target = Target {
            id: 1,
            name: "a".into(),
            base_url: "http://a".into(),
            interval_secs: 10,
            tags: vec![],
            source: TargetSource::Ui,
            origin: String::new(),
            probe: ProbeSettings::default(),
            header_names: vec!["Authorization".into()],
            secret_headers: vec![("Authorization".into(), "Bearer s3cr3t".into())],
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let json = serde_json::to_string(&target).unwrap();
        assert!(
            json.contains("Authorization") && !json.contains("s3cr3t"),
            "{json}"
        );
    }
}
