//! Where the changes come from: the database (one `watch()` on it, with
//! this instance's heartbeat), or in tests a stream that stalls or fails
//! on cue.

use super::{Change, Op, HEARTBEATS};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::{Collection, Database};

/// What the stream brings, each with the token to resume after it.
#[derive(Debug)]
pub enum Event {
    Change(Box<Change>, ResumeToken),
    /// This instance's heartbeat, written at `at` (ms on [`super::Trust`]'s
    /// clock).
    Beat(i64, ResumeToken),
    /// Nothing a follower needs.
    Other(ResumeToken),
    /// The database was dropped: the stream has ended.
    Invalidated,
}

pub type Events = BoxStream<'static, mongodb::error::Result<Event>>;

pub trait Source: Send + Sync + 'static {
    /// Opens the stream with `pipeline`, just after `resume` if the
    /// database can still resume there, else from now; whether it resumed.
    fn open(
        &self,
        pipeline: Vec<Document>,
        resume: Option<ResumeToken>,
    ) -> BoxFuture<'_, mongodb::error::Result<(Events, bool)>>;
    /// A `$match` clause for this instance's heartbeats.
    fn heartbeat(&self) -> Document;
    /// Writes this instance's heartbeat, `at`.
    fn beat(&self, at: i64) -> BoxFuture<'_, mongodb::error::Result<()>>;
}

/// The database's change stream.
pub struct DbSource {
    db: Database,
    heartbeats: Collection<Document>,
    /// This instance, as its heartbeat document's `_id`.
    instance: ObjectId,
}

impl DbSource {
    pub fn new(db: &Database) -> DbSource {
        DbSource {
            db: db.clone(),
            heartbeats: db.collection(HEARTBEATS),
            instance: ObjectId::new(),
        }
    }
}

impl Source for DbSource {
    fn open(
        &self,
        pipeline: Vec<Document>,
        resume: Option<ResumeToken>,
    ) -> BoxFuture<'_, mongodb::error::Result<(Events, bool)>> {
        async move {
            let resumed = resume.is_some();
            let stream = match crate::server::db::watch(&self.db, pipeline.clone(), resume).await {
                Err(e) if resumed => {
                    tracing::warn!(error = %e, "cannot resume the change stream: starting afresh");
                    (crate::server::db::watch(&self.db, pipeline, None).await?, false)
                }
                opened => (opened?, resumed),
            };
            let (stream, resumed) = stream;
            let events: Events = stream.map(|e| e.map(event)).boxed();
            Ok((events, resumed))
        }
        .boxed()
    }

    fn heartbeat(&self) -> Document {
        doc! { "ns.coll": HEARTBEATS, "documentKey._id": self.instance }
    }

    fn beat(&self, at: i64) -> BoxFuture<'_, mongodb::error::Result<()>> {
        async move {
            self.heartbeats
                .update_one(
                    doc! { "_id": self.instance },
                    doc! { "$set": { "at": at, "beatAt": DateTime::now() } },
                )
                .upsert(true)
                .await?;
            Ok(())
        }
        .boxed()
    }
}

/// What one event of the database's stream means here.
fn event(e: ChangeStreamEvent<Document>) -> Event {
    let token = e.id.clone();
    let op = match e.operation_type {
        OperationType::Insert => Op::Insert,
        OperationType::Update => Op::Update,
        OperationType::Replace => Op::Replace,
        OperationType::Delete => Op::Delete,
        OperationType::Drop | OperationType::Rename => Op::Drop,
        OperationType::Invalidate | OperationType::DropDatabase => return Event::Invalidated,
        _ => return Event::Other(token),
    };
    let Some(collection) = e.ns.and_then(|ns| ns.coll) else {
        return Event::Other(token);
    };
    let updated = e.update_description.map(|u| u.updated_fields);
    if collection == HEARTBEATS {
        // The time this heartbeat was written: an update's own value (a
        // looked-up document may already hold a later one).
        let at = match &updated {
            Some(fields) => fields.get_i64("at").ok(),
            None => e.full_document.as_ref().and_then(|d| d.get_i64("at").ok()),
        };
        return at.map_or(Event::Other(token.clone()), |at| Event::Beat(at, token));
    }
    Event::Change(
        Box::new(Change {
            collection,
            op,
            id: e.document_key.and_then(|k| k.get("_id").cloned()),
            document: e.full_document,
            updated,
        }),
        token,
    )
}
