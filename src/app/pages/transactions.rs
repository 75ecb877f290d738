//! The ledger as the signed-in user sees it: newest first, a page at a time
//! (`?before=` is the cursor, so paging is plain links). In the browser,
//! new entries appear on top of the newest page as they happen.

use crate::app::components::{AppBar, Avatar, Hint, Loading};
use crate::app::live::Live;
use crate::error::AppError;
use crate::model::{format_utc, Direction, EntryKind, HistoryEntry, HistoryPage};
use crate::server_fns::{get_me, history};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use std::collections::HashSet;

#[component]
pub fn TransactionsPage() -> impl IntoView {
    let query = use_query_map();
    let before = Memo::new(move |_| query.read().get("before").filter(|b| !b.is_empty()));
    let me = Resource::new(|| (), |_| get_me());
    let page = Resource::new(move || before.get(), history);
    let live = Live::new();
    // Entries were missed that the stream cannot send: read the page again.
    Effect::watch(move || live.stale(), move |_, _, _| page.refetch(), false);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let me = match me.await {
                    Ok(me) => me,
                    Err(AppError::Unauthorized) => return view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => return view! { <p class="m-6 text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                };
                let newest = before.get_untracked().is_none();
                let body = match page.await {
                    Ok(page) if newest => {
                        // Live from the newest entry shown: nothing in between is lost.
                        live.start(page.entries.first().map(|e| e.id.clone()));
                        view! { <Entries page live=Some(live)/> }.into_any()
                    }
                    Ok(page) if page.entries.is_empty() => view! {
                        <p class="text-sm text-slate-500">{NOTHING_YET}</p>
                    }.into_any(),
                    Ok(page) => view! { <Entries page live=None/> }.into_any(),
                    Err(e) => view! { <p class="text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                };
                view! {
                    <AppBar me current="/transactions"/>
                    <main class="mx-auto max-w-3xl px-4 py-6">
                        <section
                            aria-labelledby="tx-heading"
                            data-live=move || live.is_open().then_some("open")
                            class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
                        >
                            <h1 id="tx-heading" class="mb-3 text-lg font-semibold">"Transactions"</h1>
                            {body}
                        </section>
                    </main>
                }.into_any()
            })}
        </Suspense>
    }
}

const NOTHING_YET: &str = "No transactions yet. Money you send or receive shows up here.";

/// A page of entries, with those that arrived since on top (the newest
/// page only); keyed by id, so an entry the page was read again with
/// shows once.
#[component]
fn Entries(page: HistoryPage, live: Option<Live>) -> impl IntoView {
    let loaded: HashSet<String> = page.entries.iter().map(|e| e.id.clone()).collect();
    let empty = page.entries.is_empty();
    let arrived = move || {
        let mut arrived: Vec<HistoryEntry> = live
            .map(Live::arrivals)
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.entry)
            .filter(|e| !loaded.contains(&e.id))
            .collect();
        arrived.reverse();
        arrived
    };
    let nothing = {
        let arrived = arrived.clone();
        move || empty && arrived().is_empty()
    };
    view! {
        <Show when=nothing>
            <p class="text-sm text-slate-500">{NOTHING_YET}</p>
        </Show>
        <ul class="divide-y divide-slate-100" data-testid="transactions">
            <For each=arrived key=|e| e.id.clone() let(entry)>
                <Entry entry/>
            </For>
            {page.entries.into_iter().map(|e| view! { <Entry entry=e/> }).collect_view()}
        </ul>
        <nav aria-label="Pages" class="mt-4 flex justify-between text-sm font-medium">
            {live.is_none().then(|| view! { <a href="/transactions" class="text-indigo-600 underline">"Newest"</a> })}
            {page.next.map(|next| view! {
                <a href=format!("/transactions?before={next}") class="ml-auto text-indigo-600 underline">"Older"</a>
            })}
        </nav>
    }
}

#[component]
fn Entry(entry: HistoryEntry) -> impl IntoView {
    let sent = entry.direction == Direction::Sent;
    let (sign, tone) = if sent {
        ("−", "text-slate-900")
    } else {
        ("+", "text-emerald-700")
    };
    // Money from (or back to) Paisa itself has no person on the other side.
    let (label, name, initial) = match (&entry.counterparty, entry.kind) {
        (Some(who), _) => (
            if sent { "Sent to" } else { "Received from" },
            who.full_name(),
            who.initial(),
        ),
        (None, EntryKind::Grant) => ("From Paisa", "Welcome balance".to_owned(), "₹".to_owned()),
        (None, _) => ("From Paisa", "Opening balance".to_owned(), "₹".to_owned()),
    };
    let hint = entry.counterparty.map(|who| who.hint).unwrap_or_default();
    view! {
        <li class="flex items-center justify-between gap-3 py-3" data-direction=if sent { "sent" } else { "received" } data-kind=kind_name(entry.kind)>
            <div class="flex min-w-0 items-center gap-3">
                <Avatar initial=initial/>
                <div class="min-w-0">
                    <p class="truncate font-medium"><span class="sr-only">{label} " "</span>{name}</p>
                    <Hint hint/>
                    <p class="text-xs text-slate-500">{label} " · " {format_utc(entry.created_at)}</p>
                    {entry.note.map(|note| view! { <p class="truncate text-sm text-slate-600">{note}</p> })}
                </div>
            </div>
            <p class=format!("shrink-0 font-semibold tabular-nums {tone}")>{format!("{sign}{}", entry.amount)}</p>
        </li>
    }
    // Type-erased: one row type for the live and the loaded lists keeps
    // the page's type small enough for the compiler.
    .into_any()
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Transfer => "transfer",
        EntryKind::Grant => "grant",
        EntryKind::Opening => "opening",
        EntryKind::Request => "request",
    }
}
