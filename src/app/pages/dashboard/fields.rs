//! What the dialogs share: the person a dialog is about, the amount and
//! note fields, and the ways out (Done, or a failure and Close).

use super::modal::focus_when_loaded;
use crate::app::components::{Avatar, Hint};
use crate::limits::NOTE_CHARS;
use crate::model::UserSummary;
use crate::paths::DASHBOARD;
use leptos::prelude::*;

/// The person a dialog is about, large, with their hint.
#[component]
pub fn Recipient(user: UserSummary, #[prop(default = "recipient")] testid: &'static str) -> impl IntoView {
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

/// The amount in rupees, as typed (the server parses it), with the form's
/// error under it. The dialog's first field: it takes the focus, also
/// when the form arrives after the dialog opened.
#[component]
pub fn AmountField(error: Signal<Option<String>>, #[prop(optional)] value: String) -> impl IntoView {
    let amount_ref = NodeRef::<leptos::html::Input>::new();
    focus_when_loaded(amount_ref);
    view! {
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
                value=value
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby="amount-error"
                class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40"
            />
            <p id="amount-error" class="min-h-[1.25rem] text-sm text-red-600" role="alert">{move || error.get()}</p>
        </div>
    }
}

/// The optional note of a payment or a request (at most [`NOTE_CHARS`]
/// characters; the server checks what else a note may not hold).
#[component]
pub fn NoteField(#[prop(optional)] value: String) -> impl IntoView {
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
                maxlength=NOTE_CHARS
                placeholder="What is it for?"
                value=value
                class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40"
            />
        </div>
    }
}

/// The way out of a dialog that is done; it takes the focus.
#[component]
pub fn Done(#[prop(default = DASHBOARD.to_owned())] close_href: String) -> impl IntoView {
    let done_ref = NodeRef::<leptos::html::A>::new();
    focus_when_loaded(done_ref);
    view! {
        <a node_ref=done_ref href=close_href class="mt-4 block w-full rounded-lg bg-slate-900 px-4 py-2.5 text-center font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2">
            "Done"
        </a>
    }
}

/// What went wrong, instead of the dialog's form, and Close.
#[component]
pub fn Failed(message: String, #[prop(default = DASHBOARD.to_owned())] close_href: String) -> impl IntoView {
    view! {
        <p class="mt-4 text-sm text-red-700" role="alert">{message}</p>
        <a href=close_href class="mt-4 block py-2 text-center text-sm font-medium text-indigo-600 underline">"Close"</a>
    }
}
