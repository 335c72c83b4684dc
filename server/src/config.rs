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
    /// LibreTranslate base URL; unset serves translation memory only.
    #[arg(long, env = "LIBRETRANSLATE_URL")]
    pub libretranslate_url: Option<String>,
    /// Webhook receiver of outbox events (the CRM).
    #[arg(long, env = "OVASABI_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
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

/// Where the admin token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// Set by the operator.
    Configured,
    /// Generated at start because none was set.
    Generated,
}

/// The validated configuration the app runs with.
#[derive(Clone)]
pub struct Config {
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// WebTransport listen address.
    pub wt_addr: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Most pooled database connections.
    pub db_max_connections: u32,
    /// Redis URL, if scaling out.
    pub redis_url: Option<String>,
    /// Admin bearer token.
    pub admin_token: String,
    /// Where the admin token came from.
    pub admin_token_source: AdminTokenSource,
    /// LibreTranslate base URL.
    pub libretranslate_url: Option<url::Url>,
    /// Global webhook receiver.
    pub webhook_url: Option<url::Url>,
    /// Campaign files folder applied at start (`None`: apply nothing).
    pub campaigns_dir: Option<PathBuf>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Grace period at shutdown.
    pub shutdown_timeout: Duration,
}

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

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
        if !(1..=1000).contains(&self.db_max_connections) {
            return Err(config_error(
                "OVASABI_DB_MAX_CONNECTIONS",
                "must be between 1 and 1000",
            ));
        }
        let redis_url = non_empty(self.redis_url);
        if let Some(url) = &redis_url {
            redis::Client::open(url.as_str())
                .map_err(|e| config_error("REDIS_URL", format!("not a Redis URL: {e}")))?;
        }
        let (admin_token, admin_token_source) = match non_empty(self.admin_token) {
            Some(token) if token.len() < MIN_ADMIN_TOKEN_LEN => {
                return Err(config_error(
                    "OVASABI_ADMIN_TOKEN",
                    format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters"),
                ));
            }
            Some(token) => (token, AdminTokenSource::Configured),
            None => (random_token(), AdminTokenSource::Generated),
        };
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(config_error(
                "OVASABI_MAX_BODY_BYTES",
                "must be between 1024 and 16777216",
            ));
        }
        if !(1..=300).contains(&self.shutdown_timeout_secs) {
            return Err(config_error(
                "OVASABI_SHUTDOWN_TIMEOUT_SECS",
                "must be between 1 and 300",
            ));
        }
        Ok(Config {
            http_addr: parse_addr("OVASABI_HTTP_ADDR", &self.http_addr)?,
            wt_addr: parse_addr("OVASABI_WT_ADDR", &self.wt_addr)?,
            database_url,
            db_max_connections: self.db_max_connections,
            redis_url,
            admin_token,
            admin_token_source,
            libretranslate_url: parse_http_url("LIBRETRANSLATE_URL", self.libretranslate_url)?,
            webhook_url: parse_http_url("OVASABI_WEBHOOK_URL", self.webhook_url)?,
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
            database_url: database_url.into(),
            db_max_connections: 8,
            redis_url: None,
            admin_token: random_token(),
            admin_token_source: AdminTokenSource::Configured,
            libretranslate_url: None,
            webhook_url: None,
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
            .field("database_url", &redact(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("redis_url", &self.redis_url.as_deref().map(redact))
            .field(
                "admin_token",
                &format_args!("<{:?}>", self.admin_token_source),
            )
            .field(
                "libretranslate_url",
                &self.libretranslate_url.as_ref().map(|u| redact(u.as_str())),
            )
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|u| redact(u.as_str())),
            )
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
        assert_eq!(config.admin_token_source, AdminTokenSource::Generated);
        assert_eq!(config.admin_token.len(), 32);
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
        assert!(!printed.contains(&config.admin_token), "{printed}");
    }
}
