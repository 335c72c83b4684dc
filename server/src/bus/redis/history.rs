//! The way back in time: what a resuming client missed, read from its
//! campaign's own history stream (`<prefix>:history:<slug>`, the same
//! entries as the shared stream, under the same ids), and what an erasure
//! removes from both.

use std::sync::Arc;

use anyhow::Context;
use redis::streams::StreamRangeReply;

use super::read::{envelope_of, origin_of};
use super::{GAP, RedisBus};
use crate::bus::{Envelope, EventId, Forgotten, Since};

impl RedisBus {
    /// The campaign's events after `after` from its own history stream, at
    /// most `limit` (more is a gap): only that campaign's entries are read,
    /// however busy the others are. Without the own events delivered here
    /// first (the client had them under their local ids); a gap marker among
    /// them (events of the campaign never reached Redis) is a gap.
    pub(super) async fn history(
        &self,
        campaign: &str,
        after: EventId,
        limit: usize,
    ) -> anyhow::Result<Since> {
        if after.epoch != self.epoch() {
            return Ok(Since::Gap); // an id of a history Redis no longer has
        }
        let Some(main) = self.bounds_of(&self.key).await? else {
            return Ok(if (after.ms, after.seq) == (0, 0) {
                Since::Events(Vec::new())
            } else {
                Since::Gap
            });
        };
        if after.entry() > main.last {
            return Ok(Since::Gap); // an id not given yet
        }
        let key = self.history_key(campaign);
        let Some(own) = self.bounds_of(&key).await? else {
            return Ok(Since::Events(Vec::new())); // the campaign has had no event
        };
        // Complete after `after` unless an entry newer than it may have been
        // removed: trimmed (Redis keeps no trace of which: any trimming
        // while the oldest entry kept is newer than `after`), or deleted by
        // an erasure (the newest deleted is kept).
        let trimmed_past = own.trimmed && own.first.is_some_and(|first| first > after.entry());
        let deleted_past = own
            .max_deleted
            .is_some_and(|deleted| deleted > after.entry());
        if trimmed_past || deleted_past {
            return Ok(Since::Gap);
        }
        let mut conn = self.conn.clone();
        let range: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg(format!("({}", after.stream_id()))
            .arg("+")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .context("XRANGE")?;
        if range.ids.len() > limit {
            return Ok(Since::Gap);
        }
        let envelopes: Vec<(Envelope, Option<(String, u64)>)> = range
            .ids
            .iter()
            .filter_map(|entry| Some((envelope_of(entry, after.epoch)?, origin_of(entry))))
            .collect();
        if envelopes.iter().any(|(e, _)| e.event.kind == GAP) {
            return Ok(Since::Gap);
        }
        let delivery = self.delivery.lock();
        Ok(Since::Events(
            envelopes
                .into_iter()
                .filter(|(_, origin)| {
                    !matches!(origin, Some((instance, n))
                        if *instance == self.instance && delivery.local_set.contains(n))
                })
                .map(|(envelope, _)| Arc::new(envelope))
                .collect(),
        ))
    }

    /// The key of `campaign`'s own history stream.
    pub(super) fn history_key(&self, campaign: &str) -> String {
        format!("{}:history:{campaign}", self.prefix)
    }
}

impl RedisBus {
    /// Deletes the entries that [`EventBus::forget`] removes, from the
    /// stream every instance reads and from the campaigns' histories; how
    /// many events went (each is in both).
    pub(super) async fn forget_entries(&self, whom: &Forgotten) -> anyhow::Result<u64> {
        let histories: Vec<String> = match &whom.campaign {
            Some(campaign) => vec![self.history_key(campaign)],
            None => {
                let mut conn = self.conn.clone();
                let mut keys: Vec<String> = Vec::new();
                let mut cursor = 0u64;
                loop {
                    let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{}:history:*", self.prefix))
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                        .context("SCAN")?;
                    keys.extend(page);
                    if next == 0 {
                        break keys;
                    }
                    cursor = next;
                }
            }
        };
        let removed = self.forget_in(&self.key, whom).await?;
        for key in &histories {
            self.forget_in(key, whom).await?;
        }
        Ok(removed)
    }

    /// Deletes the entries of stream `key` that `whom` covers, reading it a
    /// page at a time.
    async fn forget_in(&self, key: &str, whom: &Forgotten) -> anyhow::Result<u64> {
        const PAGE: usize = 1000;
        let mut conn = self.conn.clone();
        let mut start = "-".to_owned();
        let mut removed = 0;
        loop {
            let range: StreamRangeReply = redis::cmd("XRANGE")
                .arg(key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(PAGE)
                .query_async(&mut conn)
                .await
                .context("XRANGE")?;
            let doomed: Vec<&str> = range
                .ids
                .iter()
                .filter(|entry| envelope_of(entry, 0).is_some_and(|e| whom.covers(&e)))
                .map(|entry| entry.id.as_str())
                .collect();
            if !doomed.is_empty() {
                let gone: u64 = redis::cmd("XDEL")
                    .arg(key)
                    .arg(&doomed)
                    .query_async(&mut conn)
                    .await
                    .context("XDEL")?;
                removed += gone;
            }
            match range.ids.last() {
                Some(last) if range.ids.len() == PAGE => start = format!("({}", last.id),
                _ => return Ok(removed),
            }
        }
    }
}
