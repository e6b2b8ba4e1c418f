//! The Fleet page: every target, and adding, editing and removing the ones made here.
use crate::api::error::AppError;
use crate::api::fleet::fleet_overview;
use crate::api::targets::{
    AddTarget, RemoveTarget, UpdateTarget, get_target, list_targets, target_offers, target_sources,
};
use crate::app::components::{ErrorNote, Field, field_error, form_error, reset_after_success};
use crate::domain::observation::TargetState;
use crate::domain::offers::{ProbeKind, ProbeOffers, ProbeSwitch};
use crate::domain::target::{ProbeSettings, Target, TargetSource};
use crate::domain::target_files::SourceStatus;
use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use std::collections::HashMap;

#[component]
pub fn FleetPage() -> impl IntoView {
    let add = ServerAction::<AddTarget>::new();
    let remove = ServerAction::<RemoveTarget>::new();
    let targets = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| async {
            let (targets, overview, offers) = futures::join!(
                list_targets(),
                fleet_overview(Some("none".into())),
                target_offers()
            );
            let states: HashMap<i64, TargetState> = overview
                .map(|overview| overview.tiles().map(|tile| (tile.id, tile.state)).collect())
                .unwrap_or_default();
            let offers: HashMap<i64, ProbeOffers> =
                offers.unwrap_or_default().into_iter().collect();
            targets.map(|list| (list, states, offers))
        },
    );
    let sources = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| target_sources(),
    );
    let added: Signal<_> = add.value().into();
    let form = NodeRef::<html::Form>::new();
    reset_after_success(add, form);

    view! {
        <Title text="Fleet" />
        <h1>"Fleet"</h1>
        <section class="panel">
            <h2>"Add a target"</h2>
            <ActionForm action=add node_ref=form attr:class="target-form" attr:aria-label="Add a target">
                <Field label="Name" name="name" placeholder="search-api-1" error=field_error(added, "name") />
                <Field label="Base URL" name="base_url" placeholder="https://mcp.example.com" error=field_error(added, "base_url") />
                <Field label="Interval (s)" name="interval_secs" placeholder="10" error=field_error(added, "interval_secs") />
                <Field label="Tags" name="tags" placeholder="prod, region:eu" hint="comma-separated" error=field_error(added, "tags") />
                <ProbeFields probe=ProbeSettings::default() header_names=Vec::new() result=added />
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Add target"</button>
            </ActionForm>
            <ErrorNote error=form_error(added) />
            {move || match add.value().get() {
                Some(Ok(target)) => Some(view! { <p class="ok-note" role="status">"Added " {target.name} "."</p> }),
                _ => None,
            }}
        </section>
        <ErrorNote error=form_error(remove.value().into()) />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let sources = sources.await.unwrap_or_default();
                (!sources.is_empty()).then(|| view! { <SourceTable sources /> })
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="muted">"Loading targets…"</p> }>
            {move || Suspend::new(async move {
                match targets.await {
                    Ok((list, states, offers)) => view! { <TargetTable targets=list states offers remove /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The target files, so a file that did not apply is noticed where its targets are listed.
#[component]
fn SourceTable(sources: Vec<SourceStatus>) -> impl IntoView {
    view! {
        <section class="panel" aria-label="Target files">
            <h2>"Target files"</h2>
            <p class="muted">"Re-read every few seconds. Change these targets in their file; a file that does not read cleanly keeps its targets as they were."</p>
            <table class="sources">
                <thead>
                    <tr>
                        <th scope="col">"File"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Targets"</th>
                        <th scope="col">"State"</th>
                    </tr>
                </thead>
                <tbody>
                    {sources.into_iter().map(|s| view! {
                        <tr data-source=s.path.clone()>
                            <td class="url">{s.path.clone()}</td>
                            <td>{s.source.as_str()}</td>
                            <td>{s.targets}</td>
                            <td>{match s.error {
                                Some(error) => view! { <span class="error-note">{error}</span> }.into_any(),
                                None => view! { <span class="status status-up">"ok"</span> }.into_any(),
                            }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn TargetTable(
    targets: Vec<Target>,
    states: HashMap<i64, TargetState>,
    offers: HashMap<i64, ProbeOffers>,
    remove: ServerAction<RemoveTarget>,
) -> impl IntoView {
    if targets.is_empty() {
        return view! { <p class="panel empty-state">"No targets yet. Add one above, or start mcpops with the demo fleet."</p> }
            .into_any();
    }
    let count = targets.len();
    view! {
        <table class="targets">
            <caption>{format!("{count} targets")}</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Offers"</th>
                    <th scope="col">"Base URL"</th>
                    <th scope="col">"Every"</th>
                    <th scope="col">"Tags"</th>
                    <th scope="col">"Source"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {targets
                    .into_iter()
                    .map(|target| {
                        let state = states.get(&target.id).copied().unwrap_or(TargetState::Unknown);
                        let offers = offers.get(&target.id).copied().unwrap_or_default();
                        view! { <TargetRow target state offers remove /> }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TargetRow(
    target: Target,
    state: TargetState,
    offers: ProbeOffers,
    remove: ServerAction<RemoveTarget>,
) -> impl IntoView {
    let editable = target.source == TargetSource::Ui;
    let edit_href = format!("/fleet/{}/edit", target.id);
    let id = target.id.to_string();
    let label = format!("Remove {}", target.name);
    view! {
        <tr data-target=target.name.clone()>
            <th scope="row">{target.name.clone()}</th>
            <td><span class=format!("status status-{}", state.css_name())>{state.label()}</span></td>
            <td class="offers-cell">
                {ProbeKind::ALL.map(|probe| {
                    let offer = offers.get(probe);
                    view! {
                        <span class=format!("offer offer-{}", offer.css_name()) data-probe=probe.key() data-offer=offer.css_name() title=format!("{}: {}", probe.label(), offer.label())>
                            {probe.key()}
                        </span>
                    }
                }).collect_view()}
            </td>
            <td class="url">{target.base_url.clone()}</td>
            <td>{format!("{} s", target.interval_secs)}</td>
            <td>{target.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</td>
            <td title=target.origin.clone()>
                {target.source.as_str()}
                {(!target.origin.is_empty()).then(|| view! { <br /><small class="muted url">{target.origin.clone()}</small> })}
            </td>
            <td class="actions">
                {editable.then(|| view! {
                    <A href=edit_href>"Edit"</A>
                    <ActionForm action=remove attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="danger" aria-label=label>"Remove"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
pub fn EditTargetPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
    };
    let target = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_target(id).await,
            None => Err(crate::api::error::AppError::NotFound),
        }
    });
    let update = ServerAction::<UpdateTarget>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(update.value().get(), Some(Ok(_))) {
            navigate("/fleet", Default::default());
        }
    });
    let updated: Signal<_> = update.value().into();

    view! {
        <Title text="Edit target" />
        <p><A href="/fleet">"← Fleet"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match target.await {
                    Ok(target) => view! {
                        <h1>"Edit " {target.name.clone()}</h1>
                        <section class="panel">
                            <ActionForm action=update attr:class="target-form" attr:aria-label="Edit target">
                                <input type="hidden" name="id" value=target.id.to_string() />
                                <Field label="Name" name="name" value=target.name.clone() error=field_error(updated, "name") />
                                <Field label="Base URL" name="base_url" value=target.base_url.clone() error=field_error(updated, "base_url") />
                                <Field label="Interval (s)" name="interval_secs" value=target.interval_secs.to_string() error=field_error(updated, "interval_secs") />
                                <Field label="Tags" name="tags" value=target.tags.join(", ") hint="comma-separated" error=field_error(updated, "tags") />
                                <ProbeFields probe=target.probe.clone() header_names=target.header_names.clone() result=updated />
                                <button type="submit" class="primary">"Save"</button>
                            </ActionForm>
                            <ErrorNote error=form_error(updated) />
                        </section>
                    }.into_any(),
                    Err(err) => view! { <h1>"Edit target"</h1><p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The advanced part of the target form: timeout, paths, metric names and secret headers.
/// Header values are never sent back to the page: an edit shows their names only.
#[component]
fn ProbeFields(
    probe: ProbeSettings,
    header_names: Vec<String>,
    result: Signal<Option<Result<Target, AppError>>>,
) -> impl IntoView {
    let saved = if header_names.is_empty() {
        "one Name: value per line, e.g. Authorization: Bearer …".to_owned()
    } else {
        format!(
            "saved: {} (values hidden); leave empty to keep them",
            header_names.join(", ")
        )
    };
    let has_saved = !header_names.is_empty();
    let open = probe != ProbeSettings::default() || has_saved;
    let error = move |field: &'static str| field_error(result, field);
    view! {
        <details class="probe-settings" open=open>
            <summary>"Probe settings (timeout, paths, which probes run, metric names, headers)"</summary>
            <div class="target-form">
                <Field label="Timeout (ms)" name="probe[timeout_ms]" value=probe.timeout_ms.map(|t| t.to_string()).unwrap_or_default() placeholder="5000" hint="empty: the collector's" error=error("timeout_ms") />
                <Field label="Liveness path" name="probe[live_path]" value=probe.live_path.clone() error=error("live_path") />
                <Field label="Readiness path" name="probe[ready_path]" value=probe.ready_path.clone() error=error("ready_path") />
                <Field label="Metrics path" name="probe[metrics_path]" value=probe.metrics_path.clone() error=error("metrics_path") />
                <Field label="MCP path" name="probe[mcp_path]" value=probe.mcp_path.clone() error=error("mcp_path") />
                {ProbeKind::ALL.map(|kind| view! {
                    <SwitchField kind switch=probe.switches.get(kind) error=error(switch_field(kind)) />
                }).collect_view()}
                <div class="field">
                    <label for="probe-profile">"Metric profile"</label>
                    <select id="probe-profile" name="probe[profile]">
                        <option value="guide" selected=probe.profile != "opentelemetry">"operations guide"</option>
                        <option value="opentelemetry" selected=probe.profile == "opentelemetry">"OpenTelemetry"</option>
                    </select>
                    <small class="field-error" role="alert">{error("profile")}</small>
                </div>
                <div class="field wide">
                    <label for="probe-metric-names">"Metric mapping"</label>
                    <textarea id="probe-metric-names" name="probe[metric_names]" rows="3" placeholder="requests_total = http_requests_total">{probe.metric_names_text()}</textarea>
                    <small class="hint">"signal = metric_name, one per line"</small>
                    <small class="field-error" role="alert">{error("metric_names")}</small>
                </div>
                <div class="field wide">
                    <label for="probe-headers">"Secret headers"</label>
                    <textarea id="probe-headers" name="probe[headers]" rows="2" autocomplete="off" spellcheck="false"></textarea>
                    <small class="hint">{saved}</small>
                    <small class="field-error" role="alert">{error("headers")}</small>
                    {has_saved.then(|| view! {
                        <label class="check"><input type="checkbox" name="probe[clear_headers]" value="on" />" remove the saved headers"</label>
                    })}
                </div>
            </div>
        </details>
    }
}

/// The form field of one probe's switch.
fn switch_field(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Live => "live_switch",
        ProbeKind::Ready => "ready_switch",
        ProbeKind::Metrics => "metrics_switch",
        ProbeKind::Mcp => "mcp_switch",
    }
}

/// Whether one probe runs: found out by asking (auto), always, or never.
#[component]
fn SwitchField(
    kind: ProbeKind,
    switch: ProbeSwitch,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let field = switch_field(kind);
    let id = format!("probe-{field}");
    let options = [
        (ProbeSwitch::Auto, "auto: when the server offers it"),
        (ProbeSwitch::On, "on: a 404 is a failure"),
        (ProbeSwitch::Off, "off: never asked"),
    ];
    view! {
        <div class="field">
            <label for=id.clone()>{format!("{} probe", capitalized(kind.label()))}</label>
            <select id=id name=format!("probe[{field}]")>
                {options.map(|(value, text)| view! {
                    <option value=value.as_str() selected=value == switch>{text}</option>
                }).collect_view()}
            </select>
            <small class="field-error" role="alert">{error}</small>
        </div>
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
