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

use super::{BLOCK, GAP, READ_BATCH, RedisBus, backoff};
use crate::bus::{Audience, Envelope, Event, EventId};

pub(super) fn envelope_of(entry: &StreamId) -> Option<Envelope> {
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
}

impl RedisBus {
    pub(super) async fn bounds(&self) -> anyhow::Result<Option<StreamBounds>> {
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
