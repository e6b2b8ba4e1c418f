//! A parser for the Prometheus text exposition format (0.0.4) and OpenMetrics text.
//!
//! Written here rather than taken from a crate: the collector needs line-numbered errors,
//! hard caps on samples and label sizes, and no panics on hostile input, which the small
//! crates on offer do not all promise. It borrows from the input and allocates only for
//! escaped label values.
use std::borrow::Cow;
use std::fmt;

/// Limits that keep one hostile scrape from costing more than a well-behaved one.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_samples: usize,
    pub max_labels: usize,
    pub max_label_value_bytes: usize,
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_samples: 50_000,
            max_labels: 32,
            max_label_value_bytes: 1024,
            max_line_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

impl Sample<'_> {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The text is not UTF-8; the line is where the first bad byte sits.
    InvalidUtf8 {
        line: usize,
    },
    Line {
        line: usize,
        reason: String,
    },
    TooManySamples {
        limit: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUtf8 { line } => write!(f, "invalid UTF-8 at line {line}"),
            Self::Line { line, reason } => write!(f, "parse error at line {line}: {reason}"),
            Self::TooManySamples { limit } => write!(f, "more than {limit} samples"),
        }
    }
}

/// Parsed samples, with the declared type of each family.
#[derive(Debug, Default)]
pub struct Exposition<'a> {
    pub samples: Vec<Sample<'a>>,
    pub types: Vec<(&'a str, MetricType)>,
}

impl Exposition<'_> {
    pub fn type_of(&self, family: &str) -> Option<MetricType> {
        self.types
            .iter()
            .find(|(n, _)| *n == family)
            .map(|(_, t)| *t)
    }
}

/// Checks the bytes are UTF-8, naming the line of the first bad byte.
pub fn decode(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    })
}

pub fn parse(text: &str, limits: Limits) -> Result<Exposition<'_>, ParseError> {
    let mut out = Exposition::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let fail = |reason: &str| ParseError::Line {
            line,
            reason: reason.to_owned(),
        };
        if raw.len() > limits.max_line_bytes {
            return Err(fail("line too long"));
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some((name, kind)) = parse_type_comment(comment).map_err(&fail)? {
                out.types.push((name, kind));
            }
            continue;
        }
        if out.samples.len() == limits.max_samples {
            return Err(ParseError::TooManySamples {
                limit: limits.max_samples,
            });
        }
        out.samples
            .push(parse_sample(trimmed, &limits).map_err(|r| fail(&r))?);
    }
    Ok(out)
}

/// `# TYPE name kind` gives a type; HELP, EOF and other comments give nothing.
fn parse_type_comment(comment: &str) -> Result<Option<(&str, MetricType)>, &'static str> {
    let mut words = comment.split_whitespace();
    if words.next() != Some("TYPE") {
        return Ok(None);
    }
    let name = words.next().ok_or("TYPE without a metric name")?;
    if !is_metric_name(name) {
        return Err("invalid metric name in TYPE");
    }
    let kind = match words.next().ok_or("TYPE without a type")? {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" | "gaugehistogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" | "unknown" | "info" | "stateset" => MetricType::Untyped,
        _ => return Err("unknown metric type"),
    };
    Ok(Some((name, kind)))
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_sample<'a>(line: &'a str, limits: &Limits) -> Result<Sample<'a>, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("invalid metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels, limits)?;
    }
    // OpenMetrics exemplars follow " # "; they are not part of the sample.
    let rest = rest.split_once(" # ").map_or(rest, |(before, _)| before);
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("missing value")?)?;
    let timestamp = fields
        .next()
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| format!("invalid timestamp '{}'", clip(t)))
        })
        .transpose()?;
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
    })
}

/// Parses `name="value",…}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(&'a str, Cow<'a, str>)>,
    limits: &Limits,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let label = rest[..eq].trim();
        if !is_label_name(label) {
            return Err(format!("invalid label name '{}'", clip(label)));
        }
        let after_eq = rest[eq + 1..].trim_start();
        let body = after_eq
            .strip_prefix('"')
            .ok_or("label value must be quoted")?;
        let (value, after_value) = parse_label_value(body)?;
        if value.len() > limits.max_label_value_bytes {
            return Err(format!(
                "label '{label}' value longer than {} bytes",
                limits.max_label_value_bytes
            ));
        }
        if labels.len() == limits.max_labels {
            return Err(format!(
                "more than {} labels on one sample",
                limits.max_labels
            ));
        }
        labels.push((label, value));
        rest = after_value.trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// Reads a quoted label value (after the opening quote), undoing \\, \" and \n.
fn parse_label_value(body: &str) -> Result<(Cow<'_, str>, &str), String> {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = owned.map_or(Cow::Borrowed(&body[..i]), Cow::Owned);
                return Ok((value, &body[i + 1..]));
            }
            b'\\' => {
                let escaped = match bytes.get(i + 1) {
                    Some(b'\\') => '\\',
                    Some(b'"') => '"',
                    Some(b'n') => '\n',
                    _ => return Err("invalid escape in label value".into()),
                };
                owned
                    .get_or_insert_with(|| body[..i].to_owned())
                    .push(escaped);
                i += 2;
            }
            _ => {
                let ch_len = body[i..].chars().next().map_or(1, char::len_utf8);
                if let Some(s) = owned.as_mut() {
                    s.push_str(&body[i..i + ch_len]);
                }
                i += ch_len;
            }
        }
    }
    Err("unterminated label value".into())
}

fn parse_value(raw: &str) -> Result<f64, String> {
    match raw {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => raw
            .parse::<f64>()
            .map_err(|_| format!("invalid value '{}'", clip(raw))),
    }
}

/// Keeps quoted input short in error messages.
fn clip(raw: &str) -> &str {
    let end = raw.char_indices().nth(40).map_or(raw.len(), |(i, _)| i);
    &raw[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Exposition<'_> {
        parse(text, Limits::default()).expect("parses")
    }

    #[test]
    fn parses_help_type_labels_and_special_values() {
        let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"two\"} 42 1700000000000\n\
                    h_bucket{le=\"+Inf\"} +Inf\nnan_metric NaN\nneg -Inf\nsci 1.5e3\n";
        let exp = parse_ok(text);
        assert_eq!(exp.type_of("x_total"), Some(MetricType::Counter));
        assert_eq!(exp.samples.len(), 5);
        assert_eq!(exp.samples[0].label("b"), Some("two"));
        assert_eq!(exp.samples[0].value, 42.0);
        assert_eq!(exp.samples[0].timestamp, Some(1_700_000_000_000.0));
        assert_eq!(exp.samples[1].label("le"), Some("+Inf"));
        assert!(exp.samples[1].value.is_infinite());
        assert!(exp.samples[2].value.is_nan());
        assert_eq!(exp.samples[4].value, 1500.0);
    }

    #[test]
    fn label_escapes_are_undone() {
        let exp = parse_ok(r#"m{path="C:\\dir",quote="say \"hi\"",nl="a\nb"} 1"#);
        assert_eq!(exp.samples[0].label("path"), Some(r"C:\dir"));
        assert_eq!(exp.samples[0].label("quote"), Some(r#"say "hi""#));
        assert_eq!(exp.samples[0].label("nl"), Some("a\nb"));
    }

    #[test]
    fn openmetrics_eof_exemplars_and_trailing_commas_are_accepted() {
        let text = "# TYPE r counter\nr_total{a=\"x\",} 3 # {trace_id=\"abc\"} 1.0\n# EOF\n";
        let exp = parse_ok(text);
        assert_eq!(exp.samples[0].value, 3.0);
        assert_eq!(exp.samples[0].labels.len(), 1);
    }

    #[test]
    fn garbage_is_reported_with_its_line_number() {
        let err = parse("ok 1\n\nthis is not a metric\n", Limits::default()).unwrap_err();
        assert_eq!(
            err,
            ParseError::Line {
                line: 3,
                reason: "invalid value 'is'".into()
            }
        );
        let err = parse("m{a=\"1\" 2\n", Limits::default()).unwrap_err();
        assert!(matches!(err, ParseError::Line { line: 1, .. }), "{err}");
        let err = parse("m{a=\"unterminated} 2\n", Limits::default()).unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");
    }

    #[test]
    fn sample_and_label_caps_are_enforced() {
        let limits = Limits {
            max_samples: 2,
            ..Limits::default()
        };
        assert_eq!(
            parse("a 1\nb 2\nc 3\n", limits).unwrap_err(),
            ParseError::TooManySamples { limit: 2 }
        );
        let many: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
        let err = parse(&format!("m{{{}}} 1", many.join(",")), Limits::default()).unwrap_err();
        assert!(err.to_string().contains("more than 32 labels"), "{err}");
        let huge = format!("m{{a=\"{}\"}} 1", "x".repeat(5000));
        assert!(
            parse(&huge, Limits::default())
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let bytes = b"a 1\nb 2\n\xff\xfe 3\n";
        assert_eq!(
            decode(bytes).unwrap_err(),
            ParseError::InvalidUtf8 { line: 3 }
        );
    }

    /// Text that looks like an exposition often enough to get past the first line.
    fn exposition_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let line = prop_oneof![
            "[a-z_]{1,12}( [-+0-9.eEInfNa]{1,12})?( [0-9]{1,13})?",
            "[a-z_]{1,8}\\{([a-z_]{1,4}=\"([^\"\\\\\n]|\\\\[n\"\\\\]){0,12}\",?){0,6}\\} [0-9.]{1,6}",
            "# (TYPE|HELP) [a-z_]{1,8} [a-z ]{0,12}",
            "\\PC{0,40}",
        ];
        proptest::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        #[test]
        fn fuzz_exposition_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text, Limits::default());
        }

        #[test]
        fn fuzz_exposition_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(text) = decode(&bytes) {
                let _ = parse(text, Limits::default());
            }
        }

        #[test]
        fn fuzz_exposition_holds_every_cap(text in exposition_like()) {
            let limits = Limits {
                max_samples: 5,
                max_labels: 3,
                max_label_value_bytes: 8,
                max_line_bytes: 64,
            };
            if let Ok(exposition) = parse(&text, limits) {
                proptest::prop_assert!(exposition.samples.len() <= 5);
                for sample in &exposition.samples {
                    proptest::prop_assert!(sample.labels.len() <= 3);
                    for (_, value) in &sample.labels {
                        proptest::prop_assert!(value.len() <= 8);
                    }
                }
            }
        }

        #[test]
        fn well_formed_samples_round_trip(
            name in "[a-z_][a-z0-9_]{0,20}",
            label in "[a-z_][a-z0-9_]{0,10}",
            value in "[ -~]{0,30}",
            number in -1.0e12f64..1.0e12,
        ) {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let text = format!("{name}{{{label}=\"{escaped}\"}} {number}\n");
            let exp = parse(&text, Limits::default()).expect("well-formed");
            proptest::prop_assert_eq!(exp.samples[0].name, name.as_str());
            proptest::prop_assert_eq!(exp.samples[0].label(&label), Some(value.as_str()));
            proptest::prop_assert_eq!(exp.samples[0].value, number);
        }
    }
}
