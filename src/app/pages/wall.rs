//! The wall screen: every target as a tile coloured by state, updated live from `/events`.
use crate::api::fleet::{FleetTile, fleet_overview};
use crate::domain::observation::{LiveUpdate, TargetState};
use leptos::prelude::*;
use leptos_meta::Title;
use std::collections::HashMap;

/// The newest update per target, as pushed by the server.
pub type LiveMap = RwSignal<HashMap<i64, LiveUpdate>>;

/// Subscribes to the server's live updates for as long as the page is open.
pub fn use_live_updates() -> LiveMap {
    let live: LiveMap = RwSignal::new(HashMap::new());
    // Effects run only in the browser; the server renders the stored state.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        subscribe(live);
    });
    live
}

#[cfg(feature = "hydrate")]
fn subscribe(live: LiveMap) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let Ok(source) = web_sys::EventSource::new("/events") else {
        return;
    };
    let on_update =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(update) = serde_json::from_str::<LiveUpdate>(&text) {
                live.update(|map| {
                    map.insert(update.target_id, update);
                });
            }
        });
    let _ = source.add_event_listener_with_callback("update", on_update.as_ref().unchecked_ref());
    // The listener lives as long as the EventSource, which is closed when the page goes away.
    on_update.forget();
    let source = send_wrapper::SendWrapper::new(source);
    on_cleanup(move || source.close());
}

#[component]
pub fn WallPage() -> impl IntoView {
    let tiles = Resource::new(|| (), |_| fleet_overview());
    let live = use_live_updates();
    view! {
        <Title text="Wall" />
        <section class="wall" aria-label="Fleet status">
            <Transition fallback=|| view! { <p class="muted">"Loading fleet…"</p> }>
                {move || Suspend::new(async move {
                    match tiles.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="panel empty-state">"No targets yet. Add them on the Fleet page."</p>
                        }.into_any(),
                        Ok(list) => view! { <WallGrid tiles=list live /> }.into_any(),
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
