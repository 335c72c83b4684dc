//! The data of each built-in JSON event, as a type: what its publisher
//! builds and what goes on the wire, serialized as is. A type that
//! implements [`Payload`] names its event, so a publisher cannot send one
//! event's data under another's name (`crate::bus::Event::built_in`).
//!
//! The frames of `cursors`, `roster` and `members` are the cursor protocol's
//! messages in base64 (the `protocol` crate); `presence` and `reset` carry
//! [`Presence`], written by hand on the event stream's hot path (a test
//! holds it to this type).

use chrono::{DateTime, Utc};
use salvo_oapi::ToSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::BuiltIn;
use crate::model::campaign;
use crate::model::lead;
use crate::model::report::Standing;

/// The data of a built-in event published on the bus.
pub trait Payload: Serialize {
    /// The event it is the data of.
    const EVENT: &'static BuiltIn;

    /// The event's `data`, as JSON.
    fn data(&self) -> Value {
        // Plain structs of strings, numbers, dates and ids: nothing here can
        // fail to serialize (no map with non-string keys, no failing impl).
        serde_json::to_value(self).expect("an event's data serializes")
    }
}

/// `presence` and `reset`: the campaign's distinct active visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "PresenceEvent"))]
pub struct Presence {
    /// Distinct visitors (sessions) on every instance.
    pub active: u64,
}

/// `user.joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "UserJoinedEvent"))]
pub struct UserJoined {
    /// The name the user chose to show.
    pub display_name: String,
}

impl Payload for UserJoined {
    const EVENT: &'static BuiltIn = &super::USER_JOINED;
}

/// `referral.milestone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "ReferralMilestoneEvent"))]
pub struct ReferralMilestone {
    /// The referrer's display name.
    pub user: String,
    /// Their referral count.
    pub count: i64,
    /// The milestone reached (one of `config.milestones`).
    pub milestone: u32,
}

impl Payload for ReferralMilestone {
    const EVENT: &'static BuiltIn = &super::REFERRAL_MILESTONE;
}

/// `lead.created`: nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "LeadCreatedEvent"))]
pub struct LeadCreated {
    /// The lead's `details.service`, when it is text (else `null`).
    pub service: Option<String>,
    /// When it came in.
    pub created_at: DateTime<Utc>,
}

impl Payload for LeadCreated {
    const EVENT: &'static BuiltIn = &super::LEAD_CREATED;
}

/// `leaderboard`: the top referrers as announced (also what is stored as
/// the last announced board).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "LeaderboardEvent"))]
pub struct Leaderboard {
    /// Increases with every announced change.
    pub seq: u64,
    /// The top referrers, first first.
    pub top: Vec<Standing>,
}

impl Payload for Leaderboard {
    const EVENT: &'static BuiltIn = &super::LEADERBOARD;
}

/// `campaign.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "CampaignStatusEvent"))]
pub struct CampaignStatus {
    /// The campaign's status.
    pub status: campaign::CampaignStatus,
    /// Whether its forms take submissions now.
    pub open: bool,
    /// When it opens, if it says.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it closes, if it says.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Payload for CampaignStatus {
    const EVENT: &'static BuiltIn = &super::CAMPAIGN_STATUS;
}

/// `lead.status`, to the session that sent the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "LeadStatusEvent"))]
pub struct LeadStatus {
    /// The lead's id.
    pub quote_id: Uuid,
    /// Its status now.
    pub status: lead::LeadStatus,
}

impl Payload for LeadStatus {
    const EVENT: &'static BuiltIn = &super::LEAD_STATUS;
}

/// `team.lead`: a lead came in (no `previous`) or moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "TeamLeadEvent"))]
pub(crate) struct TeamLead {
    /// The lead's id.
    pub id: Uuid,
    /// Its status now.
    pub status: lead::LeadStatus,
    /// Its status before, when it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<lead::LeadStatus>,
    /// When it came in or moved.
    pub at: DateTime<Utc>,
}

impl Payload for TeamLead {
    const EVENT: &'static BuiltIn = &super::TEAM_LEAD;
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[salvo(schema(name = "DeliveryState"))]
pub(crate) enum DeliveryState {
    /// Delivered.
    Delivered,
    /// Failed for the last time.
    Dead,
    /// Failed, to be tried again.
    Retrying,
    /// Not tried yet, or put back in line.
    Pending,
}

/// `team.delivery`: an outbox entry was delivered, failed or put back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "TeamDeliveryEvent"))]
pub(crate) struct TeamDelivery {
    /// The outbox entry's id.
    pub id: i64,
    /// Its event type (`lead.created`, …).
    pub event_type: String,
    /// Where it goes, credentials masked (null for a mail: its address is
    /// read from the outbox).
    pub target: Option<String>,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure, credentials masked (null for a mail).
    pub last_error: Option<String>,
}

impl Payload for TeamDelivery {
    const EVENT: &'static BuiltIn = &super::TEAM_DELIVERY;
}

/// `team.spam`: the bot defence held a submission, let one through
/// marked, or the team released one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[salvo(schema(name = "TeamSpamEvent"))]
pub(crate) struct TeamSpam {
    /// The listed submission's id.
    pub id: Uuid,
    /// Its form.
    pub form: crate::model::spam::SpamForm,
    /// Why it is listed.
    pub reason: crate::model::spam::SpamReason,
    /// Held, passed or released.
    pub state: crate::model::spam::SpamState,
    /// When it came, or was released.
    pub at: DateTime<Utc>,
}

impl Payload for TeamSpam {
    const EVENT: &'static BuiltIn = &super::TEAM_SPAM;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_fields_are_null_or_left_out_as_before() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let id = Uuid::nil();
        assert_eq!(
            LeadCreated {
                service: None,
                created_at: at
            }
            .data(),
            json!({"service": null, "created_at": at})
        );
        let created = TeamLead {
            id,
            status: lead::LeadStatus::New,
            previous: None,
            at,
        };
        assert_eq!(created.data(), json!({"id": id, "status": "new", "at": at}));
        let moved = TeamLead {
            previous: Some(lead::LeadStatus::New),
            status: lead::LeadStatus::Won,
            ..created
        };
        assert_eq!(
            moved.data(),
            json!({"id": id, "status": "won", "previous": "new", "at": at})
        );
        let delivery = TeamDelivery {
            id: 7,
            event_type: "lead.created".into(),
            target: None,
            state: DeliveryState::Retrying,
            attempts: 2,
            last_error: None,
        };
        assert_eq!(
            delivery.data(),
            json!({"id": 7, "event_type": "lead.created", "target": null,
                   "state": "retrying", "attempts": 2, "last_error": null})
        );
        assert_eq!(
            CampaignStatus {
                status: campaign::CampaignStatus::Active,
                open: true,
                starts_at: None,
                ends_at: Some(at)
            }
            .data(),
            json!({"status": "active", "open": true, "starts_at": null, "ends_at": at})
        );
    }
}
