//! Targets listed in files: mcpops' own TOML format and Prometheus `file_sd` JSON.
use super::offers::ProbeSwitches;
use super::target::{FieldErrors, ProbeSettings, TargetSource, TargetSpec, parse_headers};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// A TOML targets file: `[[target]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    #[serde(default)]
    pub target: Vec<FileTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    pub name: String,
    pub url: String,
    pub interval_secs: Option<u32>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub timeout_ms: Option<u32>,
    pub live_path: Option<String>,
    pub ready_path: Option<String>,
    pub metrics_path: Option<String>,
    pub mcp_path: Option<String>,
    /// `guide` or `opentelemetry`.
    pub profile: Option<String>,
    /// Signal → metric name, replacing the profile's.
    #[serde(default)]
    pub metric_names: BTreeMap<String, String>,
    /// Probe → `auto`, `on` or `off` (`live`, `ready`, `metrics`, `mcp`).
    #[serde(default)]
    pub probes: BTreeMap<String, String>,
    /// Sent with every probe (e.g. `Authorization`); keep such files readable only by mcpops.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl TargetsFile {
    pub fn specs(&self) -> Result<Vec<TargetSpec>, String> {
        let specs = self
            .target
            .iter()
            .map(|t| -> Result<TargetSpec, String> {
                let interval = t.interval_secs.map(|i| i.to_string()).unwrap_or_default();
                let fail = |fields: FieldErrors| format!("target '{}': {fields}", t.name);
                let mut spec = TargetSpec::from_form(&t.name, &t.url, &interval, &t.tags.join(","))
                    .map_err(fail)?;
                let text = |v: &Option<String>| v.clone().unwrap_or_default();
                let names = t
                    .metric_names
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                spec.probe = ProbeSettings::from_form(
                    &t.timeout_ms.map(|ms| ms.to_string()).unwrap_or_default(),
                    [
                        &text(&t.live_path),
                        &text(&t.ready_path),
                        &text(&t.metrics_path),
                        &text(&t.mcp_path),
                    ],
                    &text(&t.profile),
                    &names,
                )
                .map_err(fail)?;
                for (probe, switch) in &t.probes {
                    spec.probe
                        .switches
                        .set_by_key(probe, switch)
                        .map_err(|e| format!("target '{}': probes: {e}", t.name))?;
                }
                let headers = t
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                spec.headers = Some(
                    parse_headers(&headers)
                        .map_err(|e| format!("target '{}': headers: {e}", t.name))?,
                );
                Ok(spec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        unique(specs)
    }
}

/// One group of a Prometheus `file_sd` file: `{"targets": ["host:port"], "labels": {…}}`.
#[derive(Debug, Deserialize)]
pub struct FileSdGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Turns `file_sd` groups into targets, as Prometheus reads them: `__scheme__` (default http)
/// `__scrape_interval__` and `__metrics_path__` apply, and mcpops' own `__mcp_path__` and
/// `__probes__` (`live=off, metrics=on`); other labels not starting with `__` become
/// `key:value` tags. The name is `host-port`.
pub fn specs_from_file_sd(groups: &[FileSdGroup]) -> Result<Vec<TargetSpec>, String> {
    let mut specs = Vec::new();
    for group in groups {
        let scheme = group
            .labels
            .get("__scheme__")
            .map_or("http", String::as_str);
        let interval = match group.labels.get("__scrape_interval__") {
            Some(raw) => parse_duration_secs(raw)
                .ok_or_else(|| {
                    format!("__scrape_interval__ '{raw}' is not a duration like 10s or 1m")
                })?
                .to_string(),
            None => String::new(),
        };
        let tags: Vec<String> = group
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        for address in &group.targets {
            let name = address
                .replace([':', '[', ']'], "-")
                .trim_matches('-')
                .to_owned();
            let url = format!("{scheme}://{address}");
            let mut spec = TargetSpec::from_form(&name, &url, &interval, &tags.join(","))
                .map_err(|fields| format!("target '{address}': {fields}"))?;
            let label = |name: &str| group.labels.get(name).map_or("", String::as_str);
            spec.probe = ProbeSettings::from_form(
                "",
                ["", "", label("__metrics_path__"), label("__mcp_path__")],
                "",
                "",
            )
            .map_err(|fields| format!("target '{address}': {fields}"))?;
            spec.probe.switches = ProbeSwitches::parse(label("__probes__"))
                .map_err(|e| format!("target '{address}': __probes__: {e}"))?;
            spec.headers = Some(Vec::new());
            specs.push(spec);
        }
    }
    unique(specs)
}

fn unique(specs: Vec<TargetSpec>) -> Result<Vec<TargetSpec>, String> {
    let mut seen = HashSet::new();
    for spec in &specs {
        if !seen.insert(spec.name.as_str().to_owned()) {
            return Err(format!("target '{}' is listed twice", spec.name.as_str()));
        }
    }
    Ok(specs)
}

/// `10s`, `1m`, `2h` (Prometheus durations, whole units).
fn parse_duration_secs(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// How one configured file fared at its last reading, for the Fleet page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub path: String,
    pub source: TargetSource,
    pub read_at: chrono::DateTime<chrono::Utc>,
    pub targets: usize,
    /// Why the file was not applied; its targets stay as they were until it reads cleanly.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_groups_become_named_tagged_targets() {
        let groups: Vec<FileSdGroup> = serde_json::from_str(
            r#"[{"targets": ["10.0.0.5:8080", "search.internal:443"],
                 "labels": {"__scheme__": "https", "__scrape_interval__": "30s", "env": "prod"}},
                {"targets": ["[::1]:9000"]}]"#,
        )
        .expect("json");
        let specs = specs_from_file_sd(&groups).expect("specs");
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "10.0.0.5-8080",
                "search.internal-443",
                "--1--9000".trim_matches('-')
            ]
        );
        assert_eq!(specs[0].base_url.as_str(), "https://10.0.0.5:8080");
        assert_eq!(specs[0].interval.secs(), 30);
        assert_eq!(specs[0].tags, ["env:prod"]);
        assert_eq!(specs[2].base_url.as_str(), "http://[::1]:9000");
    }

    #[test]
    fn bad_entries_name_the_target_and_duplicates_are_refused() {
        let groups: Vec<FileSdGroup> = serde_json::from_str(
            r#"[{"targets": ["a:1"], "labels": {"__scrape_interval__": "soon"}}]"#,
        )
        .expect("json");
        assert!(
            specs_from_file_sd(&groups)
                .expect_err("bad")
                .contains("soon")
        );
        let parse = |text: &str| toml::from_str::<TargetsFile>(text).expect("toml");
        let file = parse(
            "[[target]]\nname = \"a\"\nurl = \"http://x\"\n[[target]]\nname = \"a\"\nurl = \"http://y\"\n",
        );
        assert!(file.specs().expect_err("dup").contains("listed twice"));
        let bad = parse("[[target]]\nname = \"b\"\nurl = \"ftp://x\"\ninterval_secs = 5\n");
        assert!(
            bad.specs()
                .expect_err("scheme")
                .starts_with("target 'b': base_url")
        );
    }

    #[test]
    fn file_targets_carry_probe_settings_and_secret_headers() {
        let file: TargetsFile = toml::from_str(
            "[[target]]\nname = \"search\"\nurl = \"https://search:8443\"\ntimeout_ms = 2000\n\
             metrics_path = \"/admin/metrics\"\nprofile = \"opentelemetry\"\n\
             [target.metric_names]\nrequests_total = \"http_requests_total\"\n\
             [target.headers]\nAuthorization = \"Bearer s3cr3t\"\n",
        )
        .expect("toml");
        let spec = &file.specs().expect("valid")[0];
        assert_eq!(spec.probe.timeout_ms, Some(2000));
        assert_eq!(spec.probe.metrics_path, "/admin/metrics");
        assert_eq!(
            spec.probe.metric_profile().requests_total.as_deref(),
            Some("http_requests_total")
        );
        assert_eq!(
            spec.headers.as_deref(),
            Some(&[("Authorization".to_owned(), "Bearer s3cr3t".to_owned())][..])
        );
        let groups: Vec<FileSdGroup> = serde_json::from_str(
            r#"[{"targets": ["a:1"], "labels": {"__metrics_path__": "/stats"}}]"#,
        )
        .expect("json");
        assert_eq!(
            specs_from_file_sd(&groups).expect("ok")[0]
                .probe
                .metrics_path,
            "/stats"
        );
    }

    #[test]
    fn files_and_file_sd_labels_switch_probes_on_and_off() {
        use crate::domain::offers::ProbeSwitch;
        let file: TargetsFile = toml::from_str(
            "[[target]]\nname = \"a\"\nurl = \"http://a:1\"\n\
             [target.probes]\nlive = \"off\"\nmetrics = \"on\"\n",
        )
        .expect("toml");
        let switches = file.specs().expect("valid")[0].probe.switches;
        assert_eq!(
            (switches.live, switches.metrics, switches.mcp),
            (ProbeSwitch::Off, ProbeSwitch::On, ProbeSwitch::Auto)
        );
        let bad: TargetsFile = toml::from_str(
            "[[target]]\nname = \"b\"\nurl = \"http://b:1\"\nprobes = { health = \"off\" }\n",
        )
        .expect("toml");
        assert!(bad.specs().expect_err("unknown probe").contains("health"));

        let groups: Vec<FileSdGroup> = serde_json::from_str(
            r#"[{"targets": ["c:1"], "labels": {"__mcp_path__": "/sse", "__probes__": "ready=off, live=off"}}]"#,
        )
        .expect("json");
        let spec = &specs_from_file_sd(&groups).expect("ok")[0];
        assert_eq!(spec.probe.mcp_path, "/sse");
        assert_eq!(spec.probe.switches.to_string(), "live=off, ready=off");
        assert!(spec.tags.is_empty(), "mcpops' own labels are not tags");
        let groups: Vec<FileSdGroup> = serde_json::from_str(
            r#"[{"targets": ["d:1"], "labels": {"__probes__": "mcp=sometimes"}}]"#,
        )
        .expect("json");
        assert!(
            specs_from_file_sd(&groups)
                .expect_err("bad switch")
                .contains("__probes__")
        );
    }
}
