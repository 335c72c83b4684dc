//! Cursor rooms: every visitor's pointer on a campaign page, relayed to every
//! other visitor of that page.
//!
//! A room (campaign + page) keeps the latest position of each member. On a
//! fixed tick (the campaign's `cursor.tick_hz`) it builds **one** frame of what
//! changed — at most `cursor.interest_cap` cursors, most recently active first,
//! plus everyone who left — encodes it once (split under the datagram size) and
//! hands the same bytes to every member. A room where nothing changed parks its
//! tick task until something does; an empty room goes away.
//!
//! Transports (WebTransport, the SSE fallback) are skins over this: each holds
//! a [`CursorMember`], feeds it uplink bytes and forwards its frames. With Redis,
//! [`relay::CursorRelay`] carries each room's local changes to the other
//! instances, whose visitors appear here as remote members.

pub mod relay;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use std::time::Duration;

use bytes::Bytes;
use protocol::{Cursor, PointerKind, Uplink};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::model::campaign::Campaign;
use crate::tasks::Tasks;

use self::relay::{CursorRelay, HEARTBEAT, Outgoing, REMOTE_EXPIRY};

/// Counters of the cursor channel.
#[derive(Debug, Default)]
pub struct CursorCounters {
    /// Uplinks accepted.
    pub uplinks: AtomicU64,
    /// Uplinks dropped for going over the rate limit.
    pub dropped_rate: AtomicU64,
    /// Uplinks dropped as malformed, oversized or of another version.
    pub dropped_malformed: AtomicU64,
    /// Uplinks dropped as older than one already applied.
    pub dropped_stale: AtomicU64,
    /// Ticks that built a frame.
    pub frames: AtomicU64,
    /// Datagrams handed to members (per member).
    pub datagrams_out: AtomicU64,
    /// Bytes handed to members (per member).
    pub bytes_out: AtomicU64,
    /// Ticks a slow member missed.
    pub lagged: AtomicU64,
    /// Time each tick spent building its frame.
    pub tick: crate::telemetry::Histogram,
}

/// A room: one page of one campaign.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    /// Campaign slug.
    pub campaign: String,
    /// Page path, e.g. `/`.
    pub page: String,
}

impl RoomKey {
    /// The room of `page` (as the client named it) in campaign `campaign`.
    pub fn new(campaign: &str, page: Option<&str>) -> Self {
        Self {
            campaign: campaign.to_owned(),
            page: normalize_page(page),
        }
    }
}

/// A page path as a room name: starts with `/`, at most 200 characters, no
/// control characters; anything else is `/`.
pub fn normalize_page(page: Option<&str>) -> String {
    match page.map(str::trim) {
        Some(p)
            if p.starts_with('/')
                && p.chars().count() <= 200
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// How a room runs (from the campaign's `cursor` and `rate_limits` settings).
#[derive(Debug, Clone, Copy)]
pub struct RoomSettings {
    /// Time between ticks.
    pub tick: Duration,
    /// Most cursors per tick.
    pub interest_cap: usize,
    /// Most uplinks per member per second.
    pub uplinks_per_second: u32,
}

impl From<&Campaign> for RoomSettings {
    fn from(campaign: &Campaign) -> Self {
        Self {
            tick: Duration::from_secs_f64(1.0 / f64::from(campaign.config.cursor.tick_hz.max(1))),
            interest_cap: campaign.config.cursor.interest_cap as usize,
            uplinks_per_second: campaign.config.rate_limits.cursor_per_second,
        }
    }
}

/// What happened to an uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkOutcome {
    /// Applied.
    Accepted,
    /// Over the member's rate.
    RateLimited,
    /// Not a valid uplink.
    Malformed,
    /// Older than one already applied.
    Stale,
}

/// The datagrams of one tick, encoded once and shared by every member.
#[derive(Debug)]
pub struct TickFrames {
    /// The tick.
    pub tick: u32,
    /// Datagrams, each at most [`protocol::MAX_DATAGRAM`] bytes.
    pub datagrams: Vec<Bytes>,
}

struct Member {
    /// The instance a remote member is on (`None`: a member of this instance).
    origin: Option<Uuid>,
    session: Uuid,
    x: u16,
    y: u16,
    kind: PointerKind,
    /// Whether the pointer is on the page (a leave hides it until it moves).
    shown: bool,
    last_active: Instant,
    /// Changed since it was last sent.
    dirty: bool,
    /// Changed since it was last published to the other instances.
    relay_dirty: bool,
    last_seq: Option<u32>,
    window_start: Instant,
    window_count: u32,
}

impl Member {
    /// A member not yet shown, of `session` (local) or of instance `origin` (remote).
    fn new(origin: Option<Uuid>, session: Uuid, now: Instant) -> Self {
        Self {
            origin,
            session,
            x: 0,
            y: 0,
            kind: PointerKind::Move,
            shown: false,
            last_active: now,
            dirty: false,
            relay_dirty: false,
            last_seq: None,
            window_start: now,
            window_count: 0,
        }
    }
}

impl Member {
    /// Shows the pointer at a new position, to be sent at the next tick.
    fn show(&mut self, x: u16, y: u16, kind: PointerKind) {
        self.x = x;
        self.y = y;
        self.kind = kind;
        self.shown = true;
        self.dirty = true;
    }
}

#[derive(Default)]
struct RoomState {
    members: HashMap<u32, Member>,
    sessions: HashMap<Uuid, u32>,
    free_ids: BinaryHeap<Reverse<u32>>,
    next_id: u32,
    removed: Vec<u32>,
    presence_changed: bool,
    tick: u32,
    closed: bool,
    /// Local members who left since the last publish.
    relay_removed: Vec<u32>,
    last_relay: Option<Instant>,
    /// Local ids of remote members, by instance and their id there.
    remote_ids: HashMap<(Uuid, u32), u32>,
    /// Visitors on other instances, and when each last spoke.
    remote_presence: HashMap<Uuid, (u32, Instant)>,
}

impl RoomState {
    fn local_presence(&self) -> u32 {
        u32::try_from(self.sessions.len()).unwrap_or(u32::MAX)
    }

    fn presence(&self) -> u32 {
        self.remote_presence
            .values()
            .fold(self.local_presence(), |total, (count, _)| {
                total.saturating_add(*count)
            })
    }

    fn has_local_members(&self) -> bool {
        !self.sessions.is_empty()
    }

    /// Removes a member and frees its id; announces it when it was shown.
    fn remove_member(&mut self, id: u32) -> Option<Member> {
        let member = self.members.remove(&id)?;
        if member.shown {
            self.removed.push(id);
        }
        self.free_ids.push(Reverse(id));
        Some(member)
    }

    /// Drops the members of instances not heard from for [`REMOTE_EXPIRY`].
    fn expire_remote(&mut self, now: Instant) {
        let silent: Vec<Uuid> = self
            .remote_presence
            .iter()
            .filter(|(_, (_, seen))| now.duration_since(*seen) > REMOTE_EXPIRY)
            .map(|(instance, _)| *instance)
            .collect();
        for instance in silent {
            self.remote_presence.remove(&instance);
            let ids: Vec<u32> = self
                .remote_ids
                .iter()
                .filter(|((origin, _), _)| *origin == instance)
                .map(|(_, local)| *local)
                .collect();
            self.remote_ids.retain(|(origin, _), _| *origin != instance);
            for id in ids {
                self.remove_member(id);
            }
            self.presence_changed = true;
        }
    }

    fn allocate_id(&mut self) -> u32 {
        self.free_ids.pop().map_or_else(
            || {
                self.next_id += 1;
                self.next_id
            },
            |Reverse(id)| id,
        )
    }

    /// Shown cursors (of those `pick` selects), most recently active first, at most `cap`.
    fn recent(&self, cap: usize, pick: impl Fn(&Member) -> bool) -> Vec<(u32, Instant)> {
        let mut ids: Vec<(u32, Instant)> = self
            .members
            .iter()
            .filter(|(_, m)| m.shown && pick(m))
            .map(|(id, m)| (*id, m.last_active))
            .collect();
        ids.sort_unstable_by_key(|(id, at)| (Reverse(*at), *id));
        ids.truncate(cap);
        ids
    }

    /// The shown cursors `pick` marks as changed, most recently active first, at
    /// most `cap`, with `clear` applied to each (the rest stay marked for a later tick).
    fn take_changed(
        &mut self,
        cap: usize,
        pick: fn(&Member) -> bool,
        clear: fn(&mut Member),
    ) -> Vec<Cursor> {
        let changed = self.recent(cap, pick);
        changed
            .iter()
            .filter_map(|(id, _)| {
                let member = self.members.get_mut(id)?;
                clear(member);
                Some(Cursor {
                    id: *id,
                    kind: member.kind,
                    x: member.x,
                    y: member.y,
                })
            })
            .collect()
    }

    fn cursor(&self, id: u32) -> Option<Cursor> {
        self.members.get(&id).map(|m| Cursor {
            id,
            kind: m.kind,
            x: m.x,
            y: m.y,
        })
    }
}

/// One page's room.
pub struct Room {
    key: RoomKey,
    settings: RoomSettings,
    relay: Option<Arc<CursorRelay>>,
    state: Mutex<RoomState>,
    frames: broadcast::Sender<Arc<TickFrames>>,
    wake: Notify,
    /// Other instances' changes arrived: send them now, not at the next tick.
    flush: Notify,
    counters: Arc<CursorCounters>,
}

/// Frames a member may fall behind before it skips ahead.
const MEMBER_BUFFER: usize = 16;

impl Room {
    fn lock(&self) -> parking_lot::MutexGuard<'_, RoomState> {
        self.state.lock()
    }

    /// Applies member `id`'s uplink.
    fn apply(&self, id: u32, uplink: Uplink) -> UplinkOutcome {
        let counters = &self.counters;
        let now = Instant::now();
        let mut state = self.lock();
        let Some(member) = state.members.get_mut(&id) else {
            return UplinkOutcome::Malformed;
        };
        if now.duration_since(member.window_start) >= Duration::from_secs(1) {
            member.window_start = now;
            member.window_count = 0;
        }
        if member.window_count >= self.settings.uplinks_per_second {
            counters.dropped_rate.fetch_add(1, Ordering::Relaxed);
            return UplinkOutcome::RateLimited;
        }
        member.window_count += 1;
        if let Some(last) = member.last_seq
            && (uplink.seq.wrapping_sub(last) as i32) <= 0
        {
            counters.dropped_stale.fetch_add(1, Ordering::Relaxed);
            return UplinkOutcome::Stale;
        }
        member.last_seq = Some(uplink.seq);
        member.last_active = now;
        if uplink.kind == PointerKind::Leave {
            if member.shown {
                member.shown = false;
                member.dirty = false;
                member.relay_dirty = false;
                state.removed.push(id);
                state.relay_removed.push(id);
            }
        } else {
            member.show(uplink.x, uplink.y, uplink.kind);
            member.relay_dirty = true;
            // A member who left and came back in one tick is not "removed".
            state.removed.retain(|r| *r != id);
            state.relay_removed.retain(|r| *r != id);
        }
        drop(state);
        counters.uplinks.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        UplinkOutcome::Accepted
    }

    /// Builds and sends this tick's frame; `false` when there was nothing to send.
    pub fn tick_once(&self) -> bool {
        self.send_frame(true)
    }

    /// Builds and sends a frame of what changed; on a regular tick (`relay`)
    /// also queues this instance's changes for the others. A frame sent early
    /// for other instances' changes does not relay: relaying from it would
    /// make two instances set each other off as fast as Redis answers.
    fn send_frame(&self, relay: bool) -> bool {
        let started = std::time::Instant::now();
        let (tick, presence, cursors, removed) = {
            let mut state = self.lock();
            if relay && self.relay.is_some() {
                state.expire_remote(Instant::now());
                self.publish_local(&mut state);
            }
            let cursors =
                state.take_changed(self.settings.interest_cap, |m| m.dirty, |m| m.dirty = false);
            if cursors.is_empty() && state.removed.is_empty() && !state.presence_changed {
                return false;
            }
            state.tick = state.tick.wrapping_add(1);
            state.presence_changed = false;
            let removed = std::mem::take(&mut state.removed);
            (state.tick, state.presence(), cursors, removed)
        };
        let datagrams =
            protocol::split_frame(tick, presence, &cursors, &removed, protocol::MAX_DATAGRAM)
                .into_iter()
                .map(Bytes::from)
                .collect();
        let _ = self.frames.send(Arc::new(TickFrames { tick, datagrams }));
        self.counters.frames.fetch_add(1, Ordering::Relaxed);
        self.counters.tick.observe(started.elapsed());
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
        if cursors.is_empty() && state.relay_removed.is_empty() && !heartbeat_due {
            return;
        }
        let removed = std::mem::take(&mut state.relay_removed);
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
            frames,
        }) {
            tracing::warn!(room = ?self.key, "cursor relay queue full: changes dropped");
        }
    }

    /// Merges another instance's changes (its ids) into this room.
    fn merge_remote(&self, origin: Uuid, frame: &protocol::Frame) {
        let now = Instant::now();
        let mut state = self.lock();
        let previous = state.remote_presence.insert(origin, (frame.presence, now));
        if previous.map(|(count, _)| count) != Some(frame.presence) {
            state.presence_changed = true;
        }
        for cursor in &frame.cursors {
            let local = match state.remote_ids.get(&(origin, cursor.id)) {
                Some(local) => *local,
                None => {
                    let local = state.allocate_id();
                    state.remote_ids.insert((origin, cursor.id), local);
                    local
                }
            };
            let member = state
                .members
                .entry(local)
                .or_insert_with(|| Member::new(Some(origin), Uuid::nil(), now));
            member.show(cursor.x, cursor.y, cursor.kind);
            member.last_active = now;
        }
        for remote_id in &frame.removed {
            if let Some(local) = state.remote_ids.remove(&(origin, *remote_id)) {
                state.remove_member(local);
            }
        }
        drop(state);
        // Sent at once rather than at this room's next tick: the change already
        // waited for the other instance's tick, and one tick + Redis is the budget.
        self.flush.notify_one();
    }

    /// Runs the room's ticks until it is empty or `shutdown`.
    /// Regular ticks relay and build frames; other instances' changes are
    /// sent as they arrive ([`Room::merge_remote`]).
    async fn run(self: Arc<Self>, hub: Weak<CursorHub>, shutdown: CancellationToken) {
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
}

/// Fallback members by room and session: which member a posted uplink feeds.
type FallbackMembers = Arc<Mutex<HashMap<(RoomKey, Uuid), (Weak<Room>, u32)>>>;

/// Every room of this instance.
pub struct CursorHub {
    rooms: Mutex<HashMap<RoomKey, Arc<Room>>>,
    relay: Option<Arc<CursorRelay>>,
    /// Members fed by `POST …/cursor` (the SSE fallback), by room and session.
    fallbacks: FallbackMembers,
    /// What the cursor channel did.
    pub counters: Arc<CursorCounters>,
    tasks: Tasks,
}

impl CursorHub {
    /// A hub whose room tasks run in `tasks` (until shutdown); with `relay`,
    /// rooms span instances.
    pub fn new(tasks: Tasks, relay: Option<Arc<CursorRelay>>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            relay,
            fallbacks: Arc::new(Mutex::new(HashMap::new())),
            counters: Arc::new(CursorCounters::default()),
            tasks,
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.rooms.lock()
    }

    /// Adds a member for `session` to the room, creating (and starting) it if needed.
    pub fn join(
        self: &Arc<Self>,
        key: RoomKey,
        settings: RoomSettings,
        session: Uuid,
    ) -> CursorMember {
        let mut rooms = self.lock();
        let room = rooms
            .entry(key.clone())
            .or_insert_with(|| {
                let room = Arc::new(Room {
                    key: key.clone(),
                    settings,
                    relay: self.relay.clone(),
                    state: Mutex::new(RoomState::default()),
                    frames: broadcast::channel(MEMBER_BUFFER).0,
                    wake: Notify::new(),
                    flush: Notify::new(),
                    counters: self.counters.clone(),
                });
                self.tasks.spawn(
                    "cursor room",
                    room.clone()
                        .run(Arc::downgrade(self), self.tasks.shutdown().clone()),
                );
                room
            })
            .clone();
        let frames = room.frames.subscribe();
        let id = {
            let mut state = room.lock();
            let id = state.allocate_id();
            let now = Instant::now();
            state.members.insert(id, Member::new(None, session, now));
            *state.sessions.entry(session).or_insert(0) += 1;
            state.presence_changed = true;
            id
        };
        drop(rooms);
        room.wake.notify_one();
        CursorMember { room, id, frames }
    }

    /// Starts the relay between instances (when there is one).
    pub fn start(self: &Arc<Self>) {
        if let Some(relay) = &self.relay {
            relay.clone().start(self.clone(), &self.tasks);
        }
    }

    /// Merges another instance's changes into the room, if this instance has it.
    pub fn merge_remote(&self, key: &RoomKey, origin: Uuid, frame: &protocol::Frame) {
        let room = self.lock().get(key).cloned();
        if let Some(room) = room {
            room.merge_remote(origin, frame);
        }
    }

    /// Removes `room` if it has no local members; true when it did.
    fn remove_if_empty(&self, room: &Arc<Room>) -> bool {
        let mut rooms = self.lock();
        let mut state = room.lock();
        if state.has_local_members() {
            return false;
        }
        state.closed = true;
        if rooms.get(&room.key).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.key);
        }
        true
    }

    /// Makes `member` the one that `POST …/cursor` uplinks of `session` feed,
    /// until the returned guard is dropped.
    pub fn register_fallback(&self, member: &CursorMember, session: Uuid) -> FallbackRegistration {
        let key = (member.room.key.clone(), session);
        self.fallbacks
            .lock()
            .insert(key.clone(), (Arc::downgrade(&member.room), member.id));
        FallbackRegistration {
            fallbacks: self.fallbacks.clone(),
            key,
            id: member.id,
        }
    }

    /// Applies an uplink posted by `session` to its fallback member in `room`;
    /// `None` when it has no fallback stream open there.
    pub fn apply_fallback(
        &self,
        room: &RoomKey,
        session: Uuid,
        uplink: Uplink,
    ) -> Option<UplinkOutcome> {
        let (room, id) = self
            .fallbacks
            .lock()
            .get(&(room.clone(), session))
            .cloned()?;
        Some(room.upgrade()?.apply(id, uplink))
    }

    /// Rooms alive now.
    pub fn room_count(&self) -> usize {
        self.lock().len()
    }
}

/// Keeps a fallback member reachable by `POST …/cursor`; unregisters on drop.
pub struct FallbackRegistration {
    fallbacks: FallbackMembers,
    key: (RoomKey, Uuid),
    id: u32,
}

impl Drop for FallbackRegistration {
    fn drop(&mut self) {
        let mut fallbacks = self.fallbacks.lock();
        // Only if a newer stream of the same session did not take over.
        if fallbacks
            .get(&self.key)
            .is_some_and(|(_, id)| *id == self.id)
        {
            fallbacks.remove(&self.key);
        }
    }
}

/// One connection's place in a room; leaving the room when dropped.
pub struct CursorMember {
    room: Arc<Room>,
    id: u32,
    frames: broadcast::Receiver<Arc<TickFrames>>,
}

impl Drop for CursorMember {
    fn drop(&mut self) {
        let mut state = self.room.lock();
        if let Some(member) = state.remove_member(self.id) {
            if member.shown {
                state.relay_removed.push(self.id);
            }
            if let Some(count) = state.sessions.get_mut(&member.session) {
                *count -= 1;
                if *count == 0 {
                    state.sessions.remove(&member.session);
                }
            }
            state.presence_changed = true;
        }
        drop(state);
        self.room.wake.notify_one();
    }
}

impl CursorMember {
    /// This member's id in the room.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The room.
    pub fn room(&self) -> &RoomKey {
        &self.room.key
    }

    /// The room's counters.
    pub fn counters(&self) -> &CursorCounters {
        &self.room.counters
    }

    /// Applies one uplink datagram from this member.
    pub fn uplink(&self, bytes: &[u8]) -> UplinkOutcome {
        match protocol::decode_uplink(bytes) {
            Ok(uplink) => self.apply(uplink),
            Err(_) => {
                self.room
                    .counters
                    .dropped_malformed
                    .fetch_add(1, Ordering::Relaxed);
                UplinkOutcome::Malformed
            }
        }
    }

    /// Applies one decoded uplink.
    pub fn apply(&self, uplink: Uplink) -> UplinkOutcome {
        self.room.apply(self.id, uplink)
    }

    /// The room as it is now (the most recently active cursors, up to the cap),
    /// for a member who just joined.
    pub fn snapshot(&self) -> Vec<Bytes> {
        let state = self.room.lock();
        let cursors: Vec<Cursor> = state
            .recent(self.room.settings.interest_cap, |_| true)
            .iter()
            .filter_map(|(id, _)| state.cursor(*id))
            .collect();
        protocol::split_frame(
            state.tick,
            state.presence(),
            &cursors,
            &[],
            protocol::MAX_DATAGRAM,
        )
        .into_iter()
        .map(Bytes::from)
        .collect()
    }

    /// The next tick's datagrams. `Ok(None)` when the member fell behind and
    /// skipped ahead; `Err` when the room closed.
    pub async fn next(&mut self) -> Result<Option<Arc<TickFrames>>, broadcast::error::RecvError> {
        match self.frames.recv().await {
            Ok(frames) => {
                let counters = &self.room.counters;
                counters
                    .datagrams_out
                    .fetch_add(frames.datagrams.len() as u64, Ordering::Relaxed);
                let bytes: usize = frames.datagrams.iter().map(Bytes::len).sum();
                counters
                    .bytes_out
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                Ok(Some(frames))
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.room.counters.lagged.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(closed) => Err(closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{VERSION, decode_frame};

    use super::*;

    fn settings(cap: usize) -> RoomSettings {
        RoomSettings {
            tick: Duration::from_millis(10),
            interest_cap: cap,
            uplinks_per_second: 60,
        }
    }

    fn key() -> RoomKey {
        RoomKey {
            campaign: "c".into(),
            page: "/".into(),
        }
    }

    fn mv(seq: u32, x: u16) -> Uplink {
        Uplink {
            version: VERSION,
            seq,
            kind: PointerKind::Move,
            x,
            y: 7,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_frame_per_tick_capped_most_recent_first() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let mut watcher = hub.join(key(), settings(2), Uuid::now_v7());
        let movers: Vec<_> = (0..4)
            .map(|_| hub.join(key(), settings(2), Uuid::now_v7()))
            .collect();
        // Let the first tick (presence only) pass, then move within one tick.
        let first = watcher.next().await.expect("open").expect("not lagged");
        assert!(
            decode_frame(&first.datagrams[0])
                .expect("decodes")
                .cursors
                .is_empty()
        );
        for (i, mover) in movers.iter().enumerate() {
            assert_eq!(mover.apply(mv(1, i as u16)), UplinkOutcome::Accepted);
            tokio::time::advance(Duration::from_micros(100)).await;
        }
        let mut shown = Vec::new();
        while shown.len() < 4 {
            let frames = watcher.next().await.expect("open").expect("not lagged");
            for datagram in &frames.datagrams {
                let frame = decode_frame(datagram).expect("decodes");
                assert_eq!(frame.presence, 5);
                assert!(frame.cursors.len() <= 2, "interest cap");
                shown.extend(frame.cursors.iter().map(|c| c.x));
            }
        }
        assert_eq!(&shown[..2], &[3, 2], "most recently active first");
        assert_eq!(shown.len(), 4, "the rest follow on later ticks");
    }

    #[tokio::test]
    async fn stale_rate_limited_and_leaving_members() {
        let hub = Arc::new(CursorHub::new(Tasks::new(), None));
        let member = hub.join(key(), settings(8), Uuid::now_v7());
        assert_eq!(member.apply(mv(5, 1)), UplinkOutcome::Accepted);
        assert_eq!(member.apply(mv(4, 1)), UplinkOutcome::Stale);
        assert_eq!(member.uplink(&[9, 9, 9]), UplinkOutcome::Malformed);
        let mut limited = 0;
        for seq in 6..200 {
            if member.apply(mv(seq, 1)) == UplinkOutcome::RateLimited {
                limited += 1;
            }
        }
        // The window holds 60: seq 5, the stale 4 (it was received), and 58 more.
        assert_eq!(limited, 194 - 58, "60 per second");
        let id = member.id();
        let mut watcher = hub.join(key(), settings(8), Uuid::now_v7());
        drop(member);
        loop {
            let frames = watcher.next().await.expect("open").expect("not lagged");
            let frame = decode_frame(&frames.datagrams[0]).expect("decodes");
            if frame.removed.contains(&id) {
                assert_eq!(frame.presence, 1);
                break;
            }
        }
        drop(watcher);
        for _ in 0..100 {
            if hub.room_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("an empty room goes away");
    }
}
