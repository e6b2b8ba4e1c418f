//! Incidents: the list with a form to declare one, and the commander's guided screen: the
//! phase with its countdown, the checklist, live charts of the affected targets, notes and
//! the timeline; then the post-incident report.
use crate::api::incidents::{
    AddNote, DeclareIncident, IncidentView, MarkStep, NextPhase, ResolveIncident, get_incident,
    list_incidents,
};
use crate::app::components::{
    ErrorNote, Field, LocalTime, count_successes, field_error, form_error, reset_after_success,
};
use crate::app::pages::incident_comms::{
    ActionItemsPanel, CommsActions, OpenActionItems, ReopenForm, RolesPanel, StatusPanel,
};
use crate::domain::incidents::comms::{Role, update_timer};
use crate::domain::incidents::{IncidentState, StepState, countdown, relative, timer};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let declare = ServerAction::<DeclareIncident>::new();
    let incidents = Resource::new(move || declare.version().get(), |_| list_incidents());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(incident)) = declare.value().get() {
            navigate(&format!("/incidents/{}", incident.id), Default::default());
        }
    });
    let declared: Signal<_> = declare.value().into();
    let clock = crate::app::live::use_clock();
    view! {
        <Title text="Incidents" />
        <h1>"Incidents"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading incidents…"</p> }>
            {move || Suspend::new(async move {
                match incidents.await {
                    Ok(list) if list.is_empty() => view! { <p class="panel empty-state">"No incidents. Declare one from a firing alert, a runbook, or below."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="incidents">
                            <thead><tr><th scope="col">"Incident"</th><th scope="col">"State"</th><th scope="col">"Commander"</th><th scope="col">"Next update"</th><th scope="col">"Declared"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|i| view! {
                                    <tr data-incident=i.id data-state=i.state.as_str()>
                                        <th scope="row"><a href=format!("/incidents/{}", i.id)>{format!("#{} {}", i.id, i.title)}</a><br /><small class="muted">{i.severity.as_str()}</small></th>
                                        <td>{i.state.as_str()}{(i.state == IncidentState::Open).then(|| i.phase().map(|p| format!(" · {}", p.name)))}</td>
                                        <td data-label="commander">{i.commander.clone()}</td>
                                        <td data-label="next update">{i.update_due_at.filter(|_| i.state == IncidentState::Open).map(|due| {
                                            // The browser's clock; until it runs (and without script) the due time.
                                            let timer = move || (clock.get() > 0.0)
                                                .then(|| chrono::DateTime::from_timestamp_millis(clock.get() as i64))
                                                .flatten()
                                                .map(|now| update_timer(due, now));
                                            let level = move || timer().map_or("normal", |(level, _)| level.as_str());
                                            let text = move || timer().map_or_else(|| format!("due {}", due.format("%H:%M UTC")), |(_, text)| text);
                                            view! { <span class=move || format!("update-clock {}", level()) data-update-level=level>{text}</span> }
                                        })}</td>
                                        <td data-label="declared"><LocalTime at=i.declared_at /></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <OpenActionItems />
        <section class="panel">
            <h2>"Declare an incident"</h2>
            <ActionForm action=declare attr:class="target-form" attr:aria-label="Declare an incident">
                <Field label="Title" name="title" placeholder="Checkout errors in eu" error=field_error(declared, "title") />
                <Field label="Runbook" name="runbook" placeholder="high-error-rate (or empty)" error=field_error(declared, "runbook") />
                <div class="field">
                    <label for="incident-severity">"Severity"</label>
                    <select id="incident-severity" name="severity">
                        <option value="critical">"critical"</option>
                        <option value="warning" selected>"warning"</option>
                        <option value="info">"info"</option>
                    </select>
                </div>
                <Field label="Commander" name="commander" placeholder="you" error=field_error(declared, "commander") />
                <Field label="Targets" name="targets" placeholder="demo-01, demo-02" error=field_error(declared, "targets") />
                <button type="submit" class="primary" disabled=move || declare.pending().get()>"Declare"</button>
            </ActionForm>
            <ErrorNote error=form_error(declared) />
        </section>
    }
}

#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
    };
    let step = ServerAction::<MarkStep>::new();
    let note = ServerAction::<AddNote>::new();
    let advance = ServerAction::<NextPhase>::new();
    let resolve = ServerAction::<ResolveIncident>::new();
    let changed = RwSignal::new(0u64);
    count_successes(step, changed);
    count_successes(note, changed);
    count_successes(advance, changed);
    count_successes(resolve, changed);
    let comms = CommsActions::new(changed);
    let note_form = NodeRef::<leptos::html::Form>::new();
    reset_after_success(note, note_form);
    // Others work the same incident: look again every few seconds (but not while something
    // typed is unsent, which a fresh render would wipe), and after every change.
    let refresh = RwSignal::new(0u64);
    let ticks = RwSignal::new(0i64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                ticks.update(|t| *t += 1);
                if ticks.get_untracked() % 5 == 0 && !has_unsent_input() {
                    refresh.update(|r| *r += 1);
                }
            },
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let view_data = Resource::new(
        move || (id(), refresh.get(), changed.get()),
        |(id, ..)| async move {
            match id {
                Some(id) => get_incident(id).await,
                None => Err(crate::api::error::AppError::NotFound),
            }
        },
    );
    // Seconds since the latest answer, so the countdown moves between refreshes.
    let fetched_at = RwSignal::new(0i64);
    Effect::new(move |_| {
        if view_data.get().is_some() {
            fetched_at.set(ticks.get_untracked());
        }
    });
    let since_fetch = Signal::derive(move || ticks.get() - fetched_at.get());
    let errors = move || {
        [
            form_error(step.value().into()).get(),
            form_error(note.value().into()).get(),
            form_error(advance.value().into()).get(),
            form_error(resolve.value().into()).get(),
            comms.error(),
        ]
        .into_iter()
        .flatten()
        .next()
    };
    view! {
        <Title text="Incident" />
        <p><a href="/incidents">"← Incidents"</a></p>
        {move || errors().map(|err| view! { <p class="error-note" role="alert">{err.to_string()}</p> })}
        <p class="field-error" role="alert">{field_error(step.value().into(), "reason")}</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match view_data.await {
                    Ok(data) => view! { <Guided data since_fetch step note note_form advance resolve comms /> }.into_any(),
                    Err(err) => view! { <h1>"Incident"</h1><p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Whether a form on the page holds something typed and not yet sent, which a refresh
/// would wipe.
fn has_unsent_input() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Ok(fields) =
            document().query_selector_all("form input:not([type=hidden]), form textarea")
        else {
            return false;
        };
        (0..fields.length())
            .filter_map(|i| fields.item(i))
            .any(|node| {
                if let Some(input) = node.dyn_ref::<web_sys::HtmlInputElement>() {
                    input.value() != input.default_value()
                } else if let Some(area) = node.dyn_ref::<web_sys::HtmlTextAreaElement>() {
                    area.default_value()
                        .is_ok_and(|default| area.value() != default)
                } else {
                    false
                }
            })
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

#[component]
fn Guided(
    data: IncidentView,
    since_fetch: Signal<i64>,
    step: ServerAction<MarkStep>,
    note: ServerAction<AddNote>,
    note_form: NodeRef<leptos::html::Form>,
    advance: ServerAction<NextPhase>,
    resolve: ServerAction<ResolveIncident>,
    comms: CommsActions,
) -> impl IntoView {
    let IncidentView {
        incident,
        timeline,
        targets,
        updates,
        action_items,
        now,
    } = data;
    let id = incident.id;
    let open = incident.state == IncidentState::Open;
    let phase = incident.phase().cloned();
    let budget = phase.as_ref().and_then(|p| p.budget_secs);
    let base_elapsed = incident.phase_elapsed(now);
    let elapsed = move || {
        if open {
            base_elapsed + since_fetch.get()
        } else {
            base_elapsed
        }
    };
    let level = move || timer(elapsed(), budget);
    let current = incident.current_phase;
    let last = incident.is_last_phase();
    let steps: Vec<_> = incident
        .steps
        .iter()
        .filter(|s| s.phase == current)
        .cloned()
        .collect();
    let declared_at = incident.declared_at;
    let window_from = incident.window_start().timestamp_millis();
    let window_to = incident.resolved_at.map(|at| at.timestamp_millis());
    let clock = crate::app::live::use_clock();
    view! {
        <Title text=format!("#{} {}", incident.id, incident.title) />
        <div class="incident-page">
            <header class="incident-head">
                <h1>{format!("#{} {}", incident.id, incident.title)}</h1>
                <span class=format!("severity-{}", incident.severity.as_str())>{incident.severity.as_str()}</span>
                <span data-state=incident.state.as_str()>{incident.state.as_str()}</span>
                {Role::ALL.into_iter().filter_map(|role| incident.holder(role).map(|who| view! {
                    <span class="muted" data-role-holder=role.as_str()>{role.label()} " " <b>{who.to_owned()}</b></span>
                })).collect_view()}
                <a href=format!("/reports/incident-{id}.md") download>"Report (Markdown)"</a>
                <a href=format!("/reports/incident-{id}.html") target="_blank">"Report (printable)"</a>
            </header>
            <div class="guided">
                <section class="panel phase-panel" aria-label="Current phase">
                    {match phase.clone() {
                        Some(p) if open => view! {
                            <h2>{format!("Phase {} of {}: {}", current + 1, incident.phases.len(), p.name)}</h2>
                            <p class=move || format!("timer {}", level().as_str()) data-timer-level=move || level().as_str() role="timer">
                                {move || countdown(elapsed(), budget)}
                            </p>
                        }.into_any(),
                        _ => view! { <h2>"Resolved"</h2><ReopenForm incident_id=id actions=comms /> }.into_any(),
                    }}
                    <ul class="steps">
                        {steps.into_iter().map(|s| {
                            let step_id = s.id;
                            let text = s.text.clone();
                            let done_label = format!("Done: {text}");
                            let skip_label = format!("Skip: {text}");
                            let reason_label = format!("Why skip: {text}");
                            view! {
                                <li class=format!("step {}", s.state.as_str()) data-step-state=s.state.as_str()>
                                    <span class="step-text">{text.clone()}</span>
                                    {match s.state {
                                        StepState::Pending if open => view! {
                                            <ActionForm action=step attr:class="inline">
                                                <input type="hidden" name="incident_id" value=id />
                                                <input type="hidden" name="step_id" value=step_id />
                                                <input type="hidden" name="action" value="done" />
                                                <button type="submit" class="primary" aria-label=done_label>"Done"</button>
                                            </ActionForm>
                                            <ActionForm action=step attr:class="inline">
                                                <input type="hidden" name="incident_id" value=id />
                                                <input type="hidden" name="step_id" value=step_id />
                                                <input type="hidden" name="action" value="skip" />
                                                <input name="reason" placeholder="why skip?" aria-label=reason_label />
                                                <button type="submit" aria-label=skip_label>"Skip"</button>
                                            </ActionForm>
                                        }.into_any(),
                                        StepState::Pending => ().into_any(),
                                        _ => view! {
                                            <small class="muted">
                                                {format!(" {} by {}", s.state.as_str(), s.actor.clone().unwrap_or_default())}
                                                {s.at.map(|at| format!(" at {}", at.format("%H:%M:%S UTC")))}
                                                {s.reason.clone().map(|r| format!(": {r}"))}
                                            </small>
                                        }.into_any(),
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    {open.then(|| view! {
                        <div class="phase-actions">
                            {(!last).then(|| view! {
                                <ActionForm action=advance attr:class="inline">
                                    <input type="hidden" name="incident_id" value=id />
                                    <input type="hidden" name="from_phase" value=current />
                                    <button type="submit" class="primary">"Next phase"</button>
                                </ActionForm>
                            })}
                            <ActionForm action=resolve attr:class="inline">
                                <input type="hidden" name="incident_id" value=id />
                                <button type="submit" class="danger">"Resolve incident"</button>
                            </ActionForm>
                        </div>
                    })}
                </section>
                <section class="panel incident-charts" aria-label="Affected targets">
                    <h2>"Affected targets"</h2>
                    {targets.is_empty().then(|| view! { <p class="muted">"No targets named."</p> })}
                    {targets.into_iter().map(|(target, name)| {
                        // The incident's own window; an open one's charts follow new polls.
                        let src = move |chart: &str| {
                            let mut src = format!("/charts/{target}/{chart}.svg?from={window_from}");
                            match window_to {
                                Some(to) => src.push_str(&format!("&to={to}")),
                                None => src.push_str(&format!("&t={}", (clock.get() / 10_000.0) as u64)),
                            }
                            src
                        };
                        view! {
                            <h3><a href=format!("/targets/{target}")>{name.clone()}</a></h3>
                            <img class="chart" src=move || src("latency") alt=format!("Latency of {name}") width="640" height="260" />
                            <img class="chart" src=move || src("errors") alt=format!("Errors of {name}") width="640" height="260" />
                        }
                    }).collect_view()}
                </section>
            </div>
            <div class="comms">
                <StatusPanel incident=incident.clone() updates now since_fetch actions=comms />
                <RolesPanel incident=incident.clone() actions=comms />
            </div>
            <section class="panel">
                <h2>"Phases"</h2>
                <ol class="phases">
                    {incident.phase_times(now).into_iter().enumerate().map(|(i, (name, spent, budget))| view! {
                        <li class:current=i == current>
                            <b>{name}</b>
                            {format!(
                                " · {} spent{}",
                                spent.map_or("–".to_owned(), |s| format!("{}:{:02}", s / 60, s % 60)),
                                budget.map(|b| format!(" of {}:{:02}", b / 60, b % 60)).unwrap_or_default()
                            )}
                        </li>
                    }).collect_view()}
                </ol>
            </section>
            {open.then(|| view! {
                <section class="panel">
                    <h2>"Add a note"</h2>
                    <ActionForm action=note node_ref=note_form attr:class="inline deploy-form" attr:aria-label="Add a note">
                        <input type="hidden" name="incident_id" value=id />
                        <input name="text" required maxlength="2000" placeholder="What did you see or do?" aria-label="Note" />
                        <button type="submit">"Add note"</button>
                    </ActionForm>
                </section>
            })}
            <ActionItemsPanel incident_id=id items=action_items today=now.date_naive() actions=comms />
            <section class="panel" aria-label="Timeline">
                <h2>"Timeline"</h2>
                <ol class="timeline">
                    {timeline.into_iter().map(|e| view! {
                        <li data-kind=e.kind.as_str()>
                            <span class="muted">{relative(e.at, declared_at)}</span>
                            " " <b>{e.kind.as_str()}</b> " " {e.text} <small class="muted">{format!(" · {}", e.actor)}</small>
                        </li>
                    }).collect_view()}
                </ol>
            </section>
        </div>
    }
}
