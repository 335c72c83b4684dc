//! Live events the server derives or a campaign's back office sends, beside
//! the ones the forms publish: the referral `leaderboard` ([`leaderboard`]),
//! `campaign.status` when a campaign opens or closes ([`lifecycle`]), and
//! the campaign's own declared event types ([`custom`]); and the samples of
//! each campaign's visitors its hourly series shows ([`visitors`]).
//!
//! A derived event is announced once per change however many instances run:
//! an instance announces only after it swapped the stored last-announced
//! value (`CampaignStore::swap_live_state`), which one instance wins.

pub(crate) mod custom;
pub(crate) mod leaderboard;
pub(crate) mod lifecycle;
pub(crate) mod visitors;

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

/// How often derived live state is looked at (and so the most a
/// `leaderboard` or `campaign.status` event is announced per campaign).
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// Starts the task that announces derived live events, and the one that
/// samples visitors.
pub(crate) fn start(state: &Arc<AppState>) {
    let sampling = state.clone();
    state.tasks.periodic(
        "visitor samples",
        state.config.visitor_sample_every,
        None,
        move || {
            let state = sampling.clone();
            async move { visitors::sample(&state).await }
        },
    );
    let announcing = state.clone();
    state
        .tasks
        .periodic("live announcements", ANNOUNCE_EVERY, None, move || {
            let state = announcing.clone();
            async move {
                leaderboard::announce_changed(&state).await;
                lifecycle::announce_changed(&state).await;
            }
        });
}
