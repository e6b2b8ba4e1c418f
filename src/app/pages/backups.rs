//! Admin → Backups: recovery objectives (RPO, RTO) against their targets, the last verified
//! restore, every backup, verification and restore, and buttons that start one with progress.
use crate::api::backups::{BackupsView, StartBackup, backups_overview};
use crate::app::components::{ErrorNote, LocalTime, form_error};
use crate::domain::backups::{BackupRun, Objective, Progress, human_duration};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn BackupsPage() -> impl IntoView {
    let start = ServerAction::<StartBackup>::new();
    // Poll every second while something runs (progress), every 15 s otherwise.
    let refresh = RwSignal::new(0u64);
    let running = RwSignal::new(false);
    let seconds = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                seconds.update(|s| *s += 1);
                if running.get_untracked() || seconds.get_untracked().is_multiple_of(15) {
                    refresh.update(|r| *r += 1);
                }
            },
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let data = Resource::new(
        move || (refresh.get(), start.version().get()),
        |_| backups_overview(),
    );
    view! {
        <Title text="Backups" />
        <h1>"Backups and recovery"</h1>
        <nav class="panel subnav" aria-label="Administration">
            <A href="/admin">"Admin"</A>
            <A href="/admin/users">"Users"</A>
            <A href="/admin/tokens">"Kiosk and API tokens"</A>
            <A href="/admin/backups">"Backups"</A>
        </nav>
        <ErrorNote error=form_error(start.value().into()) />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => {
                        running.set(view.progress.is_some());
                        view! { <Overview view start /> }.into_any()
                    }
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(view: BackupsView, start: ServerAction<StartBackup>) -> impl IntoView {
    let BackupsView {
        recovery,
        runs,
        progress,
        schedule,
        dir,
        latest_archive,
    } = view;
    let busy = progress.is_some();
    let last_verified = recovery.last_verified.clone();
    view! {
        <section class="objectives" aria-label="Recovery objectives">
            <ObjectiveTile
                name="RPO"
                what="age of the last good backup"
                objective=recovery.rpo.clone()
                missing="no good backup yet"
            />
            <ObjectiveTile
                name="RTO"
                what="duration of the last verified restore"
                objective=recovery.rto.clone()
                missing="no verified restore yet"
            />
        </section>
        <section class="panel">
            <h2>"Last verified restore"</h2>
            {match last_verified {
                Some(run) => view! {
                    <p data-testid="last-verified">
                        <LocalTime at=run.finished_at /> " · " <code>{run.archive.clone()}</code> " · " {run.detail.clone()}
                    </p>
                }.into_any(),
                None => view! { <p class="muted" data-testid="last-verified">"No verified restore recorded: verify a backup to prove recovery works."</p> }.into_any(),
            }}
            <p class="muted">"Schedule: " {schedule} ". Archives go to " <code>{dir}</code> "."</p>
            <div class="actions">
                <ActionForm action=start attr:class="inline">
                    <input type="hidden" name="verify" value="false" />
                    <button type="submit" disabled=busy>"Back up now"</button>
                </ActionForm>
                <ActionForm action=start attr:class="inline">
                    <input type="hidden" name="verify" value="true" />
                    <button type="submit" disabled=busy || latest_archive.is_none()>
                        {match &latest_archive {
                            Some(name) => format!("Verify {name}"),
                            None => "Verify the latest backup".to_owned(),
                        }}
                    </button>
                </ActionForm>
            </div>
            {progress.map(|p| view! { <ProgressBar progress=p /> })}
        </section>
        <section class="panel">
            <h2>"History"</h2>
            <RunTable runs />
        </section>
    }
}

#[component]
fn ObjectiveTile(
    name: &'static str,
    what: &'static str,
    objective: Objective,
    missing: &'static str,
) -> impl IntoView {
    let met = objective.met();
    let measured = objective
        .measured
        .map_or_else(|| missing.to_owned(), human_duration);
    view! {
        <div class="objective" class:met=met class:missed=!met data-objective=name>
            <span class="objective-name">{name}</span>
            <strong>{measured}</strong>
            <span>{what}</span>
            <span>"objective " {human_duration(objective.target)} " · " {if met { "met" } else { "MISSED" }}</span>
        </div>
    }
}

#[component]
fn ProgressBar(progress: Progress) -> impl IntoView {
    let label = format!("{} {}", progress.kind.as_str(), progress.stage);
    let percent = progress.percent();
    view! {
        <div class="progress" role="status" aria-live="polite">
            <span>{label.clone()} {percent.map(|p| format!(" · {p}%"))}</span>
            {match percent {
                Some(p) => view! { <progress max="100" value=p.to_string() aria-label=label></progress> }.into_any(),
                None => view! { <progress aria-label=label></progress> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn RunTable(runs: Vec<BackupRun>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="muted">"Nothing yet."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="runs">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">"Archive"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Took"</th>
                        <th scope="col">"Result"</th>
                    </tr>
                </thead>
                <tbody>
                    {runs.into_iter().map(|run| {
                        let took = human_duration(run.duration());
                        let size = run.bytes.map(megabytes).unwrap_or_default();
                        view! {
                            <tr class:failed=!run.ok data-kind=run.kind.as_str()>
                                <td><LocalTime at=run.finished_at /></td>
                                <td>{run.kind.as_str()}</td>
                                <td>{run.actor.clone()}</td>
                                <td><code>{run.archive.clone()}</code></td>
                                <td>{size}</td>
                                <td>{took}</td>
                                <td>{if run.ok { "ok" } else { "FAILED" }} <small class="muted">" " {run.detail.clone()}</small></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn megabytes(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
