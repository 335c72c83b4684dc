//! The links a mail carries, signed with the session keys so that none
//! needs a row of its own: a verification link (the join and its expiry),
//! a one-click unsubscribe link (the user), and a lead's read-only status
//! link (the lead). A link names an id, never an address or a name.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::session::SessionKeys;

const VERIFY: &[u8] = b"mail verify";
const UNSUBSCRIBE: &[u8] = b"mail unsubscribe";
const LEAD_STATUS: &[u8] = b"mail lead status";

/// What is wrong with a verification token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadToken {
    /// Not one the server made (changed, truncated, another purpose).
    Forged,
    /// Made by the server, but past its time.
    Expired,
}

/// The token of a link verifying user `master_id`'s email until `expires`.
pub(crate) fn verify_token(keys: &SessionKeys, master_id: Uuid, expires: DateTime<Utc>) -> String {
    let mut payload = master_id.as_bytes().to_vec();
    payload.extend_from_slice(&expires.timestamp().to_be_bytes());
    keys.seal(VERIFY, &payload)
}

/// The user a verification token names, if it is the server's and not
/// expired at `now`.
pub(crate) fn read_verify_token(
    keys: &SessionKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, BadToken> {
    let payload = keys.unseal(VERIFY, token).ok_or(BadToken::Forged)?;
    let (id, expires) = payload.split_at_checked(16).ok_or(BadToken::Forged)?;
    let id = Uuid::from_slice(id).map_err(|_| BadToken::Forged)?;
    let expires = i64::from_be_bytes(expires.try_into().map_err(|_| BadToken::Forged)?);
    if now.timestamp() >= expires {
        return Err(BadToken::Expired);
    }
    Ok(id)
}

/// The token of user `master_id`'s one-click unsubscribe link (it does not expire).
pub(crate) fn unsubscribe_token(keys: &SessionKeys, master_id: Uuid) -> String {
    keys.seal(UNSUBSCRIBE, master_id.as_bytes())
}

/// The user an unsubscribe token names, if it is the server's.
pub(crate) fn read_unsubscribe_token(keys: &SessionKeys, token: &str) -> Option<Uuid> {
    Uuid::from_slice(&keys.unseal(UNSUBSCRIBE, token)?).ok()
}

/// The signature of lead `id`'s status link.
pub(crate) fn lead_status_signature(keys: &SessionKeys, id: Uuid) -> String {
    keys.seal(LEAD_STATUS, id.as_bytes())
}

/// Whether `signature` is that of lead `id`'s status link.
pub(crate) fn lead_status_signed(keys: &SessionKeys, id: Uuid, signature: &str) -> bool {
    keys.unseal(LEAD_STATUS, signature)
        .is_some_and(|signed| signed == id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(
            b"a secret of at least thirty-two bytes!",
            std::time::Duration::from_secs(3600),
            std::time::Duration::from_secs(3600),
        )
    }

    #[test]
    fn verify_tokens_round_trip_expire_and_refuse_forgeries() {
        let keys = keys();
        let id = Uuid::now_v7();
        let now = Utc::now();
        let token = verify_token(&keys, id, now + chrono::Duration::hours(1));
        assert_eq!(read_verify_token(&keys, &token, now), Ok(id));
        assert_eq!(
            read_verify_token(&keys, &token, now + chrono::Duration::hours(2)),
            Err(BadToken::Expired)
        );
        let mut forged = token.clone();
        forged.insert(3, 'x');
        assert_eq!(
            read_verify_token(&keys, &forged, now),
            Err(BadToken::Forged)
        );
        // A token made for another purpose does not verify.
        let other = unsubscribe_token(&keys, id);
        assert_eq!(read_verify_token(&keys, &other, now), Err(BadToken::Forged));
        assert_eq!(read_unsubscribe_token(&keys, &other), Some(id));
        let signature = lead_status_signature(&keys, id);
        assert!(lead_status_signed(&keys, id, &signature));
        assert!(!lead_status_signed(&keys, Uuid::now_v7(), &signature));
    }
}
