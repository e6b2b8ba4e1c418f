//! Signing in, and changing one's own password.
use crate::api::auth::{ChangePassword, Login, SignOutEverywhere};
use crate::app::components::{ErrorNote, field_error, form_error};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let result: Signal<_> = login.value().into();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".into()));
    view! {
        <Title text="Sign in" />
        <section class="panel narrow">
            <h1>"Sign in"</h1>
            <ActionForm action=login attr:aria-label="Sign in">
                <input type="hidden" name="next" value=next />
                <div class="field">
                    <label for="login-username">"Username"</label>
                    <input id="login-username" name="username" autocomplete="username" required maxlength="256" />
                    <small class="field-error" role="alert">{move || field_error(result, "username").get()}</small>
                </div>
                <div class="field">
                    <label for="login-password">"Password"</label>
                    <input id="login-password" name="password" type="password" autocomplete="current-password" required maxlength="256" />
                    <small class="field-error" role="alert">{move || field_error(result, "password").get()}</small>
                </div>
                <button type="submit" class="primary" disabled=move || login.pending().get()>"Sign in"</button>
            </ActionForm>
            <ErrorNote error=form_error(result) />
        </section>
    }
}

#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let result: Signal<_> = change.value().into();
    view! {
        <Title text="Change password" />
        <section class="panel narrow">
            <h1>"Change your password"</h1>
            <p class="muted">"At least 12 characters. A password an administrator gave you must be changed before you go on."</p>
            <ActionForm action=change attr:aria-label="Change password">
                <PasswordField label="Current password" name="current" autocomplete="current-password" error=field_error(result, "current") />
                <PasswordField label="New password" name="new_password" autocomplete="new-password" error=field_error(result, "new_password") />
                <PasswordField label="New password again" name="confirm" autocomplete="new-password" error=field_error(result, "confirm") />
                <button type="submit" class="primary" disabled=move || change.pending().get()>"Change password"</button>
            </ActionForm>
            <ErrorNote error=form_error(result) />
            {move || matches!(result.get(), Some(Ok(()))).then(|| view! {
                <p class="ok-note" role="status">"Password changed. Your other sessions have ended."</p>
            })}
        </section>
        <SignOutElsewhere />
    }
}

/// Ends the person's sessions in every other browser, as after a lost laptop.
#[component]
fn SignOutElsewhere() -> impl IntoView {
    let sign_out = ServerAction::<SignOutEverywhere>::new();
    let result: Signal<_> = sign_out.value().into();
    view! {
        <section class="panel narrow">
            <h2>"Other sessions"</h2>
            <p class="muted">"Signed in on another computer you no longer have? End every session but this one."</p>
            <ActionForm action=sign_out attr:aria-label="Sign out everywhere else">
                <button type="submit" disabled=move || sign_out.pending().get()>"Sign out everywhere else"</button>
            </ActionForm>
            <ErrorNote error=form_error(result) />
            {move || matches!(result.get(), Some(Ok(()))).then(|| view! {
                <p class="ok-note" role="status">"Every other session has ended."</p>
            })}
        </section>
    }
}

#[component]
fn PasswordField(
    label: &'static str,
    name: &'static str,
    autocomplete: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input id=id name=name type="password" autocomplete=autocomplete required maxlength="256"
                aria-describedby=error_id.clone()
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" } />
            <small class="field-error" id=error_id role="alert">{move || error.get()}</small>
        </div>
    }
}
