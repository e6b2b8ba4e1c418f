//! Server functions for notification channels. An address and a secret (a PagerDuty routing
//! key, an SMTP password) are taken once and never shown again: pages get the scheme and
//! host only.
// Form-shaped server functions take one argument per field; `expect` would not hold in
// every build (the macro emits the signature differently per feature).
#![allow(clippy::too_many_arguments)]
use super::error::AppError;
use crate::domain::notifications::{Channel, Delivery};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A channel with its latest delivery attempts, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub channel: Channel,
    pub recent: Vec<Delivery>,
}

impl ChannelView {
    /// The newest attempt failed.
    pub fn failing(&self) -> bool {
        self.recent.first().is_some_and(|d| d.error.is_some())
    }
}

#[cfg(feature = "ssr")]
const RECENT: i64 = 10;

#[server(endpoint = "channels/list")]
pub async fn list_channels() -> Result<Vec<ChannelView>, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let views = async {
        let store = &caller.state.store;
        let mut views = Vec::new();
        for (channel, _) in store.channels().await? {
            let recent = store.deliveries(Some(channel.id), RECENT).await?;
            views.push(ChannelView { channel, recent });
        }
        Ok(views)
    }
    .await
    .map_err(|err: crate::server::store::StoreError| AppError::from(err));
    super::ssr::respond(views)
}

/// Fields a kind does not use may be left out of the request.
#[server(endpoint = "channels/create")]
pub async fn create_channel(
    name: String,
    kind: String,
    #[server(default)] url: String,
    #[server(default)] secret: String,
    #[server(default)] smtp_user: String,
    #[server(default)] email_from: String,
    #[server(default)] email_to: String,
    min_severity: String,
    #[server(default)] tags: String,
) -> Result<Channel, AppError> {
    use crate::domain::auth::Permission;
    use crate::domain::notifications::{ChannelForm, NewChannel};
    let caller = super::ssr::require(Permission::Administer)?;
    let form = ChannelForm {
        name,
        kind,
        url,
        secret,
        smtp_user,
        email_from,
        email_to,
        min_severity,
        tags,
    };
    let parsed = NewChannel::parse(&form);
    // The audit entry names the host (and recipients) only: never the path or the secret.
    let address = parsed
        .as_ref()
        .map(|c| c.destination.redacted())
        .unwrap_or_default();
    let event = caller
        .event("channel", "create", form.name.trim())
        .details(&serde_json::json!({
            "kind": form.kind, "url": address, "min_severity": form.min_severity,
            "tags": form.tags,
        }));
    let result = match parsed {
        Ok(new) => caller
            .state
            .store
            .create_channel(
                &new,
                &caller.principal.actor,
                chrono::Utc::now(),
                event.clone(),
            )
            .await
            .map_err(AppError::from),
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    if let Err(err) = &result {
        caller.record_failure(event, err).await;
    }
    super::ssr::respond(result)
}

#[server(endpoint = "channels/delete")]
pub async fn delete_channel(id: i64) -> Result<(), AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Administer)?;
    let event = caller.event("channel", "delete", &format!("channel:{id}"));
    let result = caller
        .state
        .store
        .delete_channel(id, event)
        .await
        .map_err(AppError::from);
    super::ssr::respond(result)
}

/// Sends one test notice to a channel now and says what happened.
#[server(endpoint = "channels/test")]
pub async fn test_channel(id: i64) -> Result<String, AppError> {
    use crate::domain::auth::Permission;
    let caller = super::ssr::require(Permission::Operate)?;
    let channels = caller.state.store.channels().await.map_err(AppError::from);
    let found = channels.and_then(|list| {
        list.into_iter()
            .find(|(c, _)| c.id == id)
            .ok_or(AppError::NotFound)
    });
    let (channel, destination) = match found {
        Ok(found) => found,
        Err(err) => return super::ssr::respond(Err(err)),
    };
    let outcome = caller
        .state
        .alerts
        .notifier()
        .test(
            crate::server::services::alerts::TestTarget::Channel(&channel),
            &destination,
            &caller.principal.actor,
        )
        .await;
    let event = caller.event("channel", "test", &channel.name);
    let result = caller
        .audited_test(event, &channel.name, "notice", outcome)
        .await;
    super::ssr::respond(result)
}
