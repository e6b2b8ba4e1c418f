//! Targets listed in files: mcpops' own TOML format and Prometheus `file_sd` JSON.
use super::target::{TargetSource, TargetSpec};
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
}

impl TargetsFile {
    pub fn specs(&self) -> Result<Vec<TargetSpec>, String> {
        let specs = self
            .target
            .iter()
            .map(|t| {
                let interval = t.interval_secs.map(|i| i.to_string()).unwrap_or_default();
                TargetSpec::from_form(&t.name, &t.url, &interval, &t.tags.join(","))
                    .map_err(|fields| format!("target '{}': {fields}", t.name))
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
/// and `__scrape_interval__` apply; other labels not starting with `__` become `key:value`
/// tags. The name is `host-port`.
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
            let spec = TargetSpec::from_form(&name, &url, &interval, &tags.join(","))
                .map_err(|fields| format!("target '{address}': {fields}"))?;
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
        let file = TargetsFile {
            target: vec![
                FileTarget {
                    name: "a".into(),
                    url: "http://x".into(),
                    interval_secs: None,
                    tags: vec![],
                },
                FileTarget {
                    name: "a".into(),
                    url: "http://y".into(),
                    interval_secs: None,
                    tags: vec![],
                },
            ],
        };
        assert!(file.specs().expect_err("dup").contains("listed twice"));
        let bad = TargetsFile {
            target: vec![FileTarget {
                name: "b".into(),
                url: "ftp://x".into(),
                interval_secs: Some(5),
                tags: vec![],
            }],
        };
        assert!(
            bad.specs()
                .expect_err("scheme")
                .starts_with("target 'b': base_url")
        );
    }
}
