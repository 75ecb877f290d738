//! The balance card. In the browser it follows the live stream: each new
//! entry brings the balance after it, and a notice of what happened, read
//! out by screen readers.

use crate::app::live::Live;
use crate::money::Money;
use crate::server_fns::get_me;
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn BalanceCard(
    /// The page's balance: also set by the receipts of its own payments.
    balance: RwSignal<Money>,
    live: Live,
) -> impl IntoView {
    let notice = RwSignal::new(None::<String>);
    // Only entries that arrive while this card is shown: what came before
    // is in the balance it was made with.
    Effect::watch(
        move || live.latest(),
        move |latest, _, _| {
            if let Some(arrival) = latest {
                if let Some(after) = arrival.balance {
                    balance.set(after);
                }
                notice.set(Some(arrival.notice()));
            }
        },
        false,
    );
    Effect::watch(
        move || live.stale(),
        move |_, _, _| {
            spawn_local(async move {
                if let Ok(me) = get_me().await {
                    balance.try_set(me.balance);
                }
            })
        },
        false,
    );
    view! {
        <section
            aria-labelledby="balance-heading"
            data-live=move || live.is_open().then_some("open")
            class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <h2 id="balance-heading" class="text-sm font-medium text-slate-500">"Your balance"</h2>
            <p class="mt-1 text-3xl font-bold tracking-tight" data-testid="balance">{move || balance.get().to_string()}</p>
            // Present from the start, so that what appears in it is announced.
            <div aria-live="polite" data-testid="live-notice">
                {move || notice.get().map(|text| view! {
                    <p class="mt-3 rounded-lg bg-emerald-50 px-3 py-2 text-sm text-emerald-800 ring-1 ring-emerald-200">{text}</p>
                })}
            </div>
        </section>
    }
}
