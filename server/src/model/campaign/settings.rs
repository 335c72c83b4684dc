//! The typed campaign configuration document (`service_campaign_main.config`).
//!
//! Every section has defaults, unknown keys are rejected (a typo in a campaign
//! file must not be silently ignored), and [`CampaignConfig::validate`] checks
//! every bound so that no zero or missing setting can mean "unlimited".

use crate::model::events::{BUILT_IN, BuiltIn, Sent};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bots::CaptchaSettings;
use super::event_types::EventTypeDecl;
use super::mail::{MailSettings, NotifySettings, Verify};
use super::referrals::ReferralSettings;

/// Milestones announced when a referrer's count reaches them, by default.
pub(crate) const DEFAULT_MILESTONES: [u32; 6] = [1, 10, 50, 100, 500, 1000];

/// The whole per-campaign configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    /// Referral counts that are announced as `referral.milestone`, strictly increasing.
    pub milestones: Vec<u32>,
    /// Locales the page is offered in; the first is the language the page is written in.
    pub locales: Vec<String>,
    /// Field rules of the campaign's forms.
    pub forms: FormRules,
    /// Per-client rate limits.
    pub rate_limits: RateLimits,
    /// Live cursor channel settings.
    pub cursor: CursorSettings,
    /// Which events are broadcast to every visitor.
    pub events: EventSettings,
    /// Terms never sent for machine translation (brand and product names).
    pub glossary: Vec<String>,
    /// Extra webhook receivers for this campaign's outbox events (besides the global one).
    pub webhooks: Vec<String>,
    /// Web origins of this campaign's front end (e.g. `https://www.example.com`),
    /// allowed to call the API, open its event stream and cursor channel from
    /// a browser, besides the server-wide `OVASABI_CORS_ORIGINS`.
    pub origins: Vec<String>,
    /// The campaign's own live event types, by name.
    pub event_types: BTreeMap<String, EventTypeDecl>,
    /// The referral leaderboard (opt-in).
    pub leaderboard: LeaderboardSettings,
    /// What `GET /api/campaign/{slug}/metrics` shows to anyone (the admin sees all).
    pub public_metrics: Vec<MetricField>,
    /// Who is on the campaign's pages, beside the count (opt-in).
    pub presence: PresenceSettings,
    /// Which mails the campaign sends, and their templates.
    pub mail: MailSettings,
    /// Who on the team hears of what by mail.
    pub notify: NotifySettings,
    /// Referral fraud review: which referrals wait for the team.
    pub referrals: ReferralSettings,
}

/// Who is on the campaign's pages: the `members` event of the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceSettings {
    /// Whether event streams that ask (`?members=1`) are told who is
    /// connected to the campaign: each visitor's colour, a joined user's
    /// name when `cursor.names` is on, and the page below. Off by default.
    pub members: bool,
    /// Whether that includes the page each visitor is on. Off by default.
    pub pages: bool,
}

/// A figure of a campaign's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricField {
    /// Visitors connected now.
    Active,
    /// Users who joined.
    Users,
    /// Leads sent.
    Leads,
    /// Referrals credited.
    Referrals,
}

/// The referral leaderboard: top referrers by display name and count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaderboardSettings {
    /// Whether the campaign shows one (`GET …/leaderboard`, the `leaderboard` event).
    pub enabled: bool,
    /// How many referrers the `leaderboard` event carries (the top N whose
    /// change it announces).
    pub size: u32,
}

impl Default for LeaderboardSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            size: 10,
        }
    }
}

impl Default for CampaignConfig {
    fn default() -> Self {
        Self {
            milestones: DEFAULT_MILESTONES.to_vec(),
            locales: vec!["en".to_owned()],
            forms: FormRules::default(),
            rate_limits: RateLimits::default(),
            cursor: CursorSettings::default(),
            events: EventSettings::default(),
            glossary: Vec::new(),
            webhooks: Vec::new(),
            origins: Vec::new(),
            event_types: BTreeMap::new(),
            leaderboard: LeaderboardSettings::default(),
            public_metrics: vec![MetricField::Active],
            presence: PresenceSettings::default(),
            mail: MailSettings::default(),
            notify: NotifySettings::default(),
            referrals: ReferralSettings::default(),
        }
    }
}

/// Field rules of the campaign's forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FormRules {
    /// The join (registration) form.
    pub join: JoinRules,
    /// The lead form.
    /// (Named `quote` in campaign files and the API, as it always was.)
    #[serde(rename = "quote")]
    pub lead: LeadRules,
    /// The honeypot: the name of a field the page hides from people. A
    /// join or lead that fills it is held as spam (answered like a
    /// success). Not shown in the public view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honeypot: Option<String>,
    /// A join or lead sent sooner than this many seconds after its
    /// visitor session began (its first touch), or with no session, is held
    /// as spam. 0 (the default) is off.
    pub min_seconds: u32,
    /// A CAPTCHA on the join and lead forms, verified by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captcha: Option<CaptchaSettings>,
}

/// The longest display name a campaign may accept (`forms.join.max_name_chars`).
pub(crate) const MAX_NAME_CHARS: u32 = 200;

/// Rules of the join form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinRules {
    /// Longest display name accepted, in characters (at most [`MAX_NAME_CHARS`]).
    pub max_name_chars: u32,
    /// Whether a referral code may be given at join.
    pub referrals: bool,
    /// The version of the consent text a visitor must agree to when joining
    /// (sent back as `consent`); none asked when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// `email`: a join counts (referrals, milestones, the leaderboard, the
    /// public figures) once the link mailed to its address was opened;
    /// `none` (the default): at once.
    pub verify: Verify,
    /// The page a verification link leads to (`?verify={token}` added),
    /// which verifies with `POST /api/verify`; the demo page when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_page: Option<String>,
}

impl Default for JoinRules {
    fn default() -> Self {
        Self {
            max_name_chars: 80,
            referrals: true,
            consent: None,
            verify: Verify::None,
            verify_page: None,
        }
    }
}

/// Optional lead fields a campaign can make mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // variants named for what they are
pub enum LeadField {
    /// The company name.
    Company,
    /// The phone number.
    Phone,
    Budget,
}

/// The longest message a campaign may accept (`forms.quote.max_message_chars`).
pub(crate) const MAX_MESSAGE_CHARS: u32 = 20_000;

/// Rules of the lead form. Name, email and message are always required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadRules {
    /// Optional fields this campaign requires as well.
    pub required: Vec<LeadField>,
    /// Longest message accepted, in characters (at most [`MAX_MESSAGE_CHARS`]).
    pub max_message_chars: u32,
    /// Keys accepted in the free-form `details` object.
    pub details_keys: Vec<String>,
    /// The version of the consent text a visitor must agree to when sending
    /// a lead (sent back as `consent`); none asked when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

impl Default for LeadRules {
    fn default() -> Self {
        Self {
            required: Vec::new(),
            max_message_chars: 4000,
            details_keys: ["service", "timeline", "source", "page"]
                .map(String::from)
                .to_vec(),
            consent: None,
        }
    }
}

/// Per-client rate limits. Each must be at least 1: zero never means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Joins per minute from one address.
    pub joins_per_minute: u32,
    /// Leads per minute from one address.
    pub quotes_per_minute: u32,
    /// Referral attempts per minute from one user.
    pub referrals_per_minute: u32,
    /// Translation requests per minute from one address.
    pub translations_per_minute: u32,
    /// Cursor samples per second from one session (excess is dropped).
    pub cursor_per_second: u32,
    /// Concurrent event streams from one address.
    pub streams_per_ip: u32,
    /// Event streams resumed (`Last-Event-ID`) per minute from one address:
    /// a resume reads history, an open does not.
    pub resumes_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            joins_per_minute: 10,
            quotes_per_minute: 10,
            referrals_per_minute: 20,
            translations_per_minute: 120,
            cursor_per_second: 60,
            streams_per_ip: 20,
            resumes_per_minute: 30,
        }
    }
}

/// Live cursor channel settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CursorSettings {
    /// Whether the cursor channel is open for this campaign.
    pub enabled: bool,
    /// Room tick rate in Hz.
    pub tick_hz: u32,
    /// Most cursors one visitor receives per tick (interest management).
    pub interest_cap: u32,
    /// Concurrent cursor sessions from one address.
    pub sessions_per_ip: u32,
    /// Whether a joined user's display name travels with their cursor to
    /// the other visitors of the page (protocol version 2 rosters). Off by
    /// default: every cursor still gets a colour of its own.
    pub names: bool,
}

impl Default for CursorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_hz: 30,
            interest_cap: 64,
            sessions_per_ip: 20,
            names: false,
        }
    }
}

/// Which events are broadcast to every visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Broadcast a non-personal `lead.created` summary for every new lead.
    pub public_leads: bool,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self { public_leads: true }
    }
}

/// [`is_locale_tag`] as a pattern, for the API description.
pub(crate) const LOCALE_TAG_PATTERN: &str = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$";

/// A locale tag as the page and LibreTranslate use it: `en`, `pt-BR`, `zh-Hans`.
pub(crate) fn is_locale_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    primary_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A consent text version as a campaign names it: `2026-11`, `v3`, `terms.1`.
pub(crate) fn is_consent_version(version: &str) -> bool {
    (1..=64).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl CampaignConfig {
    /// Whether this campaign sends the built-in events sent `when`.
    pub fn sends(&self, when: Sent) -> bool {
        match when {
            Sent::Always => true,
            Sent::Milestones => !self.milestones.is_empty(),
            Sent::PublicLeads => self.events.public_leads,
            Sent::Leaderboard => self.leaderboard.enabled,
            Sent::Cursors => self.cursor.enabled,
            Sent::PresenceMembers => self.presence.members,
        }
    }

    /// The built-in event types this campaign sends, in catalogue order.
    pub fn built_in_events(&self) -> impl Iterator<Item = &'static BuiltIn> + '_ {
        BUILT_IN.iter().filter(|event| self.sends(event.sent))
    }

    /// The configuration as the campaign's team is shown it: the webhook
    /// receivers without the credentials in their URLs.
    pub fn team_view(&self) -> Self {
        Self {
            webhooks: self
                .webhooks
                .iter()
                .map(|url| crate::model::text::mask_url_credentials(url))
                .collect(),
            ..self.clone()
        }
    }

    /// Puts back the credentials of receivers given as [`Self::team_view`]
    /// shows those of `current`.
    pub fn keep_webhook_credentials(&mut self, current: &Self) {
        for url in &mut self.webhooks {
            if let Some(real) = current
                .webhooks
                .iter()
                .find(|real| *real != url && crate::model::text::mask_url_credentials(real) == *url)
            {
                url.clone_from(real);
            }
        }
    }

    /// The configuration as shown to anyone: without the webhook receivers
    /// and the honeypot's name.
    pub fn public_view(&self) -> Self {
        let mut view = Self {
            webhooks: Vec::new(),
            ..self.clone()
        };
        view.forms.honeypot = None;
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_means_defaults() {
        let parsed: CampaignConfig = serde_json::from_str("{}").expect("empty config parses");
        assert_eq!(parsed, CampaignConfig::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<CampaignConfig>(r#"{"cursor": {"tick_herz": 5}}"#)
            .expect_err("typo must not pass");
        assert!(err.to_string().contains("tick_herz"), "{err}");
    }

    #[test]
    fn locale_tags() {
        for good in ["en", "pt-BR", "zh-Hans", "yue"] {
            assert!(is_locale_tag(good), "{good}");
        }
        for bad in ["", "EN", "e", "en_US", "en-", "english"] {
            assert!(!is_locale_tag(bad), "{bad}");
        }
    }
}
