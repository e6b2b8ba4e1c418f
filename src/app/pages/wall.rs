//! The wall screen: every target as a tile, readable from across the room.
use crate::api::targets::list_targets;
use crate::domain::target::Target;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn WallPage() -> impl IntoView {
    let targets = Resource::new(|| (), |_| list_targets());
    view! {
        <Title text="Wall" />
        <section class="wall" aria-label="Fleet status">
            <Transition fallback=|| view! { <p class="muted">"Loading fleet…"</p> }>
                {move || Suspend::new(async move {
                    match targets.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="panel empty-state">"No targets yet. Add them on the Fleet page."</p>
                        }.into_any(),
                        Ok(list) => view! { <WallGrid targets=list /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn WallGrid(targets: Vec<Target>) -> impl IntoView {
    let count = targets.len();
    view! {
        <div class="wall-summary">
            <span class="big-number">{count}</span>
            " targets"
        </div>
        <ul class="tiles">
            {targets
                .into_iter()
                .map(|t| view! {
                    <li class="tile status-unknown" data-target=t.name.clone()>
                        <span class="tile-name">{t.name.clone()}</span>
                        <span class="tile-state">"unknown"</span>
                        <span class="tile-tags">{t.tags.join(" · ")}</span>
                    </li>
                })
                .collect_view()}
        </ul>
    }
}
