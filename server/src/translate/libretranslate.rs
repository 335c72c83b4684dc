//! A client of LibreTranslate's HTTP API (`POST /translate`, `GET /languages`),
//! with a timeout per call, bounded concurrency, one retry for failures that
//! may pass (timeouts, connection errors, 5xx), and a circuit breaker so that
//! a LibreTranslate that is down costs milliseconds, not seconds, per request.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// The breaker is open: LibreTranslate failed recently and is not called.
    #[error("machine translation is unavailable (circuit open)")]
    CircuitOpen,
    /// LibreTranslate refused the request (4xx) with its message.
    #[error("LibreTranslate refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its `error` message.
        message: String,
    },
    /// No answer, a 5xx, or an answer that is not LibreTranslate's.
    #[error("LibreTranslate failed: {0}")]
    Failed(String),
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct LibreTranslateSettings {
    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub url: url::Url,
    /// Optional API key.
    pub api_key: Option<String>,
    /// Timeout of one call.
    pub timeout: Duration,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before one trial call.
    pub open_for: Duration,
}

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// A call the breaker let through. Its outcome is recorded with
/// [`Admitted::record`]; a call dropped before that (cancelled: the visitor
/// left, a deadline passed) says nothing about LibreTranslate, but if it was
/// the half-open trial the breaker must not wait for it forever: it goes back
/// to open-and-due, so that the next call is the trial.
struct Admitted<'a> {
    client: &'a LibreTranslate,
    trial: bool,
    recorded: bool,
}

impl Admitted<'_> {
    fn record(mut self, ok: bool) {
        self.recorded = true;
        self.client.record(ok);
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.trial && !self.recorded {
            let mut breaker = self.client.breaker.lock();
            if matches!(*breaker, Breaker::HalfOpen) {
                *breaker = Breaker::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

/// What one translation call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineTranslation {
    /// Translations, in the order of the texts.
    pub texts: Vec<String>,
    /// Language LibreTranslate detected (with `source: auto`).
    pub detected: Option<String>,
}

/// The LibreTranslate client.
pub struct LibreTranslate {
    http: reqwest::Client,
    settings: LibreTranslateSettings,
    permits: Semaphore,
    breaker: Mutex<Breaker>,
    /// Target codes per source code, as `/languages` last said.
    languages: Mutex<HashMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct Language {
    code: String,
    #[serde(default)]
    targets: Vec<String>,
}

impl LibreTranslate {
    /// A client for `settings`.
    pub fn new(settings: LibreTranslateSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .build()?;
        Ok(Self {
            http,
            permits: Semaphore::new(settings.concurrency.max(1)),
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
            languages: Mutex::new(HashMap::new()),
            settings,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.settings.url.as_str().trim_end_matches('/'))
    }

    /// Whether the breaker lets a call through now (a half-open breaker lets
    /// one: the trial). The call's outcome goes through the returned guard.
    fn admit(&self) -> Result<Admitted<'_>, MachineError> {
        let mut breaker = self.breaker.lock();
        let trial = match *breaker {
            Breaker::Closed { .. } => false,
            Breaker::Open { until } if Instant::now() >= until => {
                *breaker = Breaker::HalfOpen;
                true
            }
            Breaker::Open { .. } | Breaker::HalfOpen => return Err(MachineError::CircuitOpen),
        };
        Ok(Admitted {
            client: self,
            trial,
            recorded: false,
        })
    }

    fn record(&self, ok: bool) {
        let mut breaker = self.breaker.lock();
        *breaker = match (&*breaker, ok) {
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, false)
                if failures + 1 < self.settings.failure_threshold =>
            {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => {
                tracing::warn!(open_for = ?self.settings.open_for, "LibreTranslate circuit opened");
                Breaker::Open {
                    until: Instant::now() + self.settings.open_for,
                }
            }
        };
    }

    /// Whether the breaker is open now.
    pub fn is_open(&self) -> bool {
        matches!(
            *self.breaker.lock(),
            Breaker::Open { until } if Instant::now() < until
        )
    }

    /// The LibreTranslate code for a locale: itself when the instance knows it,
    /// else its primary language (`pt-BR` → `pt`).
    pub fn code_for(&self, locale: &str) -> String {
        let languages = self.languages.lock();
        if languages.is_empty() || languages.contains_key(locale) {
            return locale.to_owned();
        }
        locale.split('-').next().unwrap_or(locale).to_owned()
    }

    /// Whether the instance translates `source` into `target` (true when unknown).
    pub fn supports(&self, source: &str, target: &str) -> bool {
        let languages = self.languages.lock();
        if languages.is_empty() {
            return true;
        }
        let target_known = languages.contains_key(target);
        if source == "auto" {
            return target_known;
        }
        languages
            .get(source)
            .is_some_and(|targets| targets.is_empty() || targets.iter().any(|t| t == target))
    }

    /// Refreshes the supported languages from `GET /languages`.
    pub async fn refresh_languages(&self) -> Result<usize, MachineError> {
        let response = self
            .http
            .get(self.endpoint("/languages"))
            .send()
            .await
            .map_err(|e| MachineError::Failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(MachineError::Failed(format!(
                "/languages answered {}",
                response.status()
            )));
        }
        let list: Vec<Language> = response
            .json()
            .await
            .map_err(|e| MachineError::Failed(format!("/languages: {e}")))?;
        let count = list.len();
        *self.languages.lock() = list.into_iter().map(|l| (l.code, l.targets)).collect();
        Ok(count)
    }

    /// Translates `texts` (one call: `q` is a string for one text, an array for more).
    pub async fn translate(
        &self,
        texts: &[String],
        source: &str,
        target: &str,
        format: &str,
    ) -> Result<MachineTranslation, MachineError> {
        let admitted = self.admit()?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| MachineError::Failed("client closed".into()))?;
        let q = if texts.len() == 1 {
            json!(texts[0])
        } else {
            json!(texts)
        };
        let mut body = json!({"q": q, "source": source, "target": target, "format": format});
        if let Some(key) = &self.settings.api_key {
            body["api_key"] = json!(key);
        }
        let mut result = self.call(&body, texts.len()).await;
        if matches!(result, Err(MachineError::Failed(_))) {
            // One retry: translation is idempotent, and the failure may pass.
            tokio::time::sleep(Duration::from_millis(50)).await;
            result = self.call(&body, texts.len()).await;
        }
        // A refusal (4xx) says nothing about LibreTranslate's health.
        admitted.record(!matches!(result, Err(MachineError::Failed(_))));
        result
    }

    async fn call(
        &self,
        body: &Value,
        expected: usize,
    ) -> Result<MachineTranslation, MachineError> {
        let response = self
            .http
            .post(self.endpoint("/translate"))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                MachineError::Failed(if e.is_timeout() {
                    "timed out".into()
                } else {
                    e.to_string()
                })
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| MachineError::Failed(e.to_string()))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|_| MachineError::Failed(format!("answer {status} is not JSON")))?;
        if status.is_client_error() {
            return Err(MachineError::Refused {
                status: status.as_u16(),
                message: json["error"]
                    .as_str()
                    .unwrap_or("no message")
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        if !status.is_success() {
            return Err(MachineError::Failed(format!("answered {status}")));
        }
        let texts: Vec<String> = match &json["translatedText"] {
            Value::String(one) if expected == 1 => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| MachineError::Failed("translatedText holds a non-string".into()))?,
            _ => {
                return Err(MachineError::Failed(
                    "no translatedText in the answer".into(),
                ));
            }
        };
        if texts.len() != expected {
            return Err(MachineError::Failed(format!(
                "{} translations for {expected} texts",
                texts.len()
            )));
        }
        let detected = match &json["detectedLanguage"] {
            Value::Array(list) => list.first().and_then(|d| d["language"].as_str()),
            other => other["language"].as_str(),
        }
        .map(str::to_owned);
        Ok(MachineTranslation { texts, detected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LibreTranslate that accepts connections and never answers.
    async fn silent_server() -> (tokio::net::TcpListener, url::Url) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        (listener, url.parse().expect("url"))
    }

    #[tokio::test]
    async fn a_cancelled_trial_does_not_leave_the_breaker_half_open() {
        let (listener, url) = silent_server().await;
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = LibreTranslate::new(LibreTranslateSettings {
            url,
            api_key: None,
            timeout: Duration::from_secs(5),
            concurrency: 2,
            failure_threshold: 1,
            open_for: Duration::from_millis(10),
        })
        .expect("client");
        *client.breaker.lock() = Breaker::Open {
            until: Instant::now(),
        };
        let texts = vec!["Hello".to_owned()];
        // The trial call, cancelled while it waits for LibreTranslate.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            client.translate(&texts, "en", "fr", "text"),
        )
        .await;
        assert!(cancelled.is_err(), "the call was cancelled");
        // The next call is let through as the trial again, not refused forever.
        assert!(client.admit().is_ok(), "the breaker is not stuck half-open");
        held.abort();
    }
}
