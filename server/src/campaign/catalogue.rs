//! What a campaign's front end talks to: its endpoints, written once (its
//! live event types are [`crate::model::events`]). Campaign documents
//! (`docs/campaign/NNN_name.md`) are generated from both, and a test holds
//! this list against the router (every endpoint listed is served).

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
        what: "join: `{campaign, email, name, locale?, referral_code?, consent?, captcha_token?}` (and the campaign's honeypot field, which people leave blank)",
    },
    Endpoint {
        method: "POST",
        path: "/api/verify",
        who: "anyone (the link's token)",
        what: "verify a join's email: `{token}` from the mailed link (`GET /v/{token}` redirects to the verify page with `?verify=`) → `{status, campaign, token}`",
    },
    Endpoint {
        method: "POST",
        path: "/api/unsubscribe/{token}",
        who: "anyone (the link's token)",
        what: "one-click unsubscribe from marketing mail (the `List-Unsubscribe` of a welcome mail)",
    },
    Endpoint {
        method: "GET",
        path: "/api/quote/{id}/status",
        who: "anyone (`?sig=` from the confirmation mail)",
        what: "one lead's status, read-only: `{id, campaign, status, created_at, updated_at}`",
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
        what: "send a lead: `{campaign, name, email, message, company?, phone?, budget?, details?, consent?, locale?, captcha_token?}` (and the campaign's honeypot field, left blank)",
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
        what: "referrals with their status and fraud signals (`?status=` counted by default, flagged, rejected, all), cursor pages; `?format=csv` exports them all",
    },
    Endpoint {
        method: "POST",
        path: "/api/campaign/{slug}/referrals/review",
        who: "an editor key",
        what: "`{ids, decision}`: approve (it counts from now) or reject (final) flagged referrals, audited",
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
    Endpoint {
        method: "GET",
        path: "/api/spam",
        who: "a viewer key",
        what: "what the bot defence held or marked (`?campaign=`; `&state=` held, released or passed), newest first, with the counts of each state",
    },
    Endpoint {
        method: "POST",
        path: "/api/spam/{id}/release",
        who: "an editor key",
        what: "not spam: the held join or lead is replayed as if it had just arrived",
    },
];
