//! A campaign configuration's bounds: every check, each naming the field
//! it refuses (`config.cursor.tick_hz`).

use super::ValidationError;
use super::settings::{
    CampaignConfig, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, is_consent_version, is_locale_tag,
};

impl CampaignConfig {
    /// Checks every bound; the error names the offending field (`config.cursor.tick_hz`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.check_milestones_and_locales()?;
        self.check_forms()?;
        self.check_live()?;
        self.check_lists()?;
        self.mail.validate()?;
        self.notify.validate()?;
        self.referrals.validate()?;
        if let Some(page) = &self.forms.join.verify_page {
            let ok = url::Url::parse(page)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid("forms.join.verify_page", "must be an http(s) URL"));
            }
        }
        Ok(())
    }

    /// The milestones (increasing) and the locales (tags, once each).
    fn check_milestones_and_locales(&self) -> Result<(), ValidationError> {
        if self.milestones.is_empty() || self.milestones.len() > 32 {
            return Err(invalid("milestones", "must list between 1 and 32 counts"));
        }
        if self.milestones[0] == 0 || self.milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                "milestones",
                "must be positive and strictly increasing",
            ));
        }
        if self.locales.is_empty() || self.locales.len() > 64 {
            return Err(invalid("locales", "must list between 1 and 64 locales"));
        }
        for (i, locale) in self.locales.iter().enumerate() {
            if !is_locale_tag(locale) {
                return Err(invalid(
                    &format!("locales[{i}]"),
                    "must be a locale tag such as \"en\" or \"pt-BR\"",
                ));
            }
            if self.locales[..i].contains(locale) {
                return Err(invalid(&format!("locales[{i}]"), "is listed twice"));
            }
        }
        Ok(())
    }

    /// The forms' bounds, detail keys and consent versions.
    fn check_forms(&self) -> Result<(), ValidationError> {
        let join = &self.forms.join;
        check_range(
            "forms.join.max_name_chars",
            join.max_name_chars,
            1,
            MAX_NAME_CHARS,
        )?;
        let lead = &self.forms.lead;
        check_range(
            "forms.quote.max_message_chars",
            lead.max_message_chars,
            1,
            MAX_MESSAGE_CHARS,
        )?;
        if lead.details_keys.len() > 32 {
            return Err(invalid("forms.quote.details_keys", "at most 32 keys"));
        }
        for (i, key) in lead.details_keys.iter().enumerate() {
            let ok = (1..=64).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(invalid(
                    &format!("forms.quote.details_keys[{i}]"),
                    "must be 1-64 letters, digits, '_' or '-'",
                ));
            }
        }
        super::bots::validate(
            self.forms.honeypot.as_deref(),
            self.forms.min_seconds,
            self.forms.captcha.as_ref(),
        )?;
        for (field, consent) in [
            ("forms.join.consent", &join.consent),
            ("forms.quote.consent", &lead.consent),
        ] {
            if let Some(version) = consent
                && !is_consent_version(version)
            {
                return Err(invalid(
                    field,
                    "must be 1-64 letters, digits, '.', '_' or '-' (the version of the consent text)",
                ));
            }
        }
        Ok(())
    }

    /// The leaderboard, public metrics, the campaign's own event types, rate limits and cursor rooms.
    fn check_live(&self) -> Result<(), ValidationError> {
        check_range("leaderboard.size", self.leaderboard.size, 1, 100)?;
        for (i, field) in self.public_metrics.iter().enumerate() {
            if self.public_metrics[..i].contains(field) {
                return Err(invalid(&format!("public_metrics[{i}]"), "is listed twice"));
            }
        }
        super::event_types::validate(&self.event_types)?;
        let limits = &self.rate_limits;
        check_range(
            "rate_limits.joins_per_minute",
            limits.joins_per_minute,
            1,
            10_000,
        )?;
        check_range(
            "rate_limits.quotes_per_minute",
            limits.quotes_per_minute,
            1,
            10_000,
        )?;
        check_range(
            "rate_limits.referrals_per_minute",
            limits.referrals_per_minute,
            1,
            10_000,
        )?;
        check_range(
            "rate_limits.translations_per_minute",
            limits.translations_per_minute,
            1,
            100_000,
        )?;
        check_range(
            "rate_limits.cursor_per_second",
            limits.cursor_per_second,
            1,
            240,
        )?;
        check_range(
            "rate_limits.streams_per_ip",
            limits.streams_per_ip,
            1,
            10_000,
        )?;
        check_range(
            "rate_limits.resumes_per_minute",
            limits.resumes_per_minute,
            1,
            100_000,
        )?;
        let cursor = &self.cursor;
        check_range("cursor.tick_hz", cursor.tick_hz, 1, 120)?;
        check_range("cursor.interest_cap", cursor.interest_cap, 1, 1024)?;
        check_range("cursor.sessions_per_ip", cursor.sessions_per_ip, 1, 10_000)?;
        Ok(())
    }

    /// The glossary, the allowed origins and the webhook receivers.
    fn check_lists(&self) -> Result<(), ValidationError> {
        if self.glossary.len() > 500 {
            return Err(invalid("glossary", "at most 500 terms"));
        }
        for (i, term) in self.glossary.iter().enumerate() {
            if term.trim().is_empty() || term.chars().count() > 100 {
                return Err(invalid(
                    &format!("glossary[{i}]"),
                    "must be 1-100 characters and not blank",
                ));
            }
        }
        if self.origins.len() > 32 {
            return Err(invalid("origins", "at most 32 origins"));
        }
        for (i, origin) in self.origins.iter().enumerate() {
            if crate::origin::normalize(origin).as_deref() != Some(origin.as_str()) {
                return Err(invalid(
                    &format!("origins[{i}]"),
                    "must be an origin in lower case, such as https://www.example.com \
                     (no path, no trailing slash, no default port)",
                ));
            }
        }
        if self.webhooks.len() > 8 {
            return Err(invalid("webhooks", "at most 8 receivers"));
        }
        for (i, url) in self.webhooks.iter().enumerate() {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(
                    &format!("webhooks[{i}]"),
                    "must be an absolute http(s) URL",
                ));
            }
        }
        Ok(())
    }

    /// Checks the webhook receivers against the server's target policy
    /// (`https` only, public addresses only, unless development allows more).
    pub fn check_webhook_targets(
        &self,
        policy: &crate::config::TargetPolicy,
    ) -> Result<(), ValidationError> {
        for (i, raw) in self.webhooks.iter().enumerate() {
            let checked = url::Url::parse(raw)
                .map_err(|e| e.to_string())
                .and_then(|url| policy.check_url(&url));
            if let Err(reason) = checked {
                return Err(invalid(&format!("webhooks[{i}]"), &reason));
            }
        }
        Ok(())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(format!("config.{field}"), message)
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("must be between {min} and {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(CampaignConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_never_means_unlimited() {
        let mut config = CampaignConfig::default();
        config.cursor.interest_cap = 0;
        let err = config.validate().expect_err("zero cap is refused");
        assert_eq!(err.field, "config.cursor.interest_cap");
        let mut config = CampaignConfig::default();
        config.rate_limits.quotes_per_minute = 0;
        assert_eq!(
            config.validate().expect_err("zero rate").field,
            "config.rate_limits.quotes_per_minute"
        );
    }

    #[test]
    fn milestones_must_increase() {
        let config = CampaignConfig {
            milestones: vec![10, 10],
            ..CampaignConfig::default()
        };
        assert_eq!(
            config.validate().expect_err("not increasing").field,
            "config.milestones"
        );
    }

    #[test]
    fn webhook_urls_are_checked() {
        let config = CampaignConfig {
            webhooks: vec!["ftp://crm.example".into()],
            ..CampaignConfig::default()
        };
        assert_eq!(
            config.validate().expect_err("ftp").field,
            "config.webhooks[0]"
        );
        assert!(config.public_view().webhooks.is_empty());
    }
}
