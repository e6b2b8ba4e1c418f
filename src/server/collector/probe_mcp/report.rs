//! What a handshake or a ping reports, and what the answers it read mean.
use super::*;

/// A completed handshake: remembered as the last full one, with the session it opened.
pub(super) fn full_report(
    memory: &mut McpMemory,
    transport: Transport,
    session: Session,
    steps: Steps,
    listed: ToolListing,
) -> McpReport {
    let full = FullHandshake {
        at: Utc::now(),
        steps: steps.0,
        tools_cut: listed.cut,
    };
    let tools = listed.tools;
    memory.transport = Some(transport);
    memory.listed = Some(listing(&tools));
    memory.last_full = Some(Instant::now());
    memory.full_handshake = Some(full.clone());
    let report = McpReport {
        protocol_version: session.protocol_version.clone(),
        server_name: session.server_name.clone(),
        server_version: session.server_version.clone(),
        steps: full.steps.clone(),
        tools: Some(tools),
        full_handshake: Some(full),
        protection: None,
        warning: None,
    };
    memory.session = Some(session);
    report
}

/// A routine poll's report: the ping, with the last full handshake kept beside it.
pub(super) fn ping_report(memory: &McpMemory, session: Session, steps: Steps) -> McpReport {
    McpReport {
        protocol_version: session.protocol_version,
        server_name: session.server_name,
        server_version: session.server_version,
        steps: steps.0,
        tools: None,
        full_handshake: memory.full_handshake.clone(),
        protection: None,
        warning: None,
    }
}

/// A client error (404 and 405 are typical) for `initialize`: the server does not take the
/// Streamable HTTP POST at this URL.
pub(super) fn initialize_rejected(err: &ProbeError) -> bool {
    matches!(err, ProbeError::Rejected { request, status }
        if request == "initialize" && (400..500).contains(status))
}

pub(super) fn server_info(result: &Value) -> (String, String) {
    // Session revisions put it in `serverInfo`; 2026-07-28 puts it in the result's `_meta`.
    let info = result.get("serverInfo").or_else(|| {
        result
            .get("_meta")
            .and_then(|m| m.get("io.modelcontextprotocol/serverInfo"))
    });
    let field = |name: &str| {
        info.and_then(|i| i.get(name))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .chars()
            .take(128)
            .collect::<String>()
    };
    (field("name"), field("version"))
}

pub(super) fn rpc_error(message: &Value) -> Option<ProbeError> {
    let error = message.get("error")?;
    Some(ProbeError::JsonRpc {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
    })
}
