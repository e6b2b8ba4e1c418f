//! Rules and baselines: the guide's defaults, overrides per fleet, tag and target, and a
//! target's baseline learned from its own last 7 days, shown before it is saved.
use crate::api::error::AppError;
use crate::api::rules::{DeleteRule, LearnBaseline, RulesView, SaveRule, list_rules};
use crate::app::components::{ErrorNote, Field, LocalTime, field_error, form_error};
use crate::app::pages::alerts::AlertsNav;
use crate::domain::alerts::{LearnedBaselines, OverrideRecord, Scope};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn RulesPage() -> impl IntoView {
    let save = ServerAction::<SaveRule>::new();
    let delete = ServerAction::<DeleteRule>::new();
    let learn = ServerAction::<LearnBaseline>::new();
    let rules = Resource::new(
        move || (save.version().get(), delete.version().get()),
        |_| list_rules(),
    );
    let saved: Signal<_> = save.value().into();
    view! {
        <Title text="Rules" />
        <h1>"Rules and baselines"</h1>
        <AlertsNav />
        <p class="muted">
            "A degradation alert fires when a signal stays above baseline × factor for the "
            "rule's number of polls. Target down, not ready and MCP probe failing fire after 2 "
            "failed polls; tool drift at once. Narrower scopes win: target over tag over fleet."
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading rules…"</p> }>
            {move || Suspend::new(async move {
                match rules.await {
                    Ok(view) => view! { <Rules view save delete learn /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <ErrorNote error=form_error(saved) />
        <ErrorNote error=form_error(delete.value().into()) />
        {move || matches!(saved.get(), Some(Ok(()))).then(|| view! {
            <p class="ok-note" role="status">"Saved. The engine uses the new baselines from the next poll."</p>
        })}
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "inherit".to_owned(), |v| format!("{v}"))
}

fn scope_label(scope: &Scope, view: &RulesView) -> String {
    match scope {
        Scope::Fleet => "the whole fleet".into(),
        Scope::Tag(tag) => format!("tag {tag}"),
        Scope::Target(id) => view.targets.iter().find(|(t, _)| t == id).map_or_else(
            || format!("target #{id}"),
            |(_, name)| format!("target {name}"),
        ),
    }
}

#[component]
fn Rules(
    view: RulesView,
    save: ServerAction<SaveRule>,
    delete: ServerAction<DeleteRule>,
    learn: ServerAction<LearnBaseline>,
) -> impl IntoView {
    let defaults = view.defaults;
    let rows = view
        .overrides
        .iter()
        .map(|record| {
            let OverrideRecord {
                baselines: o,
                updated_by,
                updated_at,
            } = record.clone();
            let label = scope_label(&o.scope, &view);
            let delete_label = format!("Remove the override for {label}");
            let scope = o.scope.param();
            let row_scope = scope.clone();
            view! {
                <tr data-scope=row_scope>
                    <th scope="row">{label}</th>
                    <td>{number(o.p50_ms)}</td>
                    <td>{number(o.p95_ms)}</td>
                    <td>{number(o.p99_ms)}</td>
                    <td>{number(o.error_rate_pct)}</td>
                    <td>{number(o.rps)}</td>
                    <td>{number(o.factor)}</td>
                    <td>{o.for_polls.map_or_else(|| "inherit".to_owned(), |n| n.to_string())}</td>
                    <td><small>{updated_by} " · "<LocalTime at=updated_at /></small></td>
                    <td>
                        <ActionForm action=delete attr:class="inline">
                            <input type="hidden" name="scope" value=scope />
                            <button type="submit" class="danger" aria-label=delete_label>"Remove"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let scopes: Vec<(String, String)> = std::iter::once(Scope::Fleet)
        .chain(view.tags.iter().cloned().map(Scope::Tag))
        .chain(view.targets.iter().map(|(id, _)| Scope::Target(*id)))
        .map(|s| (s.param(), scope_label(&s, &view)))
        .collect();
    let targets = view.targets.clone();
    view! {
        <section class="panel">
            <h2>"Baselines in force"</h2>
            <table class="rules">
                <thead>
                    <tr>
                        <th scope="col">"Scope"</th>
                        <th scope="col">"p50 ms"</th>
                        <th scope="col">"p95 ms"</th>
                        <th scope="col">"p99 ms"</th>
                        <th scope="col">"errors %"</th>
                        <th scope="col">"req/s"</th>
                        <th scope="col">"factor"</th>
                        <th scope="col">"for (polls)"</th>
                        <th scope="col">"Changed"</th>
                        <th scope="col"></th>
                    </tr>
                </thead>
                <tbody>
                    <tr>
                        <th scope="row">"Operations guide defaults"</th>
                        <td>{defaults.p50_ms}</td>
                        <td>{defaults.p95_ms}</td>
                        <td>{defaults.p99_ms}</td>
                        <td>{defaults.error_rate_pct}</td>
                        <td>{defaults.rps}</td>
                        <td>{defaults.factor}</td>
                        <td>{defaults.for_polls}</td>
                        <td></td>
                        <td></td>
                    </tr>
                    {rows}
                </tbody>
            </table>
        </section>
        <section class="panel">
            <h2>"Set baselines"</h2>
            <BaselineFormFields action=save scopes learned=None />
        </section>
        <LearnPanel targets learn save />
    }
}

/// The override form; `learned` prefills it for one target.
#[component]
fn BaselineFormFields(
    action: ServerAction<SaveRule>,
    scopes: Vec<(String, String)>,
    learned: Option<LearnedBaselines>,
) -> impl IntoView {
    let prefix = if learned.is_some() { "learned-" } else { "" };
    let result: Signal<Option<Result<(), AppError>>> = action.value().into();
    // A learned 0 (a target that never errs) would alert on its first error: leave it to
    // the wider scope instead.
    let value = |v: Option<f64>| {
        v.filter(|v| *v > 0.0)
            .map(|v| format!("{v:.2}"))
            .unwrap_or_default()
    };
    let learned_values = learned.unwrap_or(LearnedBaselines {
        target_id: 0,
        hours: 0,
        p50_ms: None,
        p95_ms: None,
        p99_ms: None,
        error_rate_pct: None,
        rps: None,
    });
    view! {
        <ActionForm action attr:class="target-form baseline-form" attr:aria-label=if prefix.is_empty() { "Set baselines" } else { "Save the learned baseline" }>
            <div class="field">
                <label for=format!("{prefix}baseline-scope")>"Scope"</label>
                <select id=format!("{prefix}baseline-scope") name="scope">
                    {scopes.into_iter().map(|(param, label)| view! { <option value=param>{label}</option> }).collect_view()}
                </select>
                <small class="field-error" role="alert">{field_error(result, "scope")}</small>
            </div>
            <Field id_prefix=prefix label="p50 (ms)" name="p50_ms" value=value(learned_values.p50_ms) hint="empty: inherit" error=field_error(result, "p50_ms") />
            <Field id_prefix=prefix label="p95 (ms)" name="p95_ms" value=value(learned_values.p95_ms) hint="empty: inherit" error=field_error(result, "p95_ms") />
            <Field id_prefix=prefix label="p99 (ms)" name="p99_ms" value=value(learned_values.p99_ms) hint="empty: inherit" error=field_error(result, "p99_ms") />
            <Field id_prefix=prefix label="Error rate (%)" name="error_rate_pct" value=value(learned_values.error_rate_pct) hint="empty: inherit" error=field_error(result, "error_rate_pct") />
            <Field id_prefix=prefix label="Traffic (req/s)" name="rps" value=value(learned_values.rps) hint="empty: inherit" error=field_error(result, "rps") />
            <Field id_prefix=prefix label="Factor" name="factor" placeholder="1.5" hint="above 1" error=field_error(result, "factor") />
            <Field id_prefix=prefix label="For (polls)" name="for_polls" placeholder="3" hint="1 to 360" error=field_error(result, "for_polls") />
            <button type="submit" class="primary" disabled=move || action.pending().get()>"Save baselines"</button>
        </ActionForm>
    }
}

#[component]
fn LearnPanel(
    targets: Vec<(i64, String)>,
    learn: ServerAction<LearnBaseline>,
    save: ServerAction<SaveRule>,
) -> impl IntoView {
    let names = StoredValue::new(targets.clone());
    let learned = move || learn.value().get();
    view! {
        <section class="panel">
            <h2>"Learn a target's baseline"</h2>
            <p class="muted">"The median of the target's hourly values over its last 7 days. Nothing is saved until you save the form below."</p>
            <ActionForm action=learn attr:class="inline" attr:aria-label="Learn a baseline">
                <label>"Target "
                    <select name="target_id">
                        {targets.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit" disabled=move || learn.pending().get()>"Learn from the last 7 days"</button>
            </ActionForm>
            {move || match learned() {
                Some(Ok(values)) => {
                    let id = values.target_id;
                    let label = names
                        .with_value(|n| n.iter().find(|(t, _)| *t == id).map(|(_, name)| name.clone()))
                        .unwrap_or_default();
                    let scopes = vec![(Scope::Target(id).param(), format!("target {label}"))];
                    view! {
                        <p class="ok-note" role="status" data-learned-hours=values.hours>
                            {format!("Learned from {} hourly values. Check them, then save.", values.hours)}
                        </p>
                        <BaselineFormFields action=save scopes learned=Some(values) />
                    }.into_any()
                }
                Some(Err(err)) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                None => ().into_any(),
            }}
        </section>
    }
}
