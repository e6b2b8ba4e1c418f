//! Sections whose features are not built yet: they say what will be here.
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn PlannedPage(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=title />
        <h1>{title}</h1>
        <section class="panel empty-state">
            <p>{what}</p>
            <p class="muted">"This section is not in this release yet."</p>
        </section>
    }
}
