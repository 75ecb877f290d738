//! A client of the live stream (`/api/v1/events`): opens it as a browser's
//! `EventSource` would and reads its events one by one.

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// One event as the stream wrote it.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

pub struct EventStream {
    response: Response,
    buffer: String,
    ended: bool,
}

/// Opens `base`'s stream with `token` (and a `Last-Event-ID`); a refusal
/// comes back as its status and body.
pub async fn open(
    base: &str,
    token: Option<&str>,
    last_event_id: Option<&str>,
) -> Result<EventStream, (StatusCode, Value)> {
    let mut request = Client::new()
        .get(format!("{base}/api/v1/events"))
        .header("accept", "text/event-stream");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("the events request is answered");
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        return Err((status, body));
    }
    Ok(from_response(response))
}

/// Reads an answered stream.
pub fn from_response(response: Response) -> EventStream {
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/event-stream"), "content type {kind}");
    EventStream {
        response,
        buffer: String::new(),
        ended: false,
    }
}

impl EventStream {
    /// The next event (comments skipped), if one comes within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                Ok(_) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// The next `n` events, each within `within` of the one before.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while events.len() < n {
            match self.next(within).await {
                Some(event) => events.push(event),
                None => panic!("{} of {n} events came: {events:#?}", events.len()),
            }
        }
        events
    }

    /// Whether the server ends the stream within `within` (events before
    /// the end are dropped).
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => {}
                Ok(_) => self.ended = true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Parses one whole event out of the buffer, skipping comment-only blocks.
    fn parse_one(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event = value.to_owned(),
                    "id" => id = Some(value.to_owned()),
                    "data" => data.push_str(value),
                    _ => {}
                }
            }
            if !data.is_empty() {
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(SseEvent { event, id, data });
            }
        }
    }
}
