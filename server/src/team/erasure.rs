//! Erasing a person on the team's request: everything that names them, in
//! the campaign the request names (or in every campaign), gone for good —
//! the rows ([`crate::store::ErasureStore::erase`]), the live events that
//! carried their names in the bus's history, and their sessions, whose
//! tokens are refused and whose open streams end on every instance.

use chrono::Utc;

use super::Team;
use crate::bus::Forgotten;
use crate::error::ApiError;
use crate::model::erasure::{ErasureReport, ErasureSubject, SUBJECT_PURPOSE};
use crate::model::team::{AuditAction, Role};

use super::Caller;

impl Team {
    /// Erases `subject` as `by` asks (an owner of the subject's campaign, or of
    /// every campaign for a person across campaigns or a user by id); what it
    /// changed, which the audit log keeps with the keyed hash of the subject
    /// (the audit log must not undo the erasure).
    pub(crate) async fn erase(
        &self,
        by: &Caller,
        subject: &ErasureSubject,
    ) -> Result<ErasureReport, ApiError> {
        let campaign_id = subject.campaign_id();
        by.require_for(Role::Owner, campaign_id)?;
        let hash = self
            .sessions
            .pseudonym(SUBJECT_PURPOSE, &subject.identity());
        let erased = self.store.erase(subject, &hash, Utc::now()).await?;
        // Their sessions end: here at once, elsewhere when told.
        if !erased.sessions.is_empty() {
            self.revocations.end_sessions(&erased.sessions);
            self.announce_revocations().await;
        }
        let mut report = erased.report;
        let campaign =
            match erased.campaign_id {
                Some(id) => Some(self.store.campaign_by_id(id).await?.ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("campaign {id} vanished"))
                })?),
                None => None,
            };
        let whom = Forgotten {
            campaign: campaign.map(|c| c.slug),
            subjects: erased.subjects,
            names: erased.names,
        };
        report.history_entries = match self.bus.forget(&whom).await {
            Ok(removed) => Some(removed),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "an erased person's live events could not be removed from the event history: \
                 they leave it as it is trimmed"
                );
                None
            }
        };
        // An erased referrer's name leaves the leaderboards too.
        for id in &erased.user_campaigns {
            self.leaderboard_changes.touch(*id);
        }
        let counts = serde_json::to_value(report).unwrap_or_default();
        let change = by.change(AuditAction::Erasure, campaign_id, hash, None, Some(counts));
        self.record(change).await;
        tracing::info!(
            users = report.users,
            leads = report.leads,
            outbox_entries = report.outbox_entries,
            history_entries = report.history_entries,
            sessions = erased.sessions.len(),
            "personal data erased"
        );
        Ok(report)
    }
}
