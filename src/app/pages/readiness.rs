//! `/readiness`: the operations guide's pre-production checklist for the whole fleet, one row
//! per server (or per tag value), each cell proven, ticked by hand, missing or not offered.
use crate::api::readiness::fleet_readiness;
use crate::domain::readiness::{GroupReadiness, Mark, ReadinessItem, ServerReadiness, by_group};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use std::collections::BTreeSet;

#[component]
pub fn ReadinessPage() -> impl IntoView {
    let query = use_query_map();
    let by = move || {
        query
            .read()
            .get("by")
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
    };
    let fleet = Resource::new(|| (), |_| fleet_readiness());
    view! {
        <Title text="Readiness" />
        <h1>"Readiness"</h1>
        <p class="lead">
            "The operations guide's pre-production checklist for every server. "
            <span class="mark-key proven">"✔ proven"</span>" by mcpops from what it has seen, "
            <span class="mark-key ticked">"☑ ticked"</span>" by hand on the server's page, "
            <span class="mark-key missing">"✘ missing"</span>", "
            <span class="mark-key not-offered">"– not offered"</span>" by the server. "
            "The last three columns are mcpops' own additions. Hover a cell for its evidence; a server's page has all of it."
        </p>
        <Transition fallback=|| view! { <p class="muted">"Checking the fleet…"</p> }>
            {move || Suspend::new(async move {
                match fleet.await {
                    Ok(targets) if targets.is_empty() => view! {
                        <p class="muted">"No servers yet: add one on the " <a href="/fleet">"Fleet"</a> " page."</p>
                    }.into_any(),
                    Ok(targets) => {
                        let key = by();
                        let keys = tag_keys(targets.as_slice());
                        view! {
                            <RowsChoice keys chosen=key.clone() />
                            {match key {
                                Some(key) => view! { <GroupMatrix groups=by_group(targets.as_slice(), Some(&key)) /> }.into_any(),
                                None => view! { <TargetMatrix targets /> }.into_any(),
                            }}
                        }.into_any()
                    }
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The `key` of every `key:value` tag in the fleet.
fn tag_keys(targets: &[ServerReadiness]) -> Vec<String> {
    targets
        .iter()
        .flat_map(|t| t.tags.iter().filter_map(|tag| tag.split_once(':')))
        .map(|(key, _)| key.to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[component]
fn RowsChoice(keys: Vec<String>, chosen: Option<String>) -> impl IntoView {
    view! {
        <form method="get" action="/readiness" class="panel filters" aria-label="Group the matrix">
            <label>
                "Rows "
                <select name="by">
                    <option value="" selected=chosen.is_none()>"one per server"</option>
                    {keys.into_iter().map(|key| {
                        let selected = chosen.as_deref() == Some(key.as_str());
                        let label = format!("one per {key}");
                        view! { <option value=key selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit">"Show"</button>
        </form>
    }
}

/// The column headings: the guide's items, then the ones mcpops adds.
fn headings() -> impl IntoView {
    ReadinessItem::ALL
        .into_iter()
        .map(|item| {
            view! {
                <th scope="col" title=item.label()>
                    {item.short_label()}
                </th>
            }
        })
        .collect_view()
}

#[component]
fn TargetMatrix(targets: Vec<ServerReadiness>) -> impl IntoView {
    let total = targets.len();
    let met: Vec<usize> = by_group(&targets, None)
        .pop()
        .map(|g| g.met)
        .unwrap_or_default();
    view! {
        <div class="matrix-scroll">
            <table class="readiness-matrix">
                <caption class="visually-hidden">"Readiness of each server"</caption>
                <thead><tr><th scope="col">"Server"</th>{headings()}</tr></thead>
                <tbody>
                    {targets.into_iter().map(|t| view! {
                        <tr data-target=t.target_id>
                            <th scope="row"><a href=format!("/targets/{}#readiness", t.target_id)>{t.name}</a></th>
                            {t.rows.into_iter().map(|row| {
                                let mark = Mark::of(&row);
                                let class = format!("mark {}", mark.as_str().replace(' ', "-"));
                                let evidence = match &row.tick {
                                    Some(tick) => format!("{}: ticked by {} at {}", row.item.label(), tick.by, tick.at.format("%Y-%m-%d %H:%M UTC")),
                                    None => format!("{}: {}", row.item.label(), row.evidence),
                                };
                                view! {
                                    <td class=class data-item=row.item.as_str() data-label=row.item.short_label() title=evidence.clone()>
                                        <span aria-hidden="true">{mark.symbol()}</span>
                                        <span class="visually-hidden">{format!("{}. {evidence}", mark.as_str())}</span>
                                    </td>
                                }
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
                <tfoot>
                    <tr>
                        <th scope="row">"Met"</th>
                        {met.into_iter().zip(ReadinessItem::ALL).map(|(n, item)| view! { <td class="count" data-label=item.short_label()>{format!("{n} of {total}")}</td> }).collect_view()}
                    </tr>
                </tfoot>
            </table>
        </div>
    }
}

#[component]
fn GroupMatrix(groups: Vec<GroupReadiness>) -> impl IntoView {
    view! {
        <div class="matrix-scroll">
            <table class="readiness-matrix">
                <caption class="visually-hidden">"Servers meeting each item, by tag"</caption>
                <thead><tr><th scope="col">"Group"</th>{headings()}</tr></thead>
                <tbody>
                    {groups.into_iter().map(|g| {
                        let name = g.name;
                        let total = g.targets;
                        view! {
                            <tr>
                                <th scope="row">{format!("{name} ({total})")}</th>
                                {g.met.into_iter().zip(ReadinessItem::ALL).map(|(n, item)| {
                                    let class = if n == total { "count proven" } else if n == 0 { "count missing" } else { "count partial" };
                                    view! { <td class=class data-label=item.short_label()>{format!("{n} of {total}")}</td> }
                                }).collect_view()}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
