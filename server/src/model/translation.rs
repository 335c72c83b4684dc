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
