mod auth;
mod dashboard;
mod pay_link;
mod profile;
mod transactions;

pub use auth::{SignInPage, SignUpPage};
pub use dashboard::DashboardPage;
pub use pay_link::PayLinkPage;
pub use profile::ProfilePage;
pub use transactions::TransactionsPage;

use leptos::prelude::*;
use leptos_router::components::{Redirect, A};

/// `/`: the server sends visitors on by session; in the browser, go to the
/// dashboard (which itself sends signed-out users to sign-in).
#[component]
pub fn Home() -> impl IntoView {
    view! { <Redirect path=crate::paths::DASHBOARD/> }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="flex min-h-screen flex-col items-center justify-center gap-4 px-4 text-center">
            <h1 class="text-3xl font-bold">"Page not found"</h1>
            <A href="/" attr:class="text-indigo-600 underline">"Go to Paisa"</A>
        </main>
    }
}
