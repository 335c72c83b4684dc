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

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use parking_lot::Mutex;
use slab::Slab;
use tokio::io::unix::AsyncFd;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::super::delivery::{
    Delivery, HEARTBEAT, Seen, count_delivery, presence_frame, since_published,
};
use super::super::{IdleStream, PRESENCE_INTERVAL, StreamHold};
use super::MAX_INBOUND;
use crate::bus::{Envelope, EventId};
use crate::limit::ConnectionSlot;
use crate::model::events::{PRESENCE, RESET};
use crate::state::AppState;

/// Most frames a stream may have waiting for its client (besides what its
/// socket holds); one more skips it ahead. They are shared with every other
/// stream: what a waiting frame costs is its place in the queue.
pub const BACKLOG_FRAMES: usize = 64;
/// Readiness events taken from the epoll set at a time.
const EVENTS_AT_ONCE: usize = 256;
/// Most events given to the streams in one pass (one write each).
const BATCH: usize = 64;

/// The running tasks of idle streams, one per campaign with any.
pub struct IdleStreams {
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
    /// No task yet: each starts with its campaign's first idle stream.
    pub fn new(state: Arc<AppState>) -> Arc<Self> {
        Arc::new(Self {
            state,
            campaigns: Mutex::new(HashMap::new()),
        })
    }

    /// Hands `socket`, whose response head and opening frames are written,
    /// to the task of `stream`'s campaign, which keeps it (and `slots`) from
    /// now on.
    pub fn park(
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

/// One idle stream.
struct Member {
    socket: TcpStream,
    seen: Seen,
    /// Bytes the client sent since (at most [`MAX_INBOUND`]).
    inbound: usize,
    /// What the socket could not take yet; none while it takes everything.
    backlog: Option<Box<Backlog>>,
    _hold: (StreamHold, Vec<ConnectionSlot>),
}

/// Frames waiting for a socket to take them.
struct Backlog {
    frames: VecDeque<Bytes>,
    /// How much of the first frame is written.
    written: usize,
    /// When the socket last took nothing more.
    since: Instant,
}

/// Whether a stream stays after a write.
#[derive(PartialEq, Eq)]
enum Kept {
    Yes,
    No,
}

/// A campaign's idle streams.
struct Streams {
    state: Arc<AppState>,
    members: Slab<Member>,
    registry: Registry,
    /// Most frames a stream may have waiting.
    backlog_frames: usize,
    /// The campaign's active visitors, as the last presence frame said.
    active: u64,
    /// The last presence frame made: its position, kind and count (every
    /// stream that saw the same events is at the same position).
    frame: Option<(EventId, &'static str, u64, Bytes)>,
    /// Room for one stream's frames of a batch, kept between streams (one
    /// allocation per pass, not one per stream).
    frames: Vec<Bytes>,
}

/// Keeps the campaign's idle streams until each ends, or no stream is left
/// and none is on its way.
async fn run(
    idle: Arc<IdleStreams>,
    campaign: String,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) {
    let state = idle.state.clone();
    let poll = Poll::new().and_then(|poll| {
        let registry = poll.registry().try_clone()?;
        Ok((watched(poll)?, registry))
    });
    let (mut poll, registry) = match poll {
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
    let mut streams = Streams {
        active: *presence.borrow_and_update(),
        state: state.clone(),
        members: Slab::new(),
        registry,
        backlog_frames: BACKLOG_FRAMES.min(state.config.sse_buffer),
        frame: None,
        frames: Vec::new(),
    };
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
                    // What came meanwhile goes out in the same writes.
                    let mut batch = vec![envelope];
                    let mut lagged = false;
                    while batch.len() < BATCH {
                        match events.try_recv() {
                            Ok(envelope) => batch.push(envelope),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                lagged = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
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
                let Ok(mut guard) = guard else {
                    streams.close_all(false);
                    return;
                };
                match guard.get_inner_mut().poll(&mut ready, Some(Duration::ZERO)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "idle event streams: epoll failed");
                        streams.close_all(false);
                        return;
                    }
                }
                if ready.iter().count() < EVENTS_AT_ONCE {
                    guard.clear_ready(); // all taken; the next readiness wakes us
                }
                for event in ready.iter() {
                    streams.ready(event);
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
        if streams.members.is_empty() {
            // Nobody left: end, unless a stream is on its way (the lock
            // keeps a new one from being sent to a task that has ended).
            let mut campaigns = idle.campaigns.lock();
            match arrivals.try_recv() {
                Ok(arrival) => {
                    drop(campaigns);
                    streams.add(arrival);
                }
                Err(_) => {
                    campaigns.remove(&campaign);
                    return;
                }
            }
        }
    }
}

/// When each envelope of a batch was published, as of when the batch was taken.
struct Published {
    taken: std::time::Instant,
    lags: Vec<Duration>,
}

impl Published {
    fn now(batch: &[Arc<Envelope>]) -> Self {
        Self {
            taken: std::time::Instant::now(),
            lags: batch.iter().map(|e| since_published(e)).collect(),
        }
    }
}

/// Writes `frames`, [`BATCH`] at a time in one system call each, until the
/// socket takes no more; how many bytes it took.
fn write_frames(socket: &mut TcpStream, frames: &[Bytes]) -> io::Result<usize> {
    let mut taken = 0;
    for chunk in frames.chunks(BATCH) {
        let written = match chunk {
            [frame] => socket.write(frame),
            _ => {
                let slices: Vec<io::IoSlice<'_>> =
                    chunk.iter().map(|f| io::IoSlice::new(f)).collect();
                socket.write_vectored(&slices)
            }
        };
        match written {
            Ok(n) => {
                taken += n;
                if n < chunk.iter().map(Bytes::len).sum() {
                    break;
                }
            }
            Err(_) if taken > 0 => break, // what was taken counts; the rest waits
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
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

impl Streams {
    /// Takes `arrival` in: it is given what was published since its stream
    /// subscribed (its own subscription, read to the end), and from then on
    /// what this task receives, past its position.
    fn add(&mut self, arrival: Arrival) {
        let Arrival {
            socket,
            stream,
            slots,
        } = arrival;
        let IdleStream {
            seen,
            mut events,
            hold,
            ..
        } = stream;
        let entry = self.members.vacant_entry();
        let key = entry.key();
        let mut socket = TcpStream::from_std(socket);
        if let Err(e) = self
            .registry
            .register(&mut socket, Token(key), Interest::READABLE)
        {
            tracing::debug!(error = %e, "an idle event stream could not be registered");
            return;
        }
        entry.insert(Member {
            socket,
            seen,
            inbound: 0,
            backlog: None,
            _hold: (hold, slots),
        });
        let mut missed = Vec::new();
        let lagged = loop {
            match events.try_recv() {
                Ok(envelope) => missed.push(envelope),
                Err(broadcast::error::TryRecvError::Lagged(_)) => break true,
                Err(broadcast::error::TryRecvError::Empty) => break false,
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.remove(key);
                    return;
                }
            }
        };
        let mut kept = self.deliver(key, &missed, &Published::now(&missed));
        if lagged && kept == Kept::Yes {
            self.state.counters.sse_resets.inc();
            kept = self.write_presence(key, RESET.name);
        }
        if kept == Kept::No {
            self.remove(key);
        }
    }

    /// Gives `batch` (in order) to every stream, each one's share in one write.
    async fn events(&mut self, batch: &[Arc<Envelope>]) {
        let published = Published::now(batch);
        self.each(|streams, key| streams.deliver(key, batch, &published))
            .await;
    }

    /// Gives the stream at `key` what it should see of `batch`, in one write.
    fn deliver(&mut self, key: usize, batch: &[Arc<Envelope>], published: &Published) -> Kept {
        let mut frames = std::mem::take(&mut self.frames);
        let since = published.taken.elapsed();
        for (envelope, lag) in batch.iter().zip(&published.lags) {
            let member = &mut self.members[key];
            match member.seen.deliver(envelope) {
                Delivery::Skip => {}
                Delivery::Reset => {
                    self.state.counters.sse_resets.inc();
                    let position = member.seen.position;
                    frames.push(self.presence_frame(position, RESET.name));
                }
                Delivery::Send(frame) => {
                    frames.push(frame);
                    count_delivery(&self.state, *lag + since);
                }
            }
        }
        let kept = self.write(key, &frames);
        frames.clear();
        self.frames = frames;
        kept
    }

    /// A presence frame of `kind` to every stream.
    async fn presence(&mut self, kind: &'static str) {
        self.each(|streams, key| streams.write_presence(key, kind))
            .await;
    }

    /// This task fell behind the campaign's buffer: every stream is skipped
    /// ahead with a `reset` carrying `active`, the count now.
    async fn reset_all(&mut self, campaign: &str, active: u64) {
        tracing::debug!(%campaign, "idle event streams skipped ahead");
        self.active = active;
        self.state
            .counters
            .sse_resets
            .inc_by(self.members.len() as u64);
        self.presence(RESET.name).await;
    }

    /// The heartbeat to every stream, and lets go of those whose client has
    /// read nothing of their backlog for the write-stall time.
    async fn heartbeat(&mut self) {
        let stall = self.state.config.idle_timeout;
        let heartbeat = [Bytes::from_static(HEARTBEAT)];
        self.each(|streams, key| match &streams.members[key].backlog {
            // Waiting already says nothing new: no heartbeat queued behind.
            Some(backlog) if backlog.since.elapsed() > stall => Kept::No,
            Some(_) => Kept::Yes,
            None => streams.write(key, &heartbeat),
        })
        .await;
    }

    /// Runs `write` for every stream, letting go of those it does not keep;
    /// gives the runtime its turn as its budget asks.
    async fn each(&mut self, mut write: impl FnMut(&mut Self, usize) -> Kept) {
        for key in 0..self.members.capacity() {
            if !self.members.contains(key) {
                continue;
            }
            if write(self, key) == Kept::No {
                self.remove(key);
            }
            tokio::task::coop::consume_budget().await;
        }
    }

    /// The presence frame of `kind` to the stream at `key`.
    fn write_presence(&mut self, key: usize, kind: &'static str) -> Kept {
        let frame = self.presence_frame(self.members[key].seen.position, kind);
        self.write(key, &[frame])
    }

    /// A presence frame of `kind` carrying `position`: made once for every
    /// stream at the same position.
    fn presence_frame(&mut self, position: EventId, kind: &'static str) -> Bytes {
        match &self.frame {
            Some((at, made, active, frame))
                if (*at, *made, *active) == (position, kind, self.active) =>
            {
                frame.clone()
            }
            _ => {
                let frame = presence_frame(position, kind, self.active);
                self.frame = Some((position, kind, self.active, frame.clone()));
                frame
            }
        }
    }

    /// Writes `frames` to the stream at `key` (one system call), or queues
    /// them behind what the socket has not taken yet; a stream too far
    /// behind is skipped ahead.
    fn write(&mut self, key: usize, frames: &[Bytes]) -> Kept {
        if frames.is_empty() {
            return Kept::Yes;
        }
        let member = &mut self.members[key];
        if let Some(backlog) = &mut member.backlog {
            if backlog.frames.len() + frames.len() <= self.backlog_frames {
                backlog.frames.extend(frames.iter().cloned());
                return Kept::Yes;
            }
            // Skipped ahead: what was not started is dropped (these frames
            // too), and a `reset` with a fresh count replaces it.
            backlog.frames.truncate(usize::from(backlog.written > 0));
            let position = member.seen.position;
            let reset = self.presence_frame(position, RESET.name);
            self.state.counters.sse_resets.inc();
            if let Some(backlog) = &mut self.members[key].backlog {
                backlog.frames.push_back(reset);
            }
            return Kept::Yes;
        }
        let written = match write_frames(&mut member.socket, frames) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(_) => return Kept::No,
        };
        // The first frame not taken whole, and how much of it was.
        let (mut first, mut taken) = (0, written);
        while first < frames.len() && taken >= frames[first].len() {
            taken -= frames[first].len();
            first += 1;
        }
        if first == frames.len() {
            return Kept::Yes;
        }
        let interest = Interest::READABLE.add(Interest::WRITABLE);
        if self
            .registry
            .reregister(&mut member.socket, Token(key), interest)
            .is_err()
        {
            return Kept::No;
        }
        member.backlog = Some(Box::new(Backlog {
            frames: frames[first..].iter().cloned().collect(),
            written: taken,
            since: Instant::now(),
        }));
        Kept::Yes
    }

    /// Acts on readiness of the stream at the event's token: a client that
    /// left is let go, a socket that can take more gets its backlog.
    fn ready(&mut self, event: &mio::event::Event) {
        let key = event.token().0;
        if !self.members.contains(key) {
            return; // let go earlier in this batch
        }
        let kept = if event.is_error() {
            Kept::No
        } else if event.is_readable() || event.is_read_closed() {
            self.read(key)
        } else {
            Kept::Yes
        };
        let kept = if kept == Kept::Yes && event.is_writable() {
            self.flush(key)
        } else {
            kept
        };
        if kept == Kept::No {
            self.remove(key);
        }
    }

    /// Reads what the client sent (nothing is expected) until there is no
    /// more; its end, an error, or more than [`MAX_INBOUND`] lets the stream
    /// go.
    fn read(&mut self, key: usize) -> Kept {
        let member = &mut self.members[key];
        let mut scratch = [0u8; 4096];
        loop {
            match member.socket.read(&mut scratch) {
                Ok(0) => return Kept::No,
                Ok(n) => {
                    member.inbound += n;
                    if member.inbound > MAX_INBOUND {
                        return Kept::No;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Kept::Yes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Kept::No,
            }
        }
    }

    /// Writes the backlog of the stream at `key` as far as the socket takes it.
    fn flush(&mut self, key: usize) -> Kept {
        let member = &mut self.members[key];
        let Some(backlog) = &mut member.backlog else {
            return Kept::Yes;
        };
        while let Some(frame) = backlog.frames.front() {
            match member.socket.write(&frame[backlog.written..]) {
                Ok(0) => return Kept::No,
                Ok(n) => {
                    backlog.since = Instant::now();
                    backlog.written += n;
                    if backlog.written == frame.len() {
                        backlog.frames.pop_front();
                        backlog.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Kept::Yes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Kept::No,
            }
        }
        member.backlog = None;
        match self
            .registry
            .reregister(&mut member.socket, Token(key), Interest::READABLE)
        {
            Ok(()) => Kept::Yes,
            Err(_) => Kept::No,
        }
    }

    /// Lets the stream at `key` go: its socket closes, and its visitor,
    /// slots and gauge are released.
    fn remove(&mut self, key: usize) {
        if let Some(mut member) = self.members.try_remove(key) {
            let _ = self.registry.deregister(&mut member.socket);
        }
    }

    /// Ends the streams whose credential was revoked (a team's key, an
    /// erased person's session).
    fn end_revoked(&mut self) {
        let revoked: Vec<usize> = self
            .members
            .iter()
            .filter(|(_, member)| member.seen.revoked(&self.state.revocations))
            .map(|(key, _)| key)
            .collect();
        for key in revoked {
            if let Some(member) = self.members.get(key) {
                let _ = member.socket.shutdown(Shutdown::Both);
            }
            self.remove(key);
        }
    }

    /// Ends every stream; at shutdown with a `retry` first, so that clients
    /// reconnect soon (to another instance), spread over a second or two.
    fn close_all(&mut self, retry: bool) {
        for mut member in self.members.drain() {
            if retry && member.backlog.is_none() {
                let retry_ms = 500 + rand::random::<u64>() % 1500;
                let _ = member
                    .socket
                    .write(format!("retry: {retry_ms}\n\n").as_bytes());
            }
            let _ = member.socket.shutdown(Shutdown::Write);
        }
    }
}
