//! The Send Money dialog: the form, then the success view.
//!
//! One round trip: the person comes from the row that opened the dialog
//! (or with the server-rendered page), the idempotency key is made where
//! the form is rendered, and the transfer's answer is what the success
//! view shows. Without JavaScript the form posts and the server redirects
//! to `?send=<to>&sent=<entry>`, whose view reads the entry back (and
//! shows it only as a payment from the viewer to that person).

use super::fields::{AmountField, Done, Failed, NoteField, Recipient};
use super::modal::Modal;
use super::rows::KnownPeople;
use crate::app::components::Loading;
use crate::error::AppError;
use crate::model::{SendDialog, SendReceipt, UserSummary};
use crate::money::Money;
use crate::paths::DashboardUrl;
use crate::server_fns::{get_sent, SendMoney};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;
use serde::{Deserialize, Serialize};

/// What a pay link fills the Send Money form with.
#[derive(Clone, Debug, Default)]
pub struct Prefill {
    pub amount: Option<String>,
    pub note: Option<String>,
}

impl Prefill {
    /// The amount to fill in, and what to tell the payer about it: a pay
    /// link's amount fills the field only if it is one; otherwise the
    /// payer is told, and types it.
    fn amount(&self) -> (String, Option<String>) {
        match self.amount.as_deref().map(Money::parse_rupees) {
            Some(Ok(amount)) => (amount.to_plain_rupees(), None),
            Some(Err(why)) => (
                String::new(),
                Some(format!(
                    "The amount in this link is not valid ({why}): enter it yourself"
                )),
            ),
            None => (String::new(), None),
        }
    }
}

/// A payment made: to whom, and its receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    recipient: UserSummary,
    receipt: SendReceipt,
}

/// The page's last payment as its answer said, for the success view it
/// goes on to (one per dashboard, in its context).
#[derive(Clone, Copy)]
pub struct LastSent(StoredValue<Option<Sent>>);

impl LastSent {
    pub fn provide() {
        provide_context(LastSent(StoredValue::new(None)));
    }

    fn get() -> LastSent {
        expect_context()
    }

    /// The payment `entry` to `to`, if it is the one this page made.
    fn of(self, to: &str, entry: &str) -> Option<Sent> {
        self.0.with_value(|last| {
            last.as_ref()
                .filter(|sent| sent.recipient.id == to && sent.receipt.entry == entry)
                .cloned()
        })
    }
}

/// The dialog: a real `<dialog>`, server-rendered open (so it works
/// without JavaScript), modal after hydration. `sent` is the entry to
/// show as done; otherwise the form.
#[component]
pub fn SendMoneyDialog(
    to: String,
    sent: Option<String>,
    balance: RwSignal<Money>,
    filter: String,
    prefill: Prefill,
) -> impl IntoView {
    let close_href = DashboardUrl::default().with_filter(&filter).to_string();
    let body = match sent {
        Some(entry) => view! { <SentView to entry balance close_href=close_href.clone()/> }.into_any(),
        None => view! { <SendStep to balance filter close_href=close_href.clone() prefill/> }.into_any(),
    };
    view! {
        <Modal labelled_by="send-title" close_href>
            <h2 id="send-title" class="text-center text-2xl font-bold">"Send Money"</h2>
            {body}
        </Modal>
    }
}

/// Loads who the form is for, with a fresh key, then shows the form.
#[component]
fn SendStep(
    to: String,
    balance: RwSignal<Money>,
    filter: String,
    close_href: String,
    prefill: Prefill,
) -> impl IntoView {
    let people = KnownPeople::get();
    let dialog = Resource::new(
        move || to.clone(),
        move |to| async move {
            let recipient = people.person(to).await?;
            Ok::<_, AppError>(SendDialog {
                recipient,
                key: new_key(),
            })
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || {
                let (close_href, filter, prefill) = (close_href.clone(), filter.clone(), prefill.clone());
                Suspend::new(async move {
                    match dialog.await {
                        Ok(dialog) => view! { <SendForm dialog balance filter close_href prefill/> }.into_any(),
                        Err(e) => view! { <Failed message=e.to_string() close_href/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn SendForm(
    dialog: SendDialog,
    balance: RwSignal<Money>,
    filter: String,
    close_href: String,
    prefill: Prefill,
) -> impl IntoView {
    let (amount, link_error) = prefill.amount();
    let action = ServerAction::<SendMoney>::new();
    // A new key after each refusal: the user may correct the amount and
    // try again, which is a different transfer. Until then, every submit
    // (a double click, a resubmitted form) carries the same key.
    let attempt = RwSignal::new(0u32);
    let (last, navigate, recipient) = (LastSent::get(), use_navigate(), dialog.recipient.clone());
    Effect::new(move |_| match action.value().get() {
        Some(Err(_)) => attempt.update(|a| *a += 1),
        // Done: the answer is the success view, at the address a form post
        // would have been sent to.
        Some(Ok(receipt)) => {
            balance.set(receipt.balance);
            let done = DashboardUrl {
                sent: Some(receipt.entry.clone()),
                ..DashboardUrl::send(&recipient.id).with_filter(&filter)
            };
            last.0.set_value(Some(Sent {
                recipient: recipient.clone(),
                receipt,
            }));
            navigate(
                &done.to_string(),
                NavigateOptions {
                    scroll: false,
                    ..Default::default()
                },
            );
        }
        None => {}
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
    view! {
        <Recipient user=dialog.recipient.clone()/>
        <ActionForm action attr:class="mt-4 space-y-3">
            <input type="hidden" name="to" value=dialog.recipient.id.clone()/>
            // An attribute, not a property: the server renders it (the form
            // works without JavaScript), and a hidden input's value is its
            // attribute.
            <input type="hidden" name="idempotency_key" value=key/>
            <AmountField error=Signal::derive(error) value=amount/>
            <NoteField value=prefill.note.unwrap_or_default()/>
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

/// The success view of payment `entry` to `to`: this page's own answer if
/// it made it, else (after a form post, or a reload) read back, and shown
/// only if the viewer sent it to `to`.
#[component]
fn SentView(to: String, entry: String, balance: RwSignal<Money>, close_href: String) -> impl IntoView {
    let last = LastSent::get();
    let sent = Resource::new(
        move || (to.clone(), entry.clone()),
        move |(to, entry)| {
            // Read now: by the time the entry is, the page that asked may
            // have been rendered again (its signals gone).
            let (mine, balance) = (last.of(&to, &entry), balance.get_untracked());
            async move {
                if let Some(sent) = mine {
                    return Ok(sent);
                }
                let found = get_sent(to, entry).await?;
                let recipient = found.counterparty.ok_or(AppError::Internal)?;
                // The balance now: the page was rendered after the payment.
                let receipt = SendReceipt {
                    entry: found.id,
                    amount: found.amount,
                    balance,
                };
                Ok::<_, AppError>(Sent { recipient, receipt })
            }
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || {
                let close_href = close_href.clone();
                Suspend::new(async move {
                    match sent.await {
                        Ok(sent) => view! { <SendSuccess sent close_href/> }.into_any(),
                        Err(e) => view! { <Failed message=e.to_string() close_href/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn SendSuccess(sent: Sent, close_href: String) -> impl IntoView {
    let Sent { recipient, receipt } = sent;
    view! {
        <Recipient user=recipient.clone()/>
        <div class="mt-4 rounded-lg bg-emerald-50 p-4 text-emerald-800 ring-1 ring-emerald-200" role="status">
            <p class="font-semibold">{format!("Sent {} to {}", receipt.amount, recipient.first_name)}</p>
            <p class="mt-1 text-sm">"Your new balance is " <span data-testid="new-balance">{receipt.balance.to_string()}</span></p>
            <p class="mt-1 text-xs">"Reference " <span class="break-all font-mono" data-testid="entry">{receipt.entry}</span></p>
        </div>
        <Done close_href/>
    }
}

/// A fresh idempotency key: 128 random bits, in hex.
fn new_key() -> String {
    random_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "ssr")]
fn random_bytes() -> [u8; 16] {
    use rand::Rng;
    rand::thread_rng().gen()
}

/// From the browser's `crypto.getRandomValues` (there in every browser
/// that runs WebAssembly, secure context or not).
#[cfg(not(feature = "ssr"))]
fn random_bytes() -> [u8; 16] {
    use wasm_bindgen::JsCast;
    use web_sys::js_sys::{global, Function, Math, Reflect, Uint8Array};
    let buffer = Uint8Array::new_with_length(16);
    let filled = Reflect::get(&global(), &"crypto".into()).and_then(|crypto| {
        let fill: Function = Reflect::get(&crypto, &"getRandomValues".into())?.dyn_into()?;
        fill.call1(&crypto, &buffer)
    });
    let mut bytes = [0u8; 16];
    match filled {
        Ok(_) => buffer.copy_to(&mut bytes),
        // A key only has to differ from the sender's other keys.
        Err(_) => bytes.iter_mut().for_each(|b| *b = (Math::random() * 256.0) as u8),
    }
    bytes
}
