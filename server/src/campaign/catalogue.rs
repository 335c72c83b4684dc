//! What a campaign's front end talks to: its endpoints and its live event
//! types, written once. Campaign documents (`docs/campaign/NNN_name.md`)
//! are generated from it, and a test holds it against the router (every
//! endpoint listed is served).

use crate::model::campaign::CampaignConfig;

/// One endpoint a campaign page or its team uses.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The path, `{slug}` standing for the campaign's.
    pub path: &'static str,
    /// Who may call it.
    pub who: &'static str,
    /// What it does, with its body (`campaign` is the slug).
    pub what: &'static str,
}

/// The endpoints of a campaign, in the order a page meets them.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/api/session",
        who: "anyone",
        what: "`{campaign}` → an anonymous visitor session `{session_id, token, expires_at}`",
    },
    Endpoint {
        method: "POST",
        path: "/api/connect",
        who: "session token",
        what: "`{campaign}` → a connect ticket for the live channels, valid one minute",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/events",
        who: "anyone (`?ticket=` names the session)",
        what: "the live event stream (SSE); `?cursors=1&page=/` adds cursor frames",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/webtransport",
        who: "session token",
        what: "where to open the cursor channel (WebTransport) for `?page=`",
    },
    Endpoint {
        method: "POST",
        path: "/api/campaign/{slug}/cursor",
        who: "session token",
        what: "cursor fallback uplink for `?page=` (with an event stream open with `?cursors=1`)",
    },
    Endpoint {
        method: "POST",
        path: "/api/user/register",
        who: "anyone",
        what: "join: `{campaign, email, name, locale?, referral_code?}`",
    },
    Endpoint {
        method: "POST",
        path: "/api/referral",
        who: "user token",
        what: "`{campaign, code}`: credit a friend's referral code",
    },
    Endpoint {
        method: "POST",
        path: "/api/quote",
        who: "anyone (token optional)",
        what: "send a lead: `{campaign, name, email, message, company?, phone?, budget?, details?}`",
    },
    Endpoint {
        method: "GET",
        path: "/api/me",
        who: "session token",
        what: "the caller's own standing: profile, referral code and count, next milestone, own quotes (a visitor: the session's quotes)",
    },
    Endpoint {
        method: "PATCH",
        path: "/api/me",
        who: "user token",
        what: "`{display_name?, locale?}`: change one's profile",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/leaderboard",
        who: "anyone (when `config.leaderboard.enabled`)",
        what: "`?limit=`: top referrers `{top: [{display_name, count}]}`",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/event-types",
        who: "anyone",
        what: "the live event catalogue: built-in types and the campaign's own (`config.event_types`)",
    },
    Endpoint {
        method: "POST",
        path: "/api/campaign/{slug}/events",
        who: "an editor key (back office)",
        what: "`{type, data, recipient?}`: publish one of the campaign's own event types",
    },
    Endpoint {
        method: "POST",
        path: "/api/translate",
        who: "anyone",
        what: "`{campaign, target, texts}`: the page's strings in one of the campaign's locales",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}",
        who: "anyone (drafts: its team)",
        what: "the campaign",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/metrics",
        who: "anyone (its team: every figure and `series`)",
        what: "the figures of `config.public_metrics` (`{active}` by default); its team gets `{active, users, leads, referrals, series}`",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/participants",
        who: "a viewer key",
        what: "who joined: filters, `sort`, cursor pages; `?format=csv` exports them all",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/referrals",
        who: "a viewer key",
        what: "credited referrals, cursor pages; `?format=csv` exports them all",
    },
    Endpoint {
        method: "GET",
        path: "/api/campaign/{slug}/funnel",
        who: "a viewer key",
        what: "visitors → joins → leads per source (`?since=&until=`)",
    },
    Endpoint {
        method: "GET",
        path: "/api/quote",
        who: "a viewer key",
        what: "the campaign's leads (`?campaign=`), newest first; `?format=csv` exports them all, with attribution and consent",
    },
];

/// A live event type of a campaign's event stream.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    /// The SSE `event:` name.
    pub name: &'static str,
    /// Its `data:` (JSON).
    pub data: &'static str,
    /// Who receives it.
    pub who: &'static str,
    /// Whether the campaign's configuration sends it.
    pub sent: fn(&CampaignConfig) -> bool,
}

/// The event types, as the configuration decides them.
pub const EVENT_TYPES: &[EventType] = &[
    EventType {
        name: "presence",
        data: "`{active}`: distinct visitors on every instance",
        who: "everyone",
        sent: |_| true,
    },
    EventType {
        name: "user.joined",
        data: "`{display_name}`",
        who: "everyone",
        sent: |_| true,
    },
    EventType {
        name: "referral.milestone",
        data: "`{user, count, milestone}`",
        who: "everyone",
        sent: |config| !config.milestones.is_empty(),
    },
    EventType {
        name: "lead.created",
        data: "`{service, created_at}` (nothing personal)",
        who: "everyone",
        sent: |config| config.events.public_leads,
    },
    EventType {
        name: "leaderboard",
        data: "`{seq, top: [{display_name, count}]}` when the top N changed (at most once a second)",
        who: "everyone",
        sent: |config| config.leaderboard.enabled,
    },
    EventType {
        name: "campaign.status",
        data: "`{status, open, starts_at, ends_at}` when the campaign opens or closes",
        who: "everyone",
        sent: |_| true,
    },
    EventType {
        name: "lead.status",
        data: "`{quote_id, status}`",
        who: "the session that sent the lead",
        sent: |_| true,
    },
    EventType {
        name: "team.lead",
        data: "`{id, status, previous?, at}`: a lead came in or moved (ids and states only; details from `GET /api/quote`)",
        who: "the campaign's team (a stream opened with a key that may see it)",
        sent: |_| true,
    },
    EventType {
        name: "team.delivery",
        data: "`{id, event_type, target, state, attempts, last_error}`: an outbox entry was delivered, failed (`retrying`, `dead`) or put back in line (`pending`)",
        who: "the campaign's team",
        sent: |_| true,
    },
    EventType {
        name: "cursors",
        data: "a cursor frame (base64 of `protocol::Frame`), with `?cursors=1`",
        who: "that connection",
        sent: |config| config.cursor.enabled,
    },
    EventType {
        name: "roster",
        data: "who the cursors are (base64 of `protocol::Roster`: own id, colours, names), with `?cursors=1&v=2`",
        who: "that connection",
        sent: |config| config.cursor.enabled,
    },
    EventType {
        name: "members",
        data: "who is connected to the campaign (base64 of `protocol::Roster`: own id, colours, names, pages), with `?members=1`",
        who: "that connection",
        sent: |config| config.presence.members,
    },
    EventType {
        name: "reset",
        data: "`{active}`: a fresh snapshot after missed events",
        who: "that connection",
        sent: |_| true,
    },
];
