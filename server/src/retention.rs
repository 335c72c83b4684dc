//! What must not grow forever, removed by the `retention` task (hourly):
//! each bound is a setting, each step logs what it removed and what failed.

use chrono::{Duration, Utc};

use crate::state::AppState;
use crate::store::StoreError;

/// One pass of every retention step.
pub(crate) async fn step(state: &AppState) {
    let config = &state.config;
    let now = Utc::now();
    let days = |keep: std::time::Duration, default: i64| {
        now - Duration::from_std(keep).unwrap_or(Duration::days(default))
    };
    let store = &state.store;
    let untargeted = config.webhook_url.is_none();
    let read_since = state.team.idle_cutoff();
    let outbox = days(config.outbox_retention, 7);
    told(
        "old outbox entries removed",
        store.prune_outbox(outbox, untargeted, read_since).await,
    );
    // Mails wait for an SMTP server as webhooks for a receiver: as long.
    if config.mail.smtp_url.is_none() {
        told(
            "old mails never sent (no SMTP server) removed",
            store.prune_unsent_mail(outbox).await,
        );
    }
    let samples = days(config.visitor_sample_retention, 90);
    told(
        "old visitor samples removed",
        store.prune_visitor_samples(samples).await,
    );
    let sessions = days(config.visitor_session_retention, 90);
    told(
        "old visitor sessions removed",
        store.prune_visitor_sessions(sessions).await,
    );
    told(
        "least recently used machine translations evicted",
        store.prune_memory(config.translation_memory_max).await,
    );
    told(
        "joins never verified removed",
        store
            .prune_pending_joins(days(config.mail.pending_join_retention, 7))
            .await,
    );
    told(
        "old spam removed",
        store.prune_spam(days(config.bots.spam_retention, 30)).await,
    );
    told(
        "old humanity scores removed",
        store
            .prune_humanity(days(config.bots.humanity_retention, 30))
            .await,
    );
    // An ended session's tokens have all expired by now.
    let expired = now - state.sessions.longest_ttl();
    told(
        "ended sessions forgotten",
        store.prune_ended_sessions(expired).await,
    );
}

/// Logs what a step removed (nothing: silence) or why it failed.
fn told(what: &'static str, outcome: Result<u64, StoreError>) {
    match outcome {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "{what}"),
        Err(e) => tracing::warn!(error = %e, "retention failed: {what}"),
    }
}
