//! What a room holds between ticks: its members, their ids, what changed
//! since the last frame and the last relay, and the visitors on other instances.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use protocol::Cursor;
use tokio::time::Instant;
use uuid::Uuid;

use super::identity::Identity;
use super::member::Member;
use super::relay::REMOTE_EXPIRY;

/// A room's members and bookkeeping, behind the room's lock.
#[derive(Default)]
pub(super) struct RoomState {
    pub(super) members: HashMap<u32, Member>,
    /// Local members per visitor (a visitor may have several tabs open).
    pub(super) sessions: HashMap<Uuid, u32>,
    /// Ids given back, handed out again lowest first (ids stay small on the wire).
    free_ids: BinaryHeap<Reverse<u32>>,
    next_id: u32,
    /// Shown members who left since the last frame.
    pub(super) removed: Vec<u32>,
    pub(super) presence_changed: bool,
    pub(super) tick: u32,
    /// Local members who left since the last publish.
    pub(super) relay_removed: Vec<u32>,
    pub(super) last_relay: Option<Instant>,
    /// Local ids of remote members, by instance and their id there.
    pub(super) remote_ids: HashMap<(Uuid, u32), u32>,
    /// Visitors on other instances, and when each last spoke.
    pub(super) remote_presence: HashMap<Uuid, (u32, Instant)>,
    /// Members who joined (or whose identity changed) since the last roster.
    roster_joined: Vec<u32>,
    /// Members who left since the last roster.
    roster_left: Vec<u32>,
    /// Local members who joined since the last relay publish.
    pub(super) relay_roster_joined: Vec<u32>,
}

impl RoomState {
    /// Visitors of this instance in the room.
    pub(super) fn local_presence(&self) -> u32 {
        u32::try_from(self.sessions.len()).unwrap_or(u32::MAX)
    }

    /// Visitors in the room on every instance.
    pub(super) fn presence(&self) -> u32 {
        self.remote_presence
            .values()
            .fold(self.local_presence(), |total, (count, _)| {
                total.saturating_add(*count)
            })
    }

    pub(super) fn has_local_members(&self) -> bool {
        !self.sessions.is_empty()
    }

    /// Adds a local member of `session`; returns its id.
    pub(super) fn join(&mut self, session: Uuid, identity: Identity, now: Instant) -> u32 {
        let id = self.allocate_id();
        self.members
            .insert(id, Member::new(None, session, identity, now));
        *self.sessions.entry(session).or_insert(0) += 1;
        self.presence_changed = true;
        self.note_joined(id);
        self.relay_roster_joined.push(id);
        id
    }

    /// Member `id` joined or changed: the next roster lists it.
    pub(super) fn note_joined(&mut self, id: u32) {
        self.roster_left.retain(|l| *l != id);
        self.roster_joined.retain(|j| *j != id);
        self.roster_joined.push(id);
    }

    /// Whether a roster is due.
    pub(super) fn roster_changed(&self) -> bool {
        !self.roster_joined.is_empty() || !self.roster_left.is_empty()
    }

    /// Who joined and who left since the last roster.
    pub(super) fn take_roster(&mut self) -> (Vec<protocol::RosterMember>, Vec<u32>) {
        let joined = std::mem::take(&mut self.roster_joined)
            .into_iter()
            .filter_map(|id| Some(self.members.get(&id)?.identity.roster_member(id)))
            .collect();
        (joined, std::mem::take(&mut self.roster_left))
    }

    /// `self_id` and at most `cap - 1` others, the most recently active first.
    pub(super) fn roster_snapshot(&self, self_id: u32, cap: usize) -> Vec<protocol::RosterMember> {
        let mut others: Vec<(u32, Instant)> = self
            .members
            .iter()
            .filter(|(id, _)| **id != self_id)
            .map(|(id, m)| (*id, m.last_active))
            .collect();
        others.sort_unstable_by_key(|(id, at)| (Reverse(*at), *id));
        others.truncate(cap.saturating_sub(1));
        std::iter::once(self_id)
            .chain(others.into_iter().map(|(id, _)| id))
            .filter_map(|id| Some(self.members.get(&id)?.identity.roster_member(id)))
            .collect()
    }

    /// This instance's members, by id.
    pub(super) fn local_roster(&self) -> Vec<protocol::RosterMember> {
        let mut all: Vec<_> = self
            .members
            .iter()
            .filter(|(_, m)| m.origin.is_none())
            .map(|(id, m)| m.identity.roster_member(*id))
            .collect();
        all.sort_unstable_by_key(|m| m.id);
        all
    }

    /// Removes local member `id`, announcing it here and to the other
    /// instances; the member it was.
    pub(super) fn leave(&mut self, id: u32) -> Option<Member> {
        let member = self.remove_member(id)?;
        // Every departure, shown or not: other instances know it from its roster.
        self.relay_removed.push(id);
        self.relay_roster_joined.retain(|j| *j != id);
        if let Some(count) = self.sessions.get_mut(&member.session) {
            *count -= 1;
            if *count == 0 {
                self.sessions.remove(&member.session);
            }
        }
        self.presence_changed = true;
        Some(member)
    }

    /// Removes a member and frees its id; announces it when it was shown.
    pub(super) fn remove_member(&mut self, id: u32) -> Option<Member> {
        let member = self.members.remove(&id)?;
        if member.shown {
            self.removed.push(id);
        }
        self.roster_joined.retain(|j| *j != id);
        self.roster_left.push(id);
        self.free_ids.push(Reverse(id));
        Some(member)
    }

    /// Drops the members of instances not heard from for [`REMOTE_EXPIRY`].
    pub(super) fn expire_remote(&mut self, now: Instant) {
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

    /// The local id and member of instance `origin`'s member `remote_id`,
    /// made (not shown, identity unknown until its roster) when new here.
    pub(super) fn remote_member(
        &mut self,
        origin: Uuid,
        remote_id: u32,
        now: Instant,
    ) -> (u32, &mut Member) {
        let local = match self.remote_ids.get(&(origin, remote_id)) {
            Some(local) => *local,
            None => {
                let local = self.allocate_id();
                self.remote_ids.insert((origin, remote_id), local);
                local
            }
        };
        let member = self.members.entry(local).or_insert_with(|| {
            // Until its roster arrives: a colour of its own, no name.
            let stand_in = Uuid::from_u128(origin.as_u128() ^ u128::from(remote_id));
            Member::new(Some(origin), Uuid::nil(), Identity::of(stand_in, None), now)
        });
        (local, member)
    }

    /// The lowest free id.
    pub(super) fn allocate_id(&mut self) -> u32 {
        self.free_ids.pop().map_or_else(
            || {
                self.next_id += 1;
                self.next_id
            },
            |Reverse(id)| id,
        )
    }

    /// Shown cursors (of those `pick` selects), most recently active first, at most `cap`.
    pub(super) fn recent(&self, cap: usize, pick: impl Fn(&Member) -> bool) -> Vec<Cursor> {
        let mut ids: Vec<(u32, Instant)> = self
            .members
            .iter()
            .filter(|(_, m)| m.shown && pick(m))
            .map(|(id, m)| (*id, m.last_active))
            .collect();
        ids.sort_unstable_by_key(|(id, at)| (Reverse(*at), *id));
        ids.truncate(cap);
        ids.iter()
            .filter_map(|(id, _)| Some(self.members.get(id)?.cursor(*id)))
            .collect()
    }

    /// The shown cursors `pick` marks as changed, most recently active first, at
    /// most `cap`, with `clear` applied to each (the rest stay marked for a later tick).
    pub(super) fn take_changed(
        &mut self,
        cap: usize,
        pick: fn(&Member) -> bool,
        clear: fn(&mut Member),
    ) -> Vec<Cursor> {
        let changed = self.recent(cap, pick);
        for cursor in &changed {
            if let Some(member) = self.members.get_mut(&cursor.id) {
                clear(member);
            }
        }
        changed
    }
}
