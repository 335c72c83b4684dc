//! Humanity scores on their way out of the rooms: each local member's
//! score ([`super::humanity`]) is taken while it changes
//! ([`super::CursorHub::take_humanity`]) and once more when it leaves, to
//! be kept by session (`crate::live`). Only the score leaves: never a path.

use parking_lot::Mutex;
use uuid::Uuid;

/// One member's humanity score.
#[derive(Debug, Clone, PartialEq)]
pub struct HumanityReport {
    /// The member's session (a visitor session's id, or a user's).
    pub session: Uuid,
    /// Its campaign's slug.
    pub campaign: String,
    /// In [0, 1].
    pub score: f32,
    /// Pointer samples it was computed from.
    pub samples: u32,
}

/// Most departed members' scores kept until taken.
const MAX_WAITING: usize = 100_000;

/// The scores of members who left, until taken.
#[derive(Debug, Default)]
pub(crate) struct Scores(Mutex<Vec<HumanityReport>>);

impl Scores {
    /// Keeps a departed member's score (unless [`MAX_WAITING`] wait
    /// already: they are taken every few seconds).
    pub(crate) fn push(&self, report: HumanityReport) {
        let mut waiting = self.0.lock();
        if waiting.len() < MAX_WAITING {
            waiting.push(report);
        }
    }

    /// Every score kept, emptying the list.
    pub(crate) fn take(&self) -> Vec<HumanityReport> {
        std::mem::take(&mut *self.0.lock())
    }
}
