//! Joining a campaign (`service_user_master`): a visitor registers, optionally
//! with a friend's referral code, and gets a session token and a code of
//! their own.

use chrono::Utc;
use salvo_oapi::ToSchema;
use salvo_oapi::schema::{Object, Schema};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Forms;
use super::bots::{Sender, Verdict};
use super::{consent, normalize_email, optional_locale, required_text};
use crate::bus::{Audience, Event};
use crate::error::ApiError;
use crate::model::attribution::Consent;
use crate::model::campaign::Campaign;
use crate::model::campaign::mail::Verify;
use crate::model::campaign::referrals::FraudMode;
use crate::model::campaign::settings::MAX_NAME_CHARS;
use crate::model::events::payload;
use crate::model::outbox::NewOutbox;
use crate::model::referral::{FraudPolicy, is_disposable, network_of};
use crate::model::user::{JoinOrigin, ReferralCredit, User, new_referral_code};
use crate::session::{SessionKind, verify_session};
use crate::store::StoreError;
use crate::store::mail::PendingJoin;

/// Body of `POST /api/user/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Campaign slug.
    #[salvo(schema(schema_with = crate::model::schema::slug))]
    pub campaign: String,
    /// Email (unique per campaign, case-insensitive).
    #[salvo(schema(schema_with = crate::model::schema::email))]
    pub email: String,
    /// Display name, shown publicly.
    #[salvo(schema(schema_with = name_schema))]
    pub name: String,
    /// Preferred locale.
    #[serde(default)]
    #[salvo(schema(schema_with = locale_schema))]
    pub locale: Option<String>,
    /// A friend's referral code.
    #[serde(default)]
    #[salvo(schema(schema_with = referral_code_schema))]
    pub referral_code: Option<String>,
    /// The version of the consent text agreed to: required (422
    /// `consent_required`) when the campaign asks for it
    /// (`config.forms.join.consent`), refused when it asks none.
    #[serde(default)]
    pub consent: Option<String>,
    /// The CAPTCHA widget's token: required (422 `captcha_required`) when
    /// the campaign has one (`config.forms.captcha`).
    #[serde(default)]
    #[salvo(schema(schema_with = super::bots::captcha_token_schema))]
    pub captcha_token: Option<String>,
}

impl super::Form for JoinRequest {
    const FIELDS: &'static [&'static str] = &[
        "campaign",
        "email",
        "name",
        "locale",
        "referral_code",
        "consent",
        "captcha_token",
    ];
}

/// A display name: at most the campaign's `forms.join.max_name_chars`,
/// which is at most [`MAX_NAME_CHARS`].
pub(crate) fn name_schema() -> Object {
    let default = crate::model::campaign::settings::JoinRules::default().max_name_chars;
    crate::model::schema::text(MAX_NAME_CHARS as usize, false).description(format!(
        "Text without control, bidirectional or invisible format characters, and not blank; at \
         most the campaign's `config.forms.join.max_name_chars` ({default} unless it says)"
    ))
}

fn locale_schema() -> Object {
    super::locale_schema("blank means none")
}

fn referral_code_schema() -> Schema {
    crate::model::schema::nullable(crate::model::schema::string())
}

/// Someone who joined.
#[derive(Debug)]
pub(crate) struct Joined {
    /// The stored user.
    pub user: User,
    /// Their session token.
    pub token: String,
}

/// A join, validated, to write.
#[derive(Debug, Clone)]
pub(crate) struct NewJoin {
    /// Its id, when it has one already (a join held as spam, released);
    /// else drawn.
    pub master_id: Option<Uuid>,
    /// The code it was answered with, kept when still free.
    pub own_code: Option<String>,
    pub email: String,
    pub display_name: String,
    pub locale: Option<String>,
    /// Who referred it.
    pub referrer: Option<User>,
    /// The visitor session it came from.
    pub visitor_id: Option<Uuid>,
    pub consent: Option<Consent>,
    /// What its referrals are checked against.
    pub origin: JoinOrigin,
}

/// Attempts at drawing an unused referral code.
const CODE_ATTEMPTS: usize = 4;

/// `user.registered`: a join that counts (verified, or made where no
/// verification is asked).
pub(crate) fn user_registered(campaign: &Campaign, user: &User) -> NewOutbox {
    NewOutbox::for_campaign(
        campaign,
        "user.registered",
        json!({
            "master_id": user.master_id,
            "email": user.email,
            "display_name": user.display_name,
            "locale": user.locale,
            "referral_code": user.referral_code,
            "referred_by": user.referred_by,
            "created_at": user.created_at,
            "verified_at": user.verified_at,
            "consent": user.consent,
        }),
    )
}

/// `referral.created`: `referrer` referred `referred`.
pub(crate) fn referral_created(campaign: &Campaign, referrer: &User, referred: Uuid) -> NewOutbox {
    NewOutbox::for_campaign(
        campaign,
        "referral.created",
        json!({"referrer": referrer.master_id, "referred": referred, "code": referrer.referral_code}),
    )
}

/// The outbox entries of a join that counts: `user.registered`,
/// `referral.created` when `referrer` referred the user, and the welcome
/// mail when the campaign sends one the user may get.
fn registration_outbox(
    campaign: &Campaign,
    user: &User,
    referrer: Option<&User>,
) -> Vec<NewOutbox> {
    let mut outbox = vec![user_registered(campaign, user)];
    outbox.extend(referrer.map(|referrer| referral_created(campaign, referrer, user.master_id)));
    outbox.extend(crate::mail::welcome(campaign, user));
    outbox
}

/// Verification mails one address may be sent: one per this window…
const MAIL_GAP: chrono::Duration = chrono::Duration::minutes(10);
/// …and this many an hour.
const MAILS_PER_HOUR: i64 = 5;

impl Forms {
    /// Joins `body.campaign`: 404/403 unless it takes submissions, 429 past the
    /// per-address rate limit (`client`), 422 naming a field that breaks a rule,
    /// 404 `unknown_code` for a referral code not of this campaign.
    ///
    /// Where the campaign asks no verification, 409 `email_taken` for an
    /// address that joined; the user, the referral and their outbox entries
    /// are one transaction; `user.joined` (and a crossed
    /// `referral.milestone`) follow. Where it verifies emails
    /// (`forms.join.verify = "email"`), the join waits for its link to be
    /// opened ([`Forms::verify_email`]), and an address that joined already
    /// gets the same answer as a new one (see `join_pending`).
    ///
    /// `token`, a visitor session's, links the user to that session's first
    /// touch (attribution); a bad one is 401, as on every form.
    pub(crate) async fn join(
        &self,
        body: JoinRequest,
        token: Option<&str>,
        sender: &Sender,
    ) -> Result<Joined, ApiError> {
        let campaign = self.open_campaign(&body.campaign).await?;
        let session = token
            .map(|token| verify_session(&self.sessions, token, &campaign))
            .transpose()?;
        let visitor_id = session
            .as_ref()
            .filter(|session| session.kind == SessionKind::Visitor)
            .map(|session| session.sub);
        let rules = &campaign.config.forms.join;
        self.rate_limit(
            "join",
            &campaign,
            &sender.key,
            campaign.config.rate_limits.joins_per_minute,
        )
        .await?;
        let email = normalize_email("email", &body.email)?;
        if campaign.config.referrals.fraud == FraudMode::Strict && is_disposable(&email) {
            return Err(ApiError::Unprocessable {
                code: "disposable_email",
                message: "addresses of disposable mail services cannot join this campaign".into(),
                field: Some("email".into()),
            });
        }
        let display_name = required_text("name", &body.name, rules.max_name_chars as usize)?;
        let locale = optional_locale(body.locale.as_deref())?;
        let referrer = self
            .referrer_named(&campaign, body.referral_code.as_deref())
            .await?;
        let consent = consent(
            rules.consent.as_deref(),
            body.consent.as_deref(),
            Utc::now(),
        )?;
        let first_touch = self.first_touch(session.as_ref()).await?;
        let verdict = self
            .screen(
                &campaign,
                sender,
                body.captcha_token.as_deref(),
                first_touch,
            )
            .await?;
        let join = NewJoin {
            master_id: None,
            own_code: None,
            email,
            display_name,
            locale,
            referrer,
            visitor_id,
            consent,
            origin: self.join_origin(sender),
        };
        match verdict {
            Verdict::Spam(reason) => {
                let code = body.referral_code.as_deref().map(str::trim);
                self.hold_join(&campaign, reason, join, code).await
            }
            Verdict::Pass => self.write_join(&campaign, join).await,
            Verdict::Marked(reason) => {
                let joined = self.write_join(&campaign, join).await?;
                let code = body.referral_code.as_deref().map(str::trim);
                self.mark_join(&campaign, reason, &joined.user, code).await;
                Ok(joined)
            }
        }
    }

    /// Writes `join` (its id and code drawn unless it holds them): at once,
    /// or waiting for its email to be verified where the campaign asks.
    pub(crate) async fn write_join(
        &self,
        campaign: &Campaign,
        join: NewJoin,
    ) -> Result<Joined, ApiError> {
        let verify = campaign.config.forms.join.verify == Verify::Email;
        let created_at = Utc::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let code = join
                .own_code
                .clone()
                .filter(|_| attempt == 1)
                .unwrap_or_else(new_referral_code);
            let user = User {
                master_id: join.master_id.unwrap_or_else(Uuid::now_v7),
                campaign_id: campaign.id,
                email: join.email.clone(),
                display_name: join.display_name.clone(),
                locale: join.locale.clone(),
                referral_code: code,
                referred_by: join.referrer.as_ref().map(|r| r.master_id),
                created_at,
                visitor_id: join.visitor_id,
                consent: join.consent.clone(),
                verified_at: (!verify).then_some(created_at),
                unsubscribed_at: None,
                origin: join.origin.clone(),
            };
            let written = if verify {
                self.join_pending(campaign, &user).await
            } else {
                self.join_verified(campaign, &user, join.referrer.as_ref())
                    .await
            };
            match written {
                Ok(joined) => return Ok(joined),
                // A code drawn twice; or, when verifying, the address
                // joining twice at once (the second finds the first).
                Err(StoreError::Conflict {
                    field: "referral_code",
                }) if attempt < CODE_ATTEMPTS => continue,
                Err(StoreError::Conflict { field: "email" })
                    if verify && attempt < CODE_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes a join that counts at once; `user.joined` (and a crossed
    /// `referral.milestone`) follow.
    async fn join_verified(
        &self,
        campaign: &Campaign,
        user: &User,
        referrer: Option<&User>,
    ) -> Result<Joined, StoreError> {
        let outbox = registration_outbox(campaign, user, referrer);
        let policy = FraudPolicy::of(campaign);
        let credit = self
            .store
            .register_user(user, referrer, policy, &outbox)
            .await?;
        tracing::info!(master_id = %user.master_id, campaign = %campaign.slug, "user joined");
        self.announce_join(campaign, user, credit.as_slice()).await;
        Ok(self.joined(user.clone()))
    }

    /// Writes a join that waits for its email to be verified, with the
    /// mail that verifies it — or, for an address that joined already,
    /// mails it instead and answers a join that opens nothing, so that the
    /// answer tells nobody whether the address is in. An address is sent
    /// at most one such mail in [`MAIL_GAP`] and [`MAILS_PER_HOUR`].
    async fn join_pending(&self, campaign: &Campaign, user: &User) -> Result<Joined, StoreError> {
        let now = Utc::now();
        let (last_hour, last_gap) = self
            .store
            .recent_mails(
                &user.email,
                now - chrono::Duration::hours(1),
                now - MAIL_GAP,
            )
            .await?;
        let may_mail = last_gap == 0 && last_hour < MAILS_PER_HOUR;
        let outbox: Vec<NewOutbox> = may_mail
            .then(|| crate::mail::verify(campaign, user))
            .into_iter()
            .collect();
        match self.store.register_pending(user, &outbox).await? {
            PendingJoin::Stored => {
                tracing::info!(master_id = %user.master_id, campaign = %campaign.slug, "join pending");
                Ok(self.joined(user.clone()))
            }
            PendingJoin::AlreadyIn(existing) => {
                if may_mail {
                    self.store
                        .insert_outbox(&[crate::mail::already_in(campaign, &existing)])
                        .await?;
                }
                // A join like any other, of nobody: its token opens nothing.
                Ok(self.joined(User {
                    master_id: Uuid::now_v7(),
                    ..user.clone()
                }))
            }
        }
    }

    /// What a join from `sender` keeps for its referrals to be checked
    /// against: keyed hashes of its network and of its device (rate-limit
    /// key and User-Agent), none for an address of this machine.
    fn join_origin(&self, sender: &Sender) -> JoinOrigin {
        let Some(network) = sender.address.and_then(network_of) else {
            return JoinOrigin::default();
        };
        let agent = sender.user_agent.as_deref().unwrap_or_default();
        JoinOrigin {
            network: Some(self.sessions.pseudonym("referral network", &network)),
            device: Some(
                self.sessions
                    .pseudonym("referral device", &format!("{}\n{agent}", sender.key)),
            ),
        }
    }

    /// `user` with a session token of theirs.
    pub(super) fn joined(&self, user: User) -> Joined {
        let (token, _) = self.sessions.issue(
            user.master_id,
            user.campaign_id,
            SessionKind::User,
            Utc::now(),
        );
        Joined { user, token }
    }

    /// Announces a join that counts: `user.joined`, and the milestones the
    /// referrals it completed crossed.
    pub(crate) async fn announce_join(
        &self,
        campaign: &Campaign,
        user: &User,
        credits: &[ReferralCredit],
    ) {
        self.publisher
            .publish(
                campaign,
                Event::built_in(
                    &payload::UserJoined {
                        display_name: user.display_name.clone(),
                    },
                    Audience::Everyone,
                )
                .about(user.master_id),
            )
            .await;
        for credit in credits {
            self.announce_milestone(campaign, credit).await;
        }
    }

    /// The user whose referral code `code` is (none when blank): 422 when the
    /// campaign takes no referral codes, 404 `unknown_code` when it is not one
    /// of this campaign's.
    pub(super) async fn referrer_named(
        &self,
        campaign: &Campaign,
        code: Option<&str>,
    ) -> Result<Option<User>, ApiError> {
        Ok(match code.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if !campaign.config.forms.join.referrals => {
                return Err(ApiError::invalid_field(
                    "referral_code",
                    "this campaign does not take referral codes",
                ));
            }
            Some(raw) => Some(self.referrer_by_code(campaign, raw).await?),
        })
    }
}
