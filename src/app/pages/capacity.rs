//! Capacity: the guide's sizing formula on measured load for the fleet, a tag or a target,
//! with each person's own what-if inputs, the traffic forecast and a CSV export.
use crate::api::capacity::{CapacityView, SaveWhatIf, capacity_page};
use crate::app::components::{ErrorNote, form_error};
use crate::domain::capacity::{CapacityReport, Exhaustion, Input, Source};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn CapacityPage() -> impl IntoView {
    let query = use_query_map();
    let scope = move || query.read().get("scope").unwrap_or_else(|| "fleet".into());
    let window = move || query.read().get("window").unwrap_or_else(|| "7d".into());
    let save = ServerAction::<SaveWhatIf>::new();
    let data = Resource::new(
        move || (scope(), window(), save.version().get()),
        |(scope, window, _)| capacity_page(scope, window),
    );
    view! {
        <Title text="Capacity" />
        <h1>"Capacity"</h1>
        <ErrorNote error=form_error(save.value().into()) />
        <Transition fallback=|| view! { <p class="muted">"Measuring…"</p> }>
            {move || Suspend::new(async move {
                let version = save.version().get_untracked();
                match data.await {
                    Ok(view) => view! { <Planner view save version /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Planner(view: CapacityView, save: ServerAction<SaveWhatIf>, version: usize) -> impl IntoView {
    let CapacityView {
        report,
        scopes,
        can_save,
    } = view;
    let query = format!("scope={}&window={}", encode(&report.scope), report.window);
    let chart = format!("/charts/capacity.svg?{query}&v={version}");
    let csv = format!("/reports/capacity.csv?{query}");
    view! {
        <form method="get" action="/capacity" class="panel filters" aria-label="Scope and window">
            <label>
                "Scope "
                <select name="scope">
                    {scopes.into_iter().map(|(value, label)| {
                        let selected = value == report.scope;
                        view! { <option value=value selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>
                "Measured over "
                <select name="window">
                    {["24h", "7d", "30d"].into_iter().map(|w| view! {
                        <option value=w selected=w == report.window>{w}</option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit">"Show"</button>
            <a href=csv download="">"Export CSV"</a>
        </form>
        <Summary report=report.clone() />
        <section class="panel forecast">
            <h2>"Forecast"</h2>
            <img class="chart" src=chart alt=format!("Daily peak traffic of {} with its trend and the limits of the current instances", report.scope_label) />
        </section>
        <WhatIf report save can_save />
    }
}

#[component]
fn Summary(report: CapacityReport) -> impl IntoView {
    let today = report.today;
    let runs_out = |label: &'static str, testid: &'static str, e: Exhaustion| {
        view! {
            <div class="objective" class:missed=e.urgent(today) class:met=!e.urgent(today) && matches!(e, Exhaustion::On(_) | Exhaustion::NotOnTrend)>
                <span class="objective-name">{label}</span>
                <strong data-testid=testid>{e.describe()}</strong>
                <span>"at the current instances, on the daily-peak trend"</span>
            </div>
        }
    };
    let sizing = match &report.plan {
        Some(plan) => view! {
            <div class="objective met">
                <span class="objective-name">"Instances needed"</span>
                <strong data-testid="instances">{plan.instances}</strong>
                <span>
                    {format!("{:.1} cores", plan.required_cores)} " · "
                    {format!("{:.1} GiB", plan.required_memory_gib)}
                    {plan.concurrency.map(|c| format!(" · {c:.0} requests in flight at peak"))}
                </span>
            </div>
        }
        .into_any(),
        None => {
            let needs: Vec<&str> = report.missing.iter().map(|k| k.label()).collect();
            view! {
                <div class="objective missed">
                    <span class="objective-name">"Instances needed"</span>
                    <strong data-testid="instances">"?"</strong>
                    <span>"Not measured yet: " {needs.join(", ")} ". Enter them below to plan ahead."</span>
                </div>
            }.into_any()
        }
    };
    view! {
        <section class="objectives" aria-label="Plan">
            {sizing}
            {runs_out("CPU", "cpu-runs-out", report.cpu_runs_out)}
            {runs_out("Memory", "memory-runs-out", report.memory_runs_out)}
        </section>
        <p class="muted">
            "Required cores = peak rps × CPU per request × (1 + headroom); instances = ⌈cores ÷ cores per instance⌉. "
            {format!("{} days of history", report.peaks.len())}
            {report.trend.as_ref().map(|t| format!("; trend {:+.2} rps per day", t.slope_per_day))}
            "."
        </p>
    }
}

#[component]
fn WhatIf(report: CapacityReport, save: ServerAction<SaveWhatIf>, can_save: bool) -> impl IntoView {
    let errors = Signal::derive(move || match save.value().get() {
        Some(Err(crate::api::error::AppError::Invalid(errors))) => Some(errors),
        _ => None,
    });
    let rows = report
        .inputs
        .into_iter()
        .map(|input| view! { <InputRow input errors /> })
        .collect_view();
    view! {
        <section class="panel">
            <h2>"Inputs and what-if"</h2>
            <p class="muted">"Type a value to plan for it instead of the measured one; your what-if inputs are saved for you alone. Empty fields use the measured or default value."</p>
            <ActionForm action=save>
                <input type="hidden" name="scope" value=report.scope.clone() />
                <div class="table-scroll">
                    <table class="inputs">
                        <thead>
                            <tr>
                                <th scope="col">"Input"</th>
                                <th scope="col">"Value"</th>
                                <th scope="col">"What-if"</th>
                                <th scope="col">"Source"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                {can_save.then(|| view! {
                    <div class="actions">
                        <button type="submit">"Apply what-if"</button>
                        <button type="submit" name="reset" value="true">"Reset to measured"</button>
                    </div>
                })}
            </ActionForm>
        </section>
    }
}

#[component]
fn InputRow(
    input: Input,
    errors: Signal<Option<crate::domain::target::FieldErrors>>,
) -> impl IntoView {
    let key = input.key;
    let id = format!("what-if-{}", key.as_str());
    let error_id = format!("{id}-error");
    let overridden = matches!(input.source, Source::Override { .. });
    let shown = input.value.map(figure).unwrap_or_else(|| "—".into());
    let typed = if overridden {
        input.value.map(figure).unwrap_or_default()
    } else {
        String::new()
    };
    let error = move || {
        errors
            .get()
            .and_then(|e| e.get(key.as_str()).map(str::to_owned))
    };
    view! {
        <tr class:overridden=overridden data-input=key.as_str()>
            <th scope="row">
                <label for=id.clone()>{key.label()}</label>
                <br /><small class="muted">{key.help()}</small>
            </th>
            <td class="figure">{shown} " " <small class="muted">{key.unit()}</small></td>
            <td>
                <input
                    id=id
                    type="text"
                    inputmode="decimal"
                    name=format!("inputs[{}]", key.as_str())
                    value=typed
                    placeholder=input.value.map(figure).unwrap_or_default()
                    aria-describedby=error_id.clone()
                />
                <small class="field-error" id=error_id role="alert">{error}</small>
            </td>
            <td>{input.source.describe()}</td>
        </tr>
    }
}

/// Plain figures for inputs: enough digits for core-seconds, none wasted on large counts.
fn figure(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').to_owned()
    }
}

/// Scope values hold `:` and tag names; keep them intact in a query string.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
