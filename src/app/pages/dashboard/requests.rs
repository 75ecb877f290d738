//! Payment requests on the dashboard: what others ask you to pay (Pay,
//! Decline), what you asked for (Cancel), the dialog to ask someone, and
//! the confirm step before paying. Direction is said in words on every
//! line ("asks you for", "you asked"), never by colour alone: a request to
//! pay must never read as money coming in.

use super::fields::{AmountField, Done, Failed, NoteField, Recipient};
use super::modal::Modal;
use super::rows::KnownPeople;
use crate::app::components::{Avatar, Hint, Loading};
use crate::app::live::Live;
use crate::model::PaymentRequest;
use crate::paths::{DashboardUrl, DASHBOARD};
use crate::server_fns::{get_request_board, open_pay, AskMoney, CancelRequest, DeclineRequest, PayRequest};
use leptos::prelude::*;

/// The pending requests, read again whenever one changes (live) or the
/// page's data may be stale.
#[component]
pub fn RequestsPanel(live: Live) -> impl IntoView {
    let board = Resource::new(move || (live.requests_changed(), live.stale()), |_| get_request_board());
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(board) if board.incoming.is_empty() && board.outgoing.is_empty() => ().into_any(),
                    Ok(board) => view! {
                        <section aria-labelledby="requests-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200" data-testid="requests">
                            <h2 id="requests-heading" class="text-lg font-semibold">"Requests"</h2>
                            {(!board.incoming.is_empty()).then(|| view! {
                                <h3 class="mt-3 text-sm font-medium text-slate-600">"Asking you to pay"</h3>
                                <ul class="divide-y divide-slate-100" data-testid="incoming-requests">
                                    {board.incoming.into_iter().map(|r| view! { <Incoming request=r/> }).collect_view()}
                                </ul>
                            })}
                            {(!board.outgoing.is_empty()).then(|| view! {
                                <h3 class="mt-3 text-sm font-medium text-slate-600">"You asked"</h3>
                                <ul class="divide-y divide-slate-100" data-testid="outgoing-requests">
                                    {board.outgoing.into_iter().map(|r| view! { <Outgoing request=r/> }).collect_view()}
                                </ul>
                            })}
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="text-sm text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Incoming(request: PaymentRequest) -> impl IntoView {
    let decline = ServerAction::<DeclineRequest>::new();
    let who = request.to.full_name();
    let pay_href = DashboardUrl::pay(&request.id).to_string();
    view! {
        <li class="py-3">
            <div class="flex items-start gap-3">
                <Avatar initial=request.to.initial()/>
                <div class="min-w-0 flex-1">
                    <p class="font-medium">{format!("{who} asks you for {}", request.amount)}</p>
                    <Hint hint=request.to.hint.clone()/>
                    <Details request=request.clone()/>
                </div>
            </div>
            <div class="mt-2 flex flex-wrap items-center justify-end gap-2">
                <ActionForm action=decline attr:class="flex items-center gap-2">
                    <input type="hidden" name="id" value=request.id.clone()/>
                    <label class="flex min-h-6 items-center gap-1 text-sm text-slate-600">
                        <input type="checkbox" name="block" value="on" class="h-6 w-6"/>
                        {format!("Block {}", request.to.first_name)}
                    </label>
                    <button type="submit" class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-semibold text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                        "Decline"
                    </button>
                </ActionForm>
                <a
                    href=pay_href
                    aria-label=format!("Pay {} to {who}", request.amount)
                    class="rounded-lg bg-slate-900 px-3 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
                >
                    "Pay"
                </a>
            </div>
        </li>
    }
}

#[component]
fn Outgoing(request: PaymentRequest) -> impl IntoView {
    let cancel = ServerAction::<CancelRequest>::new();
    view! {
        <li class="flex items-start justify-between gap-3 py-3">
            <div class="min-w-0">
                <p class="font-medium">{format!("You asked {} for {}", request.from.full_name(), request.amount)}</p>
                <Details request=request.clone()/>
            </div>
            <ActionForm action=cancel>
                <input type="hidden" name="id" value=request.id.clone()/>
                <button type="submit" class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-semibold text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                    "Cancel"
                </button>
            </ActionForm>
        </li>
    }
}

/// The note, and when it was asked.
#[component]
fn Details(request: PaymentRequest) -> impl IntoView {
    view! {
        {request.note.map(|note| view! { <p class="break-words text-sm text-slate-700">{format!("“{note}”")}</p> })}
        <p class="text-xs text-slate-500">{format!("Asked {}", crate::model::format_utc(request.created_at))}</p>
    }
}

/// Ask `from` for money: amount and note.
#[component]
pub fn AskDialog(from: String, asked: Option<String>) -> impl IntoView {
    let people = KnownPeople::get();
    let person = Resource::new(move || from.clone(), move |from| people.person(from));
    let action = ServerAction::<AskMoney>::new();
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <Modal labelled_by="ask-title" close_href=DASHBOARD.to_owned()>
            <h2 id="ask-title" class="text-center text-2xl font-bold">"Request Money"</h2>
            <Suspense fallback=Loading>
                {move || {
                    let asked = asked.clone();
                    Suspend::new(async move {
                        match person.await {
                            Ok(recipient) if asked.is_some() => view! {
                                <Recipient user=recipient.clone() testid="person"/>
                                <p class="mt-4 rounded-lg bg-slate-50 p-4 ring-1 ring-slate-200" role="status">
                                    {format!("Request sent: {} can pay it from their dashboard.", recipient.first_name)}
                                </p>
                                <Done/>
                            }.into_any(),
                            Ok(recipient) => view! {
                                <Recipient user=recipient.clone() testid="person"/>
                                <ActionForm action attr:class="mt-4 space-y-3">
                                    <input type="hidden" name="from" value=recipient.id.clone()/>
                                    <AmountField error=Signal::derive(error)/>
                                    <NoteField/>
                                    <button type="submit" disabled=move || action.pending().get() class="w-full rounded-lg bg-slate-900 px-4 py-2.5 font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:opacity-60">
                                        {format!("Ask {} to pay you", recipient.first_name)}
                                    </button>
                                    <a href=DASHBOARD class="block rounded-lg px-4 py-2 text-center text-sm font-medium text-slate-600 hover:bg-slate-100">"Cancel"</a>
                                </ActionForm>
                            }.into_any(),
                            Err(e) => view! { <Failed message=e.to_string()/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Modal>
    }
}

/// The confirm step: nothing moves until the payer presses Pay here.
#[component]
pub fn PayDialog(id: String) -> impl IntoView {
    let action = ServerAction::<PayRequest>::new();
    // Read again once paid (the page's URL stays the same).
    let request = Resource::new(move || (id.clone(), action.version().get()), |(id, _)| open_pay(id));
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <Modal labelled_by="pay-title" close_href=DASHBOARD.to_owned()>
            <h2 id="pay-title" class="text-center text-2xl font-bold">"Pay a request"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match request.await {
                        Ok(r) if r.status == crate::model::RequestStatus::Paid => view! {
                            <Recipient user=r.to.clone() testid="person"/>
                            <p class="mt-4 rounded-lg bg-emerald-50 p-4 text-emerald-800 ring-1 ring-emerald-200" role="status">
                                {format!("Paid {} to {}", r.amount, r.to.full_name())}
                            </p>
                            <Done/>
                        }.into_any(),
                        Ok(r) if r.status != crate::model::RequestStatus::Pending => view! {
                            <Failed message=format!("This request is {}: there is nothing to pay.", r.status.as_str())/>
                        }.into_any(),
                        Ok(r) => {
                            let whom = if r.to.hint.is_empty() { r.to.full_name() } else { format!("{} ({})", r.to.full_name(), r.to.hint) };
                            view! {
                                <Recipient user=r.to.clone() testid="person"/>
                                <p class="mt-4 text-lg font-semibold" data-testid="pay-confirm">{format!("You are paying {} to {whom}", r.amount)}</p>
                                {r.note.clone().map(|note| view! { <p class="mt-1 break-words text-sm text-slate-700">{format!("For: {note}")}</p> })}
                                <ActionForm action attr:class="mt-4 space-y-3">
                                    <input type="hidden" name="id" value=r.id.clone()/>
                                    <p class="min-h-[1.25rem] text-sm text-red-600" role="alert">{error}</p>
                                    <button type="submit" disabled=move || action.pending().get() class="w-full rounded-lg bg-emerald-700 px-4 py-2.5 font-semibold text-white hover:bg-emerald-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-500 focus-visible:ring-offset-2 disabled:opacity-60">
                                        {format!("Pay {}", r.amount)}
                                    </button>
                                    <a href=DASHBOARD class="block rounded-lg px-4 py-2 text-center text-sm font-medium text-slate-600 hover:bg-slate-100">"Not now"</a>
                                </ActionForm>
                            }.into_any()
                        }
                        Err(e) => view! { <Failed message=e.to_string()/> }.into_any(),
                    }
                })}
            </Suspense>
        </Modal>
    }
}
