//! What the campaign team reads back: participants, referrals, the
//! leaderboard, the funnel per source and counts per hour. Lists are read in
//! keyset pages: a page ends at a [`Position`] and the next starts after it,
//! so rows written meanwhile never shift a page (as an offset would).

use chrono::{DateTime, Utc};
use salvo_oapi::ToSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::attribution::Attribution;
use super::user::User;

/// Where a keyset page ended: the sort value of its last row, its time and
/// its id (ties broken by time, then id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The sorted count (referral sorts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// The row's time.
    pub at: DateTime<Utc>,
    /// The row's id: a UUID, or a whole number for referrals.
    pub id: String,
}

/// How participants are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ParticipantSort {
    /// Oldest join first (the default).
    #[serde(rename = "joined_at")]
    JoinedAsc,
    /// Newest join first.
    #[serde(rename = "-joined_at")]
    JoinedDesc,
    /// Most referrals first, then oldest join.
    #[serde(rename = "-referrals")]
    ReferralsDesc,
}

impl ParticipantSort {
    /// Parses a `sort` query value.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "joined_at" => Self::JoinedAsc,
            "-joined_at" => Self::JoinedDesc,
            "-referrals" => Self::ReferralsDesc,
            _ => return None,
        })
    }
}

/// Which participants to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantFilter {
    /// Joined at or after.
    pub joined_since: Option<DateTime<Utc>>,
    /// Joined before.
    pub joined_until: Option<DateTime<Utc>>,
    /// With at least one referral (`true`) or none (`false`).
    pub has_referrals: Option<bool>,
    /// A prefix of the email or the display name, lower case.
    pub search: Option<String>,
}

/// A user of a campaign, with their referral count and first touch.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    /// The user.
    pub user: User,
    /// Referrals credited to them.
    pub referral_count: i64,
    /// The first touch of the session they joined from.
    pub attribution: Attribution,
}

/// Which referrals to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralFilter {
    /// Made at or after.
    pub since: Option<DateTime<Utc>>,
    /// Made before.
    pub until: Option<DateTime<Utc>>,
    /// Of this referrer only.
    pub referrer: Option<Uuid>,
    /// In this status only (`None`: all).
    pub status: Option<crate::model::referral::ReferralStatus>,
}

/// One referral.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Referral {
    pub id: i64,
    pub referrer_id: Uuid,
    pub referrer_name: String,
    pub referrer_email: String,
    pub referred_id: Uuid,
    pub referred_name: String,
    pub referred_email: String,
    /// The code entered.
    pub code: String,
    pub created_at: DateTime<Utc>,
    /// `counted`, `flagged` (waiting for the team's review) or `rejected`.
    pub status: crate::model::referral::ReferralStatus,
    /// Why it was flagged (empty when it was not).
    pub signals: Vec<crate::model::referral::Signal>,
    /// The referred person's humanity score in [0, 1], from how their
    /// pointer moved (the best observed of their sessions); null when it
    /// never moved, or once the score's retention passed.
    pub humanity: Option<f64>,
    /// When the team reviewed it.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who did (the key's name).
    pub reviewed_by: Option<String>,
}

/// A place on the leaderboard.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, salvo_oapi::ToSchema,
)]
pub struct Standing {
    /// The referrer's display name (never an email).
    pub display_name: String,
    /// Their referral count.
    #[salvo(schema(minimum = 0))]
    pub count: i64,
}

/// Visitors, joins and leads of one source over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FunnelRow {
    /// `utm_source`, else the referrer's host, else `(direct)`; `(unknown)`
    /// for joins and leads made without a recorded session; `(all)` in a
    /// funnel's `total`.
    pub source: String,
    /// Visitor sessions that started.
    #[salvo(schema(minimum = 0))]
    pub visitors: i64,
    /// Users who joined.
    #[salvo(schema(minimum = 0))]
    pub joins: i64,
    /// Leads sent.
    #[salvo(schema(minimum = 0))]
    pub leads: i64,
}

/// Counts of one hour (UTC) of a campaign's life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct HourCounts {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// The most visitors connected at once in the hour, as sampled every
    /// `OVASABI_VISITOR_SAMPLE_SECS` (a minute by default); 0 when nobody
    /// was, or before samples were taken.
    #[salvo(schema(minimum = 0))]
    pub visitors: i64,
    /// Users who joined in the hour.
    #[salvo(schema(minimum = 0))]
    pub joins: i64,
    /// Leads sent in the hour.
    #[salvo(schema(minimum = 0))]
    pub leads: i64,
    /// Referrals credited in the hour.
    #[salvo(schema(minimum = 0))]
    pub referrals: i64,
}
