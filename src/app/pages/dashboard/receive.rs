//! The Receive card: your pay link as text, a button to copy it, and its QR
//! code (drawn by the server: the first HTML holds it, no script needed).

use crate::server_fns::get_receive;
use leptos::prelude::*;

#[component]
pub fn ReceiveCard() -> impl IntoView {
    let card = Resource::new(|| (), |_| get_receive());
    view! {
        <section aria-labelledby="receive-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200" data-testid="receive">
            <h2 id="receive-heading" class="text-lg font-semibold">"Receive"</h2>
            <p class="mt-1 text-sm text-slate-600">"Share your link or show the code: whoever opens it can pay you."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match card.await {
                        Ok(card) => view! {
                            <div class="mt-4 flex flex-col items-center gap-4 sm:flex-row sm:items-start">
                                <div
                                    role="img"
                                    aria-label="QR code of your pay link"
                                    class="h-48 w-48 shrink-0 [&>svg]:h-full [&>svg]:w-full"
                                    data-testid="qr"
                                    inner_html=card.qr_svg
                                ></div>
                                <div class="w-full min-w-0 space-y-2">
                                    <label for="pay-link" class="block text-sm font-medium text-slate-700">"Your pay link"</label>
                                    <input
                                        id="pay-link"
                                        type="text"
                                        readonly=true
                                        value=card.link.clone()
                                        class="block w-full rounded-lg border border-slate-300 bg-slate-50 px-3 py-2 text-sm"
                                    />
                                    <CopyButton text=card.link/>
                                </div>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-3 text-sm text-red-700" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Copies `text` to the clipboard; says so (or that it could not) aloud.
/// Without JavaScript the link above it can be selected and copied.
#[component]
fn CopyButton(text: String) -> impl IntoView {
    let said = RwSignal::new(None::<&'static str>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let clipboard = window().navigator().clipboard();
                let copied = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text)).await;
                said.set(Some(if copied.is_ok() {
                    "Link copied"
                } else {
                    "Could not copy: select the link and copy it"
                }));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&text, said);
    };
    view! {
        <button
            type="button"
            on:click=copy
            class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-semibold text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
        >
            "Copy link"
        </button>
        <span class="ml-2 text-sm text-slate-600" aria-live="polite">{move || said.get()}</span>
    }
}
