//! What the stream waits for besides events: a pause, and the page being
//! shown or put in the background.

use futures::channel::oneshot;
use leptos::prelude::*;
use std::cell::Cell;
use std::time::Duration;

pub async fn sleep(pause: Duration) {
    let (done, wait) = oneshot::channel();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        pause,
    );
    let _ = wait.await;
}

/// Until the page is shown (now, if it is).
pub async fn until_shown() {
    until(false).await
}

/// Until the page has been in the background for `grace` (another tab,
/// minimised): switching tabs back and forth keeps the stream.
pub async fn hidden_for(grace: Duration) {
    loop {
        until(true).await;
        sleep(grace).await;
        if document().hidden() {
            return;
        }
    }
}

async fn until(hidden: bool) {
    if document().hidden() == hidden {
        return;
    }
    let (done, wait) = oneshot::channel();
    let done = Cell::new(Some(done));
    let listening = Listening(Some(window_event_listener_untyped("visibilitychange", move |_| {
        if document().hidden() == hidden {
            if let Some(done) = done.take() {
                let _ = done.send(());
            }
        }
    })));
    let _ = wait.await;
    drop(listening);
}

/// Removes the listener however the wait ends (also when the stream's task
/// is dropped with the page).
struct Listening(Option<WindowListenerHandle>);

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.remove();
        }
    }
}
