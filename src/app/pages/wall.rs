//! The wall screen: every target as a tile coloured by state, updated live from `/events`.
use crate::api::alerts::wall_alerts;
use crate::api::fleet::{FleetTile, fleet_overview};
use crate::domain::alerts::{Alert, AlertState};
use crate::domain::observation::{LiveUpdate, TargetState};
use leptos::prelude::*;
use leptos_meta::Title;
use std::collections::HashMap;

/// The newest update per target, as pushed by the server.
pub type LiveMap = RwSignal<HashMap<i64, LiveUpdate>>;

/// What a live page hears from `/events`: poll updates, and a count of alert changes that
/// pages watching alerts refetch on.
#[derive(Clone, Copy)]
pub struct Live {
    pub polls: LiveMap,
    pub alert_changes: RwSignal<u64>,
}

/// Subscribes to the server's live updates for as long as the page is open; with
/// `polls: false` only alert changes are sent.
pub fn use_live(polls: bool) -> Live {
    let live = Live {
        polls: RwSignal::new(HashMap::new()),
        alert_changes: RwSignal::new(0),
    };
    // Effects run only in the browser; the server renders the stored state.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        subscribe(live, polls);
        #[cfg(not(feature = "hydrate"))]
        let _ = polls;
    });
    live
}

#[cfg(feature = "hydrate")]
fn subscribe(live: Live, polls: bool) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let url = if polls { "/events" } else { "/events?targets=" };
    let Ok(source) = web_sys::EventSource::new(url) else {
        return;
    };
    let on_update =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(update) = serde_json::from_str::<LiveUpdate>(&text) {
                live.polls.update(|map| {
                    map.insert(update.target_id, update);
                });
            }
        });
    let on_alert = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
        live.alert_changes.update(|n| *n += 1);
    });
    let _ = source.add_event_listener_with_callback("update", on_update.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("alert", on_alert.as_ref().unchecked_ref());
    // The listeners live as long as the EventSource, which is closed when the page goes away.
    on_update.forget();
    on_alert.forget();
    let source = send_wrapper::SendWrapper::new(source);
    on_cleanup(move || source.close());
}

#[component]
pub fn WallPage() -> impl IntoView {
    let tiles = Resource::new(|| (), |_| fleet_overview());
    let live = use_live(true);
    let alerts = Resource::new(move || live.alert_changes.get(), |_| wall_alerts());
    view! {
        <Title text="Wall" />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                alerts.await.ok().map(|list| view! { <WallAlerts alerts=list /> })
            })}
        </Transition>
        <section class="wall" aria-label="Fleet status">
            <Transition fallback=|| view! { <p class="muted">"Loading fleet…"</p> }>
                {move || Suspend::new(async move {
                    match tiles.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="panel empty-state">"No targets yet. Add them on the Fleet page."</p>
                        }.into_any(),
                        Ok(list) => view! { <WallGrid tiles=list live=live.polls /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A tile's status: the live one when it has arrived, else what the page was rendered with.
fn current(tile: &FleetTile, live: LiveMap) -> Option<LiveUpdate> {
    live.with(|map| map.get(&tile.id).cloned())
        .or_else(|| tile.status.clone())
}

#[component]
fn WallGrid(tiles: Vec<FleetTile>, live: LiveMap) -> impl IntoView {
    let tiles = StoredValue::new(tiles);
    let counts = move || {
        let mut counts: HashMap<TargetState, usize> = HashMap::new();
        tiles.with_value(|tiles| {
            for tile in tiles {
                let state = current(tile, live).map_or(TargetState::Unknown, |s| s.state);
                *counts.entry(state).or_default() += 1;
            }
        });
        counts
    };
    let summary = [
        TargetState::Down,
        TargetState::NotReady,
        TargetState::Degraded,
        TargetState::Up,
        TargetState::Unknown,
    ]
    .into_iter()
    .map(|state| {
        view! {
            <span class=format!("count status-{}", state.as_str().replace('_', "-"))>
                <span class="big-number">{move || counts().get(&state).copied().unwrap_or(0)}</span>
                " " {state.label()}
            </span>
        }
    })
    .collect_view();
    view! {
        <div class="wall-summary" aria-live="polite">{summary}</div>
        <ul class="tiles">
            {tiles
                .get_value()
                .into_iter()
                .map(|tile| view! { <Tile tile live /> })
                .collect_view()}
        </ul>
    }
}

#[component]
fn Tile(tile: FleetTile, live: LiveMap) -> impl IntoView {
    let tile = StoredValue::new(tile);
    let status = move || tile.with_value(|t| current(t, live));
    let state = move || status().map_or(TargetState::Unknown, |s| s.state);
    let class = move || format!("tile status-{}", state().as_str().replace('_', "-"));
    let p95 = move || {
        status()
            .and_then(|s| s.p95_ms)
            .map_or("–".to_owned(), |ms| format!("{ms:.0} ms"))
    };
    let errors = move || {
        status()
            .and_then(|s| s.error_ratio)
            .map_or("–".to_owned(), |r| format!("{:.2}%", r * 100.0))
    };
    let (id, name, tags) = tile.with_value(|t| (t.id, t.name.clone(), t.tags.join(" · ")));
    let link_text = name.clone();
    view! {
        <li class=class data-target=name data-state=move || state().as_str()>
            <a class="tile-name" href=format!("/targets/{id}")>{link_text}</a>
            <span class="tile-state">{move || state().label()}</span>
            <span class="tile-figures">"p95 " <b>{p95}</b></span>
            <span class="tile-figures">"errors " <b>{errors}</b></span>
            <span class="tile-error">{move || status().and_then(|s| s.error)}</span>
            <span class="tile-tags">{tags}</span>
        </li>
    }
}

/// Firing alerts, big and first; acknowledged ones below them, with who is on it.
#[component]
fn WallAlerts(alerts: Vec<Alert>) -> impl IntoView {
    let firing = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let label = if alerts.is_empty() {
        "No firing alerts".to_owned()
    } else {
        format!("{firing} firing, {} acknowledged", alerts.len() - firing)
    };
    let quiet = alerts.is_empty();
    view! {
        <section class="wall-alerts" class:quiet=quiet aria-label="Alerts" aria-live="polite">
            <h2>{label}</h2>
            <ul>
                {alerts.into_iter().map(|alert| {
                    let state = alert.state.as_str();
                    let who = alert.acked_by.clone().map(|by| format!("acknowledged by {by}"));
                    view! {
                        <li class=format!("wall-alert {state} severity-{}", alert.severity.as_str())
                            data-alert=alert.id data-state=state>
                            <span class="alert-state">{state}</span>
                            <a href=format!("/alerts/{}", alert.id)><b>{alert.target_name.clone()}</b></a>
                            <span class="alert-rule">{alert.rule.label()}</span>
                            <span class="alert-summary">{alert.summary.clone()}</span>
                            <span class="alert-ack">{who}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
