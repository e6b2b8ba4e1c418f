//! A target's synthetic tool calls: each check with its latest call and the last hour's
//! latency and errors, and, for admins, a form to add one and a button to remove one.
use crate::api::checks::{AddCheck, CheckView, RemoveCheck, target_checks};
use crate::app::components::{
    ErrorNote, Field, LocalTime, field_error, form_error, use_permission,
};
use crate::domain::auth::Permission;
use crate::domain::checks::{DEFAULT_INTERVAL_SECS, DEFAULT_TIMEOUT_MS, Outcome};
use crate::domain::observation::Tool;
use leptos::prelude::*;

#[component]
pub fn SyntheticCalls(target_id: i64, tools: Vec<Tool>) -> impl IntoView {
    let add = ServerAction::<AddCheck>::new();
    let remove = ServerAction::<RemoveCheck>::new();
    let checks = Resource::new(
        move || (add.version().get(), remove.version().get()),
        move |_| target_checks(target_id),
    );
    let is_admin = use_permission(Permission::Administer);
    let added: Signal<_> = add.value().into();
    view! {
        <section class="panel synthetic-calls" aria-label="Synthetic calls">
            <h2>"Synthetic calls"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading synthetic calls…"</p> }>
                {move || {
                    let tools = tools.clone();
                    Suspend::new(async move {
                        let is_admin = is_admin.await;
                        let list = match checks.await {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"No synthetic calls: mcpops only pings this server. A call of a read-only tool shows whether its tools work."</p>
                            }.into_any(),
                            Ok(list) => view! { <CheckTable checks=list is_admin remove /> }.into_any(),
                            Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                        };
                        view! {
                            {list}
                            {is_admin.then(|| view! { <AddForm target_id tools add added /> })}
                        }
                    })
                }}
            </Transition>
            <ErrorNote error=form_error(remove.value().into()) />
        </section>
    }
}

#[component]
fn CheckTable(
    checks: Vec<CheckView>,
    is_admin: bool,
    remove: ServerAction<RemoveCheck>,
) -> impl IntoView {
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0} ms"));
    view! {
        <div class="table-scroll">
            <table class="synthetic-calls-table">
                <thead>
                    <tr>
                        <th scope="col">"Tool"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Last call"</th>
                        <th scope="col">"Calls (1 h)"</th>
                        <th scope="col">"Errors"</th>
                        <th scope="col">"p50"</th>
                        <th scope="col">"p95"</th>
                        <th scope="col">"Latency (1 h)"</th>
                        {is_admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Remove"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {checks.into_iter().map(|view| {
                        let CheckView { check, status, summary, calls } = view;
                        let (state, label) = match &status {
                            None => ("unknown", "not called yet".to_owned()),
                            Some(s) if s.failing.is_some() => ("failing", "failing".to_owned()),
                            Some(s) if s.slow.is_some() => ("slow", "slow".to_owned()),
                            Some(s) => match &s.last.outcome {
                                Outcome::Passed => ("passing", "passing".to_owned()),
                                Outcome::Failed(_) => ("failed-once", "last call failed".to_owned()),
                                Outcome::Skipped(_) => ("skipped", "not called".to_owned()),
                            },
                        };
                        let detail = status.as_ref().and_then(|s| {
                            s.failing.clone().or_else(|| s.slow.clone()).or_else(|| s.last.outcome.reason().map(str::to_owned))
                        });
                        let last = status.as_ref().map(|s| (s.last.at, s.last.ms));
                        let errors = summary.error_pct().map_or_else(|| "–".to_owned(), |p| format!("{} ({p:.0}%)", summary.failures));
                        let every = format!("every {} s", check.spec.interval_secs);
                        let tool = check.spec.tool.clone();
                        let remove_label = format!("Remove the synthetic call of {tool}");
                        view! {
                            <tr data-check=check.id data-state=state>
                                <th scope="row">
                                    <code>{tool.clone()}</code>
                                    {check.spec.override_read_only.then(|| view! { <span class="warning" title="not annotated read-only; called on an admin's override">" override"</span> })}
                                    <br /><small class="muted">{every}" · "<code>{check.spec.arguments.clone()}</code></small>
                                </th>
                                <td><span class=format!("call-state call-{state}")>{label}</span>
                                    {detail.map(|d| view! { <br /><small>{d}</small> })}
                                </td>
                                <td>{last.map(|(at, took)| view! { <LocalTime at /> <br /><small>{ms(took)}</small> })}</td>
                                <td>{summary.calls}</td>
                                <td>{errors}</td>
                                <td>{ms(summary.p50_ms)}</td>
                                <td>{ms(summary.p95_ms)}</td>
                                <td>{sparkline(&calls)}</td>
                                {is_admin.then(|| view! {
                                    <td>
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="target_id" value=check.target_id />
                                            <input type="hidden" name="id" value=check.id />
                                            <button type="submit" aria-label=remove_label>"Remove"</button>
                                        </ActionForm>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The last hour's calls as a small line of their durations, failed calls as red dots.
fn sparkline(calls: &[(i64, f64, bool)]) -> impl IntoView + use<> {
    const W: f64 = 160.0;
    const H: f64 = 32.0;
    if calls.is_empty() {
        return view! { <span class="muted">"no calls"</span> }.into_any();
    }
    let (first, last) = (calls[0].0, calls[calls.len() - 1].0);
    let span = (last - first).max(1) as f64;
    let top = calls.iter().map(|c| c.1).fold(1.0_f64, f64::max);
    let point = |(at, ms, _): &(i64, f64, bool)| {
        let x = (*at - first) as f64 / span * (W - 4.0) + 2.0;
        let y = H - 2.0 - ms / top * (H - 4.0);
        (x, y)
    };
    let line = calls
        .iter()
        .map(|c| {
            let (x, y) = point(c);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    // Failed calls are marked; a lone call, which makes no line, is a dot of its own.
    let dots: Vec<(f64, f64, bool)> = calls
        .iter()
        .filter(|c| !c.2 || calls.len() == 1)
        .map(|c| {
            let (x, y) = point(c);
            (x, y, c.2)
        })
        .collect();
    let label = format!("{} calls, slowest {top:.0} ms", calls.len());
    view! {
        <svg class="sparkline" width="160" height="32" viewBox="0 0 160 32" role="img" aria-label=label>
            <polyline points=line fill="none" stroke="currentColor" stroke-width="1.5" />
            {dots.into_iter().map(|(x, y, passed)| view! {
                <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="2.5" class:failed-call=!passed />
            }).collect_view()}
        </svg>
    }
    .into_any()
}

#[component]
fn AddForm(
    target_id: i64,
    tools: Vec<Tool>,
    add: ServerAction<AddCheck>,
    added: Signal<Option<Result<crate::domain::checks::ToolCheck, crate::api::error::AppError>>>,
) -> impl IntoView {
    if tools.is_empty() {
        return view! { <p class="muted">"A synthetic call can be added once mcpops has listed this server's tools."</p> }.into_any();
    }
    view! {
        <details class="add-check" open=move || added.with(|r| matches!(r, Some(Err(_))))>
            <summary>"Add a synthetic call"</summary>
            <ActionForm action=add attr:class="target-form" attr:aria-label="Add a synthetic call">
                <input type="hidden" name="target_id" value=target_id />
                <div class="field" class:invalid=move || field_error(added, "tool").get().is_some()>
                    <label for="check-tool">"Tool"</label>
                    <select id="check-tool" name="check[tool]" aria-describedby="check-tool-error">
                        {tools.into_iter().map(|t| {
                            let note = if t.read_only { " (read-only)" } else { " (not annotated read-only)" };
                            view! { <option value=t.name.clone()>{t.name.clone()}{note}</option> }
                        }).collect_view()}
                    </select>
                    <small class="hint">"Only tools annotated readOnlyHint are called, unless you tick the override below."</small>
                    <small class="field-error" id="check-tool-error" role="alert">{move || field_error(added, "tool").get()}</small>
                </div>
                <div class="field" class:invalid=move || field_error(added, "arguments").get().is_some()>
                    <label for="check-arguments">"Arguments (JSON)"</label>
                    <textarea id="check-arguments" name="check[arguments]" rows="3" maxlength="16384" placeholder="{\"query\": \"status\"}" aria-describedby="check-arguments-error"></textarea>
                    <small class="hint">"Checked against the tool's input schema."</small>
                    <small class="field-error" id="check-arguments-error" role="alert">{move || field_error(added, "arguments").get()}</small>
                </div>
                <Field label="Every (seconds)" name="check[interval_secs]" id_prefix="check-" placeholder="60" hint="10 to 86400" error=field_error(added, "interval_secs") />
                <Field label="Timeout (ms)" name="check[timeout_ms]" id_prefix="check-" placeholder="10000" error=field_error(added, "timeout_ms") />
                <Field label="The answer's text contains" name="check[text_contains]" id_prefix="check-" hint="optional" error=field_error(added, "text_contains") />
                <Field label="JSON pointer" name="check[json_pointer]" id_prefix="check-" placeholder="/status" hint="optional, into the answer's JSON" error=field_error(added, "json_pointer") />
                <Field label="equals (JSON)" name="check[json_equals]" id_prefix="check-" placeholder="\"ok\"" error=field_error(added, "json_equals") />
                <Field label="Slow above (ms)" name="check[slow_ms]" id_prefix="check-" hint="empty: slow against its own usual time" error=field_error(added, "slow_ms") />
                <label class="checkbox">
                    <input type="checkbox" name="check[override_read_only]" />
                    " Call it even if it is not annotated read-only (recorded in the audit log)"
                </label>
                <p class="hint">{format!("Defaults: every {DEFAULT_INTERVAL_SECS} s, timeout {DEFAULT_TIMEOUT_MS} ms; the answer must not be an error (isError).")}</p>
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Add synthetic call"</button>
            </ActionForm>
            <ErrorNote error=form_error(added) />
        </details>
    }
    .into_any()
}
