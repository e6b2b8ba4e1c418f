//! Server functions for paging: each person's contact methods, and the escalation policies
//! that page them.
// Form-shaped server functions take one argument per field; `expect` would not hold in
// every build (the macro emits the signature differently per feature).
#![allow(clippy::too_many_arguments)]
use super::error::AppError;
use crate::domain::escalation::{ContactMethod, EscalationPolicy};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The escalation page: policies in the order routing tries them, and what the form offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoliciesView {
    pub policies: Vec<EscalationPolicy>,
    pub schedules: Vec<String>,
    pub users: Vec<String>,
    /// Whether the caller may create and delete policies.
    pub can_edit: bool,
}

#[server(endpoint = "paging/contacts")]
pub async fn my_contact_methods() -> Result<Vec<ContactMethod>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = async {
        let user = super::oncall::caller_user_id(&caller)?;
        Ok(caller.state.store.contact_methods(user).await?)
    }
    .await;
    super::ssr::respond(result)
}

#[server(endpoint = "paging/contacts/add")]
pub async fn add_contact_method(
    label: String,
    kind: String,
    #[server(default)] url: String,
    #[server(default)] secret: String,
    #[server(default)] smtp_user: String,
    #[server(default)] email_from: String,
    #[server(default)] email_to: String,
) -> Result<i64, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::escalation::{ContactForm, NewContactMethod};
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let form = ContactForm {
        label,
        kind,
        url,
        secret,
        smtp_user,
        email_from,
        email_to,
    };
    // The address and secret stay out of the log: they may carry a token or a password.
    let event = caller
        .event("contact_method", "create", &caller.principal.actor)
        .details(&serde_json::json!({"label": form.label.trim(), "kind": form.kind.trim()}));
    let result = async {
        let user = super::oncall::caller_user_id(&caller)?;
        let new = NewContactMethod::parse(&form).map_err(AppError::Invalid)?;
        let store = &caller.state.store;
        Ok(store
            .add_contact_method(user, &new, chrono::Utc::now(), event.clone())
            .await?)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "paging/contacts/delete")]
pub async fn delete_contact_method(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let event = caller.event("contact_method", "delete", &format!("contact_method:{id}"));
    let result = async {
        let user = super::oncall::caller_user_id(&caller)?;
        Ok(caller
            .state
            .store
            .delete_contact_method(user, id, event)
            .await?)
    }
    .await;
    super::ssr::respond(result)
}

/// Sends a test page to one of the caller's contact methods, audited; the error says why
/// it failed.
#[server(endpoint = "paging/contacts/test")]
pub async fn test_contact_method(id: i64) -> Result<String, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let found = match super::oncall::caller_user_id(&caller) {
        Ok(user) => caller
            .state
            .store
            .contact_method(user, id)
            .await
            .map_err(AppError::from),
        Err(err) => Err(err),
    };
    let (method, destination) = match found {
        Ok(found) => found,
        Err(err) => return super::ssr::respond(Err(err)),
    };
    let notifier = caller.state.alerts.notifier();
    let target = crate::server::services::alerts::TestTarget::Contact(method.kind);
    let outcome = notifier
        .test(target, &destination, &caller.principal.actor)
        .await;
    let event = caller.event("contact_method", "test", &format!("contact_method:{id}"));
    let result = caller
        .audited_test(event, &method.label, "page", outcome)
        .await;
    super::ssr::respond(result)
}

#[server(endpoint = "paging/policies")]
pub async fn escalation_policies() -> Result<PoliciesView, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::escalation::in_routing_order;
    let caller = super::ssr::require(Permission::ViewDashboards)?;
    let result = async {
        let store = &caller.state.store;
        let mut policies = store.escalation_policies().await?;
        in_routing_order(&mut policies);
        let schedules = store
            .schedules(chrono::Utc::now())
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        Ok(PoliciesView {
            policies,
            schedules,
            users: super::oncall::active_usernames(&caller).await?,
            can_edit: caller.principal.role.allows(Permission::Operate),
        })
    }
    .await;
    super::ssr::respond(result)
}

#[server(endpoint = "paging/policies/create")]
pub async fn create_policy(
    name: String,
    min_severity: String,
    #[server(default)] tags: String,
    #[server(default)] who1: String,
    #[server(default)] wait1: String,
    #[server(default)] who2: String,
    #[server(default)] wait2: String,
    #[server(default)] who3: String,
    #[server(default)] wait3: String,
    #[server(default)] who4: String,
    #[server(default)] wait4: String,
    #[server(default)] repeat: String,
) -> Result<i64, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::escalation::{NewPolicy, PolicyForm};
    let caller = super::ssr::require(Permission::Operate)?;
    let form = PolicyForm {
        name,
        min_severity,
        tags,
        who: vec![who1, who2, who3, who4],
        wait: vec![wait1, wait2, wait3, wait4],
        repeat,
    };
    let event = caller
        .event("escalation_policy", "create", form.name.trim())
        .details(&serde_json::to_value(&form).unwrap_or_default());
    let result = async {
        let store = &caller.state.store;
        let schedules: Vec<(i64, String)> = store
            .schedules(chrono::Utc::now())
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        let users = super::oncall::active_usernames(&caller).await?;
        let new = NewPolicy::parse(&form, &schedules, &users).map_err(AppError::Invalid)?;
        Ok(store
            .create_policy(
                &new,
                &caller.principal.actor,
                chrono::Utc::now(),
                event.clone(),
            )
            .await?)
    }
    .await;
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "paging/policies/delete")]
pub async fn delete_policy(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let event = caller.event(
        "escalation_policy",
        "delete",
        &format!("escalation_policy:{id}"),
    );
    let result = caller
        .state
        .store
        .delete_policy(id, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}
