//! Live listeners through the faults: each keeps a stream
//! (`/api/v1/events`) open the way a browser's EventSource does. When its
//! stream drops (its instance was killed) it reconnects, to the other
//! instance, with the `Last-Event-ID` of the last event it got. Proves that
//! at the end each has received every entry of its account exactly once,
//! and no other, the last with the account's final balance: across the
//! instance kill and the database outage.

use crate::money_stays_exact::Books;
use mongodb::bson::oid::ObjectId;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What one listener saw.
#[derive(Debug, Default)]
pub struct Heard {
    pub user: ObjectId,
    /// Entry ids in arrival order, with the balance (rupees) after each.
    pub events: Vec<(String, f64)>,
    pub reconnects: u32,
    /// Answers other than a stream, by kind ("503", "connect", ...).
    pub refusals: Vec<String>,
}

pub struct Listeners {
    tasks: Vec<tokio::task::JoinHandle<Heard>>,
    stop: watch::Sender<bool>,
    connected: Arc<AtomicUsize>,
}

impl Listeners {
    /// One listener per (user, token), spread over the two instances.
    pub fn start(bases: [String; 2], users: Vec<(ObjectId, String)>) -> Listeners {
        let stop = watch::Sender::new(false);
        let connected = Arc::new(AtomicUsize::new(0));
        let tasks = users
            .into_iter()
            .enumerate()
            .map(|(i, (user, token))| {
                let (bases, stop, connected) = (bases.clone(), stop.subscribe(), connected.clone());
                tokio::spawn(listen(bases, i % 2, user, token, stop, connected))
            })
            .collect();
        Listeners { tasks, stop, connected }
    }

    /// Waits until every listener has had its first stream open.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.connected.load(Ordering::Acquire) < self.tasks.len() {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    pub async fn stop(self) -> Vec<Heard> {
        self.stop.send_replace(true);
        let mut heard = Vec::new();
        for task in self.tasks {
            heard.push(task.await.expect("a listener panicked"));
        }
        heard
    }
}

async fn listen(
    bases: [String; 2],
    mut instance: usize,
    user: ObjectId,
    token: String,
    mut stop: watch::Receiver<bool>,
    connected: Arc<AtomicUsize>,
) -> Heard {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut heard = Heard {
        user,
        ..Heard::default()
    };
    let mut first = true;
    while !*stop.borrow() {
        let mut request = http
            .get(format!("{}/api/v1/events", bases[instance]))
            .bearer_auth(&token);
        if let Some((last, _)) = heard.events.last() {
            request = request.header("last-event-id", last);
        }
        match request.send().await {
            Ok(response) if response.status() == 200 => {
                if std::mem::take(&mut first) {
                    connected.fetch_add(1, Ordering::AcqRel);
                }
                read(response, &mut heard, &mut stop).await;
            }
            Ok(response) => heard.refusals.push(response.status().as_u16().to_string()),
            Err(e) => heard
                .refusals
                .push(if e.is_connect() { "connect" } else { "error" }.into()),
        }
        if *stop.borrow() {
            break;
        }
        heard.reconnects += 1;
        instance = 1 - instance;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    heard
}

/// Reads one stream until it ends or the listener is stopped.
async fn read(mut response: reqwest::Response, heard: &mut Heard, stop: &mut watch::Receiver<bool>) {
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Ok(Some(chunk)) = chunk else { return };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
            };
            if field("event:").as_deref() != Some("transfer") {
                continue;
            }
            let (Some(id), Some(data)) = (field("id:"), field("data:")) else {
                continue;
            };
            let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
            heard.events.push((id, data["balance"].as_f64().unwrap_or(f64::NAN)));
        }
    }
}

/// Every listener's failures: what it `heard` against the ledger's entries
/// of its account and its final balance, from `books`.
pub fn check_all(heard: &[Heard], books: &Books) -> Vec<String> {
    let mut failures = Vec::new();
    for h in heard {
        let entries: HashSet<String> = books
            .ledger
            .iter()
            .filter(|e| e.get_object_id("from") == Ok(h.user) || e.get_object_id("to") == Ok(h.user))
            .filter_map(|e| e.get_object_id("_id").ok().map(|id| id.to_hex()))
            .collect();
        failures.extend(check(h, &entries, books.finals.get(&h.user).copied().unwrap_or(0)));
    }
    failures
}

/// What is wrong with what `heard` got, given the ids of every entry of its
/// account and its final balance (paise).
fn check(heard: &Heard, entries: &HashSet<String>, final_paise: i64) -> Vec<String> {
    let mut wrong = Vec::new();
    let got: Vec<&String> = heard.events.iter().map(|(id, _)| id).collect();
    let unique: HashSet<&String> = got.iter().copied().collect();
    if unique.len() != got.len() {
        wrong.push(format!(
            "{}: {} events, {} distinct: duplicates",
            heard.user,
            got.len(),
            unique.len()
        ));
    }
    let missing: Vec<&String> = entries.iter().filter(|id| !unique.contains(id)).take(5).collect();
    let extra: Vec<&&String> = unique.iter().filter(|id| !entries.contains(**id)).take(5).collect();
    if !missing.is_empty() || !extra.is_empty() {
        wrong.push(format!(
            "{}: {} entries, {} heard; missing {missing:?}, not its entries {extra:?}",
            heard.user,
            entries.len(),
            unique.len()
        ));
    }
    if let Some((id, balance)) = heard.events.last() {
        if (balance * 100.0).round() as i64 != final_paise {
            wrong.push(format!(
                "{}: last event {id} says balance {balance}, the account holds {final_paise} paise",
                heard.user
            ));
        }
    }
    wrong
}
