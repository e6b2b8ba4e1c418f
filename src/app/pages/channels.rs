//! Notification channels (generic webhooks, Slack, Teams, PagerDuty and email) routed by
//! severity and tag, their recent deliveries and failures, and a test send.
use crate::api::channels::{ChannelView, CreateChannel, DeleteChannel, TestChannel, list_channels};
use crate::app::components::{
    ErrorNote, Field, LocalTime, field_error, form_error, use_permission,
};
use crate::app::pages::alerts::AlertsNav;
use crate::domain::alerts::Severity;
use crate::domain::auth::Permission;
use crate::domain::error::AppError;
use crate::domain::notifications::ChannelKind;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ChannelsPage() -> impl IntoView {
    let create = ServerAction::<CreateChannel>::new();
    let delete = ServerAction::<DeleteChannel>::new();
    let test = ServerAction::<TestChannel>::new();
    let channels = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                test.version().get(),
            )
        },
        |_| list_channels(),
    );
    let is_admin = use_permission(Permission::Administer);
    let created: Signal<_> = create.value().into();
    view! {
        <Title text="Channels" />
        <h1>"Notification channels"</h1>
        <AlertsNav />
        {move || match test.value().get() {
            Some(Ok(message)) => Some(view! { <p class="ok-note" role="status">{message}</p> }.into_any()),
            Some(Err(err)) => Some(view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any()),
            None => None,
        }}
        <ErrorNote error=form_error(delete.value().into()) />
        <Transition fallback=|| view! { <p class="muted">"Loading channels…"</p> }>
            {move || Suspend::new(async move {
                let is_admin = is_admin.await;
                let list = channels.await;
                view! {
                    {match list {
                        Ok(list) if list.is_empty() => view! { <p class="panel empty-state">"No channels yet: alerts are recorded but nobody is told."</p> }.into_any(),
                        Ok(list) => view! { <ChannelTable channels=list is_admin test delete /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }}
                    {is_admin.then(|| view! {
                        <section class="panel">
                            <h2>"Add a channel"</h2>
                            <ActionForm action=create attr:class="target-form channel-form" attr:aria-label="Add a channel">
                                <Field label="Name" name="name" placeholder="on-call" error=field_error(created, "name") />
                                <div class="field">
                                    <label for="channel-kind">"Sends to"</label>
                                    <select id="channel-kind" name="kind">
                                        {ChannelKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                                    </select>
                                </div>
                                <DestinationFields result=created />
                                <div class="field">
                                    <label for="channel-severity">"Alerts of"</label>
                                    <select id="channel-severity" name="min_severity">
                                        {Severity::ALL.iter().map(|s| view! { <option value=s.as_str()>{format!("{} or worse", s.as_str())}</option> }).collect_view()}
                                    </select>
                                </div>
                                <Field label="Only tags" name="tags" placeholder="edge, eu" hint="empty: every target" error=field_error(created, "tags") />
                                <button type="submit" class="primary" disabled=move || create.pending().get()>"Add channel"</button>
                            </ActionForm>
                            <ErrorNote error=form_error(created) />
                        </section>
                    })}
                }
            })}
        </Transition>
    }
}

#[component]
fn ChannelTable(
    channels: Vec<ChannelView>,
    is_admin: bool,
    test: ServerAction<TestChannel>,
    delete: ServerAction<DeleteChannel>,
) -> impl IntoView {
    view! {
        <table class="channels">
            <thead>
                <tr>
                    <th scope="col">"Channel"</th>
                    <th scope="col">"Routes"</th>
                    <th scope="col">"Recent deliveries"</th>
                    <th scope="col"></th>
                </tr>
            </thead>
            <tbody>
                {channels.into_iter().map(|view| {
                    let failing = view.failing();
                    let ChannelView { channel, recent } = view;
                    let id = channel.id;
                    let test_label = format!("Send a test notice to {}", channel.name);
                    let delete_label = format!("Delete {}", channel.name);
                    let tags = if channel.tags.is_empty() { "every target".to_owned() } else { format!("tags {}", channel.tags.join(", ")) };
                    view! {
                        <tr data-channel=channel.name.clone() class:failing=failing>
                            <th scope="row">
                                {channel.name.clone()}
                                <br /><small class="muted">{channel.kind.label()} " · " <code>{channel.url_redacted.clone()}</code></small>
                                {failing.then(|| view! { <br /><small class="warning">"last delivery failed"</small> })}
                            </th>
                            <td>{format!("{} or worse", channel.min_severity.as_str())}<br /><small>{tags}</small></td>
                            <td>
                                <ul class="deliveries">
                                    {recent.into_iter().map(|d| {
                                        let failed = d.error.is_some();
                                        view! {
                                        <li class:failed=failed>
                                            <LocalTime at=d.at /> " " {d.event.as_str()}
                                            {d.alert_id.map(|a| format!(" alert #{a}"))}
                                            {format!(" attempt {}", d.attempt)} ": "
                                            {d.error.unwrap_or_else(|| "delivered".into())}
                                        </li>
                                    }}).collect_view()}
                                </ul>
                            </td>
                            <td class="actions">
                                <ActionForm action=test attr:class="inline">
                                    <input type="hidden" name="id" value=id />
                                    <button type="submit" aria-label=test_label>"Send test"</button>
                                </ActionForm>
                                {is_admin.then(|| view! {
                                    <ActionForm action=delete attr:class="inline">
                                        <input type="hidden" name="id" value=id />
                                        <button type="submit" class="danger" aria-label=delete_label>"Delete"</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A destination's fields: its address, and the secret and mail settings of the kinds that
/// need them. The enclosing form has class `channel-form` and a `kind` select, by which CSS
/// (`:has`) shows each kind's fields, so the form adapts before the page is interactive too.
#[component]
pub fn DestinationFields<T: Send + Sync + 'static>(
    /// Prefixes the element ids, for a page with two such forms.
    #[prop(optional)]
    id_prefix: &'static str,
    result: Signal<Option<Result<T, AppError>>>,
) -> impl IntoView {
    view! {
        <Field id_prefix=id_prefix label="Address" name="url" placeholder="https://hooks.example.com/…"
            hint="a webhook URL; PagerDuty: empty for its Events API; email: smtp://host (STARTTLS) or smtps://host (TLS). Shown only as its host after saving."
            error=field_error(result, "url") />
        <div class="for-pagerduty for-email">
            <Field id_prefix=id_prefix label="Routing key or SMTP password" name="secret" input_type="password"
                hint="PagerDuty's 32-character integration key, or the mail user's password; never shown again"
                error=field_error(result, "secret") />
        </div>
        <div class="for-email">
            <Field id_prefix=id_prefix label="SMTP user" name="smtp_user" hint="empty when the server takes mail without signing in" error=field_error(result, "smtp_user") />
        </div>
        <div class="for-email">
            <Field id_prefix=id_prefix label="From" name="email_from" placeholder="mcpops@example.com" error=field_error(result, "email_from") />
        </div>
        <div class="for-email">
            <Field id_prefix=id_prefix label="To" name="email_to" placeholder="oncall@example.com, lead@example.com" error=field_error(result, "email_to") />
        </div>
    }
}
