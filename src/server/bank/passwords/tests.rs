//! Argon2 under load: standard hashes, bounded work, cancellation.

use super::*;

#[tokio::test]
async fn password_hashes_are_standard_argon2id_phc_strings() {
    use argon2::password_hash::PasswordVerifier;
    let passwords = Passwords::new(2);
    let ours = passwords.hash("correct horse battery".into()).await.unwrap();
    assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
    // The stock verifier accepts ours, and ours accepts the stock hasher's.
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(Argon2::default()
        .verify_password(b"correct horse battery", &parsed)
        .is_ok());
    assert!(Argon2::default()
        .verify_password(b"correct horse batterY", &parsed)
        .is_err());
    let salt = SaltString::generate(&mut OsRng);
    let stock = Argon2::default()
        .hash_password(b"open sesame 123", &salt)
        .unwrap()
        .to_string();
    // Several times, so the reused memories are exercised too.
    for _ in 0..3 {
        assert!(passwords
            .verify("open sesame 123".into(), Some(stock.clone()))
            .await
            .unwrap());
        assert!(!passwords
            .verify("open sesame 124".into(), Some(stock.clone()))
            .await
            .unwrap());
        assert!(passwords
            .verify("correct horse battery".into(), Some(ours.clone()))
            .await
            .unwrap());
    }
    // No stored hash: never a match, however the password looks.
    assert!(!passwords
        .verify("not a real password, never matches".into(), None)
        .await
        .unwrap());
    assert!(passwords.memories.lock().unwrap().len() <= 2);
}

use futures::FutureExt;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// Waits until every call has let go of its place (every hash, cancelled
/// or not, has finished).
async fn settle(passwords: &Passwords, places: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while passwords.places.available_permits() < places {
        assert!(Instant::now() < deadline, "hashes still running after 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_with_cancellations_never_runs_more_hashes_than_permits() {
    let passwords = Passwords::new(2);
    let places = 2 + 2 * WAITERS_PER_PERMIT;
    let stored = passwords.hash("correct horse battery".into()).await.unwrap();
    let (mut done, mut cancelled, mut busy) = (0, 0, 0);
    for wave in 0..4u64 {
        // 6 more at once than there are places: 6 busy, and of those
        // let in, two in three are cancelled (dropped) after a few
        // milliseconds, some still waiting for a permit, some mid-hash.
        let calls = (0..places as u64 + 6).map(|i| {
            let passwords = passwords.clone();
            let stored = stored.clone();
            async move {
                let call = async {
                    if i % 4 == 1 {
                        passwords.hash("another password".into()).await.map(|_| true)
                    } else {
                        passwords.verify("correct horse battery".into(), Some(stored)).await
                    }
                };
                match i % 3 {
                    0 => Some(call.await),
                    n => tokio::time::timeout(Duration::from_millis(n * (wave + 1) * 3), call)
                        .await
                        .ok(),
                }
            }
        });
        for outcome in futures::future::join_all(calls).await {
            match outcome {
                None => cancelled += 1,
                Some(Ok(_)) => done += 1,
                Some(Err(BankError::Busy(_))) => busy += 1,
                Some(Err(e)) => panic!("unexpected error: {e}"),
            }
        }
    }
    settle(&passwords, places).await;
    assert!(done > 0 && cancelled > 0, "done {done}, cancelled {cancelled}");
    // At least the 6 past the 10 places in each wave (more when a
    // cancelled hash of the previous wave still holds its place).
    assert!(busy >= 4 * 6, "busy {busy}");
    let most = passwords.probe.most_running.load(SeqCst);
    assert!((1..=2).contains(&most), "{most} hashes ran at once with 2 permits");
    assert!(passwords.probe.most_kept.load(SeqCst) <= 2);
    assert!(lock(&passwords.memories).len() <= 2);
    assert_eq!(passwords.permits.available_permits(), 2);
}

#[tokio::test]
async fn a_cancelled_hash_keeps_its_permit_until_it_finishes() {
    let passwords = Passwords::new(1);
    let call = tokio::spawn({
        let passwords = passwords.clone();
        async move { passwords.hash("correct horse battery".into()).await }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while passwords.probe.running.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the hash never started");
        tokio::task::yield_now().await;
    }
    // The request is cancelled mid-hash: its future is dropped.
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // The permit comes back only once the hash is done (read in this
    // order: the hash stops running before its permit is released).
    let free = passwords.permits.available_permits();
    let running = passwords.probe.running.load(SeqCst);
    assert!(free == 0 || running == 0, "permit released while the hash runs");
    settle(&passwords, 1 + WAITERS_PER_PERMIT).await;
    assert_eq!(passwords.permits.available_permits(), 1);
    // Its working memory was given back, not lost with the caller.
    assert_eq!(lock(&passwords.memories).len(), 1);
    assert_eq!(passwords.probe.most_running.load(SeqCst), 1);
}

#[tokio::test]
async fn a_full_queue_is_busy_at_once() {
    let passwords = Passwords::new(1);
    let places = 1 + WAITERS_PER_PERMIT;
    // No hash can start while the test holds the one permit.
    let hold = passwords.permits.clone().acquire_owned().await.unwrap();
    let waiting: Vec<_> = (0..places)
        .map(|_| {
            let passwords = passwords.clone();
            tokio::spawn(async move { passwords.verify("whatever it is".into(), None).await })
        })
        .collect();
    while passwords.places.available_permits() > 0 {
        tokio::task::yield_now().await;
    }
    // Full: refused on the first poll, without waiting.
    assert!(matches!(
        passwords.verify("whatever it is".into(), None).now_or_never(),
        Some(Err(BankError::Busy(_)))
    ));
    assert!(matches!(
        passwords.hash("whatever it is".into()).now_or_never(),
        Some(Err(BankError::Busy(_)))
    ));
    // A waiter that gives up frees its place for the next caller.
    waiting[0].abort();
    while passwords.places.available_permits() == 0 {
        tokio::task::yield_now().await;
    }
    let next = tokio::spawn({
        let passwords = passwords.clone();
        async move { passwords.verify("whatever it is".into(), None).await }
    });
    drop(hold);
    for call in waiting.into_iter().skip(1).chain([next]) {
        assert!(!call.await.unwrap().unwrap(), "no stored hash never matches");
    }
    settle(&passwords, places).await;
    assert_eq!(passwords.probe.most_running.load(SeqCst), 1);
    assert_eq!(lock(&passwords.memories).len(), 1);
}
