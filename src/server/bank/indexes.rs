//! The indexes the bank's queries rely on (search order, each account's
//! history both ways, a request paid at most once), and the removal of
//! those earlier releases made that no query uses now.

use super::store;
use crate::server::db::drop_old_index;
use mongodb::bson::doc;
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

/// Creates the bank's indexes; idempotent, run at each start.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    let unique = || IndexOptions::builder().unique(true).build();
    let index = |keys, options: Option<IndexOptions>| IndexModel::builder().keys(keys).options(options).build();
    db.collection::<mongodb::bson::Document>(store::USERS)
        .create_indexes([
            index(doc! { "username": 1 }, Some(unique())),
            // Search order is full name, then id: read in index order.
            index(doc! { "nameKey": 1, "_id": 1 }, None),
            index(doc! { "lastKey": 1 }, None),
        ])
        .await?;
    // The first release's name index, without the id (its order among
    // equal names was not the search's).
    drop_old_index(&db.collection(store::USERS), "nameKey_1").await;
    db.collection::<mongodb::bson::Document>(store::ACCOUNTS)
        .create_indexes([index(doc! { "userId": 1 }, Some(unique()))])
        .await?;
    let journal = db.collection::<mongodb::bson::Document>(store::JOURNAL);
    journal
        .create_indexes([
            index(doc! { "from": 1, "_id": -1 }, None),
            index(doc! { "to": 1, "_id": -1 }, None),
        ])
        .await?;
    // The first release also kept (sender, key) unique here; the
    // idempotency record's `_id` is that guard, and a key may be used again
    // once its record has expired.
    drop_old_index(&journal, "from_1_idempotencyKey_1").await;
    // A request is paid by one entry at most, and whether it was paid is
    // read here (sparse: transfers have no `request`; a partial index is
    // not used for `$in` on SecantusDB). Without it a request could be paid
    // twice: no start.
    let once = IndexOptions::builder().unique(true).sparse(true).build();
    journal
        .create_indexes([index(doc! { "request": 1 }, Some(once))])
        .await?;
    db.collection::<mongodb::bson::Document>(crate::server::bank::requests::REQUESTS)
        .create_indexes([
            index(doc! { "from": 1, "_id": -1 }, None),
            index(doc! { "to": 1, "_id": -1 }, None),
        ])
        .await?;
    Ok(())
}
