//! Alerts: the list (firing first) with filters and acknowledgement, one alert's history,
//! and the sub-pages for rules, silences and channels.
use crate::api::alerts::{AcknowledgeAlert, AlertDetail, alert_with_history, list_alerts};
use crate::api::incidents::DeclareIncident;
use crate::app::components::{ErrorNote, LocalTime, field_error, form_error, use_permission};
use crate::app::live::use_live;
use crate::domain::alerts::{Alert, AlertState, RuleKind, Severity};
use crate::domain::auth::Permission;
use crate::domain::escalation::{Escalation, Page};
use crate::domain::notifications::{AlertDelivery, NoticeEvent};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Links between the alert pages.
#[component]
pub fn AlertsNav() -> impl IntoView {
    view! {
        <nav class="subnav" aria-label="Alert pages">
            <a href="/alerts">"Alerts"</a>
            <a href="/alerts/rules">"Rules and baselines"</a>
            <a href="/alerts/silences">"Silences"</a>
            <a href="/alerts/channels">"Channels"</a>
            <a href="/oncall">"On call"</a>
            <a href="/oncall/paging">"Paging"</a>
        </nav>
    }
}

/// mcpops' own alert: backups older than the RPO (only while backups are scheduled).
#[component]
fn BackupWarning() -> impl IntoView {
    let warning = Resource::new(|| (), |_| crate::api::backups::backup_warning());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                warning.await.ok().flatten().map(|text| view! {
                    <p class="banner critical" role="alert" data-testid="backup-warning">
                        {text} " · " <A href="/admin/backups">"Backups"</A>
                    </p>
                })
            })}
        </Transition>
    }
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        (get("state"), get("severity"), get("rule"), get("target"))
    };
    let acknowledge = ServerAction::<AcknowledgeAlert>::new();
    let live = use_live(None);
    let alerts = Resource::new(
        move || {
            (
                filter(),
                acknowledge.version().get(),
                live.alert_changes.get(),
            )
        },
        |((state, severity, rule, target), _, _)| list_alerts(state, severity, rule, target),
    );
    let can_operate = use_permission(Permission::Operate);
    let result: Signal<_> = acknowledge.value().into();
    let declare = ServerAction::<DeclareIncident>::new();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(incident)) = declare.value().get() {
            navigate(&format!("/incidents/{}", incident.id), Default::default());
        }
    });
    view! {
        <Title text="Alerts" />
        <h1>"Alerts"</h1>
        <AlertsNav />
        <BackupWarning />
        <crate::app::pages::oncall::OnCallStrip />
        <AlertFilter filter=Signal::derive(filter) />
        <ErrorNote error=form_error(result) />
        <ErrorNote error=form_error(declare.value().into()) />
        <p class="field-error" role="alert">{field_error(result, "note")}</p>
        <Transition fallback=|| view! { <p class="muted">"Loading alerts…"</p> }>
            {move || Suspend::new(async move {
                let can_operate = can_operate.await;
                match alerts.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="panel empty-state">"No alerts match. All quiet."</p>
                    }.into_any(),
                    Ok(list) => view! { <AlertTable alerts=list can_operate acknowledge declare /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Filters as a GET form, so they work before the page is interactive and are linkable.
#[component]
fn AlertFilter(filter: Signal<(String, String, String, String)>) -> impl IntoView {
    let (state, severity, rule, target) = filter.get_untracked();
    let option = |value: &'static str, label: &'static str, current: &str| {
        view! { <option value=value selected=current == value>{label}</option> }
    };
    view! {
        <form method="get" action="/alerts" class="inline alert-filter" aria-label="Filter alerts">
            <label>"State "
                <select name="state">
                    {option("", "open", &state)}
                    {AlertState::ALL.iter().map(|s| option(s.as_str(), s.as_str(), &state)).collect_view()}
                    {option("all", "all, resolved too", &state)}
                </select>
            </label>
            <label>"Severity "
                <select name="severity">
                    {option("", "any", &severity)}
                    {Severity::ALL.iter().map(|s| option(s.as_str(), s.as_str(), &severity)).collect_view()}
                </select>
            </label>
            <label>"Rule "
                <select name="rule">
                    {option("", "any", &rule)}
                    {RuleKind::ALL.iter().map(|r| option(r.as_str(), r.label(), &rule)).collect_view()}
                </select>
            </label>
            <input type="hidden" name="target" value=target />
            <button type="submit">"Filter"</button>
        </form>
    }
}

/// A rule with at least this many alerts in the list is shown as one group, folded.
const GROUP_AT: usize = 5;

#[component]
fn AlertTable(
    alerts: Vec<Alert>,
    can_operate: bool,
    acknowledge: ServerAction<AcknowledgeAlert>,
    declare: ServerAction<DeclareIncident>,
) -> impl IntoView {
    // Storms first: a rule with many alerts folds into one expandable group.
    let mut by_rule: Vec<(RuleKind, Vec<Alert>)> = Vec::new();
    for alert in alerts {
        match by_rule.iter_mut().find(|(rule, _)| *rule == alert.rule) {
            Some((_, list)) => list.push(alert),
            None => by_rule.push((alert.rule, vec![alert])),
        }
    }
    let (groups, rest): (Vec<_>, Vec<_>) = by_rule
        .into_iter()
        .partition(|(_, list)| list.len() >= GROUP_AT);
    let rest: Vec<Alert> = rest.into_iter().flat_map(|(_, list)| list).collect();
    let row = move |alert: Alert| alert_row(alert, can_operate, acknowledge, declare);
    let groups = groups
        .into_iter()
        .map(|(rule, list)| {
            let firing = list
                .iter()
                .filter(|a| a.state == AlertState::Firing)
                .count();
            let counts = format!(
                "{} · {firing} firing, {} other",
                crate::domain::counted(list.len() as u64, "alert"),
                list.len() - firing
            );
            view! {
                <details class="alert-group panel" data-rule=rule.as_str()>
                    <summary><b>{rule.label()}</b> " · " {counts}</summary>
                    <table class="alerts">
                        <AlertHead />
                        <tbody>{list.into_iter().map(row).collect_view()}</tbody>
                    </table>
                </details>
            }
        })
        .collect_view();
    view! {
        {groups}
        {(!rest.is_empty()).then(|| view! {
            <table class="alerts">
                <caption>{format!("{}, firing first", crate::domain::counted(rest.len() as u64, "alert"))}</caption>
                <AlertHead />
                <tbody>{rest.into_iter().map(row).collect_view()}</tbody>
            </table>
        })}
    }
}

#[component]
fn AlertHead() -> impl IntoView {
    view! {
        <thead>
            <tr>
                <th scope="col">"State"</th>
                <th scope="col">"Alert"</th>
                <th scope="col">"Since"</th>
                <th scope="col">"Action"</th>
            </tr>
        </thead>
    }
}

fn alert_row(
    alert: Alert,
    can_operate: bool,
    acknowledge: ServerAction<AcknowledgeAlert>,
    declare: ServerAction<DeclareIncident>,
) -> impl IntoView {
    let state = alert.state;
    let id = alert.id;
    let since = alert.fired_at.unwrap_or(alert.opened_at);
    let ack_label = format!(
        "Note for acknowledging {} on {}",
        alert.rule.label(),
        alert.target_name
    );
    let who = alert.acked_by.clone().map(|by| view! {
        <p class="muted">"acknowledged by " <b>{by}</b> ": " {alert.ack_note.clone().unwrap_or_default()}</p>
    });
    let drift_hint = (alert.rule == RuleKind::ToolDrift).then_some(" (accepts the new tool list)");
    let declare_label = format!(
        "Declare an incident from {} on {}",
        alert.rule.label(),
        alert.target_name
    );
    view! {
        <tr class=format!("alert-row {} severity-{}", state.as_str(), alert.severity.as_str())
            data-alert=id data-state=state.as_str() data-target=alert.target_name.clone()>
            <td>
                <span class=format!("alert-state {}", state.as_str())>{state.as_str()}</span>
                <br /><small class="muted">{alert.severity.as_str()}</small>
                {alert.silenced.then(|| view! { <br /><small class="muted">"silenced"</small> })}
            </td>
            <td>
                <a href=format!("/alerts/{id}")><b>{alert.rule.label()}</b></a>
                " on " <a href=format!("/targets/{}", alert.target_id)>{alert.target_name.clone()}</a>
                <p>{alert.summary.clone()}</p>
                {who}
                <a class="runbook" href=format!("/runbooks/{}", alert.rule.runbook())>"Runbook: " {alert.rule.runbook()}</a>
            </td>
            <td data-label="since"><LocalTime at=since /></td>
            <td class="actions">
                {(can_operate && state == AlertState::Firing).then(|| view! {
                    <ActionForm action=acknowledge attr:class="inline ack-form">
                        <input type="hidden" name="id" value=id />
                        <input name="note" required maxlength="1000" placeholder="What are you doing about it?" aria-label=ack_label />
                        <button type="submit" class="primary">"Acknowledge" {drift_hint}</button>
                    </ActionForm>
                })}
                {(can_operate && state.is_open() && state != AlertState::Pending).then(|| view! {
                    <ActionForm action=declare attr:class="inline">
                        <input type="hidden" name="alert_id" value=id />
                        <button type="submit" aria-label=declare_label>"Declare incident"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

#[component]
pub fn AlertPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|raw| raw.parse::<i64>().ok())
    };
    let live = use_live(None);
    let acknowledge = ServerAction::<AcknowledgeAlert>::new();
    let detail = Resource::new(
        move || (id(), live.alert_changes.get(), acknowledge.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => alert_with_history(id).await,
                None => Err(crate::api::error::AppError::NotFound),
            }
        },
    );
    let can_operate = use_permission(Permission::Operate);
    view! {
        <Title text="Alert" />
        <AlertsNav />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let can_operate = can_operate.await;
                match detail.await {
                    Ok(detail) => view! { <AlertHistory detail can_operate acknowledge /> }.into_any(),
                    Err(err) => view! { <h1>"Alert"</h1><p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AlertHistory(
    detail: AlertDetail,
    can_operate: bool,
    acknowledge: ServerAction<AcknowledgeAlert>,
) -> impl IntoView {
    let AlertDetail {
        alert,
        steps,
        notified,
        escalations,
    } = detail;
    let result: Signal<_> = acknowledge.value().into();
    let drift_hint = (alert.rule == RuleKind::ToolDrift).then_some(" (accepts the new tool list)");
    // Links in notifications open this page at #acknowledge: the form comes first.
    let ack_form = (can_operate && alert.state == AlertState::Firing).then(|| {
        view! {
            <section class="panel" id="acknowledge">
                <h2>"Acknowledge"</h2>
                <ErrorNote error=form_error(result) />
                <ActionForm action=acknowledge attr:class="ack-form" attr:aria-label="Acknowledge this alert">
                    <input type="hidden" name="id" value=alert.id />
                    <label for="ack-note">"What are you doing about it?"</label>
                    <input id="ack-note" name="note" required maxlength="1000" />
                    <p class="field-error" role="alert">{field_error(result, "note")}</p>
                    <button type="submit" class="primary">"Acknowledge" {drift_hint}</button>
                </ActionForm>
            </section>
        }
    });
    view! {
        <h1>{alert.rule.label()} " on " {alert.target_name.clone()}</h1>
        <p>
            <span class=format!("alert-state {}", alert.state.as_str()) data-state=alert.state.as_str()>{alert.state.as_str()}</span>
            " · " {alert.severity.as_str()}
            {alert.silenced.then_some(" · silenced (recorded, not notified)")}
        </p>
        <p>{alert.summary.clone()}</p>
        {ack_form}
        <p>
            <a href=format!("/targets/{}", alert.target_id)>"Open " {alert.target_name.clone()}</a>
            " · "
            <a href=format!("/runbooks/{}", alert.rule.runbook())>"Runbook: " {alert.rule.runbook()}</a>
        </p>
        <section class="panel">
            <h2>"History"</h2>
            <ol class="timeline">
                {steps.into_iter().map(|step| view! {
                    <li>
                        <LocalTime at=step.at />
                        " " <b>{step.from.map(|f| format!("{} → ", f.as_str()))}{step.to.as_str()}</b>
                        " by " {step.actor}
                        {(!step.note.is_empty()).then(|| format!(": {}", step.note))}
                    </li>
                }).collect_view()}
            </ol>
        </section>
        <AlertPaging escalations />
        <AlertNotifications notified />
    }
}

/// Who was paged about the alert, level by level, how, and whether it reached them.
#[component]
fn AlertPaging(escalations: Vec<(Escalation, Vec<Page>)>) -> impl IntoView {
    let body = if escalations.is_empty() {
        view! { <p class="muted">"No escalation policy took this alert: nobody was paged."</p> }
            .into_any()
    } else {
        escalations
            .into_iter()
            .map(|(escalation, pages)| {
                let state = match &escalation.end {
                    Some(end) => end.describe(),
                    None => format!("paging level {}", escalation.step.level + 1),
                };
                view! {
                    <p>
                        "Policy " <b>{escalation.policy_name.clone()}</b> ", since " <LocalTime at=escalation.started_at />
                        ": " <span data-testid="escalation-state">{state}</span>
                    </p>
                    <ol class="timeline" data-testid="alert-pages">
                        {pages.into_iter().map(|page| {
                            let (class, outcome) = match &page.error {
                                _ if page.pending => ("pending", "sending…".to_owned()),
                                None => ("delivered", "reached".to_owned()),
                                Some(reason) => ("failed", format!("not reached: {reason}")),
                            };
                            let how = page.kind.map(|k| format!(" by {} · {}", page.method, k.label()));
                            let who = if page.username.is_empty() { "nobody".to_owned() } else { page.username.clone() };
                            // A page names its level; the news that followed names its event.
                            let what = match page.event {
                                NoticeEvent::Firing => format!("level {}", page.step.level + 1),
                                event => format!("{} sent", event.as_str()),
                            };
                            let round = (page.event == NoticeEvent::Firing && page.step.round > 0)
                                .then(|| format!(", round {}", page.step.round + 1));
                            view! {
                                <li class=class data-person=page.username.clone()>
                                    <LocalTime at=page.at />
                                    " " <b>{what}</b> {round}
                                    ": " {who} {how} ", " {outcome}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="panel">
            <h2>"Paging"</h2>
            {body}
        </section>
    }
}

/// Who was told, through which channel, and whether it got through.
#[component]
fn AlertNotifications(notified: Vec<AlertDelivery>) -> impl IntoView {
    let body = if notified.is_empty() {
        view! { <p class="muted">"No channel has been sent anything about this alert."</p> }
            .into_any()
    } else {
        view! {
            <ol class="timeline" data-testid="alert-notifications">
                {notified.into_iter().map(|sent| {
                    let d = sent.delivery;
                    let (class, outcome) = match d.error {
                        None => ("delivered", "delivered".to_owned()),
                        Some(reason) => ("failed", format!("failed: {reason}")),
                    };
                    view! {
                        <li class=class>
                            <LocalTime at=d.at />
                            " " <b>{d.event.as_str()}</b> " to " {sent.channel} " (" {sent.kind.label()} ")"
                            {(d.attempt > 1).then(|| format!(", attempt {}", d.attempt))}
                            ": " {outcome}
                        </li>
                    }
                }).collect_view()}
            </ol>
        }.into_any()
    };
    view! {
        <section class="panel">
            <h2>"Notifications"</h2>
            {body}
        </section>
    }
}
