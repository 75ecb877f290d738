//! Reading and arranging the database under test directly, past the bank:
//! balances in paise, documents, counts.

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::Database;
use std::collections::HashMap;
use std::time::Duration;

/// Sets `user`'s balance, in paise (an Int64, as the bank stores it).
pub async fn set_balance(db: &Database, user: ObjectId, paise: i64) {
    db.collection::<Document>("accounts")
        .update_one(doc! { "userId": user }, doc! { "$set": { "balance": paise } })
        .await
        .unwrap();
}

/// `user`'s balance in paise.
pub async fn balance(db: &Database, user: ObjectId) -> i64 {
    find(db, "accounts", doc! { "userId": user })
        .await
        .expect("an account")
        .get_i64("balance")
        .expect("an Int64 balance")
}

/// Every account's balance in paise, by user.
pub async fn balances(db: &Database) -> HashMap<ObjectId, i64> {
    docs(db, "accounts")
        .await
        .iter()
        .map(|d| {
            (
                d.get_object_id("userId").expect("userId"),
                d.get_i64("balance").expect("an Int64 balance"),
            )
        })
        .collect()
}

/// How many documents of `collection` match `filter`.
pub async fn count(db: &Database, collection: &str, filter: Document) -> u64 {
    db.collection::<Document>(collection)
        .count_documents(filter)
        .await
        .unwrap()
}

/// The first document of `collection` that matches `filter`, if any.
pub async fn find(db: &Database, collection: &str, filter: Document) -> Option<Document> {
    db.collection::<Document>(collection).find_one(filter).await.unwrap()
}

/// Every document of `collection`. A read that fails (the database is being
/// restarted, in the fault suite) is tried again for up to ten seconds.
pub async fn docs(db: &Database, collection: &str) -> Vec<Document> {
    let mut attempt = 0;
    loop {
        let found = async {
            db.collection::<Document>(collection)
                .find(doc! {})
                .await?
                .try_collect::<Vec<Document>>()
                .await
        }
        .await;
        match found {
            Ok(docs) => return docs,
            Err(e) if attempt < 20 => {
                attempt += 1;
                eprintln!("reading {collection}: {e}; again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("reading {collection}: {e}"),
        }
    }
}
