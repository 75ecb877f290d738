//! The last people you paid or were paid by, above the search: one tap to
//! pay or ask them again. Hidden while a search is on (its results are
//! the people then).

use super::rows::UserRow;
use crate::server_fns::recent_people;
use leptos::prelude::*;

#[component]
pub fn RecentPeople(filter: Memo<String>) -> impl IntoView {
    let people = Resource::new(|| (), |_| recent_people());
    view! {
        <Transition fallback=|| ()>
            {move || {
                let searching = !filter.get().is_empty();
                Suspend::new(async move {
                match people.await {
                    Ok(people) if !people.is_empty() && !searching => view! {
                        <section aria-labelledby="recent-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
                            <h2 id="recent-heading" class="text-lg font-semibold">"Recent"</h2>
                            <ul class="mt-1 divide-y divide-slate-100" data-testid="recent">
                                {people.into_iter().map(|user| view! { <UserRow user filter=String::new()/> }).collect_view()}
                            </ul>
                        </section>
                    }.into_any(),
                    // Nobody yet, or unreadable: the search below still works.
                    _ => ().into_any(),
                }
                })
            }}
        </Transition>
    }
}
