//! What the links of a mail do: verify a join's email, unsubscribe from
//! marketing mail, show one lead's status — each with the signed token
//! the link carries ([`crate::mail::links`]), without a session.

use chrono::Utc;
use salvo_oapi::ToSchema;
use serde::Serialize;
use uuid::Uuid;

use super::Forms;
use super::join::{referral_created, user_registered};
use crate::error::ApiError;
use crate::mail::links::{self, BadToken};
use crate::model::campaign::Campaign;
use crate::model::lead::LeadStatus;
use crate::model::outbox::NewOutbox;
use crate::model::referral::FraudPolicy;
use crate::model::user::{ReferralCredit, User};
use crate::session::SessionKind;
use crate::store::mail::Verification;

/// What a verification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VerifyOutcome {
    /// Verified now: the join counts from now on.
    Verified,
    /// Verified before (a second use of the link).
    AlreadyVerified,
}

/// Answer of `POST /api/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Verified {
    /// What it did.
    pub status: VerifyOutcome,
    /// The campaign joined.
    pub campaign: String,
    /// A session token of the verified user (as the join gave).
    pub token: String,
}

/// A lead's status as its read-only link shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeadStatusView {
    /// The lead's id.
    pub id: Uuid,
    /// The campaign it was sent to.
    pub campaign: String,
    /// Where it stands.
    pub status: LeadStatus,
    /// When it was sent.
    pub created_at: chrono::DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: chrono::DateTime<Utc>,
}

fn invalid_link(what: &str) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_token",
        message: format!(
            "this {what} link is not valid: it was changed, or replaced by a newer one"
        ),
    }
}

/// The outbox of a verification: `user.registered`, `referral.created`
/// for each referral it completed, and the welcome mail.
fn verification_outbox(
    campaign: &Campaign,
    user: &User,
    credits: &[ReferralCredit],
) -> Vec<NewOutbox> {
    let mut outbox = vec![user_registered(campaign, user)];
    for credit in credits {
        outbox.push(referral_created(
            campaign,
            &credit.referrer,
            credit.referred,
        ));
    }
    outbox.extend(crate::mail::welcome(campaign, user));
    outbox
}

impl Forms {
    /// Verifies the email of the join a verification link names: 400
    /// `invalid_token` for a link the server did not make (or whose join
    /// was replaced or removed), 410 `token_expired` past its time. The
    /// join counts from now on: `user.joined`, and the referrals it
    /// completed (both ways) with their milestones, as a join announces.
    pub(crate) async fn verify_email(&self, token: &str) -> Result<Verified, ApiError> {
        let now = Utc::now();
        let (user, campaign) = self.verification_link(token).await?;
        let master_id = user.master_id;
        let outcome = self
            .store
            .verify_user(
                master_id,
                FraudPolicy::of(&campaign),
                now,
                &|user, credits| verification_outbox(&campaign, user, credits),
            )
            .await?;
        let (status, user) = match outcome {
            Verification::Unknown => return Err(invalid_link("verification")),
            Verification::AlreadyVerified(user) => (VerifyOutcome::AlreadyVerified, user),
            Verification::Verified { user, credits } => {
                tracing::info!(master_id = %user.master_id, campaign = %campaign.slug, "join verified");
                self.announce_join(&campaign, &user, &credits).await;
                (VerifyOutcome::Verified, user)
            }
        };
        let (token, _) = self
            .sessions
            .issue(user.master_id, campaign.id, SessionKind::User, now);
        Ok(Verified {
            status,
            campaign: campaign.slug,
            token,
        })
    }

    /// The join a verification link names, and its campaign: 400
    /// `invalid_token` for a link the server did not make (or whose join
    /// was replaced or removed), 410 `token_expired` past its time.
    pub(crate) async fn verification_link(
        &self,
        token: &str,
    ) -> Result<(User, Campaign), ApiError> {
        let master_id =
            links::read_verify_token(&self.sessions, token, Utc::now()).map_err(|e| match e {
                BadToken::Forged => invalid_link("verification"),
                BadToken::Expired => ApiError::Gone {
                    code: "token_expired",
                    message: "this verification link has expired: join again for a new one".into(),
                },
            })?;
        let user = self
            .store
            .user_by_id(master_id)
            .await?
            .ok_or_else(|| invalid_link("verification"))?;
        let campaign = self
            .store
            .campaign_by_id(user.campaign_id)
            .await?
            .ok_or_else(|| invalid_link("verification"))?;
        Ok((user, campaign))
    }

    /// Records that the person of an unsubscribe link wants no more
    /// marketing mail (RFC 8058 one-click): 400 `invalid_token` for a link
    /// the server did not make or whose person is gone.
    pub(crate) async fn unsubscribe(&self, token: &str) -> Result<(), ApiError> {
        let master_id = links::read_unsubscribe_token(&self.sessions, token)
            .ok_or_else(|| invalid_link("unsubscribe"))?;
        if !self.store.unsubscribe(master_id, Utc::now()).await? {
            return Err(invalid_link("unsubscribe"));
        }
        tracing::info!(%master_id, "unsubscribed from marketing mail");
        Ok(())
    }

    /// Lead `id`'s status, for the holder of its signed link (`signature`):
    /// 404 `quote_not_found` for an unknown lead or a wrong signature (the
    /// same answer: a guess learns nothing).
    pub(crate) async fn lead_status(
        &self,
        id: &str,
        signature: &str,
    ) -> Result<LeadStatusView, ApiError> {
        let not_found = || ApiError::NotFound {
            code: "quote_not_found",
            message: "no such lead".into(),
        };
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        if !links::lead_status_signed(&self.sessions, id, signature) {
            return Err(not_found());
        }
        let lead = self.store.lead_by_id(id).await?.ok_or_else(not_found)?;
        let campaign = self.store.campaign_by_id(lead.campaign_id).await?;
        Ok(LeadStatusView {
            id: lead.id,
            campaign: campaign.map(|c| c.slug).unwrap_or_default(),
            status: lead.status,
            created_at: lead.created_at,
            updated_at: lead.updated_at,
        })
    }
}
