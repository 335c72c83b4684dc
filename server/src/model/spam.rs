//! Spam: a join or lead the honeypot or the minimum time caught, held
//! whole so that the team can release it ("not spam") and have it replayed
//! as if it had just arrived; and a submission let through unverified
//! while the CAPTCHA provider was down, listed beside them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::attribution::Consent;

/// The form a submission came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpamForm {
    /// `POST /api/user/register`.
    Join,
    /// `POST /api/quote`.
    Lead,
}

/// Why a submission is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpamReason {
    /// It filled the campaign's honeypot field.
    Honeypot,
    /// It came sooner than `config.forms.min_seconds` after its visitor
    /// session began, or with no session.
    TooFast,
    /// The CAPTCHA provider could not be reached: let through unverified
    /// (`on_outage = "allow"`).
    CaptchaUnavailable,
}

/// Where a listed submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo_oapi::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpamState {
    /// Held: written nowhere else, counted nowhere.
    Held,
    /// Released by the team and replayed.
    Released,
    /// Let through unverified (the CAPTCHA provider was down).
    Passed,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Its name in the database and the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            /// The value named `name`.
            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

names!(SpamForm { Join => "join", Lead => "lead" });
names!(SpamReason { Honeypot => "honeypot", TooFast => "too_fast", CaptchaUnavailable => "captcha_unavailable" });
names!(SpamState { Held => "held", Released => "released", Passed => "passed" });

/// A listed submission.
#[derive(Debug, Clone, PartialEq, Serialize, salvo_oapi::ToSchema)]
pub struct Spam {
    /// Its id: also the id of the user or lead it becomes when released
    /// (and the id its sender was answered with).
    pub id: Uuid,
    /// The campaign.
    pub campaign_id: i64,
    /// The form.
    pub form: SpamForm,
    /// Why it is listed.
    pub reason: SpamReason,
    /// Held, released or passed.
    pub state: SpamState,
    /// The address it gave.
    pub email: String,
    /// What was sent ([`HeldSubmission`]).
    #[salvo(schema(value_type = Object))]
    pub submission: Value,
    /// When it arrived.
    pub created_at: DateTime<Utc>,
    /// When the team released it.
    pub released_at: Option<DateTime<Utc>>,
    /// Who released it (the team member's key name).
    pub released_by: Option<String>,
}

/// A submission as held: enough to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum HeldSubmission {
    /// A join.
    Join(HeldJoin),
    /// A lead.
    Lead(HeldLead),
}

/// A join, validated, as it would have been written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields named for what they hold
pub struct HeldJoin {
    pub name: String,
    pub locale: Option<String>,
    /// The referral code the join gave (a friend's).
    pub referral_code: Option<String>,
    /// The code of its own it was answered with.
    pub own_code: String,
    /// The visitor session it came from.
    pub visitor_id: Option<Uuid>,
    pub consent: Option<Consent>,
    /// What its referrals are checked against (keyed hashes).
    #[serde(default)]
    pub origin: crate::model::user::JoinOrigin,
}

/// A lead, validated, as it would have been written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields named for what they hold
pub struct HeldLead {
    pub name: String,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub message: String,
    pub budget: Option<String>,
    pub details: Map<String, Value>,
    /// The session it was sent with, and the user that session was.
    pub session_id: Option<Uuid>,
    pub master_id: Option<Uuid>,
    pub visitor_id: Option<Uuid>,
    pub consent: Option<Consent>,
    /// The language of its mails.
    pub locale: Option<String>,
}

/// A submission to list.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields named for what they hold
pub struct NewSpam {
    pub id: Uuid,
    pub campaign_id: i64,
    pub reason: SpamReason,
    pub state: SpamState,
    pub email: String,
    pub submission: HeldSubmission,
    pub created_at: DateTime<Utc>,
}

impl NewSpam {
    /// Its form.
    pub fn form(&self) -> SpamForm {
        match self.submission {
            HeldSubmission::Join(_) => SpamForm::Join,
            HeldSubmission::Lead(_) => SpamForm::Lead,
        }
    }
}
