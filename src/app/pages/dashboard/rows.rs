//! People as the dashboard lists them (search results, recent people): one
//! row each, with their Request and Send Money links; and the people the
//! page has shown, so that a dialog opened from a row needs no read to
//! name them.

use crate::app::components::{Avatar, Hint};
use crate::error::AppError;
use crate::model::UserSummary;
use crate::paths::DashboardUrl;
use crate::server_fns::get_person;
use leptos::prelude::*;
use std::collections::HashMap;

/// The people this page has shown, by id (one per dashboard, in its
/// context).
#[derive(Clone, Copy)]
pub struct KnownPeople(StoredValue<HashMap<String, UserSummary>>);

impl KnownPeople {
    pub fn provide() {
        provide_context(KnownPeople(StoredValue::new(HashMap::new())));
    }

    pub fn get() -> KnownPeople {
        expect_context()
    }

    /// (Quietly nothing once the page is gone: a read may end after it.)
    pub fn remember(self, user: &UserSummary) {
        self.0.try_update_value(|known| {
            known.insert(user.id.clone(), user.clone());
        });
    }

    /// The user `id`: as this page showed them if it did, else read (the
    /// server refuses the signed-in user themself, and unknown ids).
    pub async fn person(self, id: String) -> Result<UserSummary, AppError> {
        if let Some(user) = self.0.with_value(|known| known.get(&id).cloned()) {
            return Ok(user);
        }
        let user = get_person(id).await?;
        self.remember(&user);
        Ok(user)
    }
}

/// One person: name, hint, and their Request and Send Money links (which
/// keep the search, `filter`).
#[component]
pub fn UserRow(user: UserSummary, filter: String) -> impl IntoView {
    KnownPeople::get().remember(&user);
    view! {
        <li class="flex flex-wrap items-center justify-between gap-3 py-3">
            <div class="flex min-w-0 flex-1 basis-44 items-center gap-3">
                <Avatar initial=user.initial()/>
                <div class="min-w-0">
                    <p class="truncate font-medium">{user.full_name()}</p>
                    <Hint hint=user.hint.clone()/>
                </div>
            </div>
            <PersonActions user filter/>
        </li>
    }
}

/// "Send Money" and "Request" for one person. The hint tells two people of
/// the same name apart, for screen readers too (a link's name is what a
/// list of links reads out).
#[component]
fn PersonActions(user: UserSummary, filter: String) -> impl IntoView {
    let who = if user.hint.is_empty() {
        user.full_name()
    } else {
        format!("{}, {}", user.full_name(), user.hint)
    };
    view! {
        <div class="ml-auto flex shrink-0 gap-2">
            <a
                href=DashboardUrl::request(&user.id).with_filter(&filter).to_string()
                aria-label=format!("Request money from {who}")
                class="rounded-lg border border-slate-300 px-3 py-2 text-sm font-semibold text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
            >
                "Request"
            </a>
            <a
                href=DashboardUrl::send(&user.id).with_filter(&filter).to_string()
                aria-label=format!("Send money to {who}")
                class="rounded-lg bg-slate-900 px-3 py-2 text-sm font-semibold text-white hover:bg-slate-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2"
            >
                "Send Money"
            </a>
        </div>
    }
}
