//! The signed-in home: balance, the Receive card, payment requests, recent
//! people, people to pay, and the dialogs (send, request, pay a request).
//! All its state is in the URL (`?filter=`, `?send=` with `&amount=` and
//! `&note=` from a pay link, `?sent=`, `?request=`, `?asked=`, `?pay=`), so
//! every step works as plain links and form posts before the WASM loads,
//! and the same URLs drive the live version after hydration.

mod balance;
mod modal;
mod receive;
mod recent;
mod requests;

use crate::app::components::{query_escape, AppBar, Avatar, Hint, Loading};
use crate::app::live::Live;
use crate::error::AppError;
use crate::model::{Me, SendDialog, UserSummary};
use crate::money::Money;
use crate::server_fns::{get_me, get_transfer, open_send, search_users, SendMoney};
use balance::BalanceCard;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use modal::{focus_when_loaded, Modal};
use receive::ReceiveCard;
use recent::RecentPeople;
use requests::{AskDialog, PayDialog, RequestsPanel};
use std::time::Duration;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| query.read().get("filter").unwrap_or_default());
    let send_to = Memo::new(move |_| query.read().get("send").filter(|s| !s.is_empty()));
    let sent = Memo::new(move |_| query.read().get("sent").filter(|s| !s.is_empty()));
    let dialogs = Dialogs {
        request: Memo::new(move |_| query.read().get("request").filter(|s| !s.is_empty())),
        asked: Memo::new(move |_| query.read().get("asked").filter(|s| !s.is_empty())),
        pay: Memo::new(move |_| query.read().get("pay").filter(|s| !s.is_empty())),
        amount: Memo::new(move |_| query.read().get("amount").filter(|s| !s.is_empty())),
        note: Memo::new(move |_| query.read().get("note").filter(|s| !s.is_empty())),
    };
    // Re-read after each transfer, so the balance shown is the new one.
    let me = Resource::new(move || sent.get(), |_| get_me());
    // One stream for as long as the page is open, started once it shows a
    // signed-in user.
    let live = Live::new();
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Dashboard me filter send_to sent dialogs live/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => view! { <p class="m-6 rounded-lg bg-red-50 p-4 text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(
    me: Me,
    filter: Memo<String>,
    send_to: Memo<Option<String>>,
    sent: Memo<Option<String>>,
    dialogs: Dialogs,
    live: Live,
) -> impl IntoView {
    let balance = me.balance;
    live.start(None);
    view! {
        <AppBar me current="/dashboard"/>
        <main class="mx-auto max-w-3xl space-y-6 px-4 py-6">
            <BalanceCard balance live/>
            <RequestsPanel live/>
            <RecentPeople filter/>
            <Users filter/>
            <ReceiveCard/>
        </main>
        {move || send_to.get().map(|to| {
            let prefill = Prefill { amount: dialogs.amount.get(), note: dialogs.note.get() };
            view! { <SendMoneyDialog to sent=sent.get() balance filter=filter.get_untracked() prefill/> }
        })}
        {move || dialogs.request.get().map(|from| view! { <AskDialog from asked=dialogs.asked.get()/> })}
        {move || dialogs.pay.get().map(|id| view! { <PayDialog id/> })}
    }
}

/// The dialogs' URL parameters besides Send Money's own.
#[derive(Clone, Copy)]
struct Dialogs {
    request: Memo<Option<String>>,
    asked: Memo<Option<String>>,
    pay: Memo<Option<String>>,
    amount: Memo<Option<String>>,
    note: Memo<Option<String>>,
}

/// What a pay link fills the Send Money form with.
#[derive(Clone, Debug, Default)]
struct Prefill {
    amount: Option<String>,
    note: Option<String>,
}

#[component]
fn Users(filter: Memo<String>) -> impl IntoView {
    let users = Resource::new(move || filter.get(), search_users);
    let navigate = use_navigate();
    // Live search: the URL follows the box a moment after typing stops,
    // keeping the rest of the current URL (a dialog opened meanwhile stays).
    let mut search = debounce(Duration::from_millis(250), move |text: String| {
        let current = window().location().search().unwrap_or_default();
        let mut params: Vec<String> = current
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("filter="))
            .map(str::to_owned)
            .collect();
        if !text.is_empty() {
            params.insert(0, format!("filter={}", query_escape(&text)));
        }
        let url = if params.is_empty() {
            "/dashboard".to_owned()
        } else {
            format!("/dashboard?{}", params.join("&"))
        };
        navigate(
            &url,
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
            <form method="get" action="/dashboard" role="search" class="mt-3 flex gap-2">
                <label for="filter" class="sr-only">"Search users by name"</label>
                <input
                    id="filter"
                    name="filter"
                    type="search"
                    autocomplete="off"
                    maxlength=101
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

/// One person: name, hint, and their Request and Send Money links.
#[component]
pub(super) fn UserRow(user: UserSummary, filter: String) -> impl IntoView {
    view! {
        <li class="flex flex-wrap items-center justify-between gap-3 py-3">
            <div class="flex min-w-0 flex-1 basis-44 items-center gap-3">
                <Avatar initial=user.initial()/>
                <div class="min-w-0">
                    <p class="truncate font-medium">{user.full_name()}</p>
                    <Hint hint=user.hint.clone()/>
                </div>
            </div>
            <PersonActions user filter/>
        </li>
    }
}

/// "Send Money" and "Request" for one person. The hint tells two people of
/// the same name apart, for screen readers too (a link's name is what a
/// list of links reads out).
#[component]
fn PersonActions(user: UserSummary, filter: String) -> impl IntoView {
    let keep = if filter.is_empty() {
        String::new()
    } else {
        format!("&filter={}", query_escape(&filter))
    };
    let who = if user.hint.is_empty() {
        user.full_name()
    } else {
        format!("{}, {}", user.full_name(), user.hint)
    };
    view! {
        <div class="ml-auto flex shrink-0 gap-2">
            <a
                href=format!("/dashboard?request={}{keep}", user.id)
                aria-label=format!("Request money from {who}")
                class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-semibold text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
            >
                "Request"
            </a>
            <a
                href=format!("/dashboard?send={}{keep}", user.id)
                aria-label=format!("Send money to {who}")
                class="rounded-lg bg-slate-900 px-3 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
            >
                "Send Money"
            </a>
        </div>
    }
}

/// The Send Money dialog: a real `<dialog>`. Server-rendered open (so it
/// works without JavaScript); after hydration it becomes modal (focus
/// trapped inside, Esc closes it).
#[component]
fn SendMoneyDialog(
    to: String,
    sent: Option<String>,
    balance: Money,
    filter: String,
    prefill: Prefill,
) -> impl IntoView {
    let close_href = if filter.is_empty() {
        "/dashboard".to_owned()
    } else {
        format!("/dashboard?filter={}", query_escape(&filter))
    };
    let details = Resource::new(move || to.clone(), open_send);
    let receipt = Resource::new(
        move || sent.clone(),
        |sent| async move {
            match sent {
                Some(id) => get_transfer(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Modal labelled_by="send-title" close_href=close_href.clone()>
            <h2 id="send-title" class="text-center text-2xl font-bold">"Send Money"</h2>
            <Suspense fallback=Loading>
                {move || {
                    let close_href = close_href.clone();
                    let prefill = prefill.clone();
                    Suspend::new(async move {
                        match (details.await, receipt.await) {
                            (Ok(d), Ok(Some(done))) => view! { <SendSuccess recipient=d.recipient amount=done.amount balance close_href/> }.into_any(),
                            (Ok(d), _) => view! { <SendForm dialog=d close_href prefill/> }.into_any(),
                            (Err(e), _) => view! {
                                <p class="mt-4 text-sm text-red-700" role="alert">{e.to_string()}</p>
                                <a href=close_href class="mt-4 block py-2 text-center text-sm font-medium text-indigo-600 underline">"Close"</a>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Modal>
    }
}

/// The person a dialog is about, large, with their hint.
#[component]
pub(super) fn Recipient(user: UserSummary, #[prop(default = "recipient")] testid: &'static str) -> impl IntoView {
    view! {
        <div class="mt-6 flex items-center gap-3">
            <Avatar initial=user.initial() size="h-12 w-12 text-xl"/>
            <div class="min-w-0">
                <p class="break-words text-xl font-semibold" data-testid=testid>{user.full_name()}</p>
                <Hint hint=user.hint size="text-sm"/>
            </div>
        </div>
    }
}

#[component]
fn SendForm(dialog: SendDialog, close_href: String, prefill: Prefill) -> impl IntoView {
    // A pay link's amount fills the field only if it is one; otherwise
    // the payer is told, and types it.
    let (amount, link_error) = match prefill.amount.as_deref().map(Money::parse_rupees) {
        Some(Ok(amount)) => (amount.to_plain_rupees(), None),
        Some(Err(why)) => (
            String::new(),
            Some(format!(
                "The amount in this link is not valid ({why}): enter it yourself"
            )),
        ),
        None => (String::new(), None),
    };
    let note = prefill.note.unwrap_or_default();
    let action = ServerAction::<SendMoney>::new();
    // A new key after each refusal: the user may correct the amount and
    // try again, which is a different transfer. Until then, every submit
    // (a double click, a resubmitted form) carries the same key.
    let attempt = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Err(_))) {
            attempt.update(|a| *a += 1);
        }
    });
    let key = dialog.key.clone();
    let key = move || format!("{key}-{}", attempt.get());
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
            .or_else(|| link_error.clone())
    };
    let pending = action.pending();
    // The form arrives after the dialog opened: move focus into it then.
    let amount_ref = NodeRef::<leptos::html::Input>::new();
    focus_when_loaded(amount_ref);
    view! {
        <Recipient user=dialog.recipient.clone()/>
        <ActionForm action attr:class="mt-4 space-y-3">
            <input type="hidden" name="to" value=dialog.recipient.id.clone()/>
            <input type="hidden" name="idempotency_key" prop:value=key/>
            <div class="space-y-1">
                <label for="amount" class="block text-sm font-medium text-slate-700">"Amount (in ₹)"</label>
                <input
                    node_ref=amount_ref
                    id="amount"
                    name="amount"
                    type="text"
                    inputmode="decimal"
                    autocomplete="off"
                    required=true
                    autofocus=true
                    placeholder="Enter amount"
                    value=amount
                    aria-invalid={
                        let error = error.clone();
                        move || if error().is_some() { "true" } else { "false" }
                    }
                    aria-describedby="amount-error"
                    class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40"
                />
                <p id="amount-error" class="min-h-[1.25rem] text-sm text-red-600" role="alert">{error}</p>
            </div>
            <NoteField value=note/>
            <button
                type="submit"
                disabled=move || pending.get()
                class="w-full rounded-lg bg-emerald-700 px-4 py-2.5 font-semibold text-white shadow hover:bg-emerald-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-500 focus-visible:ring-offset-2 disabled:cursor-wait disabled:opacity-60"
            >
                {move || if pending.get() { "Sending…" } else { "Initiate Transfer" }}
            </button>
            <a href=close_href class="block rounded-lg px-4 py-2 text-center text-sm font-medium text-slate-600 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                "Cancel"
            </a>
        </ActionForm>
    }
}

#[component]
fn SendSuccess(recipient: UserSummary, amount: Money, balance: Money, close_href: String) -> impl IntoView {
    let done_ref = NodeRef::<leptos::html::A>::new();
    focus_when_loaded(done_ref);
    view! {
        <Recipient user=recipient.clone()/>
        <div class="mt-4 rounded-lg bg-emerald-50 p-4 text-emerald-800 ring-1 ring-emerald-200" role="status">
            <p class="font-semibold">{format!("Sent {amount} to {}", recipient.first_name)}</p>
            <p class="mt-1 text-sm">"Your new balance is " <span data-testid="new-balance">{balance.to_string()}</span></p>
        </div>
        <a
            node_ref=done_ref
            href=close_href
            class="mt-4 block w-full rounded-lg bg-slate-900 px-4 py-2.5 text-center font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
        >
            "Done"
        </a>
    }
}

/// The optional note of a payment or a request (at most 140 characters;
/// the server checks what else a note may not hold).
#[component]
pub(super) fn NoteField(#[prop(optional)] value: String) -> impl IntoView {
    view! {
        <div class="space-y-1">
            <label for="note" class="block text-sm font-medium text-slate-700">
                "Note " <span class="font-normal text-slate-500">"(optional)"</span>
            </label>
            <input
                id="note"
                name="note"
                type="text"
                autocomplete="off"
                maxlength=140
                placeholder="What is it for?"
                value=value
                class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40"
            />
        </div>
    }
}
