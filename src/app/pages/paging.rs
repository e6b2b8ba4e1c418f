//! Paging: each person's contact methods, and the escalation policies that page the on-call
//! of a schedule, then the next level, until someone acknowledges.
use crate::api::paging::{
    AddContactMethod, CreatePolicy, DeleteContactMethod, DeletePolicy, PoliciesView,
    TestContactMethod, escalation_policies, my_contact_methods,
};
use crate::app::components::{ErrorNote, Field, LocalTime, field_error, form_error};
use crate::app::pages::channels::DestinationFields;
use crate::domain::alerts::Severity;
use crate::domain::escalation::{EscalationPolicy, format_wait};
use crate::domain::notifications::ChannelKind;
use leptos::prelude::*;
use leptos_meta::Title;

/// The policy form's level rows: (who, wait) field names.
const LEVEL_FIELDS: [(&str, &str); 4] = [
    ("who1", "wait1"),
    ("who2", "wait2"),
    ("who3", "wait3"),
    ("who4", "wait4"),
];

#[component]
pub fn PagingPage() -> impl IntoView {
    view! {
        <Title text="Paging" />
        <h1>"Paging"</h1>
        <crate::app::pages::alerts::AlertsNav />
        <Policies />
        <ContactMethods />
    }
}

#[component]
fn ContactMethods() -> impl IntoView {
    let add = ServerAction::<AddContactMethod>::new();
    let delete = ServerAction::<DeleteContactMethod>::new();
    let test = ServerAction::<TestContactMethod>::new();
    let methods = Resource::new(
        move || (add.version().get(), delete.version().get()),
        |_| my_contact_methods(),
    );
    let added: Signal<_> = add.value().into();
    view! {
        <section class="panel" aria-labelledby="contacts-title">
            <h2 id="contacts-title">"Your contact methods"</h2>
            <p class="muted">"How a policy reaches you when it pages you. Every method is used at once."</p>
            {move || match test.value().get() {
                Some(Ok(message)) => Some(view! { <p class="ok-note" role="status">{message}</p> }.into_any()),
                Some(Err(err)) => Some(view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any()),
                None => None,
            }}
            <ErrorNote error=form_error(delete.value().into()) />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match methods.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="warning" data-testid="no-contact-methods">"You have no contact method: a policy that pages you reaches nobody."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="contact-methods">
                                {list.into_iter().map(|m| {
                                    let id = m.id;
                                    let test_label = format!("Send a test page to {}", m.label);
                                    let delete_label = format!("Delete {}", m.label);
                                    view! {
                                        <li data-contact=m.label.clone()>
                                            <b>{m.label.clone()}</b> " · " {m.kind.label()} " · " <code>{m.address_redacted.clone()}</code>
                                            <span class="actions">
                                                <ActionForm action=test attr:class="inline">
                                                    <input type="hidden" name="id" value=id />
                                                    <button type="submit" aria-label=test_label>"Send test"</button>
                                                </ActionForm>
                                                <ActionForm action=delete attr:class="inline">
                                                    <input type="hidden" name="id" value=id />
                                                    <button type="submit" class="danger" aria-label=delete_label>"Delete"</button>
                                                </ActionForm>
                                            </span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h3>"Add a contact method"</h3>
            <ActionForm action=add attr:class="target-form channel-form" attr:aria-label="Add a contact method">
                <Field label="Label" name="label" id_prefix="contact-" placeholder="work phone" error=field_error(added, "label") />
                <div class="field">
                    <label for="contact-kind">"Reach me by"</label>
                    <select id="contact-kind" name="kind">
                        {ChannelKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                    </select>
                </div>
                <DestinationFields id_prefix="contact-" result=added />
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Add contact method"</button>
            </ActionForm>
            <ErrorNote error=form_error(added) />
        </section>
    }
}

#[component]
fn Policies() -> impl IntoView {
    let create = ServerAction::<CreatePolicy>::new();
    let delete = ServerAction::<DeletePolicy>::new();
    let view_data = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| escalation_policies(),
    );
    view! {
        <section class="panel" aria-labelledby="policies-title">
            <h2 id="policies-title">"Escalation policies"</h2>
            <p class="muted">
                "An alert that fires is routed to the first policy below that takes it: policies for some tags before those for every target, then by severity. "
                "Level 1 is paged at once; each level waits for an acknowledgement before the next is paged."
            </p>
            <ErrorNote error=form_error(delete.value().into()) />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(data) => view! { <PolicyList data create delete /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PolicyList(
    data: PoliciesView,
    create: ServerAction<CreatePolicy>,
    delete: ServerAction<DeletePolicy>,
) -> impl IntoView {
    let PoliciesView {
        policies,
        schedules,
        users,
        can_edit,
    } = data;
    let list = if policies.is_empty() {
        view! { <p class="warning" data-testid="no-policies">"No escalation policy: alerts go to channels, but nobody is paged."</p> }.into_any()
    } else {
        view! {
            <ol class="policies">
                {policies.into_iter().map(|p| view! { <PolicyItem policy=p can_edit delete /> }).collect_view()}
            </ol>
        }
        .into_any()
    };
    let created: Signal<_> = create.value().into();
    let form = can_edit.then(|| {
        let names: Vec<String> = schedules.into_iter().chain(users).collect();
        view! {
            <h3>"Add a policy"</h3>
            <datalist id="responders">
                {names.into_iter().map(|n| view! { <option value=n /> }).collect_view()}
            </datalist>
            <ActionForm action=create attr:class="target-form policy-form" attr:aria-label="Add an escalation policy">
                <Field label="Name" name="name" id_prefix="policy-" placeholder="payments primary" error=field_error(created, "name") />
                <div class="field">
                    <label for="policy-severity">"Takes alerts of"</label>
                    <select id="policy-severity" name="min_severity">
                        {Severity::ALL.iter().map(|s| view! { <option value=s.as_str()>{format!("{} or worse", s.as_str())}</option> }).collect_view()}
                    </select>
                </div>
                <Field label="Only tags" name="tags" id_prefix="policy-" placeholder="team:payments" hint="empty: every target" error=field_error(created, "tags") />
                <fieldset class="levels">
                    <legend>"Levels"</legend>
                    {LEVEL_FIELDS.into_iter().enumerate().map(|(i, (who, wait))| {
                        let n = i + 1;
                        let who_id = format!("policy-{who}");
                        let wait_id = format!("policy-{wait}");
                        let who_error = field_error(created, who);
                        let wait_error = field_error(created, wait);
                        view! {
                            <div class="level-row">
                                <div class="field" class:invalid=move || who_error.get().is_some()>
                                    <label for=who_id.clone()>{format!("Level {n}: page")}</label>
                                    <input id=who_id.clone() name=who list="responders" placeholder=if n == 1 { "a schedule, or people" } else { "empty: no further level" }
                                        aria-describedby=format!("{who_id}-error") maxlength="1000" />
                                    <small class="field-error" id=format!("{who_id}-error") role="alert">{move || who_error.get()}</small>
                                </div>
                                <div class="field" class:invalid=move || wait_error.get().is_some()>
                                    <label for=wait_id.clone()>"then wait"</label>
                                    <input id=wait_id.clone() name=wait placeholder="5m" aria-describedby=format!("{wait_id}-error") maxlength="16" />
                                    <small class="field-error" id=format!("{wait_id}-error") role="alert">{move || wait_error.get()}</small>
                                </div>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                <Field label="Repeat all levels" name="repeat" id_prefix="policy-" placeholder="0"
                    hint=REPEAT_HINT error=field_error(created, "repeat") />
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Add policy"</button>
            </ActionForm>
            <ErrorNote error=form_error(created) />
        }
    });
    view! { {list} {form} }
}

/// `MAX_REPEAT`, in words.
const REPEAT_HINT: &str = "rounds after the first, 0 to 9: a policy must end";

#[component]
fn PolicyItem(
    policy: EscalationPolicy,
    can_edit: bool,
    delete: ServerAction<DeletePolicy>,
) -> impl IntoView {
    let tags = if policy.tags.is_empty() {
        "every target".to_owned()
    } else {
        format!("tags {}", policy.tags.join(", "))
    };
    let repeat = match policy.repeat {
        0 => "Then stops.".to_owned(),
        1 => "Then repeats once, and stops.".to_owned(),
        n => format!("Then repeats {n} times, and stops."),
    };
    let delete_label = format!("Delete {}", policy.name);
    let id = policy.id;
    view! {
        <li class="policy" data-policy=policy.name.clone()>
            <b>{policy.name.clone()}</b>
            <small class="muted">" · " {format!("{} or worse", policy.min_severity.as_str())} " · " {tags}
                " · by " {policy.created_by.clone()} " " <LocalTime at=policy.created_at /></small>
            <ol class="levels">
                {policy.levels.iter().map(|level| {
                    let who: Vec<String> = level.responders.iter().map(|r| r.describe()).collect();
                    view! { <li>{who.join(", ")} <small class="muted">{format!(" · waits {}", format_wait(level.wait_seconds))}</small></li> }
                }).collect_view()}
            </ol>
            <small>{repeat}</small>
            {can_edit.then(|| view! {
                <ActionForm action=delete attr:class="inline">
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="danger" aria-label=delete_label>"Delete"</button>
                </ActionForm>
            })}
        </li>
    }
}
