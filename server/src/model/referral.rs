//! Referral fraud review: what a join keeps for its referrals to be
//! checked against ([`JoinOrigin`]), the signals a referral may raise
//! ([`Signal`]), and where a referral stands ([`ReferralStatus`]): counted
//! (every public figure counts these only), flagged for the team's review,
//! or rejected.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// A humanity score below this is a signal (`low_humanity`); see
/// `crate::cursor::humanity`.
pub(crate) const LOW_HUMANITY: f64 = 0.3;

/// How long two joins from one device (rate-limit key and User-Agent) are
/// taken for the same person's, and how far back a referrer's other
/// referrals are compared by network.
pub(crate) const DEVICE_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Why a referral was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The joiner's network (IPv4 /24, IPv6 /64) is the referrer's, or that
    /// of another of the referrer's referrals in the last 24 hours.
    SameNetwork,
    /// The same visitor session as the referrer's, or the same rate-limit
    /// key and User-Agent within 24 hours.
    SameDevice,
    /// The email normalises to an existing participant's (Gmail dots,
    /// `+tags`, case, Unicode forms).
    SimilarEmail,
    /// The email's domain is on the disposable list (the `mailchecker` crate's).
    DisposableEmail,
    /// The referrer made more than `config.referrals.max_per_hour` referrals
    /// in the hour before this one.
    TooMany,
    /// The joiner's pointer moved like a script (humanity score below 0.3).
    LowHumanity,
}

impl Signal {
    /// Its name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameNetwork => "same_network",
            Self::SameDevice => "same_device",
            Self::SimilarEmail => "similar_email",
            Self::DisposableEmail => "disposable_email",
            Self::TooMany => "too_many",
            Self::LowHumanity => "low_humanity",
        }
    }
}

/// Where a referral stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Counts everywhere (leaderboard, milestones, `/api/me`, metrics).
    Counted,
    /// Raised a signal: counts nowhere public until the team approves it.
    Flagged,
    /// Rejected by the team: final, counts nowhere.
    Rejected,
}

impl ReferralStatus {
    /// Its name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counted => "counted",
            Self::Flagged => "flagged",
            Self::Rejected => "rejected",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Counted, Self::Flagged, Self::Rejected]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// How a campaign checks its referrals (`config.referrals`), as the
/// store applies it when a referral is credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FraudPolicy {
    /// Whether referrals are checked at all.
    pub checked: bool,
    /// Referrals one referrer makes in an hour before the next is flagged.
    pub max_per_hour: u32,
}

impl FraudPolicy {
    /// The policy of `campaign`.
    pub fn of(campaign: &crate::model::campaign::Campaign) -> Self {
        let settings = &campaign.config.referrals;
        Self {
            checked: settings.fraud != crate::model::campaign::referrals::FraudMode::Off,
            max_per_hour: settings.max_per_hour,
        }
    }
}

/// A session's humanity score, as kept: never the path it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanityScore {
    /// The session's subject: a visitor session's id, or a user's.
    pub subject: uuid::Uuid,
    /// Its campaign.
    pub campaign_id: i64,
    /// In [0, 1]; see `crate::cursor::humanity`.
    pub score: f64,
    /// Pointer samples it was computed from.
    pub samples: u32,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What reviewing a referral did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reviewed {
    /// No such referral in the campaign.
    Missing,
    /// It is not flagged (counted, or rejected already): nothing changed.
    NotFlagged(ReferralStatus),
    /// Approved: it counts, and this is the referrer's count after it.
    Approved(Box<crate::model::user::ReferralCredit>),
    /// Rejected: final.
    Rejected,
}

/// The network an address is in, as text: its IPv4 /24 or IPv6 /64. None
/// for a loopback or unspecified address: that is this machine (a local
/// proxy not listed in `OVASABI_TRUSTED_PROXIES`, or a developer), which
/// says nothing about the visitor's network.
pub(crate) fn network_of(address: IpAddr) -> Option<String> {
    match address.to_canonical() {
        ip if ip.is_loopback() || ip.is_unspecified() => None,
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

/// The key an email is compared on: the canonical address (case and
/// Unicode forms are already folded) without a `+tag`, and for Gmail
/// (gmail.com, googlemail.com) without dots in the local part, under
/// gmail.com — the forms that reach one mailbox.
pub(crate) fn email_key(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email.to_owned();
    };
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

/// mailchecker's list of disposable domains, as a set (the crate's own
/// check scans the list, ~55,000 entries, on every call).
static DISPOSABLE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| mailchecker::blacklist().into_iter().collect());

/// Whether `email`'s domain, or a domain it is under, is a disposable one.
pub(crate) fn is_disposable(email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let mut rest = domain;
    loop {
        if DISPOSABLE.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_variants_share_a_key_and_others_keep_their_dots() {
        for variant in [
            "ana.farm@gmail.com",
            "anafarm+1@gmail.com",
            "a.n.a.f.a.r.m+x@googlemail.com",
        ] {
            assert_eq!(email_key(variant), "anafarm@gmail.com", "{variant}");
        }
        assert_eq!(
            email_key("ana.farm+news@example.com"),
            "ana.farm@example.com"
        );
        assert_ne!(
            email_key("ana.farm@example.com"),
            email_key("anafarm@example.com")
        );
    }

    #[test]
    fn disposable_domains_are_found_with_their_subdomains() {
        assert!(is_disposable("x@mailinator.com"));
        assert!(is_disposable("x@eu.mailinator.com"));
        assert!(!is_disposable("x@gmail.com"));
        assert!(!is_disposable("x@example.com"));
        assert!(!is_disposable("no-at-sign"));
    }

    #[test]
    fn networks_are_a_v4_24_or_a_v6_64_and_loopback_is_none() {
        let net = |s: &str| network_of(s.parse().expect("address"));
        assert_eq!(net("203.0.113.77").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(net("::ffff:203.0.113.9").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            net("2001:db8:1:2:3:4:5:6").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(net("127.0.0.1"), None);
        assert_eq!(net("::1"), None);
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            ReferralStatus::Counted,
            ReferralStatus::Flagged,
            ReferralStatus::Rejected,
        ] {
            assert_eq!(ReferralStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReferralStatus::parse("approved"), None);
    }
}
