//! The signed-in home: who you are and what you have.

use crate::api::{get_me, SignOut};
use crate::app::components::Avatar;
use crate::error::AppError;
use crate::model::{initial, Me};
use leptos::prelude::*;
use leptos_router::components::Redirect;

#[component]
pub fn DashboardPage() -> impl IntoView {
    // Loaded on the server, so the first HTML already holds name and balance.
    let me = Resource::new_blocking(|| (), |_| get_me());
    view! {
        <Suspense fallback=|| view! { <p class="p-6 text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Dashboard me/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => view! {
                        <p class="m-6 rounded-lg bg-red-50 p-4 text-red-700" role="alert">{e.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(me: Me) -> impl IntoView {
    view! {
        <AppBar first_name=me.first_name.clone()/>
        <main class="mx-auto max-w-3xl space-y-6 px-4 py-6">
            <section aria-labelledby="balance-heading" class="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
                <h2 id="balance-heading" class="text-sm font-medium text-slate-500">"Your balance"</h2>
                <p class="mt-1 text-3xl font-bold tracking-tight" data-testid="balance">{me.balance.to_string()}</p>
            </section>
        </main>
    }
}

#[component]
fn AppBar(first_name: String) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-3xl items-center justify-between gap-3 px-4 py-3">
                <p class="text-lg font-bold text-indigo-700">"Payments App"</p>
                <div class="flex items-center gap-3">
                    <p class="text-sm text-slate-700" data-testid="greeting">{format!("Hello, {first_name}")}</p>
                    <Avatar initial=initial(&first_name)/>
                    <ActionForm action=sign_out>
                        <button type="submit" class="rounded-lg px-3 py-1.5 text-sm font-medium text-slate-600 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                            "Sign out"
                        </button>
                    </ActionForm>
                </div>
            </div>
        </header>
    }
}
