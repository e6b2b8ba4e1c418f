//! The live connection every live page holds to `/events`, and what it knows about itself:
//! whether it is connected, since when it is not, and when anything last arrived. The header
//! shows it on every live page; the wall turns it into a banner a room can see.
use crate::domain::live::Connection;
use crate::domain::observation::LiveUpdate;
use leptos::prelude::*;

/// What a live page hears from `/events`.
#[derive(Clone, Copy)]
pub struct Live {
    /// A count of alert changes, which pages watching alerts refetch on (poll updates go to
    /// the handler given to `use_live`).
    pub alert_changes: RwSignal<u64>,
    pub connection: RwSignal<Connection>,
    /// When the last event of any kind (an update, an alert, a heartbeat) arrived, in
    /// milliseconds since the epoch; the subscription's start before the first.
    pub last_event_ms: RwSignal<f64>,
    /// Bumped whenever the stream opens again after a break: what the page shows may have
    /// missed updates, so it reads it again.
    pub reconnects: RwSignal<u64>,
}

/// The live connection of the page on screen, for the header; `None` on pages that are not
/// live.
#[derive(Clone, Copy)]
pub struct LiveStatus(pub RwSignal<Option<Live>>);

/// The browser's clock, ticking once a second, in milliseconds since the epoch (0 on the
/// server, whose render never depends on the time it is drawn).
#[derive(Clone, Copy)]
pub struct Clock(pub RwSignal<f64>);

/// Provides the header's live status and the clock; called once, by `App`.
pub fn provide_live_context() {
    provide_context(LiveStatus(RwSignal::new(None)));
    let clock = RwSignal::new(0.0);
    provide_context(Clock(clock));
    Effect::new(move |_| {
        clock.set(now_ms());
        if let Ok(every_second) = set_interval_with_handle(
            move || clock.set(now_ms()),
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || every_second.clear());
        }
    });
}

pub fn use_clock() -> RwSignal<f64> {
    use_context::<Clock>().map_or_else(|| RwSignal::new(0.0), |c| c.0)
}

/// Milliseconds since the epoch, by the browser's clock.
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// A time of day by the browser's clock, `HH:MM:SS`.
pub fn clock_time(ms: f64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        format!(
            "{:02}:{:02}:{:02}",
            date.get_hours(),
            date.get_minutes(),
            date.get_seconds()
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ms;
        String::new()
    }
}

/// Subscribes to the server's live updates for as long as the page is open. Each poll update
/// goes to `on_poll`; without one, only alert changes are sent.
pub fn use_live(on_poll: Option<Callback<LiveUpdate>>) -> Live {
    let live = Live {
        alert_changes: RwSignal::new(0),
        connection: RwSignal::new(Connection::Connecting),
        last_event_ms: RwSignal::new(0.0),
        reconnects: RwSignal::new(0),
    };
    if let Some(LiveStatus(status)) = use_context::<LiveStatus>() {
        status.set(Some(live));
        on_cleanup(move || status.set(None));
    }
    // Effects run only in the browser; the server renders the stored state.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        browser::subscribe(live, on_poll);
        #[cfg(not(feature = "hydrate"))]
        let _ = on_poll;
    });
    live
}

/// The header's word on the connection: live, reconnecting since, offline since, and for a
/// minute after a break, when it came back.
#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let status = use_context::<LiveStatus>().map(|s| s.0);
    let clock = use_clock();
    move || {
        let live = status.and_then(|s| s.get())?;
        let connection = live.connection.get();
        let now = clock.get();
        let (class, text) = match connection {
            Connection::Connecting => ("connecting", "connecting…".to_owned()),
            Connection::Live { back_at: Some(at) } if now - at < RECOVERED_NOTE_MS => {
                ("live", format!("live · back since {}", clock_time(at)))
            }
            Connection::Live { .. } => ("live", "live".to_owned()),
            Connection::Reconnecting { since } => (
                "reconnecting",
                format!("reconnecting since {}", clock_time(since)),
            ),
            Connection::Offline { since } => {
                ("offline", format!("offline since {}", clock_time(since)))
            }
        };
        Some(view! {
            <span class=format!("connection {class}") role="status" data-connection=class>
                {text}
            </span>
        })
    }
}

/// How long the header says a page came back after a break.
const RECOVERED_NOTE_MS: f64 = 60_000.0;

#[cfg(feature = "hydrate")]
mod browser {
    use super::{AlertWindow, Live, now_ms};
    use crate::domain::live::Connection;
    use crate::domain::observation::LiveUpdate;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    /// A stream the browser gave up on (an error answer, say) is opened again after this.
    const REOPEN_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

    /// The page's current `EventSource`, replaced when the browser gives one up; `None` once
    /// the page has gone.
    type Current = Rc<RefCell<Option<web_sys::EventSource>>>;

    pub(super) fn subscribe(live: Live, on_poll: Option<Callback<LiveUpdate>>) {
        live.last_event_ms.set(now_ms());
        let current: Current = Rc::new(RefCell::new(None));
        open(live, on_poll, current.clone(), false);
        let current = send_wrapper::SendWrapper::new(current);
        on_cleanup(move || {
            if let Some(source) = current.borrow_mut().take() {
                source.close();
            }
        });
    }

    fn open(
        live: Live,
        on_poll: Option<Callback<LiveUpdate>>,
        current: Current,
        after_break: bool,
    ) {
        let url = if on_poll.is_some() {
            "/events"
        } else {
            "/events?targets="
        };
        let Ok(source) = web_sys::EventSource::new(url) else {
            live.connection.set(Connection::Offline { since: now_ms() });
            return;
        };
        let heard = move || live.last_event_ms.set(now_ms());
        let broken = Rc::new(RefCell::new(after_break));
        let on_open = {
            let broken = broken.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                heard();
                let back = std::mem::take(&mut *broken.borrow_mut());
                live.connection.set(Connection::Live {
                    back_at: back.then(now_ms),
                });
                if back {
                    live.reconnects.update(|n| *n += 1);
                    live.alert_changes.update(|n| *n += 1);
                }
            })
        };
        let on_error = {
            let current = current.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                *broken.borrow_mut() = true;
                let since = match live.connection.get_untracked() {
                    Connection::Reconnecting { since } | Connection::Offline { since } => since,
                    _ => now_ms(),
                };
                let Some(source) = current.borrow().clone() else {
                    return;
                };
                if source.ready_state() == web_sys::EventSource::CLOSED {
                    // The browser will not retry (the server answered with an error): a new
                    // stream later, as long as the page is still open.
                    live.connection.set(Connection::Offline { since });
                    let current = current.clone();
                    set_timeout(
                        move || {
                            if current.borrow().is_some() {
                                open(live, on_poll, current, true);
                            }
                        },
                        REOPEN_AFTER,
                    );
                } else {
                    live.connection.set(Connection::Reconnecting { since });
                }
            })
        };
        let on_update = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                heard();
                let (Some(text), Some(on_poll)) = (event.data().as_string(), on_poll) else {
                    return;
                };
                if let Ok(updates) = serde_json::from_str::<Vec<LiveUpdate>>(&text) {
                    for update in updates {
                        on_poll.run(update);
                    }
                }
            },
        );
        let window = Rc::new(RefCell::new(AlertWindow::default()));
        let on_alert = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
            heard();
            if window.borrow_mut().arrive() {
                live.alert_changes.update(|n| *n += 1);
                close_alert_window_later(window.clone(), live);
            }
        });
        let on_heartbeat = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| heard());
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let _ =
            source.add_event_listener_with_callback("updates", on_update.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("alert", on_alert.as_ref().unchecked_ref());
        let _ = source
            .add_event_listener_with_callback("heartbeat", on_heartbeat.as_ref().unchecked_ref());
        // The listeners live as long as the EventSource, which is closed when the page goes.
        on_open.forget();
        on_error.forget();
        on_update.forget();
        on_alert.forget();
        on_heartbeat.forget();
        if let Some(old) = current.borrow_mut().replace(source) {
            old.close();
        }
    }

    fn close_alert_window_later(window: Rc<RefCell<AlertWindow>>, live: Live) {
        set_timeout(
            move || {
                if window.borrow_mut().close() {
                    live.alert_changes.update(|n| *n += 1);
                    close_alert_window_later(window, live);
                }
            },
            std::time::Duration::from_secs(1),
        );
    }
}

/// Folds alert changes into at most one refetch a second. A flapping fleet changes its
/// alerts tens of times a second, and every open page refetching on each would be most of
/// the server's work. The first change still shows at once; the rest at the second's end.
#[cfg(any(feature = "hydrate", test))]
#[derive(Default)]
struct AlertWindow {
    open: bool,
    missed: bool,
}

#[cfg(any(feature = "hydrate", test))]
impl AlertWindow {
    /// A change arrived: whether to refetch now; otherwise it waits for the window's end.
    fn arrive(&mut self) -> bool {
        if self.open {
            self.missed = true;
            false
        } else {
            self.open = true;
            true
        }
    }

    /// The window ended: whether changes waited in it, which are then refetched, in a new
    /// window.
    fn close(&mut self) -> bool {
        self.open = std::mem::take(&mut self.missed);
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::AlertWindow;

    #[test]
    fn a_burst_of_alert_changes_is_refetched_at_once_and_once_more_at_the_windows_end() {
        let mut window = AlertWindow::default();
        assert!(window.arrive(), "the first change shows at once");
        assert!(!window.arrive());
        assert!(!window.arrive());
        assert!(
            window.close(),
            "the changes that waited show at the window's end"
        );
        assert!(!window.close(), "a quiet window closes for good");
        assert!(window.arrive(), "the next change shows at once again");
    }
}
