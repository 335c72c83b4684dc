//! The Redis Streams bus: every instance appends its events to one bounded
//! stream (`XADD … MAXLEN ~ n`) and one reader task per instance follows it with
//! plain `XREAD` (no consumer groups: every instance needs every event). An
//! instance's own events reach its subscribers through that reader too, so
//! each is delivered once and in stream order; the entry id is the event id.
//!
//! Entry fields: `c` campaign, `k` kind, `d` data (JSON), `a` audience (`*` or
//! a session id), `t` publish time (Unix milliseconds).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Audience, Envelope, Event, EventBus, EventId, Hub, Since};
use crate::tasks::Tasks;
use crate::telemetry::Histogram;

/// How long one `XREAD` blocks before it is issued again.
const BLOCK: Duration = Duration::from_secs(1);
/// Most entries one `XREAD` returns.
const READ_BATCH: usize = 512;

/// The Redis Streams event bus.
pub struct RedisBus {
    hub: Hub,
    client: redis::Client,
    conn: ConnectionManager,
    key: String,
    max_len: usize,
    /// Where the reader starts: the stream's end when the bus connected, so
    /// that nothing published after `connect` returns is missed.
    start: EventId,
}

fn envelope_of(entry: &StreamId) -> Option<Envelope> {
    let id = entry.id.parse().ok()?;
    let campaign: String = entry.get("c")?;
    let kind: String = entry.get("k")?;
    let data: String = entry.get("d")?;
    let audience: String = entry.get("a")?;
    // Publish time in microseconds ("u"); entries of older versions carry milliseconds ("t").
    let published_at = match entry.get::<i64>("u") {
        Some(micros) => Utc.timestamp_micros(micros).single()?,
        None => Utc.timestamp_millis_opt(entry.get("t")?).single()?,
    };
    let audience = match audience.as_str() {
        "*" => Audience::Everyone,
        session => Audience::Session(session.parse().ok()?),
    };
    Some(Envelope {
        id,
        campaign,
        event: Event {
            kind,
            data: serde_json::from_str(&data).ok()?,
            audience,
        },
        published_at,
        frame: Default::default(),
    })
}

/// What `XINFO STREAM` says of where the stream starts and ends.
struct StreamBounds {
    first: Option<EventId>,
    last: EventId,
    trimmed: bool,
}

impl RedisBus {
    /// Connects to Redis; events go to the stream `<prefix>:events`, bounded to
    /// about `history` entries; subscribers buffer `buffer` events each.
    pub async fn connect(
        client: redis::Client,
        prefix: &str,
        history: usize,
        buffer: usize,
    ) -> anyhow::Result<Self> {
        let conn = ConnectionManager::new(client.clone())
            .await
            .context("cannot reach Redis (REDIS_URL)")?;
        let mut bus = Self {
            hub: Hub::new(buffer),
            client,
            conn,
            key: format!("{prefix}:events"),
            max_len: history.max(1),
            start: EventId::default(),
        };
        bus.start = bus.head().await?;
        Ok(bus)
    }

    async fn bounds(&self) -> anyhow::Result<Option<StreamBounds>> {
        let mut conn = self.conn.clone();
        let info: redis::RedisResult<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async(&mut conn)
            .await;
        let info = match info {
            Ok(info) => info,
            Err(e) if e.to_string().contains("no such key") => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let text = |name: &str| -> Option<String> {
            info.get(name)
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        };
        let number = |name: &str| -> Option<u64> {
            info.get(name)
                .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok())
        };
        let last = text("last-generated-id")
            .and_then(|s| s.parse().ok())
            .context("XINFO STREAM: last-generated-id")?;
        let first = text("recorded-first-entry-id").and_then(|s| s.parse().ok());
        let trimmed = number("entries-added") > number("length");
        Ok(Some(StreamBounds {
            first,
            last,
            trimmed,
        }))
    }

    /// Follows the stream from its current end, delivering to local
    /// subscribers; reconnects (and resumes where it was) after failures.
    async fn read_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut position = self.start;
        loop {
            if let Err(e) = self.read_impl(&mut position, &shutdown).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "event stream reader failed; reconnecting"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    async fn read_impl(
        &self,
        position: &mut EventId,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut from = *position;
        loop {
            let mut xread = redis::cmd("XREAD");
            xread
                .arg("COUNT")
                .arg(READ_BATCH)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(from.to_string());
            let read = xread.query_async::<Option<StreamReadReply>>(&mut conn);
            let reply = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                reply = read => reply?,
            };
            for entry in reply.iter().flat_map(|r| &r.keys).flat_map(|k| &k.ids) {
                match envelope_of(entry) {
                    Some(envelope) => {
                        from = envelope.id;
                        self.hub.deliver(Arc::new(envelope));
                    }
                    None => {
                        tracing::warn!(id = %entry.id, "unreadable event stream entry skipped");
                        if let Ok(id) = entry.id.parse() {
                            from = id;
                        }
                    }
                }
            }
            *position = from;
        }
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<EventId> {
        let audience = match event.audience {
            Audience::Everyone => "*".to_owned(),
            Audience::Session(id) => id.to_string(),
        };
        let mut conn = self.conn.clone();
        let id: String = redis::cmd("XADD")
            .arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("c")
            .arg(campaign)
            .arg("k")
            .arg(&event.kind)
            .arg("d")
            .arg(event.data.to_string())
            .arg("a")
            .arg(audience)
            .arg("u")
            .arg(Utc::now().timestamp_micros())
            .query_async(&mut conn)
            .await
            .context("XADD")?;
        id.parse()
            .map_err(|()| anyhow::anyhow!("Redis returned an odd stream id {id:?}"))
    }

    fn subscribe(&self, campaign: &str) -> broadcast::Receiver<Arc<Envelope>> {
        self.hub.subscribe(campaign)
    }

    async fn head(&self) -> anyhow::Result<EventId> {
        Ok(self
            .bounds()
            .await?
            .map_or_else(EventId::default, |b| b.last))
    }

    async fn since(&self, campaign: &str, after: EventId, limit: usize) -> anyhow::Result<Since> {
        let Some(bounds) = self.bounds().await? else {
            return Ok(if after == EventId::default() {
                Since::Events(Vec::new())
            } else {
                Since::Gap
            });
        };
        // Complete after `after` unless entries newer than it were trimmed away.
        let complete = !bounds.trimmed || bounds.first.is_some_and(|first| after >= first);
        if after > bounds.last || !complete {
            return Ok(Since::Gap);
        }
        let mut conn = self.conn.clone();
        let range: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .context("XRANGE")?;
        if range.ids.len() > limit {
            return Ok(Since::Gap);
        }
        Ok(Since::Events(
            range
                .ids
                .iter()
                .filter_map(envelope_of)
                .filter(|e| e.campaign == campaign)
                .map(Arc::new)
                .collect(),
        ))
    }

    fn delivery_lag(&self) -> &Histogram {
        &self.hub.lag
    }

    fn start(self: Arc<Self>, tasks: &Tasks) {
        tasks.spawn("event bus reader", self.read_loop(tasks.shutdown().clone()));
    }
}
