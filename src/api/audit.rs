//! Server functions for the audit log (auditors and admins): search, one entry, chain check.
use super::error::AppError;
use crate::domain::audit::{AuditEntry, ChainCheck};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The filter form's raw fields, as they travel in the page's query string; absent is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub user: String,
    pub event_type: String,
    pub action: String,
    pub resource: String,
    pub result: String,
    pub period: String,
    pub q: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    pub entry: AuditEntry,
    pub chain: ChainCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub checked: u64,
    /// The first broken entry and what is wrong with it.
    pub broken: Option<(i64, ChainCheck)>,
    pub millis: u64,
}

#[server(endpoint = "audit/search")]
pub async fn search_audit(query: AuditQuery, before: Option<i64>) -> Result<AuditPage, AppError> {
    use crate::domain::audit::PAGE_SIZE;
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ReadAudit)?;
    let result = async {
        let filter = filter_from(&query)?;
        // One extra row says whether there is another page.
        let mut entries = caller
            .state
            .store
            .search_audit(&filter, before, PAGE_SIZE + 1)
            .await?;
        let next_before = if entries.len() > PAGE_SIZE as usize {
            entries.truncate(PAGE_SIZE as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
    .await;
    super::ssr::respond(result)
}

#[cfg(feature = "ssr")]
pub fn filter_from(query: &AuditQuery) -> Result<crate::domain::audit::AuditFilter, AppError> {
    crate::domain::audit::AuditFilter::from_form(
        &query.user,
        &query.event_type,
        &query.action,
        &query.resource,
        &query.result,
        &query.period,
        &query.q,
        chrono::Utc::now(),
    )
    .map_err(|message| {
        let mut errors = crate::domain::target::FieldErrors::default();
        errors.add("filter", message);
        AppError::Invalid(errors)
    })
}

/// One entry, with whether it still matches its hash and follows its predecessor.
#[server(endpoint = "audit/entry")]
pub async fn audit_entry_detail(seq: i64) -> Result<AuditEntryView, AppError> {
    use crate::domain::audit::GENESIS_HASH;
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ReadAudit)?;
    let result = caller
        .state
        .store
        .audit_entry(seq)
        .await
        .map_err(AppError::from)
        .map(|(previous, entry)| {
            let expected_prev = previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash);
            AuditEntryView {
                chain: entry.check(&expected_prev),
                entry,
            }
        });
    super::ssr::respond(result)
}

/// Walks the whole chain, as `mcpops verify-audit` does.
#[server(endpoint = "audit/verify")]
pub async fn verify_audit() -> Result<ChainReport, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ReadAudit)?;
    let result = crate::server::audit_export::verify_chain(caller.state.store.as_ref(), |_| {})
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}
