//! The signed-in home: balance, the Receive card, payment requests, recent
//! people, people to pay, and the dialogs (send, request, pay a request).
//! All its state is in the URL ([`DashboardUrl`]: `?filter=`, `?send=` with
//! `&amount=` and `&note=` from a pay link, `?sent=`, `?request=`,
//! `?asked=`, `?pay=`), so every step works as plain links and form posts
//! before the WASM loads, and the same URLs drive the live version after
//! hydration.
//!
//! Its parts: `balance`, `receive`, `requests` (the panel and its two
//! dialogs), `search` and `recent` (people, in `rows`), `send` (the Send
//! Money dialog), `fields` (what the dialogs' forms share), `modal`.

mod balance;
mod fields;
mod modal;
mod receive;
mod recent;
mod requests;
mod rows;
mod search;
mod send;

use crate::app::components::{AppBar, Loading};
use crate::app::live::Live;
use crate::error::AppError;
use crate::model::Me;
use crate::paths::{DashboardUrl, DASHBOARD, SIGN_IN};
use crate::server_fns::get_me;
use balance::BalanceCard;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use receive::ReceiveCard;
use recent::RecentPeople;
use requests::{AskDialog, PayDialog, RequestsPanel};
use rows::KnownPeople;
use search::Users;
use send::{LastSent, Prefill, SendMoneyDialog};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let url = Memo::new(move |_| {
        let query = query.read();
        DashboardUrl::from_lookup(|key| query.get(key))
    });
    // Read once: after that, the balance follows the page's own payments
    // (their receipts) and the live stream.
    let me = Resource::new(|| (), |_| get_me());
    // One stream for as long as the page is open, started once it shows a
    // signed-in user.
    let live = Live::new();
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Dashboard me url live/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path=SIGN_IN/> }.into_any(),
                    Err(e) => view! { <p class="m-6 rounded-lg bg-red-50 p-4 text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(me: Me, url: Memo<DashboardUrl>, live: Live) -> impl IntoView {
    let balance = RwSignal::new(me.balance);
    KnownPeople::provide();
    LastSent::provide();
    // One memo per part of the URL, so that a dialog is made again only
    // when its own part changes.
    let part = move |of: fn(&DashboardUrl) -> &Option<String>| Memo::new(move |_| of(&url.read()).clone());
    let filter = Memo::new(move |_| url.read().filter.clone().unwrap_or_default());
    let (send_to, sent, amount, note) = (
        part(|u| &u.send),
        part(|u| &u.sent),
        part(|u| &u.amount),
        part(|u| &u.note),
    );
    let (request, asked, pay) = (part(|u| &u.request), part(|u| &u.asked), part(|u| &u.pay));
    live.start(None);
    view! {
        <AppBar me current=DASHBOARD/>
        <main class="mx-auto max-w-3xl space-y-6 px-4 py-6">
            <BalanceCard balance live/>
            <RequestsPanel live/>
            <RecentPeople filter/>
            <Users filter/>
            <ReceiveCard/>
        </main>
        {move || send_to.get().map(|to| {
            let prefill = Prefill { amount: amount.get(), note: note.get() };
            view! { <SendMoneyDialog to sent=sent.get() balance filter=filter.get_untracked() prefill/> }
        })}
        {move || request.get().map(|from| view! { <AskDialog from asked=asked.get()/> })}
        {move || pay.get().map(|id| view! { <PayDialog id/> })}
    }
}
