//! The in-process bus: one instance, a bounded ring of recent events as history.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;

use super::{Envelope, Event, EventBus, EventId, Forgotten, Hub, Since};
use crate::tasks::Tasks;
use crate::telemetry::Histogram;

struct Ring {
    entries: VecDeque<Arc<Envelope>>,
    capacity: usize,
    next_seq: u64,
    /// The newest id evicted (or the start id): history is complete after it.
    floor: EventId,
}

/// The in-process event bus.
pub(crate) struct LocalBus {
    hub: Hub,
    ring: Mutex<Ring>,
    start: EventId,
}

impl LocalBus {
    /// A bus remembering the last `history` events, buffering `buffer` per subscriber.
    pub(crate) fn new(history: usize, buffer: usize) -> Self {
        // This process's history is an epoch of its own, named by its start
        // time: ids of an earlier process are unknown, never mistaken for ours.
        let started = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let start = EventId::new(started, started, 0);
        Self {
            hub: Hub::new(buffer),
            ring: Mutex::new(Ring {
                entries: VecDeque::with_capacity(history.min(4096)),
                capacity: history.max(1),
                next_seq: 1,
                floor: start,
            }),
            start,
        }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<EventId> {
        let mut ring = self.ring.lock();
        let id = EventId::new(self.start.epoch, self.start.ms, ring.next_seq);
        ring.next_seq += 1;
        let envelope = Arc::new(Envelope {
            id,
            campaign: campaign.to_owned(),
            event,
            published_at: Utc::now(),
            frame: Default::default(),
        });
        if ring.entries.len() == ring.capacity
            && let Some(evicted) = ring.entries.pop_front()
        {
            ring.floor = evicted.id;
        }
        ring.entries.push_back(envelope.clone());
        // Delivered under the ring's lock, so subscribers see ids in order.
        self.hub.deliver(envelope);
        Ok(id)
    }

    fn subscribe(&self, campaign: &str) -> broadcast::Receiver<Arc<Envelope>> {
        self.hub.subscribe(campaign)
    }

    async fn head(&self) -> anyhow::Result<EventId> {
        let ring = self.ring.lock();
        Ok(ring.entries.back().map_or(ring.floor, |e| e.id))
    }

    async fn since(&self, campaign: &str, after: EventId, limit: usize) -> anyhow::Result<Since> {
        let ring = self.ring.lock();
        let head = ring.entries.back().map_or(ring.floor, |e| e.id);
        if after.epoch != self.start.epoch || after < ring.floor || after > head {
            return Ok(Since::Gap);
        }
        let missed: Vec<_> = ring
            .entries
            .iter()
            .filter(|e| e.id > after && e.campaign == campaign)
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(if missed.len() > limit {
            Since::Gap
        } else {
            Since::Events(missed)
        })
    }

    async fn forget(&self, whom: &Forgotten) -> anyhow::Result<u64> {
        let mut ring = self.ring.lock();
        let before = ring.entries.len();
        ring.entries.retain(|e| !whom.covers(e));
        Ok((before - ring.entries.len()) as u64)
    }

    fn delivery_lag(&self) -> &Histogram {
        &self.hub.lag
    }

    fn start(self: Arc<Self>, _tasks: &Tasks) {}
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn history_replays_until_it_was_evicted() {
        let bus = LocalBus::new(3, 16);
        let first = bus.head().await.expect("head");
        let a1 = bus
            .publish("a", Event::public("x", json!(1)))
            .await
            .expect("publish");
        bus.publish("b", Event::public("x", json!(2)))
            .await
            .expect("publish");
        let a3 = bus
            .publish("a", Event::public("x", json!(3)))
            .await
            .expect("publish");
        assert!(first < a1 && a1 < a3);

        let Since::Events(missed) = bus.since("a", first, 10).await.expect("since") else {
            panic!("history reaches back");
        };
        assert_eq!(missed.iter().map(|e| e.id).collect::<Vec<_>>(), [a1, a3]);
        assert_eq!(
            bus.since("a", a1, 1).await.expect("since"),
            Since::Events(vec![missed[1].clone()])
        );
        assert_eq!(
            bus.since("a", first, 1).await.expect("since"),
            Since::Gap,
            "over the limit"
        );

        bus.publish("b", Event::public("x", json!(4)))
            .await
            .expect("publish");
        assert_eq!(
            bus.since("a", first, 10).await.expect("since"),
            Since::Gap,
            "a1 was evicted"
        );
        assert!(matches!(
            bus.since("a", a1, 10).await.expect("since"),
            Since::Events(_)
        ));
        let future = EventId::new(a3.epoch, a3.ms, 999);
        assert_eq!(
            bus.since("a", future, 10).await.expect("since"),
            Since::Gap,
            "unknown id"
        );
        let earlier_process = EventId::new(1, a3.ms, 1);
        assert_eq!(
            bus.since("a", earlier_process, 10).await.expect("since"),
            Since::Gap
        );
    }
}
