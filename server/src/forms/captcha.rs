//! CAPTCHA tokens verified with their provider (Cloudflare Turnstile or
//! hCaptcha) through its documented siteverify protocol: a form-encoded
//! POST of `secret`, `response` and `remoteip` (and, for Turnstile, an
//! `idempotency_key`, so that a retried call is not taken for a reused
//! token), answered with `{"success": …, "error-codes": […]}`.

use std::net::IpAddr;

use serde::Deserialize;

use crate::config::{BotConfig, HttpUrl, Secret};
use crate::model::campaign::bots::CaptchaProvider;
use crate::telemetry::Counters;

/// What a provider said of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaptchaCheck {
    /// Solved, and not seen before.
    Valid,
    /// Not a token the provider issued (or solved for another site).
    Invalid,
    /// A token that was already verified once, or expired.
    Reused,
    /// The provider could not say (down, slow, or the server's secret is
    /// missing or refused): why, for the log.
    Unavailable(String),
}

impl CaptchaCheck {
    fn label(&self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Reused => "reused",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// A provider's answer.
#[derive(Debug, Deserialize)]
struct SiteVerify {
    success: bool,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
}

impl SiteVerify {
    /// The check this answer means.
    fn check(&self) -> CaptchaCheck {
        if self.success {
            return CaptchaCheck::Valid;
        }
        let has = |codes: &[&str]| self.error_codes.iter().any(|c| codes.contains(&c.as_str()));
        if has(&["timeout-or-duplicate", "invalid-or-already-seen-response"]) {
            CaptchaCheck::Reused
        } else if has(&[
            "missing-input-secret",
            "invalid-input-secret",
            "sitekey-secret-mismatch",
            "bad-request",
            "internal-error",
            "not-using-dummy-passcode",
        ]) {
            // The server's side of the exchange failed: not the visitor's.
            CaptchaCheck::Unavailable(format!("provider said {:?}", self.error_codes))
        } else {
            CaptchaCheck::Invalid
        }
    }
}

/// One provider: its secret (none when the server has none) and endpoint.
struct Provider {
    secret: Option<Secret>,
    url: HttpUrl,
}

/// Verifies CAPTCHA tokens with their providers, counted in metrics.
pub(crate) struct Captcha {
    http: reqwest::Client,
    turnstile: Provider,
    hcaptcha: Provider,
}

impl Captcha {
    /// A verifier with the secrets and endpoints of `config`.
    pub(crate) fn new(config: &BotConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.captcha_timeout)
            .connect_timeout(config.captcha_timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            turnstile: Provider {
                secret: config.turnstile_secret.clone(),
                url: config.turnstile_verify_url.clone(),
            },
            hcaptcha: Provider {
                secret: config.hcaptcha_secret.clone(),
                url: config.hcaptcha_verify_url.clone(),
            },
        }
    }

    fn provider(&self, provider: CaptchaProvider) -> &Provider {
        match provider {
            CaptchaProvider::Turnstile => &self.turnstile,
            CaptchaProvider::Hcaptcha => &self.hcaptcha,
        }
    }

    /// Verifies `token`, solved by the visitor at `remote_ip`, with
    /// `provider`; counted in `counters` by result.
    pub(crate) async fn check(
        &self,
        provider: CaptchaProvider,
        token: &str,
        remote_ip: Option<IpAddr>,
        counters: &Counters,
    ) -> CaptchaCheck {
        let check = self.ask(provider, token, remote_ip).await;
        counters
            .captcha_checks
            .with_label_values(&[provider.as_str(), check.label()])
            .inc();
        if let CaptchaCheck::Unavailable(why) = &check {
            tracing::warn!(provider = provider.as_str(), why = %why, "CAPTCHA provider unavailable");
        }
        check
    }

    async fn ask(
        &self,
        provider: CaptchaProvider,
        token: &str,
        remote_ip: Option<IpAddr>,
    ) -> CaptchaCheck {
        let Provider { secret, url } = self.provider(provider);
        let Some(secret) = secret else {
            return CaptchaCheck::Unavailable(format!(
                "the server has no {} secret (OVASABI_{}_SECRET)",
                provider.as_str(),
                provider.as_str().to_ascii_uppercase()
            ));
        };
        // Turnstile answers a retry carrying the first call's key as it
        // answered the first, instead of calling the token a duplicate; a
        // call that failed on the way is tried once more with it.
        let (idempotency_key, attempts) = match provider {
            CaptchaProvider::Turnstile => (Some(uuid::Uuid::now_v7().to_string()), 2),
            CaptchaProvider::Hcaptcha => (None, 1),
        };
        let body = siteverify_body(&secret.value, token, remote_ip, idempotency_key.as_deref());
        let mut last = CaptchaCheck::Unavailable("not asked".into());
        for _ in 0..attempts {
            last = self.post(url, body.clone()).await;
            if !matches!(last, CaptchaCheck::Unavailable(_)) {
                break;
            }
        }
        last
    }

    async fn post(&self, url: &HttpUrl, body: String) -> CaptchaCheck {
        let sent = self
            .http
            .post(url.as_str())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return CaptchaCheck::Unavailable(format!("request failed: {e}")),
        };
        let status = answer.status();
        if status.is_server_error() {
            return CaptchaCheck::Unavailable(format!("answered {status}"));
        }
        match answer.json::<SiteVerify>().await {
            Ok(verdict) => verdict.check(),
            Err(e) => CaptchaCheck::Unavailable(format!("answered {status}, unreadable: {e}")),
        }
    }
}

/// The form-encoded body of a siteverify call.
fn siteverify_body(
    secret: &str,
    token: &str,
    remote_ip: Option<IpAddr>,
    idempotency_key: Option<&str>,
) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("secret", secret)
        .append_pair("response", token);
    if let Some(ip) = remote_ip {
        form.append_pair("remoteip", &ip.to_string());
    }
    if let Some(key) = idempotency_key {
        form.append_pair("idempotency_key", key);
    }
    form.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(success: bool, codes: &[&str]) -> CaptchaCheck {
        SiteVerify {
            success,
            error_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        }
        .check()
    }

    #[test]
    fn answers_are_read_as_each_provider_documents_them() {
        assert_eq!(verdict(true, &[]), CaptchaCheck::Valid);
        assert_eq!(verdict(false, &[]), CaptchaCheck::Invalid);
        assert_eq!(
            verdict(false, &["invalid-input-response"]),
            CaptchaCheck::Invalid
        );
        // Turnstile, then hCaptcha, on a token seen before.
        assert_eq!(
            verdict(false, &["timeout-or-duplicate"]),
            CaptchaCheck::Reused
        );
        assert_eq!(
            verdict(false, &["invalid-or-already-seen-response"]),
            CaptchaCheck::Reused
        );
        for ours in ["invalid-input-secret", "internal-error", "bad-request"] {
            assert!(
                matches!(verdict(false, &[ours]), CaptchaCheck::Unavailable(_)),
                "{ours}"
            );
        }
    }
}
