//! What the campaign team reads back (admin): `GET
//! /api/campaign/{slug}/participants`, `…/referrals` and `…/funnel`; the
//! lists in cursor pages (`next_cursor`, signed: a changed one is refused)
//! or, with `Accept: text/csv` or `?format=csv`, the whole list as CSV,
//! streamed a page at a time (never built in memory). The leads' export
//! (`GET /api/quote?format=csv`) uses the same machinery.

use super::export::{
    ATTRIBUTION_HEADER, Export, attribution_cells, cell, opt, stream_csv, time, wants_csv,
};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiError, MAX_PAGE, query_u32, state};
use crate::model::attribution::{Attribution, Consent};
use crate::model::referral::ReferralStatus;
use crate::model::report::{
    FunnelRow, Participant, ParticipantFilter, ParticipantSort, Position, Referral, ReferralFilter,
};
use crate::model::schema::ListFormat;
use crate::model::team::Role;
use crate::request::answers;
use crate::request::{query_bool, query_time, team_campaign};
use crate::state::AppState;

/// Routes of this resource, under `api/campaign/{slug}`.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("participants").get(participants))
        .push(Router::with_path("referrals").get(referrals))
        .push(Router::with_path("funnel").get(funnel))
}

/// What a list cursor holds: which list and order it pages, and where the
/// last page ended.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    list: String,
    after: Position,
}

const CURSOR_PURPOSE: &[u8] = b"ovasabi list cursor v1";

fn seal_cursor(state: &AppState, list: &str, after: Position) -> String {
    let cursor = Cursor {
        list: list.to_owned(),
        after,
    };
    let json = serde_json::to_vec(&cursor).expect("a cursor serializes");
    state.sessions.seal(CURSOR_PURPOSE, &json)
}

/// The position the `cursor` query parameter continues from; 422
/// `invalid_cursor` when it was changed, or made for another list or order.
fn cursor_query(req: &Request, state: &AppState, list: &str) -> Result<Option<Position>, ApiError> {
    let Some(raw) = req.query::<String>("cursor") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::Unprocessable {
        code: "invalid_cursor",
        message: "this cursor is not one this list handed out (changed, or of another list or order): start again without it".into(),
        field: Some("cursor".into()),
    }
    };
    let json = state
        .sessions
        .unseal(CURSOR_PURPOSE, &raw)
        .ok_or_else(invalid)?;
    let cursor: Cursor = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if cursor.list != list {
        return Err(invalid());
    }
    Ok(Some(cursor.after))
}

/// A participant as the team reads it.
#[derive(Debug, Serialize, ToSchema)]
#[salvo(schema(name = Participant))]
pub(crate) struct ParticipantRow {
    /// The user's id.
    pub master_id: Uuid,
    /// Name shown in public events.
    pub display_name: String,
    /// Lower-cased email.
    pub email: String,
    /// Preferred locale.
    pub locale: Option<String>,
    /// The user's own referral code.
    pub referral_code: String,
    /// Referrals credited to them.
    #[salvo(schema(minimum = 0))]
    pub referral_count: i64,
    /// Who referred them.
    pub referred_by: Option<Uuid>,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// When their email was verified: null while the join waits for it
    /// (it counts nowhere public until then).
    pub verified_at: Option<DateTime<Utc>>,
    /// When they refused marketing mail.
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// The consent given when joining, if the campaign asked for it.
    pub consent: Option<Consent>,
    /// The first touch of the session they joined from.
    pub attribution: Attribution,
}

impl From<&Participant> for ParticipantRow {
    fn from(p: &Participant) -> Self {
        let u = &p.user;
        Self {
            master_id: u.master_id,
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            locale: u.locale.clone(),
            referral_code: u.referral_code.clone(),
            referral_count: p.referral_count,
            referred_by: u.referred_by,
            joined_at: u.created_at,
            verified_at: u.verified_at,
            unsubscribed_at: u.unsubscribed_at,
            consent: u.consent.clone(),
            attribution: p.attribution.clone(),
        }
    }
}

/// Body of `GET /api/campaign/{slug}/participants` (as JSON).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParticipantPage {
    /// The page of participants.
    pub participants: Vec<ParticipantRow>,
    /// The next page's `cursor`; null after the last.
    pub next_cursor: Option<String>,
}

/// Body of `GET /api/campaign/{slug}/referrals` (as JSON).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReferralPage {
    /// The page of referrals.
    pub referrals: Vec<Referral>,
    /// The next page's `cursor`; null after the last.
    pub next_cursor: Option<String>,
}

/// Body of `GET /api/campaign/{slug}/funnel`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Funnel {
    /// From.
    pub since: DateTime<Utc>,
    /// To.
    pub until: DateTime<Utc>,
    /// One row per source.
    pub sources: Vec<FunnelRow>,
    /// The sum of the sources (source `(all)`).
    pub total: FunnelRow,
}

fn participant_position(p: &Participant) -> Position {
    Position {
        count: Some(p.referral_count),
        at: p.user.created_at,
        id: p.user.master_id.to_string(),
    }
}

fn participant_cells(p: &Participant) -> Vec<String> {
    let u = &p.user;
    let mut cells = vec![
        u.master_id.to_string(),
        cell(&u.email),
        cell(&u.display_name),
        opt(&u.locale),
        time(&u.created_at),
        u.referral_code.clone(),
        p.referral_count.to_string(),
        u.referred_by.map(|id| id.to_string()).unwrap_or_default(),
        u.consent
            .as_ref()
            .map(|c| cell(&c.version))
            .unwrap_or_default(),
        u.consent.as_ref().map(|c| time(&c.at)).unwrap_or_default(),
    ];
    cells.extend(attribution_cells(&p.attribution));
    cells
}

const PARTICIPANT_HEADER: [&str; 10] = [
    "master_id",
    "email",
    "display_name",
    "locale",
    "joined_at",
    "referral_code",
    "referral_count",
    "referred_by",
    "consent_version",
    "consent_at",
];

/// Longest search prefix, in characters.
const MAX_SEARCH: usize = 254;

/// Who joined, with referral counts, consent and first touch (viewer)
///
/// Cursor pages (`limit`, `cursor`), or with `?format=csv` (or `Accept:
/// text/csv`) every participant as CSV, streamed.
#[endpoint(
    tags("reports"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("joined_since" = Option<DateTime<Utc>>, Query, description = "Joined at or after (RFC 3339)"),
        ("joined_until" = Option<DateTime<Utc>>, Query, description = "Joined before (RFC 3339)"),
        ("has_referrals" = Option<bool>, Query, description = "With at least one referral (`true`) or none (`false`)"),
        ("search" = Option<String>, Query, max_length = 254, description = "A prefix of the email or the display name (compared as emails are)"),
        ("sort" = Option<ParticipantSort>, Query, description = "Oldest join first (default), newest first, or most referrals first"),
        ("limit" = Option<u32>, Query, maximum = 500, description = "Rows per page (default 100; 0 is 1)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before (opaque and signed: a changed one is 422 `invalid_cursor`)"),
        ("format" = Option<ListFormat>, Query, description = "`csv`: the whole list as CSV (also chosen by `Accept: text/csv` without `format=json`)"),
    ),
    responses(
        (status_code = 200, description = "A page of participants, or every one as CSV (every participant matching the filters, in the order asked, with attribution)", content(("application/json" = ParticipantPage), ("text/csv" = String))),
        answers::TeamList,
    )
)]
async fn participants(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Viewer).await?;
    let sort = match req.query::<String>("sort") {
        None => ParticipantSort::JoinedAsc,
        Some(raw) => ParticipantSort::parse(&raw).ok_or_else(|| {
            ApiError::invalid_field("sort", "must be joined_at, -joined_at or -referrals")
        })?,
    };
    let search = req
        .query::<String>("search")
        .map(|s| crate::model::text::canonical_email(&s))
        .filter(|s| !s.is_empty());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH)
    {
        return Err(ApiError::invalid_field(
            "search",
            format!("must be at most {MAX_SEARCH} characters"),
        ));
    }
    let filter = ParticipantFilter {
        joined_since: query_time(req, "joined_since")?,
        joined_until: query_time(req, "joined_until")?,
        has_referrals: query_bool(req, "has_referrals")?,
        search,
    };
    let store = state.store.clone();
    let id = campaign.id;
    let mut header = PARTICIPANT_HEADER.to_vec();
    header.extend(ATTRIBUTION_HEADER);
    let export = Export {
        filename: format!("participants-{}.csv", campaign.slug),
        header,
        page: Box::new(move |after, limit| {
            let (store, filter) = (store.clone(), filter.clone());
            Box::pin(async move {
                store
                    .participants(id, &filter, sort, after.as_ref(), limit)
                    .await
            })
        }),
        position: participant_position,
        cells: participant_cells,
    };
    let list = format!("participants:{id}:{sort:?}");
    serve_list(req, res, &state, &list, export, |rows, next_cursor| {
        ParticipantPage {
            participants: rows.iter().map(ParticipantRow::from).collect(),
            next_cursor,
        }
    })
    .await
}

/// Answers a list request with `export`: the page of rows after the
/// request's `cursor`, with the cursor of the next page, as JSON (`page`
/// makes the body); or, asked for CSV, every row after the cursor (`limit`
/// is for pages; both are checked either way). `list` names the list in its
/// cursors.
async fn serve_list<T: Send + 'static, P: Serialize + Send>(
    req: &Request,
    res: &mut Response,
    state: &Arc<AppState>,
    list: &str,
    mut export: Export<T>,
    page: fn(&[T], Option<String>) -> P,
) -> Result<(), ApiError> {
    let limit = query_u32(req, "limit", 100, MAX_PAGE)?.max(1);
    let after = cursor_query(req, state, list)?;
    if wants_csv(req)? {
        return stream_csv(res, export, after).await;
    }
    let rows = (export.page)(after, limit).await?;
    let next = next_cursor(state, list, &rows, limit, export.position);
    res.render(Json(page(&rows, next)));
    Ok(())
}

/// The cursor of the page after `rows`, when it was full.
fn next_cursor<T>(
    state: &Arc<AppState>,
    list: &str,
    rows: &[T],
    limit: u32,
    position: fn(&T) -> Position,
) -> Option<String> {
    (rows.len() == limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|last| seal_cursor(state, list, position(last)))
}

fn referral_position(r: &Referral) -> Position {
    Position {
        count: None,
        at: r.created_at,
        id: r.id.to_string(),
    }
}

fn referral_cells(r: &Referral) -> Vec<String> {
    vec![
        r.id.to_string(),
        time(&r.created_at),
        r.referrer_id.to_string(),
        cell(&r.referrer_name),
        cell(&r.referrer_email),
        r.referred_id.to_string(),
        cell(&r.referred_name),
        cell(&r.referred_email),
        r.code.clone(),
        r.status.as_str().to_owned(),
        r.signals
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    ]
}

/// Referrals, oldest first (viewer)
///
/// The counted ones unless `status` says (`flagged`: waiting for review,
/// with the signals each raised; `rejected`; `all`). Cursor pages
/// (`limit`, `cursor`), or with `?format=csv` (or `Accept: text/csv`)
/// every referral as CSV, streamed.
#[endpoint(
    tags("reports"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("since" = Option<DateTime<Utc>>, Query, description = "Made at or after (RFC 3339)"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Made before (RFC 3339)"),
        ("referrer" = Option<Uuid>, Query, description = "Of this referrer (a user's master_id) only"),
        ("status" = Option<String>, Query, description = "`counted` (the default), `flagged`, `rejected` or `all`"),
        ("limit" = Option<u32>, Query, maximum = 500, description = "Rows per page (default 100; 0 is 1)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before (opaque and signed: a changed one is 422 `invalid_cursor`)"),
        ("format" = Option<ListFormat>, Query, description = "`csv`: the whole list as CSV (also chosen by `Accept: text/csv` without `format=json`)"),
    ),
    responses(
        (status_code = 200, description = "A page of referrals, or every one (matching the filters) as CSV", content(("application/json" = ReferralPage), ("text/csv" = String))),
        answers::TeamList,
    )
)]
async fn referrals(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Viewer).await?;
    let referrer = req
        .query::<String>("referrer")
        .map(|raw| {
            Uuid::parse_str(&raw)
                .map_err(|_| ApiError::invalid_field("referrer", "must be a user's master_id"))
        })
        .transpose()?;
    let status = match req.query::<String>("status").as_deref() {
        None => Some(ReferralStatus::Counted),
        Some("all") => None,
        Some(raw) => Some(ReferralStatus::parse(raw).ok_or_else(|| {
            ApiError::invalid_field("status", "must be counted, flagged, rejected or all")
        })?),
    };
    let filter = ReferralFilter {
        since: query_time(req, "since")?,
        until: query_time(req, "until")?,
        referrer,
        status,
    };
    let store = state.store.clone();
    let id = campaign.id;
    let export = Export {
        filename: format!("referrals-{}.csv", campaign.slug),
        header: vec![
            "id",
            "created_at",
            "referrer_id",
            "referrer_name",
            "referrer_email",
            "referred_id",
            "referred_name",
            "referred_email",
            "code",
            "status",
            "signals",
        ],
        page: Box::new(move |after, limit| {
            let (store, filter) = (store.clone(), filter.clone());
            Box::pin(async move { store.referrals(id, &filter, after.as_ref(), limit).await })
        }),
        position: referral_position,
        cells: referral_cells,
    };
    let list = format!("referrals:{id}");
    serve_list(req, res, &state, &list, export, |rows, next_cursor| {
        ReferralPage {
            referrals: rows.to_vec(),
            next_cursor,
        }
    })
    .await
}

/// Visitors, joins and leads per source over a period (viewer)
///
/// From `since` (default: the campaign's start or creation, whichever is
/// earlier) to `until` (default: now); `until` before `since` is 422.
#[endpoint(
    tags("reports"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("since" = Option<DateTime<Utc>>, Query, description = "From (RFC 3339)"),
        ("until" = Option<DateTime<Utc>>, Query, description = "To (RFC 3339); not before `since`"),
    ),
    responses(
        (status_code = 200, description = "The funnel", body = Funnel),
        answers::TeamList,
    )
)]
async fn funnel(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Viewer).await?;
    let since = query_time(req, "since")?.unwrap_or_else(|| {
        campaign
            .starts_at
            .unwrap_or(campaign.created_at)
            .min(campaign.created_at)
    });
    let until = query_time(req, "until")?.unwrap_or_else(Utc::now);
    if until < since {
        return Err(ApiError::invalid_field("until", "must not be before since"));
    }
    let sources = state.store.funnel(campaign.id, since, until).await?;
    let total = sources.iter().fold(
        FunnelRow {
            source: "(all)".into(),
            ..Default::default()
        },
        |mut total, row| {
            total.visitors += row.visitors;
            total.joins += row.joins;
            total.leads += row.leads;
            total
        },
    );
    res.render(Json(Funnel {
        since,
        until,
        sources,
        total,
    }));
    Ok(())
}
