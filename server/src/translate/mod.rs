//! Live translation: the page's strings in the visitor's language, from our
//! translation memory when known, from LibreTranslate when not.
//!
//! LibreTranslate has no context parameter, so context works where we control
//! it: the page and hint are part of the memory key (the same English word on
//! two pages may translate differently), the campaign's glossary terms are
//! protected from translation, and human overrides (origin `override`) always
//! win over machine results. Identical concurrent requests reach LibreTranslate
//! once. When it is slow or down, what is known is served and the rest comes
//! back untranslated — never an error.

pub(crate) mod libretranslate;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

pub(crate) use libretranslate::{LibreTranslate, LibreTranslateSettings};

use crate::model::translation::{MemoryEntry, MemoryOrigin};
use crate::store::{SharedStore, StoreError};
use crate::telemetry::Counters;

/// Where a translation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Translation memory (an earlier machine translation).
    Memory,
    /// LibreTranslate, just now.
    Machine,
    /// A human override.
    Override,
    /// Not translated: the source text.
    Untranslated,
}

/// Whether the machine translator could be used for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MachineStatus {
    /// Used (or not needed).
    Ok,
    /// `LIBRETRANSLATE_URL` is not set.
    NotConfigured,
    /// Down, slow or refusing: some texts are untranslated.
    Unavailable,
    /// The instance does not translate this pair of languages.
    Unsupported,
}

/// The key of a text within a campaign, language pair and context.
pub fn text_hash(text: &str) -> String {
    crate::model::text::sha256_hex(text)
}

/// The memory context of a request: format, page and hint.
pub fn context_key(format: &str, page: Option<&str>, hint: Option<&str>) -> String {
    let key = format!("{format}|{}|{}", page.unwrap_or(""), hint.unwrap_or(""));
    if key.len() <= 200 {
        key
    } else {
        format!("{format}|#{}", text_hash(&key))
    }
}

/// Replaces each glossary term in `text` with a placeholder LibreTranslate leaves alone.
pub(crate) fn protect(text: &str, glossary: &[String]) -> (String, Vec<String>) {
    let mut terms: Vec<&String> = glossary.iter().filter(|t| !t.is_empty()).collect();
    terms.sort_by_key(|t| std::cmp::Reverse(t.len()));
    let mut protected = text.to_owned();
    let mut used = Vec::new();
    for term in terms {
        if protected.contains(term.as_str()) {
            protected = protected.replace(term.as_str(), &format!("[[{}]]", used.len()));
            used.push(term.clone());
        }
    }
    (protected, used)
}

/// Puts the glossary terms back.
pub(crate) fn unprotect(text: &str, terms: &[String]) -> String {
    let mut restored = text.to_owned();
    for (i, term) in terms.iter().enumerate() {
        restored = restored.replace(&format!("[[{i}]]"), term);
    }
    restored
}

/// A request to translate a page's texts.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields named for what they hold
pub struct TranslationRequest {
    pub campaign_id: i64,
    /// The campaign's glossary.
    pub glossary: Vec<String>,
    /// Source language or `auto`.
    pub source: String,
    /// Target language.
    pub target: String,
    /// `text` or `html`.
    pub format: String,
    /// Memory context.
    pub context_key: String,
    /// The texts, in order.
    pub texts: Vec<String>,
}

/// One text's translation.
#[derive(Debug, Clone, PartialEq, Serialize, salvo_oapi::ToSchema)]
pub struct Translated {
    /// The text in the target language (or the source text, untranslated).
    pub text: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslationOutcome {
    /// In the order of the request.
    pub translations: Vec<Translated>,
    /// The language LibreTranslate detected, for `source: auto`.
    pub detected_source: Option<String>,
    /// Whether the machine translator served.
    pub machine: MachineStatus,
}

/// One text on its way to LibreTranslate: concurrent requests for the same
/// text wait for the first one's answer instead of asking again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    campaign_id: i64,
    source_lang: String,
    target_lang: String,
    context_key: String,
    source_hash: String,
}

/// How a flight ended, as those waiting on it see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Landing {
    /// Still on its way.
    Pending,
    Translated(String),
    /// LibreTranslate did not answer.
    Failed,
}

type Flight = watch::Receiver<Landing>;

/// Removes this request's flights when it ends, however it ends.
struct FlightGuard<'a> {
    flights: &'a Mutex<HashMap<FlightKey, Flight>>,
    keys: Vec<FlightKey>,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock();
        for key in &self.keys {
            flights.remove(key);
        }
    }
}

/// The translation service.
pub struct Translator {
    store: SharedStore,
    machine: Option<Arc<LibreTranslate>>,
    flights: Mutex<HashMap<FlightKey, Flight>>,
    wait: Duration,
    counters: Arc<Counters>,
}

impl Translator {
    /// A translator on `store`, with LibreTranslate when configured; what it
    /// does is counted in `counters`.
    pub fn new(
        store: SharedStore,
        machine: Option<Arc<LibreTranslate>>,
        timeout: Duration,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            store,
            machine,
            flights: Mutex::new(HashMap::new()),
            wait: timeout * 3 + Duration::from_secs(1),
            counters,
        }
    }

    /// The LibreTranslate client, if configured.
    pub fn machine(&self) -> Option<&Arc<LibreTranslate>> {
        self.machine.as_ref()
    }

    /// Translates a page's texts.
    pub async fn translate(
        &self,
        request: &TranslationRequest,
    ) -> Result<TranslationOutcome, StoreError> {
        let untranslated = |text: &String| Translated {
            text: text.clone(),
            origin: Origin::Untranslated,
        };
        if request.source == request.target {
            return Ok(TranslationOutcome {
                translations: request.texts.iter().map(untranslated).collect(),
                detected_source: None,
                machine: MachineStatus::Ok,
            });
        }
        let hashes: Vec<String> = request.texts.iter().map(|t| text_hash(t)).collect();
        let mut known: HashMap<String, Translated> = self
            .store
            .memory_lookup(
                request.campaign_id,
                &request.source,
                &request.target,
                &request.context_key,
                &hashes,
            )
            .await?
            .into_iter()
            .map(|entry| {
                let origin = match entry.origin {
                    MemoryOrigin::Machine => Origin::Memory,
                    MemoryOrigin::Override => Origin::Override,
                };
                (
                    entry.source_hash,
                    Translated {
                        text: entry.translated_text,
                        origin,
                    },
                )
            })
            .collect();
        // The texts still missing, each once.
        let mut missing: Vec<(String, String)> = Vec::new();
        for (hash, text) in hashes.iter().zip(&request.texts) {
            if !known.contains_key(hash) && !missing.iter().any(|(h, _)| h == hash) {
                missing.push((hash.clone(), text.clone()));
            }
        }
        let memory = &self.counters.translation_memory;
        let misses = missing.len() as u64;
        memory
            .with_label_values(&["hit"])
            .inc_by((hashes.len() as u64).saturating_sub(misses));
        memory.with_label_values(&["miss"]).inc_by(misses);
        let mut machine_status = MachineStatus::Ok;
        let mut detected_source = None;
        if !missing.is_empty() {
            match &self.machine {
                None => machine_status = MachineStatus::NotConfigured,
                Some(machine) => {
                    let (status, detected, found) =
                        self.ask_machine(machine, request, missing).await;
                    machine_status = status;
                    detected_source = detected;
                    known.extend(found);
                }
            }
        }
        let translations = hashes
            .iter()
            .zip(&request.texts)
            .map(|(hash, text)| {
                known
                    .get(hash)
                    .cloned()
                    .unwrap_or_else(|| untranslated(text))
            })
            .collect();
        Ok(TranslationOutcome {
            translations,
            detected_source,
            machine: machine_status,
        })
    }

    /// Translates `missing` with LibreTranslate — or waits for an identical
    /// request already doing so — and remembers the results.
    async fn ask_machine(
        &self,
        machine: &LibreTranslate,
        request: &TranslationRequest,
        missing: Vec<(String, String)>,
    ) -> (MachineStatus, Option<String>, Vec<(String, Translated)>) {
        let source = if request.source == "auto" {
            "auto".to_owned()
        } else {
            machine.code_for(&request.source)
        };
        let target = machine.code_for(&request.target);
        if !machine.supports(&source, &target) {
            return (MachineStatus::Unsupported, None, Vec::new());
        }
        let key_of = |hash: &str| FlightKey {
            campaign_id: request.campaign_id,
            source_lang: request.source.clone(),
            target_lang: request.target.clone(),
            context_key: request.context_key.clone(),
            source_hash: hash.to_owned(),
        };
        let mut mine = Vec::new();
        let mut waiting = Vec::new();
        let mut guard = FlightGuard {
            flights: &self.flights,
            keys: Vec::new(),
        };
        {
            let mut flights = self.flights.lock();
            for (hash, text) in missing {
                let key = key_of(&hash);
                match flights.get(&key) {
                    Some(flight) => waiting.push((hash, flight.clone())),
                    None => {
                        let (sender, receiver) = watch::channel(Landing::Pending);
                        flights.insert(key.clone(), receiver);
                        guard.keys.push(key);
                        mine.push((hash, text, sender));
                    }
                }
            }
        }
        let (mut status, detected, mut found) = if mine.is_empty() {
            (MachineStatus::Ok, None, Vec::new())
        } else {
            self.fly(machine, request, (&source, &target), mine).await
        };
        drop(guard);
        for (hash, mut flight) in waiting {
            let landed = flight.wait_for(|landing| *landing != Landing::Pending);
            let result = tokio::time::timeout(self.wait, landed).await;
            match result
                .ok()
                .and_then(Result::ok)
                .map(|landing| landing.clone())
            {
                Some(Landing::Translated(text)) => found.push((
                    hash,
                    Translated {
                        text,
                        origin: Origin::Machine,
                    },
                )),
                // Failed, or no answer within the wait.
                _ => status = MachineStatus::Unavailable,
            }
        }
        (status, detected, found)
    }

    /// Translates the texts this request took the flights of (`mine`),
    /// lands each flight (for whoever waits on it) and remembers the results.
    async fn fly(
        &self,
        machine: &LibreTranslate,
        request: &TranslationRequest,
        (source, target): (&str, &str),
        mine: Vec<(String, String, watch::Sender<Landing>)>,
    ) -> (MachineStatus, Option<String>, Vec<(String, Translated)>) {
        let mut status = MachineStatus::Ok;
        let mut detected = None;
        let mut found = Vec::new();
        let protected: Vec<(String, Vec<String>)> = mine
            .iter()
            .map(|(_, text, _)| protect(text, &request.glossary))
            .collect();
        let batch: Vec<String> = protected.iter().map(|(p, _)| p.clone()).collect();
        let answer = machine
            .translate(&batch, source, target, &request.format)
            .await;
        let outcome = if answer.is_ok() { "ok" } else { "failed" };
        self.counters
            .translation_machine
            .with_label_values(&[outcome])
            .inc();
        match answer {
            Ok(result) => {
                detected = result.detected;
                let mut entries = Vec::new();
                for ((hash, text, sender), (translated, (_, terms))) in mine
                    .into_iter()
                    .zip(result.texts.into_iter().zip(&protected))
                {
                    let translated = unprotect(&translated, terms);
                    let _ = sender.send(Landing::Translated(translated.clone()));
                    entries.push(MemoryEntry {
                        campaign_id: request.campaign_id,
                        source_lang: request.source.clone(),
                        target_lang: request.target.clone(),
                        context_key: request.context_key.clone(),
                        source_hash: hash.clone(),
                        source_text: text,
                        translated_text: translated.clone(),
                        origin: MemoryOrigin::Machine,
                    });
                    found.push((
                        hash,
                        Translated {
                            text: translated,
                            origin: Origin::Machine,
                        },
                    ));
                }
                if let Err(e) = self.store.memory_store(&entries).await {
                    tracing::warn!(
                        error = format!("{:#}", anyhow::Error::from(e)),
                        "translation memory not updated"
                    );
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "machine translation unavailable");
                status = MachineStatus::Unavailable;
                for (_, _, sender) in mine {
                    let _ = sender.send(Landing::Failed);
                }
            }
        }
        (status, detected, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glossary_terms_are_protected_and_restored() {
        let glossary = vec!["Ovasabi".to_owned(), "Ovasabi Edge".to_owned()];
        let (protected, terms) = protect("Try Ovasabi Edge, by Ovasabi.", &glossary);
        assert!(!protected.contains("Ovasabi"), "{protected}");
        assert_eq!(
            unprotect(&protected, &terms),
            "Try Ovasabi Edge, by Ovasabi."
        );
    }

    #[test]
    fn context_keys_separate_pages_and_stay_short() {
        assert_ne!(
            context_key("text", Some("/"), None),
            context_key("text", Some("/pricing"), None)
        );
        assert_ne!(
            context_key("text", None, None),
            context_key("html", None, None)
        );
        assert!(context_key("text", Some(&"x".repeat(1000)), None).len() <= 200);
    }
}
