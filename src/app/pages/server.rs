//! One target's page: state and reasons, golden-signal charts over a chosen range,
//! readiness checks, the MCP handshake with step timings, and the tool list's history.
use crate::api::alerts::list_alerts;
use crate::api::deploys::{CreateDeploy, DeployReview, review_deploys};
use crate::api::readiness::{TickReadiness, target_readiness};
use crate::api::servers::{CatalogVersion, ServerDetail, target_detail};
use crate::app::components::{ErrorNote, LocalTime, field_error, form_error, use_permission};
use crate::app::live::use_live;
use crate::app::pages::synthetic_calls::SyntheticCalls;
use crate::domain::alerts::GoldenSignal;
use crate::domain::observation::{Certificate, McpReport, Protection, TargetState, TargetStatus};
use crate::domain::offers::{Offer, ProbeKind};
use crate::domain::readiness::ItemState;
use crate::domain::series::TimeRange;
use crate::domain::tool_signals::{MAX_TOOLS, ToolSignals, ToolTable};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The golden-signal charts, by file name, with their alternative text; the wall shows these
/// for the whole fleet.
pub const CHARTS: [(&str, &str); 4] = [
    ("latency", "Latency p50, p95 and p99"),
    ("traffic", "Requests per second"),
    ("errors", "Share of requests that failed"),
    ("saturation", "Open connections and CPU"),
];

/// A server page's further charts: everything else its metrics say.
const MORE_CHARTS: [(&str, &str); 3] = [
    ("memory", "Resident memory"),
    (
        "usage",
        "Tools executed and resources accessed per second, active sessions",
    ),
    ("quota", "API quota remaining"),
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
        instances_disagree,
    } = detail;
    let state = status.as_ref().map_or(TargetState::Unknown, |s| s.state);
    let id = target.id;
    let base = format!("/targets/{id}");
    let clock = crate::app::live::use_clock();
    let latest_tools = catalogs
        .first()
        .map(|c| c.tools.clone())
        .unwrap_or_default();
    view! {
        <Title text=target.name.clone() />
        <header class="server-head">
            <h1>{target.name.clone()}</h1>
            <span class=format!("status status-{}", state.css_name()) data-state=state.as_str()>{state.label()}</span>
            <span class="muted url">{target.base_url.clone()}</span>
            <span class="muted">{status.as_ref().map(|s| format!("last poll {}", s.at.format("%Y-%m-%d %H:%M:%S UTC")))}</span>
        </header>
        <Failures status=status.clone() />
        {view! { <Offers status=status.clone() /> }.into_any()}
        {status.as_ref().and_then(|s| Some((s.certificate.clone()?, s.at))).map(|(certificate, at)| view! { <TlsCertificate certificate at /> }.into_any())}
        <TargetAlerts id />
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
                .chain(MORE_CHARTS)
                .map(|(chart, alt)| {
                    // Drawn on the server: fetched again as new polls arrive.
                    let src = move || {
                        let range = range.get();
                        let tick = (clock.get() / 1000.0) as u64 / range.refresh_secs();
                        format!("/charts/{id}/{chart}.svg?range={}&t={tick}", range.as_str())
                    };
                    view! { <img class="chart" src=src alt=alt width="640" height="260" /> }
                })
                .collect_view()}
        </section>
        {status.as_ref().and_then(|s| s.tools.clone()).map(|table| view! { <ToolSignalsTable table /> }.into_any())}
        {view! { <SyntheticCalls target_id=id tools=latest_tools /> }.into_any()}
        <div class="columns">
            <Readiness status=status.clone() />
            <Handshake status />
        </div>
        <Deploys id name=target.name.clone() />
        <OperationalReadiness id />
        {instances_disagree.map(|versions| view! {
            <p class="panel warn-note" role="status" data-instances-disagree=versions>
                {format!("Instances disagree: listings at this URL go back and forth between {versions} tool lists. Each instance behind it may serve its own; drift is not raised for every flip.")}
            </p>
        })}
        <Tools catalogs />
    }
}

/// What the server offers: each probe offered, not offered, failing or switched off.
#[component]
fn Offers(status: Option<TargetStatus>) -> impl IntoView {
    let offers = status.map(|s| s.offers).unwrap_or_default();
    view! {
        <section class="offers" aria-label="What the server offers">
            <ul>
                {ProbeKind::ALL.map(|probe| {
                    let offer = offers.get(probe);
                    view! {
                        <li class=format!("offer offer-{}", offer.css_name()) data-probe=probe.key() data-offer=offer.css_name()>
                            <b>{probe.label()}</b>" " {offer.label()}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {(offers.get(ProbeKind::Live) == Offer::NotOffered && offers.has(ProbeKind::Mcp)).then(|| view! {
                <p class="muted">"No health endpoint: the MCP answer is its liveness. Probes not offered are tried again every few minutes."</p>
            })}
        </section>
    }
}

/// Which column the tool table is sorted by, largest first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ToolSort {
    /// Failing, then slow: the default.
    Worst,
    Calls,
    ToolErrors,
    ProtocolErrors,
    P95,
}

/// Calls, errors and p95 by tool over the latest interval, from the server's own metrics.
#[component]
fn ToolSignalsTable(table: ToolTable) -> impl IntoView {
    let sort = RwSignal::new(ToolSort::Worst);
    let ToolTable { tools, dropped } = table;
    let count = tools.len();
    let rows = move || {
        let mut tools = tools.clone();
        let key = |t: &ToolSignals| match sort.get() {
            ToolSort::Worst => None,
            ToolSort::Calls => Some(t.calls_per_sec),
            ToolSort::ToolErrors => t.tool_error_ratio,
            ToolSort::ProtocolErrors => t.protocol_error_ratio,
            ToolSort::P95 => t.p95_ms,
        };
        if sort.get() != ToolSort::Worst {
            tools.sort_by(|a, b| key(b).unwrap_or(-1.0).total_cmp(&key(a).unwrap_or(-1.0)));
        }
        tools
            .into_iter()
            .map(|t| {
                let percent =
                    |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{:.2}%", r * 100.0));
                let failing =
                    t.tool_error_ratio.unwrap_or(0.0) + t.protocol_error_ratio.unwrap_or(0.0) > 0.0;
                view! {
                    <tr data-tool=t.name.clone() class:failing=failing>
                        <th scope="row">{t.name.clone()}</th>
                        <td>{format!("{:.2}", t.calls_per_sec)}</td>
                        <td>{percent(t.tool_error_ratio)}</td>
                        <td>{percent(t.protocol_error_ratio)}</td>
                        <td>{t.p95_ms.map_or("–".to_owned(), |ms| format!("{ms:.0} ms"))}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let header = move |label: &'static str, by: ToolSort| {
        view! {
            <th scope="col" aria-sort=move || if sort.get() == by { "descending" } else { "none" }>
                <button type="button" class="link" on:click=move |_| sort.set(by)>{label}</button>
            </th>
        }
    };
    view! {
        <section class="panel tool-signals" aria-label="Signals by tool">
            <h2>{format!("Signals by tool ({count})")}</h2>
            <p class="muted">"From the server's own metrics over the latest interval, failing and slow tools first. Tool errors are results with isError; protocol errors are the rest."</p>
            {(dropped > 0).then(|| view! {
                <p class="warn-note" role="status">{format!("{} more past the cap of {MAX_TOOLS}, not shown", crate::domain::counted(dropped as u64, "tool"))}</p>
            })}
            <table class="tool-signals">
                <thead>
                    <tr>
                        {header("Tool", ToolSort::Worst)}
                        {header("Calls/s", ToolSort::Calls)}
                        {header("Tool errors", ToolSort::ToolErrors)}
                        {header("Protocol errors", ToolSort::ProtocolErrors)}
                        {header("p95", ToolSort::P95)}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// An https target's certificate, with the days it had left at the latest poll (`at`: the
/// browser's clock is not asked).
#[component]
fn TlsCertificate(certificate: Certificate, at: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let days = certificate.days_left(at);
    let class = match days {
        ..3 => "status status-down",
        3..14 => "status status-degraded",
        _ => "status status-up",
    };
    let left = if days < 0 {
        "expired".to_owned()
    } else {
        format!("{} left", crate::domain::counted(days as u64, "day"))
    };
    view! {
        <p class="certificate" aria-label="TLS certificate">
            "TLS certificate " <b>{certificate.subject}</b>
            <span class="muted">{format!(" · issued by {} · expires {} · ", certificate.issuer, certificate.not_after.format("%Y-%m-%d %H:%M UTC"))}</span>
            <span class=class data-days-left=days>{left}</span>
        </p>
    }
}

/// The target's open alerts, refreshed as they change.
#[component]
fn TargetAlerts(id: i64) -> impl IntoView {
    let live = use_live(None);
    let alerts = Resource::new(
        move || live.alert_changes.get(),
        move |_| list_alerts(String::new(), String::new(), String::new(), id.to_string()),
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list = alerts.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! {
                    <section class="panel target-alerts" aria-label="Open alerts">
                        <h2>"Open alerts"</h2>
                        <ul>
                            {list.into_iter().map(|a| view! {
                                <li class=format!("alert-row {}", a.state.as_str()) data-state=a.state.as_str()>
                                    <span class=format!("alert-state {}", a.state.as_str())>{a.state.as_str()}</span>
                                    " " <a href=format!("/alerts/{}", a.id)><b>{a.rule.label()}</b></a>
                                    " · " {a.summary}
                                </li>
                            }).collect_view()}
                        </ul>
                    </section>
                })
            })}
        </Transition>
    }
}

/// The pre-production checklist: what mcpops proves, and what people ticked.
#[component]
fn OperationalReadiness(id: i64) -> impl IntoView {
    let tick = ServerAction::<TickReadiness>::new();
    let rows = Resource::new(move || tick.version().get(), move |_| target_readiness(id));
    let can_operate = use_permission(crate::domain::auth::Permission::Operate);
    view! {
        <section class="panel readiness" id="readiness" aria-label="Operational readiness">
            <h2>"Operational readiness"</h2>
            <ErrorNote error=form_error(tick.value().into()) />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let can_operate = can_operate.await;
                    match rows.await {
                        Ok(rows) => {
                            let met = rows.iter().filter(|r| r.state == ItemState::Met).count();
                            let not_offered = rows.iter().filter(|r| r.state == ItemState::NotOffered).count();
                            let total = rows.len();
                            let summary = if not_offered == 0 {
                                format!("{met} of {total} ready")
                            } else {
                                format!("{met} of {total} ready, {not_offered} not offered by the server")
                            };
                            view! {
                                <p class="muted">{summary}</p>
                                <ul class="readiness-list">
                                    {rows.into_iter().map(|row| {
                                        let met = row.state == ItemState::Met;
                                        let (mark, state) = match row.state {
                                            ItemState::Met => ("✔", "met"),
                                            ItemState::Unmet => ("○", "unmet"),
                                            ItemState::NotOffered => ("–", "not-offered"),
                                        };
                                        let item = row.item;
                                        let how = if item.is_automatic() { "proven by mcpops" } else { "ticked by hand" };
                                        let tick_label = format!("{}: {}", if met { "Clear" } else { "Tick" }, item.label());
                                        view! {
                                            <li class:met=met data-item=item.as_str() data-state=state>
                                                <span class="mark">{mark}</span>
                                                <b>{item.label()}</b>
                                                <small class="muted">{format!(" · {how}: {}", row.evidence)}</small>
                                                {row.tick.map(|t| view! { <small>{format!(" · {} at {}", t.by, t.at.format("%Y-%m-%d %H:%M UTC"))}</small> })}
                                                {(can_operate && !item.is_automatic()).then(|| view! {
                                                    <ActionForm action=tick attr:class="inline">
                                                        <input type="hidden" name="target_id" value=id />
                                                        <input type="hidden" name="item" value=item.as_str() />
                                                        <input type="hidden" name="ticked" value=if met { "false" } else { "true" } />
                                                        <button type="submit" aria-label=tick_label>{if met { "Clear" } else { "Tick" }}</button>
                                                    </ActionForm>
                                                })}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Recent deploys of the target with the 30 minutes before and after side by side, and a
/// form to mark one.
#[component]
fn Deploys(id: i64, name: String) -> impl IntoView {
    let mark = ServerAction::<CreateDeploy>::new();
    let reviews = Resource::new(move || mark.version().get(), move |_| review_deploys(id));
    let marked: Signal<_> = mark.value().into();
    view! {
        <section class="panel deploys" aria-label="Deploys">
            <h2>"Deploys"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading deploys…"</p> }>
                {move || Suspend::new(async move {
                    match reviews.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No deploys in the last 7 days."</p> }.into_any(),
                        Ok(list) => view! { <DeployTable reviews=list /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ActionForm action=mark attr:class="inline deploy-form" attr:aria-label="Mark a deploy">
                <input type="hidden" name="target" value=name />
                <input type="hidden" name="tag" value="" />
                <input name="version" placeholder="version, e.g. 1.4.2" aria-label="Version deployed" required maxlength="128" />
                <input name="note" placeholder="note (optional)" aria-label="Deploy note" maxlength="1000" />
                <button type="submit" disabled=move || mark.pending().get()>"Mark a deploy now"</button>
            </ActionForm>
            <p class="field-error" role="alert">{field_error(marked, "version")}</p>
            <ErrorNote error=form_error(marked) />
        </section>
    }
}

#[component]
fn DeployTable(reviews: Vec<DeployReview>) -> impl IntoView {
    let show = |v: Option<f64>, signal: GoldenSignal| {
        v.map_or_else(|| "–".to_owned(), |v| signal.format(v))
    };
    view! {
        <table class="deploy-review">
            <thead>
                <tr>
                    <th scope="col">"Deploy"</th>
                    {GoldenSignal::ALL.iter().map(|s| view! { <th scope="col">{s.label()} " before → after"</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {reviews.into_iter().map(|review| {
                    let regressed = review.regressed();
                    let deploy = review.deploy;
                    view! {
                        <tr class:regressed=regressed data-version=deploy.version.clone()>
                            <th scope="row">
                                <b>{deploy.version.clone()}</b>
                                {regressed.then(|| view! { <span class="warning">" regression"</span> })}
                                <br /><small class="muted"><LocalTime at=deploy.at /> " · " {deploy.created_by.clone()}</small>
                                {(!deploy.note.is_empty()).then(|| view! { <br /><small>{deploy.note.clone()}</small> })}
                            </th>
                            {review.changes.into_iter().map(|c| view! {
                                <td class:regressed=c.regressed>{show(c.before, c.signal)} " → " {show(c.after, c.signal)}</td>
                            }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
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
    let offer = status.as_ref().map(|s| s.offers.ready);
    let readiness = status.and_then(|s| s.readiness);
    let missing = match offer {
        Some(Offer::NotOffered) => "The server has no readiness endpoint.",
        Some(Offer::Off) => "The readiness probe is switched off for this target.",
        _ => "No readiness answer yet.",
    };
    view! {
        <section class="panel" aria-label="Readiness">
            <h2>"Readiness"</h2>
            {match readiness {
                None => view! { <p class="muted">{missing}</p> }.into_any(),
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
                Some(McpReport { protection: Some(protection), warning, .. }) => view! {
                    <Protected protection warning />
                }.into_any(),
                Some(report) => {
                    let cut = report.full_handshake.as_ref().and_then(|f| f.tools_cut.clone());
                    // Between full handshakes a poll only pings: show both.
                    let full = report.full_handshake.filter(|full| full.steps != report.steps);
                    view! {
                        <p>
                            <b>{report.server_name}</b> " " {report.server_version}
                            <span class="muted">" · protocol " {report.protocol_version}</span>
                        </p>
                        {cut.map(|cut| view! { <p class="warn-note" role="status" data-tools-cut="">{format!("Tool list cut: {cut}.")}</p> })}
                        {full.map(|full| view! {
                            <h3>"Last full handshake " <small class="muted"><LocalTime at=full.at /></small></h3>
                            <StepTable steps=full.steps />
                            <h3>"Latest poll"</h3>
                        })}
                        <StepTable steps=report.steps />
                    }.into_any()
                }
            }}
        </section>
    }
}

/// A server that asked for a token: where a client would get one, and whether that works.
#[component]
fn Protected(protection: Protection, warning: Option<String>) -> impl IntoView {
    view! {
        <div class="protected" data-protected="true">
            <p><b>"Requires authorization"</b>
                <span class="muted">" · it answered 401; set an Authorization header under Probe settings for the full probe"</span>
            </p>
            {warning.map(|w| view! { <p class="error-note" role="alert">{w}</p> })}
            <p>"Resource metadata: "
                {match protection.resource_metadata {
                    Some(url) => view! { <span class="url">{url}</span> }.into_any(),
                    None => view! { <span class="muted">"not named in the challenge"</span> }.into_any(),
                }}
            </p>
            <ul class="authorization-servers">
                {protection.authorization_servers.into_iter().map(|server| {
                    let issuer = server.issuer;
                    let shown = issuer.clone();
                    let (ok, detail) = match server.metadata {
                        Ok(url) => (true, format!("metadata at {url}")),
                        Err(why) => (false, why),
                    };
                    view! {
                        <li data-issuer=issuer data-ok=ok.to_string()>
                            <span class=if ok { "status status-up" } else { "status status-down" }>{if ok { "ok" } else { "failing" }}</span>
                            " " <span class="url">{shown}</span>
                            <small class="muted">{format!(" · {detail}")}</small>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn StepTable(steps: Vec<(String, f64)>) -> impl IntoView {
    view! {
        <table class="steps">
            <thead><tr><th scope="col">"Step"</th><th scope="col">"Time"</th></tr></thead>
            <tbody>
                {steps
                    .into_iter()
                    .map(|(step, ms)| view! { <tr><td>{step}</td><td>{format!("{ms:.1} ms")}</td></tr> })
                    .collect_view()}
            </tbody>
        </table>
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
                {current.tools.iter().map(|t| view! {
                    <li><code>{t.name.clone()}</code>{t.read_only.then(|| view! { <small class="muted">" read-only"</small> })}</li>
                }).collect_view()}
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
