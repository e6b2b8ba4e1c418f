//! The wall screen: the fleet's golden signals, then every target as a tile coloured by
//! state, grouped by a tag, updated live from `/events`. `?group=KEY` picks the tag key,
//! `?rotate=N` shows one group at a time for N seconds each.
use crate::api::alerts::{WallAlertSummary, wall_alerts};
use crate::api::fleet::{Density, FleetTile, FleetView, fleet_overview};
use crate::app::live::{clock_time, use_clock, use_live};
use crate::domain::alerts::{AlertState, Severity};
use crate::domain::live::{
    Freshness, freshness, rotation_index, rotation_left_secs, rotation_secs,
};
use crate::domain::observation::{LiveUpdate, TargetState, TrendPoint};
use crate::domain::series::sparkline;
use leptos::prelude::*;
use leptos_meta::Title;

/// Targets per state, indexed by `TargetState as usize` (worst first).
type Tally = [usize; 6];

const STATES: [TargetState; 6] = [
    TargetState::Down,
    TargetState::Stale,
    TargetState::NotReady,
    TargetState::Degraded,
    TargetState::Up,
    TargetState::Unknown,
];

/// The wall's live state: one signal per tile, so an update re-renders one tile, and running
/// tallies for the fleet and each group, so counts never rescan the fleet.
#[derive(Clone, Default)]
struct WallState {
    tiles: std::collections::HashMap<i64, TileLive>,
    fleet: RwSignal<Tally>,
    groups: Vec<RwSignal<Tally>>,
    /// Cells are plain HTML, repainted in place (see `cells_html`).
    cells: bool,
}

/// One tile's live parts.
#[derive(Clone, Copy)]
struct TileLive {
    state: RwSignal<TargetState>,
    /// Roomy tiles only.
    figures: Option<TileFigures>,
    group: usize,
}

/// The latest poll's figures and the sparklines' points.
#[derive(Clone, Copy)]
struct TileFigures {
    status: RwSignal<Option<LiveUpdate>>,
    trend: RwSignal<Vec<TrendPoint>>,
}

impl WallState {
    fn apply(&self, update: LiveUpdate) {
        let Some(tile) = self.tiles.get(&update.target_id) else {
            return;
        };
        let before = tile.state.get_untracked();
        let after = update.state;
        if let Some(TileFigures { status, trend }) = tile.figures {
            trend.update(|points| {
                if points.len() >= TrendPoint::KEPT {
                    points.remove(0);
                }
                points.push(TrendPoint::from(&update));
            });
            status.set(Some(update.clone()));
        }
        if before == after {
            return;
        }
        tile.state.set(after);
        if self.cells {
            repaint_cell(update.target_id, after);
        }
        let shift = |tally: &mut Tally| {
            tally[before as usize] = tally[before as usize].saturating_sub(1);
            tally[after as usize] += 1;
        };
        self.fleet.update(shift);
        if let Some(group) = self.groups.get(tile.group) {
            group.update(shift);
        }
    }
}

fn state_class(state: TargetState) -> String {
    format!("tile status-{}", state.css_name())
}

/// A large fleet's cells as one HTML string. Thousands of reactive cells would cost the
/// server tens of milliseconds per view and the browser as much to hydrate; these are
/// written once and repainted by id when their state changes. Target names are letters,
/// digits, `-`, `_` and `.` (`TargetName`), so they need no escaping.
fn cells_html(tiles: &[FleetTile]) -> String {
    use std::fmt::Write;
    let mut html = String::with_capacity(tiles.len() * 160);
    for tile in tiles {
        // Straight into the page: a string or two per cell adds up at 10,000 cells. Names
        // are checked on the way in, but a restored or shared database skips that check.
        let state = tile.state.as_str();
        let name = escape_attribute(&tile.name);
        let _ = write!(
            html,
            r#"<li id="tile-{id}" class="tile status-{class}" data-target="{name}" data-state="{state}"><a href="/targets/{id}" title="{name}: {label}"></a></li>"#,
            id = tile.id,
            class = tile.state.css_name(),
            label = tile.state.label(),
        );
    }
    html
}

/// Text safe inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(feature = "hydrate")]
fn repaint_cell(target_id: i64, state: TargetState) {
    let Some(cell) = document().get_element_by_id(&format!("tile-{target_id}")) else {
        return;
    };
    cell.set_class_name(&state_class(state));
    let _ = cell.set_attribute("data-state", state.as_str());
    if let (Some(link), Some(name)) = (
        cell.first_element_child(),
        cell.get_attribute("data-target"),
    ) {
        let _ = link.set_attribute("title", &format!("{name}: {}", state.label()));
    }
}

#[cfg(not(feature = "hydrate"))]
fn repaint_cell(_target_id: i64, _state: TargetState) {}

#[component]
pub fn WallPage() -> impl IntoView {
    // `?group=KEY` groups by that tag key, `?group=none` not at all; the server picks one
    // for a large fleet otherwise.
    let (group, rotate) = leptos_router::hooks::use_query_map().with_untracked(|q| {
        (
            q.get("group"),
            q.get("rotate").map(|raw| rotation_secs(&raw)),
        )
    });
    let rotation = rotate.clone().and_then(Result::ok);
    // A rotating wall is grouped even when the fleet is small enough not to need it.
    let group = group.or_else(|| rotation.map(|_| "auto".to_owned()));
    let wall = StoredValue::new(WallState::default());
    let live = use_live(Some(Callback::new(move |update| {
        wall.with_value(|wall| wall.apply(update));
    })));
    // Read again after a break in the stream: updates sent meanwhile were missed.
    let tiles = Resource::new(
        move || (group.clone(), live.reconnects.get()),
        |(group, _)| fleet_overview(group),
    );
    let alerts = Resource::new(move || live.alert_changes.get(), |_| wall_alerts());
    let shortest_interval = RwSignal::new(crate::domain::target::DEFAULT_INTERVAL_SECS);
    let clock = use_clock();
    let freshness = Memo::new(move |_| {
        freshness(
            live.connection.get(),
            live.last_event_ms.get(),
            clock.get(),
            shortest_interval.get(),
        )
    });
    let quiet = move || matches!(freshness.get(), Freshness::Quiet { .. });
    let alarm = Alarm::new();
    Effect::new(move |_| {
        if let Some(Ok(summary)) = alerts.get() {
            alarm.heard(&summary);
        }
    });
    let refused = rotate.and_then(Result::err);
    view! {
        <Title text="Wall" />
        <StaleBanner freshness last_event=live.last_event_ms />
        {refused.map(|why| view! { <p class="error-note" role="alert">{why}</p> })}
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                alerts.await.ok().map(|summary| view! { <WallAlerts summary alarm /> })
            })}
        </Transition>
        <crate::app::pages::oncall::OnCallStrip />
        <FleetCharts />
        <section class="wall" class:stale-view=quiet aria-label="Fleet status">
            <Transition fallback=|| view! { <p class="muted">"Loading fleet…"</p> }>
                {move || Suspend::new(async move {
                    // By reference: a 10,000-target fleet is not copied for every view.
                    let overview = tiles.by_ref().await;
                    match &*overview {
                        Ok(overview) if overview.is_empty() => view! {
                            <p class="panel empty-state">"No targets yet. Add them on the Fleet page."</p>
                        }.into_any(),
                        Ok(overview) => {
                            shortest_interval.set(overview.shortest_interval_secs);
                            wall_grid(overview, wall, rotation, alarm).into_any()
                        }
                        Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn wall_grid(
    overview: &FleetView,
    wall: StoredValue<WallState>,
    rotation: Option<u32>,
    alarm: Alarm,
) -> impl IntoView + use<> {
    let FleetView {
        density,
        grouped,
        groups,
        ..
    } = overview;
    let (density, grouped) = (*density, *grouped);
    let mut state = WallState {
        cells: density.is_cell(),
        ..WallState::default()
    };
    // Cells change only in the browser; the server writes them once, as text, and keeps
    // no live state for them (at 5,000 cells that was a quarter of the render's CPU).
    let tracks_tiles = !density.is_cell() || cfg!(feature = "hydrate");
    let mut fleet = Tally::default();
    let mut sections = Vec::with_capacity(groups.len());
    for (index, group) in groups.iter().enumerate() {
        let mut tally = Tally::default();
        for tile in &group.tiles {
            tally[tile.state as usize] += 1;
            if !tracks_tiles {
                continue;
            }
            let live = TileLive {
                state: RwSignal::new(tile.state),
                figures: (density == Density::Roomy).then(|| TileFigures {
                    status: RwSignal::new(tile.status.clone()),
                    trend: RwSignal::new(tile.trend.clone()),
                }),
                group: index,
            };
            state.tiles.insert(tile.id, live);
        }
        for (all, mine) in fleet.iter_mut().zip(tally) {
            *all += mine;
        }
        let tally = RwSignal::new(tally);
        state.groups.push(tally);
        let list = if density.is_cell() {
            view! { <ul class=format!("tiles {}", density.class()) inner_html=cells_html(&group.tiles)></ul> }
                .into_any()
        } else {
            let tiles = group
                .tiles
                .iter()
                .filter_map(|tile| {
                    let live = *state.tiles.get(&tile.id)?;
                    Some(view! { <Tile tile=tile.clone() live /> })
                })
                .collect_view();
            view! { <ul class=format!("tiles {}", density.class())>{tiles}</ul> }.into_any()
        };
        sections.push((group.name.clone(), tally, list));
    }
    state.fleet.set(fleet);
    let fleet = state.fleet;
    wall.set_value(state);
    let clock = use_clock();
    let group_count = sections.len();
    let rotation = rotation.filter(|_| group_count > 1);
    let shown = move || rotation.map(|secs| rotation_index(clock.get(), secs, group_count));
    let sections = sections
        .into_iter()
        .enumerate()
        .map(|(index, (name, tally, list))| {
            let heading = grouped.then(|| {
                view! {
                    <h2 class="tile-group-name" class=("has-down", move || tally.get()[0] > 0)>
                        {name.clone()}
                        <GroupTally tally />
                    </h2>
                }
            });
            view! {
                <section
                    class="tile-group"
                    class:rotated-out=move || shown().is_some_and(|shown| shown != index)
                    aria-label=grouped.then(|| format!("Group {name}"))
                >
                    {heading}
                    {list}
                </section>
            }
        })
        .collect_view();
    let summary = STATES
        .into_iter()
        .map(|state| {
            view! {
                <span class=format!("count status-{}", state.css_name())>
                    <span class="big-number">{move || fleet.get()[state as usize]}</span>
                    " " {state.label()}
                </span>
            }
        })
        .collect_view();
    let rotating = rotation.map(|secs| {
        move || {
            format!(
                "group {} of {group_count} · next in {} s",
                shown().unwrap_or(0) + 1,
                rotation_left_secs(clock.get(), secs)
            )
        }
    });
    view! {
        <div class="wall-summary">
            <span class="wall-counts" aria-live="polite">{summary}</span>
            {rotating.map(|text| view! { <span class="wall-rotation" data-testid="rotation">{text}</span> })}
            <AlarmToggle alarm />
            <span class="wall-clock" aria-label="Time">{move || clock_time(clock.get())}</span>
        </div>
        <div class=format!("tile-groups {}", density.class())>{sections}</div>
    }
}

/// Across the whole width when the wall has heard nothing for too long: its tiles are old
/// news, and a room must not read them as current. It goes once updates arrive again.
#[component]
fn StaleBanner(freshness: Memo<Freshness>, last_event: RwSignal<f64>) -> impl IntoView {
    move || match freshness.get() {
        Freshness::Fresh => None,
        Freshness::Quiet { for_secs } => Some(view! {
            <div class="stale-banner" role="alert">
                <b>{format!("No update for {for_secs} s")}</b>
                {format!(
                    " · last update at {} · the console may be down or unreachable; this page reconnects by itself",
                    clock_time(last_event.get())
                )}
            </div>
        }),
    }
}

/// A group's problems at a glance: how many of its targets are in each state but up.
#[component]
fn GroupTally(tally: RwSignal<Tally>) -> impl IntoView {
    STATES
        .into_iter()
        .map(|state| {
            let count = move || tally.get()[state as usize];
            view! {
                <span
                    class=format!("group-count status-{}", state.css_name())
                    class:zero=move || count() == 0
                >
                    {count} " " {state.label()}
                </span>
            }
        })
        .collect_view()
}

/// A roomy or compact tile; large fleets get plain cells instead (`cells_html`).
#[component]
fn Tile(tile: FleetTile, live: TileLive) -> impl IntoView {
    let state = live.state;
    let href = format!("/targets/{}", tile.id);
    let figures = live.figures.map(|TileFigures { status, trend }| {
        // A server without metrics shows the probe's round trip, named as such.
        let latency = move || status.with(|s| s.as_ref().and_then(LiveUpdate::latency));
        let latency_word = move || latency().map_or("p95", |(word, _)| word);
        let latency_ms = move || latency().map_or("–".to_owned(), |(_, ms)| format!("{ms:.0} ms"));
        let errors = move || {
            status
                .with(|s| s.as_ref().and_then(|s| s.error_ratio))
                .map_or("–".to_owned(), |r| format!("{:.2}%", r * 100.0))
        };
        let p95_line = move || {
            trend.with(|t| sparkline(&t.iter().map(TrendPoint::latency_ms).collect::<Vec<_>>(), 100.0, 24.0))
        };
        let error_line = move || {
            trend.with(|t| sparkline(&t.iter().map(|p| p.error_ratio).collect::<Vec<_>>(), 100.0, 24.0))
        };
        view! {
            <span class="tile-figures">{latency_word} " " <b>{latency_ms}</b></span>
            <Sparkline points=Signal::derive(p95_line) label="p95 latency, last polls (the MCP probe's round trip where the server has no metrics)" />
            <span class="tile-figures">"errors " <b>{errors}</b></span>
            <Sparkline points=Signal::derive(error_line) label="error rate, last polls" />
            <span class="tile-error">{move || status.with(|s| s.as_ref().and_then(|s| s.error.clone()))}</span>
            <span class="tile-tags">{tile.tags.join(" · ")}</span>
        }
    });
    view! {
        <li class=move || state_class(state.get()) data-target=tile.name.clone() data-state=move || state.get().as_str()>
            <a class="tile-name" href=href>{tile.name.clone()}</a>
            <span class="tile-state">{move || state.get().label()}</span>
            {figures}
        </li>
    }
}

/// A tile's recent history as a line, drawn to fit whatever width the tile has.
#[component]
fn Sparkline(points: Signal<String>, label: &'static str) -> impl IntoView {
    view! {
        <svg class="sparkline" viewBox="0 0 100 24" preserveAspectRatio="none" role="img" aria-label=label>
            <polyline points=points fill="none" vector-effect="non-scaling-stroke" />
        </svg>
    }
}

/// The whole fleet's golden signals over the last hour, one point per minute; the images
/// are fetched afresh every minute, when a new minute has been rolled up.
#[component]
fn FleetCharts() -> impl IntoView {
    let minute = RwSignal::new(0_u64);
    Effect::new(move |_| {
        if let Ok(every_minute) = set_interval_with_handle(
            move || minute.update(|m| *m += 1),
            std::time::Duration::from_secs(60),
        ) {
            on_cleanup(move || every_minute.clear());
        }
    });
    view! {
        <section class="fleet-charts charts" aria-label="Fleet golden signals, last hour">
            {crate::app::pages::server::CHARTS
                .into_iter()
                .map(|(chart, alt)| {
                    let src = move || format!("/charts/fleet/{chart}.svg?range=1h&frame=wall&m={}", minute.get());
                    view! { <img class="chart" src=src alt=format!("Fleet: {alt}") width="440" height="190" /> }
                })
                .collect_view()}
        </section>
    }
}

/// The opt-in alarm for a room: a new critical alert flashes the alerts panel and sounds a
/// tone. Off by default; the choice is kept in the browser (`localStorage`), so a wall
/// screen keeps it across reloads.
#[derive(Clone, Copy)]
struct Alarm {
    on: RwSignal<bool>,
    /// Critical firing alerts already heard: the first reading only fills it.
    heard: StoredValue<Option<std::collections::HashSet<i64>>>,
    /// New critical alerts raised since the page opened.
    raised: RwSignal<usize>,
    /// The panel flashes while this is set.
    flashing: RwSignal<bool>,
}

const ALARM_KEY: &str = "mcpops.wall.alarm";
const FLASH_MS: u64 = 4000;

impl Alarm {
    fn new() -> Self {
        let alarm = Self {
            on: RwSignal::new(false),
            heard: StoredValue::new(None),
            raised: RwSignal::new(0),
            flashing: RwSignal::new(false),
        };
        // After hydration, so the server's page and the browser's first render agree.
        Effect::new(move |_| {
            alarm
                .on
                .set(browser::stored(ALARM_KEY) == Some("on".into()))
        });
        alarm
    }

    fn toggle(self) {
        let on = !self.on.get_untracked();
        self.on.set(on);
        browser::store(ALARM_KEY, if on { "on" } else { "off" });
        if on {
            // A click is the gesture browsers ask for before a page may play sound.
            browser::beep();
        }
    }

    fn heard(self, summary: &WallAlertSummary) {
        let critical: std::collections::HashSet<i64> = summary
            .shown
            .iter()
            .filter(|a| a.severity == Severity::Critical && a.state == AlertState::Firing)
            .map(|a| a.id)
            .collect();
        let fresh = self.heard.with_value(|heard| {
            heard
                .as_ref()
                .is_some_and(|heard| critical.iter().any(|id| !heard.contains(id)))
        });
        self.heard.update_value(|heard| {
            heard.get_or_insert_with(Default::default).extend(critical);
        });
        if !fresh {
            return;
        }
        self.raised.update(|n| *n += 1);
        if self.on.get_untracked() {
            self.flashing.set(true);
            browser::beep();
            set_timeout(
                move || self.flashing.set(false),
                std::time::Duration::from_millis(FLASH_MS),
            );
        }
    }
}

#[component]
fn AlarmToggle(alarm: Alarm) -> impl IntoView {
    view! {
        <button
            type="button"
            class="alarm-toggle"
            class:active=move || alarm.on.get()
            aria-pressed=move || alarm.on.get().to_string()
            data-raised=move || alarm.raised.get()
            title="Flash and sound when a new critical alert fires"
            on:click=move |_| alarm.toggle()
        >
            {move || if alarm.on.get() { "Alarm on" } else { "Alarm off" }}
        </button>
    }
}

/// What the alarm needs from the browser; nothing on the server.
mod browser {
    #[cfg(feature = "hydrate")]
    pub fn stored(key: &str) -> Option<String> {
        let storage = leptos::prelude::window().local_storage().ok().flatten()?;
        storage.get_item(key).ok().flatten()
    }

    #[cfg(feature = "hydrate")]
    pub fn store(key: &str, value: &str) {
        if let Some(storage) = leptos::prelude::window().local_storage().ok().flatten() {
            let _ = storage.set_item(key, value);
        }
    }

    /// Two short tones. A browser that refuses sound (no gesture yet) stays silent; the
    /// flash still shows.
    #[cfg(feature = "hydrate")]
    pub fn beep() {
        let Ok(audio) = web_sys::AudioContext::new() else {
            return;
        };
        let now = audio.current_time();
        for (start, hz) in [(0.0, 880.0), (0.25, 660.0)] {
            let (Ok(tone), Ok(gain)) = (audio.create_oscillator(), audio.create_gain()) else {
                return;
            };
            tone.frequency().set_value(hz);
            gain.gain().set_value(0.2);
            let _ = tone.connect_with_audio_node(&gain);
            let _ = gain.connect_with_audio_node(&audio.destination());
            let _ = tone.start_with_when(now + start);
            let _ = tone.stop_with_when(now + start + 0.2);
        }
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn stored(_key: &str) -> Option<String> {
        None
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn store(_key: &str, _value: &str) {}

    #[cfg(not(feature = "hydrate"))]
    pub fn beep() {}
}

/// Firing alerts, big and first; acknowledged ones below them, with who is on it.
#[component]
fn WallAlerts(summary: WallAlertSummary, alarm: Alarm) -> impl IntoView {
    let quiet = summary.shown.is_empty();
    let label = if quiet {
        "No firing alerts".to_owned()
    } else {
        format!(
            "{} firing, {} acknowledged",
            summary.firing, summary.acknowledged
        )
    };
    let unshown = summary.unshown();
    let more = (unshown > 0).then(|| {
        view! {
            <p class="wall-alerts-more">
                <a href="/alerts">{format!("{unshown} more on the Alerts page")}</a>
            </p>
        }
    });
    view! {
        <section class="wall-alerts" class:quiet=quiet class:alarm-flash=move || alarm.flashing.get() aria-label="Alerts" aria-live="polite">
            <h2>{label}</h2>
            <ul>
                {summary.shown.into_iter().map(|alert| {
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
            {more}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::cells_html;
    use crate::api::fleet::FleetTile;
    use crate::domain::observation::TargetState;

    #[test]
    fn a_cell_escapes_a_name_that_slipped_past_the_checks() {
        let tile = FleetTile {
            id: 7,
            name: r#"x"><script>alert(1)</script>"#.into(),
            state: TargetState::Up,
            status: None,
            tags: vec![],
            trend: vec![],
        };
        let html = cells_html(&[tile]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains(r#"data-target="x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#),
            "{html}"
        );
    }
}
