//! Small building blocks shared by pages.
use crate::api::error::AppError;
use crate::domain::auth::Permission;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Whether the signed-in person holds `permission` (false before sign-in): for hiding what
/// the server would refuse anyway.
pub fn use_permission(permission: Permission) -> Resource<bool> {
    Resource::new(
        || (),
        move |_| async move {
            crate::api::auth::current_viewer()
                .await
                .ok()
                .flatten()
                .is_some_and(|v| v.allows(permission))
        },
    )
}

/// A labelled form input with its validation message underneath.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(optional)] value: String,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: &'static str,
    /// Prefixes the element ids, for a page with two forms that share field names.
    #[prop(optional)]
    id_prefix: &'static str,
    /// The input's `type`: `datetime-local` and `time` bring the browser's own pickers.
    #[prop(default = "text")]
    input_type: &'static str,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("{id_prefix}field-{name}");
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                type=input_type
                name=name
                value=value
                placeholder=placeholder
                aria-describedby=error_id.clone()
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
            />
            <small class="hint">{hint}</small>
            <small class="field-error" id=error_id role="alert">{move || error.get()}</small>
        </div>
    }
}

/// A message for an error that is not about one field.
#[component]
pub fn ErrorNote(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|err| view! { <p class="error-note" role="alert">{err.to_string()}</p> })
    }
}

/// The field message of `field` in the latest result of a form action, if any.
pub fn field_error<T: Send + Sync + 'static>(
    result: Signal<Option<Result<T, AppError>>>,
    field: &'static str,
) -> Signal<Option<String>> {
    Signal::derive(move || {
        result.with(|r| match r {
            Some(Err(err)) => err
                .field_errors()
                .and_then(|f| f.get(field))
                .map(str::to_owned),
            _ => None,
        })
    })
}

/// Counts the successes of `action` into `changed`, so a page reloads its data after a
/// change but not after a refusal (which would wipe what the person typed).
pub fn count_successes<S>(action: ServerAction<S>, changed: RwSignal<u64>)
where
    S: ServerFn<Error = AppError> + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
{
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            changed.update(|c| *c += 1);
        }
    });
}

/// Empties `form` after each success of `action`, so the next entry starts blank; a refused
/// entry keeps what was typed.
pub fn reset_after_success<S>(action: ServerAction<S>, form: NodeRef<leptos::html::Form>)
where
    S: ServerFn<Error = AppError> + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
{
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_))))
            && let Some(form) = form.get_untracked()
        {
            form.reset();
        }
    });
}

/// The latest error of a form action unless it belongs to a field.
pub fn form_error<T: Send + Sync + 'static>(
    result: Signal<Option<Result<T, AppError>>>,
) -> Signal<Option<AppError>> {
    Signal::derive(move || {
        result.with(|r| match r {
            Some(Err(err)) if err.field_errors().is_none() => Some(err.clone()),
            _ => None,
        })
    })
}

/// A moment in the viewer's own time zone, with UTC on hover. The server renders UTC; the
/// browser switches to local time once hydrated.
#[component]
pub fn LocalTime(at: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let utc = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let text = RwSignal::new(utc.clone());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let millis = at.timestamp_millis() as f64;
        let local = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis));
        let options = js_sys::Object::new();
        text.set(String::from(local.to_locale_string("sv-SE", &options)));
    });
    view! { <time datetime=at.to_rfc3339() title=utc>{move || text.get()}</time> }
}
