//! The way to Redis: events queued in order and appended in batches
//! (`XADD`), retried until Redis takes them, and the gap markers owed after
//! the queue overflowed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{GAP, RedisBus, SEND_BATCH, backoff};
use crate::bus::EventId;

/// Appends an entry to the stream every instance reads (`KEYS[1]`) and,
/// under the same id, to its campaign's own history (`KEYS[2]`), both
/// bounded to about `ARGV[1]` entries; the fields are the rest of `ARGV`
/// from `ARGV[3]`. Returns the id. (`EVAL`, not a loaded script: a Redis
/// restarted empty has forgotten every loaded script.)
///
/// Only while the epoch key (`KEYS[3]`) is the writer's epoch (`ARGV[2]`):
/// a Redis that lost its data takes nothing from an instance that has not
/// noticed yet. Entries written there before would sort below where that
/// instance's reader goes on from once it notices (after what it had), and
/// other instances' entries of the same moment would be skipped with them.
const XADD_BOTH: &str = "if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('EPOCH Redis lost its events: this instance has not moved to the new epoch yet')
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
pcall(redis.call, 'XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id, unpack(ARGV, 3))
return id";

/// An event on its way to Redis.
pub(super) struct Outgoing {
    pub(super) campaign: String,
    pub(super) kind: String,
    pub(super) data: String,
    pub(super) audience: String,
    /// Publish time, Unix microseconds.
    pub(super) micros: i64,
    /// This instance's sequence number of the event.
    pub(super) n: u64,
    /// Whom the event is about (never sent to clients).
    pub(super) subject: Option<String>,
    /// Told the entry's id once Redis took it.
    pub(super) sent: Option<oneshot::Sender<EventId>>,
}

impl RedisBus {
    /// Appends outgoing events to the stream, in order, in one round trip.
    async fn xadd(&self, batch: &[Outgoing]) -> anyhow::Result<Vec<EventId>> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        let epoch = self.epoch.load(Ordering::Relaxed);
        for out in batch {
            pipe.cmd("EVAL")
                .arg(XADD_BOTH)
                .arg(3)
                .arg(&self.key)
                .arg(self.history_key(&out.campaign))
                .arg(&self.epoch_key)
                .arg(self.max_len)
                .arg(epoch)
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
            if let Some(subject) = &out.subject {
                pipe.arg("s").arg(subject);
            }
        }
        let ids: Vec<String> =
            tokio::time::timeout(Duration::from_secs(5), pipe.query_async(&mut conn))
                .await
                .context("XADD timed out")?
                .context("XADD")?;
        let ids = ids
            .iter()
            .map(|id| {
                EventId::of_entry(epoch, id)
                    .ok_or_else(|| anyhow::anyhow!("Redis returned an odd stream id {id:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(last) = ids.last() {
            let mut delivery = self.delivery.lock();
            delivery.seen = delivery.seen.max(*last);
        }
        Ok(ids)
    }

    /// Sends queued events to Redis in order, retrying each until it is taken
    /// (jittered backoff), then the gap markers owed.
    pub(super) async fn send_loop(
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
                        // Whoever waits for this batch stops waiting.
                        self.released.notify_waiters();
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
                    subject: None,
                    sent: None,
                };
                if let Err(e) = self.xadd(std::slice::from_ref(&marker)).await {
                    tracing::warn!(error = format!("{e:#}"), "gap marker not written");
                    self.overflowed.lock().insert(marker.campaign);
                }
            }
        }
    }
}
