//! The Redis Streams bus: every instance appends its events to one bounded
//! stream (`XADD … MAXLEN ~ n`) and one reader task per instance follows it with
//! plain `XREAD` (no consumer groups: every instance needs every event). An
//! instance's own events reach its subscribers through that reader too, so
//! each is delivered once and in stream order; the entry id is the event id.
//!
//! Entry fields: `c` campaign, `k` kind, `d` data (JSON), `a` audience (`*` or
//! a session id), `u` publish time (Unix microseconds), `o` the publishing
//! instance and `n` its sequence number for the event, and `s` whom it is
//! about, when it is about one person (what an erasure removes).
//!
//! **While Redis answers**, a publish returns once its event is in Redis
//! (within [`HEALTHY_DEADLINE`]), so what a form acknowledged survives the
//! instance being killed the moment after. **When Redis does not answer**
//! (the sender failed, or a publish waited that long), a publish never waits
//! more than [`PUBLISH_DEADLINE`], and those already waiting stop at once:
//! the event goes to this instance's visitors at once
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
use chrono::Utc;
use redis::aio::ConnectionManager;
use tokio::sync::{broadcast, mpsc, oneshot};

mod history;
mod read;
mod send;

use self::send::Outgoing;
use super::{Audience, Envelope, Event, EventBus, EventId, Forgotten, Hub, Since};
use crate::tasks::Tasks;
use crate::telemetry::Histogram;

/// How long one `XREAD` blocks before it is issued again.
const BLOCK: Duration = Duration::from_secs(1);
/// Most entries one `XREAD` returns.
const READ_BATCH: usize = 512;
/// Longest a publish waits for Redis, once Redis has refused or lagged (see
/// [`HEALTHY_DEADLINE`]), before its event goes to this instance's visitors
/// without it.
const PUBLISH_DEADLINE: Duration = Duration::from_millis(200);
/// How long a publish waits for Redis to take its event while Redis is
/// taking events: longer than any hiccup of a healthy Redis, short enough
/// that the first forms of an outage that hangs (rather than refuses)
/// are answered within a second or so.
const HEALTHY_DEADLINE: Duration = Duration::from_secs(1);
/// Events waiting for Redis at most; more are delivered here only, and the
/// other instances' streams of their campaigns get `reset`.
const PUBLISH_QUEUE: usize = 10_000;
/// Most queued events sent in one round trip.
const SEND_BATCH: usize = 256;
/// How often the reader looks whether Redis lost its events (a new epoch).
const EPOCH_CHECK: Duration = Duration::from_secs(1);
/// Moves the epoch from `ARGV[1]` to `ARGV[2]`, unless another instance
/// moved it first (or it is gone: then sets it); returns the epoch in force.
const MOVE_EPOCH: &str = "local now = redis.call('GET', KEYS[1])
if (not now) or now == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
return tonumber(now)";
/// Longest an erasure waits for Redis to remove the person's events.
const FORGET_DEADLINE: Duration = Duration::from_secs(5);
/// Longest `since` and `head` wait for Redis.
const HISTORY_DEADLINE: Duration = Duration::from_millis(500);
/// Sequence numbers of events delivered here first, remembered to keep them
/// out of replays.
const LOCAL_MEMORY: usize = 10_000;
/// The kind of a gap marker: an instance's events of a campaign never
/// reached the stream.
/// The stream entries' audience field of a team event (`*` is everyone,
/// a UUID one session).
const TEAM: &str = "team";

const GAP: &str = "\u{0}gap";

/// The Redis Streams event bus.
pub struct RedisBus {
    hub: Hub,
    client: redis::Client,
    conn: ConnectionManager,
    key: String,
    /// Every key's prefix (`<prefix>:history:<campaign>` is a campaign's own
    /// history: the same entries, under the same ids, for resuming).
    prefix: String,
    /// `<prefix>:epoch`: the epoch in force ([`EventId::epoch`]); its loss
    /// says Redis lost its data.
    epoch_key: String,
    /// The epoch this instance is in.
    epoch: AtomicU64,
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
    /// Whether Redis failed to take the last event, or took longer than
    /// [`HEALTHY_DEADLINE`] (cleared when it takes one).
    degraded: AtomicBool,
    /// Wakes the publishes waiting for Redis when it is found not to answer.
    released: tokio::sync::Notify,
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
    /// The highest stream entry this instance read or wrote, and the most
    /// entries the stream was seen to have been given: a stream whose last
    /// id or count went below them lost what it had.
    seen: EventId,
    added: u64,
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
            prefix: prefix.to_owned(),
            epoch_key: format!("{prefix}:epoch"),
            epoch: AtomicU64::new(0),
            max_len: history.max(1),
            start: EventId::default(),
            instance: uuid::Uuid::now_v7().simple().to_string(),
            next_n: AtomicU64::new(1),
            delivery: Mutex::default(),
            queue,
            queued: Mutex::new(Some(queued)),
            overflowed: Mutex::default(),
            degraded: AtomicBool::new(false),
            released: tokio::sync::Notify::new(),
        };
        let epoch = bus.join_epoch().await?;
        bus.epoch.store(epoch, Ordering::Relaxed);
        let bounds = bus.bounds().await?;
        bus.start = bounds
            .as_ref()
            .map_or(EventId::new(epoch, 0, 0), |b| b.last);
        let mut delivery = bus.delivery.lock();
        (delivery.last, delivery.seen) = (bus.start, bus.start);
        delivery.added = bounds.map_or(0, |b| b.added);
        drop(delivery);
        Ok(bus)
    }

    /// The epoch this instance is in.
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// The deployment's epoch, begun now if Redis has none (a new
    /// deployment, or one whose Redis lost its data before any instance
    /// noticed: no instance holds ids of it to resume from).
    async fn join_epoch(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(1);
        let _: bool = redis::cmd("SET")
            .arg(&self.epoch_key)
            .arg(now)
            .arg("NX")
            .query_async(&mut conn)
            .await
            .context("SET epoch")?;
        let epoch: u64 = redis::cmd("GET")
            .arg(&self.epoch_key)
            .query_async(&mut conn)
            .await
            .context("GET epoch")?;
        Ok(epoch)
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
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<EventId> {
        let (sent, taken) = oneshot::channel();
        let mut out = Outgoing {
            campaign: campaign.to_owned(),
            kind: event.kind.clone(),
            data: event.data.to_string(),
            audience: match event.audience {
                Audience::Everyone => "*".to_owned(),
                Audience::Session(id) => id.to_string(),
                Audience::Team => TEAM.to_owned(),
            },
            micros: Utc::now().timestamp_micros(),
            n: 0,
            subject: event.subject.map(|s| s.to_string()),
            sent: Some(sent),
        };
        // Numbered and queued under the lock: own events reach the stream in
        // `n` order, which the reader relies on (two publishes numbered in
        // one order and queued in the other had the later one skipped here).
        let queued = {
            let mut delivery = self.delivery.lock();
            let n = self.next_n.fetch_add(1, Ordering::Relaxed);
            out.n = n;
            delivery.own.insert(n, false);
            let queued = self.queue.try_send(out).is_ok();
            if !queued {
                delivery.own.remove(&n);
            }
            queued.then_some(n)
        };
        let Some(n) = queued else {
            // The queue is full (Redis away for long): here only, and the
            // other instances' streams of this campaign will get `reset`.
            self.overflowed.lock().insert(campaign.to_owned());
            return self
                .deliver_locally(campaign, event, None)
                .context("delivered locally");
        };
        let released = self.released.notified();
        let deadline = if self.degraded.load(Ordering::Relaxed) {
            PUBLISH_DEADLINE
        } else {
            HEALTHY_DEADLINE
        };
        let taken = tokio::select! {
            taken = taken => taken.ok(),
            () = tokio::time::sleep(deadline) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        waited_ms = deadline.as_millis() as u64,
                        "Redis is slow to take events: delivering on this instance, queueing for Redis"
                    );
                    self.released.notify_waiters();
                }
                None
            }
            () = released => None,
        };
        match taken {
            Some(id) => Ok(id),
            // Redis is slow or away: the visitors here do not wait for it.
            None => Ok(self
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

    async fn forget(&self, whom: &Forgotten) -> anyhow::Result<u64> {
        tokio::time::timeout(FORGET_DEADLINE, self.forget_entries(whom))
            .await
            .context("Redis did not answer in time")?
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

/// A reconnection delay after `failures` failures in a row: from about
/// 100 ms doubling to about 5 s, each drawn from its upper half.
fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(6)))
        .min(Duration::from_secs(5));
    let half = ceiling / 2;
    half + half.mul_f64(rand::random::<f64>())
}
