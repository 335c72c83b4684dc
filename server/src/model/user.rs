//! Users who joined a campaign (`service_user_master`) and their referral codes.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
pub(crate) const REFERRAL_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Length of a referral code: 31^8 ≈ 8.5e11 codes.
pub(crate) const REFERRAL_CODE_LEN: usize = 8;

/// A fresh random referral code (from the OS-seeded RNG, unrelated to any id).
pub(crate) fn new_referral_code() -> String {
    let mut rng = rand::rng();
    (0..REFERRAL_CODE_LEN)
        .map(|_| char::from(REFERRAL_ALPHABET[rng.random_range(0..REFERRAL_ALPHABET.len())]))
        .collect()
}

/// A code as typed by a person: trimmed, upper-cased, dashes and spaces dropped.
/// `None` when it cannot be a referral code at all.
pub(crate) fn normalize_referral_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok =
        code.len() == REFERRAL_CODE_LEN && code.bytes().all(|b| REFERRAL_ALPHABET.contains(&b));
    ok.then_some(code)
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Global id (UUID v7).
    pub master_id: Uuid,
    /// Campaign joined.
    pub campaign_id: i64,
    /// Lower-cased email.
    pub email: String,
    /// Name shown in public events.
    pub display_name: String,
    /// Preferred locale.
    pub locale: Option<String>,
    /// The user's own referral code.
    pub referral_code: String,
    /// Who referred this user.
    pub referred_by: Option<Uuid>,
    /// When the user joined.
    pub created_at: DateTime<Utc>,
    /// The visitor session the user joined from (its first touch is theirs).
    pub visitor_id: Option<Uuid>,
    /// The consent given when joining, if the campaign asked for it.
    pub consent: Option<crate::model::attribution::Consent>,
    /// When the email was verified (at the join, when the campaign does not
    /// ask); a join counts only once verified.
    pub verified_at: Option<DateTime<Utc>>,
    /// When marketing mail was refused (one-click unsubscribe).
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// What the join kept for its referrals to be checked against (never
    /// shown).
    #[serde(skip)]
    pub origin: JoinOrigin,
}

/// What a join keeps for its referrals to be checked against: keyed
/// hashes (never the address or the User-Agent) and the email's key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinOrigin {
    /// Keyed hash of the client's network ([`network_of`]).
    #[serde(default)]
    pub network: Option<String>,
    /// Keyed hash of the client's rate-limit key and User-Agent.
    #[serde(default)]
    pub device: Option<String>,
}

/// Credit given to a referrer: who, and their count after this referral.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct ReferralCredit {
    pub referrer: User,
    /// Who was referred.
    pub referred: uuid::Uuid,
    /// Their referral count, this one included.
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_from_the_alphabet_and_round_trip() {
        let code = new_referral_code();
        assert_eq!(code.len(), REFERRAL_CODE_LEN);
        assert_eq!(
            normalize_referral_code(&code.to_lowercase()),
            Some(code.clone())
        );
        let spaced = format!("{} - {}", &code[..4], &code[4..]);
        assert_eq!(normalize_referral_code(&spaced), Some(code));
        assert_ne!(new_referral_code(), new_referral_code());
        assert_eq!(
            normalize_referral_code("OOOO0000"),
            None,
            "ambiguous letters"
        );
        assert_eq!(normalize_referral_code("ABC"), None);
    }
}
