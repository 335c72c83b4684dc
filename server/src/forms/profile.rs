//! A visitor's own standing (`GET /api/me`) and profile (`PATCH /api/me`):
//! a user sees their profile, referral code and count, next milestone and
//! the leads they sent with their status; an anonymous visitor sees the
//! leads of their session. Nobody sees anyone else's.

use salvo_oapi::ToSchema;
use salvo_oapi::schema::{Object, Schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Forms;
use super::{optional_locale, required_text};
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::lead::LeadStatus;
use crate::session::{SessionClaims, SessionKind, verify_token};

/// Most of a session's own leads shown.
pub(crate) const MAX_OWN_LEADS: u32 = 50;
// `Me`'s schema says it (`max_items` takes only a literal).
const _: () = assert!(MAX_OWN_LEADS == 50);

/// A lead as its sender sees it
#[derive(Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) struct OwnLead {
    pub quote_id: Uuid,
    pub status: LeadStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The caller's own standing: a user's profile, or an anonymous visitor's
/// session (`kind`)
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) enum Me {
    /// A user who joined.
    User {
        campaign: String,
        master_id: Uuid,
        display_name: String,
        email: String,
        #[salvo(schema(required = true))]
        locale: Option<String>,
        referral_code: String,
        #[salvo(schema(minimum = 0))]
        referral_count: i64,
        /// The campaign's next milestone above the count; null past the last
        #[salvo(schema(minimum = 1, required = true))]
        next_milestone: Option<u32>,
        joined_at: chrono::DateTime<chrono::Utc>,
        /// Whether the email is verified: until it is (where the campaign
        /// asks), the join counts nowhere public.
        verified: bool,
        /// The leads sent from this session, newest first.
        #[salvo(schema(max_items = 50))]
        quotes: Vec<OwnLead>,
    },
    /// An anonymous visitor.
    Visitor {
        campaign: String,
        session_id: Uuid,
        /// The leads sent from this session, newest first.
        #[salvo(schema(max_items = 50))]
        quotes: Vec<OwnLead>,
    },
}

/// Body of `PATCH /api/me`: what a user may change of their profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfilePatch {
    /// A new display name.
    #[serde(default)]
    #[salvo(schema(schema_with = display_name_schema))]
    pub display_name: Option<String>,
    /// A new locale; `null` clears it.
    #[serde(default, with = "double_option")]
    #[salvo(schema(schema_with = locale_schema))]
    pub locale: Option<Option<String>>,
}

fn display_name_schema() -> Schema {
    crate::model::schema::nullable(super::join::name_schema())
}

fn locale_schema() -> Object {
    super::locale_schema("null or blank clears it")
}

/// `Option<Option<T>>` that tells a missing field from `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Who is calling: a session and its campaign.
#[derive(Debug)]
pub(crate) struct Caller {
    claims: SessionClaims,
    campaign: Campaign,
}

impl Forms {
    /// The session of `token` and its campaign: 401 without one, for a bad one,
    /// or for one whose campaign is gone.
    pub(crate) async fn visitor(&self, token: Option<&str>) -> Result<Caller, ApiError> {
        let token = token.ok_or_else(ApiError::session_required)?;
        let claims = verify_token(&self.sessions, token)?;
        let campaign = self
            .store
            .campaign_by_id(claims.cid)
            .await?
            .ok_or_else(|| ApiError::Unauthorized {
                code: "invalid_token",
                message: "the session's campaign does not exist".into(),
            })?;
        Ok(Caller { claims, campaign })
    }

    /// The caller's own standing.
    pub(crate) async fn me(&self, caller: &Caller) -> Result<Me, ApiError> {
        let Caller { claims, campaign } = caller;
        let quotes = self
            .store
            .leads_of_session(claims.sub, MAX_OWN_LEADS)
            .await?
            .into_iter()
            .map(|lead| OwnLead {
                quote_id: lead.id,
                status: lead.status,
                created_at: lead.created_at,
            })
            .collect();
        if claims.kind == SessionKind::Visitor {
            return Ok(Me::Visitor {
                campaign: campaign.slug.clone(),
                session_id: claims.sub,
                quotes,
            });
        }
        let user = self.session_user(claims.sub).await?;
        let referral_count = self.store.referral_count(&user).await?;
        let next_milestone = campaign
            .config
            .milestones
            .iter()
            .copied()
            .find(|m| i64::from(*m) > referral_count);
        Ok(Me::User {
            campaign: campaign.slug.clone(),
            master_id: user.master_id,
            display_name: user.display_name,
            email: user.email,
            locale: user.locale,
            referral_code: user.referral_code,
            referral_count,
            next_milestone,
            joined_at: user.created_at,
            verified: user.verified_at.is_some(),
            quotes,
        })
    }

    /// Changes the caller's display name or locale: 403 `join_first` for an
    /// anonymous visitor, 422 naming a field that breaks the join form's rules.
    /// A renamed referrer's place on the leaderboard follows.
    pub(crate) async fn update_profile(
        &self,
        caller: &Caller,
        patch: ProfilePatch,
    ) -> Result<Me, ApiError> {
        let Caller { claims, campaign } = caller;
        if claims.kind != SessionKind::User {
            return Err(ApiError::Forbidden {
                code: "join_first",
                message: "only users who joined have a profile".into(),
            });
        }
        let user = self.session_user(claims.sub).await?;
        let display_name = match &patch.display_name {
            Some(name) => required_text(
                "display_name",
                name,
                campaign.config.forms.join.max_name_chars as usize,
            )?,
            None => user.display_name.clone(),
        };
        let locale = match patch.locale {
            None => user.locale.clone(),
            Some(None) => None,
            Some(Some(locale)) => optional_locale(Some(&locale))?,
        };
        self.store
            .update_profile(user.master_id, &display_name, locale.as_deref())
            .await?;
        if display_name != user.display_name && campaign.config.leaderboard.enabled {
            self.leaderboard_changes.touch(campaign.id);
        }
        self.me(caller).await
    }
}
