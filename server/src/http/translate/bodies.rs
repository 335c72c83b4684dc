//! The bodies of the translation endpoints, and their descriptions: what
//! a page sends and is answered, what an editor sends, what the memory
//! lists.

use salvo_oapi::ToSchema;
use salvo_oapi::schema::{AnyOf, Array, BasicType, Object, Schema};
use serde::{Deserialize, Serialize};

use crate::model::campaign::settings::LOCALE_TAG_PATTERN;
use crate::model::schema;
use crate::model::translation::MemoryRecord;
use crate::translate::{MachineStatus, Translated};

/// Most texts in one request.
pub(crate) const MAX_TEXTS: usize = 100;
/// Longest text, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 5000;
/// Most characters in one request.
pub(crate) const MAX_TOTAL_CHARS: usize = 20_000;

/// Where a text is used.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) struct Context {
    pub page: Option<String>,
    /// The visitor's locale.
    pub locale: Option<String>,
    /// A hint for translators ("button", "headline").
    pub hint: Option<String>,
}

/// Text or HTML.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
#[salvo(schema(name = "TextFormat"))]
pub(crate) enum Format {
    /// Plain text.
    #[default]
    Text,
    /// HTML: tags are kept.
    Html,
}

impl Format {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Html => "html",
        }
    }
}

/// Body of `POST /api/translate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TranslateBody {
    /// Campaign slug.
    #[salvo(schema(schema_with = schema::slug))]
    pub campaign: String,
    /// Target locale (one of the campaign's).
    #[salvo(schema(schema_with = locale))]
    pub target: String,
    /// Source locale, or `auto` (default: the campaign's first locale).
    #[serde(default)]
    #[salvo(schema(schema_with = source_or_auto))]
    pub source: Option<String>,
    /// The texts, in order.
    #[salvo(schema(schema_with = texts))]
    pub texts: Vec<String>,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub format: Format,
    /// Where the texts are used.
    #[serde(default)]
    pub context: Option<Context>,
}

/// Answer of `POST /api/translate`.
#[derive(Debug, Serialize, ToSchema)]
#[salvo(schema(name = "Translations"))]
pub(crate) struct TranslateAnswer {
    /// In the order of the request.
    pub translations: Vec<Translated>,
    /// Detected source language (for `source: auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_source: Option<String>,
    /// Whether the machine translator could serve: `ok`, `not_configured`,
    /// `unavailable` or `unsupported`.
    pub machine_translation: MachineStatus,
}

/// Body of `PUT /api/translate/override`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideBody {
    /// Campaign slug.
    #[salvo(schema(schema_with = schema::slug))]
    pub campaign: String,
    /// Target locale.
    #[salvo(schema(schema_with = locale))]
    pub target: String,
    /// Source locale (default: the campaign's first locale).
    #[serde(default)]
    #[salvo(schema(schema_with = optional_locale))]
    pub source: Option<String>,
    /// The source text.
    #[salvo(schema(schema_with = some_text))]
    pub text: String,
    /// Its human translation.
    #[salvo(schema(schema_with = some_text))]
    pub translation: String,
    /// Text or HTML.
    #[serde(default)]
    pub format: Format,
    /// Where it is used (an override applies to this context only).
    #[serde(default)]
    pub context: Option<Context>,
    /// The stored context key of a memory entry (`GET /api/translate/memory`'s
    /// `context_key`), instead of `format` and `context`: how an entry whose
    /// context was too long to keep whole (only its hash is kept) is
    /// overridden.
    #[serde(default)]
    #[salvo(schema(schema_with = context_key_schema))]
    pub context_key: Option<String>,
}

/// Longest stored context key a client may send back.
pub(super) const MAX_CONTEXT_KEY: usize = 200;

fn locale() -> Object {
    Object::with_type(BasicType::String).pattern(LOCALE_TAG_PATTERN)
}

fn optional_locale() -> Schema {
    schema::nullable(locale())
}

fn source_or_auto() -> Schema {
    Schema::AnyOf(
        AnyOf::new()
            .item(locale())
            .item(Object::with_type(BasicType::String).enum_values(["auto"]))
            .item(Object::with_type(BasicType::Null)),
    )
}

fn texts() -> Array {
    Array::new()
        .items(
            Object::with_type(BasicType::String)
                .pattern(r"^[^\u0000]*$")
                .max_length(MAX_TEXT_CHARS),
        )
        .max_items(MAX_TEXTS)
}

fn some_text() -> Object {
    Object::with_type(BasicType::String)
        .pattern(r"^[^\u0000]*$")
        .min_length(1)
}

fn context_key_schema() -> Schema {
    schema::nullable(Object::with_type(BasicType::String).max_length(MAX_CONTEXT_KEY))
}

/// One row of `GET /api/translate/memory`: what an override of it sends
/// (`source`, `target`, `text`, `format`, `context`), its translation, and
/// where and when that came from.
#[derive(Debug, Serialize, ToSchema)]
#[salvo(schema(name = "MemoryEntry"))]
pub(super) struct MemoryListed {
    source: String,
    target: String,
    /// `text` or `html`.
    #[salvo(schema(value_type = Format))]
    format: String,
    /// The page and hint it was asked for; absent when none, or when the
    /// context was too long to keep whole (only its hash is kept).
    #[salvo(schema(schema_with = listed_context))]
    context: Option<serde_json::Value>,
    /// The stored context key (`format|page|hint`).
    context_key: String,
    text: String,
    translation: String,
    /// `machine` or `override`.
    #[salvo(schema(schema_with = memory_origin))]
    origin: &'static str,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn listed_context() -> Schema {
    let text = || schema::nullable(Object::with_type(BasicType::String));
    schema::nullable(
        Object::new()
            .property("page", text())
            .property("hint", text()),
    )
}

fn memory_origin() -> Object {
    Object::with_type(BasicType::String).enum_values(["machine", "override"])
}

/// Answer of `GET /api/translate/memory`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MemoryList {
    /// Most recently changed first.
    pub(super) entries: Vec<MemoryListed>,
}

/// Answer of `PUT /api/translate/override`: the text and its translation
/// as stored.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Stored {
    pub(super) text: String,
    pub(super) translation: String,
    /// Always `override`.
    #[salvo(schema(schema_with = memory_origin))]
    pub(super) origin: &'static str,
}

impl From<MemoryRecord> for MemoryListed {
    fn from(record: MemoryRecord) -> Self {
        let e = record.entry;
        let mut parts = e.context_key.splitn(3, '|');
        let format = parts.next().unwrap_or("text").to_owned();
        let (page, hint) = (parts.next(), parts.next());
        let context = match (page, hint) {
            (Some(page), Some(hint)) if !(page.is_empty() && hint.is_empty()) => {
                let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
                Some(serde_json::json!({"page": some(page), "hint": some(hint)}))
            }
            _ => None,
        };
        Self {
            source: e.source_lang,
            target: e.target_lang,
            format,
            context,
            context_key: e.context_key,
            text: e.source_text,
            translation: e.translated_text,
            origin: e.origin.as_str(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            last_used_at: record.last_used_at,
        }
    }
}
