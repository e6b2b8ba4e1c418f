//! The audit log for auditors: filter, search, page, inspect, verify and export.
use crate::api::audit::{VerifyAudit, audit_entry_detail, search_audit};
use crate::app::components::{ErrorNote, LocalTime, form_error};
use crate::domain::audit::AuditQuery;
use crate::domain::audit::{AuditEntry, AuditPeriod, ChainCheck, Outcome};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

fn query_from(map: &leptos_router::params::ParamsMap) -> (AuditQuery, Option<i64>) {
    let get = |key: &str| map.get(key).unwrap_or_default();
    (
        AuditQuery {
            user: get("user"),
            event_type: get("event_type"),
            action: get("action"),
            resource: get("resource"),
            result: get("result"),
            period: get("period"),
            q: get("q"),
        },
        map.get("before").and_then(|b| b.parse().ok()),
    )
}

/// The filter as a query string, for export links and the next page.
fn query_string(query: &AuditQuery) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("user", &query.user),
        ("event_type", &query.event_type),
        ("action", &query.action),
        ("resource", &query.resource),
        ("result", &query.result),
        ("period", &query.period),
        ("q", &query.q),
    ] {
        if !value.is_empty() {
            out.append_pair(key, value);
        }
    }
    out.finish()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query_map = use_query_map();
    let request = Memo::new(move |_| query_map.with(query_from));
    let page = Resource::new(
        move || request.get(),
        |(query, before)| search_audit(query, before),
    );
    let verify = ServerAction::<VerifyAudit>::new();
    let export_progress = RwSignal::new(None::<String>);
    view! {
        <Title text="Audit" />
        <h1>"Audit log"</h1>
        <section class="panel">
            {move || {
                let (query, _) = request.get();
                view! { <FilterForm query /> }
            }}
        </section>
        <section class="panel audit-tools">
            {move || {
                let qs = query_string(&request.get().0);
                let sep = if qs.is_empty() { "" } else { "&" };
                view! {
                    <ExportLink label="Export CSV" href=format!("/audit/export?format=csv{sep}{qs}") progress=export_progress />
                    <ExportLink label="Export JSON" href=format!("/audit/export?format=json{sep}{qs}") progress=export_progress />
                }
            }}
            <span class="muted" role="status" aria-live="polite">{move || export_progress.get()}</span>
            <ActionForm action=verify attr:class="inline">
                <button type="submit" disabled=move || verify.pending().get()>
                    {move || if verify.pending().get() { "Verifying…" } else { "Verify the chain" }}
                </button>
            </ActionForm>
            {move || verify.value().get().and_then(Result::ok).map(|report| match report.broken {
                None => view! {
                    <p class="ok-note" role="status">{format!("Chain intact: {} entries verified in {} ms.", report.checked, report.millis)}</p>
                }.into_any(),
                Some((seq, check)) => view! {
                    <p class="error-note" role="alert">
                        "Chain broken at " <A href=format!("/audit/{seq}")>{format!("entry {seq}")}</A> ": " {check.describe()}
                    </p>
                }.into_any(),
            })}
            <ErrorNote error=form_error(verify.value().into()) />
        </section>
        <Transition fallback=|| view! { <p class="muted">"Searching…"</p> }>
            {move || Suspend::new(async move {
                let (query, _) = request.get_untracked();
                match page.await {
                    Ok(page) => view! { <EntryTable entries=page.entries next_before=page.next_before query /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A download link. With JavaScript the export is fetched here so its progress shows as it
/// streams (rows and megabytes); without, the browser downloads it as a plain link.
#[component]
fn ExportLink(
    label: &'static str,
    href: String,
    progress: RwSignal<Option<String>>,
) -> impl IntoView {
    let url = href.clone();
    let busy = move || progress.with(|p| p.as_deref().is_some_and(|p| p.starts_with("Exporting")));
    view! {
        <a class="button" href=href download aria-disabled=move || busy().to_string()
            on:click=move |ev| {
                ev.prevent_default();
                if busy() {
                    return;
                }
                let url = url.clone();
                progress.set(Some("Exporting…".into()));
                leptos::task::spawn_local(async move {
                    let outcome = download_with_progress(&url, progress).await;
                    if let Err(err) = outcome {
                        progress.set(Some(format!("Export failed: {err}")));
                    }
                });
            }
        >{label}</a>
    }
}

#[cfg(not(feature = "hydrate"))]
async fn download_with_progress(
    _url: &str,
    _progress: RwSignal<Option<String>>,
) -> Result<(), String> {
    Ok(())
}

#[cfg(feature = "hydrate")]
async fn download_with_progress(
    url: &str,
    progress: RwSignal<Option<String>>,
) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    fn failed(err: impl std::fmt::Debug) -> String {
        format!("{err:?}")
    }
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    let filename = response
        .headers()
        .get("content-disposition")
        .ok()
        .flatten()
        .and_then(|d| {
            d.split("filename=\"")
                .nth(1)
                .map(|f| f.trim_end_matches('"').to_owned())
        })
        .unwrap_or_else(|| "mcpops-audit".into());
    let reader: web_sys::ReadableStreamDefaultReader = response
        .body()
        .ok_or("empty response")?
        .get_reader()
        .dyn_into()
        .map_err(failed)?;
    let chunks = js_sys::Array::new();
    let (mut bytes, mut lines) = (0_u64, 0_u64);
    loop {
        let step = JsFuture::from(reader.read()).await.map_err(failed)?;
        let done = js_sys::Reflect::get(&step, &"done".into()).map_err(failed)?;
        if done.as_bool().unwrap_or(true) {
            break;
        }
        let chunk: js_sys::Uint8Array = js_sys::Reflect::get(&step, &"value".into())
            .map_err(failed)?
            .dyn_into()
            .map_err(failed)?;
        bytes += u64::from(chunk.length());
        lines += chunk.to_vec().iter().filter(|b| **b == b'\n').count() as u64;
        chunks.push(&chunk);
        progress.set(Some(format!(
            "Exporting… {} rows, {:.1} MB",
            lines.saturating_sub(1),
            bytes as f64 / 1e6
        )));
    }
    let blob = web_sys::Blob::new_with_u8_array_sequence(&chunks).map_err(failed)?;
    let object_url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
    let link: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    link.set_href(&object_url);
    link.set_download(&filename);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&object_url);
    progress.set(Some(format!(
        "Exported {:.1} MB to {filename}.",
        bytes as f64 / 1e6
    )));
    Ok(())
}

/// A plain GET form, so filters live in the URL: shareable, bookmarkable, and fine without JS.
#[component]
fn FilterForm(query: AuditQuery) -> impl IntoView {
    let text = |id: &'static str, label: &'static str, value: String, placeholder: &'static str| {
        view! {
            <div class="field">
                <label for=format!("audit-{id}")>{label}</label>
                <input id=format!("audit-{id}") name=id value=value placeholder=placeholder maxlength="512" />
            </div>
        }
    };
    let result = query.result.clone();
    let period = query.period.clone();
    view! {
        <form method="get" action="/audit" class="target-form audit-filter" aria-label="Filter the audit log">
            <div class="field wide">
                <label for="audit-q">"Search resource and details"</label>
                <input id="audit-q" name="q" type="search" value=query.q.clone() placeholder="demo-03 latency" maxlength="200" />
            </div>
            {text("user", "User", query.user.clone(), "ann")}
            {text("event_type", "Event type", query.event_type.clone(), "target")}
            {text("action", "Action", query.action.clone(), "create")}
            {text("resource", "Resource", query.resource.clone(), "")}
            <div class="field">
                <label for="audit-result">"Result"</label>
                <select id="audit-result" name="result">
                    <option value="" selected=result.is_empty()>"any"</option>
                    {Outcome::ALL.iter().map(|o| view! {
                        <option value=o.as_str() selected=result == o.as_str()>{o.as_str()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="audit-period">"Time"</label>
                <select id="audit-period" name="period">
                    {AuditPeriod::ALL.iter().map(|p| {
                        let value = p.as_str();
                        let selected = period == value || (period.is_empty() && *p == AuditPeriod::All);
                        let label = match p {
                            AuditPeriod::Hour => "last hour",
                            AuditPeriod::Day => "last 24 hours",
                            AuditPeriod::Week => "last 7 days",
                            AuditPeriod::Month => "last 30 days",
                            AuditPeriod::All => "all time",
                        };
                        view! { <option value=value selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="primary">"Search"</button>
            <a href="/audit">"Clear"</a>
        </form>
    }
}

#[component]
fn EntryTable(
    entries: Vec<AuditEntry>,
    next_before: Option<i64>,
    query: AuditQuery,
) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="panel empty-state">"No entries match."</p> }.into_any();
    }
    let next = next_before.map(|before| {
        let qs = query_string(&query);
        let sep = if qs.is_empty() { "" } else { "&" };
        format!("/audit?{qs}{sep}before={before}")
    });
    view! {
        <table class="audit">
            <thead>
                <tr>
                    <th scope="col">"#"</th>
                    <th scope="col">"Time"</th>
                    <th scope="col">"User"</th>
                    <th scope="col">"Event"</th>
                    <th scope="col">"Resource"</th>
                    <th scope="col">"Result"</th>
                    <th scope="col">"From"</th>
                </tr>
            </thead>
            <tbody>
                {entries.into_iter().map(|entry| {
                    // An edited row no longer matches its own hash; flag it here, and the
                    // detail page and chain check say more.
                    let tampered = entry.check(&entry.prev_hash) != ChainCheck::Intact;
                    let e = entry.event.clone();
                    view! {
                        <tr data-seq=entry.seq class:tampered=tampered>
                            <td><A href=format!("/audit/{}", entry.seq)>{entry.seq}</A>
                                {tampered.then(|| view! { " " <span class="status status-down">"tampered"</span> })}
                            </td>
                            <td><LocalTime at=entry.at() /></td>
                            <td>{e.actor}</td>
                            <td>{format!("{} · {}", e.event_type, e.action)}</td>
                            <td class="url">{e.resource}</td>
                            <td><span class=format!("result result-{}", e.result.as_str())>{e.result.as_str()}</span></td>
                            <td>{e.origin.ip}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {next.map(|href| view! { <p><a class="button" href=href>"Older entries →"</a></p> })}
    }
    .into_any()
}

#[component]
pub fn AuditEntryPage() -> impl IntoView {
    let params = use_params_map();
    let seq = move || {
        params.with(|p| {
            p.get("seq")
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        })
    };
    let entry = Resource::new(seq, audit_entry_detail);
    view! {
        <Title text="Audit entry" />
        <p><A href="/audit">"← Audit log"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match entry.await {
                    Ok(view) => {
                        let e = view.entry.event.clone();
                        let chain_class = if view.chain == ChainCheck::Intact { "ok-note" } else { "error-note" };
                        view! {
                            <h1>{format!("Audit entry {}", view.entry.seq)}</h1>
                            <p class=chain_class role="status" data-chain=format!("{:?}", view.chain)>
                                "Chain: " {view.chain.describe()}
                            </p>
                            <dl class="panel facts">
                                <dt>"Time"</dt><dd><LocalTime at=view.entry.at() /></dd>
                                <dt>"User"</dt><dd>{e.actor}</dd>
                                <dt>"Event type"</dt><dd>{e.event_type}</dd>
                                <dt>"Action"</dt><dd>{e.action}</dd>
                                <dt>"Resource"</dt><dd>{e.resource}</dd>
                                <dt>"Result"</dt><dd>{e.result.as_str()}</dd>
                                <dt>"Reason"</dt><dd>{e.reason.unwrap_or_else(|| "—".into())}</dd>
                                <dt>"IP address"</dt><dd>{e.origin.ip}</dd>
                                <dt>"User agent"</dt><dd>{e.origin.user_agent}</dd>
                                <dt>"Request id"</dt><dd><code>{e.origin.request_id}</code></dd>
                                <dt>"Details"</dt><dd><pre>{e.details}</pre></dd>
                                <dt>"Previous hash"</dt><dd><code class="hash">{view.entry.prev_hash.clone()}</code></dd>
                                <dt>"Hash"</dt><dd><code class="hash">{view.entry.hash.clone()}</code></dd>
                            </dl>
                        }.into_any()
                    }
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
