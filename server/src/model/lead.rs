//! Leads (what a visitor sends with the quote form, stored in
//! `service_quote_main`) and the life of their status.

use chrono::{DateTime, Utc};
use salvo_oapi::ToSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a lead is in the sales process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Just submitted.
    New,
    /// Someone is looking at it.
    InReview,
    /// The visitor was contacted.
    Contacted,
    /// It became business.
    Won,
    /// It did not.
    Lost,
}

impl LeadStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::InReview => "in_review",
            Self::Contacted => "contacted",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Self::New,
            "in_review" => Self::InReview,
            "contacted" => Self::Contacted,
            "won" => Self::Won,
            "lost" => Self::Lost,
            _ => return None,
        })
    }

    /// Whether a lead may move from `self` to `next`: new → in_review →
    /// contacted → won or lost.
    pub fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::New, Self::InReview)
                | (Self::InReview, Self::Contacted)
                | (Self::Contacted, Self::Won | Self::Lost)
        )
    }
}

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub struct Lead {
    /// Id (UUID v7).
    pub id: Uuid,
    pub campaign_id: i64,
    /// The registered user who sent it, if any.
    pub master_id: Option<Uuid>,
    /// The session that sent it (user or anonymous visitor), for `lead.status`.
    pub session_id: Option<Uuid>,
    /// Contact name.
    pub name: String,
    /// Contact email, lower-cased.
    pub email: String,
    pub company: Option<String>,
    pub phone: Option<String>,
    /// What they want.
    pub message: String,
    /// Budget, as they put it.
    pub budget: Option<String>,
    /// Free-form details (keys allowed by the campaign).
    pub details: serde_json::Map<String, serde_json::Value>,
    pub status: LeadStatus,
    /// A keyed hash of the client's idempotency key (the key itself is
    /// never kept: `SessionKeys::pseudonym`); never sent.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request first sent with the key.
    #[serde(skip)]
    pub request_fingerprint: Option<String>,
    /// Submitted.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The visitor session it came from (the user's, for a user's lead).
    pub visitor_id: Option<Uuid>,
    /// The consent given with it, if the campaign asked for it.
    pub consent: Option<crate::model::attribution::Consent>,
}

/// What a client may learn of a lead: id and status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) struct LeadReceipt {
    pub id: Uuid,
    pub status: LeadStatus,
}

#[cfg(test)]
mod tests {
    use super::LeadStatus::*;

    #[test]
    fn transitions() {
        assert!(New.can_become(InReview));
        assert!(InReview.can_become(Contacted));
        assert!(Contacted.can_become(Won));
        assert!(Contacted.can_become(Lost));
        for (from, to) in [
            (New, Won),
            (New, Contacted),
            (Won, Lost),
            (Lost, New),
            (InReview, New),
            (New, New),
        ] {
            assert!(!from.can_become(to), "{from:?} -> {to:?}");
        }
    }
}
