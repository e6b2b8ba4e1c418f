//! Synthetic tool calls ("checks"): a `tools/call` an admin defines for a target, run on its
//! own interval and judged against what a good answer is. Pure: the collector makes the
//! calls, the store keeps the results.
use super::observation::Tool;
use super::target::FieldErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;

pub const DEFAULT_INTERVAL_SECS: u32 = 60;
pub const MIN_INTERVAL_SECS: u32 = 10;
pub const MAX_INTERVAL_SECS: u32 = 86_400;
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// Arguments are sent on every call and stored with the check: a page of JSON at most.
pub const MAX_ARGUMENTS_BYTES: usize = 16 * 1024;
pub const MAX_CHECKS_PER_TARGET: usize = 20;
/// How much of an answer a failure reason quotes.
const QUOTE_CHARS: usize = 200;

/// What an admin asks for: the tool, its arguments, how often, and what a good answer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub tool: String,
    /// A JSON object, kept as entered.
    pub arguments: String,
    pub interval_secs: u32,
    pub timeout_ms: u32,
    /// The answer's text must contain this (empty: not checked).
    #[serde(default)]
    pub text_contains: String,
    /// An RFC 6901 pointer into the answer's JSON, and the JSON value it must hold there
    /// (empty: not checked).
    #[serde(default)]
    pub json_pointer: String,
    #[serde(default)]
    pub json_equals: String,
    /// Slower than this is slow; without it, slow is judged against the check's own calls.
    #[serde(default)]
    pub slow_ms: Option<u32>,
    /// The tool is not annotated read-only and an admin chose to call it anyway.
    #[serde(default)]
    pub override_read_only: bool,
}

/// A stored check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCheck {
    pub id: i64,
    pub target_id: i64,
    pub spec: CheckSpec,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The check form's raw fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckForm {
    pub tool: String,
    pub arguments: String,
    pub interval_secs: String,
    pub timeout_ms: String,
    pub text_contains: String,
    pub json_pointer: String,
    pub json_equals: String,
    pub slow_ms: String,
    /// A ticked checkbox sends `on`.
    pub override_read_only: Option<String>,
}

impl CheckSpec {
    /// Every bad field is reported by name; the tool itself is checked against the target's
    /// tool list by `allowed`, which needs the list.
    pub fn from_form(form: &CheckForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let tool = form.tool.trim();
        if tool.is_empty() {
            errors.add("tool", "pick a tool");
        } else if tool.chars().count() > 128 {
            errors.add("tool", "at most 128 characters");
        }
        let arguments = match form.arguments.trim() {
            "" => "{}".to_owned(),
            raw if raw.len() > MAX_ARGUMENTS_BYTES => {
                errors.add(
                    "arguments",
                    format!("at most {} KiB", MAX_ARGUMENTS_BYTES / 1024),
                );
                String::new()
            }
            raw => match serde_json::from_str::<Value>(raw) {
                Ok(Value::Object(_)) => raw.to_owned(),
                Ok(_) => {
                    errors.add(
                        "arguments",
                        "must be a JSON object, like {\"text\": \"hi\"}",
                    );
                    String::new()
                }
                Err(e) => {
                    errors.add("arguments", format!("not valid JSON: {e}"));
                    String::new()
                }
            },
        };
        let interval_secs = number(
            &form.interval_secs,
            DEFAULT_INTERVAL_SECS,
            MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS,
        )
        .unwrap_or_else(|message| {
            errors.add("interval_secs", message);
            0
        });
        let timeout_ms = number(&form.timeout_ms, DEFAULT_TIMEOUT_MS, 100..=MAX_TIMEOUT_MS)
            .unwrap_or_else(|message| {
                errors.add("timeout_ms", message);
                0
            });
        if interval_secs > 0 && u64::from(timeout_ms) > u64::from(interval_secs) * 1000 {
            errors.add("timeout_ms", "must be shorter than the interval");
        }
        let text_contains = form.text_contains.trim().to_owned();
        if text_contains.chars().count() > 1000 {
            errors.add("text_contains", "at most 1,000 characters");
        }
        let json_pointer = form.json_pointer.trim().to_owned();
        let json_equals = form.json_equals.trim().to_owned();
        match (json_pointer.as_str(), json_equals.as_str()) {
            ("", "") => {}
            ("", _) => errors.add("json_pointer", "say where to look, like /status"),
            (pointer, _) if !pointer.starts_with('/') => {
                errors.add("json_pointer", "a JSON pointer starts with /, like /status");
            }
            (_, "") => errors.add("json_equals", "say what it must equal, like \"ok\""),
            (_, equals) if equals.len() > MAX_ARGUMENTS_BYTES => {
                errors.add("json_equals", "too long");
            }
            (_, equals) => {
                if let Err(e) = serde_json::from_str::<Value>(equals) {
                    errors.add(
                        "json_equals",
                        format!("not valid JSON (a string needs quotes): {e}"),
                    );
                }
            }
        }
        let slow_ms = match form.slow_ms.trim() {
            "" => None,
            raw => match raw.parse::<u32>() {
                Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Some(ms),
                _ => {
                    errors.add(
                        "slow_ms",
                        format!("a number of ms from 1 to {MAX_TIMEOUT_MS}"),
                    );
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            tool: tool.to_owned(),
            arguments,
            interval_secs,
            timeout_ms,
            text_contains,
            json_pointer,
            json_equals,
            slow_ms,
            override_read_only: form.override_read_only.is_some(),
        })
    }

    /// The arguments as JSON; a stored check always holds an object.
    pub fn arguments_json(&self) -> Value {
        serde_json::from_str(&self.arguments).unwrap_or_else(|_| Value::Object(Default::default()))
    }

    /// Whether the target's tool list lets this check call its tool: only a tool annotated
    /// `readOnlyHint: true`, unless the admin overrode that.
    pub fn allowed<'t>(&self, tools: &'t [Tool]) -> Result<&'t Tool, String> {
        let tool = tools
            .iter()
            .find(|t| t.name == self.tool)
            .ok_or_else(|| format!("{} is not in the target's tool list", self.tool))?;
        if tool.read_only || self.override_read_only {
            Ok(tool)
        } else {
            Err(format!(
                "{} is not annotated read-only (readOnlyHint); a call may change something. \
                 Tick the override to call it anyway",
                self.tool
            ))
        }
    }

    /// Judges a `tools/call` result: `isError` must be false, then the optional text and
    /// JSON expectations must hold.
    pub fn judge(&self, result: &Value) -> Result<(), String> {
        let text = answer_text(result);
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("the tool answered isError: {}", quote(&text)));
        }
        if !self.text_contains.is_empty() && !text.contains(&self.text_contains) {
            return Err(format!(
                "the answer does not contain \"{}\": {}",
                self.text_contains,
                quote(&text)
            ));
        }
        if self.json_pointer.is_empty() {
            return Ok(());
        }
        let expected: Value = serde_json::from_str(&self.json_equals)
            .map_err(|e| format!("expected value is not JSON: {e}"))?;
        // Structured content when the tool gives it, otherwise its text read as JSON.
        let document = match result.get("structuredContent") {
            Some(structured) => structured.clone(),
            None => serde_json::from_str(&text)
                .map_err(|_| format!("the answer is not JSON: {}", quote(&text)))?,
        };
        match document.pointer(&self.json_pointer) {
            Some(found) if *found == expected => Ok(()),
            Some(found) => Err(format!(
                "{} is {}, expected {}",
                self.json_pointer,
                quote(&found.to_string()),
                expected
            )),
            None => Err(format!("the answer has nothing at {}", self.json_pointer)),
        }
    }
}

fn number(raw: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    let message = || format!("a whole number from {} to {}", range.start(), range.end());
    match raw.trim() {
        "" => Ok(default),
        raw => raw
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(message),
    }
}

/// The text items of a `tools/call` result's content, joined by newlines.
fn answer_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    if quoted.is_empty() {
        "(no text)".to_owned()
    } else {
        quoted
    }
}

/// How one call went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    Passed,
    /// An error answer, an answer that is not what was expected, a timeout, or no answer.
    Failed(String),
    /// Not called, and why (the tool left the target's tool list).
    Skipped(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Passed => None,
            Self::Failed(reason) | Self::Skipped(reason) => Some(reason),
        }
    }

    pub fn from_parts(outcome: &str, reason: Option<String>) -> Self {
        match (outcome, reason) {
            ("passed", _) => Self::Passed,
            ("skipped", reason) => Self::Skipped(reason.unwrap_or_default()),
            (_, reason) => Self::Failed(reason.unwrap_or_default()),
        }
    }
}

/// One call of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check_id: i64,
    pub target_id: i64,
    pub at: DateTime<Utc>,
    /// How long the call took; none when it was skipped.
    pub ms: Option<f64>,
    pub outcome: Outcome,
}

/// Where a check stands after its latest call, as the target's status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub check_id: i64,
    pub tool: String,
    pub last: CheckResult,
    /// Set once calls fail in a row (`FAILING_AFTER`): one failed call is a blip.
    pub failing: Option<String>,
    /// Set once passing calls are slow in a row (`SLOW_AFTER`), with how slow.
    pub slow: Option<String>,
}

/// Failed calls in a row before a check is failing.
pub const FAILING_AFTER: usize = 2;
/// Slow calls in a row before a check is slow.
pub const SLOW_AFTER: usize = 3;
/// Passing calls a learned baseline needs.
const BASELINE_MIN_CALLS: usize = 5;
/// Calls remembered per check.
const HISTORY: usize = 30;

/// The recent calls of one check, newest last, as the collector keeps them.
#[derive(Debug, Clone, Default)]
pub struct CheckHistory {
    calls: VecDeque<(f64, bool)>,
}

impl CheckHistory {
    /// Adds a call and says where the check stands; skipped calls leave the history as is.
    pub fn push(&mut self, tool: &str, spec: &CheckSpec, result: CheckResult) -> CheckStatus {
        if let Some(ms) = result.ms
            && !matches!(result.outcome, Outcome::Skipped(_))
        {
            if self.calls.len() == HISTORY {
                self.calls.pop_front();
            }
            self.calls
                .push_back((ms, result.outcome == Outcome::Passed));
        }
        let failing = match &result.outcome {
            Outcome::Failed(reason) if self.failed_in_a_row() >= FAILING_AFTER => Some(format!(
                "{tool}: {} calls in a row failed, the last: {reason}",
                self.failed_in_a_row()
            )),
            _ => None,
        };
        CheckStatus {
            check_id: result.check_id,
            tool: tool.to_owned(),
            slow: self.slow(tool, spec.slow_ms),
            failing,
            last: result,
        }
    }

    fn failed_in_a_row(&self) -> usize {
        self.calls.iter().rev().take_while(|(_, ok)| !ok).count()
    }

    /// Slow when the latest `SLOW_AFTER` calls all passed above the threshold: the one set,
    /// or three times the median of the calls before them and 100 ms more than it (so a
    /// 2 ms tool taking 7 ms is not slow).
    fn slow(&self, tool: &str, slow_ms: Option<u32>) -> Option<String> {
        if self.calls.len() < SLOW_AFTER {
            return None;
        }
        let split = self.calls.len() - SLOW_AFTER;
        let latest: Vec<f64> = self.calls.range(split..).map(|(ms, _)| *ms).collect();
        if self.calls.range(split..).any(|(_, ok)| !ok) {
            return None;
        }
        let (threshold, why) = match slow_ms {
            Some(ms) => (f64::from(ms), format!("the {ms} ms set for it")),
            None => {
                let mut before: Vec<f64> = self
                    .calls
                    .range(..split)
                    .filter(|(_, ok)| *ok)
                    .map(|(ms, _)| *ms)
                    .collect();
                if before.len() < BASELINE_MIN_CALLS {
                    return None;
                }
                before.sort_by(f64::total_cmp);
                let median = before[before.len() / 2];
                (
                    (median * 3.0).max(median + 100.0),
                    format!("its usual {median:.0} ms"),
                )
            }
        };
        let fastest = latest.iter().copied().fold(f64::INFINITY, f64::min);
        (fastest > threshold).then(|| {
            format!(
                "{tool}: the last {SLOW_AFTER} calls took {fastest:.0} ms or more, against {why}"
            )
        })
    }
}

/// A check's calls over a window, for pages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    pub calls: usize,
    pub failures: usize,
    pub skipped: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

impl CheckSummary {
    pub fn of(results: &[CheckResult]) -> Self {
        let mut latencies: Vec<f64> = results
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::Skipped(_)))
            .filter_map(|r| r.ms)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let rank = |q: f64| -> Option<f64> {
            let last = latencies.len().checked_sub(1)?;
            Some(latencies[((last as f64) * q).round() as usize])
        };
        Self {
            calls: latencies.len(),
            failures: results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .count(),
            skipped: results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
                .count(),
            p50_ms: rank(0.5),
            p95_ms: rank(0.95),
        }
    }

    /// Failed calls as a share of calls made, in percent.
    pub fn error_pct(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failures as f64 * 100.0 / self.calls as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(tool: &str, arguments: &str) -> CheckForm {
        CheckForm {
            tool: tool.into(),
            arguments: arguments.into(),
            ..CheckForm::default()
        }
    }

    fn spec() -> CheckSpec {
        CheckSpec::from_form(&form("echo", r#"{"message": "hi"}"#)).expect("valid")
    }

    fn result(ms: f64, outcome: Outcome) -> CheckResult {
        CheckResult {
            check_id: 1,
            target_id: 1,
            at: Utc::now(),
            ms: Some(ms),
            outcome,
        }
    }

    #[test]
    fn a_form_with_defaults_is_a_check_every_minute() {
        let spec = spec();
        assert_eq!(spec.interval_secs, DEFAULT_INTERVAL_SECS);
        assert_eq!(spec.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(spec.arguments_json(), json!({"message": "hi"}));
        assert!(!spec.override_read_only);
    }

    #[test]
    fn bad_fields_are_each_named_with_the_reason() {
        let bad = CheckForm {
            tool: String::new(),
            arguments: "{not json".into(),
            interval_secs: "5".into(),
            timeout_ms: "abc".into(),
            json_pointer: "status".into(),
            json_equals: "ok".into(),
            slow_ms: "-3".into(),
            ..CheckForm::default()
        };
        let errors = CheckSpec::from_form(&bad).expect_err("invalid");
        assert_eq!(errors.get("tool"), Some("pick a tool"));
        assert!(
            errors
                .get("arguments")
                .is_some_and(|m| m.starts_with("not valid JSON"))
        );
        assert!(
            errors
                .get("interval_secs")
                .is_some_and(|m| m.contains("10 to 86400"))
        );
        assert!(errors.get("timeout_ms").is_some());
        assert!(
            errors
                .get("json_pointer")
                .is_some_and(|m| m.contains("starts with /"))
        );
        assert!(errors.get("slow_ms").is_some());
        let array = CheckSpec::from_form(&form("echo", "[1]")).expect_err("not an object");
        assert!(
            array
                .get("arguments")
                .is_some_and(|m| m.contains("JSON object"))
        );
        let unquoted = CheckForm {
            json_pointer: "/status".into(),
            json_equals: "ok".into(),
            ..form("echo", "{}")
        };
        let errors = CheckSpec::from_form(&unquoted).expect_err("unquoted string");
        assert!(
            errors
                .get("json_equals")
                .is_some_and(|m| m.contains("needs quotes"))
        );
        let slow_timeout = CheckForm {
            interval_secs: "10".into(),
            timeout_ms: "20000".into(),
            ..form("echo", "{}")
        };
        let errors = CheckSpec::from_form(&slow_timeout).expect_err("timeout over interval");
        assert_eq!(
            errors.get("timeout_ms"),
            Some("must be shorter than the interval")
        );
    }

    #[test]
    fn only_read_only_tools_are_called_unless_overridden() {
        let tools = [
            Tool {
                name: "echo".into(),
                schema: "{}".into(),
                read_only: true,
            },
            Tool {
                name: "delete".into(),
                schema: "{}".into(),
                read_only: false,
            },
        ];
        assert!(spec().allowed(&tools).is_ok());
        let mut delete = CheckSpec::from_form(&form("delete", "{}")).expect("valid");
        let refused = delete.allowed(&tools).expect_err("not read-only");
        assert!(refused.contains("not annotated read-only"), "{refused}");
        delete.override_read_only = true;
        assert!(delete.allowed(&tools).is_ok());
        let gone = CheckSpec::from_form(&form("gone", "{}")).expect("valid");
        assert!(gone.allowed(&tools).is_err());
    }

    #[test]
    fn answers_are_judged_on_is_error_text_and_json_pointer() {
        let text = |t: &str| json!({"content": [{"type": "text", "text": t}]});
        let mut spec = spec();
        assert_eq!(spec.judge(&text("Echo: hi")), Ok(()));
        let error = json!({"isError": true, "content": [{"type": "text", "text": "boom"}]});
        assert_eq!(
            spec.judge(&error),
            Err("the tool answered isError: boom".into())
        );
        spec.text_contains = "Echo: hi".into();
        assert_eq!(spec.judge(&text("Echo: hi")), Ok(()));
        assert!(spec.judge(&text("Echo: bye")).is_err());
        spec.text_contains.clear();
        spec.json_pointer = "/status".into();
        spec.json_equals = "\"ok\"".into();
        assert_eq!(spec.judge(&text(r#"{"status": "ok"}"#)), Ok(()));
        assert_eq!(
            spec.judge(&text(r#"{"status": "down"}"#)),
            Err("/status is \"down\", expected \"ok\"".into())
        );
        assert_eq!(
            spec.judge(&json!({"content": [], "structuredContent": {"status": "ok"}})),
            Ok(())
        );
        assert_eq!(
            spec.judge(&text("{}")),
            Err("the answer has nothing at /status".into())
        );
        assert!(
            spec.judge(&text("plain words"))
                .is_err_and(|e| e.contains("not JSON"))
        );
    }

    #[test]
    fn a_check_fails_after_two_failed_calls_in_a_row() {
        let spec = spec();
        let mut history = CheckHistory::default();
        let failed = || Outcome::Failed("timed out".into());
        assert!(
            history
                .push("echo", &spec, result(5.0, failed()))
                .failing
                .is_none()
        );
        let status = history.push("echo", &spec, result(5.0, failed()));
        assert_eq!(
            status.failing.as_deref(),
            Some("echo: 2 calls in a row failed, the last: timed out")
        );
        let skipped = Outcome::Skipped("gone".into());
        assert!(
            history
                .push("echo", &spec, result(0.0, skipped))
                .failing
                .is_none()
        );
        assert!(
            history
                .push("echo", &spec, result(5.0, Outcome::Passed))
                .failing
                .is_none()
        );
    }

    #[test]
    fn slow_is_three_slow_calls_against_the_baseline_or_the_set_threshold() {
        let spec = spec();
        let mut history = CheckHistory::default();
        for _ in 0..5 {
            history.push("echo", &spec, result(20.0, Outcome::Passed));
        }
        // 3 × 20 ms is 60 ms, but 20 + 100 ms is the higher bar.
        for _ in 0..3 {
            let status = history.push("echo", &spec, result(110.0, Outcome::Passed));
            assert!(status.slow.is_none());
        }
        let mut history = CheckHistory::default();
        for _ in 0..5 {
            history.push("echo", &spec, result(20.0, Outcome::Passed));
        }
        let statuses: Vec<CheckStatus> = (0..3)
            .map(|_| history.push("echo", &spec, result(400.0, Outcome::Passed)))
            .collect();
        assert!(statuses[1].slow.is_none());
        assert_eq!(
            statuses[2].slow.as_deref(),
            Some("echo: the last 3 calls took 400 ms or more, against its usual 20 ms")
        );
        let set = CheckSpec {
            slow_ms: Some(50),
            ..spec.clone()
        };
        let mut history = CheckHistory::default();
        let statuses: Vec<CheckStatus> = (0..3)
            .map(|_| history.push("echo", &set, result(60.0, Outcome::Passed)))
            .collect();
        assert!(
            statuses[2]
                .slow
                .as_deref()
                .is_some_and(|s| s.contains("the 50 ms set"))
        );
    }

    #[test]
    fn a_summary_counts_failures_apart_from_skipped_calls() {
        let results = vec![
            result(10.0, Outcome::Passed),
            result(30.0, Outcome::Passed),
            result(20.0, Outcome::Failed("x".into())),
            CheckResult {
                ms: None,
                ..result(0.0, Outcome::Skipped("gone".into()))
            },
        ];
        let summary = CheckSummary::of(&results);
        assert_eq!(summary.calls, 3);
        assert_eq!(summary.failures, 1);
        assert_eq!(summary.skipped, 1);
        assert_eq!(summary.p50_ms, Some(20.0));
        assert_eq!(summary.p95_ms, Some(30.0));
        assert!((summary.error_pct().expect("calls") - 100.0 / 3.0).abs() < 1e-9);
    }
}
