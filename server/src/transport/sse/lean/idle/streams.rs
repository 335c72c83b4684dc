//! A campaign's idle streams: their sockets, what each has seen and what
//! it still owes, and the writes of one frame to all of them.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::super::MAX_INBOUND;
use super::{Arrival, BACKLOG_FRAMES, BATCH, EVENTS_AT_ONCE};
use crate::bus::{Envelope, EventId};
use crate::limit::ConnectionSlot;
use crate::model::events::RESET;
use crate::state::AppState;
use crate::transport::sse::delivery::{
    Delivery, HEARTBEAT, Seen, count_delivery, presence_frame, since_published,
};
use crate::transport::sse::{IdleStream, StreamHold};
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
pub(super) struct Streams {
    state: Arc<AppState>,
    members: Slab<Member>,
    registry: Registry,
    /// Most frames a stream may have waiting.
    backlog_frames: usize,
    /// The campaign's active visitors, as the last presence frame said.
    pub(super) active: u64,
    /// The last presence frame made: its position, kind and count (every
    /// stream that saw the same events is at the same position).
    frame: Option<(EventId, &'static str, u64, Bytes)>,
    /// Room for one stream's frames of a batch, kept between streams (one
    /// allocation per pass, not one per stream).
    frames: Vec<Bytes>,
}

impl Streams {
    /// No streams yet, for a campaign with `active` visitors.
    pub(super) fn new(state: Arc<AppState>, registry: Registry, active: u64) -> Self {
        Self {
            active,
            backlog_frames: BACKLOG_FRAMES.min(state.config.sse_buffer),
            state,
            members: Slab::new(),
            registry,
            frame: None,
            frames: Vec::new(),
        }
    }

    /// Whether no stream is left.
    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Takes what the epoll set says is ready (without waiting) and acts on
    /// it; an interrupted wait takes nothing.
    pub(super) fn take_ready(
        &mut self,
        guard: &mut tokio::io::unix::AsyncFdReadyMutGuard<'_, Poll>,
        ready: &mut Events,
    ) -> io::Result<()> {
        match guard.get_inner_mut().poll(ready, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        if ready.iter().count() < EVENTS_AT_ONCE {
            guard.clear_ready(); // all taken; the next readiness wakes us
        }
        for event in ready.iter() {
            self.ready(event);
        }
        Ok(())
    }

    /// Takes `arrival` in: it is given what was published since its stream
    /// subscribed (its own subscription, read to the end), and from then on
    /// what this task receives, past its position.
    pub(super) fn add(&mut self, arrival: Arrival) {
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
    pub(super) async fn events(&mut self, batch: &[Arc<Envelope>]) {
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
    pub(super) async fn presence(&mut self, kind: &'static str) {
        self.each(|streams, key| streams.write_presence(key, kind))
            .await;
    }

    /// This task fell behind the campaign's buffer: every stream is skipped
    /// ahead with a `reset` carrying `active`, the count now.
    pub(super) async fn reset_all(&mut self, campaign: &str, active: u64) {
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
    pub(super) async fn heartbeat(&mut self) {
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
    pub(super) fn end_revoked(&mut self) {
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
    pub(super) fn close_all(&mut self, retry: bool) {
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
