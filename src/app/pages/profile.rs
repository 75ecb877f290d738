//! Change first name, last name or password.

use crate::app::components::{form_errors, AppBar, FormError, Loading, Notice, SubmitButton};
use crate::error::AppError;
use crate::model::Me;
use crate::server_fns::{get_me, UpdateProfile};
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
                           autocomplete: &'static str| {
        let error = field(key);
        view! {
            <div class="space-y-1">
                <label for=name class="block text-sm font-medium text-slate-700">{label}</label>
                <input id=name name=name type=kind value=value autocomplete=autocomplete maxlength=128 class=input_class
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
                    {field_view("First name", "first_name", "firstName", me.first_name.clone(), "text", "given-name")}
                    {field_view("Last name", "last_name", "lastName", me.last_name.clone(), "text", "family-name")}
                    {field_view("New password (leave blank to keep yours)", "password", "password", String::new(), "password", "new-password")}
                    <FormError error=general/>
                    <SubmitButton label="Save changes" pending_label="Saving…" pending=action.pending()/>
                </ActionForm>
            </section>
        </main>
    }
}
