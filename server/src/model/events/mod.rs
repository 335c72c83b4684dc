//! The server's own live event types, written once: each one's name, who
//! receives it, its data, what it means and when a campaign sends it.
//!
//! Everything else is derived from [`BUILT_IN`]: the publishers name their
//! events with these constants (and build their data with the types of
//! [`payload`]), a campaign may not declare these names
//! ([`super::campaign::event_types::validate`]), the event catalogue of `GET
//! /api/campaign/{slug}/event-types` and of the campaign documents
//! (`docs/campaign/*.md`) lists them, the README's event table is
//! [`markdown_table`], and the API description's `x-events` comes from here.
//! A test (`server/tests/api/event_catalogue.rs`) fails when one of those, or
//! the browser client's list (`web-client/src/ovasabi.js`), disagrees.
//!
//! # Layout
//! - [`BuiltIn`], [`Audience`]: one event type and who receives it.
//! - [`PRESENCE`] … [`RESET`], [`BUILT_IN`]: the event types, in the order the
//!   documents list them.
//! - [`BROWSER_NAMES`], [`TEAM_PREFIX`]: the other names a campaign's own
//!   types may not take.
//! - [`payload`]: the data of each JSON event, as a type.

pub(crate) mod payload;

use std::fmt::Write;

use salvo_oapi::schema::Schema;
use salvo_oapi::{Components, RefOr, ToSchema};
use serde::Serialize;

pub(crate) use payload::Payload;

/// When a campaign sends a built-in event type: always, or while a part of
/// its configuration is on (`CampaignConfig::sends` reads which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// By every campaign.
    Always,
    /// With `config.milestones` declared.
    Milestones,
    /// With `config.events.public_leads`.
    PublicLeads,
    /// With `config.leaderboard.enabled`.
    Leaderboard,
    /// With `config.cursor.enabled`.
    Cursors,
    /// With `config.presence.members`.
    PresenceMembers,
}

/// Who receives an event of a built-in type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every visitor of the campaign (a public event of the bus).
    Public,
    /// One session: the one the event is about (a private event of the bus).
    Session,
    /// The campaign's team: streams opened with a key that may see the
    /// campaign.
    Team,
    /// The one connection it is written to; never on the bus.
    Connection,
}

/// One built-in live event type of a campaign's event stream.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    /// The SSE `event:` name.
    pub name: &'static str,
    /// Who receives it.
    pub audience: Audience,
    /// Who receives it, in words (Markdown).
    pub who: &'static str,
    /// Its `data:` in words (Markdown): the JSON fields, or what the base64
    /// holds.
    pub data: &'static str,
    /// What it means and when it comes, beyond `data` (Markdown; may be
    /// empty).
    pub description: &'static str,
    /// When a campaign sends it, in words (Markdown): empty for always, else
    /// such as ``if `config.leaderboard.enabled` `` or ``with `?cursors=1` ``.
    pub condition: &'static str,
    /// When a campaign sends it.
    pub sent: Sent,
    /// Whether the browser client (`web-client/src/ovasabi.js`) lists it in
    /// `EVENT_TYPES` and types its data in `CampaignEvents`: the campaign
    /// events a page shows. The stream's own (`presence`, `reset`, the
    /// cursor and member frames) the client turns into events of its own;
    /// the team's it does not listen for.
    pub browser_client: bool,
    /// The schema of its JSON data (its [`payload`] type's), for the API
    /// description; `None` for the base64 frames.
    pub schema: Option<fn(&mut Components) -> RefOr<Schema>>,
}

/// The campaign's active visitors.
pub const PRESENCE: BuiltIn = BuiltIn {
    name: "presence",
    audience: Audience::Connection,
    who: "everyone",
    data: "`{active}`: distinct visitors on every instance",
    description: "sessions, not connections; the first message of every stream, then on change, at most 4 per second",
    condition: "",
    sent: Sent::Always,
    browser_client: false,
    schema: Some(<payload::Presence as ToSchema>::to_schema),
};

/// A user joined.
pub(crate) const USER_JOINED: BuiltIn = BuiltIn {
    name: "user.joined",
    audience: Audience::Public,
    who: "everyone",
    data: "`{display_name}`",
    description: "a user joined the campaign",
    condition: "",
    sent: Sent::Always,
    browser_client: true,
    schema: Some(<payload::UserJoined as ToSchema>::to_schema),
};

/// A referrer reached a milestone.
pub(crate) const REFERRAL_MILESTONE: BuiltIn = BuiltIn {
    name: "referral.milestone",
    audience: Audience::Public,
    who: "everyone",
    data: "`{user, count, milestone}`",
    description: "a referrer's count reached one of `config.milestones` (announced once)",
    // A campaign lists 1 to 32 milestones (validated), so it always sends it.
    condition: "",
    sent: Sent::Milestones,
    browser_client: true,
    schema: Some(<payload::ReferralMilestone as ToSchema>::to_schema),
};

/// A lead came in, said to everyone without anything personal.
pub(crate) const LEAD_CREATED: BuiltIn = BuiltIn {
    name: "lead.created",
    audience: Audience::Public,
    who: "everyone",
    data: "`{service, created_at}` (nothing personal)",
    description: "a lead came in",
    condition: "if `config.events.public_leads`",
    sent: Sent::PublicLeads,
    browser_client: true,
    schema: Some(<payload::LeadCreated as ToSchema>::to_schema),
};

/// The top referrers changed.
pub(crate) const LEADERBOARD: BuiltIn = BuiltIn {
    name: "leaderboard",
    audience: Audience::Public,
    who: "everyone",
    data: "`{seq, top: [{display_name, count}]}` when the top N changed (at most once a second)",
    description: "`seq` grows with every change, so a page can ignore one that arrives after a newer one",
    condition: "if `config.leaderboard.enabled`",
    sent: Sent::Leaderboard,
    browser_client: true,
    schema: Some(<payload::Leaderboard as ToSchema>::to_schema),
};

/// The campaign opened or closed.
pub(crate) const CAMPAIGN_STATUS: BuiltIn = BuiltIn {
    name: "campaign.status",
    audience: Audience::Public,
    who: "everyone",
    data: "`{status, open, starts_at, ends_at}` when the campaign opens or closes",
    description: "its status changed, or it reached `starts_at` / `ends_at`; its forms follow at once",
    condition: "",
    sent: Sent::Always,
    browser_client: true,
    schema: Some(<payload::CampaignStatus as ToSchema>::to_schema),
};

/// A lead's status changed, told to the session that sent it.
pub(crate) const LEAD_STATUS: BuiltIn = BuiltIn {
    name: "lead.status",
    audience: Audience::Session,
    who: "the session that sent the lead",
    data: "`{quote_id, status}`",
    description: "the campaign's team moved the lead",
    condition: "",
    sent: Sent::Always,
    browser_client: true,
    schema: Some(<payload::LeadStatus as ToSchema>::to_schema),
};

/// A lead came in or moved, told to the team.
pub(crate) const TEAM_LEAD: BuiltIn = BuiltIn {
    name: "team.lead",
    audience: Audience::Team,
    who: "the campaign's team (a stream opened with a key that may see it)",
    data: "`{id, status, previous?, at}`: a lead came in or moved (ids and states only; details from `GET /api/quote`)",
    description: "the team's stream is opened with `Authorization: Bearer <key>` and is not counted as a visitor",
    condition: "",
    sent: Sent::Always,
    browser_client: false,
    schema: Some(<payload::TeamLead as ToSchema>::to_schema),
};

/// Where an outbox entry stands, told to the team.
pub(crate) const TEAM_DELIVERY: BuiltIn = BuiltIn {
    name: "team.delivery",
    audience: Audience::Team,
    who: "the campaign's team",
    data: "`{id, event_type, target, state, attempts, last_error}`: an outbox entry was delivered, failed (`retrying`, `dead`) or put back in line (`pending`)",
    description: "",
    condition: "",
    sent: Sent::Always,
    browser_client: false,
    schema: Some(<payload::TeamDelivery as ToSchema>::to_schema),
};

/// What the bot defence caught, told to the team.
pub(crate) const TEAM_SPAM: BuiltIn = BuiltIn {
    name: "team.spam",
    audience: Audience::Team,
    who: "the campaign's team",
    data: "`{id, form, reason, state, at}`: a join or lead was held as spam, let through marked (the CAPTCHA provider down) or released (details from `GET /api/spam`)",
    description: "",
    condition: "",
    sent: Sent::Always,
    browser_client: false,
    schema: Some(<payload::TeamSpam as ToSchema>::to_schema),
};

/// A cursor frame, on the event stream (the cursor channel's fallback).
pub(crate) const CURSORS: BuiltIn = BuiltIn {
    name: "cursors",
    audience: Audience::Connection,
    who: "that connection",
    data: "a cursor frame (base64 of `protocol::Frame`), with `?cursors=1`",
    description: "the SSE fallback of the cursor channel (`protocol/README.md`)",
    condition: "with `?cursors=1&page=…`, if `config.cursor.enabled`",
    sent: Sent::Cursors,
    browser_client: false,
    schema: None,
};

/// Who the cursors are, on the event stream.
pub(crate) const ROSTER: BuiltIn = BuiltIn {
    name: "roster",
    audience: Audience::Connection,
    who: "that connection",
    data: "who the cursors are (base64 of `protocol::Roster`: own id, colours, names), with `?cursors=1&v=2`",
    description: "first on joining the page's room, then as members come and go (`protocol/README.md`)",
    condition: "with `?cursors=1&v=2&page=…`, if `config.cursor.enabled`",
    sent: Sent::Cursors,
    browser_client: false,
    schema: None,
};

/// Who is connected to the campaign.
pub(crate) const MEMBERS: BuiltIn = BuiltIn {
    name: "members",
    audience: Audience::Connection,
    who: "that connection",
    data: "who is connected to the campaign (base64 of `protocol::Roster`: own id, colours, names, pages), with `?members=1`",
    description: "first up to 200 of them, then who joined and left, at most 4 times a second, across instances; names of joined users if `config.cursor.names`, pages if `config.presence.pages`",
    condition: "with `?members=1&page=…`, if `config.presence.members`",
    sent: Sent::PresenceMembers,
    browser_client: false,
    schema: None,
};

/// A fresh snapshot after missed events.
pub const RESET: BuiltIn = BuiltIn {
    name: "reset",
    audience: Audience::Connection,
    who: "that connection",
    data: "`{active}`: a fresh snapshot after missed events",
    description: "the connection missed events it cannot get back (the history no longer reaches back that far, or it fell behind)",
    condition: "",
    sent: Sent::Always,
    browser_client: false,
    schema: Some(<payload::Presence as ToSchema>::to_schema),
};

/// Every built-in event type, in the order the documents list them.
pub const BUILT_IN: &[BuiltIn] = &[
    PRESENCE,
    USER_JOINED,
    REFERRAL_MILESTONE,
    LEAD_CREATED,
    LEADERBOARD,
    CAMPAIGN_STATUS,
    LEAD_STATUS,
    TEAM_LEAD,
    TEAM_DELIVERY,
    TEAM_SPAM,
    CURSORS,
    ROSTER,
    MEMBERS,
    RESET,
];

/// The names `EventSource` and the browser client use for their own events;
/// no event type, built-in or a campaign's own, takes them.
pub const BROWSER_NAMES: &[&str] = &["message", "error", "event", "status", "open"];

/// What the names of the team's events (`team.lead`, `team.delivery`, `team.spam`)
/// begin with; no campaign type may.
pub const TEAM_PREFIX: &str = "team.";

/// The built-in event type named `name`.
pub(crate) fn built_in(name: &str) -> Option<&'static BuiltIn> {
    BUILT_IN.iter().find(|event| event.name == name)
}

/// The README's event table (between `<!-- events:begin -->` and
/// `<!-- events:end -->`): every built-in type with what it means and when
/// it is sent, and a row for the campaign's own before the team's.
pub fn markdown_table() -> String {
    let mut table = String::from("| event | data | who gets it |\n|---|---|---|\n");
    let own = "| *the campaign's own* | as declared in `config.event_types` | everyone, or the one session named |\n";
    let mut own_written = false;
    for event in BUILT_IN {
        if event.audience == Audience::Team && !own_written {
            table.push_str(own);
            own_written = true;
        }
        let description = if event.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", event.description)
        };
        let condition = if event.condition.is_empty() {
            String::new()
        } else {
            format!(", {}", event.condition)
        };
        let _ = writeln!(
            table,
            "| `{}` | {}{description} | {}{condition} |",
            event.name, event.data, event.who
        );
    }
    if !own_written {
        table.push_str(own);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_their_audience_is_their_prefix() {
        for (i, event) in BUILT_IN.iter().enumerate() {
            assert!(
                BUILT_IN[..i].iter().all(|e| e.name != event.name),
                "{} twice",
                event.name
            );
            assert!(!BROWSER_NAMES.contains(&event.name), "{}", event.name);
            assert_eq!(
                event.name.starts_with(TEAM_PREFIX),
                event.audience == Audience::Team,
                "{}: the team's events, and only they, are named team.…",
                event.name
            );
            assert!(
                !(event.browser_client && event.audience == Audience::Team),
                "{}",
                event.name
            );
        }
        assert_eq!(built_in("leaderboard").map(|e| e.name), Some("leaderboard"));
        assert!(built_in("message").is_none());
    }
}
