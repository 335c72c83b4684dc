//! The event bus: what the page shows live (`user.joined`, `referral.milestone`,
//! `lead.created`, `lead.status`, …) is published once and fanned out to every
//! subscriber of its campaign, on every instance. The vocabulary is open: an
//! event is a type name and JSON (the built-in types are
//! [`crate::model::events`]; [`Event::built_in`] names one by its data).
//!
//! Two implementations of [`EventBus`]: [`LocalBus`] (one instance, in process)
//! and [`RedisBus`] (Redis Streams between instances). Both keep a bounded
//! history so that a client reconnecting with the id of the last event it saw
//! gets what it missed — or learns, with [`Since::Gap`], that it cannot.

mod local;
mod redis;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use parking_lot::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::model::events::{self, Payload};
use crate::tasks::Tasks;
use crate::telemetry::Histogram;

pub use self::redis::RedisBus;
pub(crate) use local::LocalBus;

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every visitor of the campaign.
    Everyone,
    /// Only this session (a user's `master_id` or a visitor id).
    Session(Uuid),
    /// Only the campaign's team: streams opened with a key that may see the
    /// campaign (never a visitor). Carries ids and states, never a person.
    Team,
}

/// An event to publish.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Event {
    /// Its type, e.g. `user.joined`.
    pub kind: String,
    pub data: Value,
    /// Who may see it.
    pub audience: Audience,
    /// Whom it is about, when it is about one person (a user's id, a
    /// lead's): kept with the event in the history, never sent, so that an
    /// erasure removes exactly that person's events.
    pub subject: Option<Uuid>,
}

impl Event {
    fn new(kind: &str, data: Value, audience: Audience) -> Self {
        Self {
            kind: kind.to_owned(),
            data,
            audience,
            subject: None,
        }
    }

    /// An event for everyone.
    pub fn public(kind: &str, data: Value) -> Self {
        Self::new(kind, data, Audience::Everyone)
    }

    /// An event for the campaign's team only.
    pub fn team(kind: &str, data: Value) -> Self {
        Self::new(kind, data, Audience::Team)
    }

    /// An event for one session only.
    pub fn private(kind: &str, data: Value, session: Uuid) -> Self {
        Self::new(kind, data, Audience::Session(session))
    }

    /// A built-in event: its name from its data's type ([`Payload::EVENT`],
    /// the catalogue [`crate::model::events`]), for `audience`, which must be
    /// the one the catalogue gives it (checked in debug builds and tests).
    pub fn built_in<P: Payload>(payload: &P, audience: Audience) -> Self {
        debug_assert_eq!(
            Some(P::EVENT.audience),
            match audience {
                Audience::Everyone => Some(events::Audience::Public),
                Audience::Session(_) => Some(events::Audience::Session),
                Audience::Team => Some(events::Audience::Team),
            },
            "{} is not for {audience:?}",
            P::EVENT.name
        );
        Self::new(P::EVENT.name, payload.data(), audience)
    }

    /// The event, about `subject` (a user's or a lead's id).
    #[must_use]
    pub fn about(mut self, subject: Uuid) -> Self {
        self.subject = Some(subject);
        self
    }
}

/// The id of a published event: `<epoch>.<milliseconds>-<sequence>`,
/// increasing. It is the SSE `id`.
///
/// The *epoch* names the history the id belongs to (when it began, Unix
/// milliseconds): with Redis, the deployment's until Redis loses its data
/// (restarted empty, failed over to a replica that lags), when a new one
/// begins; in process, the process's. An id of another epoch — or of the
/// format before epochs (`ms-seq`) — cannot be resumed from: its client gets
/// `reset`, never a history with a hole in it.
///
/// `ms-seq` is the Redis stream entry id; in process, the process start time
/// and a counter. An event an instance delivered to its own visitors while
/// Redis did not answer gets `<epoch>.<ms>-<seq>-<sub>`: just after the last
/// stream entry that instance had delivered (`sub` counts from 1), so that it
/// sorts before every entry the stream will hand out next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    /// The history it belongs to (when that began, Unix milliseconds).
    pub epoch: u64,
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
    /// Delivered locally after `ms-seq`, before the next stream entry (0: a
    /// stream entry or an in-process event).
    pub sub: u64,
}

impl EventId {
    /// The id `epoch.ms-seq`.
    pub const fn new(epoch: u64, ms: u64, seq: u64) -> Self {
        Self {
            epoch,
            ms,
            seq,
            sub: 0,
        }
    }

    /// The stream entry this id is, or follows (its `ms-seq` part).
    pub const fn entry(self) -> Self {
        Self::new(self.epoch, self.ms, self.seq)
    }

    /// The stream entry's id as Redis writes it: `ms-seq`.
    pub fn stream_id(self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// The stream entry `ms-seq` (as Redis writes it) of `epoch`.
    pub fn of_entry(epoch: u64, text: &str) -> Option<Self> {
        let (ms, seq) = text.trim().split_once('-')?;
        Some(Self::new(epoch, ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}-{}", self.epoch, self.ms, self.seq)?;
        if self.sub != 0 {
            write!(f, "-{}", self.sub)?;
        }
        Ok(())
    }
}

impl FromStr for EventId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (epoch, rest) = s.trim().split_once('.').ok_or(())?;
        let mut parts = rest.split('-');
        let number = |part: Option<&str>| part.ok_or(())?.parse::<u64>().map_err(|_| ());
        let epoch = number(Some(epoch))?;
        let ms = number(parts.next())?;
        let seq = number(parts.next())?;
        let sub = match parts.next() {
            None => 0,
            some => number(some).and_then(|sub| if sub == 0 { Err(()) } else { Ok(sub) })?,
        };
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Self {
            epoch,
            ms,
            seq,
            sub,
        })
    }
}

/// A published event with its id.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Envelope {
    /// Bus-assigned id.
    pub id: EventId,
    /// Campaign slug.
    pub campaign: String,
    pub event: Event,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Its event-stream frame, rendered once for every stream that sends it.
    pub frame: RenderedFrame,
}

impl Envelope {
    /// The event as an event-stream frame (`id`, `event`, `data`), rendered
    /// on first use and shared: a broadcast to ten thousand streams
    /// serializes its JSON once.
    pub fn sse_frame(&self) -> bytes::Bytes {
        self.frame
            .0
            .get_or_init(|| {
                let data = self.event.data.to_string();
                let text = format!(
                    "id: {}\nevent: {}\ndata: {data}\n\n",
                    self.id, self.event.kind
                );
                bytes::Bytes::from(text)
            })
            .clone()
    }
}

/// A cache of an envelope's rendering: not part of its value (always equal).
#[derive(Default, Clone)]
pub struct RenderedFrame(std::sync::OnceLock<bytes::Bytes>);

impl PartialEq for RenderedFrame {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for RenderedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RenderedFrame")
    }
}

/// What the history holds after an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    /// Every event of the campaign after the id, in order.
    Events(Vec<Arc<Envelope>>),
    /// The history no longer reaches back to the id (or never knew it).
    Gap,
}

/// Publishes events and hands them to this instance's subscribers.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes `event` for `campaign`; returns its id.
    async fn publish(&self, campaign: &str, event: Event) -> anyhow::Result<EventId>;

    /// A receiver of the campaign's events delivered from now on. It lags (and
    /// skips ahead) when its reader falls more than the buffer behind.
    fn subscribe(&self, campaign: &str) -> broadcast::Receiver<Arc<Envelope>>;

    /// The id of the newest event (of any campaign): where a new subscriber starts.
    async fn head(&self) -> anyhow::Result<EventId>;

    /// The campaign's events after `after`, at most `limit` of them (more is a gap).
    async fn since(&self, campaign: &str, after: EventId, limit: usize) -> anyhow::Result<Since>;

    /// Removes from the history the events `whom` covers (an erasure); how
    /// many went.
    async fn forget(&self, whom: &Forgotten) -> anyhow::Result<u64>;

    /// Starts the bus's background work (the Redis reader), until `shutdown`.
    fn start(self: Arc<Self>, tasks: &Tasks);

    /// How long events took from publishing to delivery on this instance.
    fn delivery_lag(&self) -> &Histogram;
}

/// Whom [`EventBus::forget`] removes the events of: their ids (the events
/// about them) and the texts that name them (in events about no one in
/// particular, such as a leaderboard).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// The campaign (slug), or every campaign.
    pub campaign: Option<String>,
    /// The ids the events are about.
    pub subjects: Vec<Uuid>,
    /// The texts that name them.
    pub names: Vec<String>,
}

impl Forgotten {
    /// Whether `envelope` is one [`EventBus::forget`] removes.
    fn covers(&self, envelope: &Envelope) -> bool {
        if self
            .campaign
            .as_ref()
            .is_some_and(|c| *c != envelope.campaign)
        {
            return false;
        }
        match envelope.event.subject {
            Some(subject) => self.subjects.contains(&subject),
            None => crate::model::erasure::mentions(&envelope.event.data, &self.names),
        }
    }
}

/// The kind of the signal [`Hub::reset`] sends through a campaign's channel:
/// not an event, never published, never sent as is.
pub(crate) const RESET: &str = "\u{0}reset";

/// This instance's fan-out: one broadcast channel per campaign with subscribers.
pub(crate) struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<Envelope>>>>,
    capacity: usize,
    /// Publish → delivery time of every event handed to this instance.
    pub lag: Histogram,
}

impl Hub {
    /// A hub whose channels buffer `capacity` events per campaign.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            lag: crate::telemetry::metrics::histogram(
                "ovasabi_bus_lag_seconds",
                "Time from an event's publishing (on any instance) to its delivery to this instance's streams.",
            ),
        }
    }

    /// A receiver of the campaign's deliveries from now on.
    pub(crate) fn subscribe(&self, campaign: &str) -> broadcast::Receiver<Arc<Envelope>> {
        let mut channels = self.channels.lock();
        channels
            .entry(campaign.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Tells every subscriber of `campaign` (of every campaign when `None`)
    /// that it missed events it cannot get back: its stream sends `reset`
    /// with a fresh snapshot.
    pub(crate) fn reset(&self, campaign: Option<&str>) {
        let channels = self.channels.lock();
        for (slug, sender) in channels.iter() {
            if campaign.is_none_or(|c| c == slug) {
                let _ = sender.send(Arc::new(Envelope {
                    id: EventId::default(),
                    campaign: slug.clone(),
                    event: Event::public(RESET, Value::Null),
                    published_at: Utc::now(),
                    frame: RenderedFrame::default(),
                }));
            }
        }
    }

    /// Hands `envelope` to the campaign's subscribers; drops channels nobody holds.
    pub(crate) fn deliver(&self, envelope: Arc<Envelope>) {
        let lag = Utc::now() - envelope.published_at;
        self.lag
            .observe(lag.to_std().unwrap_or_default().as_secs_f64());
        let mut channels = self.channels.lock();
        if let Some(sender) = channels.get(&envelope.campaign) {
            let campaign = envelope.campaign.clone();
            if sender.send(envelope).is_err() {
                channels.remove(&campaign);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_parse_print_and_order() {
        let id: EventId = "5.1764000000000-7".parse().expect("parses");
        assert_eq!(id, EventId::new(5, 1_764_000_000_000, 7));
        assert_eq!(id.to_string(), "5.1764000000000-7");
        assert_eq!(id.stream_id(), "1764000000000-7");
        assert_eq!(EventId::of_entry(5, "1764000000000-7"), Some(id));
        assert!(id < "5.1764000000000-8".parse().expect("parses"));
        assert!(id < "5.1764000000001-0".parse().expect("parses"));
        assert!(
            id < "6.1-0".parse().expect("parses"),
            "a later epoch sorts after"
        );
        let local: EventId = "5.1764000000000-7-2".parse().expect("parses");
        assert_eq!(local.to_string(), "5.1764000000000-7-2");
        assert!(id < local && local < "5.1764000000000-8".parse().expect("parses"));
        assert_eq!(local.entry(), id);
        // The format before epochs, and garbage.
        for bad in [
            "1764000000000-7",
            "",
            "7",
            "5.a-b",
            "5.1-",
            "5.-1",
            "5.1-2-0",
            "5.1-2-3-4",
            "5.1-2-x",
            ".1-2",
            "x.1-2",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hub_delivers_per_campaign() {
        let hub = Hub::new(4);
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        let envelope = Arc::new(Envelope {
            id: EventId::new(1, 1, 1),
            campaign: "a".into(),
            event: Event::public("x", Value::Null),
            published_at: Utc::now(),
            frame: RenderedFrame::default(),
        });
        hub.deliver(envelope.clone());
        assert_eq!(a.try_recv().expect("a gets it"), envelope);
        assert!(b.try_recv().is_err(), "b does not");
        let frame = envelope.sse_frame();
        assert_eq!(&frame[..], b"id: 1.1-1\nevent: x\ndata: null\n\n");
        assert_eq!(
            frame.as_ptr(),
            envelope.sse_frame().as_ptr(),
            "rendered once"
        );
    }
}
