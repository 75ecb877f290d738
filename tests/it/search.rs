//! Search from memory (the directory, kept by a change stream on the users)
//! answers exactly as the database does, learns of sign-ups and renames on
//! any instance within a second, and steps aside when it cannot be kept.

use crate::common::TestEnv;
use paisa::server::bank::{Bank, ProfileUpdate, SignUp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// Waits until `bank` answers searches from memory.
async fn until_in_memory(bank: &Bank) {
    let began = Instant::now();
    while !bank.searches_from_memory() {
        assert!(began.elapsed() < 10 * SECOND, "the directory never loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn names(found: Vec<paisa::model::UserSummary>) -> Vec<String> {
    found
        .into_iter()
        .map(|u| format!("{} {} {} {}", u.id, u.first_name, u.last_name, u.hint))
        .collect()
}

#[tokio::test]
async fn memory_and_the_database_give_the_same_answers() {
    let env = TestEnv::new().await;
    until_in_memory(env.bank()).await;
    // Few names, many people: ties by full name, shared prefixes, case,
    // letters beyond ASCII (a lower-cased Σ depends on its place).
    let first = ["Asha", "asha", "Ashok", "Ravi", "RAVINA", "Σωκράτης", "Émile", "Ra"];
    let last = ["Rao", "Rai", "Asharaf", "Kumar", "ΟΔΥΣΣΕΥΣ", "Kumaran", "émond"];
    let mut rng = StdRng::seed_from_u64(7);
    let people: Vec<(&str, &str)> = (0..120)
        .map(|_| (first[rng.gen_range(0..first.len())], last[rng.gen_range(0..last.len())]))
        .collect();
    let ids = env.users(people).await;
    // The database alone: an instance that keeps no names in memory.
    let database = env.other_instance_state_with(|state| state.bank = state.bank.clone().with_directory_max_users(0));
    let database = &database.bank;
    assert!(!database.searches_from_memory());
    assert!(env.bank().searches_from_memory());
    let mut prefixes: Vec<String> = vec![
        String::new(),
        "zz".into(),
        "asha r".into(),
        "ravi k".into(),
        " a".into(),
    ];
    for name in first.iter().chain(&last) {
        let lower = name.to_lowercase();
        for n in 1..=3 {
            prefixes.push(lower.chars().take(n).collect());
            prefixes.push(name.chars().take(n).collect());
        }
    }
    for prefix in &prefixes {
        for (caller, limit) in [(ids[0], 20), (ids[1], 5), (ids[2], 1)] {
            assert_eq!(
                names(env.bank().search(caller, prefix, limit).await.unwrap()),
                names(database.search(caller, prefix, limit).await.unwrap()),
                "{prefix:?} limit {limit}"
            );
        }
    }
}

#[tokio::test]
async fn a_sign_up_or_rename_on_one_instance_is_found_on_another_within_a_second() {
    let env = TestEnv::new().await;
    let me = env.user("Me", "Self").await;
    let other = env.other_instance_state();
    until_in_memory(env.bank()).await;
    until_in_memory(&other.bank).await;
    let found_on_other = |prefix: &'static str| {
        let bank = other.bank.clone();
        async move { names(bank.search(me, prefix, 20).await.unwrap()) }
    };

    let began = Instant::now();
    let zoya = env
        .bank()
        .sign_up(SignUp {
            username: "zoya.q@example.com".into(),
            first_name: "Zoya".into(),
            last_name: "Qureshi".into(),
            password: "a long enough password".into(),
        })
        .await
        .unwrap();
    // Here at once, there within a second.
    assert_eq!(names(env.bank().search(me, "zoya", 20).await.unwrap()).len(), 1);
    while found_on_other("qur").await.is_empty() {
        assert!(
            began.elapsed() < SECOND,
            "not found on the other instance within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(other.bank.searches_from_memory());
    assert_eq!(
        found_on_other("zoya q").await,
        [format!("{} Zoya Qureshi z•••@example.com", zoya.to_hex())]
    );

    let began = Instant::now();
    let rename = ProfileUpdate {
        last_name: Some("Khan".into()),
        ..ProfileUpdate::default()
    };
    env.bank().update_profile(zoya, rename).await.unwrap();
    while !found_on_other("qur").await.is_empty() {
        assert!(
            began.elapsed() < SECOND,
            "the rename did not reach the other instance within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        found_on_other("kha").await,
        [format!("{} Zoya Khan z•••@example.com", zoya.to_hex())]
    );
    assert_eq!(found_on_other("zoya k").await.len(), 1);
}

#[tokio::test]
async fn with_more_users_than_it_may_hold_search_asks_the_database() {
    let env = TestEnv::new().await;
    let me = env.user("Me", "Self").await;
    env.users([("Asha", "Rao"), ("Ravi", "Kumar")]).await;
    let small = env.other_instance_state_with(|state| state.bank = state.bank.clone().with_directory_max_users(2));
    let small = &small.bank;
    tokio::time::sleep(SECOND).await;
    assert!(!small.searches_from_memory());
    let found = small.search(me, "ra", 20).await.unwrap();
    assert_eq!(
        found.iter().map(|u| u.full_name()).collect::<Vec<_>>(),
        ["Asha Rao", "Ravi Kumar"]
    );
    // Sign-ups after it gave up are found too.
    env.user("Rahul", "Das").await;
    assert_eq!(small.search(me, "rahul", 20).await.unwrap().len(), 1);
}
