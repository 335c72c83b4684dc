//! The event bus: what the page shows live (`user.joined`, `referral.milestone`,
//! `lead.created`, `lead.status`, …) is published here once and fanned out to
//! every subscriber. The vocabulary is open: an event is a type name and JSON.
//!
//! [`LocalBus`] is the in-process implementation (one instance).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every visitor of the campaign.
    Everyone,
    /// Only this session (a user's `master_id` or a visitor id).
    Session(Uuid),
}

/// An event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its type, e.g. `user.joined`.
    pub kind: String,
    /// Its data.
    pub data: Value,
    /// Who may see it.
    pub audience: Audience,
}

impl Event {
    /// An event for everyone.
    pub fn public(kind: &str, data: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            data,
            audience: Audience::Everyone,
        }
    }

    /// An event for one session only.
    pub fn private(kind: &str, data: Value, session: Uuid) -> Self {
        Self {
            kind: kind.to_owned(),
            data,
            audience: Audience::Session(session),
        }
    }
}

/// A published event with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Bus-assigned id, increasing.
    pub id: String,
    /// Campaign slug.
    pub campaign: String,
    /// The event.
    pub event: Event,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// Publishes events and hands them to subscribers.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes `event` for `campaign`; returns its id.
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<String>;

    /// A receiver of every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>>;
}

/// Capacity of the fan-out channel before slow receivers lag.
pub const CHANNEL_CAPACITY: usize = 4096;

/// The in-process bus.
pub struct LocalBus {
    sender: broadcast::Sender<Arc<Envelope>>,
    next_id: AtomicU64,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            next_id: AtomicU64::new(1),
        }
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let envelope = Arc::new(Envelope {
            id: id.clone(),
            campaign: campaign.to_owned(),
            event,
            published_at: Utc::now(),
        });
        // No subscriber is not an error: nobody is watching right now.
        let _ = self.sender.send(envelope);
        Ok(id)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.sender.subscribe()
    }
}
