//! Translation memory rows (kept by [`crate::translate`]).

/// What is stored in the memory as a translation's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOrigin {
    /// From LibreTranslate.
    Machine,
    /// From a person.
    Override,
}

impl MemoryOrigin {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Machine => "machine",
            Self::Override => "override",
        }
    }
}

/// One translation memory row.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct MemoryEntry {
    pub campaign_id: i64,
    /// Source language (`auto` when detected).
    pub source_lang: String,
    /// Target language.
    pub target_lang: String,
    /// Context (format, page, hint).
    pub context_key: String,
    /// SHA-256 of the source text, hex.
    pub source_hash: String,
    pub source_text: String,
    /// Translation.
    pub translated_text: String,
    /// Machine or human.
    pub origin: MemoryOrigin,
}

/// A memory row with its age, as the campaign team reviews it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRecord {
    /// The row.
    pub entry: MemoryEntry,
    /// When it was first stored.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its translation last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When it was last served (marked at most hourly).
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}
