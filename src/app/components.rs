//! Pieces the pages share.

use crate::error::AppError;
use crate::model::{initial, Me};
use crate::paths;
use crate::server_fns::SignOut;
use leptos::prelude::*;

/// The centred card the sign-up and sign-in forms sit on.
#[component]
pub fn AuthCard(title: &'static str, subtitle: &'static str, children: Children) -> impl IntoView {
    view! {
        <main class="flex min-h-screen items-center justify-center px-4 py-10">
            <div class="w-full max-w-sm rounded-2xl bg-white p-6 shadow-lg ring-1 ring-slate-200 sm:p-8">
                <p class="mb-6 text-center text-sm font-semibold uppercase tracking-widest text-indigo-600">"Paisa"</p>
                <h1 class="text-center text-3xl font-bold">{title}</h1>
                <p class="mt-2 text-center text-sm text-slate-500">{subtitle}</p>
                <div class="mt-6">{children()}</div>
            </div>
        </main>
    }
}

/// A labelled input with its validation message.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] autocomplete: &'static str,
    #[prop(default = "")] placeholder: &'static str,
    #[prop(default = 1)] minlength: usize,
    #[prop(default = 200)] maxlength: usize,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{name}-error");
    let described = error_id.clone();
    view! {
        <div class="space-y-1">
            <label for=name class="block text-sm font-medium text-slate-700">{label}</label>
            <input
                id=name
                name=name
                type=kind
                required=true
                minlength=minlength
                maxlength=maxlength
                autocomplete=autocomplete
                placeholder=placeholder
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=described
                class="block w-full rounded-lg border border-slate-300 px-3 py-2 text-base shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 aria-[invalid=true]:border-red-500"
            />
            <p id=error_id class="min-h-[1.25rem] text-sm text-red-600" role="alert">
                {move || error.get()}
            </p>
        </div>
    }
}

/// The form's main button; disabled and relabelled while the request runs.
#[component]
pub fn SubmitButton(
    label: &'static str,
    pending_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
) -> impl IntoView {
    view! {
        <button
            type="submit"
            disabled=move || pending.get()
            class="w-full rounded-lg bg-slate-900 px-4 py-2.5 font-semibold text-white shadow hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:cursor-wait disabled:opacity-60"
        >
            {move || if pending.get() { pending_label } else { label }}
        </button>
    }
}

/// A message about the whole form (not one field), e.g. the server's answer.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <Show when=move || error.get().is_some()>
            <p class="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-700 ring-1 ring-red-200" role="alert">
                {move || error.get()}
            </p>
        </Show>
    }
}

/// The round avatar with a user's initial.
#[component]
pub fn Avatar(initial: String, #[prop(default = "h-10 w-10 text-lg")] size: &'static str) -> impl IntoView {
    view! {
        <span
            aria-hidden="true"
            class=format!("inline-flex shrink-0 items-center justify-center rounded-full bg-indigo-100 font-semibold text-indigo-700 {size}")
        >
            {initial}
        </span>
    }
}

/// The masked email under another user's name (`a•••@example.com`), to
/// tell people of the same name apart: small, muted, and cut short with an
/// ellipsis rather than widening a narrow screen. Nothing when there is none.
#[component]
pub fn Hint(hint: String, #[prop(default = "text-xs")] size: &'static str) -> impl IntoView {
    (!hint.is_empty()).then(|| {
        view! { <p class=format!("truncate text-slate-500 {size}") data-testid="hint">{hint}</p> }
    })
}

/// Splits a server function's error into (field messages, form message):
/// a field's own problem shows under that field, anything else above the form.
pub fn form_errors(
    result: Signal<Option<Result<(), AppError>>>,
) -> (
    impl Fn(&'static str) -> Signal<Option<String>> + Copy,
    Signal<Option<String>>,
) {
    let error = Signal::derive(move || result.get().and_then(Result::err));
    let field = move |name: &'static str| Signal::derive(move || error.get().and_then(|e| e.field_message(name)));
    let general = Signal::derive(move || {
        error
            .get()
            .filter(|e| !matches!(e, AppError::Invalid { field: Some(_), .. }))
            .map(|e| e.to_string())
    });
    (field, general)
}

/// The signed-in pages' top bar: app name, navigation, greeting, avatar,
/// sign out (a form, so it works without JavaScript).
#[component]
pub fn AppBar(me: Me, current: &'static str) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let link = move |href: &'static str, label: &'static str| {
        let active = href == current;
        view! {
            <a
                href=href
                aria-current=if active { Some("page") } else { None }
                class=if active {
                    "rounded-md px-2 py-1 text-sm font-semibold text-indigo-700 bg-indigo-50"
                } else {
                    "rounded-md px-2 py-1 text-sm font-medium text-slate-600 hover:bg-slate-100"
                }
            >
                {label}
            </a>
        }
    };
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-3xl flex-wrap items-center justify-between gap-2 px-4 py-3">
                <a href=paths::DASHBOARD class="text-lg font-bold text-indigo-700">"Payments App"</a>
                <div class="flex items-center gap-2">
                    <p class="text-sm text-slate-700" data-testid="greeting">{format!("Hello, {}", me.first_name)}</p>
                    <Avatar initial=initial(&me.first_name) size="h-9 w-9 text-base"/>
                    <ActionForm action=sign_out>
                        <button
                            type="submit"
                            class="rounded-md px-2 py-1 text-sm font-medium text-slate-600 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                        >
                            "Sign out"
                        </button>
                    </ActionForm>
                </div>
                <nav aria-label="Main" class="flex w-full gap-1 sm:w-auto sm:order-none">
                    {link(paths::DASHBOARD, "Dashboard")}
                    {link(paths::TRANSACTIONS, "Transactions")}
                    {link(paths::PROFILE, "Profile")}
                </nav>
            </div>
        </header>
    }
}

/// A quiet note (success or information) at the top of a page.
#[component]
pub fn Notice(children: Children) -> impl IntoView {
    view! {
        <p class="rounded-lg bg-emerald-50 px-4 py-3 text-sm text-emerald-800 ring-1 ring-emerald-200" role="status">
            {children()}
        </p>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="p-6 text-slate-500" aria-live="polite">"Loading…"</p> }
}
