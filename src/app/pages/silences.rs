//! Silences and maintenance windows: make one (one-off or weekly), see how each stands, end
//! one early. Alerts in a silence are still recorded, but nobody is notified.
use crate::api::silences::{CreateSilence, ExpireSilence, SilenceView, list_silences};
use crate::app::components::{ErrorNote, Field, LocalTime, field_error, form_error};
use crate::app::pages::alerts::AlertsNav;
use crate::domain::alerts::RuleKind;
use crate::domain::silences::SilenceStatus;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SilencesPage() -> impl IntoView {
    let create = ServerAction::<CreateSilence>::new();
    let expire = ServerAction::<ExpireSilence>::new();
    let silences = Resource::new(
        move || (create.version().get(), expire.version().get()),
        |_| list_silences(),
    );
    let created: Signal<_> = create.value().into();
    view! {
        <Title text="Silences" />
        <h1>"Silences and maintenance windows"</h1>
        <AlertsNav />
        <section class="panel">
            <h2>"Silence alerts"</h2>
            <ActionForm action=create attr:class="target-form" attr:aria-label="New silence">
                <Field label="Target name" name="target" placeholder="demo-03" error=field_error(created, "target") />
                <Field label="Tag" name="tag" placeholder="edge" error=field_error(created, "tag") />
                <div class="field">
                    <label for="silence-rule">"Rule"</label>
                    <select id="silence-rule" name="rule">
                        <option value="">"any rule"</option>
                        {RuleKind::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                    </select>
                    <small class="field-error" role="alert">{field_error(created, "rule")}</small>
                </div>
                <Field label="Reason" name="reason" placeholder="database upgrade, change 4711" error=field_error(created, "reason") />
                <Field label="Starts in (min)" name="starts_in_minutes" placeholder="0" hint="empty: now" error=field_error(created, "starts_in_minutes") />
                <Field label="Lasts (min)" name="duration_minutes" placeholder="120" hint="one-off silence" error=field_error(created, "duration_minutes") />
                <fieldset class="recurring">
                    <legend>"Or a weekly maintenance window (UTC)"</legend>
                    <Field label="Days" name="weekdays" placeholder="Sat, Sun" error=field_error(created, "weekdays") />
                    <Field label="From (HH:MM)" name="window_start" placeholder="02:00" error=field_error(created, "window_start") />
                    <Field label="For (min)" name="window_minutes" placeholder="120" error=field_error(created, "window_minutes") />
                    <Field label="Repeat for (days)" name="until_days" placeholder="90" hint="empty: 90" error=field_error(created, "until_days") />
                </fieldset>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Silence"</button>
            </ActionForm>
            <ErrorNote error=form_error(created) />
        </section>
        <ErrorNote error=form_error(expire.value().into()) />
        <Transition fallback=|| view! { <p class="muted">"Loading silences…"</p> }>
            {move || Suspend::new(async move {
                match silences.await {
                    Ok(list) if list.is_empty() => view! { <p class="panel empty-state">"No silences in the last 7 days."</p> }.into_any(),
                    Ok(list) => view! { <SilenceTable silences=list expire /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SilenceTable(silences: Vec<SilenceView>, expire: ServerAction<ExpireSilence>) -> impl IntoView {
    view! {
        <table class="silences">
            <caption>"Running, waiting, and ended in the last 7 days"</caption>
            <thead>
                <tr>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Covers"</th>
                    <th scope="col">"Why, and who"</th>
                    <th scope="col">"When"</th>
                    <th scope="col"></th>
                </tr>
            </thead>
            <tbody>
                {silences.into_iter().map(|view| {
                    let SilenceView { silence, status, targets_matched } = view;
                    let id = silence.id;
                    let warning = (targets_matched == 0).then_some("matches no target");
                    let end_label = format!("End the silence on {}", silence.matchers.describe());
                    view! {
                        <tr data-silence=id data-status=status.label()>
                            <td>
                                <span class=format!("silence-status {}", status.label())>{status.label()}</span>
                                {warning.map(|w| view! { <br /><small class="warning">{w}</small> })}
                            </td>
                            <td>{silence.matchers.describe()}<br /><small class="muted">{format!("{targets_matched} targets")}</small></td>
                            <td>{silence.reason.clone()}<br /><small class="muted">{silence.owner.clone()}</small></td>
                            <td>
                                <LocalTime at=silence.starts_at /> " → " <LocalTime at=silence.ends_at />
                                {silence.recurrence.as_ref().map(|r| view! { <br /><small>{r.describe()}</small> })}
                            </td>
                            <td>
                                {(status != SilenceStatus::Expired).then(|| view! {
                                    <ActionForm action=expire attr:class="inline">
                                        <input type="hidden" name="id" value=id />
                                        <button type="submit" aria-label=end_label>"End now"</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
