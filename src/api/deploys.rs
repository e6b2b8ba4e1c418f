//! Server functions for deploy markers: mark a deploy, and review a target's recent ones.
use super::error::AppError;
use crate::domain::deploys::{Deploy, SignalChange};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A deploy and how the target's signals moved across it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployReview {
    pub deploy: Deploy,
    pub changes: Vec<SignalChange>,
}

impl DeployReview {
    pub fn regressed(&self) -> bool {
        self.changes.iter().any(|c| c.regressed)
    }
}

/// Marks a deploy of a target (by name) or of every target with a tag.
#[server(endpoint = "deploys/create")]
pub async fn create_deploy(
    target: String,
    tag: String,
    version: String,
    note: String,
) -> Result<Deploy, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::deploys::DeployForm;
    let caller = super::ssr::require(Permission::Operate)?;
    let form = DeployForm {
        target,
        tag,
        version,
        note,
    };
    let result = crate::server::services::deploys::record(
        caller.state.store.as_ref(),
        &form,
        &caller.principal.actor,
        &caller.origin,
    )
    .await;
    super::ssr::respond(result)
}

/// The target's deploys of the last 7 days, each with the 30 minutes before and after.
#[server(endpoint = "deploys/review")]
pub async fn review_deploys(target_id: i64) -> Result<Vec<DeployReview>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let reviews = crate::server::services::deploys::review(
        caller.state.store.as_ref(),
        &caller.state.signals,
        target_id,
    )
    .await
    .map(|list| {
        list.into_iter()
            .map(|(deploy, changes)| DeployReview { deploy, changes })
            .collect()
    })
    .map_err(AppError::from);
    super::ssr::respond(reviews)
}
