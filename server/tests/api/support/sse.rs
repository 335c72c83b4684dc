//! An event-stream client that reads as a browser's `EventSource` would.

use reqwest::StatusCode;
use serde_json::Value;

use super::app::read;

/// One Server-Sent Event as a client parses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SseEvent {
    /// `id:` field.
    pub(crate) id: Option<String>,
    /// `event:` field.
    pub(crate) event: String,
    /// `data:` lines, joined.
    pub(crate) data: String,
    /// `retry:` field.
    pub(crate) retry: Option<u64>,
}

impl SseEvent {
    /// The data as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data of {self:?} is JSON: {e}"))
    }

    /// The data as a roster (`roster` and `members` events: base64 of one).
    pub(crate) fn roster(&self) -> protocol::Roster {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .expect("base64");
        protocol::decode_roster(&bytes).expect("a roster")
    }
}

/// An event-stream client reading as a browser's EventSource would.
pub(crate) struct SseClient {
    /// The response status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: reqwest::header::HeaderMap,
    /// The last `retry:` the server sent, in milliseconds.
    pub(crate) retry: Option<u64>,
    /// The error body when the stream was refused.
    pub(crate) error: Value,
    body: Option<
        std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    >,
    buffer: String,
    /// Heartbeat comments seen.
    pub(crate) comments: usize,
}

impl SseClient {
    /// Opens `url`, sending `Last-Event-ID` when given.
    pub(crate) async fn open(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = client.get(url);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        Self::send(request).await
    }

    /// Sends `request` for an event stream and reads its answer.
    pub(crate) async fn send(request: reqwest::RequestBuilder) -> Self {
        let response = request
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("stream request sent");
        let status = response.status();
        let headers = response.headers().clone();
        if status != StatusCode::OK {
            let error = read(response).await.body;
            return Self {
                status,
                headers,
                retry: None,
                error,
                body: None,
                buffer: String::new(),
                comments: 0,
            };
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            status,
            headers,
            retry: None,
            error: Value::Null,
            body: Some(Box::pin(response.bytes_stream())),
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event within `wait`; `None` on timeout or when the stream ended.
    pub(crate) async fn next_within(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut data = Vec::new();
                let mut fields = 0;
                for line in block.lines() {
                    if line.is_empty() || line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    fields += 1;
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = value.to_owned(),
                        "data" => data.push(value.to_owned()),
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                if fields == 0 {
                    self.comments += 1;
                    continue;
                }
                if let Some(retry) = event.retry {
                    self.retry = Some(retry);
                }
                if data.is_empty() {
                    continue; // no data: nothing is dispatched (as in a browser)
                }
                event.data = data.join("\n");
                return Some(event);
            }
            let body = self.body.as_mut()?;
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Some(Err(_)) | None) => {
                    self.body = None;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Whether the stream ends within `wait` (what it sends before is
    /// skipped).
    pub(crate) async fn ends_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while self.body.is_some() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = self.next_within(left).await;
        }
        self.body.is_none()
    }

    /// The next event, which must come within 5 s.
    pub(crate) async fn next(&mut self) -> SseEvent {
        self.next_within(std::time::Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Skips events until one of `kind` (within 10 s).
    pub(crate) async fn next_of(&mut self, kind: &str) -> SseEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(event) if event.event == kind => return event,
                Some(_) => {}
                None => panic!("no {kind} event within 10 s"),
            }
        }
    }

    /// Waits for a `presence` event with this count (within 15 s).
    pub(crate) async fn presence_reaches(&mut self, active: u64) -> SseEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(event) if event.event == "presence" && event.json()["active"] == active => {
                    return event;
                }
                Some(_) => {}
                None => panic!("presence never reached {active} within 15 s"),
            }
        }
    }
}
