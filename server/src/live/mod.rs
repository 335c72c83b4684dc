//! Live events the server derives or a campaign's back office sends, beside
//! the ones the forms publish: the referral `leaderboard` ([`leaderboard`]),
//! `campaign.status` when a campaign opens or closes ([`lifecycle`]), and
//! the campaign's own declared event types ([`custom`]); the samples of
//! each campaign's visitors its hourly series shows ([`visitors`]); and
//! the humanity scores of the cursor channel's sessions ([`humanity`]).
//!
//! A derived event is announced once per change however many instances run:
//! an instance announces only after it swapped the stored last-announced
//! value (`CampaignStore::swap_live_state`), which one instance wins.

pub(crate) mod custom;
pub(crate) mod humanity;
pub(crate) mod leaderboard;
pub(crate) mod lifecycle;
pub(crate) mod visitors;

use std::sync::Arc;
use std::time::Duration;

use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::Config;
use crate::cursor::CursorHub;
use crate::forms::Publisher;
use crate::presence::Presence;
use crate::store::SharedStore;
use crate::tasks::Tasks;

/// How often derived live state is looked at (and so the most a
/// `leaderboard` or `campaign.status` event is announced per campaign).
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// The live events' service: derived events announced once per cluster,
/// the campaign's own events, and visitor samples. Built from the
/// configuration and the handles it needs; cloned where it is used.
#[derive(Clone)]
pub(crate) struct Live {
    visitor_sample_every: Duration,
    store: SharedStore,
    campaigns: Arc<CampaignCache>,
    presence: Arc<Presence>,
    leaderboard_changes: Arc<LeaderboardChanges>,
    publisher: Publisher,
    tasks: Tasks,
    cursors: Arc<CursorHub>,
}

/// The handles the live events' service works with.
pub(crate) struct LiveHandles {
    pub(crate) store: SharedStore,
    pub(crate) campaigns: Arc<CampaignCache>,
    pub(crate) presence: Arc<Presence>,
    pub(crate) leaderboard_changes: Arc<LeaderboardChanges>,
    pub(crate) publisher: Publisher,
    pub(crate) tasks: Tasks,
    pub(crate) cursors: Arc<CursorHub>,
}

impl Live {
    /// The service for `config`, with `handles`.
    pub(crate) fn new(config: &Config, handles: LiveHandles) -> Self {
        let LiveHandles {
            store,
            campaigns,
            presence,
            leaderboard_changes,
            publisher,
            tasks,
            cursors,
        } = handles;
        Self {
            visitor_sample_every: config.visitor_sample_every,
            store,
            campaigns,
            presence,
            leaderboard_changes,
            publisher,
            tasks,
            cursors,
        }
    }

    /// Starts the task that announces derived live events, the one that
    /// samples visitors, and the one that keeps humanity scores.
    pub(crate) fn start(&self) {
        let scoring = self.clone();
        self.tasks
            .periodic("humanity scores", humanity::SAVE_EVERY, None, move || {
                let live = scoring.clone();
                async move { live.save_humanity().await }
            });
        let sampling = self.clone();
        self.tasks.periodic(
            "visitor samples",
            self.visitor_sample_every,
            None,
            move || {
                let live = sampling.clone();
                async move { live.sample_visitors().await }
            },
        );
        let announcing = self.clone();
        self.tasks
            .periodic("live announcements", ANNOUNCE_EVERY, None, move || {
                let live = announcing.clone();
                async move {
                    live.announce_leaderboards().await;
                    live.announce_statuses().await;
                }
            });
    }
}
