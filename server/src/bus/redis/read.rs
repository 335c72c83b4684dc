//! The way back: one reader per instance follows the stream (`XREAD`) and
//! delivers each entry here once, in stream order; it notices, after a
//! reconnection, when the stream was trimmed past what it had.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{TimeZone, Utc};
use redis::streams::{StreamId, StreamReadReply};
use tokio_util::sync::CancellationToken;

use super::{BLOCK, EPOCH_CHECK, GAP, MOVE_EPOCH, READ_BATCH, RedisBus, backoff};
use crate::bus::{Audience, Envelope, Event, EventId};

/// The event a stream entry holds, with its id in `epoch`.
pub(super) fn envelope_of(entry: &StreamId, epoch: u64) -> Option<Envelope> {
    let id = EventId::of_entry(epoch, &entry.id)?;
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
        super::TEAM => Audience::Team,
        session => Audience::Session(session.parse().ok()?),
    };
    Some(Envelope {
        id,
        campaign,
        event: Event {
            kind,
            data: serde_json::from_str(&data).ok()?,
            audience,
            subject: entry.get::<String>("s").and_then(|s| s.parse().ok()),
        },
        published_at,
        frame: Default::default(),
    })
}

/// The publishing instance and its sequence number of an entry, if recorded.
pub(super) fn origin_of(entry: &StreamId) -> Option<(String, u64)> {
    Some((entry.get("o")?, entry.get("n")?))
}

/// What `XINFO STREAM` says of where the stream starts and ends.
pub(super) struct StreamBounds {
    pub(super) first: Option<EventId>,
    pub(super) last: EventId,
    pub(super) trimmed: bool,
    /// Entries it was ever given (`entries-added`).
    pub(super) added: u64,
    /// The newest entry deleted from it (`XDEL`: an erasure), if any;
    /// trimming leaves no trace here.
    pub(super) max_deleted: Option<EventId>,
}

impl RedisBus {
    /// What `XINFO STREAM` says of the stream every instance reads.
    pub(super) async fn bounds(&self) -> anyhow::Result<Option<StreamBounds>> {
        self.bounds_of(&self.key).await
    }

    /// What `XINFO STREAM` says of stream `key`; `None` when there is none.
    pub(super) async fn bounds_of(&self, key: &str) -> anyhow::Result<Option<StreamBounds>> {
        let mut conn = self.conn.clone();
        let info: redis::RedisResult<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
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
        let epoch = self.epoch();
        let last = text("last-generated-id")
            .and_then(|s| EventId::of_entry(epoch, &s))
            .context("XINFO STREAM: last-generated-id")?;
        let first = text("recorded-first-entry-id").and_then(|s| EventId::of_entry(epoch, &s));
        let trimmed = number("entries-added") > number("length");
        Ok(Some(StreamBounds {
            first,
            last,
            trimmed,
            added: number("entries-added").unwrap_or(0),
            max_deleted: text("max-deleted-entry-id")
                .and_then(|s| EventId::of_entry(epoch, &s))
                .filter(|id| (id.ms, id.seq) != (0, 0)),
        }))
    }

    /// Follows the stream from its current end, delivering to local
    /// subscribers; reconnects (and resumes where it was) after failures.
    pub(super) async fn read_loop(self: Arc<Self>, shutdown: CancellationToken) {
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

    /// Whether Redis lost what it had — restarted empty (the epoch key is
    /// gone), failed over to a replica that lags (the stream's last id, or
    /// the count of entries it was given, went below what this instance read
    /// or wrote) — and then begins a new epoch, which every instance agrees
    /// on through the epoch key (the first to notice moves it; the others
    /// adopt it), and every stream here gets `reset`. Returns where the
    /// reader goes on from: `position`, or, in the new epoch, after the
    /// last entry this instance had.
    pub(super) async fn check_epoch(&self, position: EventId) -> anyhow::Result<EventId> {
        // What this instance had before it asks: Redis's answer, which
        // comes after, holds at least that unless it lost it. (Read after
        // the answer, it would include what was written while the answer
        // was on its way, and a busy stream would look like a lost one.)
        let (seen, added) = {
            let delivery = self.delivery.lock();
            (delivery.seen.entry(), delivery.added)
        };
        let current = self.epoch();
        let mut conn = self.conn.clone();
        let stored: Option<u64> = redis::cmd("GET")
            .arg(&self.epoch_key)
            .query_async(&mut conn)
            .await
            .context("GET epoch")?;
        let bounds = self.bounds().await?;
        let lost = match (stored, &bounds) {
            (None, _) => true,
            (Some(other), _) if other != current => false, // another instance noticed first
            (Some(_), None) => seen > EventId::new(current, 0, 0),
            (Some(_), Some(b)) => b.last < seen || b.added < added,
        };
        let epoch = if lost {
            let proposed = u64::try_from(Utc::now().timestamp_millis())
                .unwrap_or(0)
                .max(current + 1);
            redis::Script::new(MOVE_EPOCH)
                .key(&self.epoch_key)
                .arg(current)
                .arg(proposed)
                .invoke_async(&mut conn)
                .await
                .context("moving the epoch")?
        } else {
            stored.unwrap_or(current)
        };
        if epoch == current {
            if let Some(b) = &bounds {
                let mut delivery = self.delivery.lock();
                delivery.added = delivery.added.max(b.added);
            }
            return Ok(position);
        }
        // Go on after what this instance had: what the stream holds past it
        // was written since the loss (Redis restarted empty: everything;
        // a lagging replica: what came after it took over), and is new here.
        let start = EventId::new(epoch, seen.ms, seen.seq);
        self.epoch
            .store(epoch, std::sync::atomic::Ordering::Relaxed);
        {
            let mut delivery = self.delivery.lock();
            // Nothing of the new epoch seen yet: were it `start`, a stream
            // still empty (no event since the loss) would look lost again
            // at every check, and every stream would be reset each second.
            let nothing = EventId::new(epoch, 0, 0);
            (delivery.last, delivery.seen, delivery.sub) = (start, nothing, 0);
            delivery.added = bounds.map_or(0, |b| b.added);
        }
        tracing::warn!(
            from = current,
            to = epoch,
            "Redis lost its events (restarted empty, or a lagging replica took over): \
             a new epoch begins, every stream here gets reset"
        );
        self.hub.reset(None);
        Ok(start)
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
        delivery.seen = delivery.seen.max(envelope.id);
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
            *position = self.check_epoch(*position).await?;
            self.check_continuity(*position).await?;
            tracing::info!("event stream reader reconnected");
            *failures = 0;
        }
        let mut from = *position;
        let mut checked = tokio::time::Instant::now();
        loop {
            if checked.elapsed() >= EPOCH_CHECK {
                from = self.check_epoch(from).await?;
                checked = tokio::time::Instant::now();
            }
            let mut xread = redis::cmd("XREAD");
            xread
                .arg("COUNT")
                .arg(READ_BATCH)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(from.stream_id());
            let read = xread.query_async::<Option<StreamReadReply>>(&mut conn);
            let reply = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                reply = read => reply?,
            };
            let epoch = self.epoch();
            for entry in reply.iter().flat_map(|r| &r.keys).flat_map(|k| &k.ids) {
                match envelope_of(entry, epoch) {
                    Some(envelope) => {
                        from = envelope.id;
                        self.deliver_entry(envelope, origin_of(entry));
                    }
                    None => {
                        tracing::warn!(id = %entry.id, "unreadable event stream entry skipped");
                        if let Some(id) = EventId::of_entry(epoch, &entry.id) {
                            from = id;
                        }
                    }
                }
            }
            *position = from;
        }
    }
}
