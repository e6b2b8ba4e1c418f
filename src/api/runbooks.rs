//! Server functions for the runbook library: search and filter, and one runbook rendered.
use super::error::AppError;
use crate::domain::runbooks::Runbook;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A runbook in the list, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookSummary {
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    pub rules: Vec<String>,
    pub phases: usize,
    pub steps: usize,
    pub warnings: Vec<String>,
}

impl From<&Runbook> for RunbookSummary {
    fn from(r: &Runbook) -> Self {
        Self {
            slug: r.slug.clone(),
            title: r.title.clone(),
            tags: r.tags.clone(),
            rules: r.rules.clone(),
            phases: r.phases.len(),
            steps: r.phases.iter().map(|p| p.steps.len()).sum(),
            warnings: r.warnings.clone(),
        }
    }
}

/// The list page: matching runbooks, and every tag and rule for the filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookIndex {
    pub runbooks: Vec<RunbookSummary>,
    pub tags: Vec<String>,
    pub rules: Vec<String>,
}

/// A runbook with its body as sanitised HTML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookPage {
    pub runbook: Runbook,
    pub html: String,
}

#[server(endpoint = "runbooks/list")]
pub async fn list_runbooks(
    query: String,
    tag: String,
    rule: String,
) -> Result<RunbookIndex, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let all = caller.state.runbooks.all().await;
    let mut tags: Vec<String> = all.iter().flat_map(|r| r.tags.clone()).collect();
    tags.sort();
    tags.dedup();
    let mut rules: Vec<String> = all.iter().flat_map(|r| r.rules.clone()).collect();
    rules.sort();
    rules.dedup();
    let query: String = query.chars().take(200).collect();
    let runbooks = all
        .iter()
        .filter(|r| query.trim().is_empty() || r.matches(&query))
        .filter(|r| tag.is_empty() || r.tags.contains(&tag))
        .filter(|r| rule.is_empty() || r.serves(&rule))
        .map(RunbookSummary::from)
        .collect();
    super::ssr::respond(Ok(RunbookIndex {
        runbooks,
        tags,
        rules,
    }))
}

#[server(endpoint = "runbooks/get")]
pub async fn get_runbook(slug: String) -> Result<RunbookPage, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let page = caller
        .state
        .runbooks
        .get(&slug)
        .await
        .map(|runbook| RunbookPage {
            html: crate::server::services::runbooks::render(&runbook.body),
            runbook,
        })
        .ok_or(AppError::NotFound);
    super::ssr::respond(page)
}
