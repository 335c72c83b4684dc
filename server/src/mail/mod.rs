//! Mail: what the server sends people and the campaign's team — the
//! verification of a join, a welcome, the confirmation of a lead with a
//! link to its status, a new lead to the team.
//!
//! A mail is an outbox entry of its own kind (`mail`), written in the same
//! transaction as what caused it ([`verify`], [`welcome`], [`lead_mails`]
//! build them) and sent by [`MailWorker`] over SMTP: rendered when sent
//! (templates in [`templates`], in the person's language), retried with
//! backoff, dead after its attempts, at least once — each mail's
//! `Message-ID` is the same on every attempt, so a receiver can drop a
//! duplicate. A permanent refusal of the address puts it on the
//! campaign's suppression list. The links a mail carries are signed
//! ([`links`]).

pub(crate) mod links;
mod send;
pub(crate) mod templates;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::model::campaign::Campaign;
use crate::model::lead::Lead;
use crate::model::outbox::NewOutbox;
use crate::model::user::User;

pub(crate) use send::{MailSettings, MailWorker};

/// The mails the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailKind {
    /// The link verifying a join's email.
    Verify,
    /// To an address that joined already (instead of a second join).
    AlreadyIn,
    /// After a (verified) join: a marketing mail.
    Welcome,
    /// To a lead's submitter, with a link to its status.
    LeadConfirmation,
    /// To the campaign's team, for each new lead.
    LeadNotify,
}

impl MailKind {
    /// Every mail.
    pub(crate) const ALL: [Self; 5] = [
        Self::Verify,
        Self::AlreadyIn,
        Self::Welcome,
        Self::LeadConfirmation,
        Self::LeadNotify,
    ];

    /// The name its template has in a campaign file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::AlreadyIn => "already_in",
            Self::Welcome => "welcome",
            Self::LeadConfirmation => "lead_confirmation",
            Self::LeadNotify => "lead_notify",
        }
    }

    /// Its outbox entries' type: `mail.` and its name.
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            Self::Verify => "mail.verify",
            Self::AlreadyIn => "mail.already_in",
            Self::Welcome => "mail.welcome",
            Self::LeadConfirmation => "mail.lead_confirmation",
            Self::LeadNotify => "mail.lead_notify",
        }
    }

    /// The mail an outbox entry's type names.
    pub(crate) fn of_event_type(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.event_type() == event_type)
    }

    /// Whether it is marketing (consent needed, `List-Unsubscribe`), not
    /// transactional.
    pub(crate) fn marketing(self) -> bool {
        self == Self::Welcome
    }
}

/// What a mail entry holds: who it goes to and what its template is
/// given. Links are made when it is sent, from ids, so that the entry
/// holds no token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MailData {
    /// The recipient's address.
    pub(crate) to: String,
    /// Their preferred locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) locale: Option<String>,
    /// Their name.
    #[serde(default)]
    pub(crate) name: String,
    /// The user it is about (verify, welcome, already in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) master_id: Option<Uuid>,
    /// Their referral code (welcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) referral_code: Option<String>,
    /// The lead it is about (confirmation, notification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lead_id: Option<Uuid>,
    /// The lead, for the team's mail (read when it is sent, never stored).
    #[serde(skip)]
    pub(crate) lead: Option<Value>,
}

fn entry(campaign: &Campaign, kind: MailKind, data: &MailData) -> NewOutbox {
    let payload = serde_json::to_value(data).unwrap_or(Value::Null);
    NewOutbox::mail(campaign, kind.event_type(), &data.to, payload)
}

fn about(user: &User) -> MailData {
    MailData {
        to: user.email.clone(),
        locale: user.locale.clone(),
        name: user.display_name.clone(),
        master_id: Some(user.master_id),
        ..MailData::default()
    }
}

/// The mail verifying `user`'s email.
pub(crate) fn verify(campaign: &Campaign, user: &User) -> NewOutbox {
    entry(campaign, MailKind::Verify, &about(user))
}

/// The mail telling `user`'s address that it joined already.
pub(crate) fn already_in(campaign: &Campaign, user: &User) -> NewOutbox {
    entry(campaign, MailKind::AlreadyIn, &about(user))
}

/// The welcome mail of `user`, if the campaign sends one and `user` may
/// get marketing mail: the consent the join form asks was given (its
/// version, the campaign's current one), and not withdrawn.
pub(crate) fn welcome(campaign: &Campaign, user: &User) -> Option<NewOutbox> {
    let rules = &campaign.config.forms.join;
    let consented = match &rules.consent {
        None => true,
        Some(version) => user.consent.as_ref().is_some_and(|c| &c.version == version),
    };
    if !campaign.config.mail.welcome || !consented || user.unsubscribed_at.is_some() {
        return None;
    }
    let data = MailData {
        referral_code: Some(user.referral_code.clone()),
        ..about(user)
    };
    Some(entry(campaign, MailKind::Welcome, &data))
}

/// The mails of a new lead: its confirmation to the submitter (unless
/// the campaign sends none) and a notification to each of the team's
/// addresses (`config.notify.leads`). They hold the lead's id, not its
/// content: it is read when they are sent.
pub(crate) fn lead_mails(campaign: &Campaign, lead: &Lead, locale: Option<&str>) -> Vec<NewOutbox> {
    let mut mails = Vec::new();
    if campaign.config.mail.lead_confirmation {
        let data = MailData {
            to: lead.email.clone(),
            locale: locale.map(str::to_owned),
            lead_id: Some(lead.id),
            ..MailData::default()
        };
        mails.push(entry(campaign, MailKind::LeadConfirmation, &data));
    }
    for address in &campaign.config.notify.leads {
        let data = MailData {
            to: address.clone(),
            lead_id: Some(lead.id),
            ..MailData::default()
        };
        mails.push(entry(campaign, MailKind::LeadNotify, &data));
    }
    mails
}

/// What the team's mail shows of `lead`.
pub(crate) fn lead_summary(lead: &Lead) -> Value {
    serde_json::json!({
        "id": lead.id,
        "name": lead.name,
        "email": lead.email,
        "company": lead.company,
        "phone": lead.phone,
        "budget": lead.budget,
        "message": lead.message,
        "details": lead.details,
    })
}
