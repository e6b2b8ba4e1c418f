//! Administration of who gets in: accounts, and kiosk and API tokens.
use crate::api::tokens::{CreateToken, RevokeToken, list_tokens};
use crate::api::users::{AddUser, ResetPassword, SignOutUser, UpdateUser, list_users};
use crate::app::components::{ErrorNote, Field, LocalTime, field_error, form_error};
use crate::domain::auth::{Role, TokenKind, TokenRecord, TokenScope, UserAccount};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn RoleSelect(name: &'static str, selected: Role, label: String) -> impl IntoView {
    view! {
        <select name=name aria-label=label>
            {Role::ALL.iter().map(|role| view! {
                <option value=role.as_str() selected=*role == selected>{role.as_str()}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let sign_out = ServerAction::<SignOutUser>::new();
    let users = Resource::new(
        move || {
            (
                add.version().get(),
                update.version().get(),
                reset.version().get(),
            )
        },
        |_| list_users(),
    );
    let added: Signal<_> = add.value().into();
    view! {
        <Title text="Users" />
        <h1>"Users"</h1>
        <section class="panel">
            <h2>"Add a user"</h2>
            <ActionForm action=add attr:class="target-form" attr:aria-label="Add a user">
                <Field label="Username" name="username" placeholder="ann" error=field_error(added, "username") />
                <div class="field">
                    <label for="new-user-role">"Role"</label>
                    <select id="new-user-role" name="role">
                        {Role::ALL.iter().map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="primary" disabled=move || add.pending().get()>"Add user"</button>
            </ActionForm>
            <ErrorNote error=form_error(added) />
            <OneTimePassword result=added />
        </section>
        <ErrorNote error=form_error(update.value().into()) />
        <ErrorNote error=form_error(reset.value().into()) />
        <ErrorNote error=form_error(sign_out.value().into()) />
        {move || matches!(sign_out.value().get(), Some(Ok(()))).then(|| view! {
            <p class="ok-note" role="status">"Signed out everywhere: their open pages close within a second."</p>
        })}
        <OneTimePassword result=reset.value().into() />
        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UserTable users=list update reset sign_out /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Shows a generated password once, for the admin to hand over.
#[component]
fn OneTimePassword(
    result: Signal<
        Option<Result<crate::api::users::TemporaryPassword, crate::api::error::AppError>>,
    >,
) -> impl IntoView {
    move || match result.get() {
        Some(Ok(temp)) => Some(view! {
            <p class="ok-note" role="status">
                "Temporary password for " <strong>{temp.username}</strong> ": "
                <code class="secret">{temp.password}</code>
                " — shown once; it must be changed at first sign-in."
            </p>
        }),
        _ => None,
    }
}

#[component]
fn UserTable(
    users: Vec<UserAccount>,
    update: ServerAction<UpdateUser>,
    reset: ServerAction<ResetPassword>,
    sign_out: ServerAction<SignOutUser>,
) -> impl IntoView {
    view! {
        <table class="users">
            <caption>{crate::domain::counted(users.len() as u64, "user")}</caption>
            <thead>
                <tr>
                    <th scope="col">"Username"</th>
                    <th scope="col">"Role and access"</th>
                    <th scope="col">"Password"</th>
                </tr>
            </thead>
            <tbody>
                {users.into_iter().map(|user| {
                    let id = user.id.to_string();
                    let id_for_reset = id.clone();
                    let id_for_sign_out = id.clone();
                    let sign_out_label = format!("Sign {} out everywhere", user.username);
                    let role_label = format!("Role of {}", user.username);
                    let reset_label = format!("Force a password reset for {}", user.username);
                    let status = if user.disabled {
                        "disabled"
                    } else if user.must_reset {
                        "must change password"
                    } else {
                        "active"
                    };
                    view! {
                        <tr data-user=user.username.clone()>
                            <th scope="row">{user.username.clone()}<br /><small class="muted">{status}</small></th>
                            <td>
                                <ActionForm action=update attr:class="inline">
                                    <input type="hidden" name="id" value=id />
                                    <RoleSelect name="role" selected=user.role label=role_label />
                                    <label class="check">
                                        <input type="checkbox" name="disabled" value="true" checked=user.disabled />
                                        " disabled"
                                    </label>
                                    <button type="submit">"Save"</button>
                                </ActionForm>
                            </td>
                            <td>
                                <ActionForm action=reset attr:class="inline">
                                    <input type="hidden" name="id" value=id_for_reset />
                                    <button type="submit" class="danger" aria-label=reset_label>"Force reset"</button>
                                </ActionForm>
                                <ActionForm action=sign_out attr:class="inline">
                                    <input type="hidden" name="id" value=id_for_sign_out />
                                    <button type="submit" aria-label=sign_out_label>"Sign out everywhere"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn AdminTokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let created: Signal<_> = create.value().into();
    view! {
        <Title text="Tokens" />
        <h1>"Tokens"</h1>
        <section class="panel">
            <h2>"Create a token"</h2>
            <p class="muted">"A kiosk token opens the wall read-only, for a screen nobody signs in at. An API token lets scripts call the REST API with the role you pick, narrowed to the scopes you tick; it stops working if you are disabled, and never does more than your own role."</p>
            <ActionForm action=create attr:class="target-form" attr:aria-label="Create a token">
                <div class="field">
                    <label for="token-kind">"Kind"</label>
                    <select id="token-kind" name="kind">
                        <option value="kiosk">"kiosk (wall only)"</option>
                        <option value="api">"api"</option>
                    </select>
                </div>
                <Field label="Name" name="name" placeholder="lobby screen" error=field_error(created, "name") />
                <div class="field">
                    <label for="token-role">"Role (API tokens)"</label>
                    <select id="token-role" name="role">
                        {Role::ALL.iter().map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <fieldset class="field scopes" class:invalid=move || field_error(created, "scopes").get().is_some()>
                    <legend>"Scopes (API tokens)"</legend>
                    {TokenScope::ALL.iter().enumerate().map(|(i, scope)| view! {
                        <label class="checkbox">
                            <input type="checkbox" name=format!("scopes[{i}]") value=scope.as_str() checked=*scope == TokenScope::Read />
                            " " {scope.as_str()}
                        </label>
                    }).collect_view()}
                    <small class="field-error" role="alert">{move || field_error(created, "scopes").get()}</small>
                </fieldset>
                <Field label="Expires after (days)" name="expires_days" placeholder="never" hint="API tokens; blank for no expiry" error=field_error(created, "expires_days") />
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
            <ErrorNote error=form_error(created) />
            {move || match created.get() {
                Some(Ok(issued)) => {
                    let link = (issued.token.kind == TokenKind::Kiosk)
                        .then(|| format!("/wall?kiosk={}", issued.secret));
                    Some(view! {
                        <div class="ok-note" role="status">
                            <p>"Token " <strong>{issued.token.name.clone()}</strong> " created. Copy it now; it is not shown again:"</p>
                            <p><code class="secret" data-secret="token">{issued.secret.clone()}</code></p>
                            {link.map(|href| view! {
                                <p>"Kiosk link: " <a class="secret" data-secret="kiosk-link" href=href.clone()>{href.clone()}</a></p>
                            })}
                        </div>
                    })
                }
                _ => None,
            }}
        </section>
        <ErrorNote error=form_error(revoke.value().into()) />
        <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(list) => view! { <TokenTable tokens=list revoke /> }.into_any(),
                    Err(err) => view! { <p class="error-note" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenRecord>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="panel empty-state">"No tokens yet."</p> }.into_any();
    }
    view! {
        <table class="tokens">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Scopes"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"State"</th>
                </tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|token| {
                    let id = token.id.to_string();
                    let label = format!("Revoke {}", token.name);
                    view! {
                        <tr data-token=token.name.clone()>
                            <th scope="row">{token.name.clone()}</th>
                            <td>{token.kind.as_str()}</td>
                            <td>{token.role.as_str()}</td>
                            <td>{if token.kind == TokenKind::Kiosk { "wall".to_owned() } else { TokenScope::join(&token.scopes) }}</td>
                            <td><LocalTime at=token.created_at /> " by " {token.created_by.clone()}</td>
                            <td>{match token.expires_at {
                                Some(at) => view! { <LocalTime at /> }.into_any(),
                                None => view! { <span class="muted">"never"</span> }.into_any(),
                            }}</td>
                            <td>{match token.last_used_at {
                                Some(at) => view! { <LocalTime at /> }.into_any(),
                                None => view! { <span class="muted">"never"</span> }.into_any(),
                            }}</td>
                            <td>{match token.revoked_at {
                                Some(at) => view! { <span class="status status-down">"revoked"</span> " " <LocalTime at /> }.into_any(),
                                None => view! {
                                    <ActionForm action=revoke attr:class="inline">
                                        <input type="hidden" name="id" value=id />
                                        <button type="submit" class="danger" aria-label=label>"Revoke"</button>
                                    </ActionForm>
                                }.into_any(),
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
