//! The instance's one change stream and its trust rule, tested once at the
//! owner's level with an injected stream that stalls, fails and resumes
//! late, or cannot resume; the session cache stands for every read model
//! (they share the rule). And: each instance opens one stream, whatever it
//! does.

use crate::common::TestEnv;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::change_stream::event::ResumeToken;
use paisa::server::auth::sessions::{Device, SessionStore};
use paisa::server::bank::error::BankError;
use paisa::server::changes::{Change, Changes, Event, Events, Follower, Interest, Op, Source};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LAG: Duration = Duration::from_secs(1);
const BEAT: Duration = Duration::from_millis(50);

type Sender = mpsc::UnboundedSender<mongodb::error::Result<Event>>;

/// A change stream on cue. Heartbeats come back through it (`echo`); a
/// failure ends it with an error; a resumed one first replays what was
/// set aside, after a delay, and only then what came since.
#[derive(Default)]
struct Fake {
    stream: Mutex<Option<Sender>>,
    resumable: AtomicBool,
    echo: AtomicBool,
    /// What the next resumed stream replays, each after how long.
    replay: Mutex<Option<Vec<(Duration, Event)>>>,
    /// The last heartbeat it was asked to write.
    last_beat: std::sync::atomic::AtomicI64,
    /// Heartbeats held back until the replay has come (a resume brings
    /// older changes first).
    held: Arc<Mutex<Option<Vec<Event>>>>,
}

fn token() -> ResumeToken {
    mongodb::bson::from_bson(doc! { "_data": "t" }.into()).unwrap()
}

impl Fake {
    fn fail(&self) {
        let stream = self.stream.lock().unwrap().take().expect("a stream is open");
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        stream.unbounded_send(Err(broken.into())).unwrap();
    }

    fn send(&self, event: Event) {
        if let Some(held) = self.held.lock().unwrap().as_mut() {
            held.push(event);
            return;
        }
        if let Some(stream) = &*self.stream.lock().unwrap() {
            let _ = stream.unbounded_send(Ok(event));
        }
    }
}

impl Source for Fake {
    fn open(
        &self,
        _pipeline: Vec<Document>,
        resume: Option<ResumeToken>,
    ) -> BoxFuture<'_, mongodb::error::Result<(Events, bool)>> {
        let (tx, rx) = mpsc::unbounded();
        let resumed = resume.is_some() && self.resumable.load(Ordering::Acquire);
        if let Some(events) = self.replay.lock().unwrap().take().filter(|_| resumed) {
            *self.held.lock().unwrap() = Some(Vec::new());
            let (tx, held) = (tx.clone(), self.held.clone());
            tokio::spawn(async move {
                for (delay, event) in events {
                    tokio::time::sleep(delay).await;
                    let _ = tx.unbounded_send(Ok(event));
                }
                for event in held.lock().unwrap().take().unwrap_or_default() {
                    let _ = tx.unbounded_send(Ok(event));
                }
            });
        }
        *self.stream.lock().unwrap() = Some(tx);
        let events: Events = rx.boxed();
        async move { Ok((events, resumed)) }.boxed()
    }

    fn heartbeat(&self) -> Document {
        doc! { "ns.coll": "heartbeats" }
    }

    fn beat(&self, at: i64) -> BoxFuture<'_, mongodb::error::Result<()>> {
        self.last_beat.store(at, Ordering::Release);
        if self.echo.load(Ordering::Acquire) {
            self.send(Event::Beat(at, token()));
        }
        async { Ok(()) }.boxed()
    }
}

/// Counts the times it is told the stream started afresh.
#[derive(Default)]
struct Restarts(AtomicUsize);

impl Follower for Restarts {
    fn interests(&self) -> Vec<Interest> {
        Vec::new()
    }
    fn apply(&self, _: &Change) {}
    fn restart(&self) -> BoxFuture<'_, mongodb::error::Result<()>> {
        self.0.fetch_add(1, Ordering::AcqRel);
        async { Ok(()) }.boxed()
    }
}

struct World {
    env: TestEnv,
    fake: Arc<Fake>,
    changes: Changes,
    store: SessionStore,
    restarts: Arc<Restarts>,
    user: ObjectId,
    sid: ObjectId,
}

/// A session store fed by a fake stream that is current, with one
/// session cached.
async fn world() -> World {
    let env = TestEnv::new().await;
    let user = env.user("Asha", "Rao").await;
    let fake = Arc::new(Fake::default());
    fake.echo.store(true, Ordering::Release);
    let changes = Changes::new(fake.clone(), LAG, BEAT);
    let store = SessionStore::new(&env.db, Duration::from_secs(3600), changes.trust());
    let restarts = Arc::new(Restarts::default());
    changes.follow(store.follower());
    changes.follow(restarts.clone());
    changes.start();
    let sid = store.open(user, &Device::default()).await.unwrap();
    until(|| changes.trust().is_current(), "current at start").await;
    World {
        env,
        fake,
        changes,
        store,
        restarts,
        user,
        sid,
    }
}

impl World {
    /// Ends the session in the database only, as another instance would
    /// whose change has not come through yet.
    async fn end_behind_its_back(&self) {
        self.env
            .db
            .collection::<Document>("sessions")
            .update_one(doc! { "_id": self.sid }, doc! { "$set": { "revoked": true } })
            .await
            .unwrap();
    }

    async fn accepted(&self) -> bool {
        match self.store.check(self.sid, self.user).await {
            Ok(()) => true,
            Err(BankError::Unauthorized) => false,
            Err(e) => panic!("{e}"),
        }
    }
}

async fn until(mut ok: impl FnMut() -> bool, what: &str) {
    let began = Instant::now();
    while !ok() {
        assert!(began.elapsed() < Duration::from_secs(5), "not {what} within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_stream_that_stalls_without_an_error_is_distrusted_within_the_lag_limit() {
    let w = world().await;
    w.end_behind_its_back().await;
    assert!(
        w.accepted().await,
        "while current, the cache answers (its word is at most the lag old)"
    );
    w.fake.echo.store(false, Ordering::Release);
    let stalled = Instant::now();
    until(|| !w.changes.trust().is_current(), "distrusted").await;
    assert!(
        stalled.elapsed() <= LAG + Duration::from_millis(100),
        "{:?}",
        stalled.elapsed()
    );
    assert!(
        !w.accepted().await,
        "behind, the database answers: the session has ended"
    );
    // A stall is also a failure: the stream is opened again.
    until(|| w.changes.streams_opened() >= 2, "reopened").await;
}

#[tokio::test]
async fn after_a_resume_the_memory_waits_for_what_the_resume_replays() {
    let w = world().await;
    assert!(w.accepted().await);
    // The session ends just before the stream fails. The resumed stream
    // replays what came after its token: a heartbeat written before the
    // failure at once, the ending only after 600 ms; heartbeats written
    // since come after both.
    w.end_behind_its_back().await;
    let ended = Change {
        collection: "sessions".into(),
        op: Op::Update,
        id: Some(w.sid.into()),
        document: None,
        updated: Some(doc! { "revoked": true }),
    };
    let old_beat = Event::Beat(w.fake.last_beat.load(Ordering::Acquire), token());
    *w.fake.replay.lock().unwrap() = Some(vec![
        (Duration::ZERO, old_beat),
        (Duration::from_millis(600), Event::Change(Box::new(ended), token())),
    ]);
    w.fake.resumable.store(true, Ordering::Release);
    w.fake.fail();
    until(|| w.changes.streams_opened() == 2, "resumed").await;
    // Refused throughout the replay and after it.
    let began = Instant::now();
    while began.elapsed() < Duration::from_millis(1500) {
        assert!(
            !w.accepted().await,
            "an ended session accepted {:?} after the resume",
            began.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    until(|| w.changes.trust().is_current(), "current again").await;
    assert!(!w.accepted().await);
    assert_eq!(w.changes.streams_opened(), 2);
    assert_eq!(w.restarts.0.load(Ordering::Acquire), 1, "a resume is not a fresh start");
}

#[tokio::test]
async fn a_stream_that_cannot_resume_makes_every_read_model_forget() {
    let w = world().await;
    assert!(w.accepted().await);
    assert_eq!(
        w.restarts.0.load(Ordering::Acquire),
        1,
        "the first start is a fresh one"
    );
    w.end_behind_its_back().await;
    w.fake.resumable.store(false, Ordering::Release);
    w.fake.fail();
    until(|| w.restarts.0.load(Ordering::Acquire) == 2, "told to forget").await;
    until(|| w.changes.trust().is_current(), "current again").await;
    assert!(!w.accepted().await, "forgotten, so read afresh: ended");
}

#[tokio::test]
async fn each_instance_opens_one_change_stream_whatever_it_does() {
    let env = TestEnv::new().await;
    let other = env.other_instance_state();
    let [asha, ravi] = env.users([("Asha", "Rao"), ("Ravi", "Kumar")]).await[..] else {
        unreachable!()
    };
    // Sessions, search, a transfer, a request, on both instances.
    for state in [&env.state, &other] {
        let sid = state.sessions.open(asha, &Device::default()).await.unwrap();
        state.sessions.check(sid, asha).await.unwrap();
        state.sessions.end(asha, sid).await.unwrap();
        state.bank.search(asha, "ra", 20).await.unwrap();
        state
            .bank
            .transfer(asha, &ravi.to_hex(), paisa::money::Money::from_paise(100), None)
            .await
            .unwrap();
    }
    until(
        || env.state.changes.trust().is_current() && other.changes.trust().is_current(),
        "current",
    )
    .await;
    assert_eq!(env.state.changes.streams_opened(), 1);
    assert_eq!(other.changes.streams_opened(), 1);
    assert_eq!(paisa::server::db::streams_opened(env.db.name()), 2, "one per instance");
    crate::common::db::assert_books_balance(&env.db).await;
}
