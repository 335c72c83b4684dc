//! The campaign's forms as services: joining ([`join`]), entering a friend's
//! code ([`referral`]) and sending a lead ([`lead`]). Each holds the
//! rules of its form and does the whole of it — campaign open, session,
//! rate limit, validation, the write with its outbox entries, the live event —
//! so that a handler only parses, calls one function and renders. Testable
//! without HTTP; errors are the API's own ([`ApiError`]).

pub(crate) mod bots;
pub(crate) mod campaigns;
mod captcha;
pub(crate) mod join;
pub(crate) mod lead;
mod lead_status;
pub(crate) mod links;
pub(crate) mod profile;
pub(crate) mod referral;
pub(crate) mod review;
pub(crate) mod spam;

use uuid::Uuid;

use crate::bus::Event;
use crate::error::ApiError;
use crate::model::attribution::Consent;
use crate::model::campaign::{Campaign, CampaignStatus, ValidationError};
use crate::model::user::User;
use std::sync::Arc;

use crate::bus::EventBus;
use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::{Config, TargetPolicy};
use crate::limit::RateLimiter;
use crate::session::SessionKeys;
use crate::store::SharedStore;
use crate::team::Team;
use crate::telemetry::Counters;

/// A public form: a JSON body whose top level may carry fields of the
/// campaign's own (its honeypot) besides the form's
/// ([`crate::request::body::form_body`] reads it).
pub(crate) trait Form: serde::de::DeserializeOwned {
    /// The form's own fields.
    const FIELDS: &'static [&'static str];
}

/// The consent a form carries, held against what the campaign asks
/// (`required`: the current version of its text): 422 `consent_required`
/// when it asks and none (or another version) was given, 422 `invalid_field`
/// when it asks for none. Given consent is stamped `now`.
pub(crate) fn consent(
    required: Option<&str>,
    given: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Consent>, ApiError> {
    let given = given.map(str::trim).filter(|g| !g.is_empty());
    match (required, given) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ApiError::invalid_field(
            "consent",
            "this campaign asks for no consent on this form",
        )),
        (Some(version), Some(given)) if given == version => Ok(Some(Consent {
            version: version.to_owned(),
            at: now,
        })),
        (Some(version), _) => Err(ApiError::Unprocessable {
            code: "consent_required",
            message: format!(
                "this form needs consent to version {version:?} of the campaign's terms: send \"consent\": {version:?}"
            ),
            field: Some("consent".into()),
        }),
    }
}

/// Longest locale tag accepted, in bytes.
pub(crate) const MAX_LOCALE_LEN: usize = 35;

/// A `locale` as sent: blank means none, else a locale tag ("en", "pt-BR")
/// of at most [`MAX_LOCALE_LEN`] bytes; 422 naming `locale` otherwise.
pub(crate) fn optional_locale(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(locale)
            if crate::model::campaign::settings::is_locale_tag(locale)
                && locale.len() <= MAX_LOCALE_LEN =>
        {
            Ok(Some(locale.to_owned()))
        }
        Some(_) => Err(ApiError::invalid_field(
            "locale",
            "must be a locale tag such as \"en\" or \"pt-BR\"",
        )),
    }
}

/// The schema of a `locale` [`optional_locale`] takes; `blank` says what
/// a blank one (or `null`) means.
pub(crate) fn locale_schema(blank: &str) -> salvo_oapi::schema::Object {
    use salvo_oapi::schema::{BasicType, Object, SchemaType};
    Object::with_type(SchemaType::Array(vec![BasicType::String, BasicType::Null]))
        .pattern(crate::model::schema::trimmed(
            "[a-z]{2,3}(-[A-Za-z0-9]{2,8})*",
        ))
        .description(format!(
            "A BCP 47 tag such as `en` or `pt-BR` (at most {MAX_LOCALE_LEN} characters); {blank}"
        ))
}

/// Longest email address accepted (RFC 5321 path limit).
pub(crate) const MAX_EMAIL_LEN: usize = 254;

/// An email address in its canonical form
/// ([`crate::model::text::canonical_email`]: NFKC, no zero-width characters,
/// trimmed, lower case), with its shape checked.
pub(crate) fn normalize_email(field: &str, raw: &str) -> Result<String, ValidationError> {
    let email = crate::model::text::canonical_email(raw);
    let invalid =
        || ValidationError::new(field, "must be an email address such as ada@example.com");
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    let no_odd_chars = !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if local_ok && domain_ok && no_odd_chars {
        Ok(email)
    } else {
        Err(invalid())
    }
}

/// Trims a required single-line text and checks its length in characters.
pub(crate) fn required_text(
    field: &str,
    raw: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    checked_text(field, text, max_chars, false).map(str::to_owned)
}

/// Trims an optional text: blank means absent.
pub(crate) fn optional_text(
    field: &str,
    raw: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, ValidationError> {
    match raw.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => checked_text(field, text, max_chars, false).map(|t| Some(t.to_owned())),
    }
}

/// Trims a required multi-line text (newlines and tabs allowed).
pub(crate) fn required_message(
    field: &str,
    raw: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    checked_text(field, text, max_chars, true).map(str::to_owned)
}

fn checked_text<'a>(
    field: &str,
    text: &'a str,
    max_chars: usize,
    multiline: bool,
) -> Result<&'a str, ValidationError> {
    if text.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if let Some(c) = crate::model::text::forbidden_char(text, multiline) {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain control, bidirectional or invisible characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(text)
}

/// The form services: a visitor's join, referral, lead and profile, and
/// the team's campaign writes and lead statuses. Built from the
/// configuration and the handles it needs; cloned where it is used.
#[derive(Clone)]
pub(crate) struct Forms {
    webhook_policy: TargetPolicy,
    store: SharedStore,
    campaigns: Arc<CampaignCache>,
    sessions: Arc<SessionKeys>,
    limiter: Arc<RateLimiter>,
    leaderboard_changes: Arc<LeaderboardChanges>,
    publisher: Publisher,
    team: Team,
    captcha: Arc<captcha::Captcha>,
}

/// The handles the form services work with.
pub(crate) struct FormsHandles {
    pub(crate) store: SharedStore,
    pub(crate) campaigns: Arc<CampaignCache>,
    pub(crate) sessions: Arc<SessionKeys>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) leaderboard_changes: Arc<LeaderboardChanges>,
    pub(crate) publisher: Publisher,
    pub(crate) team: Team,
}

impl Forms {
    /// The services for `config`, with `handles`.
    pub(crate) fn new(config: &Config, handles: FormsHandles) -> Self {
        let FormsHandles {
            store,
            campaigns,
            sessions,
            limiter,
            leaderboard_changes,
            publisher,
            team,
        } = handles;
        Self {
            webhook_policy: config.webhook_policy(),
            store,
            campaigns,
            sessions,
            limiter,
            leaderboard_changes,
            publisher,
            team,
            captcha: Arc::new(captcha::Captcha::new(&config.bots)),
        }
    }
}

/// Publishes live events, counted: what every service that announces
/// something holds.
#[derive(Clone)]
pub(crate) struct Publisher {
    bus: Arc<dyn EventBus>,
    counters: Arc<Counters>,
}

impl Publisher {
    /// Publishes on `bus`, counting in `counters`.
    pub(crate) fn new(bus: Arc<dyn EventBus>, counters: Arc<Counters>) -> Self {
        Self { bus, counters }
    }

    /// The counters it counts in.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Publishes a live event after its rows were committed. The write
    /// already succeeded, so a bus failure is logged, not answered.
    pub(crate) async fn publish(&self, campaign: &Campaign, event: Event) {
        let kind = event.kind.clone();
        if let Err(e) = self.publish_event(campaign, event).await {
            tracing::warn!(error = format!("{e:#}"), %kind, "could not publish event");
        }
    }

    /// Publishes a live event, counted; its id, or why the bus refused it.
    pub(crate) async fn publish_event(
        &self,
        campaign: &Campaign,
        event: Event,
    ) -> anyhow::Result<crate::bus::EventId> {
        self.counters.events_published.inc();
        self.bus.publish(&campaign.slug, event).await
    }
}

impl Forms {
    /// The campaign named `slug` if it accepts submissions now: unknown (or draft)
    /// is 404 `campaign_not_found`, paused, ended or outside its dates 403
    /// `campaign_closed`.
    pub(crate) async fn open_campaign(&self, slug: &str) -> Result<Campaign, ApiError> {
        let campaign = self
            .campaigns
            .by_slug(self.store.as_ref(), slug)
            .await?
            .filter(|c| c.status != CampaignStatus::Draft)
            .ok_or_else(|| ApiError::campaign_not_found(slug))?;
        if !campaign.is_open(chrono::Utc::now()) {
            return Err(ApiError::Forbidden {
                code: "campaign_closed",
                message: format!("campaign {slug:?} is not accepting submissions now"),
            });
        }
        Ok(campaign)
    }

    /// The campaign `slug` as the caller may see it: drafts only for the team
    /// (`admin`), webhook receivers never for the public; 404 otherwise.
    pub(crate) async fn visible_campaign(
        &self,
        slug: &str,
        admin: bool,
    ) -> Result<Campaign, ApiError> {
        self.campaigns
            .visible(self.store.as_ref(), slug, admin)
            .await?
            .ok_or_else(|| ApiError::campaign_not_found(slug))
    }

    /// The user a user session names: 401 `invalid_token` when they are gone.
    pub(crate) async fn session_user(&self, master_id: Uuid) -> Result<User, ApiError> {
        self.store
            .user_by_id(master_id)
            .await?
            .ok_or_else(|| ApiError::Unauthorized {
                code: "invalid_token",
                message: "the session's user does not exist".into(),
            })
    }

    /// Counts one request of `action` from `who` against `per_minute` (a token
    /// bucket, shared by every instance when Redis is configured); 429 past it.
    pub(crate) async fn rate_limit(
        &self,
        action: &str,
        campaign: &Campaign,
        who: &str,
        per_minute: u32,
    ) -> Result<(), ApiError> {
        let key = format!("{action}:{}:{who}", campaign.id);
        self.limiter
            .check(&key, per_minute, std::time::Duration::from_secs(60))
            .await
            .map_err(|retry_after| ApiError::TooManyRequests {
                retry_after_secs: (retry_after.as_secs()
                    + u64::from(retry_after.subsec_nanos() > 0))
                .max(1),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("email", "  Ada.Lovelace@Example.COM ").as_deref(),
            Ok("ada.lovelace@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@exa..mple.com",
            "ada@@example.com",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email("email", &long).is_err());
    }

    /// The fields serde knows a form by (as its "unknown field" error
    /// lists them).
    fn known_fields<T: Form + std::fmt::Debug>() -> std::collections::BTreeSet<String> {
        let error = serde_json::from_str::<T>(r#"{"-": 1}"#).expect_err("an unknown field");
        let message = error.to_string();
        let (_, expected) = message
            .split_once("expected one of")
            .expect("the fields listed");
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_forms_fields_are_the_ones_it_reads() {
        let fields = |list: &[&str]| list.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(
            known_fields::<join::JoinRequest>(),
            fields(join::JoinRequest::FIELDS)
        );
        assert_eq!(
            known_fields::<lead::LeadRequest>(),
            fields(lead::LeadRequest::FIELDS)
        );
        // A honeypot may be named like none of them.
        let every: std::collections::BTreeSet<String> = fields(join::JoinRequest::FIELDS)
            .union(&fields(lead::LeadRequest::FIELDS))
            .cloned()
            .collect();
        assert_eq!(every, fields(&crate::model::campaign::bots::FORM_FIELDS));
    }

    #[test]
    fn texts() {
        assert_eq!(required_text("name", "  Ada ", 10).as_deref(), Ok("Ada"));
        assert!(required_text("name", "   ", 10).is_err());
        assert!(required_text("name", "Ada\u{0}", 10).is_err());
        assert!(required_text("name", "line\nbreak", 20).is_err());
        assert!(required_message("message", "line\nbreak", 20).is_ok());
        assert!(required_text("name", &"é".repeat(11), 10).is_err());
        assert!(required_text("name", &"é".repeat(10), 10).is_ok());
        assert_eq!(optional_text("company", Some("  "), 10), Ok(None));
    }
}
