//! The runbook library: search and filter, and one runbook, readable, with its checklist
//! and a button that starts an incident from it.
use crate::api::incidents::DeclareIncident;
use crate::api::runbooks::{RunbookIndex, RunbookPage, get_runbook, list_runbooks};
use crate::app::components::{ErrorNote, form_error, use_permission};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

#[component]
pub fn RunbooksPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        (
            q.get("q").unwrap_or_default(),
            q.get("tag").unwrap_or_default(),
            q.get("rule").unwrap_or_default(),
        )
    };
    let index = Resource::new(filter, |(q, tag, rule)| list_runbooks(q, tag, rule));
    view! {
        <Title text="Runbooks" />
        <h1>"Runbooks"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading runbooks…"</p> }>
            {move || Suspend::new(async move {
                let (q, tag, rule) = filter();
                match index.await {
                    Ok(index) => view! { <RunbookList index q tag rule /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RunbookList(index: RunbookIndex, q: String, tag: String, rule: String) -> impl IntoView {
    let option = |value: String, current: &str| {
        let selected = value == current;
        let label = value.clone();
        view! { <option value=value selected=selected>{label}</option> }
    };
    let count = index.runbooks.len();
    view! {
        <form method="get" action="/runbooks" class="inline alert-filter" aria-label="Search runbooks">
            <input type="search" name="q" value=q placeholder="rollback, DNS, pool…" aria-label="Search titles, tags and steps" />
            <label>"Tag " <select name="tag"><option value="">"any"</option>{index.tags.into_iter().map(|t| option(t, &tag)).collect_view()}</select></label>
            <label>"Rule " <select name="rule"><option value="">"any"</option>{index.rules.into_iter().map(|r| option(r, &rule)).collect_view()}</select></label>
            <button type="submit">"Search"</button>
        </form>
        {(count == 0).then(|| view! { <p class="panel empty-state">"No runbook matches."</p> })}
        <ul class="runbook-list">
            {index.runbooks.into_iter().map(|r| view! {
                <li class="panel" data-runbook=r.slug.clone()>
                    <a href=format!("/runbooks/{}", r.slug)><b>{r.title.clone()}</b></a>
                    <span class="muted">{format!(" · {}, {}", crate::domain::counted(r.phases as u64, "phase"), crate::domain::counted(r.steps as u64, "step"))}</span>
                    <div class="tile-tags">
                        {r.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}
                        {r.rules.iter().map(|rule| view! { <span class="tag rule">{format!("rule {rule}")}</span> }).collect_view()}
                    </div>
                    {r.warnings.into_iter().map(|w| view! { <p class="warning">"⚠ " {w}</p> }).collect_view()}
                </li>
            }).collect_view()}
        </ul>
    }
}

#[component]
pub fn RunbookPageView() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let page = Resource::new(slug, get_runbook);
    view! {
        <Title text="Runbook" />
        <p><a href="/runbooks">"← Runbooks"</a></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <Runbook page /> }.into_any(),
                    Err(err) => view! { <h1>"Runbook"</h1><p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Runbook(page: RunbookPage) -> impl IntoView {
    let RunbookPage { runbook, html } = page;
    let declare = ServerAction::<DeclareIncident>::new();
    let can_operate = use_permission(crate::domain::auth::Permission::Operate);
    let slug = runbook.slug.clone();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(incident)) = declare.value().get() {
            navigate(&format!("/incidents/{}", incident.id), Default::default());
        }
    });
    view! {
        <Title text=runbook.title.clone() />
        <h1>{runbook.title.clone()}</h1>
        {runbook.warnings.iter().map(|w| view! { <p class="warning" role="note">"⚠ " {w.clone()}</p> }).collect_view()}
        <section class="panel">
            <h2>"Checklist"</h2>
            <ol class="phases">
                {runbook.phases.iter().map(|p| view! {
                    <li>
                        <b>{p.name.clone()}</b>
                        {p.budget_secs.map(|b| format!(" · {} min", b.div_ceil(60)))}
                        {format!(" · {}", crate::domain::counted(p.steps.len() as u64, "step"))}
                    </li>
                }).collect_view()}
            </ol>
            <Transition fallback=|| ()>
            {move || {
            let slug = slug.clone();
            Suspend::new(async move {
            can_operate.await.then(|| view! {
            <ActionForm action=declare attr:class="inline" attr:aria-label="Start an incident">
                <input type="hidden" name="runbook" value=slug.clone() />
                <input name="title" required maxlength="200" placeholder="What is happening?" aria-label="Incident title" />
                <select name="severity" aria-label="Severity">
                    <option value="critical">"critical"</option>
                    <option value="warning" selected>"warning"</option>
                    <option value="info">"info"</option>
                </select>
                <input name="targets" placeholder="targets, e.g. demo-01" aria-label="Affected targets" />
                <button type="submit" class="primary">"Start an incident with this runbook"</button>
            </ActionForm>
            })
            })
            }}
            </Transition>
            <ErrorNote error=form_error(declare.value().into()) />
        </section>
        <article class="panel runbook-body" inner_html=html></article>
    }
}
