//! The shipped runbooks contain the operations guide's procedures word for word: every step,
//! heading, comment, command and figure listed in `runbooks/guide-steps.toml` (each with the
//! guide's line it comes from) is in its runbook, and every step, heading and comment line
//! of the guide's procedures is listed. Runbooks may add to the guide, never drop from it.
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct GuideSteps {
    procedure: Vec<Procedure>,
    step: Vec<Step>,
}

#[derive(Deserialize)]
struct Procedure {
    name: String,
    lines: [usize; 2],
    runbook: String,
}

#[derive(Deserialize)]
struct Step {
    line: usize,
    text: String,
    runbook: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Text as compared: case, Markdown emphasis and code marks, and line breaks aside.
fn words(text: &str) -> String {
    text.replace('`', "")
        .replace("**", "")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a line of a procedure says, when it is a step, a heading or a code comment.
fn step_of(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with("#!") {
        return None;
    }
    let (mark, rest) = line.split_once(' ')?;
    let numbered =
        mark.ends_with('.') && mark[..mark.len() - 1].chars().all(|c| c.is_ascii_digit());
    (numbered || mark == "-" || mark.chars().all(|c| c == '#')).then_some(rest.trim())
}

#[test]
fn every_step_of_the_guides_procedures_is_in_its_shipped_runbook() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = read(&root.join("../shared/operations-guide.txt"));
    let guide: Vec<&str> = guide.lines().collect();
    let list: GuideSteps =
        toml::from_str(&read(&root.join("runbooks/guide-steps.toml"))).expect("guide-steps.toml");
    let mut problems = Vec::new();
    for step in &list.step {
        let line = guide
            .get(step.line.wrapping_sub(1))
            .copied()
            .unwrap_or_default();
        if !line.contains(&step.text) {
            problems.push(format!(
                "guide line {} does not say '{}': '{line}'",
                step.line, step.text
            ));
        }
        let runbook = read(&root.join(format!("runbooks/{}.md", step.runbook)));
        if !words(&runbook).contains(&words(&step.text)) {
            problems.push(format!(
                "{}.md lacks '{}' (guide line {})",
                step.runbook, step.text, step.line
            ));
        }
    }
    for procedure in &list.procedure {
        let [from, to] = procedure.lines;
        assert!(
            from <= to && to <= guide.len(),
            "{}: lines {from}-{to}",
            procedure.name
        );
        for number in from..=to {
            let Some(said) = step_of(guide[number - 1]) else {
                continue;
            };
            let listed = list.step.iter().any(|s| {
                s.line == number && s.runbook == procedure.runbook && said.contains(&s.text)
            });
            if !listed {
                problems.push(format!(
                    "{} (guide line {number}, '{said}') is not listed for {}.md",
                    procedure.name, procedure.runbook
                ));
            }
        }
    }
    // The guide's procedures: its disaster recovery, rolling update, troubleshooting and
    // sample runbook sections.
    let named: Vec<&str> = list.procedure.iter().map(|p| p.name.as_str()).collect();
    for section in [
        "Disaster Recovery",
        "Zero-Downtime Maintenance",
        "High Latency",
        "Memory Leaks",
        "Connection Errors",
        "Sample Runbook: High Error Rate",
    ] {
        if !named.contains(&section) {
            problems.push(format!("the procedure '{section}' is not listed"));
        }
        // 1-based, as the list counts lines; a procedure starts at its heading or just below.
        let heading = guide
            .iter()
            .position(|l| l.trim() == section)
            .map(|i| i + 1);
        let covered = list
            .procedure
            .iter()
            .find(|p| p.name == section)
            .zip(heading)
            .is_some_and(|(p, heading)| (heading..=heading + 2).contains(&p.lines[0]));
        if !covered {
            problems.push(format!(
                "the procedure '{section}' does not start at its heading"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
