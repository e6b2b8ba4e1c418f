//! Runbooks: Markdown with TOML front matter, whose headings are phases (with an optional
//! time budget, e.g. `### Initial Response (5 min)`) and whose list items are steps.
use super::alerts::{RuleKind, Severity};
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

/// One phase of a runbook: its checklist and, when the heading gives one, its time budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub budget_secs: Option<u32>,
    pub steps: Vec<String>,
}

/// A parsed runbook. A runbook that cannot be fully understood is still listed and readable,
/// with `warnings` saying what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    pub rules: Vec<String>,
    pub severity: Option<Severity>,
    pub phases: Vec<Phase>,
    /// The Markdown after the front matter, as written (rendered and sanitised on the server).
    pub body: String,
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
    severity: Option<String>,
}

/// A heading's phase name and budget in seconds: "Initial Response (5 min)" →
/// ("Initial Response", 300). Seconds ("(30 s)") are for drills and tests.
pub fn phase_heading(text: &str) -> (String, Option<u32>) {
    let text = text.trim();
    if let Some(open) = text.rfind('(')
        && let Some(inner) = text[open + 1..].strip_suffix(')')
    {
        let mut words = inner.split_whitespace();
        let amount = words.next().and_then(|n| n.parse::<u32>().ok());
        let unit = words.next().unwrap_or_default().to_ascii_lowercase();
        let scale = match unit.as_str() {
            "min" | "mins" | "minute" | "minutes" | "m" => Some(60),
            "s" | "sec" | "secs" | "second" | "seconds" => Some(1),
            _ => None,
        };
        if let (Some(amount), Some(scale), None) = (amount, scale, words.next()) {
            return (
                text[..open].trim().to_owned(),
                Some(amount.saturating_mul(scale)),
            );
        }
    }
    (text.to_owned(), None)
}

impl Runbook {
    pub fn parse(slug: &str, source: &str) -> Self {
        let mut warnings = Vec::new();
        let (front, body) = split_front_matter(source);
        let front = match front.map(toml::from_str::<FrontMatter>) {
            Some(Ok(front)) => Some(front),
            Some(Err(err)) => {
                let reason = err.message().to_owned();
                warnings.push(format!("front matter is not valid TOML: {reason}"));
                None
            }
            None => {
                warnings.push("no front matter (+++ … +++): no title, tags or rules".into());
                None
            }
        };
        let (phases, first_heading) = parse_phases(body);
        if phases.is_empty() {
            warnings.push("no phases: add headings such as `### Initial Response (5 min)`".into());
        } else if phases.iter().all(|p| p.steps.is_empty()) {
            warnings.push("no steps: list items under a phase heading become its checklist".into());
        }
        let (title, tags, rules, severity) = match front {
            Some(front) => {
                for rule in &front.rules {
                    if RuleKind::parse(rule).is_none() && rule != "backup_rpo" {
                        warnings.push(format!("unknown rule '{rule}' in front matter"));
                    }
                }
                let severity = front.severity.as_deref().and_then(|raw| {
                    let parsed = Severity::parse(raw);
                    if parsed.is_none() {
                        warnings.push(format!("unknown severity '{raw}'"));
                    }
                    parsed
                });
                (front.title, front.tags, front.rules, severity)
            }
            None => (None, Vec::new(), Vec::new(), None),
        };
        let title = title
            .filter(|t| !t.trim().is_empty())
            .or(first_heading)
            .unwrap_or_else(|| slug.to_owned());
        Self {
            slug: slug.to_owned(),
            title,
            tags,
            rules,
            severity,
            phases,
            body: body.to_owned(),
            warnings,
        }
    }

    /// Whether every word of `query` is in the title, a tag or a step (case-insensitive).
    pub fn matches(&self, query: &str) -> bool {
        let haystack = std::iter::once(self.title.as_str())
            .chain(self.tags.iter().map(String::as_str))
            .chain(self.rules.iter().map(String::as_str))
            .chain(self.phases.iter().map(|p| p.name.as_str()))
            .chain(
                self.phases
                    .iter()
                    .flat_map(|p| p.steps.iter().map(String::as_str)),
            )
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        query
            .split_whitespace()
            .all(|word| haystack.contains(&word.to_lowercase()))
    }

    pub fn serves(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r == rule)
    }
}

fn split_front_matter(source: &str) -> (Option<&str>, &str) {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let Some(rest) = source
        .strip_prefix("+++\n")
        .or_else(|| source.strip_prefix("+++\r\n"))
    else {
        return (None, source);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    // An opening fence that never closes: treat the whole file as the body.
    (Some(""), source)
}

/// Phases from the headings below the title (level 2 and deeper), and the first level-1
/// heading as a fallback title. Only top-level list items are steps.
fn parse_phases(body: &str) -> (Vec<Phase>, Option<String>) {
    let mut phases: Vec<Phase> = Vec::new();
    let mut first_heading = None;
    let mut heading: Option<(HeadingLevel, String)> = None;
    let mut list_depth = 0usize;
    let mut item: Option<String> = None;
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    if level == HeadingLevel::H1 {
                        first_heading.get_or_insert(text.trim().to_owned());
                    } else {
                        let (name, budget_secs) = phase_heading(&text);
                        phases.push(Phase {
                            name,
                            budget_secs,
                            steps: Vec::new(),
                        });
                    }
                }
            }
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) if list_depth == 1 => item = Some(String::new()),
            Event::End(TagEnd::Item) if list_depth == 1 => {
                if let (Some(text), Some(phase)) = (item.take(), phases.last_mut()) {
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        phase.steps.push(text);
                    }
                }
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&text);
                } else if let Some(item) = item.as_mut().filter(|_| list_depth == 1) {
                    item.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(item) = item.as_mut() {
                    item.push(' ');
                }
            }
            _ => {}
        }
    }
    (phases, first_heading)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIGH_ERROR_RATE: &str = "+++\ntitle = \"High Error Rate\"\ntags = [\"errors\"]\n\
        rules = [\"error_rate\"]\nseverity = \"critical\"\n+++\n\nWhen errors climb.\n\n\
        ### Initial Response (5 min)\n\n- Check the `error_rate` panel\n- Page the owner\n  of the service\n\n\
        ### Investigation (15 min)\n\n- Read the logs\n  - nested detail is not a step\n\n\
        ### Mitigation\n\n1. Roll back\n2. Scale up\n";

    #[test]
    fn headings_are_phases_with_budgets_and_list_items_are_steps() {
        let runbook = Runbook::parse("high-error-rate", HIGH_ERROR_RATE);
        assert!(runbook.warnings.is_empty(), "{:?}", runbook.warnings);
        assert_eq!(runbook.title, "High Error Rate");
        assert_eq!(runbook.severity, Some(Severity::Critical));
        let summary: Vec<(&str, Option<u32>, usize)> = runbook
            .phases
            .iter()
            .map(|p| (p.name.as_str(), p.budget_secs, p.steps.len()))
            .collect();
        assert_eq!(
            summary,
            [
                ("Initial Response", Some(300), 2),
                ("Investigation", Some(900), 1),
                ("Mitigation", None, 2)
            ]
        );
        assert_eq!(runbook.phases[0].steps[0], "Check the error_rate panel");
        assert_eq!(runbook.phases[0].steps[1], "Page the owner of the service");
        assert!(runbook.serves("error_rate"));
    }

    #[test]
    fn phase_budgets_accept_common_spellings_and_nothing_else() {
        assert_eq!(
            phase_heading("Watch (10 minutes)"),
            ("Watch".into(), Some(600))
        );
        assert_eq!(
            phase_heading("Restore (20 min)"),
            ("Restore".into(), Some(1200))
        );
        assert_eq!(phase_heading("Drill (30 s)"), ("Drill".into(), Some(30)));
        assert_eq!(
            phase_heading("Roll Out (per batch)"),
            ("Roll Out (per batch)".into(), None)
        );
        assert_eq!(phase_heading("Mitigation"), ("Mitigation".into(), None));
    }

    #[test]
    fn broken_front_matter_and_no_phases_are_warnings_not_failures() {
        let broken = Runbook::parse(
            "broken",
            "+++\ntitle = \n+++\n# Fallback title\n\nJust prose.\n",
        );
        assert_eq!(broken.title, "Fallback title");
        assert_eq!(broken.warnings.len(), 2, "{:?}", broken.warnings);
        assert!(broken.warnings[0].contains("front matter"));
        assert!(broken.warnings[1].contains("no phases"));
        assert!(broken.body.contains("Just prose."));
        let bare = Runbook::parse("bare", "no fences at all");
        assert_eq!(bare.title, "bare");
        assert!(bare.warnings[0].contains("no front matter"));
    }

    #[test]
    fn search_covers_title_tags_and_steps() {
        let runbook = Runbook::parse("high-error-rate", HIGH_ERROR_RATE);
        assert!(runbook.matches("roll BACK"));
        assert!(runbook.matches("errors owner"));
        assert!(!runbook.matches("memory"));
    }
}
