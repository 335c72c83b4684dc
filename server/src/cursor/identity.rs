//! Who a room's member is, as its peers see it: a colour derived from the
//! session and, when the campaign shows names, a joined user's display name.
//! Sent in rosters ([`protocol::Roster`]) over reliable channels.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A member's identity in its room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Hue in degrees (0–359).
    pub hue: u16,
    /// Display name (at most [`protocol::MAX_NAME_BYTES`] bytes), if shown.
    pub name: Option<String>,
    /// The page the member is on, in a campaign's presence room when the
    /// campaign shows pages.
    pub page: Option<String>,
}

impl Identity {
    /// The identity of `session`: its colour, and `name` when given.
    pub fn of(session: Uuid, name: Option<&str>) -> Self {
        Self {
            hue: hue_of(session),
            name: name
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(protocol::roster_name),
            page: None,
        }
    }

    /// The same identity, on `page`.
    pub fn on_page(self, page: Option<String>) -> Self {
        Self { page, ..self }
    }

    /// The roster entry of member `id`.
    pub fn roster_member(&self, id: u32) -> protocol::RosterMember {
        protocol::RosterMember {
            id,
            hue: self.hue,
            name: self.name.clone(),
            page: self.page.clone(),
        }
    }
}

/// A hue derived from `session`: the same on every instance and every
/// reconnection, and not a way back to the session id (a hash, reduced).
pub(crate) fn hue_of(session: Uuid) -> u16 {
    let digest = Sha256::digest(session.as_bytes());
    (u16::from_le_bytes([digest[0], digest[1]])) % 360
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hue_is_stable_and_spread() {
        let session = Uuid::now_v7();
        assert_eq!(hue_of(session), hue_of(session));
        let hues: std::collections::HashSet<u16> =
            (0..200).map(|_| hue_of(Uuid::now_v7())).collect();
        assert!(hues.len() > 100, "{} distinct hues of 200", hues.len());
        assert!(hues.iter().all(|h| *h < 360));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        let session = Uuid::now_v7();
        assert_eq!(Identity::of(session, Some("  ")).name, None);
        assert_eq!(
            Identity::of(session, Some(" Ada ")).name.as_deref(),
            Some("Ada")
        );
        let long = "x".repeat(500);
        let name = Identity::of(session, Some(&long)).name.expect("named");
        assert_eq!(name.len(), protocol::MAX_NAME_BYTES);
    }
}
