//! The web app: the HTML shell and the routes. Pages live in `pages/`,
//! shared pieces in `components`, live updates in `live/`.

mod components;
mod live;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-100 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy: scripts only from us or inline with
/// this response's nonce (the hydration scripts carry it), WebAssembly
/// compilation allowed, no framing, forms only to us.
#[cfg(feature = "ssr")]
fn content_security_policy(options: &LeptosOptions) {
    use axum::http::{header, HeaderValue};
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    // Development builds reload over a websocket on the reload port.
    let reload = if options.env == leptos::config::Env::DEV {
        format!(" ws://{}:{}", options.site_addr.ip(), options.reload_port)
    } else {
        String::new()
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{reload}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: this marks the page
    // as live (end-to-end tests wait for it; CSS could too).
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/paisa.css"/>
        <Title text="Paisa"/>
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Home/>
                <Route path=path!("/signup") view=pages::SignUpPage/>
                <Route path=path!("/signin") view=pages::SignInPage/>
                // Async: the page is sent once its data is loaded, so the
                // first HTML is complete even where JavaScript never runs.
                <Route path=path!("/dashboard") view=pages::DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/transactions") view=pages::TransactionsPage ssr=SsrMode::Async/>
                <Route path=path!("/profile") view=pages::ProfilePage ssr=SsrMode::Async/>
                <Route path=path!("/pay/:id") view=pages::PayLinkPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
