//! The incident page's communication panels: roles and severity, status updates with their
//! clock, reopening, and action items; and the open action items on the incidents page.
use crate::api::error::AppError;
use crate::api::incident_comms::{
    AddActionItem, AssignRole, ChangeSeverity, CloseActionItem, PostStatusUpdate, ReopenIncident,
    open_action_items,
};
use crate::app::components::{
    ErrorNote, Field, count_successes, field_error, form_error, reset_after_success,
};
use crate::domain::alerts::Severity;
use crate::domain::incidents::comms::{
    ActionItem, OPEN_ACTION_ITEMS_SHOWN, Role, StatusUpdate, update_cadence, update_timer,
};
use crate::domain::incidents::{Incident, IncidentState};
use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;

/// The incident page's communication actions, made once per page so their answers outlive
/// its refreshes.
#[derive(Clone, Copy)]
pub struct CommsActions {
    pub role: ServerAction<AssignRole>,
    pub severity: ServerAction<ChangeSeverity>,
    pub reopen: ServerAction<ReopenIncident>,
    pub update: ServerAction<PostStatusUpdate>,
    pub add_item: ServerAction<AddActionItem>,
    pub close_item: ServerAction<CloseActionItem>,
    role_form: NodeRef<leptos::html::Form>,
    update_form: NodeRef<leptos::html::Form>,
    item_form: NodeRef<leptos::html::Form>,
}

impl CommsActions {
    pub fn new(changed: RwSignal<u64>) -> Self {
        let actions = Self {
            role: ServerAction::new(),
            severity: ServerAction::new(),
            reopen: ServerAction::new(),
            update: ServerAction::new(),
            add_item: ServerAction::new(),
            close_item: ServerAction::new(),
            role_form: NodeRef::new(),
            update_form: NodeRef::new(),
            item_form: NodeRef::new(),
        };
        reset_after_success(actions.role, actions.role_form);
        reset_after_success(actions.update, actions.update_form);
        reset_after_success(actions.add_item, actions.item_form);
        count_successes(actions.role, changed);
        count_successes(actions.severity, changed);
        count_successes(actions.reopen, changed);
        count_successes(actions.update, changed);
        count_successes(actions.add_item, changed);
        count_successes(actions.close_item, changed);
        actions
    }

    /// The latest refusal that is not about one field (a conflict, a lost session).
    pub fn error(self) -> Option<AppError> {
        [
            form_error(self.role.value().into()).get(),
            form_error(self.severity.value().into()).get(),
            form_error(self.reopen.value().into()).get(),
            form_error(self.update.value().into()).get(),
            form_error(self.add_item.value().into()).get(),
            form_error(self.close_item.value().into()).get(),
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

/// Who holds each role, with a form to assign or hand one over, and the severity.
#[component]
pub fn RolesPanel(incident: Incident, actions: CommsActions) -> impl IntoView {
    let id = incident.id;
    let open = incident.state == IncidentState::Open;
    let role_result: Signal<_> = actions.role.value().into();
    let severity = incident.severity;
    view! {
        <section class="panel roles-panel" aria-label="Roles">
            <h2>"Roles"</h2>
            <dl class="roles">
                {Role::ALL.into_iter().map(|role| view! {
                    <div data-role=role.as_str()>
                        <dt>{role.label()}</dt>
                        <dd>{incident.holder(role).map_or_else(|| "nobody yet".to_owned(), str::to_owned)}</dd>
                    </div>
                }).collect_view()}
            </dl>
            {open.then(|| view! {
                <ActionForm action=actions.role node_ref=actions.role_form attr:class="target-form" attr:aria-label="Assign a role">
                    <input type="hidden" name="incident_id" value=id />
                    <div class="field">
                        <label for="role-role">"Role"</label>
                        <select id="role-role" name="role">
                            {Role::ALL.into_iter().map(|role| view! { <option value=role.as_str()>{role.label()}</option> }).collect_view()}
                        </select>
                    </div>
                    <Field label="Person" name="person" id_prefix="role-" placeholder="who takes it (empty: stand down)" error=field_error(role_result, "person") />
                    <button type="submit" disabled=move || actions.role.pending().get()>"Assign"</button>
                </ActionForm>
                <ActionForm action=actions.severity attr:class="inline" attr:aria-label="Change the severity">
                    <input type="hidden" name="incident_id" value=id />
                    <label for="incident-new-severity">"Severity "</label>
                    <select id="incident-new-severity" name="severity">
                        {[Severity::Critical, Severity::Warning, Severity::Info].into_iter().map(|s| view! {
                            <option value=s.as_str() selected=s == severity>{s.as_str()}</option>
                        }).collect_view()}
                    </select>
                    <button type="submit" disabled=move || actions.severity.pending().get()>"Change severity"</button>
                </ActionForm>
            })}
        </section>
    }
}

/// The next status update's clock, the latest update, and the form that posts one to the
/// incident's channels.
#[component]
pub fn StatusPanel(
    incident: Incident,
    updates: Vec<StatusUpdate>,
    now: DateTime<Utc>,
    since_fetch: Signal<i64>,
    actions: CommsActions,
) -> impl IntoView {
    let id = incident.id;
    let open = incident.state == IncidentState::Open;
    let result: Signal<_> = actions.update.value().into();
    let clock = incident.update_due_at.filter(|_| open).map(|due| {
        let level_and_text =
            move || update_timer(due, now + chrono::Duration::seconds(since_fetch.get()));
        view! {
            <p class=move || format!("update-clock {}", level_and_text().0.as_str())
                data-testid="update-timer" data-timer-level=move || level_and_text().0.as_str() role="timer">
                "Next status update " {move || level_and_text().1}
            </p>
        }
    });
    let cadence = update_cadence(incident.severity)
        .map_or_else(|| "60".to_owned(), |c| c.num_minutes().to_string());
    let latest = updates.last().cloned();
    let earlier = updates.len().saturating_sub(1);
    view! {
        <section class="panel status-panel" aria-label="Status updates">
            <h2>"Status updates"</h2>
            {clock}
            {match latest {
                Some(update) => view! {
                    <blockquote class="status-update" data-testid="latest-update">
                        <p><b>"Affected: "</b>{update.affected.clone()}</p>
                        <p><b>"Impact: "</b>{update.impact.clone()}</p>
                        <footer class="muted">
                            {format!("by {} at {} · next update by {}", update.author,
                                update.at.format("%H:%M UTC"), update.next_update_at.format("%H:%M UTC"))}
                            {(earlier > 0).then(|| format!(" · {earlier} earlier on the timeline"))}
                        </footer>
                    </blockquote>
                }.into_any(),
                None => view! { <p class="muted">"No status update yet."</p> }.into_any(),
            }}
            {open.then(|| view! {
                <ActionForm action=actions.update node_ref=actions.update_form attr:class="target-form" attr:aria-label="Post a status update">
                    <input type="hidden" name="incident_id" value=id />
                    <Field label="Affected" name="affected" id_prefix="update-" placeholder="checkout in eu-west" error=field_error(result, "affected") />
                    <div class="field" class:invalid=move || field_error(result, "impact").get().is_some()>
                        <label for="update-field-impact">"Impact"</label>
                        <textarea id="update-field-impact" name="impact" rows="2" maxlength="2000"
                            placeholder="What users see, and what is being done"
                            aria-describedby="update-field-impact-error"></textarea>
                        <small class="field-error" id="update-field-impact-error" role="alert">{move || field_error(result, "impact").get()}</small>
                    </div>
                    <Field label="Next update in (minutes)" name="next_update_minutes" id_prefix="update-" input_type="number"
                        value=cadence hint="5 to 240" error=field_error(result, "next_update_minutes") />
                    <button type="submit" class="primary" disabled=move || actions.update.pending().get()>"Post update"</button>
                </ActionForm>
            })}
        </section>
    }
}

/// Opens a resolved incident again, with an optional reason.
#[component]
pub fn ReopenForm(incident_id: i64, actions: CommsActions) -> impl IntoView {
    view! {
        <ActionForm action=actions.reopen attr:class="inline deploy-form" attr:aria-label="Reopen the incident">
            <input type="hidden" name="incident_id" value=incident_id />
            <input name="reason" maxlength="2000" placeholder="Why reopen? (optional)" aria-label="Why reopen" />
            <button type="submit" disabled=move || actions.reopen.pending().get()>"Reopen incident"</button>
        </ActionForm>
    }
}

/// An action item as a list row: its incident when listed across incidents, what, owner,
/// due day, and its state or a Close button.
fn item_row(
    item: ActionItem,
    incident: Option<String>,
    today: NaiveDate,
    close: ServerAction<CloseActionItem>,
) -> impl IntoView {
    let overdue = item.is_overdue(today);
    let state = match &item.closed_by {
        Some(by) => format!("closed by {by}"),
        None if overdue => "overdue".to_owned(),
        None => "open".to_owned(),
    };
    let close_label = format!("Close: {}", item.text);
    view! {
        <li class="action-item" class:overdue=overdue data-item-state=if item.is_open() { "open" } else { "closed" }>
            {incident.map(|title| view! { <a href=format!("/incidents/{}", item.incident_id)>{title}</a> " " })}
            <span class="step-text">{item.text.clone()}</span>
            <small class="muted">{format!(" · {} · due {}", item.owner, item.due.format("%Y-%m-%d"))}</small>
            " " <b class="item-state">{state}</b>
            {item.is_open().then(|| view! {
                <ActionForm action=close attr:class="inline">
                    <input type="hidden" name="incident_id" value=item.incident_id />
                    <input type="hidden" name="item_id" value=item.id />
                    <button type="submit" aria-label=close_label>"Close"</button>
                </ActionForm>
            })}
        </li>
    }
}

/// The incident's follow-ups, with a form to add one.
#[component]
pub fn ActionItemsPanel(
    incident_id: i64,
    items: Vec<ActionItem>,
    today: NaiveDate,
    actions: CommsActions,
) -> impl IntoView {
    let result: Signal<_> = actions.add_item.value().into();
    let close = actions.close_item;
    view! {
        <section class="panel" aria-label="Action items">
            <h2>"Action items"</h2>
            {items.is_empty().then(|| view! { <p class="muted">"None yet: what should change so this does not happen again?"</p> })}
            <ul class="action-items">
                {items.into_iter().map(|item| item_row(item, None, today, close)).collect_view()}
            </ul>
            <ActionForm action=actions.add_item node_ref=actions.item_form attr:class="target-form" attr:aria-label="Add an action item">
                <input type="hidden" name="incident_id" value=incident_id />
                <Field label="What needs doing" name="text" id_prefix="item-" placeholder="Alert on pool saturation" error=field_error(result, "text") />
                <Field label="Owner" name="owner" id_prefix="item-" placeholder="who sees it through" error=field_error(result, "owner") />
                <Field label="Due" name="due" id_prefix="item-" input_type="date" value=today.format("%Y-%m-%d").to_string() error=field_error(result, "due") />
                <button type="submit" disabled=move || actions.add_item.pending().get()>"Add action item"</button>
            </ActionForm>
        </section>
    }
}

/// Every open action item, overdue first-to-last by due day, until someone closes it.
#[component]
pub fn OpenActionItems() -> impl IntoView {
    let close = ServerAction::<CloseActionItem>::new();
    let items = Resource::new(move || close.version().get(), |_| open_action_items());
    view! {
        <section class="panel" aria-label="Open action items">
            <h2>"Open action items"</h2>
            <ErrorNote error=form_error(close.value().into()) />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match items.await {
                        Ok(list) if list.items.is_empty() => view! { <p class="muted" data-testid="no-action-items">"No open action items."</p> }.into_any(),
                        Ok(list) => {
                            let today = list.today;
                            let overdue = list.items.iter().filter(|(i, _)| i.is_overdue(today)).count();
                            let cut = list.items.len() >= OPEN_ACTION_ITEMS_SHOWN;
                            view! {
                                {(overdue > 0).then(|| view! { <p class="error-note" data-testid="overdue-items">{format!("{overdue} overdue")}</p> })}
                                {cut.then(|| view! { <p class="muted">{format!("The {OPEN_ACTION_ITEMS_SHOWN} soonest due; close some to see the rest.")}</p> })}
                                <ul class="action-items">
                                    {list.items.into_iter().map(|(item, title)| {
                                        let label = format!("#{} {title}", item.incident_id);
                                        item_row(item, Some(label), today, close)
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
