//! Finding people by name: the search box (a plain GET form, live as you
//! type once hydrated) and its results.

use super::rows::UserRow;
use crate::app::components::Loading;
use crate::limits::SEARCH_MAX_CHARS;
use crate::paths::{DashboardUrl, DASHBOARD};
use crate::server_fns::search_users;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;
use std::time::Duration;

#[component]
pub fn Users(filter: Memo<String>) -> impl IntoView {
    let users = Resource::new(move || filter.get(), search_users);
    let navigate = use_navigate();
    // Live search: the URL follows the box a moment after typing stops,
    // keeping the rest of the current URL (a dialog opened meanwhile stays).
    let mut search = debounce(Duration::from_millis(250), move |text: String| {
        let current = DashboardUrl::parse_query(&window().location().search().unwrap_or_default());
        navigate(
            &current.with_filter(&text).to_string(),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });
    view! {
        <section aria-labelledby="users-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
            <h2 id="users-heading" class="text-lg font-semibold">"Users"</h2>
            <form method="get" action=DASHBOARD role="search" class="mt-3 flex gap-2">
                <label for="filter" class="sr-only">"Search users by name"</label>
                <input
                    id="filter"
                    name="filter"
                    type="search"
                    autocomplete="off"
                    maxlength=SEARCH_MAX_CHARS
                    placeholder="Search users…"
                    prop:value=move || filter.get()
                    on:input=move |ev| search(event_target_value(&ev))
                    class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40"
                />
                <button type="submit" class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                    "Search"
                </button>
            </form>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-4 text-sm text-slate-500" role="status">"No users match that name."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-3 divide-y divide-slate-100" aria-live="polite" data-testid="users">
                                {list.into_iter().map(|u| view! { <UserRow user=u filter=filter.get_untracked()/> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-4 text-sm text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
