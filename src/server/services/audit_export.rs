//! Streaming exports of the audit log, and the walk that verifies its hash chain.
use crate::domain::audit::{
    AuditEntry, AuditEvent, AuditFilter, AuditQuery, ChainReport, ChainWalker, RequestOrigin,
};
use crate::domain::auth::Principal;
use crate::domain::csv;
use crate::server::state::AppState;
use crate::server::store::{Store, StoreError};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// Rows fetched per round trip while streaming.
const EXPORT_BATCH: i64 = 1000;

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    format: Option<String>,
    #[serde(flatten)]
    query: AuditQuery,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// `GET /audit/export?format=csv|json&…filters`: the current filter, newest first, streamed.
/// The export is itself audited before the first byte is sent.
pub async fn export(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Extension(origin): Extension<RequestOrigin>,
    Query(params): Query<ExportParams>,
) -> Response {
    let format = match params.format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown format '{other}': use csv or json"),
            )
                .into_response();
        }
    };
    let filter = match params.query.filter(chrono::Utc::now()) {
        Ok(filter) => filter,
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let event = AuditEvent::new("audit", &principal.actor, "export", "audit_log", &origin).details(
        &serde_json::json!({
            "format": if format == Format::Csv { "csv" } else { "json" },
            "filter": params.query,
        }),
    );
    if let Err(err) = state.store.append_audit(event).await {
        return crate::domain::error::AppError::from(err).into_response();
    }
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let filename = format!(
        "mcpops-audit-{}.{extension}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(export_stream(state.store.clone(), filter, format)),
    )
        .into_response()
}

struct Cursor {
    store: Arc<dyn Store>,
    filter: AuditFilter,
    format: Format,
    before: Option<i64>,
    started: bool,
    done: bool,
}

fn export_stream(
    store: Arc<dyn Store>,
    filter: AuditFilter,
    format: Format,
) -> impl futures::Stream<Item = Result<String, StoreError>> {
    let cursor = Cursor {
        store,
        filter,
        format,
        before: None,
        started: false,
        done: false,
    };
    futures::stream::try_unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return Ok(None);
        }
        let mut chunk = String::new();
        if !cursor.started {
            cursor.started = true;
            match cursor.format {
                Format::Csv => csv::push_row(&mut chunk, CSV_HEADER),
                Format::Json => chunk.push('['),
            }
        }
        let rows = cursor
            .store
            .search_audit(&cursor.filter, cursor.before, EXPORT_BATCH)
            .await?;
        for entry in &rows {
            match cursor.format {
                Format::Csv => csv_row(&mut chunk, entry),
                Format::Json => {
                    if cursor.before.is_some() || !std::ptr::eq(entry, &rows[0]) {
                        chunk.push(',');
                    }
                    chunk.push_str(&json_row(entry));
                }
            }
        }
        cursor.before = rows.last().map(|e| e.seq).or(cursor.before);
        if rows.len() < EXPORT_BATCH as usize {
            cursor.done = true;
            if cursor.format == Format::Json {
                chunk.push_str("]\n");
            }
        }
        Ok(Some((chunk, cursor)))
    })
}

/// Streams a CSV export of `filter` until at least `limit` rows (for the benchmark); returns
/// rows and bytes. Rows are counted by line, which holds for entries without line breaks.
pub async fn export_rows(
    store: Arc<dyn Store>,
    filter: &AuditFilter,
    limit: u64,
) -> Result<(u64, u64), StoreError> {
    use futures::TryStreamExt;
    let mut chunks = std::pin::pin!(export_stream(store, filter.clone(), Format::Csv));
    let (mut rows, mut bytes) = (0_u64, 0_u64);
    while let Some(chunk) = chunks.try_next().await? {
        rows += chunk.matches('\n').count() as u64;
        bytes += chunk.len() as u64;
        if rows > limit {
            break;
        }
    }
    Ok((rows.saturating_sub(1), bytes))
}

const CSV_HEADER: [&str; 13] = [
    "seq",
    "timestamp_utc",
    "event_type",
    "user",
    "action",
    "resource",
    "result",
    "ip_address",
    "user_agent",
    "request_id",
    "reason",
    "details",
    "hash",
];

fn csv_row(out: &mut String, entry: &AuditEntry) {
    let e = &entry.event;
    let at = entry
        .at()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let seq = entry.seq.to_string();
    let fields = [
        seq.as_str(),
        at.as_str(),
        &e.event_type,
        &e.actor,
        &e.action,
        &e.resource,
        e.result.as_str(),
        &e.origin.ip,
        &e.origin.user_agent,
        &e.origin.request_id,
        e.reason.as_deref().unwrap_or_default(),
        &e.details,
        &entry.hash,
    ];
    csv::push_row(out, fields);
}

fn json_row(entry: &AuditEntry) -> String {
    let e = &entry.event;
    serde_json::json!({
        "seq": entry.seq,
        "timestamp": entry.at().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event_type": e.event_type,
        "user": e.actor,
        "action": e.action,
        "resource": e.resource,
        "result": e.result.as_str(),
        "ip_address": e.origin.ip,
        "user_agent": e.origin.user_agent,
        "request_id": e.origin.request_id,
        "reason": e.reason,
        "details": serde_json::from_str::<serde_json::Value>(&e.details).unwrap_or_default(),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    })
    .to_string()
}

/// Rows read per round trip while verifying.
const VERIFY_BATCH: i64 = 5000;

/// Walks the chain from the first entry; stops at the first broken one. `progress` hears the
/// number checked so far after every batch.
pub async fn verify_chain(
    store: &dyn Store,
    mut progress: impl FnMut(u64),
) -> Result<ChainReport, StoreError> {
    let started = Instant::now();
    let mut walker = ChainWalker::default();
    let mut after = 0;
    loop {
        let batch = store.audit_after(after, VERIFY_BATCH).await?;
        for entry in &batch {
            if let Err(broken) = walker.next(entry) {
                return Ok(ChainReport {
                    checked: walker.checked,
                    broken: Some(broken),
                    millis: elapsed_ms(started),
                });
            }
        }
        progress(walker.checked);
        match batch.last() {
            Some(last) if batch.len() == VERIFY_BATCH as usize => after = last.seq,
            _ => break,
        }
    }
    Ok(ChainReport {
        checked: walker.checked,
        broken: None,
        millis: elapsed_ms(started),
    })
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_row_goes_through_the_one_csv_writer() {
        let origin = RequestOrigin::local();
        let event = AuditEvent::new("target", "ann", "create", "ok;=cmd()", &origin);
        let entry = AuditEntry::chain(1, 0, event, crate::domain::audit::GENESIS_HASH);
        let mut out = String::new();
        csv_row(&mut out, &entry);
        assert!(
            out.starts_with(
                "\"1\",\"1970-01-01T00:00:00.000Z\",\"target\",\"ann\",\"create\",\"ok;'=cmd()\","
            ),
            "{out}"
        );
        assert!(out.ends_with("\"\r\n"), "{out}");
    }
}
