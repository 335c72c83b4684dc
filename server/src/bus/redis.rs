//! The Redis Streams bus: every instance appends its events to one bounded
//! stream (`XADD … MAXLEN ~ n`) and one reader task per instance follows it with
//! plain `XREAD` (no consumer groups: every instance needs every event). An
//! instance's own events reach its subscribers through that reader too, so
//! each is delivered once and in stream order; the entry id is the event id.
//!
//! Entry fields: `c` campaign, `k` kind, `d` data (JSON), `a` audience (`*` or
//! a session id), `u` publish time (Unix microseconds), `o` the publishing
//! instance and `n` its sequence number for the event.
//!
//! **When Redis does not answer**, a publish never waits more than
//! [`PUBLISH_DEADLINE`]: the event goes to this instance's visitors at once
//! (under an id just after the last stream entry they had, see [`EventId`])
//! and to Redis as soon as it answers, from a bounded queue, in order. When
//! the reader later meets that entry it skips it, so each event reaches each
//! local stream exactly once. Other instances' events of the outage arrive
//! when the reader reconnects (jittered backoff); if the stream was trimmed
//! past what the reader had, or an instance's queue overflowed (its events
//! never reached Redis: it writes a gap marker once it can), the streams that
//! missed events get `reset` with a fresh snapshot — never silent loss, and
//! no reset for a blip that lost nothing. History (`since`) and `head` do not
//! wait on Redis either: while it is away a resuming client gets `reset`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Audience, Envelope, Event, EventBus, EventId, Hub, Since};
use crate::tasks::Tasks;
use crate::telemetry::Histogram;

/// How long one `XREAD` blocks before it is issued again.
const BLOCK: Duration = Duration::from_secs(1);
/// Most entries one `XREAD` returns.
const READ_BATCH: usize = 512;
/// Longest a publish waits for Redis before its event goes to this
/// instance's visitors without it.
const PUBLISH_DEADLINE: Duration = Duration::from_millis(200);
/// Events waiting for Redis at most; more are delivered here only, and the
/// other instances' streams of their campaigns get `reset`.
const PUBLISH_QUEUE: usize = 10_000;
/// Most queued events sent in one round trip.
const SEND_BATCH: usize = 256;
/// Longest `since` and `head` wait for Redis.
const HISTORY_DEADLINE: Duration = Duration::from_millis(500);
/// Sequence numbers of events delivered here first, remembered to keep them
/// out of replays.
const LOCAL_MEMORY: usize = 10_000;
/// The kind of a gap marker: an instance's events of a campaign never
/// reached the stream.
const GAP: &str = "\u{0}gap";

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
    /// This instance, in the `o` field of its entries.
    instance: String,
    /// The next `n` of this instance's events.
    next_n: AtomicU64,
    /// What was last handed to this instance's subscribers, and this
    /// instance's own events on their way (see [`Delivery`]).
    delivery: Mutex<Delivery>,
    /// Events waiting for Redis.
    queue: mpsc::Sender<Outgoing>,
    queued: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// Campaigns whose events could not be queued: a gap marker is owed.
    overflowed: Mutex<HashSet<String>>,
    /// Whether Redis failed to take the last event (cleared when it does).
    degraded: AtomicBool,
}

/// The local side of delivery, under one lock: ids handed out here must sort
/// between the stream's entries, and each own event must be delivered once.
#[derive(Default)]
struct Delivery {
    /// The last stream entry delivered here.
    last: EventId,
    /// Events delivered here since `last` without the stream.
    sub: u64,
    /// Own events sent to Redis, by `n`: `true` once delivered here without
    /// waiting (the reader skips it), `false` while the reader may deliver it.
    own: HashMap<u64, bool>,
    /// The highest `n` of an own event the reader has met.
    last_own_n: u64,
    /// `n` of own events delivered here first, newest last (bounded).
    local: VecDeque<u64>,
    local_set: HashSet<u64>,
}

impl Delivery {
    fn remember_local(&mut self, n: u64) {
        self.local.push_back(n);
        self.local_set.insert(n);
        while self.local.len() > LOCAL_MEMORY {
            if let Some(old) = self.local.pop_front() {
                self.local_set.remove(&old);
            }
        }
    }
}

/// An event on its way to Redis.
struct Outgoing {
    campaign: String,
    kind: String,
    data: String,
    audience: String,
    micros: i64,
    n: u64,
    sent: Option<oneshot::Sender<EventId>>,
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
        let (queue, queued) = mpsc::channel(PUBLISH_QUEUE);
        let mut bus = Self {
            hub: Hub::new(buffer),
            client,
            conn,
            key: format!("{prefix}:events"),
            max_len: history.max(1),
            start: EventId::default(),
            instance: uuid::Uuid::now_v7().simple().to_string(),
            next_n: AtomicU64::new(1),
            delivery: Mutex::default(),
            queue,
            queued: Mutex::new(Some(queued)),
            overflowed: Mutex::default(),
            degraded: AtomicBool::new(false),
        };
        bus.start = bus
            .bounds()
            .await?
            .map_or_else(EventId::default, |b| b.last);
        bus.delivery.lock().last = bus.start;
        Ok(bus)
    }

    /// Delivers an own event here now, under an id just after the last
    /// stream entry delivered; `n` (when queued for Redis) is skipped by the
    /// reader later. `None` when the reader delivered it first.
    fn deliver_locally(&self, campaign: &str, event: Event, n: Option<u64>) -> Option<EventId> {
        let mut delivery = self.delivery.lock();
        if let Some(n) = n {
            match delivery.own.get_mut(&n) {
                Some(local) => *local = true,
                None => return None, // the reader has delivered it already
            }
            delivery.remember_local(n);
        }
        delivery.sub += 1;
        let id = EventId {
            sub: delivery.sub,
            ..delivery.last
        };
        // Delivered under the lock, so that subscribers see ids in order.
        self.hub.deliver(Arc::new(Envelope {
            id,
            campaign: campaign.to_owned(),
            event,
            published_at: Utc::now(),
            frame: Default::default(),
        }));
        Some(id)
    }

    /// Appends outgoing events to the stream, in order, in one round trip.
    async fn xadd(&self, batch: &[Outgoing]) -> anyhow::Result<Vec<EventId>> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for out in batch {
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg("c")
                .arg(&out.campaign)
                .arg("k")
                .arg(&out.kind)
                .arg("d")
                .arg(&out.data)
                .arg("a")
                .arg(&out.audience)
                .arg("u")
                .arg(out.micros)
                .arg("o")
                .arg(&self.instance)
                .arg("n")
                .arg(out.n);
        }
        let ids: Vec<String> =
            tokio::time::timeout(Duration::from_secs(5), pipe.query_async(&mut conn))
                .await
                .context("XADD timed out")?
                .context("XADD")?;
        ids.iter()
            .map(|id| {
                id.parse()
                    .map_err(|()| anyhow::anyhow!("Redis returned an odd stream id {id:?}"))
            })
            .collect()
    }

    /// Sends queued events to Redis in order, retrying each until it is taken
    /// (jittered backoff), then the gap markers owed.
    async fn send_loop(
        self: Arc<Self>,
        mut queued: mpsc::Receiver<Outgoing>,
        shutdown: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                out = queued.recv() => match out {
                    Some(out) => out,
                    None => return,
                },
            };
            // Whatever else is waiting goes in the same round trip.
            let mut batch = vec![first];
            while batch.len() < SEND_BATCH {
                match queued.try_recv() {
                    Ok(out) => batch.push(out),
                    Err(_) => break,
                }
            }
            let mut failures = 0u32;
            loop {
                match self.xadd(&batch).await {
                    Ok(ids) => {
                        for (out, id) in batch.iter_mut().zip(ids) {
                            if let Some(sent) = out.sent.take() {
                                let _ = sent.send(id);
                            }
                        }
                        if self.degraded.swap(false, Ordering::Relaxed) {
                            tracing::info!("Redis takes events again");
                        }
                        break;
                    }
                    Err(e) => {
                        if !self.degraded.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "Redis does not take events: delivering on this instance, queueing for Redis"
                            );
                        }
                        failures += 1;
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(backoff(failures)) => {}
                        }
                    }
                }
            }
            let owed: Vec<String> = self.overflowed.lock().drain().collect();
            for campaign in owed {
                let marker = Outgoing {
                    campaign,
                    kind: GAP.to_owned(),
                    data: "null".to_owned(),
                    audience: "*".to_owned(),
                    micros: Utc::now().timestamp_micros(),
                    n: 0,
                    sent: None,
                };
                if let Err(e) = self.xadd(std::slice::from_ref(&marker)).await {
                    tracing::warn!(error = format!("{e:#}"), "gap marker not written");
                    self.overflowed.lock().insert(marker.campaign);
                }
            }
        }
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
        let mut failures = 0u32;
        loop {
            if let Err(e) = self
                .read_impl(&mut position, &mut failures, &shutdown)
                .await
            {
                if failures == 0 {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "event stream reader failed; reconnecting"
                    );
                }
                failures += 1;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff(failures)) => {}
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// After a reconnection: if the stream was trimmed past `position`, the
    /// entries in between are gone: every stream here gets `reset`.
    async fn check_continuity(&self, position: EventId) -> anyhow::Result<()> {
        if let Some(bounds) = self.bounds().await?
            && bounds.trimmed
            && bounds.first.is_some_and(|first| first > position)
        {
            tracing::warn!(%position, "events were trimmed while the reader was away; resetting streams");
            self.hub.reset(None);
        }
        Ok(())
    }

    /// Delivers one stream entry here, unless it is an own event delivered
    /// already, or a gap marker (another instance's events of a campaign
    /// never reached the stream: its streams here get `reset`).
    fn deliver_entry(&self, envelope: Envelope, origin: Option<(String, u64)>) {
        let mut delivery = self.delivery.lock();
        delivery.last = envelope.id;
        delivery.sub = 0;
        let own_n = origin
            .as_ref()
            .filter(|(instance, _)| *instance == self.instance)
            .map(|(_, n)| *n);
        if envelope.event.kind == GAP {
            if own_n.is_none() {
                self.hub.reset(Some(&envelope.campaign));
            }
            return;
        }
        if let Some(n) = own_n {
            // Own events reach the stream in `n` order (one sender); a copy
            // written again after a failure that had in fact succeeded is
            // not delivered twice.
            if n <= delivery.last_own_n {
                return;
            }
            delivery.last_own_n = n;
            if delivery.own.remove(&n) == Some(true) {
                return; // delivered here when it was published
            }
        }
        self.hub.deliver(Arc::new(envelope));
    }

    async fn read_impl(
        &self,
        position: &mut EventId,
        failures: &mut u32,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        if *failures > 0 {
            self.check_continuity(*position).await?;
            tracing::info!("event stream reader reconnected");
            *failures = 0;
        }
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
                        self.deliver_entry(envelope, origin_of(entry));
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
        let n = self.next_n.fetch_add(1, Ordering::Relaxed);
        let (sent, taken) = oneshot::channel();
        let out = Outgoing {
            campaign: campaign.to_owned(),
            kind: event.kind.clone(),
            data: event.data.to_string(),
            audience: match event.audience {
                Audience::Everyone => "*".to_owned(),
                Audience::Session(id) => id.to_string(),
            },
            micros: Utc::now().timestamp_micros(),
            n,
            sent: Some(sent),
        };
        self.delivery.lock().own.insert(n, false);
        if self.queue.try_send(out).is_err() {
            // The queue is full (Redis away for long): here only, and the
            // other instances' streams of this campaign will get `reset`.
            self.delivery.lock().own.remove(&n);
            self.overflowed.lock().insert(campaign.to_owned());
            return self
                .deliver_locally(campaign, event, None)
                .context("delivered locally");
        }
        match tokio::time::timeout(PUBLISH_DEADLINE, taken).await {
            Ok(Ok(id)) => Ok(id),
            // Redis is slow or away: the visitors here do not wait for it.
            _ => Ok(self
                .deliver_locally(campaign, event, Some(n))
                .unwrap_or_default()),
        }
    }

    fn subscribe(&self, campaign: &str) -> broadcast::Receiver<Arc<Envelope>> {
        self.hub.subscribe(campaign)
    }

    async fn head(&self) -> anyhow::Result<EventId> {
        // What this instance delivered last: a new subscriber gets every
        // event delivered after it, whatever Redis is doing.
        let delivery = self.delivery.lock();
        Ok(EventId {
            sub: delivery.sub,
            ..delivery.last
        })
    }

    async fn since(&self, campaign: &str, after: EventId, limit: usize) -> anyhow::Result<Since> {
        match tokio::time::timeout(HISTORY_DEADLINE, self.history(campaign, after, limit)).await {
            Ok(Ok(since)) => Ok(since),
            // Redis is away: the client cannot get what it missed now; it
            // gets `reset` and a fresh snapshot rather than a wait.
            Ok(Err(e)) => {
                tracing::debug!(error = format!("{e:#}"), "history unavailable");
                Ok(Since::Gap)
            }
            Err(_) => Ok(Since::Gap),
        }
    }

    fn delivery_lag(&self) -> &Histogram {
        &self.hub.lag
    }

    fn start(self: Arc<Self>, tasks: &Tasks) {
        tasks.spawn(
            "event bus reader",
            self.clone().read_loop(tasks.shutdown().clone()),
        );
        let queued = self.queued.lock().take();
        if let Some(queued) = queued {
            tasks.spawn(
                "event bus sender",
                self.send_loop(queued, tasks.shutdown().clone()),
            );
        }
    }
}

impl RedisBus {
    /// The campaign's events after `after` from the stream, at most `limit`
    /// (more is a gap), without the own events delivered here first (the
    /// client had them under their local ids).
    async fn history(&self, campaign: &str, after: EventId, limit: usize) -> anyhow::Result<Since> {
        let Some(bounds) = self.bounds().await? else {
            return Ok(if after == EventId::default() {
                Since::Events(Vec::new())
            } else {
                Since::Gap
            });
        };
        // Complete after `after` unless entries newer than it were trimmed away.
        let complete = !bounds.trimmed || bounds.first.is_some_and(|first| after.entry() >= first);
        if after.entry() > bounds.last || !complete {
            return Ok(Since::Gap);
        }
        let mut conn = self.conn.clone();
        let range: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(format!("({}", after.entry()))
            .arg("+")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .context("XRANGE")?;
        if range.ids.len() > limit {
            return Ok(Since::Gap);
        }
        let delivered_here = {
            let delivery = self.delivery.lock();
            delivery.local_set.clone()
        };
        Ok(Since::Events(
            range
                .ids
                .iter()
                .filter(|entry| {
                    !matches!(origin_of(entry), Some((instance, n))
                        if instance == self.instance && delivered_here.contains(&n))
                })
                .filter_map(envelope_of)
                .filter(|e| e.campaign == campaign && e.event.kind != GAP)
                .map(Arc::new)
                .collect(),
        ))
    }
}

/// The publishing instance and its sequence number of an entry, if recorded.
fn origin_of(entry: &StreamId) -> Option<(String, u64)> {
    Some((entry.get("o")?, entry.get("n")?))
}

/// A reconnection delay after `failures` failures in a row: from about
/// 100 ms doubling to about 5 s, each drawn from its upper half.
fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(6)))
        .min(Duration::from_secs(5));
    let half = ceiling / 2;
    half + half.mul_f64(rand::random::<f64>())
}
