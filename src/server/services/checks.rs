//! Synthetic tool calls on the server side: the arguments an admin enters are checked
//! against the tool's input schema before the check is saved.
use serde_json::Value;

/// How many schema problems a refusal lists.
const MAX_PROBLEMS: usize = 3;

/// Whether `arguments` match the tool's input schema (canonical JSON text, as listed). A
/// schema that is missing or not valid JSON Schema checks nothing: the server is the judge.
pub fn match_schema(schema: &str, arguments: &Value) -> Result<(), String> {
    let Ok(schema) = serde_json::from_str::<Value>(schema) else {
        return Ok(());
    };
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return Ok(());
    };
    let problems: Vec<String> = validator
        .iter_errors(arguments)
        .take(MAX_PROBLEMS)
        .map(|err| match err.instance_path().to_string() {
            path if path.is_empty() => err.to_string(),
            path => format!("{path}: {err}"),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "do not match the tool's input schema: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::match_schema;
    use serde_json::json;

    const ECHO: &str =
        r#"{"properties":{"message":{"type":"string"}},"required":["message"],"type":"object"}"#;

    #[test]
    fn arguments_are_held_to_the_tool_schema() {
        assert_eq!(match_schema(ECHO, &json!({"message": "hi"})), Ok(()));
        let missing = match_schema(ECHO, &json!({})).expect_err("required");
        assert!(
            missing.contains("\"message\" is a required property"),
            "{missing}"
        );
        let wrong = match_schema(ECHO, &json!({"message": 3})).expect_err("type");
        assert!(
            wrong.starts_with("do not match the tool's input schema: /message:"),
            "{wrong}"
        );
    }

    #[test]
    fn a_schema_that_is_not_one_checks_nothing() {
        assert_eq!(match_schema("", &json!({"a": 1})), Ok(()));
        assert_eq!(match_schema(r#"{"type": 12}"#, &json!({"a": 1})), Ok(()));
    }
}
