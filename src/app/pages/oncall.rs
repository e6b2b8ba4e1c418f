//! On-call schedules: who is on call now and next (also on the wall and the alerts page), the
//! shifts of the next two weeks with their gaps, layers and overrides, and each person's
//! calendar feed.
use crate::api::oncall::{
    AddLayer, AddOverride, CreateSchedule, DeleteLayer, DeleteOverride, DeleteSchedule,
    NewCalendarFeed, OnCallSummary, RevokeCalendarFeed, ScheduleView, calendar_feed,
    on_call_summaries, schedule_detail,
};
use crate::app::components::{ErrorNote, Field, LocalTime, field_error, form_error};
use crate::app::live::use_clock;
use crate::domain::oncall::{Gap, Rotation, Shift, ShiftSource};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// How often a long-open page (the wall) asks again who is on call.
const SUMMARY_REFRESH_MS: f64 = 5.0 * 60.0 * 1000.0;

/// One line per schedule: who is on call and until when, who is next, and any gap ahead.
/// Nothing at all while no schedule exists.
#[component]
pub fn OnCallStrip() -> impl IntoView {
    let clock = use_clock();
    let summaries = Resource::new(
        move || (clock.get() / SUMMARY_REFRESH_MS).floor() as i64,
        |_| on_call_summaries(),
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                summaries.await.ok().filter(|s| !s.is_empty()).map(|list| view! {
                    <section class="oncall-strip" aria-label="On call">
                        {list.into_iter().map(|s| view! { <OnCallLine summary=s /> }).collect_view()}
                    </section>
                })
            })}
        </Transition>
    }
}

#[component]
fn OnCallLine(summary: OnCallSummary) -> impl IntoView {
    let OnCallSummary {
        id,
        name,
        now,
        next,
        gaps,
        ..
    } = summary;
    let first_gap = gaps.first().copied();
    let data_name = name.clone();
    view! {
        <p class="oncall-line" data-schedule=data_name>
            <a href=format!("/oncall/{id}")><b>{name}</b></a>
            " · "
            {match now {
                Some(shift) => view! {
                    <span class="oncall-now" data-user=shift.user.clone()>
                        <b>{shift.user.clone()}</b> " until " <LocalTime at=shift.ends_at />
                    </span>
                }.into_any(),
                None => view! { <span class="oncall-now nobody warning">"nobody on call"</span> }.into_any(),
            }}
            {next.map(|shift| view! {
                <span class="oncall-next" data-user=shift.user.clone()>
                    " · next " <b>{shift.user.clone()}</b>
                </span>
            })}
            {first_gap.map(|gap| view! {
                <span class="oncall-gap warning" role="status">
                    " · gap from " <LocalTime at=gap.starts_at />
                </span>
            })}
        </p>
    }
}

#[component]
pub fn OnCallPage() -> impl IntoView {
    let create = ServerAction::<CreateSchedule>::new();
    let summaries = Resource::new(move || create.version().get(), |_| on_call_summaries());
    let created: Signal<_> = create.value().into();
    let can_edit = crate::app::components::use_permission(crate::domain::auth::Permission::Operate);
    view! {
        <Title text="On call" />
        <h1>"On call"</h1>
        <crate::app::pages::alerts::AlertsNav />
        <Transition fallback=|| view! { <p class="muted">"Loading schedules…"</p> }>
            {move || Suspend::new(async move {
                match summaries.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="panel empty-state">"No on-call schedule yet: nobody is paged. Create one below."</p>
                    }.into_any(),
                    Ok(list) => view! { <ScheduleList list /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                can_edit.await.then(|| view! {
                    <section class="panel">
                        <h2>"New schedule"</h2>
                        <ActionForm action=create attr:class="target-form" attr:aria-label="New schedule">
                            <Field label="Name" name="name" placeholder="Primary" error=field_error(created, "name") />
                            <Field label="Time zone" name="time_zone" value="UTC".to_owned() hint="IANA name, e.g. Europe/Berlin" error=field_error(created, "time_zone") />
                            <LayerFields result=created />
                            <button type="submit" class="primary" disabled=move || create.pending().get()>"Create schedule"</button>
                        </ActionForm>
                        <ErrorNote error=form_error(created) />
                    </section>
                })
            })}
        </Transition>
        <CalendarFeedPanel />
    }
}

#[component]
fn ScheduleList(list: Vec<OnCallSummary>) -> impl IntoView {
    view! {
        <table class="schedules">
            <caption>"Schedules, and who is on call"</caption>
            <thead>
                <tr>
                    <th scope="col">"Schedule"</th>
                    <th scope="col">"Now"</th>
                    <th scope="col">"Next"</th>
                    <th scope="col">"Next 14 days"</th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|s| {
                    let gaps = s.gaps.len();
                    view! {
                        <tr data-schedule=s.name.clone()>
                            <td><a href=format!("/oncall/{}", s.id)>{s.name.clone()}</a><br /><small class="muted">{s.time_zone.clone()}</small></td>
                            <td>{shift_cell(s.now)}</td>
                            <td>{shift_cell(s.next)}</td>
                            <td>
                                {if gaps == 0 {
                                    view! { <span class="ok">"covered"</span> }.into_any()
                                } else {
                                    view! { <span class="warning" role="status">{format!("{gaps} gap(s) in coverage")}</span> }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn shift_cell(shift: Option<Shift>) -> AnyView {
    match shift {
        Some(shift) => view! {
            <b>{shift.user}</b><br />
            <small><LocalTime at=shift.starts_at /> " → " <LocalTime at=shift.ends_at /></small>
        }
        .into_any(),
        None => view! { <span class="warning">"nobody"</span> }.into_any(),
    }
}

/// The fields of a layer, shared by the new-schedule and add-layer forms.
#[component]
fn LayerFields<T: Send + Sync + 'static>(
    result: Signal<Option<Result<T, crate::api::error::AppError>>>,
) -> impl IntoView {
    view! {
        <Field label="Layer" name="layer_name" placeholder="Primary" hint="empty: Primary" error=field_error(result, "layer_name") />
        <div class="field">
            <label for="field-rotation">"Rotation"</label>
            <select id="field-rotation" name="rotation">
                {Rotation::ALL.iter().rev().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <small class="field-error" role="alert">{field_error(result, "rotation")}</small>
        </div>
        <Field label="First handoff" name="first_handoff" input_type="datetime-local" hint="in the schedule's time zone" error=field_error(result, "first_handoff") />
        <Field label="People, in turn" name="participants" placeholder="ann, bob" hint="usernames" error=field_error(result, "participants") />
        <Field label="Only from" name="window_start" input_type="time" hint="optional: daily hours" error=field_error(result, "window_start") />
        <Field label="Until" name="window_end" input_type="time" error=field_error(result, "window_end") />
    }
}

/// The caller's own calendar link: made, shown once, replaced or revoked.
#[component]
fn CalendarFeedPanel() -> impl IntoView {
    let make = ServerAction::<NewCalendarFeed>::new();
    let revoke = ServerAction::<RevokeCalendarFeed>::new();
    let status = Resource::new(
        move || (make.version().get(), revoke.version().get()),
        |_| calendar_feed(),
    );
    let made = make.value();
    let schedules = Resource::new(move || make.version().get(), |_| on_call_summaries());
    let origin = move || {
        #[cfg(feature = "hydrate")]
        {
            window().location().origin().unwrap_or_default()
        }
        #[cfg(not(feature = "hydrate"))]
        {
            String::new()
        }
    };
    view! {
        <section class="panel" aria-label="Calendar feed">
            <h2>"Your calendar feed"</h2>
            <p class="muted">"Subscribe to a schedule in any calendar app. The link carries a secret of your own: anyone with it sees the schedule, so revoke it if it leaks."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(feed) => match feed.since {
                            Some(since) => view! { <p>"Your feed secret was made " <LocalTime at=since /> "."</p> }.into_any(),
                            None => view! { <p>"You have no feed secret."</p> }.into_any(),
                        },
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            {move || made.get().and_then(Result::ok).and_then(|feed| feed.secret).map(|secret| {
                let base = origin();
                let links = schedules.get().and_then(Result::ok).unwrap_or_default();
                view! {
                    <div class="secret-once" role="status">
                        <p>"Shown once: copy the address of each schedule you want now."</p>
                        <ul>
                            {links.into_iter().map(|s| view! {
                                <li>
                                    {s.name.clone()} ": "
                                    <code class="feed-link" data-schedule=s.name.clone()>
                                        {format!("{base}/calendar/{}.ics?token={secret}", s.id)}
                                    </code>
                                </li>
                            }).collect_view()}
                        </ul>
                    </div>
                }
            })}
            <div class="actions">
                <ActionForm action=make attr:class="inline">
                    <button type="submit">"New feed secret"</button>
                </ActionForm>
                <ActionForm action=revoke attr:class="inline">
                    <button type="submit">"Revoke"</button>
                </ActionForm>
            </div>
            <ErrorNote error=form_error(make.value().into()) />
            <ErrorNote error=form_error(revoke.value().into()) />
        </section>
    }
}

#[component]
pub fn SchedulePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
    };
    let add_layer = ServerAction::<AddLayer>::new();
    let delete_layer = ServerAction::<DeleteLayer>::new();
    let add_override = ServerAction::<AddOverride>::new();
    let delete_override = ServerAction::<DeleteOverride>::new();
    let delete_schedule = ServerAction::<DeleteSchedule>::new();
    let detail = Resource::new(
        move || {
            (
                id(),
                add_layer.version().get(),
                delete_layer.version().get(),
                add_override.version().get(),
                delete_override.version().get(),
            )
        },
        |(id, ..)| async move {
            match id {
                Some(id) => schedule_detail(id).await,
                None => Err(crate::api::error::AppError::NotFound),
            }
        },
    );
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if matches!(delete_schedule.value().get(), Some(Ok(()))) {
            navigate("/oncall", Default::default());
        }
    });
    let layer_result: Signal<_> = add_layer.value().into();
    let override_result: Signal<_> = add_override.value().into();
    let schedule_id = move || id().unwrap_or_default().to_string();
    view! {
        <Title text="On-call schedule" />
        <p><a href="/oncall">"← On call"</a></p>
        <Transition fallback=|| view! { <p class="muted">"Loading schedule…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(view) => view! { <ScheduleDetailView view delete_layer delete_override delete_schedule /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <ErrorNote error=form_error(delete_layer.value().into()) />
        <ErrorNote error=form_error(delete_override.value().into()) />
        <ErrorNote error=form_error(delete_schedule.value().into()) />
        <div class="columns">
            <section class="panel">
                <h2>"Override"</h2>
                <p class="muted">"Someone covers a span instead of the rotation, e.g. \"I cover Tuesday\"."</p>
                <ActionForm action=add_override attr:class="target-form" attr:aria-label="New override">
                    <input type="hidden" name="schedule_id" value=schedule_id />
                    <Field label="Who" name="user" id_prefix="override-" placeholder="ann" error=field_error(override_result, "user") />
                    <Field label="From" name="starts" id_prefix="override-" input_type="datetime-local" error=field_error(override_result, "starts") />
                    <Field label="Until" name="ends" id_prefix="override-" input_type="datetime-local" error=field_error(override_result, "ends") />
                    <button type="submit" class="primary" disabled=move || add_override.pending().get()>"Add override"</button>
                </ActionForm>
                <ErrorNote error=form_error(override_result) />
            </section>
            <section class="panel">
                <h2>"Add a layer"</h2>
                <p class="muted">"A new layer sits above the others: where it covers, it wins (e.g. business hours over a round-the-clock rotation)."</p>
                <ActionForm action=add_layer attr:class="target-form" attr:aria-label="New layer">
                    <input type="hidden" name="schedule_id" value=schedule_id />
                    <LayerFields result=layer_result />
                    <button type="submit" class="primary" disabled=move || add_layer.pending().get()>"Add layer"</button>
                </ActionForm>
                <ErrorNote error=form_error(layer_result) />
            </section>
        </div>
    }
}

#[component]
fn ScheduleDetailView(
    view: ScheduleView,
    delete_layer: ServerAction<DeleteLayer>,
    delete_override: ServerAction<DeleteOverride>,
    delete_schedule: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    let ScheduleView {
        summary,
        schedule,
        coverage,
        can_edit,
        ..
    } = view;
    let id = schedule.id;
    let feed_path = format!("/calendar/{id}.ics?token=");
    view! {
        <h1>{schedule.name.clone()} <small class="muted">" · " {schedule.time_zone.clone()}</small></h1>
        <OnCallLine summary=summary.clone() />
        <GapWarning gaps=summary.gaps.clone() />
        <section class="panel">
            <h2>"Shifts, next 14 days"</h2>
            <table class="shifts">
                <thead>
                    <tr><th scope="col">"Who"</th><th scope="col">"From"</th><th scope="col">"Until"</th><th scope="col">"By"</th></tr>
                </thead>
                <tbody>
                    {coverage.shifts.into_iter().map(|shift| {
                        let source = match &shift.source {
                            ShiftSource::Layer(name) => name.clone(),
                            ShiftSource::Override => "override".to_owned(),
                        };
                        view! {
                            <tr data-user=shift.user.clone()>
                                <td><b>{shift.user.clone()}</b></td>
                                <td><LocalTime at=shift.starts_at /></td>
                                <td><LocalTime at=shift.ends_at /></td>
                                <td>{source}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p class="muted">"Calendar: " <code>{feed_path}</code> "your feed secret (see On call)."</p>
        </section>
        <section class="panel">
            <h2>"Layers"</h2>
            <p class="muted">"Lowest first; a later layer wins where it covers."</p>
            <ol class="layers">
                {schedule.layers.into_iter().map(|layer| {
                    let window = layer.window.map(|w| format!(", {}–{} only", w.start.format("%H:%M"), w.end.format("%H:%M")));
                    let label = format!("Delete layer {}", layer.name);
                    view! {
                        <li data-layer=layer.name.clone()>
                            <b>{layer.name.clone()}</b>
                            {format!(": {} from {}, ", layer.rotation.as_str(), layer.first_handoff.format("%Y-%m-%d %H:%M"))}
                            {layer.participants.join(" → ")}
                            {window}
                            {can_edit.then(|| view! {
                                <ActionForm action=delete_layer attr:class="inline">
                                    <input type="hidden" name="schedule_id" value=id />
                                    <input type="hidden" name="layer_id" value=layer.id />
                                    <button type="submit" aria-label=label>"Delete"</button>
                                </ActionForm>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
        <section class="panel">
            <h2>"Overrides"</h2>
            {if schedule.overrides.is_empty() {
                view! { <p class="muted">"None ahead."</p> }.into_any()
            } else {
                view! {
                    <ul class="overrides">
                        {schedule.overrides.into_iter().map(|o| {
                            let label = format!("Delete the override for {}", o.user);
                            view! {
                                <li data-user=o.user.clone()>
                                    <b>{o.user.clone()}</b> " " <LocalTime at=o.starts_at /> " → " <LocalTime at=o.ends_at />
                                    <small class="muted">{format!(" (by {})", o.created_by)}</small>
                                    {can_edit.then(|| view! {
                                        <ActionForm action=delete_override attr:class="inline">
                                            <input type="hidden" name="schedule_id" value=id />
                                            <input type="hidden" name="override_id" value=o.id />
                                            <button type="submit" aria-label=label>"Delete"</button>
                                        </ActionForm>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {can_edit.then(|| view! {
                <ActionForm action=delete_schedule attr:class="inline" attr:aria-label="Delete the schedule">
                    <input type="hidden" name="id" value=id />
                    // The browser refuses the form until this is ticked: no deletion by a stray click.
                    <label><input type="checkbox" name="confirm" required=true /> " Yes, delete it and its overrides"</label>
                    " "
                    <button type="submit" class="danger">"Delete this schedule"</button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
fn GapWarning(gaps: Vec<Gap>) -> impl IntoView {
    (!gaps.is_empty()).then(|| {
        view! {
            <div class="banner warning" role="status" data-testid="coverage-gaps">
                <b>{format!("Nobody is on call for {} span(s) in the next 14 days:", gaps.len())}</b>
                <ul>
                    {gaps.into_iter().map(|gap| view! {
                        <li><LocalTime at=gap.starts_at /> " → " <LocalTime at=gap.ends_at /></li>
                    }).collect_view()}
                </ul>
            </div>
        }
    })
}
