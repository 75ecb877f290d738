//! Reading and arranging the database under test directly, past the bank:
//! balances in paise, documents, counts, and the audit of the books.

use futures::TryStreamExt;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::Database;
use paisa::server::bank::journal::ISSUER;
use paisa::server::bank::passwords::Passwords;
use paisa::server::bank::Bank;
use std::collections::HashMap;
use std::time::Duration;

/// Sets `user`'s balance, in paise, the way the books allow: the balance is
/// changed as the first release would have left it (no running totals),
/// then brought into the journal by the bank's own migration, which records
/// the difference as an `opening` entry from the issuer.
pub async fn set_balance(db: &Database, user: ObjectId, paise: i64) {
    db.collection::<Document>("accounts")
        .update_one(
            doc! { "userId": user },
            doc! { "$set": { "balance": paise }, "$unset": { "debits": "", "credits": "" } },
        )
        .await
        .unwrap();
    Bank::new(db.client().clone(), db, Passwords::new(1))
        .book_unbooked_accounts()
        .await
        .expect("book the new balance");
}

/// Runs `paisa audit`'s checks over `db` and fails the test, listing every
/// violation, unless the books hold.
pub async fn assert_books_balance(db: &Database) {
    let report = paisa::server::bank::audit::audit(db.client(), db, 0)
        .await
        .expect("the audit runs");
    assert!(
        report.violations.is_empty(),
        "the books do not balance:\n{}",
        report
            .violations
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `user`'s balance in paise.
pub async fn balance(db: &Database, user: ObjectId) -> i64 {
    find(db, "accounts", doc! { "userId": user })
        .await
        .expect("an account")
        .get_i64("balance")
        .expect("an Int64 balance")
}

/// Every user's balance in paise (the issuer's left out).
pub async fn balances(db: &Database) -> HashMap<ObjectId, i64> {
    docs(db, "accounts")
        .await
        .iter()
        .filter(|d| d.get_object_id("userId").ok() != Some(ISSUER))
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
