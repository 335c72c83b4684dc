//! Server configuration: read once at start from flags and environment
//! (`OVASABI_…`, plus `DATABASE_URL`, `REDIS_URL` and `LIBRETRANSLATE_URL` as their
//! ecosystems name them), validated into a [`Config`], and printed without secrets.
//!
//! Every setting is written once, as a field of [`Config`]: its flag, variable,
//! default, type and range sit in its attributes, and each field's type prints
//! itself safely (secrets and URL passwords hidden), so `{config:?}` is the
//! start-up line. Tests build their configuration through the same parser
//! ([`Config::for_database`]), with the same defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches};

mod bots;
mod cli;
mod mail;
mod values;

pub(crate) use bots::BotConfig;
pub use cli::{CampaignsAction, Cli, Command, ReadError};
pub(crate) use mail::MailConfig;

pub(crate) use values::{CertificateSource, HttpUrl, ServiceUrl, TargetPolicy};
pub use values::{DevCertificatePolicy, Secret, SecretSource};
use values::{
    cidr, count, database_url, days, hours, http_url, https_url, millis, redis_url, seconds,
    secret, secret_from_file, socket_addr, web_origin,
};

/// Where the embedded database lives when `DATABASE_URL` is not set.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://data/ovasabi.db";
/// Shortest admin token accepted.
pub(crate) const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// Shortest session secret accepted.
pub(crate) const MIN_SESSION_SECRET_LEN: usize = 32;
/// Shortest webhook signing secret accepted.
pub(crate) const MIN_WEBHOOK_SECRET_LEN: usize = 16;

/// The validated configuration the app runs with: one field per setting.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP listen address (REST and SSE).
    #[arg(long, env = "OVASABI_HTTP_ADDR", default_value = "127.0.0.1:8080", value_parser = socket_addr())]
    pub http_addr: SocketAddr,
    /// Serve `GET /metrics` on this address only (an admin port, not public);
    /// unset: on the HTTP address.
    #[arg(long, env = "OVASABI_METRICS_ADDR", value_parser = socket_addr())]
    pub metrics_addr: Option<SocketAddr>,
    /// The back-office gRPC API's listen address (`proto/ovasabi/edge/v1`);
    /// unset: no gRPC listener.
    #[arg(long, env = "OVASABI_GRPC_ADDR", value_parser = socket_addr())]
    pub grpc_addr: Option<SocketAddr>,
    /// PEM certificate chain of the gRPC listener: TLS on it (unset: plain
    /// HTTP/2, for a private network or behind a TLS-terminating proxy).
    #[arg(long, env = "OVASABI_GRPC_CERT", requires = "grpc_key")]
    pub grpc_cert: Option<PathBuf>,
    /// PEM private key of the gRPC listener.
    #[arg(long, env = "OVASABI_GRPC_KEY", requires = "grpc_cert")]
    pub grpc_key: Option<PathBuf>,
    /// A token back-office services present on the gRPC API instead of the
    /// admin token (16+ characters); unset: the admin token only.
    #[arg(long, env = "OVASABI_SERVICE_TOKEN", hide_env_values = true, value_parser = secret(MIN_ADMIN_TOKEN_LEN))]
    pub service_token: Option<Secret>,
    /// WebTransport (QUIC, UDP) listen address.
    #[arg(long, env = "OVASABI_WT_ADDR", default_value = "127.0.0.1:4433", value_parser = socket_addr())]
    pub wt_addr: SocketAddr,
    /// PEM certificate chain for WebTransport (production); unset = self-signed development certificate.
    #[arg(long, env = "OVASABI_WT_CERT", requires = "wt_key")]
    pub wt_cert: Option<PathBuf>,
    /// PEM private key for WebTransport (production).
    #[arg(long, env = "OVASABI_WT_KEY", requires = "wt_cert")]
    pub wt_key: Option<PathBuf>,
    /// How the development certificate (no `wt_cert`) is kept fresh.
    #[arg(skip)]
    pub wt_dev_certificate: DevCertificatePolicy,
    /// URL browsers use for WebTransport, e.g. `https://edge.example.com:4433/wt`
    /// (default: built from OVASABI_WT_ADDR and the request's host).
    #[arg(long, env = "OVASABI_WT_PUBLIC_URL", value_parser = https_url())]
    pub wt_public_url: Option<url::Url>,
    /// `sqlite:PATH` (default, embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, value_parser = database_url())]
    pub database_url: ServiceUrl,
    /// How log lines are written: `text` (for people) or `json` (one object
    /// a line, for log pipelines).
    #[arg(long, env = "OVASABI_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,
    /// Apply the migrations the database lacks when starting (`false`: refuse
    /// to start against a database that lacks one, and alter nothing; run
    /// `ovasabi-edge migrate` first, e.g. as a pre-deploy job).
    #[arg(long, env = "OVASABI_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,
    /// Most pooled database connections.
    #[arg(long, env = "OVASABI_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// Redis for the cross-instance relay; unset means a single, in-process instance.
    #[arg(long, env = "REDIS_URL", value_parser = redis_url())]
    pub redis_url: Option<ServiceUrl>,
    /// Prefix of every Redis key this deployment uses.
    #[arg(long, env = "OVASABI_REDIS_PREFIX", default_value = "ovasabi", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub redis_prefix: String,
    /// Events kept for clients resuming a stream (Redis: the stream's MAXLEN).
    #[arg(long, env = "OVASABI_EVENT_HISTORY", default_value_t = 10_000, value_parser = count(100, 10_000_000))]
    pub event_history: usize,
    /// Events buffered per campaign for slow stream readers before they are reset.
    #[arg(long, env = "OVASABI_SSE_BUFFER", default_value_t = 1024, value_parser = count(16, 1_000_000))]
    pub sse_buffer: usize,
    /// Seconds between heartbeat comments on an idle event stream.
    #[arg(long = "sse-heartbeat-secs", env = "OVASABI_SSE_HEARTBEAT_SECS", default_value = "15", value_parser = seconds(1, 3600))]
    pub sse_heartbeat: Duration,
    /// Reconnect delay suggested to event stream clients, in milliseconds.
    #[arg(long = "sse-retry-ms", env = "OVASABI_SSE_RETRY_MS", default_value = "3000", value_parser = millis(100, 600_000))]
    pub sse_retry: Duration,
    /// Milliseconds a visitor keeps counting without a refresh (crashed instances).
    #[arg(long = "presence-ttl-ms", env = "OVASABI_PRESENCE_TTL_MS", default_value = "5000", value_parser = millis(500, 600_000))]
    pub presence_ttl: Duration,
    /// Bearer token of the admin endpoints (16+ characters); unset generates one at start (development).
    #[arg(long, env = "OVASABI_ADMIN_TOKEN", hide_env_values = true, default_value = "", hide_default_value = true, value_parser = secret(MIN_ADMIN_TOKEN_LEN))]
    pub admin_token: Secret,
    /// File holding the admin token (a mounted secret); instead of OVASABI_ADMIN_TOKEN.
    #[arg(long, env = "OVASABI_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,
    /// Secret signing session tokens (32+ characters); unset generates one at start.
    #[arg(long, env = "OVASABI_SESSION_SECRET", hide_env_values = true, default_value = "", hide_default_value = true, value_parser = secret(MIN_SESSION_SECRET_LEN))]
    pub session_secret: Secret,
    /// File holding the session secret (a mounted secret); instead of OVASABI_SESSION_SECRET.
    #[arg(
        long,
        env = "OVASABI_SESSION_SECRET_FILE",
        conflicts_with = "session_secret"
    )]
    pub session_secret_file: Option<PathBuf>,
    /// The previous session secret, during a rotation: tokens it signed stay
    /// valid (until they expire); new ones are signed with the current secret.
    #[arg(long, env = "OVASABI_SESSION_SECRET_PREVIOUS", hide_env_values = true, value_parser = secret(MIN_SESSION_SECRET_LEN))]
    pub session_secret_previous: Option<Secret>,
    /// File holding the previous session secret.
    #[arg(
        long,
        env = "OVASABI_SESSION_SECRET_PREVIOUS_FILE",
        conflicts_with = "session_secret_previous"
    )]
    pub session_secret_previous_file: Option<PathBuf>,
    /// Hours a registered user's session token stays valid.
    #[arg(long = "session-ttl-hours", env = "OVASABI_SESSION_TTL_HOURS", default_value = "720", value_parser = hours(1, 24 * 365))]
    pub session_ttl: Duration,
    /// Hours an anonymous visitor's session token stays valid.
    #[arg(long = "visitor-ttl-hours", env = "OVASABI_VISITOR_TTL_HOURS", default_value = "12", value_parser = hours(1, 24 * 7))]
    pub visitor_ttl: Duration,
    /// Proxies (CIDR list, comma-separated) whose forwarding header names the
    /// client; empty trusts nobody and every client is the peer that connected.
    #[arg(long, env = "OVASABI_TRUSTED_PROXIES", value_delimiter = ',', value_parser = cidr())]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header trusted proxies name the client in: `x-forwarded-for`
    /// (nginx's `proxy_add_x_forwarded_for`) or `forwarded` (RFC 7239). Only
    /// the one the proxy writes: the other passes through from the client.
    #[arg(
        long,
        env = "OVASABI_FORWARDED_HEADER",
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: crate::client::ForwardedHeader,
    /// Whether WebTransport's UDP reaches this server straight from browsers
    /// (no balancer rewriting source addresses): then the cursor channel's
    /// caps count the UDP source address, else the address the connect
    /// ticket recorded over HTTP.
    #[arg(long, env = "OVASABI_WT_UDP_DIRECT", default_value_t = false, action = clap::ArgAction::Set)]
    pub wt_udp_direct: bool,
    /// Origins (comma-separated, e.g. `https://www.example.com`) allowed to
    /// call the API from a browser, besides each campaign's `config.origins`
    /// and the server's own origin.
    #[arg(long, env = "OVASABI_CORS_ORIGINS", value_delimiter = ',', value_parser = web_origin())]
    pub cors_origins: Vec<String>,
    /// CSP `frame-ancestors` of the demo page: who may frame it (`'none'`, or origins).
    #[arg(long, env = "OVASABI_FRAME_ANCESTORS", default_value = "'none'")]
    pub frame_ancestors: String,
    /// Serve the demo page at `/` (turn off in production).
    #[arg(long, env = "OVASABI_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
    /// Serve the campaign team's dashboard at `/admin` (it holds no secret:
    /// every figure it shows needs a team key).
    #[arg(long, env = "OVASABI_ADMIN_UI", default_value_t = true, action = clap::ArgAction::Set)]
    pub admin_ui: bool,
    /// LibreTranslate base URL; unset serves translation memory only.
    #[arg(long, env = "LIBRETRANSLATE_URL", value_parser = http_url())]
    pub libretranslate_url: Option<HttpUrl>,
    /// LibreTranslate API key, if the instance wants one.
    #[arg(long, env = "LIBRETRANSLATE_API_KEY", hide_env_values = true, value_parser = secret(1))]
    pub libretranslate_api_key: Option<Secret>,
    /// Timeout of one LibreTranslate call, in milliseconds.
    #[arg(long = "translate-timeout-ms", env = "OVASABI_TRANSLATE_TIMEOUT_MS", default_value = "5000", value_parser = millis(100, 120_000))]
    pub translate_timeout: Duration,
    /// Consecutive LibreTranslate failures that open the circuit breaker.
    #[arg(long, env = "OVASABI_TRANSLATE_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub translate_breaker_threshold: u32,
    /// Milliseconds LibreTranslate is not called after repeated failures.
    #[arg(long = "translate-breaker-open-ms", env = "OVASABI_TRANSLATE_BREAKER_OPEN_MS", default_value = "30000", value_parser = millis(100, 3_600_000))]
    pub translate_breaker_open: Duration,
    /// Webhook receiver of outbox events (the CRM).
    #[arg(long, env = "OVASABI_WEBHOOK_URL", value_parser = http_url())]
    pub webhook_url: Option<HttpUrl>,
    /// Deliver webhooks over plain `http` too (development only; default `https` only).
    #[arg(long, env = "OVASABI_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Deliver webhooks to loopback and private addresses too (development only).
    #[arg(long, env = "OVASABI_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Secret of the webhook signature header (16+ characters); unset generates one.
    #[arg(long, env = "OVASABI_WEBHOOK_SECRET", hide_env_values = true, default_value = "", hide_default_value = true, value_parser = secret(MIN_WEBHOOK_SECRET_LEN))]
    pub webhook_secret: Secret,
    /// File holding the webhook signing secret; instead of OVASABI_WEBHOOK_SECRET.
    #[arg(
        long,
        env = "OVASABI_WEBHOOK_SECRET_FILE",
        conflicts_with = "webhook_secret"
    )]
    pub webhook_secret_file: Option<PathBuf>,
    /// Delivery attempts before an outbox entry is dead.
    #[arg(long, env = "OVASABI_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,
    /// First retry delay in milliseconds (doubles per attempt, capped at an hour).
    #[arg(long = "webhook-backoff-ms", env = "OVASABI_WEBHOOK_BACKOFF_MS", default_value = "2000", value_parser = millis(10, 3_600_000))]
    pub webhook_backoff: Duration,
    /// Timeout of one webhook delivery in milliseconds.
    #[arg(long = "webhook-timeout-ms", env = "OVASABI_WEBHOOK_TIMEOUT_MS", default_value = "10000", value_parser = millis(100, 120_000))]
    pub webhook_timeout: Duration,
    /// Run the outbox delivery worker on this instance.
    #[arg(long, env = "OVASABI_OUTBOX_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub outbox_worker: bool,
    /// Days outbox entries are kept once nothing more is owed on them
    /// (delivered; or waiting for a default receiver that is not configured).
    /// Dead entries stay until handled.
    #[arg(long = "outbox-retention-days", env = "OVASABI_OUTBOX_RETENTION_DAYS", default_value = "7", value_parser = days(1, 3650))]
    pub outbox_retention: Duration,
    /// `Leads.Follow` streams one key (or token) may hold open at once, on
    /// each instance; one more is RESOURCE_EXHAUSTED.
    #[arg(long = "follows-per-key", env = "OVASABI_FOLLOWS_PER_KEY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub follows_per_key: u32,
    /// Days a named feed consumer may go unread (no follow, no
    /// acknowledgement) before it stops holding the feed's retention back;
    /// once retention passes its position, its next read is OUT_OF_RANGE.
    #[arg(long = "feed-consumer-idle-days", env = "OVASABI_FEED_CONSUMER_IDLE_DAYS", default_value = "30", value_parser = days(1, 3650))]
    pub feed_consumer_idle: Duration,
    /// Seconds between two samples of each campaign's visitors (the visitors
    /// line of its hourly series).
    #[arg(long = "visitor-sample-secs", env = "OVASABI_VISITOR_SAMPLE_SECS", default_value = "60", value_parser = seconds(1, 3600))]
    pub visitor_sample_every: Duration,
    /// Days visitor samples are kept (the hourly series shows the last 90 at
    /// most).
    #[arg(long = "visitor-sample-retention-days", env = "OVASABI_VISITOR_SAMPLE_RETENTION_DAYS", default_value = "90", value_parser = days(1, 3650))]
    pub visitor_sample_retention: Duration,
    /// Days an anonymous visitor session (its first touch: source, landing
    /// page, referrer) is kept when no join and no lead came from it.
    #[arg(long = "visitor-session-retention-days", env = "OVASABI_VISITOR_SESSION_RETENTION_DAYS", default_value = "90", value_parser = days(1, 3650))]
    pub visitor_session_retention: Duration,
    /// Machine translations kept in the translation memory; beyond, the least
    /// recently served are evicted (overrides are never evicted).
    #[arg(long, env = "OVASABI_TRANSLATION_MEMORY_MAX", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..=100_000_000))]
    pub translation_memory_max: u64,
    /// Folder of `NNN_name.toml` campaign files applied at start.
    #[arg(long, env = "OVASABI_CAMPAIGNS_DIR", default_value = "campaigns")]
    pub campaigns_dir: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "OVASABI_MAX_BODY_BYTES", default_value_t = 64 * 1024, value_parser = count(1024, 16 * 1024 * 1024))]
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive (a trickling client gets 408).
    #[arg(long = "body-timeout-secs", env = "OVASABI_BODY_TIMEOUT_SECS", default_value = "30", value_parser = seconds(1, 600))]
    pub body_timeout: Duration,
    /// Seconds an HTTP connection may go without reading or writing a byte
    /// (an idle keep-alive, a client that stopped reading) before it is
    /// closed. Longer than the event-stream heartbeat, which keeps streams busy.
    #[arg(long = "idle-timeout-secs", env = "OVASABI_IDLE_TIMEOUT_SECS", default_value = "120", value_parser = seconds(5, 3600))]
    pub idle_timeout: Duration,
    /// Seconds a WebTransport client may take from its first packet to its
    /// session request (QUIC handshake and CONNECT); a silent one is dropped.
    #[arg(long = "handshake-timeout-secs", env = "OVASABI_HANDSHAKE_TIMEOUT_SECS", default_value = "10", value_parser = seconds(1, 120))]
    pub handshake_timeout: Duration,
    /// Connections (HTTP and QUIC, each counted) one address may hold open.
    /// Counted before any header is read, so a trusted proxy is exempt: behind
    /// it, the per-visitor limits apply once the forwarded address is known.
    #[arg(long, env = "OVASABI_CONNECTIONS_PER_IP", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections_per_ip: u32,
    /// Connections (HTTP and QUIC) the instance holds open at most; 0 derives
    /// it from the open-file limit (raised to its hard limit at start).
    #[arg(long, env = "OVASABI_MAX_CONNECTIONS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub max_connections: u32,
    /// Seconds between a shutdown signal and the end of serving, while
    /// `/readyz` already answers 503: time for a balancer to stop sending.
    #[arg(long = "shutdown-drain-secs", env = "OVASABI_SHUTDOWN_DRAIN_SECS", default_value = "0", value_parser = seconds(0, 300))]
    pub shutdown_drain: Duration,
    /// Seconds open connections get to finish at shutdown.
    #[arg(long = "shutdown-timeout-secs", env = "OVASABI_SHUTDOWN_TIMEOUT_SECS", default_value = "10", value_parser = seconds(1, 300))]
    pub shutdown_timeout: Duration,
    /// Mail: SMTP, sender, rate and the links' base.
    #[command(flatten)]
    pub mail: MailConfig,
    /// Bot defence: the CAPTCHA providers, spam retention.
    #[command(flatten)]
    pub bots: BotConfig,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The setting, as the environment names it.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Parses `args` (flags only, without the program name) with the defaults
    /// of production, ignoring the environment: how tests and embedders build
    /// a configuration.
    pub fn from_flags<I, S>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let mut named = Self::augment_args(clap::Command::new("ovasabi-edge"));
        named.build();
        let without_env = named.clone().mut_args(|arg| arg.env(None::<&str>));
        let all = std::iter::once(std::ffi::OsString::from("ovasabi-edge"))
            .chain(args.into_iter().map(Into::into));
        without_env
            .try_get_matches_from(all)
            .and_then(|matches| Self::from_arg_matches(&matches))
            .map_err(|e| match ReadError::from_clap(&named, e) {
                ReadError::Invalid(invalid) => invalid,
                ReadError::Clap(other) => ConfigError {
                    name: "arguments".to_owned(),
                    reason: other.to_string(),
                },
            })?
            .finish()
    }

    /// What parsing alone cannot do: reads the secrets given as files
    /// (`*_FILE`) and checks the webhook receiver against the target policy.
    fn finish(mut self) -> Result<Self, ConfigError> {
        let files = [
            (
                self.admin_token_file.take(),
                "OVASABI_ADMIN_TOKEN_FILE",
                MIN_ADMIN_TOKEN_LEN,
                &mut self.admin_token,
            ),
            (
                self.session_secret_file.take(),
                "OVASABI_SESSION_SECRET_FILE",
                MIN_SESSION_SECRET_LEN,
                &mut self.session_secret,
            ),
            (
                self.webhook_secret_file.take(),
                "OVASABI_WEBHOOK_SECRET_FILE",
                MIN_WEBHOOK_SECRET_LEN,
                &mut self.webhook_secret,
            ),
        ];
        for (file, name, min_len, secret) in files {
            if let Some(path) = file {
                *secret = secret_from_file(&path, name, min_len)?;
            }
        }
        if let Some(path) = self.session_secret_previous_file.take() {
            self.session_secret_previous = Some(secret_from_file(
                &path,
                "OVASABI_SESSION_SECRET_PREVIOUS_FILE",
                MIN_SESSION_SECRET_LEN,
            )?);
        }
        self.mail.finish()?;
        self.bots.finish()?;
        if self.idle_timeout <= self.sse_heartbeat {
            return Err(ConfigError {
                name: "OVASABI_IDLE_TIMEOUT_SECS".into(),
                reason: format!(
                    "must be longer than OVASABI_SSE_HEARTBEAT_SECS ({} s), or idle event streams are cut",
                    self.sse_heartbeat.as_secs()
                ),
            });
        }
        if let Some(url) = &self.webhook_url {
            self.webhook_policy()
                .check_url(url)
                .map_err(|reason| ConfigError {
                    name: "OVASABI_WEBHOOK_URL".into(),
                    reason,
                })?;
        }
        Ok(self)
    }

    /// Which peers may name the client in a forwarding header.
    pub fn proxy_trust(&self) -> crate::client::ProxyTrust<'_> {
        crate::client::ProxyTrust {
            proxies: &self.trusted_proxies,
            header: self.forwarded_header,
        }
    }

    /// Which webhook receivers may be called.
    pub fn webhook_policy(&self) -> TargetPolicy {
        TargetPolicy {
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
        }
    }

    /// Whether this configuration can run beside other instances: several
    /// instances (Redis set, or a shared PostgreSQL) must share their secrets,
    /// so a secret generated at start is refused. `Err` says which, in one line.
    pub fn check_deployable(&self) -> Result<(), String> {
        let shared = if self.redis_url.is_some() {
            "REDIS_URL is set"
        } else if !self.database_url.as_str().starts_with("sqlite:") {
            "the database is PostgreSQL"
        } else {
            return Ok(());
        };
        let generated: Vec<&str> = [
            (&self.session_secret, "OVASABI_SESSION_SECRET"),
            (&self.admin_token, "OVASABI_ADMIN_TOKEN"),
            (&self.webhook_secret, "OVASABI_WEBHOOK_SECRET"),
        ]
        .into_iter()
        .filter(|(secret, _)| secret.source == SecretSource::Generated)
        .map(|(_, name)| name)
        .collect();
        if generated.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} not set (nor *_FILE): {shared}, so this may be one of several instances, \
                 and secrets generated at start would differ between them",
                generated.join(", ")
            ))
        }
    }

    /// The production defaults on `database_url`, listening on loopback port 0,
    /// with no campaign files: what tests and embedders start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let url = database_url.into();
        let mut config = Self::from_flags([
            "--database-url",
            &url,
            "--http-addr",
            "127.0.0.1:0",
            "--wt-addr",
            "127.0.0.1:0",
        ])
        .unwrap_or_else(|e| panic!("invalid test configuration: {e}"));
        config.campaigns_dir = None;
        config
    }

    /// Where the WebTransport certificate comes from.
    pub fn wt_certificate(&self) -> CertificateSource {
        match (&self.wt_cert, &self.wt_key) {
            (Some(cert), Some(key)) => CertificateSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => CertificateSource::Development(self.wt_dev_certificate),
        }
    }
}

#[cfg(test)]
mod tests;
