//! The instance's one change stream, and when what it feeds may be trusted.
//!
//! Three read models live in memory (the session cache, the search
//! directory, the asks of pending requests) and the live fan-out sends
//! every new entry to the pages open here. All four learn of changes from
//! one database-level `watch()` opened here, filtered by the server to what
//! they declared ([`Follower::interests`]), and applied in the order the
//! database made them.
//!
//! One trust rule for every read model ([`Trust`]): it answers from memory
//! only while this stream is provably current, else it reads the database.
//! Each instance writes a heartbeat every [`BEAT_EVERY`]; the stream is
//! current while it has brought one of them written within [`LAG_LIMIT`],
//! and after it (re)opens only once a heartbeat written after the opening
//! has come through (so whatever a resume replayed was applied first). A
//! stream that stalls without an error stops being trusted within the lag
//! limit, and is reopened (from its resume token) after three. One that
//! cannot resume starts afresh: every follower is told to forget what it
//! holds ([`Follower::restart`]).

mod source;
mod trust;

pub use source::{DbSource, Event, Events, Source};
pub use trust::Trust;

use futures::future::BoxFuture;
use futures::StreamExt;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::change_stream::event::ResumeToken;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How far behind the database a read model may be and still answer: an
/// ended session may be accepted by another instance for at most this long.
pub const LAG_LIMIT: Duration = Duration::from_secs(5);
/// How often each instance writes its heartbeat.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// One heartbeat document per instance (`_id`: the instance).
pub const HEARTBEATS: &str = "heartbeats";

/// Which updates of a collection a follower needs (inserts, replaces,
/// deletes and the collection's drop it always gets).
#[derive(Clone, Copy, Debug)]
pub enum Updates {
    None,
    /// Only those that set one of these fields.
    Fields(&'static [&'static str]),
    All,
}

/// What a follower needs from one collection.
#[derive(Clone, Copy, Debug)]
pub struct Interest {
    pub collection: &'static str,
    pub updates: Updates,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Insert,
    /// An update: `updated` holds the fields it set, `document` the whole
    /// document as it was when the stream looked it up (perhaps later).
    Update,
    Replace,
    Delete,
    /// The collection was dropped or renamed.
    Drop,
}

/// One change to a collection a follower declared.
#[derive(Clone, Debug)]
pub struct Change {
    pub collection: String,
    pub op: Op,
    /// The document's `_id` (none for a drop).
    pub id: Option<Bson>,
    pub document: Option<Document>,
    pub updated: Option<Document>,
}

impl Change {
    pub fn object_id(&self) -> Option<ObjectId> {
        self.id.as_ref().and_then(Bson::as_object_id)
    }
}

/// A read model (or the live fan-out) fed by the stream.
pub trait Follower: Send + Sync + 'static {
    fn interests(&self) -> Vec<Interest>;
    /// One change, in the order the database made them. Runs on the
    /// stream's task: it must not wait.
    fn apply(&self, change: &Change);
    /// The stream starts afresh (first start, or it could not resume):
    /// changes may have been missed, so forget or reload what is held. An
    /// error stops this start; the stream is opened afresh again later.
    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>>;
}

/// The owner of the instance's change stream. Cheap to clone.
#[derive(Clone)]
pub struct Changes {
    inner: Arc<Inner>,
}

struct Inner {
    source: Arc<dyn Source>,
    trust: Trust,
    beat_every: Duration,
    followers: Mutex<Vec<Arc<dyn Follower>>>,
    started: AtomicBool,
    /// Streams opened so far.
    opened: AtomicUsize,
    /// Asks the heartbeat for one at once (the stream just opened).
    beat_now: Notify,
}

impl Changes {
    /// The change stream of `db`, with this instance's heartbeat.
    pub fn on_database(db: &mongodb::Database) -> Changes {
        Changes::new(Arc::new(DbSource::new(db)), LAG_LIMIT, BEAT_EVERY)
    }

    /// An owner reading `source` (tests inject one that stalls or fails).
    pub fn new(source: Arc<dyn Source>, lag_limit: Duration, beat_every: Duration) -> Changes {
        Changes {
            inner: Arc::new(Inner {
                source,
                trust: Trust::new(lag_limit),
                beat_every,
                followers: Mutex::default(),
                started: AtomicBool::new(false),
                opened: AtomicUsize::new(0),
                beat_now: Notify::new(),
            }),
        }
    }

    /// Whether the stream is current now, for the read models to check.
    pub fn trust(&self) -> Trust {
        self.inner.trust.clone()
    }

    /// Adds a follower; only before [`Changes::start`].
    pub fn follow(&self, follower: Arc<dyn Follower>) {
        debug_assert!(
            !self.inner.started.load(Ordering::Acquire),
            "followers join before the start"
        );
        self.followers().push(follower);
    }

    /// Change streams this owner has opened (one, unless it had to reopen).
    pub fn streams_opened(&self) -> usize {
        self.inner.opened.load(Ordering::Acquire)
    }

    /// Follows the database and writes the heartbeat, for as long as the
    /// process runs; a second call does nothing.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let beating = self.clone();
        tokio::spawn(async move { beating.beat().await });
        let following = self.clone();
        tokio::spawn(async move { following.follow_forever().await });
    }

    async fn beat(&self) {
        loop {
            let at = self.inner.trust.now_ms();
            match tokio::time::timeout(self.inner.beat_every * 2, self.inner.source.beat(at)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "heartbeat not written"),
                Err(_) => tracing::debug!("heartbeat not written in time"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.inner.beat_every) => {}
                () = self.inner.beat_now.notified() => {}
            }
        }
    }

    async fn follow_forever(&self) {
        let mut resume: Option<ResumeToken> = None;
        // Failures in a row (a run that lasted a minute breaks the row).
        let mut failures = 0u32;
        loop {
            let began = Instant::now();
            match self.run(&mut resume).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = if began.elapsed() > Duration::from_secs(60) {
                        1
                    } else {
                        failures + 1
                    };
                    // Twice in a row: the token may be what fails (the
                    // database can report lost history only once asked for
                    // more): start afresh.
                    if failures >= 2 {
                        resume = None;
                    }
                    tracing::warn!(error = %e, failures, "change stream interrupted; reconnecting");
                }
            }
            self.inner.trust.lost();
            // 0.5 s, doubling with each failure in a row, up to 32 s.
            let wait = Duration::from_millis(500) * 2u32.pow(failures.saturating_sub(1).min(6));
            tokio::time::sleep(wait).await;
        }
    }

    /// One run of the stream: open (resuming if it can), start afresh if it
    /// did not resume, then apply what it brings until it ends or fails.
    async fn run(&self, resume: &mut Option<ResumeToken>) -> Result<(), String> {
        let trust = &self.inner.trust;
        trust.opening();
        let followers: Vec<(Arc<dyn Follower>, Vec<Interest>)> =
            self.followers().iter().map(|f| (f.clone(), f.interests())).collect();
        let pipeline = pipeline(&followers, self.inner.source.heartbeat());
        let (mut events, resumed) = self
            .inner
            .source
            .open(pipeline, resume.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.inner.opened.fetch_add(1, Ordering::AcqRel);
        if !resumed {
            *resume = None;
            for (follower, _) in &followers {
                follower.restart().await.map_err(|e| e.to_string())?;
            }
        }
        self.inner.beat_now.notify_one();
        let stalled = trust.lag_limit() * 3;
        loop {
            let event = match tokio::time::timeout(stalled, events.next()).await {
                Err(_) => return Err(format!("nothing came for {stalled:?}, not even a heartbeat")),
                Ok(None) => return Ok(()),
                Ok(Some(event)) => event.map_err(|e| e.to_string())?,
            };
            match event {
                Event::Change(change, token) => {
                    for (follower, interests) in &followers {
                        if wants(interests, &change) {
                            follower.apply(&change);
                        }
                    }
                    *resume = Some(token);
                }
                Event::Beat(at, token) => {
                    trust.heard(at);
                    *resume = Some(token);
                }
                Event::Other(token) => *resume = Some(token),
                Event::Invalidated => {
                    // The database was dropped: start afresh.
                    *resume = None;
                    return Ok(());
                }
            }
        }
    }

    fn followers(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Follower>>> {
        self.inner.followers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a follower with `interests` declared `change` (the stream
/// carries every follower's collections).
fn wants(interests: &[Interest], change: &Change) -> bool {
    interests.iter().any(|i| {
        i.collection == change.collection
            && match (change.op, i.updates) {
                (Op::Update, Updates::None) => false,
                (Op::Update, Updates::Fields(fields)) => change
                    .updated
                    .as_ref()
                    .is_some_and(|u| fields.iter().any(|f| u.contains_key(f))),
                _ => true,
            }
    })
}

/// The server-side filter: each collection's changes its followers need
/// (updates only when one wants them, and only of the fields they named),
/// this instance's `heartbeat` and the database's end.
fn pipeline(followers: &[(Arc<dyn Follower>, Vec<Interest>)], heartbeat: Document) -> Vec<Document> {
    let mut by_collection: Vec<(&'static str, Option<Vec<&'static str>>, bool)> = Vec::new();
    for &interest in followers.iter().flat_map(|(_, interests)| interests) {
        let at = match by_collection.iter().position(|(c, ..)| *c == interest.collection) {
            Some(at) => at,
            None => {
                by_collection.push((interest.collection, Some(Vec::new()), false));
                by_collection.len() - 1
            }
        };
        let (_, fields, all) = &mut by_collection[at];
        match interest.updates {
            Updates::None => {}
            Updates::Fields(named) => fields.get_or_insert_with(Vec::new).extend_from_slice(named),
            Updates::All => *all = true,
        }
    }
    let mut wanted = vec![
        doc! { "operationType": { "$in": ["invalidate", "dropDatabase"] } },
        heartbeat,
    ];
    for (collection, fields, all) in by_collection {
        wanted.push(doc! {
            "ns.coll": collection,
            "operationType": { "$in": ["insert", "replace", "delete", "drop", "rename"] },
        });
        if all {
            wanted.push(doc! { "ns.coll": collection, "operationType": "update" });
        } else if let Some(fields) = fields.filter(|f| !f.is_empty()) {
            let any: Vec<Document> = fields
                .iter()
                .map(|f| doc! { format!("updateDescription.updatedFields.{f}"): { "$exists": true } })
                .collect();
            wanted.push(doc! { "ns.coll": collection, "operationType": "update", "$or": any });
        }
    }
    vec![doc! { "$match": { "$or": wanted } }]
}
