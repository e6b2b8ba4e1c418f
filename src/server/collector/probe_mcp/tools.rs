//! `tools/list`, page by page, cut at what mcpops keeps of a list.
use super::*;

/// Where `tools/list` pages are asked for.
pub(super) enum ToolPages<'p, 'a> {
    Post {
        probe: &'p McpProbe<'a>,
        session: Option<&'p Session>,
        version: &'p str,
    },
    Legacy {
        probe: &'p McpProbe<'a>,
        stream: &'p mut LegacyStream,
    },
}

impl ToolPages<'_, '_> {
    pub(super) async fn page(&mut self, n: usize, params: Value) -> Result<Value, ProbeError> {
        match self {
            Self::Post {
                probe,
                session,
                version,
            } => {
                probe
                    .call(*session, version, 10 + n as i64, "tools/list", params)
                    .await
            }
            Self::Legacy { probe, stream } => {
                stream
                    .request(probe.client, probe.limits, "tools/list", params)
                    .await
            }
        }
    }
}

/// A tool list, sorted by name, and where it was cut, if it was.
pub(super) struct ToolListing {
    pub(super) tools: Vec<Tool>,
    pub(super) cut: Option<String>,
}

/// Follows `nextCursor` through at most `MAX_TOOL_PAGES` pages, `MAX_TOOLS` tools and
/// `MAX_SCHEMA_BYTES` of schemas; a list past any of them is cut there, and says so.
pub(super) async fn list_tools(mut pages: ToolPages<'_, '_>) -> Result<ToolListing, ProbeError> {
    let mut tools = Vec::new();
    let mut schema_bytes = 0;
    let mut cursor: Option<String> = None;
    let mut cut = None;
    for n in 0..MAX_TOOL_PAGES {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let result = pages.page(n, params).await?;
        let listed = result
            .get("tools")
            .and_then(Value::as_array)
            .ok_or_else(|| ProbeError::Protocol("tools/list result has no tools array".into()))?;
        let room = MAX_TOOLS.saturating_sub(tools.len());
        if listed.len() > room {
            cut = Some(format!(
                "the server lists more than {MAX_TOOLS} tools; the first {MAX_TOOLS} are kept"
            ));
        }
        for tool in listed.iter().take(room) {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
            let schema = tool
                .get("inputSchema")
                .map(canonical_json)
                .unwrap_or_default();
            schema_bytes += schema.len();
            if schema_bytes > MAX_SCHEMA_BYTES {
                cut = Some(format!(
                    "the tool schemas pass {} KiB; the first {} tools are kept",
                    MAX_SCHEMA_BYTES / 1024,
                    tools.len()
                ));
                break;
            }
            let read_only = tool
                .pointer("/annotations/readOnlyHint")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            tools.push(Tool {
                name: name.chars().take(128).collect(),
                schema,
                read_only,
            });
        }
        cursor = result
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if tools.len() >= MAX_TOOLS && cursor.is_some() {
            cut = Some(format!(
                "the server lists more than {MAX_TOOLS} tools; the first {MAX_TOOLS} are kept"
            ));
        }
        if cursor.is_none() || cut.is_some() {
            break;
        }
        if n + 1 == MAX_TOOL_PAGES {
            cut = Some(format!(
                "the tool list goes on past {MAX_TOOL_PAGES} pages; the first {MAX_TOOL_PAGES} are kept"
            ));
        }
    }
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ToolListing { tools, cut })
}

/// What the last `tools/list` said of one tool.
pub enum Listed {
    NotYet,
    Absent,
    Present { read_only: bool },
}

pub(super) fn listing(tools: &[Tool]) -> HashMap<String, bool> {
    tools
        .iter()
        .map(|t| (t.name.clone(), t.read_only))
        .collect()
}
