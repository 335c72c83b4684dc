//! A room's task: one frame per tick of what changed, sent to every member,
//! and this instance's changes queued for the others; parked while nothing
//! changes, gone when the room is empty.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::TickFrames;
use super::hub::CursorHub;
use super::relay::{HEARTBEAT, Outgoing};
use super::room::Room;
use super::state::RoomState;

impl Room {
    /// Runs the room's ticks until it is empty or `shutdown`.
    /// Regular ticks relay and build frames; other instances' changes are
    /// sent as they arrive ([`Room::merge_remote`]).
    pub(super) async fn run(self: Arc<Self>, hub: Weak<CursorHub>, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.settings.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let regular = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => true,
                () = self.flush.notified() => false,
            };
            if self.send_frame(regular) || !regular {
                continue;
            }
            // Nothing changed: leave if empty, else sleep until something does.
            if let Some(hub) = hub.upgrade()
                && hub.remove_if_empty(&self)
            {
                return;
            }
            // With other instances, a room with local visitors still wakes for
            // its heartbeat and to notice silent instances.
            let heartbeat = if self.relay.is_some() {
                HEARTBEAT
            } else {
                Duration::MAX / 4
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => interval.reset(),
                () = self.flush.notified() => {
                    interval.reset();
                    self.flush.notify_one(); // handled at the top of the loop, at once
                }
                () = tokio::time::sleep(heartbeat) => interval.reset(),
            }
        }
    }

    /// Builds and sends a frame of what changed; on a regular tick (`relay`)
    /// also queues this instance's changes for the others. A frame sent early
    /// for other instances' changes does not relay: relaying from it would
    /// make two instances set each other off as fast as Redis answers.
    /// `false` when there was nothing to send.
    fn send_frame(&self, relay: bool) -> bool {
        let started = std::time::Instant::now();
        let (tick, presence, cursors, removed, (joined, left)) = {
            let mut state = self.state.lock();
            if relay && self.relay.is_some() {
                state.expire_remote(Instant::now());
                self.publish_local(&mut state);
            }
            let cursors =
                state.take_changed(self.settings.interest_cap, |m| m.dirty, |m| m.dirty = false);
            if cursors.is_empty()
                && state.removed.is_empty()
                && !state.presence_changed
                && !state.roster_changed()
            {
                return false;
            }
            state.tick = state.tick.wrapping_add(1);
            state.presence_changed = false;
            let removed = std::mem::take(&mut state.removed);
            let roster = state.take_roster();
            (state.tick, state.presence(), cursors, removed, roster)
        };
        let datagrams: Vec<Bytes> =
            protocol::split_frame(tick, presence, &cursors, &removed, protocol::MAX_DATAGRAM)
                .into_iter()
                .map(Bytes::from)
                .collect();
        let roster: Vec<Bytes> = protocol::split_roster(None, &joined, &left, protocol::MAX_ROSTER)
            .into_iter()
            .map(Bytes::from)
            .collect();
        let (sent, bytes) = self.send_to_sinks(&datagrams);
        self.counters.datagrams_out.inc_by(sent);
        self.counters.bytes_out.inc_by(bytes);
        let frames = Arc::new(TickFrames {
            tick,
            datagrams,
            roster,
        });
        if !frames.roster.is_empty() {
            let _ = self.rosters.send(frames.clone());
        }
        let _ = self.frames.send(frames);
        self.counters.frames.inc();
        self.counters.tick.observe(started.elapsed().as_secs_f64());
        true
    }

    /// Queues this tick's local changes for the other instances (and, when
    /// still, a heartbeat of the local count every [`HEARTBEAT`]).
    fn publish_local(&self, state: &mut RoomState) {
        let Some(relay) = &self.relay else {
            return;
        };
        // Only local members are ever marked relay-dirty (remote ones come from the relay).
        let cursors = state.take_changed(
            self.settings.interest_cap,
            |m| m.origin.is_none() && m.relay_dirty,
            |m| m.relay_dirty = false,
        );
        let now = Instant::now();
        let heartbeat_due = state.has_local_members()
            && state
                .last_relay
                .is_none_or(|at| now.duration_since(at) >= HEARTBEAT);
        if cursors.is_empty()
            && state.relay_removed.is_empty()
            && state.relay_roster_joined.is_empty()
            && !heartbeat_due
        {
            return;
        }
        let removed = std::mem::take(&mut state.relay_removed);
        // Who the local members are: those new since the last publish, and
        // all of them with each heartbeat (an instance that started since
        // learns them within one).
        let joined_ids = std::mem::take(&mut state.relay_roster_joined);
        let roster: Vec<_> = if heartbeat_due {
            state.local_roster()
        } else {
            joined_ids
                .iter()
                .filter_map(|id| Some(state.members.get(id)?.identity.roster_member(*id)))
                .collect()
        };
        let rosters = protocol::split_roster(None, &roster, &[], protocol::MAX_ROSTER);
        let frames = protocol::split_frame(
            state.tick,
            state.local_presence(),
            &cursors,
            &removed,
            protocol::MAX_DATAGRAM,
        );
        state.last_relay = Some(now);
        if !relay.send(Outgoing {
            room: self.key.clone(),
            rosters,
            frames,
        }) {
            tracing::warn!(room = ?self.key, "cursor relay queue full: changes dropped");
        }
    }
}
