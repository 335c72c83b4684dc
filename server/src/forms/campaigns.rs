//! The campaign team's changes to a campaign — create, update — shared by
//! the REST admin API and the gRPC back-office API: validated whole, webhook
//! receivers held to the server's policy, the cache forgotten.

use super::Forms;
use crate::error::ApiError;
use crate::model::campaign::{Campaign, CampaignPatch, CampaignStatus, DatePatch, NewCampaign};
use crate::model::team::{AuditAction, Role};
use crate::team::{Caller, campaign_summary};

/// 409 `illegal_transition` unless a campaign may move from `from` to `to`
/// ([`CampaignStatus::can_become`]).
pub(crate) fn check_move(from: CampaignStatus, to: CampaignStatus) -> Result<(), ApiError> {
    if from.can_become(to) {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "illegal_transition",
        message: format!(
            "a campaign cannot go from {} to {} (draft → active; active ⇄ paused; \
             active or paused → ended; ended is final)",
            from.as_str(),
            to.as_str()
        ),
        field: Some("status".into()),
    })
}

/// The role a patch needs: an editor may pause, resume and end a campaign;
/// what it is (name, dates, configuration) is the owner's.
fn role_for(patch: &CampaignPatch) -> Role {
    let status_only = patch.name.is_none()
        && patch.starts_at == DatePatch::Keep
        && patch.ends_at == DatePatch::Keep
        && patch.config.is_none();
    if status_only {
        Role::Editor
    } else {
        Role::Owner
    }
}

impl Forms {
    /// Creates a campaign (an owner of every campaign): 422 naming a field that
    /// breaks a rule, 409 `slug_taken`. Written to the audit log.
    pub(crate) async fn create_campaign(
        &self,
        by: &Caller,
        spec: NewCampaign,
    ) -> Result<Campaign, ApiError> {
        by.require_unscoped(Role::Owner)?;
        spec.validate()?;
        spec.config.check_webhook_targets(&self.webhook_policy)?;
        let campaign = self.store.insert_campaign(&spec).await?;
        self.campaigns.forget(&campaign.slug);
        tracing::info!(slug = %campaign.slug, id = campaign.id, "campaign created");
        let change = by.change(
            AuditAction::CampaignCreated,
            Some(campaign.id),
            campaign.slug.clone(),
            None,
            Some(campaign_summary(&campaign)),
        );
        self.team.record(change).await;
        Ok(campaign)
    }

    /// Applies `patch` to campaign `slug` (drafts included) as `by` asks: 404
    /// when there is none, 403 when `by` may not ([`role_for`]), 422 naming a
    /// field that breaks a rule. A change is written to the audit log.
    pub(crate) async fn update_campaign(
        &self,
        by: &Caller,
        slug: &str,
        patch: CampaignPatch,
    ) -> Result<Campaign, ApiError> {
        let current = self
            .campaigns
            .visible(self.store.as_ref(), slug, true)
            .await?
            .ok_or_else(|| ApiError::campaign_not_found(slug))?;
        by.require_in(role_for(&patch), current.id)?;
        if let Some(to) = patch.status {
            check_move(current.status, to)?;
        }
        let next = current.patched(patch)?;
        next.config.check_webhook_targets(&self.webhook_policy)?;
        let stored = self.store.update_campaign(&next).await?;
        self.campaigns.forget(&stored.slug);
        tracing::info!(slug = %stored.slug, "campaign updated");
        let (before, after) = (campaign_summary(&current), campaign_summary(&stored));
        if before != after {
            let change = by.change(
                AuditAction::CampaignUpdated,
                Some(stored.id),
                stored.slug.clone(),
                Some(before),
                Some(after),
            );
            self.team.record(change).await;
        }
        Ok(stored)
    }
}
