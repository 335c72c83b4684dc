//! Erasing a person: who is meant, what their data becomes, and what is
//! counted. The rows stay (counts, referrals and statuses keep meaning);
//! what names the person does not.

use salvo_oapi::ToSchema;
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

/// The purpose under which the erasure and audit logs keep a subject's
/// keyed hash (`SessionKeys::pseudonym`).
pub(crate) const SUBJECT_PURPOSE: &str = "erasure subject";

impl ErasureSubject {
    /// What identifies the subject, to be kept only as a keyed hash (never
    /// a plain SHA-256: a list of addresses could be tested against it).
    pub fn identity(&self) -> String {
        match self {
            Self::Email { email, .. } => format!("email:{email}"),
            Self::User(id) => format!("user:{id}"),
        }
    }

    /// The one campaign the erasure is limited to, if it is.
    pub fn campaign_id(&self) -> Option<i64> {
        match self {
            Self::Email { campaign_id, .. } => *campaign_id,
            Self::User(_) => None,
        }
    }
}

/// What an erasure did in the database, and what the server must still
/// do: end the person's sessions, remove their values from the live
/// events' history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The counts the answer and the audit log show.
    pub report: ErasureReport,
    /// The campaign the erasure was limited to (a user's own, for a user).
    pub campaign_id: Option<i64>,
    /// The campaigns of the users erased (their leaderboards may change).
    pub user_campaigns: Vec<i64>,
    /// The person's sessions (users' ids, the visitor sessions their joins
    /// and leads came from), now refused.
    pub sessions: Vec<Uuid>,
    /// The ids live events about the person were published about (their
    /// users' and leads'), to remove those events from the bus's history.
    pub subjects: Vec<Uuid>,
    /// What named the person (emails, names, display names), to remove the
    /// live events about no one in particular that carried them (a
    /// leaderboard). Held in memory for the erasure only.
    pub names: Vec<String>,
}

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErasureReport {
    /// Users whose email, name and locale were replaced.
    pub users: u64,
    /// Leads whose contact details and message were replaced.
    /// (Named `quotes` in the answer, as it always was.)
    #[serde(rename = "quotes")]
    pub leads: u64,
    /// Outbox entries whose payload was scrubbed.
    pub outbox_entries: u64,
    /// Submissions held as spam (or listed) that were removed.
    pub spam: u64,
    /// Live events removed from the event history (they named the person);
    /// `null` when the history could not be reached (Redis down): those
    /// events then leave it as it is trimmed.
    pub history_entries: Option<u64>,
}

/// What an erased text field holds.
pub(crate) const ERASED: &str = "[erased]";

/// The address an erased lead keeps (the column cannot be empty).
pub(crate) const ERASED_EMAIL: &str = "erased@erased.invalid";

/// Whether `email` is what an erasure left.
pub(crate) fn is_erased_email(email: &str) -> bool {
    email == ERASED_EMAIL
}

/// The email an erased user keeps (unique, and not an address).
pub(crate) fn erased_email(id: Uuid) -> String {
    format!("erased-{}@erased.invalid", id.simple())
}

/// Keys of an outbox payload that name a person.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "to",
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
pub(crate) fn concerns(payload: &serde_json::Value, emails: &[String], ids: &[Uuid]) -> bool {
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

/// Keys of an outbox payload whose whole value is the person's: free-form
/// details they typed, the idempotency key their client chose.
const PERSONAL_VALUES: &[&str] = &["details", "idempotency_key"];

/// Whether any text in `data` is one of `values` (compared without case):
/// a live event that names the person.
pub(crate) fn mentions(data: &serde_json::Value, values: &[String]) -> bool {
    match data {
        serde_json::Value::String(text) => {
            let text = text.to_lowercase();
            values.iter().any(|v| v.to_lowercase() == text)
        }
        serde_json::Value::Array(items) => items.iter().any(|v| mentions(v, values)),
        serde_json::Value::Object(fields) => fields.values().any(|v| mentions(v, values)),
        _ => false,
    }
}

/// Replaces every text in `data` that is one of `values` (compared without
/// case) by `with`; whether any was.
pub(crate) fn replace_mentions(
    data: &mut serde_json::Value,
    values: &[String],
    with: &str,
) -> bool {
    match data {
        serde_json::Value::String(_) if mentions(data, values) => {
            *data = serde_json::Value::from(with);
            true
        }
        serde_json::Value::Array(items) => {
            let mut any = false;
            for item in items {
                any |= replace_mentions(item, values, with);
            }
            any
        }
        serde_json::Value::Object(fields) => {
            let mut any = false;
            for value in fields.values_mut() {
                any |= replace_mentions(value, values, with);
            }
            any
        }
        _ => false,
    }
}

/// `payload` with every personal field replaced by [`ERASED`], and the
/// person's free-form values emptied.
pub(crate) fn scrub(payload: &mut serde_json::Value) {
    match payload {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                if value.is_null() {
                    continue;
                }
                if PERSONAL_KEYS.contains(&key.as_str()) {
                    *value = serde_json::Value::from(ERASED);
                } else if PERSONAL_VALUES.contains(&key.as_str()) {
                    *value = match value {
                        serde_json::Value::Object(_) => serde_json::json!({}),
                        _ => serde_json::Value::Null,
                    };
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
        let mut lead = serde_json::json!({
            "details": {"service": "Roofs for Ada"}, "idempotency_key": "ada-1", "status": "new"
        });
        assert!(mentions(&lead, &["ROOFS FOR ADA".into()]));
        scrub(&mut lead);
        assert_eq!(lead["details"], serde_json::json!({}));
        assert!(lead["idempotency_key"].is_null());
        assert_eq!(lead["status"], "new");
        assert!(!mentions(&lead, &["Roofs for Ada".into()]));
        let mut board = serde_json::json!([{"user": "Ada", "count": 3}, {"user": "Grace"}]);
        assert!(replace_mentions(&mut board, &["ada".into()], ERASED));
        assert_eq!(board[0]["user"], ERASED);
        assert_eq!(board[1]["user"], "Grace");
        assert!(!replace_mentions(&mut board, &["Linus".into()], ERASED));
        assert_eq!(
            payload["master_id"],
            id.to_string(),
            "ids stay: they name no one"
        );
    }
}
