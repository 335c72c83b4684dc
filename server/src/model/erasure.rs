//! Erasing a person: who is meant, what their data becomes, and what is
//! counted. The rows stay (counts, referrals and statuses keep meaning);
//! what names the person does not.

use serde::Serialize;
use uuid::Uuid;

/// Who is to be erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureSubject {
    /// Everyone with this (canonical) email, in one campaign or in all.
    Email {
        /// The email, canonical ([`crate::model::text::canonical_email`]).
        email: String,
        /// The campaign, or every campaign.
        campaign_id: Option<i64>,
    },
    /// One registered user.
    User(Uuid),
}

impl ErasureSubject {
    /// What the log keeps of the subject: a SHA-256, never the subject.
    pub fn hash(&self) -> String {
        let text = match self {
            Self::Email { email, .. } => format!("email:{email}"),
            Self::User(id) => format!("user:{id}"),
        };
        super::text::sha256_hex(&text)
    }

    /// The one campaign the erasure is limited to, if it is.
    pub fn campaign_id(&self) -> Option<i64> {
        match self {
            Self::Email { campaign_id, .. } => *campaign_id,
            Self::User(_) => None,
        }
    }
}

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// Users whose email, name and locale were replaced.
    pub users: u64,
    /// Leads whose contact details and message were replaced.
    /// (Named `quotes` in the answer, as it always was.)
    #[serde(rename = "quotes")]
    pub leads: u64,
    /// Undelivered outbox entries whose payload was scrubbed.
    pub outbox_entries: u64,
}

/// What an erased text field holds.
pub const ERASED: &str = "[erased]";

/// The email an erased user keeps (unique, and not an address).
pub fn erased_email(id: Uuid) -> String {
    format!("erased-{}@erased.invalid", id.simple())
}

/// Keys of an outbox payload that name a person.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "name",
    "display_name",
    "phone",
    "company",
    "message",
    "referrer_name",
    "referred_name",
    "referred_email",
    "referrer_email",
];

/// Whether `payload` is about the person with one of `emails` or `ids`.
pub fn concerns(payload: &serde_json::Value, emails: &[String], ids: &[Uuid]) -> bool {
    match payload {
        serde_json::Value::String(text) => {
            let lower = text.to_lowercase();
            emails.contains(&lower) || ids.iter().any(|id| text == &id.to_string())
        }
        serde_json::Value::Array(items) => items.iter().any(|v| concerns(v, emails, ids)),
        serde_json::Value::Object(fields) => fields.values().any(|v| concerns(v, emails, ids)),
        _ => false,
    }
}

/// `payload` with every personal field replaced by [`ERASED`].
pub fn scrub(payload: &mut serde_json::Value) {
    match payload {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                if PERSONAL_KEYS.contains(&key.as_str()) && !value.is_null() {
                    *value = serde_json::Value::from(ERASED);
                } else {
                    scrub(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_about_the_person_are_scrubbed() {
        let id = Uuid::now_v7();
        let mut payload = serde_json::json!({
            "master_id": id, "email": "ada@example.com", "display_name": "Ada",
            "referrer": {"name": "Grace", "email": "grace@example.com"}, "count": 3
        });
        assert!(concerns(&payload, &["ada@example.com".into()], &[]));
        assert!(concerns(&payload, &[], &[id]));
        assert!(!concerns(&payload, &["linus@example.com".into()], &[]));
        scrub(&mut payload);
        assert_eq!(payload["email"], ERASED);
        assert_eq!(payload["display_name"], ERASED);
        assert_eq!(payload["referrer"]["name"], ERASED);
        assert_eq!(payload["count"], 3, "counts stay");
        assert_eq!(
            payload["master_id"],
            id.to_string(),
            "ids stay: they name no one"
        );
    }
}
