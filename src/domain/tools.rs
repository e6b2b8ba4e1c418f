//! Differences between two versions of a server's tool list: the basis of drift.
use super::observation::Tool;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Tools whose input schema changed.
    pub changed: Vec<String>,
}

impl ToolDiff {
    pub fn between(before: &[Tool], after: &[Tool]) -> Self {
        let find = |list: &[Tool], name: &str| {
            list.iter()
                .find(|t| t.name == name)
                .map(|t| t.schema.clone())
        };
        let mut diff = Self::default();
        for tool in after {
            match find(before, &tool.name) {
                None => diff.added.push(tool.name.clone()),
                Some(schema) if schema != tool.schema => diff.changed.push(tool.name.clone()),
                Some(_) => {}
            }
        }
        diff.removed = before
            .iter()
            .filter(|t| find(after, &t.name).is_none())
            .map(|t| t.name.clone())
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// One line for an alert, e.g. "added: search; removed: fetch".
    pub fn summary(&self) -> String {
        [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what}: {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, schema: &str) -> Tool {
        Tool {
            name: name.into(),
            schema: schema.into(),
        }
    }

    #[test]
    fn added_removed_and_changed_tools_are_told_apart() {
        let before = [tool("a", "{}"), tool("b", "{}"), tool("c", "{\"x\":1}")];
        let after = [tool("a", "{}"), tool("c", "{\"x\":2}"), tool("d", "{}")];
        let diff = ToolDiff::between(&before, &after);
        assert_eq!(diff.added, vec!["d"]);
        assert_eq!(diff.removed, vec!["b"]);
        assert_eq!(diff.changed, vec!["c"]);
        assert_eq!(diff.summary(), "added: d; removed: b; changed: c");
        assert!(ToolDiff::between(&after, &after).is_empty());
    }
}
