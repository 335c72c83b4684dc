//! The configuration's value types — secrets, service URLs, the webhook
//! target policy, the development certificate policy — and the parsers that
//! turn one text into one checked value, with the reason a person reads next
//! to the setting's name when it cannot.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;

use super::ConfigError;

/// How the development certificate is kept fresh.
#[derive(Debug, Clone, Copy)]
pub struct DevCertificatePolicy {
    /// Validity of each certificate (browsers accept at most 14 days).
    pub validity: Duration,
    /// Replace a certificate this long before it expires.
    pub renew_before: Duration,
    /// How often to check.
    pub check_every: Duration,
}

impl Default for DevCertificatePolicy {
    fn default() -> Self {
        Self {
            validity: Duration::from_secs(13 * 24 * 3600),
            renew_before: Duration::from_secs(2 * 24 * 3600),
            check_every: Duration::from_secs(3600),
        }
    }
}

/// Where the WebTransport endpoint's certificate comes from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// Self-signed, rotated by this policy.
    Development(DevCertificatePolicy),
    /// PEM files (certificate chain, private key).
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
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
#[allow(missing_docs)] // fields named for what they hold
pub struct Secret {
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

    /// A secret set by the operator.
    pub fn configured(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            source: SecretSource::Configured,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{:?}>", self.source)
    }
}

/// The URL of a service (database, Redis) as configured; printed with its
/// password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// The URL as configured, password included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ServiceUrl {
    fn from(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }
}

impl From<String> for ServiceUrl {
    fn from(raw: String) -> Self {
        Self::from(raw.as_str())
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

/// An http(s) URL of a service (LibreTranslate, the webhook receiver); printed
/// with its password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl(pub url::Url);

impl std::ops::Deref for HttpUrl {
    type Target = url::Url;

    fn deref(&self) -> &url::Url {
        &self.0
    }
}

impl From<url::Url> for HttpUrl {
    fn from(url: url::Url) -> Self {
        Self(url)
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("{e}: {raw:?}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("must be an http(s) URL, got {raw:?}"));
        }
        Ok(Self(url))
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact(self.0.as_str()))
    }
}

/// Reads a secret from a mounted file (surrounding whitespace ignored).
pub(super) fn secret_from_file(
    path: &std::path::Path,
    name: &str,
    min_len: usize,
) -> Result<Secret, ConfigError> {
    let invalid = |reason: String| ConfigError {
        name: name.to_owned(),
        reason,
    };
    let raw = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let value = raw.trim();
    if value.len() < min_len {
        return Err(invalid(format!(
            "{} must hold at least {min_len} characters",
            path.display()
        )));
    }
    Ok(Secret::configured(value))
}

/// Which webhook receivers may be called: `https` only and public addresses
/// only, unless development allows more.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetPolicy {
    /// Plain `http` allowed.
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses allowed.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Checks what can be checked without DNS: the scheme, and the host when
    /// it is an address.
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(
                    "must be an https URL (plain http needs OVASABI_WEBHOOK_ALLOW_HTTP=true)"
                        .into(),
                );
            }
            other => return Err(format!("must be an https URL, not {other}:")),
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !self.allow_private
                    && (name == "localhost"
                        || name.ends_with(".localhost")
                        || name == "metadata.google.internal")
                {
                    return Err(format!("{name} is not a public host"));
                }
                return Ok(());
            }
            None => return Err("has no host".into()),
        };
        self.check_address(ip)
    }

    /// Whether a receiver at `ip` may be called.
    pub fn check_address(&self, ip: std::net::IpAddr) -> Result<(), String> {
        if self.allow_private || crate::client::is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is not a public address (loopback, private, link-local or reserved)"
            ))
        }
    }
}

/// A random URL-safe token of 32 hex characters.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A URL with its password hidden.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

// Value parsers: each turns one text into a typed, checked value, or says what
// is wrong with it in words a person reads next to the setting's name.

pub(super) fn parser<T: Clone + Send + Sync + 'static>(
    parse: fn(&str) -> Result<T, String>,
) -> impl TypedValueParser<Value = T> {
    clap::builder::StringValueParser::new().try_map(move |raw| parse(raw.trim()))
}

pub(super) fn socket_addr() -> impl TypedValueParser<Value = SocketAddr> {
    parser(|raw| {
        raw.parse()
            .map_err(|_| format!("must be IP:PORT such as 127.0.0.1:8080, got {raw:?}"))
    })
}

pub(super) fn database_url() -> impl TypedValueParser<Value = ServiceUrl> {
    parser(|raw| {
        if raw.starts_with("sqlite:") {
            Ok(ServiceUrl::from(raw))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
            Ok(ServiceUrl::from(raw))
        } else {
            Err("must start with sqlite: or postgres://".to_owned())
        }
    })
}

pub(super) fn redis_url() -> impl TypedValueParser<Value = ServiceUrl> {
    parser(|raw| {
        redis::Client::open(raw).map_err(|e| format!("not a Redis URL: {e}"))?;
        Ok(ServiceUrl::from(raw))
    })
}

pub(super) fn http_url() -> impl TypedValueParser<Value = HttpUrl> {
    parser(str::parse)
}

pub(super) fn https_url() -> impl TypedValueParser<Value = url::Url> {
    parser(|raw| {
        url::Url::parse(raw)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host().is_some())
            .ok_or_else(|| format!("must be an https URL, got {raw:?}"))
    })
}

/// A secret of at least `min_len` characters; empty means "generate one".
pub(super) fn secret(min_len: usize) -> impl TypedValueParser<Value = Secret> {
    clap::builder::StringValueParser::new().try_map(move |raw| {
        let value = raw.trim();
        if value.is_empty() {
            Ok(Secret::generated())
        } else if value.len() < min_len {
            Err(format!("must be at least {min_len} characters"))
        } else {
            Ok(Secret::configured(value))
        }
    })
}

pub(super) fn cidr() -> impl TypedValueParser<Value = ipnet::IpNet> {
    parser(|raw| {
        raw.parse::<ipnet::IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(|net| net.trunc())
            .map_err(|_| {
                format!("must be addresses or CIDR ranges such as 10.0.0.0/8, got {raw:?}")
            })
    })
}

/// A web origin, `scheme://host[:port]`, as browsers send it in `Origin`.
pub(super) fn web_origin() -> impl TypedValueParser<Value = String> {
    parser(|raw| {
        crate::origin::normalize(raw).ok_or_else(|| {
            format!("must be an origin such as https://www.example.com (no path), got {raw:?}")
        })
    })
}

pub(super) fn whole_number(min: u64, max: u64) -> impl TypedValueParser<Value = u64> {
    clap::builder::StringValueParser::new().try_map(move |raw| {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| format!("must be a whole number between {min} and {max}, got {raw:?}"))
    })
}

pub(super) fn count(min: u64, max: u64) -> impl TypedValueParser<Value = usize> {
    whole_number(min, max).map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

pub(super) fn millis(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    whole_number(min, max).map(Duration::from_millis)
}

pub(super) fn seconds(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    whole_number(min, max).map(Duration::from_secs)
}

pub(super) fn days(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    whole_number(min, max).map(|d| Duration::from_secs(d * 24 * 3600))
}

pub(super) fn hours(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    whole_number(min, max).map(|h| Duration::from_secs(h * 3600))
}
