//! `/pay/<userId>?amount=&note=`: a pay link (or its QR code) opens the
//! Send Money dialog for that person, prefilled; the payer still checks
//! and confirms. Signed out, the server sends it through sign-in first and
//! back here after. A link that is not one says so.

use crate::paths::{DashboardUrl, DASHBOARD};
use leptos::prelude::*;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn PayLinkPage() -> impl IntoView {
    let id = use_params_map().read_untracked().get("id").unwrap_or_default();
    let query = use_query_map().read_untracked();
    let valid = id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        #[cfg(feature = "ssr")]
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::NOT_FOUND);
        }
        return view! {
            <main class="flex min-h-screen flex-col items-center justify-center gap-4 px-4 text-center">
                <h1 class="text-2xl font-bold">"This pay link is not valid"</h1>
                <p class="text-slate-600">"Ask for a new link, or find the person by name."</p>
                <A href=DASHBOARD attr:class="py-2 text-indigo-600 underline">"Go to your dashboard"</A>
            </main>
        }
        .into_any();
    }
    let to = DashboardUrl {
        amount: query.get("amount"),
        note: query.get("note"),
        ..DashboardUrl::send(id)
    }
    .to_string();
    // On the server a real redirect (302), so it works without JavaScript.
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(&to);
    view! { <Redirect path=to/> }.into_any()
}
