//! Idle event streams, kept by one task per campaign.
//!
//! Most event streams only wait: for the campaign's next event, the next
//! presence count, the next heartbeat. In a task of its own each one costs the
//! task, its timers and a registration with the runtime's reactor (3.9 KiB in
//! all), and one event to ten thousand of them is ten thousand task wake-ups
//! before the ten thousand writes.
//!
//! Here one task per campaign keeps every idle lean stream: the sockets sit in
//! a slab, registered in an epoll set of the task's own (mio's `Poll`, itself
//! watched by the runtime) that says only which clients left or which
//! sockets can take more, and each frame is written to all of them in one
//! pass. What a stream still needs of its own is where it is in the events
//! and whose private events it may see ([`Seen`]).
//!
//! A stream that relays a room (cursors, members) stays in its own task: its
//! frames are its own. A socket that cannot take a frame whole keeps the rest
//! in a backlog of shared frames, written when the socket can take more. A
//! client that falls [`BACKLOG_FRAMES`] frames behind (or the campaign's event
//! buffer, if smaller) is skipped ahead with a `reset`, as a stream in its own
//! task is when it falls behind the buffer; one that reads nothing for the
//! write-stall time is let go.

use std::collections::HashMap;
use std::io::{self};
use std::pin::pin;
use std::sync::Arc;

use mio::{Events, Poll};
use parking_lot::Mutex;
use tokio::io::unix::AsyncFd;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::super::{IdleStream, PRESENCE_INTERVAL};
use crate::bus::Envelope;
use crate::limit::ConnectionSlot;
use crate::model::events::PRESENCE;
use crate::state::AppState;

mod streams;
use streams::Streams;

/// Most frames a stream may have waiting for its client (besides what its
/// socket holds); one more skips it ahead. They are shared with every other
/// stream: what a waiting frame costs is its place in the queue.
pub(crate) const BACKLOG_FRAMES: usize = 64;
/// Readiness events taken from the epoll set at a time.
const EVENTS_AT_ONCE: usize = 256;
/// Most events given to the streams in one pass (one write each).
const BATCH: usize = 64;

/// The running tasks of idle streams, one per campaign with any.
pub(crate) struct IdleStreams {
    state: Arc<AppState>,
    campaigns: Mutex<HashMap<String, mpsc::UnboundedSender<Arrival>>>,
}

/// A stream on its way to its campaign's task.
struct Arrival {
    socket: std::net::TcpStream,
    stream: IdleStream,
    slots: Vec<ConnectionSlot>,
}

impl IdleStreams {
    /// With nobody left in `campaign`'s task: takes a stream on its way, if
    /// one is (true), or ends the task's place (false). The lock keeps a
    /// new stream from being sent to a task that has ended.
    fn one_on_its_way(
        &self,
        campaign: &str,
        arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
        streams: &mut Streams,
    ) -> bool {
        let mut campaigns = self.campaigns.lock();
        match arrivals.try_recv() {
            Ok(arrival) => {
                drop(campaigns);
                streams.add(arrival);
                true
            }
            Err(_) => {
                campaigns.remove(campaign);
                false
            }
        }
    }

    /// No task yet: each starts with its campaign's first idle stream.
    pub(crate) fn new(state: Arc<AppState>) -> Arc<Self> {
        Arc::new(Self {
            state,
            campaigns: Mutex::new(HashMap::new()),
        })
    }

    /// Hands `socket`, whose response head and opening frames are written,
    /// to the task of `stream`'s campaign, which keeps it (and `slots`) from
    /// now on.
    pub(crate) fn park(
        self: &Arc<Self>,
        socket: tokio::net::TcpStream,
        stream: IdleStream,
        slots: Vec<ConnectionSlot>,
    ) {
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => {
                tracing::debug!(error = %e, "an event stream's socket could not be handed over");
                return;
            }
        };
        let campaign = stream.campaign.clone();
        let mut arrival = Arrival {
            socket,
            stream,
            slots,
        };
        let mut campaigns = self.campaigns.lock();
        if let Some(task) = campaigns.get(&campaign) {
            match task.send(arrival) {
                Ok(()) => return,
                // The task ended (at shutdown): a new one answers it.
                Err(returned) => arrival = returned.0,
            }
        }
        let (task, arrivals) = mpsc::unbounded_channel();
        let _ = task.send(arrival); // the receiver is right here
        campaigns.insert(campaign.clone(), task);
        drop(campaigns);
        self.state
            .tasks
            .spawn("idle event streams", run(self.clone(), campaign, arrivals));
    }
}

/// Keeps the campaign's idle streams until each ends, or no stream is left
/// and none is on its way.
async fn run(
    idle: Arc<IdleStreams>,
    campaign: String,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) {
    let state = idle.state.clone();
    let (mut poll, registry) = match Poll::new().and_then(|poll| {
        let registry = poll.registry().try_clone()?;
        Ok((watched(poll)?, registry))
    }) {
        Ok(poll) => poll,
        Err(e) => {
            // Out of descriptors: these streams end, and their clients reconnect.
            tracing::warn!(error = %e, "cannot keep idle event streams");
            idle.campaigns.lock().remove(&campaign);
            return;
        }
    };
    let mut events = state.bus.subscribe(&campaign);
    let mut presence = state.presence.watch(&campaign);
    let mut streams = Streams::new(state.clone(), registry, *presence.borrow_and_update());
    let every = state.config.sse_heartbeat;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_presence = Instant::now();
    let mut presence_due: Option<Instant> = None;
    let mut ready = Events::with_capacity(EVENTS_AT_ONCE);
    let shutdown = state.tasks.shutdown().clone();
    let mut shutdown = pin!(shutdown.cancelled());
    let mut revocations = state.revocations.changed();
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                streams.close_all(true);
                return;
            }
            Some(arrival) = arrivals.recv() => streams.add(arrival),
            changed = revocations.changed() => {
                if changed.is_err() {
                    streams.close_all(false);
                    return;
                }
                streams.end_revoked();
            }
            received = events.recv() => match received {
                Ok(envelope) => {
                    let (batch, lagged) = take_batch(envelope, &mut events);
                    streams.events(&batch).await;
                    if lagged {
                        let active = *presence.borrow_and_update();
                        streams.reset_all(&campaign, active).await;
                        last_presence = Instant::now();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let active = *presence.borrow_and_update();
                    streams.reset_all(&campaign, active).await;
                    last_presence = Instant::now();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    streams.close_all(false);
                    return;
                }
            },
            guard = poll.readable_mut() => {
                let taken = guard.and_then(|mut guard| streams.take_ready(&mut guard, &mut ready));
                if let Err(e) = taken {
                    tracing::warn!(error = %e, "idle event streams: epoll failed");
                    streams.close_all(false);
                    return;
                }
            }
            changed = presence.changed(), if presence_due.is_none() => {
                if changed.is_err() {
                    streams.close_all(false);
                    return;
                }
                presence_due = Some(last_presence + PRESENCE_INTERVAL);
            }
            () = tokio::time::sleep_until(presence_due.unwrap_or_else(Instant::now)), if presence_due.is_some() => {
                presence_due = None;
                streams.active = *presence.borrow_and_update();
                streams.presence(PRESENCE.name).await;
                last_presence = Instant::now();
            }
            _ = heartbeat.tick() => streams.heartbeat().await,
        }
        if streams.is_empty() && !idle.one_on_its_way(&campaign, &mut arrivals, &mut streams) {
            return;
        }
    }
}

/// The envelopes published since `first`, up to [`BATCH`], which go out in
/// the same writes; and whether the subscription fell behind meanwhile.
fn take_batch(
    first: Arc<Envelope>,
    events: &mut broadcast::Receiver<Arc<Envelope>>,
) -> (Vec<Arc<Envelope>>, bool) {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match events.try_recv() {
            Ok(envelope) => batch.push(envelope),
            Err(broadcast::error::TryRecvError::Lagged(_)) => return (batch, true),
            Err(_) => break,
        }
    }
    (batch, false)
}

/// `poll` registered with the runtime, which wakes the task when any of its
/// sockets is ready.
#[allow(unsafe_code)]
fn watched(poll: Poll) -> io::Result<AsyncFd<Poll>> {
    // SAFETY: the epoll descriptor is owned by `poll`, which the `AsyncFd`
    // owns from here on and deregisters before dropping it; nothing else
    // closes or replaces it.
    unsafe { AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}
