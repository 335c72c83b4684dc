//! The mail settings: where mail goes (SMTP), who it is from, how fast,
//! and the public address its links point at.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::{ServiceUrl, days, hours, http_url, parser, seconds, secret, secret_from_file};
use super::{ConfigError, HttpUrl, Secret};

/// The mail settings, a part of [`Config`](super::Config).
#[derive(Debug, Clone, Args)]
pub struct MailConfig {
    /// SMTP server mail is sent through: `smtp://host:25` (plain, or
    /// STARTTLS when offered), `smtp://host:587?tls=required` (STARTTLS
    /// required), `smtps://host:465` (TLS from the start); credentials as
    /// `smtp://user:password@host`. Unset: mails wait in the outbox, as
    /// webhooks wait for a receiver.
    #[arg(long, env = "OVASABI_SMTP_URL", hide_env_values = true, value_parser = smtp_url())]
    pub smtp_url: Option<ServiceUrl>,
    /// The SMTP password, instead of the one in OVASABI_SMTP_URL.
    #[arg(long, env = "OVASABI_SMTP_PASSWORD", hide_env_values = true, value_parser = secret(1))]
    pub smtp_password: Option<Secret>,
    /// File holding the SMTP password (a mounted secret).
    #[arg(
        long,
        env = "OVASABI_SMTP_PASSWORD_FILE",
        conflicts_with = "smtp_password"
    )]
    pub smtp_password_file: Option<PathBuf>,
    /// The sender of every mail: `Ovasabi <hello@example.com>` or an address.
    #[arg(long, env = "OVASABI_MAIL_FROM", value_parser = mailbox())]
    pub mail_from: Option<String>,
    /// Mails sent per second at most, by each instance.
    #[arg(long, env = "OVASABI_MAIL_PER_SECOND", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub mail_per_second: u32,
    /// Attempts before a mail is dead (retried with backoff, as webhooks).
    #[arg(long, env = "OVASABI_MAIL_MAX_ATTEMPTS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub mail_max_attempts: u32,
    /// Seconds one SMTP conversation may take.
    #[arg(long = "mail-timeout-secs", env = "OVASABI_MAIL_TIMEOUT_SECS", default_value = "30", value_parser = seconds(1, 600))]
    pub mail_timeout: Duration,
    /// The public base URL of this server (`https://api.example.com`): the
    /// base of every link in a mail. Required when OVASABI_SMTP_URL is set.
    #[arg(long, env = "OVASABI_PUBLIC_URL", value_parser = http_url())]
    pub public_url: Option<HttpUrl>,
    /// Hours a verification link stays valid.
    #[arg(long = "verify-ttl-hours", env = "OVASABI_VERIFY_TTL_HOURS", default_value = "24", value_parser = hours(1, 24 * 30))]
    pub verify_ttl: Duration,
    /// Days a join that was never verified is kept before it is removed.
    #[arg(long = "pending-join-retention-days", env = "OVASABI_PENDING_JOIN_RETENTION_DAYS", default_value = "7", value_parser = days(1, 3650))]
    pub pending_join_retention: Duration,
}

fn smtp_url() -> impl clap::builder::TypedValueParser<Value = ServiceUrl> {
    parser(|raw| {
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
            return Err("must be smtp://host[:port] or smtps://host[:port]".to_owned());
        }
        Ok(ServiceUrl::from(raw))
    })
}

fn mailbox() -> impl clap::builder::TypedValueParser<Value = String> {
    parser(|raw| {
        raw.parse::<lettre::message::Mailbox>()
            .map(|_| raw.to_owned())
            .map_err(|e| format!("must be an address or `Name <address>`: {e}"))
    })
}

impl MailConfig {
    /// Reads the password file and checks that mail can be sent when
    /// OVASABI_SMTP_URL is set.
    pub(super) fn finish(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = self.smtp_password_file.take() {
            self.smtp_password = Some(secret_from_file(&path, "OVASABI_SMTP_PASSWORD_FILE", 1)?);
        }
        if self.smtp_url.is_none() {
            return Ok(());
        }
        let missing = |name: &str, why: &str| ConfigError {
            name: name.to_owned(),
            reason: format!("required when OVASABI_SMTP_URL is set: {why}"),
        };
        if self.mail_from.is_none() {
            return Err(missing("OVASABI_MAIL_FROM", "every mail needs a sender"));
        }
        if self.public_url.is_none() {
            return Err(missing(
                "OVASABI_PUBLIC_URL",
                "it is the base of every link in a mail",
            ));
        }
        Ok(())
    }
}
