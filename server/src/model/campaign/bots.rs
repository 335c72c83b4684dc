//! A campaign's bot defence on its public forms (`config.forms`): a
//! honeypot field, a minimum time after the visitor's first touch, and an
//! optional CAPTCHA verified by the server.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Every field the join and lead forms have: a honeypot may not be named
/// like one.
pub(crate) const FORM_FIELDS: [&str; 12] = [
    "campaign",
    "email",
    "name",
    "locale",
    "referral_code",
    "consent",
    "message",
    "company",
    "phone",
    "budget",
    "details",
    "captcha_token",
];

/// Longest minimum time a campaign may ask, in seconds.
pub(crate) const MAX_MIN_SECONDS: u32 = 3600;

/// A CAPTCHA provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaProvider {
    /// Cloudflare Turnstile.
    Turnstile,
    /// hCaptcha.
    Hcaptcha,
}

impl CaptchaProvider {
    /// Its name in settings and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Turnstile => "turnstile",
            Self::Hcaptcha => "hcaptcha",
        }
    }
}

/// What a form does while the CAPTCHA provider cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnOutage {
    /// Let the submission through, listed in the Spam view as
    /// `captcha_unavailable` (the default: a campaign keeps its sign-ups).
    #[default]
    Allow,
    /// Refuse it: 503 `captcha_unavailable`.
    Refuse,
}

/// A campaign's CAPTCHA (`config.forms.captcha`): the page shows the
/// provider's widget with `site_key` and sends its token as
/// `captcha_token`; the server verifies it with the provider's secret (a
/// server setting, never campaign config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaSettings {
    /// `turnstile` or `hcaptcha`.
    pub provider: CaptchaProvider,
    /// The widget's site key (public).
    pub site_key: String,
    /// `allow` (the default) or `refuse`.
    #[serde(default)]
    pub on_outage: OnOutage,
}

/// Checks the bot-defence settings of `config.forms`.
pub(crate) fn validate(
    honeypot: Option<&str>,
    min_seconds: u32,
    captcha: Option<&CaptchaSettings>,
) -> Result<(), ValidationError> {
    if let Some(name) = honeypot {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ValidationError::new(
                "config.forms.honeypot",
                "must be 1-64 letters, digits, '_' or '-' (the name of a form field)",
            ));
        }
        if FORM_FIELDS.contains(&name) {
            return Err(ValidationError::new(
                "config.forms.honeypot",
                format!("{name:?} is a field of the forms; a honeypot needs a name of its own"),
            ));
        }
    }
    if min_seconds > MAX_MIN_SECONDS {
        return Err(ValidationError::new(
            "config.forms.min_seconds",
            format!("must be between 0 (off) and {MAX_MIN_SECONDS}"),
        ));
    }
    if let Some(captcha) = captcha {
        let ok = (1..=200).contains(&captcha.site_key.len())
            && captcha.site_key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(ValidationError::new(
                "config.forms.captcha.site_key",
                "must be the provider's site key: 1-200 visible characters",
            ));
        }
    }
    Ok(())
}
