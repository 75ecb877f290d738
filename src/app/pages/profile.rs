//! Change first name, last name or password (with the current one); see
//! and end the sessions signed in on other devices.

use crate::app::components::{form_errors, AppBar, FormError, Loading, Notice, SubmitButton};
use crate::error::AppError;
use crate::limits::{NAME_CHARS, PASSWORD_MAX_CHARS, SIGN_IN_PASSWORD_BYTES};
use crate::model::{format_utc, Me, SignedInDevice};
use crate::server_fns::{get_me, list_sessions, EndSession, SignOutEverywhere, UpdateProfile};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let query = use_query_map();
    let saved = Memo::new(move |_| query.read().get("saved").is_some());
    let me = Resource::new(move || saved.get(), |_| get_me());
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Profile me saved=saved.get_untracked()/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => view! { <p class="m-6 text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Profile(me: Me, saved: bool) -> impl IntoView {
    let action = ServerAction::<UpdateProfile>::new();
    let (field, general) = form_errors(action.value().into());
    let input_class = "block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40";
    let field_view = move |label: &'static str,
                           name: &'static str,
                           key: &'static str,
                           value: String,
                           kind: &'static str,
                           autocomplete: &'static str,
                           maxlength: usize| {
        let error = field(key);
        view! {
            <div class="space-y-1">
                <label for=name class="block text-sm font-medium text-slate-700">{label}</label>
                <input id=name name=name type=kind value=value autocomplete=autocomplete maxlength=maxlength class=input_class
                    aria-describedby=format!("{name}-error")
                    aria-invalid=move || if error.get().is_some() { "true" } else { "false" }/>
                <p id=format!("{name}-error") class="min-h-[1.25rem] text-sm text-red-600" role="alert">{move || error.get()}</p>
            </div>
        }
    };
    view! {
        <AppBar me=me.clone() current="/profile"/>
        <main class="mx-auto max-w-3xl space-y-4 px-4 py-6">
            {saved.then(|| view! { <Notice>"Profile updated."</Notice> })}
            <section aria-labelledby="profile-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
                <h1 id="profile-heading" class="text-lg font-semibold">"Profile"</h1>
                <p class="mt-1 text-sm text-slate-500">{format!("Signed in as {}", me.username)}</p>
                <ActionForm action attr:class="mt-4 space-y-2">
                    {field_view("First name", "first_name", "firstName", me.first_name.clone(), "text", "given-name", NAME_CHARS)}
                    {field_view("Last name", "last_name", "lastName", me.last_name.clone(), "text", "family-name", NAME_CHARS)}
                    {field_view("New password (leave blank to keep yours)", "password", "password", String::new(), "password", "new-password", PASSWORD_MAX_CHARS)}
                    {field_view("Current password (needed for a new one)", "current_password", "currentPassword", String::new(), "password", "current-password", SIGN_IN_PASSWORD_BYTES)}
                    <FormError error=general/>
                    <SubmitButton label="Save changes" pending_label="Saving…" pending=action.pending()/>
                </ActionForm>
            </section>
            <Devices/>
        </main>
    }
}

/// The sessions signed in to this account, each with a way to end it.
#[component]
fn Devices() -> impl IntoView {
    let end = ServerAction::<EndSession>::new();
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let devices = Resource::new(move || end.version().get(), |_| list_sessions());
    view! {
        <section aria-labelledby="devices-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
            <h2 id="devices-heading" class="text-lg font-semibold">"Signed-in devices"</h2>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match devices.await {
                        Ok(list) => view! {
                            <ul class="mt-3 divide-y divide-slate-100" data-testid="devices">
                                {list.into_iter().map(|device| view! { <DeviceRow device end/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-3 text-sm text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ActionForm action=everywhere attr:class="mt-4">
                <button type="submit" class="rounded-lg border border-red-300 px-3 py-2 text-sm font-semibold text-red-700 hover:bg-red-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500">
                    "Sign out everywhere"
                </button>
            </ActionForm>
        </section>
    }
}

#[component]
fn DeviceRow(device: SignedInDevice, end: ServerAction<EndSession>) -> impl IntoView {
    let times = format!(
        "Signed in {} · last seen {}",
        format_utc(device.signed_in_at),
        format_utc(device.last_seen_at)
    );
    let label = format!("End the session on {}", device.description);
    view! {
        <li class="flex items-center justify-between gap-3 py-3" data-current=device.current.to_string()>
            <div class="min-w-0">
                <p class="truncate font-medium">
                    {device.description.clone()}
                    {device.current.then(|| view! { <span class="ml-2 rounded bg-emerald-50 px-1.5 py-0.5 text-xs font-semibold text-emerald-700">"This device"</span> })}
                </p>
                <p class="text-xs text-slate-500">{times}</p>
            </div>
            {(!device.current).then(|| view! {
                <ActionForm action=end>
                    <input type="hidden" name="id" value=device.id.clone()/>
                    <button type="submit" aria-label=label class="shrink-0 rounded-lg border border-slate-300 px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                        "End"
                    </button>
                </ActionForm>
            })}
        </li>
    }
}
