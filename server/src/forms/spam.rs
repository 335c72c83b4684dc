//! Spam: holding what the bot defence caught ([`super::bots`]), answered
//! as a success would be; and the team's side — the list, and "not spam",
//! which replays a held submission as if it had just arrived (its mails,
//! events, counts and referral credit), under the id its sender was
//! answered with.

use chrono::Utc;
use uuid::Uuid;

use super::Forms;
use super::join::{Joined, NewJoin};
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::campaign::mail::Verify;
use crate::model::lead::{Lead, LeadStatus};
use crate::model::spam::{
    HeldJoin, HeldLead, HeldSubmission, NewSpam, Spam, SpamReason, SpamState,
};
use crate::model::team::{AuditAction, Role};
use crate::model::user::{User, new_referral_code};
use crate::store::Page;
use crate::store::spam::SpamCounts;
use crate::team::Caller;

fn spam_not_found() -> ApiError {
    ApiError::NotFound {
        code: "spam_not_found",
        message: "no such submission held as spam".into(),
    }
}

impl Forms {
    /// Holds `join` as spam and answers it as a join of nobody: the id and
    /// code it would have had, and a token that opens nothing (until the
    /// team releases it: it then becomes that join).
    pub(crate) async fn hold_join(
        &self,
        campaign: &Campaign,
        reason: SpamReason,
        join: NewJoin,
        referral_code: Option<&str>,
    ) -> Result<Joined, ApiError> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let own_code = new_referral_code();
        let spam = NewSpam {
            id,
            campaign_id: campaign.id,
            reason,
            state: SpamState::Held,
            email: join.email.clone(),
            submission: HeldSubmission::Join(HeldJoin {
                name: join.display_name.clone(),
                locale: join.locale.clone(),
                referral_code: referral_code.filter(|c| !c.is_empty()).map(str::to_owned),
                own_code: own_code.clone(),
                visitor_id: join.visitor_id,
                consent: join.consent.clone(),
                origin: join.origin.clone(),
            }),
            created_at: now,
        };
        self.list_spam(campaign, &spam).await?;
        let verify = campaign.config.forms.join.verify == Verify::Email;
        Ok(self.joined(User {
            master_id: id,
            campaign_id: campaign.id,
            email: join.email,
            display_name: join.display_name,
            locale: join.locale,
            referral_code: own_code,
            referred_by: join.referrer.map(|r| r.master_id),
            created_at: now,
            visitor_id: join.visitor_id,
            consent: join.consent,
            verified_at: (!verify).then_some(now),
            unsubscribed_at: None,
            origin: join.origin,
        }))
    }

    /// Lists a join let through unverified (the CAPTCHA provider was
    /// down) beside the user it wrote. The join stands: a failure is logged.
    pub(crate) async fn mark_join(
        &self,
        campaign: &Campaign,
        reason: SpamReason,
        user: &User,
        referral_code: Option<&str>,
    ) {
        let spam = NewSpam {
            id: user.master_id,
            campaign_id: campaign.id,
            reason,
            state: SpamState::Passed,
            email: user.email.clone(),
            submission: HeldSubmission::Join(HeldJoin {
                name: user.display_name.clone(),
                locale: user.locale.clone(),
                referral_code: referral_code.filter(|c| !c.is_empty()).map(str::to_owned),
                own_code: user.referral_code.clone(),
                visitor_id: user.visitor_id,
                consent: user.consent.clone(),
                origin: user.origin.clone(),
            }),
            created_at: user.created_at,
        };
        if let Err(e) = self.list_spam(campaign, &spam).await {
            tracing::warn!(error = %e, user = %user.master_id, "join let through unmarked");
        }
    }

    /// Holds `lead` as spam and answers it as the lead it would have been.
    pub(crate) async fn hold_lead(
        &self,
        campaign: &Campaign,
        reason: SpamReason,
        lead: Lead,
        locale: Option<String>,
    ) -> Result<Lead, ApiError> {
        let spam = lead_spam(campaign, reason, SpamState::Held, &lead, locale);
        self.list_spam(campaign, &spam).await?;
        Ok(Lead {
            id: spam.id,
            idempotency_key: None,
            request_fingerprint: None,
            ..lead
        })
    }

    /// Lists a lead let through unverified beside it (as [`Self::mark_join`]).
    pub(crate) async fn mark_lead(
        &self,
        campaign: &Campaign,
        reason: SpamReason,
        lead: &Lead,
        locale: Option<String>,
    ) {
        let spam = NewSpam {
            id: lead.id,
            ..lead_spam(campaign, reason, SpamState::Passed, lead, locale)
        };
        if let Err(e) = self.list_spam(campaign, &spam).await {
            tracing::warn!(error = %e, lead = %lead.id, "lead let through unmarked");
        }
    }

    /// The submissions of campaign `slug` listed as spam (those in `state`
    /// when given), newest first, with the counts of each state: viewers
    /// of the campaign may read them.
    pub(crate) async fn spam_list(
        &self,
        by: &Caller,
        slug: &str,
        state: Option<SpamState>,
        page: Page,
    ) -> Result<(Vec<Spam>, SpamCounts), ApiError> {
        let campaign = self.visible_campaign(slug, true).await?;
        by.require_in(Role::Viewer, campaign.id)?;
        let listed = self.store.spam(campaign.id, state, page).await?;
        let counts = self.store.spam_counts(campaign.id).await?;
        Ok((listed, counts))
    }

    /// "Not spam": replays held submission `id` as if it had just arrived
    /// (an editor's action, audited) and marks it released. 404 for an
    /// unknown one, 409 `not_held` for one released already or let
    /// through; the replay's own refusals (409 `email_taken` for an address
    /// that joined since, 404 `unknown_code` for a referral code gone, 422
    /// when the campaign no longer takes referral codes) leave it held.
    pub(crate) async fn release_spam(&self, by: &Caller, id: &str) -> Result<Spam, ApiError> {
        let id = Uuid::parse_str(id).map_err(|_| spam_not_found())?;
        let spam = self
            .store
            .spam_by_id(id)
            .await?
            .ok_or_else(spam_not_found)?;
        by.require_in(Role::Editor, spam.campaign_id)?;
        if spam.state != SpamState::Held {
            return Err(ApiError::Conflict {
                code: "not_held",
                message: format!("this submission is {}, not held", spam.state.as_str()),
                field: None,
            });
        }
        let campaign = self
            .store
            .campaign_by_id(spam.campaign_id)
            .await?
            .ok_or_else(spam_not_found)?;
        let held: HeldSubmission = serde_json::from_value(spam.submission.clone())
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("held submission {id}: {e}")))?;
        // Replayed first, marked after: a release cut between the two is
        // done again, and a replay already written is not written twice.
        match held {
            HeldSubmission::Join(join) => self.replay_join(&campaign, &spam, join).await?,
            HeldSubmission::Lead(lead) => self.replay_lead(&campaign, &spam, lead).await?,
        }
        let now = Utc::now();
        self.store.release_spam(id, &by.name, now).await?;
        let change = by.change(
            AuditAction::SpamReleased,
            Some(campaign.id),
            id.to_string(),
            Some(serde_json::json!({"state": spam.state, "reason": spam.reason})),
            Some(serde_json::json!({"state": SpamState::Released})),
        );
        self.team.record(change).await;
        let told = crate::model::events::payload::TeamSpam {
            id,
            form: spam.form,
            reason: spam.reason,
            state: SpamState::Released,
            at: now,
        };
        self.tell_team(&campaign, told).await;
        Ok(Spam {
            state: SpamState::Released,
            released_at: Some(now),
            released_by: Some(by.name.clone()),
            ..spam
        })
    }

    async fn replay_join(
        &self,
        campaign: &Campaign,
        spam: &Spam,
        held: HeldJoin,
    ) -> Result<(), ApiError> {
        if self.store.user_by_id(spam.id).await?.is_some() {
            return Ok(());
        }
        let referrer = self
            .referrer_named(campaign, held.referral_code.as_deref())
            .await?;
        let join = NewJoin {
            master_id: Some(spam.id),
            own_code: Some(held.own_code),
            email: spam.email.clone(),
            display_name: held.name,
            locale: held.locale,
            referrer,
            visitor_id: held.visitor_id,
            consent: held.consent,
            origin: held.origin,
        };
        self.write_join(campaign, join).await.map(drop)
    }

    async fn replay_lead(
        &self,
        campaign: &Campaign,
        spam: &Spam,
        held: HeldLead,
    ) -> Result<(), ApiError> {
        let now = Utc::now();
        // Its own idempotency key: two releases at once write one lead.
        let key = self.sessions.pseudonym(
            super::lead::IDEMPOTENCY_PURPOSE,
            &format!("spam release {}", spam.id),
        );
        // Its user, if they still are (an unverified join is removed in time).
        let master_id = match held.master_id {
            Some(user) => self.store.user_by_id(user).await?.map(|u| u.master_id),
            None => None,
        };
        let lead = Lead {
            id: spam.id,
            campaign_id: campaign.id,
            master_id,
            session_id: held.session_id,
            request_fingerprint: Some(key.clone()),
            name: held.name,
            email: spam.email.clone(),
            company: held.company,
            phone: held.phone,
            message: held.message,
            budget: held.budget,
            details: held.details,
            status: LeadStatus::New,
            idempotency_key: Some(key),
            created_at: now,
            updated_at: now,
            visitor_id: held.visitor_id,
            consent: held.consent,
        };
        self.write_lead(campaign, &lead, held.locale.as_deref())
            .await
            .map(drop)
    }
}

/// `lead` as listed spam.
fn lead_spam(
    campaign: &Campaign,
    reason: SpamReason,
    state: SpamState,
    lead: &Lead,
    locale: Option<String>,
) -> NewSpam {
    NewSpam {
        id: Uuid::now_v7(),
        campaign_id: campaign.id,
        reason,
        state,
        email: lead.email.clone(),
        submission: HeldSubmission::Lead(HeldLead {
            name: lead.name.clone(),
            company: lead.company.clone(),
            phone: lead.phone.clone(),
            message: lead.message.clone(),
            budget: lead.budget.clone(),
            details: lead.details.clone(),
            session_id: lead.session_id,
            master_id: lead.master_id,
            visitor_id: lead.visitor_id,
            consent: lead.consent.clone(),
            locale,
        }),
        created_at: lead.created_at,
    }
}
