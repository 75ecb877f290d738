//! Sign up and sign in.

use crate::app::components::{form_errors, AuthCard, Field, FormError, SubmitButton};
use crate::limits::{EMAIL_BYTES, NAME_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, SIGN_IN_PASSWORD_BYTES};
use crate::server_fns::{SignIn, SignUp};
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let (field, general) = form_errors(action.value().into());
    view! {
        <AuthCard title="Sign up" subtitle="Enter your information to create an account">
            <ActionForm action=action attr:class="space-y-2" attr:novalidate=true>
                <Field label="First name" name="first_name" autocomplete="given-name" maxlength=NAME_CHARS error=field("firstName")/>
                <Field label="Last name" name="last_name" autocomplete="family-name" maxlength=NAME_CHARS error=field("lastName")/>
                <Field label="Email" name="username" kind="email" autocomplete="email" placeholder="you@example.com" maxlength=EMAIL_BYTES error=field("username")/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" minlength=PASSWORD_MIN_CHARS maxlength=PASSWORD_MAX_CHARS error=field("password")/>
                <FormError error=general/>
                <SubmitButton label="Sign up" pending_label="Creating your account…" pending=action.pending()/>
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-600">
                "Already have an account? "
                <A href="/signin" attr:class="font-medium text-indigo-600 underline">"Sign in"</A>
            </p>
        </AuthCard>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let (field, general) = form_errors(action.value().into());
    // Where to go once signed in (a pay link, say); checked by the server.
    let next = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("next")
        .unwrap_or_default();
    view! {
        <AuthCard title="Sign in" subtitle="Enter your credentials to access your account">
            <ActionForm action=action attr:class="space-y-2" attr:novalidate=true>
                <input type="hidden" name="next" value=next/>
                <Field label="Email" name="username" kind="email" autocomplete="username" placeholder="you@example.com" maxlength=EMAIL_BYTES error=field("username")/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" maxlength=SIGN_IN_PASSWORD_BYTES error=field("password")/>
                <FormError error=general/>
                <SubmitButton label="Sign in" pending_label="Signing in…" pending=action.pending()/>
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-600">
                "Don't have an account? "
                <A href="/signup" attr:class="font-medium text-indigo-600 underline">"Sign up"</A>
            </p>
        </AuthCard>
    }
}
