//! Server configuration: read once at start from flags and environment
//! (`OVASABI_…`, plus `DATABASE_URL`, `REDIS_URL` and `LIBRETRANSLATE_URL` as their
//! ecosystems name them), validated into a [`Config`], and printed without secrets.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Where the embedded database lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/ovasabi.db";

/// Command line and environment of `ovasabi-edge`.
#[derive(Debug, Parser)]
#[command(
    name = "ovasabi-edge",
    version,
    about = "The real-time backend of a campaign website"
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// HTTP listen address (REST and SSE).
    #[arg(long, env = "OVASABI_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// WebTransport (QUIC, UDP) listen address.
    #[arg(long, env = "OVASABI_WT_ADDR", default_value = "127.0.0.1:4433")]
    pub wt_addr: String,
    /// PEM certificate chain for WebTransport (production); unset = self-signed development certificate.
    #[arg(long, env = "OVASABI_WT_CERT", requires = "wt_key")]
    pub wt_cert: Option<PathBuf>,
    /// PEM private key for WebTransport (production).
    #[arg(long, env = "OVASABI_WT_KEY", requires = "wt_cert")]
    pub wt_key: Option<PathBuf>,
    /// URL browsers use for WebTransport, e.g. `https://edge.example.com:4433/wt`
    /// (default: built from OVASABI_WT_ADDR and the request's host).
    #[arg(long, env = "OVASABI_WT_PUBLIC_URL")]
    pub wt_public_url: Option<String>,
    /// `sqlite:PATH` (default, embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Most pooled database connections.
    #[arg(long, env = "OVASABI_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Redis for the cross-instance relay; unset means a single, in-process instance.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Bearer token of the admin endpoints; unset generates one at start (development).
    #[arg(long, env = "OVASABI_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Prefix of every Redis key this deployment uses.
    #[arg(long, env = "OVASABI_REDIS_PREFIX", default_value = "ovasabi")]
    pub redis_prefix: String,
    /// Events kept for clients resuming a stream (Redis: the stream's MAXLEN).
    #[arg(long, env = "OVASABI_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,
    /// Events buffered per campaign for slow stream readers before they are reset.
    #[arg(long, env = "OVASABI_SSE_BUFFER", default_value_t = 1024)]
    pub sse_buffer: usize,
    /// Seconds between heartbeat comments on an idle event stream.
    #[arg(long, env = "OVASABI_SSE_HEARTBEAT_SECS", default_value_t = 15)]
    pub sse_heartbeat_secs: u64,
    /// Reconnect delay suggested to event stream clients, in milliseconds.
    #[arg(long, env = "OVASABI_SSE_RETRY_MS", default_value_t = 3000)]
    pub sse_retry_ms: u64,
    /// Milliseconds a visitor keeps counting without a refresh (crashed instances).
    #[arg(long, env = "OVASABI_PRESENCE_TTL_MS", default_value_t = 5000)]
    pub presence_ttl_ms: u64,
    /// Secret signing session tokens (32+ characters); unset generates one at start.
    #[arg(long, env = "OVASABI_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,
    /// Hours a session token stays valid.
    #[arg(long, env = "OVASABI_SESSION_TTL_HOURS", default_value_t = 720)]
    pub session_ttl_hours: u64,
    /// LibreTranslate base URL; unset serves translation memory only.
    #[arg(long, env = "LIBRETRANSLATE_URL")]
    pub libretranslate_url: Option<String>,
    /// LibreTranslate API key, if the instance wants one.
    #[arg(long, env = "LIBRETRANSLATE_API_KEY", hide_env_values = true)]
    pub libretranslate_api_key: Option<String>,
    /// Timeout of one LibreTranslate call, in milliseconds.
    #[arg(long, env = "OVASABI_TRANSLATE_TIMEOUT_MS", default_value_t = 5000)]
    pub translate_timeout_ms: u64,
    /// Milliseconds LibreTranslate is not called after repeated failures.
    #[arg(
        long,
        env = "OVASABI_TRANSLATE_BREAKER_OPEN_MS",
        default_value_t = 30_000
    )]
    pub translate_breaker_open_ms: u64,
    /// Webhook receiver of outbox events (the CRM).
    #[arg(long, env = "OVASABI_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Secret of the webhook signature header (16+ characters); unset generates one.
    #[arg(long, env = "OVASABI_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Delivery attempts before an outbox entry is dead.
    #[arg(long, env = "OVASABI_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12)]
    pub webhook_max_attempts: u32,
    /// First retry delay in milliseconds (doubles per attempt, capped at an hour).
    #[arg(long, env = "OVASABI_WEBHOOK_BACKOFF_MS", default_value_t = 2000)]
    pub webhook_backoff_ms: u64,
    /// Timeout of one webhook delivery in milliseconds.
    #[arg(long, env = "OVASABI_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Run the outbox delivery worker on this instance.
    #[arg(long, env = "OVASABI_OUTBOX_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub outbox_worker: bool,
    /// Folder of `NNN_name.toml` campaign files applied at start.
    #[arg(long, env = "OVASABI_CAMPAIGNS_DIR", default_value = "campaigns")]
    pub campaigns_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "OVASABI_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds open connections get to finish at shutdown.
    #[arg(long, env = "OVASABI_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Campaign files.
    Campaigns {
        /// What to do with them.
        #[command(subcommand)]
        action: CampaignsAction,
    },
}

/// Actions on campaign files.
#[derive(Debug, Subcommand)]
pub enum CampaignsAction {
    /// Apply (create or update) every campaign file, then exit.
    Apply,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The setting, as the environment names it.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn config_error(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

/// Where a secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// Set by the operator.
    Configured,
    /// Generated at start because none was set: valid for this process only.
    Generated,
}

/// A secret value that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The value.
    pub value: String,
    /// Where it came from.
    pub source: SecretSource,
}

impl Secret {
    /// A fresh random secret.
    pub fn generated() -> Self {
        Self {
            value: random_token(),
            source: SecretSource::Generated,
        }
    }

    fn from_setting(
        name: &'static str,
        value: Option<String>,
        min_len: usize,
    ) -> Result<Self, ConfigError> {
        match non_empty(value) {
            Some(v) if v.len() < min_len => Err(config_error(
                name,
                format!("must be at least {min_len} characters"),
            )),
            Some(value) => Ok(Self {
                value,
                source: SecretSource::Configured,
            }),
            None => Ok(Self::generated()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{:?}>", self.source)
    }
}

/// The validated configuration the app runs with.
#[derive(Clone)]
pub struct Config {
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// WebTransport listen address.
    pub wt_addr: SocketAddr,
    /// Where the WebTransport certificate comes from.
    pub wt_certificate: crate::transport::webtransport::CertificateSource,
    /// URL browsers use for WebTransport.
    pub wt_public_url: Option<url::Url>,
    /// Database URL.
    pub database_url: String,
    /// Most pooled database connections.
    pub db_max_connections: u32,
    /// Redis URL, if scaling out.
    pub redis_url: Option<String>,
    /// Prefix of Redis keys.
    pub redis_prefix: String,
    /// Events kept for resuming clients.
    pub event_history: usize,
    /// Events buffered per campaign for slow readers.
    pub sse_buffer: usize,
    /// Heartbeat interval of event streams.
    pub sse_heartbeat: Duration,
    /// Reconnect delay suggested to clients.
    pub sse_retry: Duration,
    /// How long an unrefreshed visitor keeps counting.
    pub presence_ttl: Duration,
    /// Admin bearer token.
    pub admin_token: Secret,
    /// Session token signing secret.
    pub session_secret: Secret,
    /// How long session tokens live.
    pub session_ttl: Duration,
    /// LibreTranslate base URL.
    pub libretranslate_url: Option<url::Url>,
    /// LibreTranslate API key.
    pub libretranslate_api_key: Option<String>,
    /// Timeout of one LibreTranslate call.
    pub translate_timeout: Duration,
    /// Consecutive LibreTranslate failures that open the circuit breaker.
    pub translate_breaker_threshold: u32,
    /// How long the open breaker keeps LibreTranslate uncalled.
    pub translate_breaker_open: Duration,
    /// Global webhook receiver.
    pub webhook_url: Option<url::Url>,
    /// Webhook signature secret.
    pub webhook_secret: Secret,
    /// Delivery attempts before an outbox entry is dead.
    pub webhook_max_attempts: u32,
    /// First retry delay.
    pub webhook_backoff: Duration,
    /// Timeout of one delivery.
    pub webhook_timeout: Duration,
    /// Whether this instance delivers the outbox.
    pub outbox_worker: bool,
    /// Campaign files folder applied at start (`None`: apply nothing).
    pub campaigns_dir: Option<PathBuf>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Grace period at shutdown.
    pub shutdown_timeout: Duration,
}

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// Shortest session secret accepted.
pub const MIN_SESSION_SECRET_LEN: usize = 32;

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_http_url(
    name: &'static str,
    value: Option<String>,
) -> Result<Option<url::Url>, ConfigError> {
    non_empty(value)
        .map(|v| {
            let url = url::Url::parse(&v).map_err(|e| config_error(name, format!("{e}: {v:?}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(config_error(
                    name,
                    format!("must be an http(s) URL, got {v:?}"),
                ));
            }
            Ok(url)
        })
        .transpose()
}

fn check_range(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(config_error(
            name,
            format!("must be between {min} and {max}"),
        ))
    }
}

fn parse_addr(name: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        config_error(
            name,
            format!("must be IP:PORT such as 127.0.0.1:8080, got {value:?}"),
        )
    })
}

/// A random URL-safe token of 32 hex characters.
pub fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cli {
    /// Validates every setting; the error names the setting and what is wrong.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let database_url = self.database_url.trim().to_owned();
        let is_sqlite = database_url.starts_with("sqlite:");
        let is_postgres =
            database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
        if !is_sqlite && !is_postgres {
            return Err(config_error(
                "DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        if is_postgres {
            url::Url::parse(&database_url)
                .map_err(|e| config_error("DATABASE_URL", format!("not a valid URL: {e}")))?;
        }
        check_range(
            "OVASABI_DB_MAX_CONNECTIONS",
            self.db_max_connections.into(),
            1,
            1000,
        )?;
        let redis_url = non_empty(self.redis_url);
        if let Some(url) = &redis_url {
            redis::Client::open(url.as_str())
                .map_err(|e| config_error("REDIS_URL", format!("not a Redis URL: {e}")))?;
        }
        let admin_token =
            Secret::from_setting("OVASABI_ADMIN_TOKEN", self.admin_token, MIN_ADMIN_TOKEN_LEN)?;
        let session_secret = Secret::from_setting(
            "OVASABI_SESSION_SECRET",
            self.session_secret,
            MIN_SESSION_SECRET_LEN,
        )?;
        let webhook_secret =
            Secret::from_setting("OVASABI_WEBHOOK_SECRET", self.webhook_secret, 16)?;
        check_range(
            "OVASABI_SESSION_TTL_HOURS",
            self.session_ttl_hours,
            1,
            24 * 365,
        )?;
        check_range(
            "OVASABI_WEBHOOK_MAX_ATTEMPTS",
            self.webhook_max_attempts.into(),
            1,
            100,
        )?;
        check_range(
            "OVASABI_WEBHOOK_BACKOFF_MS",
            self.webhook_backoff_ms,
            10,
            3_600_000,
        )?;
        check_range(
            "OVASABI_WEBHOOK_TIMEOUT_MS",
            self.webhook_timeout_ms,
            100,
            120_000,
        )?;
        check_range(
            "OVASABI_MAX_BODY_BYTES",
            self.max_body_bytes as u64,
            1024,
            16 * 1024 * 1024,
        )?;
        check_range(
            "OVASABI_SHUTDOWN_TIMEOUT_SECS",
            self.shutdown_timeout_secs,
            1,
            300,
        )?;
        Ok(Config {
            http_addr: parse_addr("OVASABI_HTTP_ADDR", &self.http_addr)?,
            wt_addr: parse_addr("OVASABI_WT_ADDR", &self.wt_addr)?,
            wt_certificate: match (self.wt_cert, self.wt_key) {
                (Some(cert), Some(key)) => {
                    crate::transport::webtransport::CertificateSource::Files { cert, key }
                }
                _ => crate::transport::webtransport::CertificateSource::Development(
                    Default::default(),
                ),
            },
            wt_public_url: non_empty(self.wt_public_url)
                .map(|raw| {
                    url::Url::parse(&raw)
                        .ok()
                        .filter(|u| u.scheme() == "https" && u.host().is_some())
                        .ok_or_else(|| {
                            config_error(
                                "OVASABI_WT_PUBLIC_URL",
                                format!("must be an https URL, got {raw:?}"),
                            )
                        })
                })
                .transpose()?,
            database_url,
            db_max_connections: self.db_max_connections,
            redis_url,
            redis_prefix: self.redis_prefix,
            event_history: self.event_history,
            sse_buffer: self.sse_buffer,
            sse_heartbeat: Duration::from_secs(self.sse_heartbeat_secs),
            sse_retry: Duration::from_millis(self.sse_retry_ms),
            presence_ttl: Duration::from_millis(self.presence_ttl_ms),
            admin_token,
            session_secret,
            session_ttl: Duration::from_secs(self.session_ttl_hours * 3600),
            libretranslate_url: parse_http_url("LIBRETRANSLATE_URL", self.libretranslate_url)?,
            libretranslate_api_key: non_empty(self.libretranslate_api_key),
            translate_timeout: Duration::from_millis(self.translate_timeout_ms),
            translate_breaker_threshold: 5,
            translate_breaker_open: Duration::from_millis(self.translate_breaker_open_ms),
            webhook_url: parse_http_url("OVASABI_WEBHOOK_URL", self.webhook_url)?,
            webhook_secret,
            webhook_max_attempts: self.webhook_max_attempts,
            webhook_backoff: Duration::from_millis(self.webhook_backoff_ms),
            webhook_timeout: Duration::from_millis(self.webhook_timeout_ms),
            outbox_worker: self.outbox_worker,
            campaigns_dir: Some(self.campaigns_dir),
            max_body_bytes: self.max_body_bytes,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
        })
    }
}

impl Config {
    /// Defaults for `database_url`, on loopback port 0, with no campaign files:
    /// what tests and embedders start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            wt_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            wt_certificate: crate::transport::webtransport::CertificateSource::Development(
                Default::default(),
            ),
            wt_public_url: None,
            database_url: database_url.into(),
            db_max_connections: 8,
            redis_url: None,
            redis_prefix: "ovasabi".to_owned(),
            event_history: 10_000,
            sse_buffer: 1024,
            sse_heartbeat: Duration::from_secs(15),
            sse_retry: Duration::from_secs(3),
            presence_ttl: Duration::from_secs(5),
            admin_token: Secret::generated(),
            session_secret: Secret::generated(),
            session_ttl: Duration::from_secs(24 * 3600),
            libretranslate_url: None,
            libretranslate_api_key: None,
            translate_timeout: Duration::from_secs(5),
            translate_breaker_threshold: 5,
            translate_breaker_open: Duration::from_secs(30),
            webhook_url: None,
            webhook_secret: Secret::generated(),
            webhook_max_attempts: 12,
            webhook_backoff: Duration::from_secs(2),
            webhook_timeout: Duration::from_secs(10),
            outbox_worker: true,
            campaigns_dir: None,
            max_body_bytes: 64 * 1024,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// A URL with its password (and, for HTTP URLs, query) hidden.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Printed at start: every setting, secrets hidden.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("wt_addr", &self.wt_addr)
            .field("wt_certificate", &self.wt_certificate)
            .field(
                "wt_public_url",
                &self.wt_public_url.as_ref().map(url::Url::as_str),
            )
            .field("database_url", &redact(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("redis_url", &self.redis_url.as_deref().map(redact))
            .field("redis_prefix", &self.redis_prefix)
            .field("event_history", &self.event_history)
            .field("sse_buffer", &self.sse_buffer)
            .field("sse_heartbeat", &self.sse_heartbeat)
            .field("sse_retry", &self.sse_retry)
            .field("presence_ttl", &self.presence_ttl)
            .field("admin_token", &self.admin_token)
            .field("session_secret", &self.session_secret)
            .field("session_ttl", &self.session_ttl)
            .field(
                "libretranslate_url",
                &self.libretranslate_url.as_ref().map(|u| redact(u.as_str())),
            )
            .field(
                "libretranslate_api_key",
                &self.libretranslate_api_key.as_ref().map(|_| "<set>"),
            )
            .field("translate_timeout", &self.translate_timeout)
            .field("translate_breaker_open", &self.translate_breaker_open)
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|u| redact(u.as_str())),
            )
            .field("webhook_secret", &self.webhook_secret)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_backoff", &self.webhook_backoff)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("outbox_worker", &self.outbox_worker)
            .field("campaigns_dir", &self.campaigns_dir)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["ovasabi-edge"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("arguments parse")
    }

    #[test]
    fn defaults_are_valid() {
        let config = cli(&[
            "--database-url",
            DEFAULT_DATABASE_URL,
            "--http-addr",
            "127.0.0.1:8080",
        ])
        .into_config()
        .expect("defaults are valid");
        assert_eq!(config.admin_token.source, SecretSource::Generated);
        assert_eq!(config.admin_token.value.len(), 32);
        assert_ne!(config.admin_token.value, config.session_secret.value);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: &[(&[&str], &str)] = &[
            (&["--http-addr", "nope"], "OVASABI_HTTP_ADDR"),
            (&["--database-url", "mysql://x"], "DATABASE_URL"),
            (&["--admin-token", "short"], "OVASABI_ADMIN_TOKEN"),
            (&["--webhook-url", "ftp://crm"], "OVASABI_WEBHOOK_URL"),
            (&["--max-body-bytes", "0"], "OVASABI_MAX_BODY_BYTES"),
            (&["--redis-url", "http://nope"], "REDIS_URL"),
            (&["--session-secret", "too-short"], "OVASABI_SESSION_SECRET"),
            (
                &["--webhook-max-attempts", "0"],
                "OVASABI_WEBHOOK_MAX_ATTEMPTS",
            ),
            (&["--webhook-backoff-ms", "1"], "OVASABI_WEBHOOK_BACKOFF_MS"),
            (&["--wt-public-url", "http://edge"], "OVASABI_WT_PUBLIC_URL"),
        ];
        for (args, name) in cases {
            let err = cli(args).into_config().expect_err("invalid");
            assert_eq!(err.name, *name, "{args:?}");
        }
    }

    #[test]
    fn printed_config_hides_secrets() {
        let mut config = Config::for_database("postgres://app:hunter2@db:5432/edge");
        config.redis_url = Some("redis://:s3cret@cache:6379".into());
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
        for secret in [
            &config.admin_token,
            &config.session_secret,
            &config.webhook_secret,
        ] {
            assert!(!printed.contains(&secret.value), "{printed}");
        }
    }
}
