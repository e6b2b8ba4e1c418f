//! Server functions for the audit log (auditors and admins): search, one entry, chain check.
use super::error::AppError;
use crate::domain::audit::{AuditEntry, AuditQuery, ChainCheck, ChainReport};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

#[server(endpoint = "audit/search")]
pub async fn search_audit(query: AuditQuery, before: Option<i64>) -> Result<AuditPage, AppError> {
    use crate::domain::audit::PAGE_SIZE;
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ReadAudit)?;
    let result = async {
        let filter = query.filter(chrono::Utc::now())?;
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
    let result =
        crate::server::services::audit_export::verify_chain(caller.state.store.as_ref(), |_| {})
            .await
            .map_err(AppError::from);
    super::ssr::respond(result)
}
