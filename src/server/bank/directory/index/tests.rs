//! The index's order, prefixes and renames.

use super::*;
use proptest::prelude::*;

fn entry(n: u8, first: &str, last: &str) -> Entry {
    let mut id = [0; 12];
    id[11] = n;
    Entry {
        id: ObjectId::from_bytes(id),
        first_name: first.into(),
        last_name: last.into(),
        username: format!("user{n}@example.com"),
    }
}

/// What the database's search answers: every match, sorted, cut.
fn plain_search(entries: &[Entry], prefix: &str, limit: usize, caller: ObjectId) -> Vec<String> {
    let mut found: Vec<(String, ObjectId)> = entries
        .iter()
        .filter(|e| e.id != caller)
        .map(|e| (name_key(&e.first_name, &e.last_name), e.id, e.last_name.to_lowercase()))
        .filter(|(key, _, last)| key.starts_with(prefix) || last.starts_with(prefix))
        .map(|(key, id, _)| (key, id))
        .collect();
    found.sort();
    found.into_iter().take(limit).map(|(_, id)| id.to_hex()).collect()
}

fn ids(found: &[UserSummary]) -> Vec<String> {
    found.iter().map(|u| u.id.clone()).collect()
}

#[test]
fn finds_by_first_last_and_full_name_in_full_name_order() {
    let people = [
        entry(1, "Asha", "Rao"),
        entry(2, "Ravi", "Kumar"),
        entry(3, "Ramesh", "Asher"),
        entry(4, "asha", "Bose"),
    ];
    let index = Index::build(people.clone()).unwrap();
    let nobody = ObjectId::from_bytes([9; 12]);
    let names = |prefix: &str| -> Vec<String> {
        index
            .search(prefix, 20, nobody)
            .into_iter()
            .map(|u| format!("{} {}", u.first_name, u.last_name))
            .collect()
    };
    assert_eq!(names("as"), ["asha Bose", "Asha Rao", "Ramesh Asher"]);
    assert_eq!(names("asha r"), ["Asha Rao"]);
    assert_eq!(names("ra"), ["Asha Rao", "Ramesh Asher", "Ravi Kumar"]);
    assert!(names("z").is_empty());
    assert_eq!(names("").len(), 4);
    let asha = index.search("asha r", 20, nobody).remove(0);
    assert_eq!(asha.hint, "u•••@example.com");
    // The caller is never among the results.
    assert_eq!(ids(&index.search("asha", 20, people[0].id)), [people[3].id.to_hex()]);
}

#[test]
fn a_rename_moves_a_person_and_a_local_sign_up_does_not_undo_it() {
    let mut index = Index::build([entry(1, "Asha", "Rao")]).unwrap();
    let nobody = ObjectId::from_bytes([9; 12]);
    index.upsert(&entry(1, "Uma", "Iyer"), false).unwrap();
    assert!(index.search("asha", 20, nobody).is_empty());
    assert_eq!(index.search("iy", 20, nobody)[0].first_name, "Uma");
    index.upsert(&entry(1, "Asha", "Rao"), true).unwrap();
    assert!(
        index.search("asha", 20, nobody).is_empty(),
        "the sign-up did not undo the rename"
    );
    assert_eq!(index.search("uma", 20, nobody)[0].first_name, "Uma");
    assert_eq!(index.len(), 1);
}

#[test]
fn an_email_without_a_domain_has_no_hint() {
    let mut odd = entry(1, "Asha", "Rao");
    odd.username = "asha".into();
    let index = Index::build([odd]).unwrap();
    assert_eq!(index.search("a", 20, ObjectId::from_bytes([9; 12]))[0].hint, "");
}

proptest! {
    /// Whatever the names, changes and prefix: exactly the answer of a
    /// plain sort of every match.
    #[test]
    fn answers_as_a_plain_sort_would(
        names in proptest::collection::vec((0u8..40, "[aAbBσΣ]{1,3}", "[abΣ ]{1,3}"), 1..60),
        renames in proptest::collection::vec((0u8..40, "[abB]{1,3}", "[aΣb]{1,3}"), 0..20),
        prefix in "[abσ ]{0,3}",
        limit in 1usize..6,
        caller in 0u8..40,
    ) {
        let mut entries: Vec<Entry> = names.iter().map(|(n, f, l)| entry(*n, f, l)).collect();
        let mut index = Index::build(entries.clone()).unwrap();
        let mut latest: HashMap<ObjectId, Entry> = entries.drain(..).map(|e| (e.id, e)).collect();
        for (n, f, l) in renames {
            let e = entry(n, &f, &l);
            index.upsert(&e, false).unwrap();
            latest.insert(e.id, e);
        }
        let all: Vec<Entry> = latest.into_values().collect();
        let caller = entry(caller, "", "").id;
        prop_assert_eq!(index.len(), all.len());
        prop_assert_eq!(ids(&index.search(&prefix, limit, caller)), plain_search(&all, &prefix, limit, caller));
    }
}
