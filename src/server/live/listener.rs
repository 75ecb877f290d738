//! One client's live stream: first what it missed (from its
//! `Last-Event-ID`), then each new entry of its account in the account's
//! order, exactly once; it ends when its session ends or the server stops.

use super::{Delivery, Subscription};
use crate::model::PaymentRequest;
use crate::server::auth::sessions::SessionStore;
use crate::server::bank::error::BankError;
use crate::server::bank::{Bank, LiveEntry, Position};
use mongodb::bson::oid::ObjectId;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// The most entries a reconnecting client is sent; beyond, it is told to
/// read its state afresh.
pub const REPLAY_LIMIT: usize = 100;
/// How often a stream checks its session itself, besides being told of
/// endings (covers a session that expires, and a change stream that is
/// down).
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(20);

/// What a stream sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Entry(Arc<LiveEntry>),
    /// A payment request made or changed (not replayed on reconnect: a
    /// client reads its requests afresh when it connects).
    Request(Arc<PaymentRequest>),
    /// Entries were missed that cannot be sent: read the balance and
    /// history afresh.
    Resync,
}

enum Wake {
    Entry(Arc<LiveEntry>),
    Request(Arc<PaymentRequest>),
    CatchUp,
    CheckSession,
    Stop,
}

pub struct Listener {
    bank: Bank,
    sessions: SessionStore,
    user: ObjectId,
    session: ObjectId,
    subscription: Subscription,
    ended: tokio::sync::broadcast::Receiver<ObjectId>,
    /// The last entry of the account this client has (or had when it
    /// connected).
    position: Position,
    pending: VecDeque<Out>,
    done: bool,
    next_check: Instant,
}

impl Listener {
    /// Starts a stream for `user` in `session`: subscribed first, so
    /// nothing committed while it catches up is lost.
    pub async fn start(
        bank: Bank,
        sessions: SessionStore,
        user: ObjectId,
        session: ObjectId,
        subscription: Subscription,
        last_event_id: Option<&str>,
    ) -> Result<Listener, BankError> {
        let ended = sessions.ended();
        let now = bank.position(user).await?;
        let from = match last_event_id {
            Some(id) => bank.position_after(user, id).await?,
            None => None,
        };
        let mut listener = Listener {
            bank,
            sessions,
            user,
            session,
            subscription,
            ended,
            position: from.unwrap_or(now),
            pending: VecDeque::new(),
            done: false,
            next_check: Instant::now() + SESSION_CHECK_EVERY,
        };
        if from.is_some() {
            listener.catch_up().await?;
        }
        Ok(listener)
    }

    /// The next thing to send; none when the stream is over.
    pub async fn next(&mut self) -> Option<Out> {
        loop {
            if let Some(out) = self.pending.pop_front() {
                return Some(out);
            }
            if self.done {
                return None;
            }
            let session = self.session;
            let wake = tokio::select! {
                delivery = self.subscription.deliveries.recv() => match delivery {
                    Ok(Delivery::Entry(entry)) => Wake::Entry(entry),
                    Ok(Delivery::Request(request)) => Wake::Request(request),
                    Ok(Delivery::CatchUp) | Err(RecvError::Lagged(_)) => Wake::CatchUp,
                    Err(RecvError::Closed) => Wake::Stop,
                },
                _ = self.subscription.closing.wait_for(|closing| *closing) => Wake::Stop,
                ended = self.ended.recv() => match ended {
                    Ok(sid) if sid != session => continue,
                    _ => Wake::CheckSession,
                },
                () = tokio::time::sleep_until(self.next_check) => Wake::CheckSession,
            };
            match wake {
                Wake::Entry(entry) => self.take(entry),
                Wake::Request(request) => self.pending.push_back(Out::Request(request)),
                Wake::CatchUp => self.catch_up_or_end().await,
                Wake::CheckSession => self.check_session().await,
                Wake::Stop => self.done = true,
            }
        }
    }

    /// A live entry, unless the client has it already.
    fn take(&mut self, entry: Arc<LiveEntry>) {
        match entry.seq {
            Some(seq) if seq <= self.position.seq => {}
            Some(seq) => {
                self.position = Position {
                    seq,
                    time: ObjectId::parse_str(&entry.entry.id).unwrap_or_else(|_| ObjectId::new()),
                };
                self.pending.push_back(Out::Entry(entry));
            }
            None => self.pending.push_back(Out::Entry(entry)),
        }
    }

    /// Queues the entries after this stream's position, from the database.
    async fn catch_up(&mut self) -> Result<(), BankError> {
        let missed = self.bank.since(self.user, self.position, REPLAY_LIMIT).await?;
        if missed.gap {
            self.pending.push_back(Out::Resync);
        }
        for entry in missed.entries {
            self.take(Arc::new(entry));
        }
        Ok(())
    }

    /// Catches up; if the database cannot say what was missed, the stream
    /// ends and the client reconnects with its `Last-Event-ID`.
    async fn catch_up_or_end(&mut self) {
        if let Err(e) = self.catch_up().await {
            tracing::debug!(error = %e, "a live stream could not catch up; ending it");
            self.done = true;
        }
    }

    /// Ends the stream if its session has ended (or expired). An unreachable
    /// database keeps it open: the next check decides.
    async fn check_session(&mut self) {
        self.next_check = Instant::now() + SESSION_CHECK_EVERY;
        if let Err(BankError::Unauthorized) = self.sessions.check(self.session, self.user).await {
            self.done = true;
        }
    }
}
