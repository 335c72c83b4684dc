//! A member of a room: its pointer, and its uplink rate and sequence.

use std::time::Duration;

use protocol::{Cursor, PointerKind};
use tokio::time::Instant;
use uuid::Uuid;

use super::UplinkOutcome;
use super::humanity::Humanity;
use super::identity::Identity;
use super::scores::HumanityReport;

/// One pointer in a room, local or relayed from another instance.
pub(super) struct Member {
    /// The instance a remote member is on (`None`: a member of this instance).
    pub(super) origin: Option<Uuid>,
    /// The visitor (nil for remote members).
    pub(super) session: Uuid,
    /// Who the member is, as the room's rosters tell it.
    pub(super) identity: Identity,
    pub(super) x: u16,
    pub(super) y: u16,
    pub(super) kind: PointerKind,
    /// Whether the pointer is on the page (a leave hides it until it moves).
    pub(super) shown: bool,
    pub(super) last_active: Instant,
    /// Changed since it was last sent.
    pub(super) dirty: bool,
    /// Changed since it was last published to the other instances.
    pub(super) relay_dirty: bool,
    /// The newest uplink sequence applied.
    last_seq: Option<u32>,
    /// The start of the current one-second rate window, and uplinks in it.
    window_start: Instant,
    window_count: u32,
    /// When it joined: its samples are timed from here.
    since: Instant,
    /// How its pointer moved (local members only), and whether that
    /// changed since it was last reported.
    humanity: Humanity,
    humanity_changed: bool,
}

impl Member {
    /// A member not yet shown, of `session` (local) or of instance `origin` (remote).
    pub(super) fn new(
        origin: Option<Uuid>,
        session: Uuid,
        identity: Identity,
        now: Instant,
    ) -> Self {
        Self {
            origin,
            session,
            identity,
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
            since: now,
            humanity: Humanity::default(),
            humanity_changed: false,
        }
    }

    /// Takes a pointer sample at `now` into its humanity score.
    pub(super) fn observe(&mut self, x: u16, y: u16, now: Instant) {
        let at = now.duration_since(self.since).as_millis();
        self.humanity
            .sample(x, y, u64::try_from(at).unwrap_or(u64::MAX));
        self.humanity_changed = true;
    }

    /// Its humanity score, when it changed since last taken and there is
    /// one yet (a member of campaign `campaign`).
    pub(super) fn take_humanity(&mut self, campaign: &str) -> Option<HumanityReport> {
        if !std::mem::take(&mut self.humanity_changed) {
            return None;
        }
        Some(HumanityReport {
            session: self.session,
            campaign: campaign.to_owned(),
            score: self.humanity.score()?,
            samples: self.humanity.samples(),
        })
    }

    /// Shows the pointer at a new position, to be sent at the next tick.
    pub(super) fn show(&mut self, x: u16, y: u16, kind: PointerKind) {
        self.x = x;
        self.y = y;
        self.kind = kind;
        self.shown = true;
        self.dirty = true;
    }

    /// Counts an uplink with sequence `seq` against the member's rate
    /// (`per_second`) and checks it is newer than the last one applied.
    pub(super) fn admit(&mut self, seq: u32, per_second: u32, now: Instant) -> UplinkOutcome {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window_count = 0;
        }
        if self.window_count >= per_second {
            return UplinkOutcome::RateLimited;
        }
        self.window_count += 1;
        // Sequences wrap: newer means ahead by less than half the range.
        if let Some(last) = self.last_seq
            && (seq.wrapping_sub(last) as i32) <= 0
        {
            return UplinkOutcome::Stale;
        }
        self.last_seq = Some(seq);
        self.last_active = now;
        UplinkOutcome::Accepted
    }

    /// The pointer as a frame carries it, under `id`.
    pub(super) fn cursor(&self, id: u32) -> Cursor {
        Cursor {
            id,
            kind: self.kind,
            x: self.x,
            y: self.y,
        }
    }
}
