//! The bot-defence settings: the CAPTCHA providers' secrets and where
//! their tokens are verified, and how long spam is kept. What each campaign
//! asks (a honeypot, a minimum time, which provider) is campaign config
//! (`config.forms`); the secrets never are.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::{days, http_url, seconds, secret, secret_from_file};
use super::{ConfigError, HttpUrl, Secret};

/// Cloudflare Turnstile's documented siteverify endpoint.
const TURNSTILE_VERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
/// hCaptcha's documented siteverify endpoint.
const HCAPTCHA_VERIFY_URL: &str = "https://api.hcaptcha.com/siteverify";

/// The bot-defence settings, a part of [`Config`](super::Config).
#[derive(Debug, Clone, Args)]
pub struct BotConfig {
    /// The Turnstile secret key, for campaigns whose
    /// `config.forms.captcha.provider` is `turnstile`.
    #[arg(long, env = "OVASABI_TURNSTILE_SECRET", hide_env_values = true, value_parser = secret(1))]
    pub turnstile_secret: Option<Secret>,
    /// File holding the Turnstile secret key (a mounted secret).
    #[arg(
        long,
        env = "OVASABI_TURNSTILE_SECRET_FILE",
        conflicts_with = "turnstile_secret"
    )]
    pub turnstile_secret_file: Option<PathBuf>,
    /// Where Turnstile tokens are verified (siteverify).
    #[arg(long, env = "OVASABI_TURNSTILE_VERIFY_URL", default_value = TURNSTILE_VERIFY_URL, value_parser = http_url())]
    pub turnstile_verify_url: HttpUrl,
    /// The hCaptcha secret key, for campaigns whose
    /// `config.forms.captcha.provider` is `hcaptcha`.
    #[arg(long, env = "OVASABI_HCAPTCHA_SECRET", hide_env_values = true, value_parser = secret(1))]
    pub hcaptcha_secret: Option<Secret>,
    /// File holding the hCaptcha secret key (a mounted secret).
    #[arg(
        long,
        env = "OVASABI_HCAPTCHA_SECRET_FILE",
        conflicts_with = "hcaptcha_secret"
    )]
    pub hcaptcha_secret_file: Option<PathBuf>,
    /// Where hCaptcha tokens are verified (siteverify).
    #[arg(long, env = "OVASABI_HCAPTCHA_VERIFY_URL", default_value = HCAPTCHA_VERIFY_URL, value_parser = http_url())]
    pub hcaptcha_verify_url: HttpUrl,
    /// Seconds a CAPTCHA provider gets to answer before it counts as down
    /// (the campaign's `on_outage` then decides).
    #[arg(long = "captcha-timeout-secs", env = "OVASABI_CAPTCHA_TIMEOUT_SECS", default_value = "5", value_parser = seconds(1, 60))]
    pub captcha_timeout: Duration,
    /// Days a submission held as spam is kept (for the team to release).
    #[arg(long = "spam-retention-days", env = "OVASABI_SPAM_RETENTION_DAYS", default_value = "30", value_parser = days(1, 3650))]
    pub spam_retention: Duration,
    /// Days a session's humanity score (from how its pointer moved: the
    /// referral review shows it) is kept after it last changed.
    #[arg(long = "humanity-retention-days", env = "OVASABI_HUMANITY_RETENTION_DAYS", default_value = "30", value_parser = days(1, 3650))]
    pub humanity_retention: Duration,
}

impl BotConfig {
    /// Reads the secret files.
    pub(super) fn finish(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = self.turnstile_secret_file.take() {
            self.turnstile_secret =
                Some(secret_from_file(&path, "OVASABI_TURNSTILE_SECRET_FILE", 1)?);
        }
        if let Some(path) = self.hcaptcha_secret_file.take() {
            self.hcaptcha_secret =
                Some(secret_from_file(&path, "OVASABI_HCAPTCHA_SECRET_FILE", 1)?);
        }
        Ok(())
    }
}
