//! The dialogs' frame: a real `<dialog>`, server-rendered open (so it works
//! without JavaScript) and made modal after hydration (focus trapped
//! inside, Esc closes it, closing goes to `close_href`).

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

#[component]
pub fn Modal(
    /// The id of the element that names the dialog.
    labelled_by: &'static str,
    close_href: String,
    children: Children,
) -> impl IntoView {
    let dialog_ref = NodeRef::<leptos::html::Dialog>::new();
    // Set while a server-rendered (open, non-modal) dialog is being turned
    // into a modal one: dropping its `open` attribute fires a close event
    // that is not the user closing it.
    let reopening = StoredValue::new(false);
    Effect::new(move |_| {
        if let Some(dialog) = dialog_ref.get() {
            if !dialog.matches(":modal").unwrap_or(false) {
                if dialog.open() {
                    reopening.set_value(true);
                    let _ = dialog.remove_attribute("open");
                }
                let _ = dialog.show_modal();
            }
        }
    });
    let navigate = use_navigate();
    let close = move |_| {
        if reopening.get_value() {
            reopening.set_value(false);
            return;
        }
        navigate(
            &close_href,
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        )
    };
    view! {
        <div class="fixed inset-0 z-10 bg-slate-900/50" aria-hidden="true"></div>
        <dialog
            node_ref=dialog_ref
            // Open as rendered by the server (no JavaScript needed); in the
            // browser the effect above opens it as a modal instead.
            open=cfg!(feature = "ssr")
            aria-labelledby=labelled_by
            on:close=close
            on:keydown=move |ev| trap_tab(&ev, dialog_ref)
            class="fixed inset-0 z-20 m-auto w-[calc(100%-2rem)] max-w-sm rounded-2xl bg-white p-6 shadow-xl backdrop:bg-slate-900/50"
        >
            {children()}
        </dialog>
    }
}

/// Keeps Tab and Shift+Tab cycling inside the dialog (a modal `<dialog>`
/// would otherwise let focus leave for the browser's own controls).
fn trap_tab(ev: &leptos::ev::KeyboardEvent, dialog: NodeRef<leptos::html::Dialog>) {
    use wasm_bindgen::JsCast;
    if ev.key() != "Tab" {
        return;
    }
    let Some(dialog) = dialog.get_untracked() else { return };
    let Ok(nodes) = dialog.query_selector_all("a[href], button:not([disabled]), input:not([type=hidden])") else {
        return;
    };
    let focusable: Vec<web_sys::HtmlElement> = (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (focusable.first(), focusable.last()) else {
        return;
    };
    let active = document().active_element();
    let at = |el: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == el.unchecked_ref::<web_sys::Element>())
    };
    if ev.shift_key()
        && (at(first)
            || active
                .as_ref()
                .is_some_and(|a| a == dialog.unchecked_ref::<web_sys::Element>()))
    {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && at(last) {
        ev.prevent_default();
        let _ = first.focus();
    }
}

/// Focuses an element once it is in the document (on the next frame, as
/// the node is attached only after the effect that sees it first runs).
pub fn focus_when_loaded<E>(node: NodeRef<E>)
where
    E: leptos::tachys::html::element::ElementType + 'static,
    E::Output: wasm_bindgen::JsCast + Clone + 'static,
{
    use wasm_bindgen::JsCast;
    node.on_load(|el| {
        request_animation_frame(move || {
            let _ = el.unchecked_ref::<web_sys::HtmlElement>().focus();
        });
    });
}
