//! The runbook library: the runbooks shipped in the binary, overridden and extended by the
//! Markdown files of a directory (`[runbooks] dir`), rendered to sanitised HTML.
use crate::domain::runbooks::Runbook;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `[runbooks]` section of the configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbooksConfig {
    /// A directory of `*.md` runbooks; one named like a shipped runbook replaces it.
    pub dir: Option<PathBuf>,
}

const SHIPPED: [(&str, &str); 8] = [
    (
        "high-error-rate",
        include_str!("../../../runbooks/high-error-rate.md"),
    ),
    (
        "high-latency",
        include_str!("../../../runbooks/high-latency.md"),
    ),
    (
        "memory-leak",
        include_str!("../../../runbooks/memory-leak.md"),
    ),
    (
        "connection-errors",
        include_str!("../../../runbooks/connection-errors.md"),
    ),
    (
        "disaster-recovery",
        include_str!("../../../runbooks/disaster-recovery.md"),
    ),
    (
        "zero-downtime-rolling-update",
        include_str!("../../../runbooks/zero-downtime-rolling-update.md"),
    ),
    (
        "operational-readiness",
        include_str!("../../../runbooks/operational-readiness.md"),
    ),
    ("mcpops", include_str!("../../../runbooks/mcpops.md")),
];

/// A runbook file larger than this is listed with a warning instead of being read.
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Files read from the directory at most.
const MAX_FILES: usize = 500;

#[derive(Clone)]
pub struct RunbookLibrary {
    dir: Option<PathBuf>,
}

impl RunbookLibrary {
    pub fn new(config: &RunbooksConfig) -> Self {
        Self {
            dir: config.dir.clone().filter(|d| !d.as_os_str().is_empty()),
        }
    }

    /// Every runbook, by title. The directory is read on each call, so edits show at once.
    pub async fn all(&self) -> Vec<Runbook> {
        let mut runbooks: Vec<Runbook> = SHIPPED
            .iter()
            .map(|(slug, text)| Runbook::parse(slug, text))
            .collect();
        if let Some(dir) = &self.dir {
            for runbook in read_dir(dir).await {
                match runbooks.iter_mut().find(|r| r.slug == runbook.slug) {
                    Some(shipped) => *shipped = runbook,
                    None => runbooks.push(runbook),
                }
            }
        }
        runbooks.sort_by_key(|r| r.title.to_lowercase());
        runbooks
    }

    pub async fn get(&self, slug: &str) -> Option<Runbook> {
        self.all().await.into_iter().find(|r| r.slug == slug)
    }
}

/// The directory's runbooks; a file that cannot be read is listed with the reason.
async fn read_dir(dir: &Path) -> Vec<Runbook> {
    let mut found = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot read the runbooks directory");
            return found;
        }
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let Some(slug) = path
            .extension()
            .filter(|e| *e == "md")
            .and(path.file_stem())
            .and_then(|s| s.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if found.len() == MAX_FILES {
            tracing::warn!(dir = %dir.display(), "more than {MAX_FILES} runbooks; the rest are left out");
            break;
        }
        let runbook = match entry.metadata().await {
            Ok(meta) if meta.len() > MAX_FILE_BYTES => unreadable(
                &slug,
                format!(
                    "the file is larger than {} KiB and was not read",
                    MAX_FILE_BYTES / 1024
                ),
            ),
            Ok(_) => match tokio::fs::read(&path).await {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => Runbook::parse(&slug, &text),
                    Err(_) => unreadable(&slug, "the file is not UTF-8 text".into()),
                },
                Err(err) => unreadable(&slug, format!("cannot read the file: {err}")),
            },
            Err(err) => unreadable(&slug, format!("cannot read the file: {err}")),
        };
        found.push(runbook);
    }
    found
}

fn unreadable(slug: &str, reason: String) -> Runbook {
    let mut runbook = Runbook::parse(slug, "");
    runbook.warnings = vec![reason];
    runbook
}

/// Markdown to HTML that cannot run anything: ammonia keeps formatting and drops scripts,
/// event handlers, styles and `javascript:` links.
pub fn render(markdown: &str) -> String {
    let mut html = String::new();
    let options =
        pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    pulldown_cmark::html::push_html(
        &mut html,
        pulldown_cmark::Parser::new_ext(markdown, options),
    );
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&html)
        .to_string()
}

/// Like `render`, but keeps images carried as `data:image/svg+xml` (the incident report's
/// charts, drawn by mcpops); no other element may use a `data:` address.
pub fn render_with_images(markdown: &str) -> String {
    let mut html = String::new();
    let options = pulldown_cmark::Options::ENABLE_TABLES;
    pulldown_cmark::html::push_html(
        &mut html,
        pulldown_cmark::Parser::new_ext(markdown, options),
    );
    ammonia::Builder::default()
        .add_url_schemes(&["data"])
        .attribute_filter(|element, attribute, value| {
            let is_data = value.trim_start().to_ascii_lowercase().starts_with("data:");
            let chart = element == "img"
                && attribute == "src"
                && value.starts_with("data:image/svg+xml;base64,");
            if is_data && !chart {
                None
            } else {
                Some(value.into())
            }
        })
        .clean(&html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_served_by_the_shipped_runbook_its_alerts_link_to() {
        use crate::domain::alerts::RuleKind;
        let shipped: Vec<Runbook> = SHIPPED
            .iter()
            .map(|(slug, text)| Runbook::parse(slug, text))
            .collect();
        for rule in RuleKind::ALL {
            let runbook = shipped
                .iter()
                .find(|r| r.slug == rule.runbook())
                .unwrap_or_else(|| panic!("{rule}: no shipped runbook {}", rule.runbook()));
            assert!(
                runbook.serves(rule.as_str()),
                "{}'s front matter does not list {rule}",
                runbook.slug
            );
        }
    }

    #[test]
    fn a_malicious_runbook_renders_inert() {
        let html = render(
            "# Hi\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n\
             <img src=x onerror=\"alert(3)\">\n\n<a href=\"https://ok.example\" onclick=\"x()\">ok</a>\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        assert!(html.contains("<h1>Hi</h1>"));
        assert!(html.contains("href=\"https://ok.example\""));
    }

    #[test]
    fn the_report_keeps_its_chart_images_and_nothing_else_from_data() {
        let html = render_with_images(
            "![chart](data:image/svg+xml;base64,PHN2Zz4=)\n\n[x](data:text/html,<script>1</script>)\n\n\
             ![y](data:text/html;base64,PHNjcmlwdD4=)\n",
        );
        assert!(
            html.contains("src=\"data:image/svg+xml;base64,PHN2Zz4=\""),
            "{html}"
        );
        assert!(!html.contains("data:text/html"), "{html}");
    }

    #[test]
    fn every_shipped_runbook_parses_without_warnings_and_has_steps() {
        for (slug, text) in SHIPPED {
            let runbook = Runbook::parse(slug, text);
            assert!(
                runbook.warnings.is_empty(),
                "{slug}: {:?}",
                runbook.warnings
            );
            assert!(runbook.phases.iter().all(|p| !p.steps.is_empty()), "{slug}");
        }
        let high_error_rate = Runbook::parse(SHIPPED[0].0, SHIPPED[0].1);
        let phases: Vec<(&str, Option<u32>)> = high_error_rate
            .phases
            .iter()
            .map(|p| (p.name.as_str(), p.budget_secs))
            .collect();
        assert_eq!(
            phases,
            [
                ("Initial Response", Some(300)),
                ("Investigation", Some(900)),
                ("Mitigation", None),
                ("Resolution", None),
                ("Post-Incident", None)
            ]
        );
    }

    #[tokio::test]
    async fn a_directory_runbook_replaces_a_shipped_one_and_bad_files_are_listed() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("high-latency.md"),
            "+++\ntitle = \"Our latency playbook\"\n+++\n### Look (1 min)\n- look\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("broken.md"), [0xff, 0xfe, 0x00]).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a runbook").expect("write");
        let library = RunbookLibrary::new(&RunbooksConfig {
            dir: Some(dir.path().to_owned()),
        });
        let all = library.all().await;
        assert_eq!(all.len(), SHIPPED.len() + 1);
        let latency = library.get("high-latency").await.expect("replaced");
        assert_eq!(latency.title, "Our latency playbook");
        let broken = library.get("broken").await.expect("listed");
        assert_eq!(broken.warnings, ["the file is not UTF-8 text"]);
    }
}
