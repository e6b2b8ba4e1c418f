//! One target's page: state and reasons, golden-signal charts over a chosen range,
//! readiness checks, the MCP handshake with step timings, and the tool list's history.
use crate::api::servers::{CatalogVersion, ServerDetail, target_detail};
use crate::domain::observation::{TargetState, TargetStatus};
use crate::domain::series::TimeRange;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

const CHARTS: [(&str, &str); 4] = [
    ("latency", "Latency p50, p95 and p99"),
    ("traffic", "Requests per second"),
    ("errors", "Share of requests that failed"),
    ("saturation", "Open connections and CPU"),
];

#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
    };
    let range = move || {
        query
            .read()
            .get("range")
            .and_then(|r| TimeRange::parse(&r))
            .unwrap_or_default()
    };
    let detail = Resource::new(id, |id| async move {
        match id {
            Some(id) => target_detail(id).await,
            None => Err(crate::api::error::AppError::NotFound),
        }
    });
    view! {
        <Title text="Server" />
        <p><A href="/wall">"← Wall"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <Detail detail range=Signal::derive(range) /> }.into_any(),
                    Err(err) => view! { <h1>"Server"</h1><p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(detail: ServerDetail, range: Signal<TimeRange>) -> impl IntoView {
    let ServerDetail {
        target,
        status,
        catalogs,
    } = detail;
    let state = status.as_ref().map_or(TargetState::Unknown, |s| s.state);
    let id = target.id;
    let base = format!("/targets/{id}");
    view! {
        <Title text=target.name.clone() />
        <header class="server-head">
            <h1>{target.name.clone()}</h1>
            <span class=format!("status status-{}", state.as_str().replace('_', "-")) data-state=state.as_str()>{state.label()}</span>
            <span class="muted url">{target.base_url.clone()}</span>
            <span class="muted">{status.as_ref().map(|s| format!("last poll {}", s.at.format("%Y-%m-%d %H:%M:%S UTC")))}</span>
        </header>
        <Failures status=status.clone() />
        <nav class="ranges" aria-label="Time range">
            {TimeRange::ALL
                .into_iter()
                .map(|r| {
                    let href = format!("{base}?range={}", r.as_str());
                    // A plain link: the router's <A> marks every range current, as they share a path.
                    view! { <a href=href aria-current=move || (range.get() == r).then_some("page")>{r.as_str()}</a> }
                })
                .collect_view()}
        </nav>
        <section class="charts">
            {CHARTS
                .into_iter()
                .map(|(chart, alt)| {
                    let src = move || format!("/charts/{id}/{chart}.svg?range={}", range.get().as_str());
                    view! { <img class="chart" src=src alt=alt width="640" height="260" /> }
                })
                .collect_view()}
        </section>
        <div class="columns">
            <Readiness status=status.clone() />
            <Handshake status />
        </div>
        <Tools catalogs />
    }
}

#[component]
fn Failures(status: Option<TargetStatus>) -> impl IntoView {
    let failures = status.map(|s| s.failures).unwrap_or_default();
    (!failures.is_empty()).then(|| {
        view! {
            <section class="panel failures" aria-label="Failing probes">
                <h2>"Failing probes"</h2>
                <ul>
                    {failures
                        .into_iter()
                        .map(|f| {
                            let probe = f.probe.clone();
                            view! { <li data-probe=probe><b>{f.probe}</b> ": " {f.reason}</li> }
                        })
                        .collect_view()}
                </ul>
            </section>
        }
    })
}

#[component]
fn Readiness(status: Option<TargetStatus>) -> impl IntoView {
    let readiness = status.and_then(|s| s.readiness);
    view! {
        <section class="panel" aria-label="Readiness">
            <h2>"Readiness"</h2>
            {match readiness {
                None => view! { <p class="muted">"No readiness answer yet."</p> }.into_any(),
                Some(r) if r.checks.is_empty() => view! {
                    <p>{if r.ready { "ready" } else { "not ready" }} <span class="muted">" (no checks listed)"</span></p>
                }.into_any(),
                Some(r) => view! {
                    <table class="checks">
                        <tbody>
                            {r.checks
                                .into_iter()
                                .map(|(name, ok)| view! {
                                    <tr><th scope="row">{name}</th><td class=if ok { "status status-up" } else { "status status-down" }>{if ok { "ok" } else { "failing" }}</td></tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Handshake(status: Option<TargetStatus>) -> impl IntoView {
    let mcp = status.and_then(|s| s.mcp);
    view! {
        <section class="panel" aria-label="MCP handshake">
            <h2>"MCP"</h2>
            {match mcp {
                None => view! { <p class="muted">"No successful MCP probe yet."</p> }.into_any(),
                Some(report) => view! {
                    <p>
                        <b>{report.server_name}</b> " " {report.server_version}
                        <span class="muted">" · protocol " {report.protocol_version}</span>
                    </p>
                    <table class="steps">
                        <thead><tr><th scope="col">"Step"</th><th scope="col">"Time"</th></tr></thead>
                        <tbody>
                            {report.steps
                                .into_iter()
                                .map(|(step, ms)| view! { <tr><td>{step}</td><td>{format!("{ms:.1} ms")}</td></tr> })
                                .collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Tools(catalogs: Vec<CatalogVersion>) -> impl IntoView {
    let Some(current) = catalogs.first().cloned() else {
        return view! { <section class="panel"><h2>"Tools"</h2><p class="muted">"No tool list yet."</p></section> }.into_any();
    };
    view! {
        <section class="panel" aria-label="Tools">
            <h2>{format!("Tools ({})", current.tools.len())}</h2>
            <ul class="tool-list">
                {current.tools.iter().map(|t| view! { <li><code>{t.name.clone()}</code></li> }).collect_view()}
            </ul>
            <h3>"History"</h3>
            <ol class="tool-history">
                {catalogs
                    .into_iter()
                    .map(|version| {
                        let diff = version.diff;
                        let change = if diff.is_empty() {
                            "first seen".to_owned()
                        } else {
                            let mut parts = Vec::new();
                            if !diff.added.is_empty() { parts.push(format!("added {}", diff.added.join(", "))); }
                            if !diff.removed.is_empty() { parts.push(format!("removed {}", diff.removed.join(", "))); }
                            if !diff.changed.is_empty() { parts.push(format!("schema changed: {}", diff.changed.join(", "))); }
                            parts.join("; ")
                        };
                        view! { <li><time>{version.at.format("%Y-%m-%d %H:%M UTC").to_string()}</time> " — " {change}</li> }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
    .into_any()
}
