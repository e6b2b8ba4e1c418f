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

/// The tool lists of a target's recent listings, newest last. A 2026-07-28 server is
/// stateless, so polls of one URL may reach different instances behind it: lists that go
/// back and forth are instances that disagree, not a stream of changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentListings(std::collections::VecDeque<Vec<Tool>>);

impl RecentListings {
    /// Listings looked back over; at the default five minutes between listings, half an hour.
    pub const KEPT: usize = 6;

    pub fn push(&mut self, tools: &[Tool]) {
        if self.0.len() == Self::KEPT {
            self.0.pop_front();
        }
        self.0.push_back(tools.to_vec());
    }

    /// How many different lists the instances serve, when the lists seen lately went back to
    /// one seen before a different one; `None` while they are one list, or one change.
    pub fn disagreement(&self) -> Option<usize> {
        instances_disagree(self.0.iter().map(Vec::as_slice))
    }
}

/// How many different lists there are when the lists, oldest first, go back to an earlier
/// one after a different one (A, B, A); `None` when they do not.
pub fn instances_disagree<'a>(lists: impl IntoIterator<Item = &'a [Tool]>) -> Option<usize> {
    let mut seen: Vec<&[Tool]> = Vec::new();
    let mut went_back = false;
    for list in lists {
        match seen.iter().position(|s| *s == list) {
            Some(i) if i + 1 != seen.len() => {
                went_back = true;
                let earlier = seen.remove(i);
                seen.push(earlier);
            }
            Some(_) => {}
            None => seen.push(list),
        }
    }
    went_back.then_some(seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_that_go_back_and_forth_are_instances_that_disagree() {
        let a = vec![tool("search", "{}")];
        let b = vec![tool("search", "{}"), tool("fetch", "{}")];
        let mut recent = RecentListings::default();
        recent.push(&a);
        recent.push(&a);
        assert_eq!(recent.disagreement(), None, "one list");
        recent.push(&b);
        assert_eq!(
            recent.disagreement(),
            None,
            "one change is drift, not disagreement"
        );
        recent.push(&a);
        assert_eq!(recent.disagreement(), Some(2));
        recent.push(&b);
        assert_eq!(recent.disagreement(), Some(2));
        // A change that sticks: once the flips leave the window, it is one list again.
        for _ in 0..RecentListings::KEPT {
            recent.push(&b);
        }
        assert_eq!(recent.disagreement(), None);
    }

    fn tool(name: &str, schema: &str) -> Tool {
        Tool {
            name: name.into(),
            schema: schema.into(),
            read_only: false,
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
