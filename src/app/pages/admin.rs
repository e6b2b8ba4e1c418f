//! Administration: links to accounts and tokens, and fault injection into the demo fleet.
use crate::api::auth::current_viewer;
use crate::api::demo::{SetDemoFault, list_demo_servers};
use crate::app::components::{ErrorNote, form_error};
use crate::domain::auth::{Permission, Viewer};
use crate::domain::demo::{DemoFault, DemoServerView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn AdminPage() -> impl IntoView {
    let set_fault = ServerAction::<SetDemoFault>::new();
    let servers = Resource::new(move || set_fault.version().get(), |_| list_demo_servers());
    let viewer = Resource::new(|| (), |_| async { current_viewer().await.ok().flatten() });
    let may =
        move |permission| async move { viewer.await.is_some_and(|v: Viewer| v.allows(permission)) };
    view! {
        <Title text="Admin" />
        <h1>"Admin"</h1>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                may(Permission::Administer).await.then(|| view! {
                    <nav class="panel subnav" aria-label="Administration">
                        <A href="/admin/users">"Users"</A>
                        <A href="/admin/tokens">"Kiosk and API tokens"</A>
                        <A href="/admin/backups">"Backups"</A>
                    </nav>
                })
            })}
        </Transition>
        <section class="panel">
            <h2>"Demo fleet: fault injection"</h2>
            <p class="muted">"Switch a fault on to watch the console react; switch it off to recover."</p>
            <ErrorNote error=form_error(set_fault.value().into()) />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let operate = may(Permission::Operate).await;
                    match servers.await {
                        Ok(list) if list.is_empty() => view! {
                            <p>"mcpops was not started with the demo fleet (" <code>"mcpops demo"</code> ")."</p>
                        }.into_any(),
                        Ok(_) if !operate => view! {
                            <p class="muted">"Injecting faults needs the operator or admin role."</p>
                        }.into_any(),
                        Ok(list) => view! { <FaultTable servers=list set_fault /> }.into_any(),
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn FaultTable(
    servers: Vec<DemoServerView>,
    set_fault: ServerAction<SetDemoFault>,
) -> impl IntoView {
    view! {
        <table class="faults">
            <thead>
                <tr>
                    <th scope="col">"Server"</th>
                    {DemoFault::ALL.iter().map(|f| view! { <th scope="col">{f.label()}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {servers
                    .into_iter()
                    .map(|server| {
                        let name = server.name.clone();
                        let cells = DemoFault::ALL
                            .iter()
                            .map(|fault| {
                                let name = name.clone();
                                let active = server.faults.contains(fault);
                                let label = format!("{} {} on {}", if active { "Clear" } else { "Inject" }, fault.label(), name);
                                view! {
                                    <td>
                                        <ActionForm action=set_fault attr:class="inline">
                                            <input type="hidden" name="server" value=name />
                                            <input type="hidden" name="fault" value=fault.as_str() />
                                            <input type="hidden" name="on" value=(!active).to_string() />
                                            <button type="submit" class:active=active aria-pressed=active.to_string() aria-label=label>
                                                {if active { "on" } else { "off" }}
                                            </button>
                                        </ActionForm>
                                    </td>
                                }
                            })
                            .collect_view();
                        view! {
                            <tr data-server=server.name.clone()>
                                <th scope="row">{server.name.clone()}<br /><small class="muted">{server.url.clone()}</small></th>
                                {cells}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
