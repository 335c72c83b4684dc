//! The campaign team's changes to a campaign — create, update — shared by
//! the REST admin API and the gRPC back-office API: validated whole, webhook
//! receivers held to the server's policy, the cache forgotten.

use crate::error::ApiError;
use crate::model::campaign::{Campaign, CampaignPatch, NewCampaign};
use crate::state::AppState;

/// Creates a campaign: 422 naming a field that breaks a rule, 409
/// `slug_taken`.
pub async fn create(state: &AppState, spec: NewCampaign) -> Result<Campaign, ApiError> {
    spec.validate()?;
    spec.config
        .check_webhook_targets(&state.config.webhook_policy())?;
    let campaign = state.store.insert_campaign(&spec).await?;
    state.campaigns.forget(&campaign.slug);
    tracing::info!(slug = %campaign.slug, id = campaign.id, "campaign created");
    Ok(campaign)
}

/// Applies `patch` to campaign `slug` (drafts included): 404 when there is
/// none, 422 naming a field that breaks a rule.
pub async fn update(
    state: &AppState,
    slug: &str,
    patch: CampaignPatch,
) -> Result<Campaign, ApiError> {
    let current = state
        .campaigns
        .visible(state.store.as_ref(), slug, true)
        .await?
        .ok_or_else(|| ApiError::campaign_not_found(slug))?;
    let next = current.patched(patch)?;
    next.config
        .check_webhook_targets(&state.config.webhook_policy())?;
    let stored = state.store.update_campaign(&next).await?;
    state.campaigns.forget(&stored.slug);
    tracing::info!(slug = %stored.slug, "campaign updated");
    Ok(stored)
}
