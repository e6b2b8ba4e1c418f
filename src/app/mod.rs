//! The Leptos UI: the HTML shell, navigation and routes.
mod components;
pub mod live;
mod pages;

use crate::api::auth::{Logout, current_viewer};
use crate::domain::auth::Permission;
use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{SsrMode, path};
use pages::{
    access::{AdminTokensPage, AdminUsersPage},
    account::{ChangePasswordPage, LoginPage},
    admin::AdminPage,
    alerts::{AlertPage, AlertsPage},
    audit::{AuditEntryPage, AuditPage},
    backups::BackupsPage,
    capacity::CapacityPage,
    channels::ChannelsPage,
    fleet::{EditTargetPage, FleetPage},
    incidents::{IncidentPage, IncidentsPage},
    oncall::{OnCallPage, SchedulePage},
    paging::PagingPage,
    readiness::ReadinessPage,
    rules::RulesPage,
    runbooks::{RunbookPageView, RunbooksPage},
    server::ServerPage,
    silences::SilencesPage,
    wall::WallPage,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The sections every page links to, in the order an operator reaches for them, with what
/// each needs; the server enforces the same (see `server::auth::policy`).
const SECTIONS: [(&str, &str, Permission); 9] = [
    ("/wall", "Wall", Permission::ViewWall),
    ("/fleet", "Fleet", Permission::ViewDashboards),
    ("/alerts", "Alerts", Permission::ViewDashboards),
    ("/incidents", "Incidents", Permission::ViewDashboards),
    ("/runbooks", "Runbooks", Permission::ViewDashboards),
    ("/audit", "Audit", Permission::ReadAudit),
    ("/capacity", "Capacity", Permission::ViewDashboards),
    ("/readiness", "Readiness", Permission::ViewDashboards),
    ("/admin", "Admin", Permission::ViewDashboards),
];

/// Navigation for whoever is signed in; nothing for a kiosk or before sign-in.
#[component]
fn TopNav() -> impl IntoView {
    let location = use_location();
    // Refetched on every navigation, so signing in or out shows at once.
    let viewer = Resource::new(
        move || location.pathname.get(),
        |_| async { current_viewer().await.ok().flatten() },
    );
    let logout = ServerAction::<Logout>::new();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let viewer = viewer.await;
                viewer.filter(|v| !v.kiosk).map(|v| view! {
                    <nav aria-label="Sections">
                        {SECTIONS
                            .iter()
                            .filter(|(_, _, needs)| v.allows(*needs))
                            .map(|(href, label, _)| view! { <A href=*href>{*label}</A> })
                            .collect_view()}
                    </nav>
                    <div class="whoami">
                        <span data-role=v.role.as_str()>{v.name.clone()} " · " {v.role.as_str()}</span>
                        <ActionForm action=logout attr:class="inline">
                            <button type="submit">"Sign out"</button>
                        </ActionForm>
                    </div>
                })
            })}
        </Transition>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::provide_live_context();
    // Effects only run in the browser, after hydration: end-to-end tests wait for this mark.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Title formatter=|page: String| if page.is_empty() { "mcpops".to_owned() } else { format!("{page} · mcpops") } />
        <Router>
            <header class="topbar">
                <A href="/wall" attr:class="brand">"mcpops"</A>
                <live::ConnectionBadge />
                <TopNav />
            </header>
            // Data pages render complete on the server (SsrMode::Async), so they read
            // the same with JavaScript off.
            <main>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=WallPage ssr=SsrMode::Async />
                    <Route path=path!("/wall") view=WallPage ssr=SsrMode::Async />
                    <Route path=path!("/fleet") view=FleetPage ssr=SsrMode::Async />
                    <Route path=path!("/fleet/:id/edit") view=EditTargetPage ssr=SsrMode::Async />
                    <Route path=path!("/targets/:id") view=ServerPage ssr=SsrMode::Async />
                    <Route path=path!("/alerts") view=AlertsPage ssr=SsrMode::Async />
                    <Route path=path!("/alerts/rules") view=RulesPage ssr=SsrMode::Async />
                    <Route path=path!("/alerts/silences") view=SilencesPage ssr=SsrMode::Async />
                    <Route path=path!("/alerts/channels") view=ChannelsPage ssr=SsrMode::Async />
                    <Route path=path!("/alerts/:id") view=AlertPage ssr=SsrMode::Async />
                    <Route path=path!("/incidents") view=IncidentsPage ssr=SsrMode::Async />
                    <Route path=path!("/incidents/:id") view=IncidentPage ssr=SsrMode::Async />
                    <Route path=path!("/oncall") view=OnCallPage ssr=SsrMode::Async />
                    <Route path=path!("/oncall/paging") view=PagingPage ssr=SsrMode::Async />
                    <Route path=path!("/oncall/:id") view=SchedulePage ssr=SsrMode::Async />
                    <Route path=path!("/runbooks") view=RunbooksPage ssr=SsrMode::Async />
                    <Route path=path!("/runbooks/:slug") view=RunbookPageView ssr=SsrMode::Async />
                    <Route path=path!("/capacity") view=CapacityPage ssr=SsrMode::Async />
                    <Route path=path!("/readiness") view=ReadinessPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/users") view=AdminUsersPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/tokens") view=AdminTokensPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/backups") view=BackupsPage ssr=SsrMode::Async />
                    <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async />
                    <Route path=path!("/audit/:seq") view=AuditEntryPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/account/password") view=ChangePasswordPage />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <h1>"Not found"</h1>
        <p>"There is no page here. Pick a section above."</p>
    }
}
