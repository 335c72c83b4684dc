//! What the campaign team reads back (admin): `GET
//! /api/campaign/{slug}/participants`, `…/referrals` and `…/funnel`; the
//! lists in cursor pages (`next_cursor`, signed: a changed one is refused)
//! or, with `Accept: text/csv` or `?format=csv`, the whole list as CSV,
//! streamed a page at a time (never built in memory). The leads' export
//! (`GET /api/quote?format=csv`) uses the same machinery.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, MAX_PAGE, query_u32, state};
use crate::model::attribution::{Attribution, Consent};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::report::{
    FunnelRow, Participant, ParticipantFilter, ParticipantSort, Position, Referral, ReferralFilter,
};
use crate::model::schema::ListFormat;
use crate::model::team::Role;
use crate::request::answers;
use crate::request::team_campaign;
use crate::state::AppState;
use crate::store::StoreError;

/// Routes of this resource, under `api/campaign/{slug}`.
pub fn router() -> Router {
    Router::new()
        .push(Router::with_path("participants").get(participants))
        .push(Router::with_path("referrals").get(referrals))
        .push(Router::with_path("funnel").get(funnel))
}

/// Rows one page of an export reads.
const EXPORT_PAGE: u32 = 500;

/// Whether the request asks for CSV (`?format=csv`, or `Accept: text/csv`
/// without `?format=json`); 422 for another `format`.
pub fn wants_csv(req: &Request) -> Result<bool, ApiError> {
    match req.query::<String>("format").as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::invalid_field("format", "must be json or csv")),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept.split(',').any(|part| {
                    part.split(';')
                        .next()
                        .is_some_and(|m| m.trim() == "text/csv")
                })
            })),
    }
}

/// An RFC 3339 time query parameter, if given; 422 naming it otherwise.
pub fn query_time(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    req.query::<String>(name)
        .map(|raw| rfc3339(name, &raw))
        .transpose()
}

/// `raw` as an RFC 3339 time; 422 naming `field` otherwise.
pub fn rfc3339(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                field,
                "must be an RFC 3339 time such as 2026-12-01T00:00:00Z",
            )
        })
}

fn query_bool(req: &Request, name: &str) -> Result<Option<bool>, ApiError> {
    match req.query::<String>(name).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_field(name, "must be true or false")),
    }
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

/// A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) gets a leading `'`, as OWASP advises.
pub(crate) fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn opt(text: &Option<String>) -> String {
    text.as_deref().map(cell).unwrap_or_default()
}

pub(crate) fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The attribution columns every export ends with.
const ATTRIBUTION_HEADER: [&str; 7] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
];

fn attribution_cells(a: &Attribution) -> [String; 7] {
    [
        opt(&a.utm_source),
        opt(&a.utm_medium),
        opt(&a.utm_campaign),
        opt(&a.utm_term),
        opt(&a.utm_content),
        opt(&a.referrer),
        opt(&a.landing_page),
    ]
}

/// One page of a list: its rows, after a position.
type PageFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<T>, StoreError>> + Send>>;

/// How an export reads and writes its rows.
pub struct Export<T> {
    /// The file name offered (`participants-<slug>.csv`).
    pub filename: String,
    /// The header row.
    pub header: Vec<&'static str>,
    /// A page of at most so many rows after a position.
    pub page: Box<dyn FnMut(Option<Position>, u32) -> PageFuture<T> + Send>,
    /// Where a row stands, to continue after it.
    pub position: fn(&T) -> Position,
    /// A row's cells.
    pub cells: fn(&T) -> Vec<String>,
}

/// Answers with `export` as CSV (the rows after `after`, or all), streamed a
/// page at a time. A failure after the first byte ends the stream early
/// (logged); before it, it is the answer.
pub async fn stream_csv<T: Send + 'static>(
    res: &mut Response,
    mut export: Export<T>,
    after: Option<Position>,
) -> Result<(), ApiError> {
    // The first page is read before answering, so that a failing database
    // is a 503 rather than an empty file.
    let first = (export.page)(after, EXPORT_PAGE).await?;
    let header = csv_bytes(std::iter::once(
        export.header.iter().map(|h| (*h).to_owned()).collect(),
    ));
    let filename = export.filename.clone();
    let stream = futures::stream::unfold(
        (Some(header), Some(first), export),
        |(header, pending, mut export)| async move {
            if let Some(header) = header {
                return Some((Ok(header), (None, pending, export)));
            }
            let rows = match pending {
                Some(rows) => rows,
                None => return None,
            };
            if rows.is_empty() {
                return None;
            }
            let bytes = csv_bytes(rows.iter().map(export.cells));
            let next = if rows.len() < EXPORT_PAGE as usize {
                None
            } else {
                let after = rows.last().map(export.position);
                match (export.page)(after, EXPORT_PAGE).await {
                    Ok(rows) => Some(rows),
                    Err(e) => {
                        tracing::warn!(error = %e, "export cut short");
                        return Some((
                            Err(std::io::Error::other(
                                "the export could not be read to its end",
                            )),
                            (None, None, export),
                        ));
                    }
                }
            };
            Some((Ok(bytes), (None, next, export)))
        },
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    res.stream(stream);
    Ok(())
}

fn csv_bytes(rows: impl Iterator<Item = Vec<String>>) -> bytes::Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to memory cannot fail.
        let _ = writer.write_record(&row);
    }
    bytes::Bytes::from(writer.into_inner().unwrap_or_default())
}

/// A participant as the team reads it.
#[derive(Debug, Serialize, ToSchema)]
#[salvo(schema(name = Participant))]
pub struct ParticipantRow {
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
            consent: u.consent.clone(),
            attribution: p.attribution.clone(),
        }
    }
}

/// Body of `GET /api/campaign/{slug}/participants` (as JSON).
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantPage {
    /// The page of participants.
    pub participants: Vec<ParticipantRow>,
    /// The next page's `cursor`; null after the last.
    pub next_cursor: Option<String>,
}

/// Body of `GET /api/campaign/{slug}/referrals` (as JSON).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralPage {
    /// The page of referrals.
    pub referrals: Vec<Referral>,
    /// The next page's `cursor`; null after the last.
    pub next_cursor: Option<String>,
}

/// Body of `GET /api/campaign/{slug}/funnel`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
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
        answers::Malformed,
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
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
    ]
}

/// Credited referrals, oldest first (viewer)
///
/// Cursor pages (`limit`, `cursor`), or with `?format=csv` (or `Accept:
/// text/csv`) every referral as CSV, streamed.
#[endpoint(
    tags("reports"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("since" = Option<DateTime<Utc>>, Query, description = "Made at or after (RFC 3339)"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Made before (RFC 3339)"),
        ("referrer" = Option<Uuid>, Query, description = "Of this referrer (a user's master_id) only"),
        ("limit" = Option<u32>, Query, maximum = 500, description = "Rows per page (default 100; 0 is 1)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before (opaque and signed: a changed one is 422 `invalid_cursor`)"),
        ("format" = Option<ListFormat>, Query, description = "`csv`: the whole list as CSV (also chosen by `Accept: text/csv` without `format=json`)"),
    ),
    responses(
        (status_code = 200, description = "A page of referrals, or every one (matching the filters) as CSV", content(("application/json" = ReferralPage), ("text/csv" = String))),
        answers::Malformed,
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
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
    let filter = ReferralFilter {
        since: query_time(req, "since")?,
        until: query_time(req, "until")?,
        referrer,
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

/// The leads of `campaign_id` (of `status`, when given) as a CSV export.
pub fn leads_export(
    state: &AppState,
    slug: &str,
    campaign_id: i64,
    status: Option<LeadStatus>,
) -> Export<(Lead, Attribution)> {
    let store = state.store.clone();
    let mut header = vec![
        "quote_id",
        "created_at",
        "status",
        "name",
        "email",
        "company",
        "phone",
        "budget",
        "message",
        "details",
        "master_id",
        "consent_version",
        "consent_at",
    ];
    header.extend(ATTRIBUTION_HEADER);
    Export {
        filename: format!("quotes-{slug}.csv"),
        header,
        page: Box::new(move |after, limit| {
            let store = store.clone();
            Box::pin(async move {
                store
                    .leads_with_attribution(campaign_id, status, after.as_ref(), limit)
                    .await
            })
        }),
        position: |(lead, _)| Position {
            count: None,
            at: lead.created_at,
            id: lead.id.to_string(),
        },
        cells: |(lead, attribution)| {
            let mut cells = vec![
                lead.id.to_string(),
                time(&lead.created_at),
                lead.status.as_str().to_owned(),
                cell(&lead.name),
                cell(&lead.email),
                opt(&lead.company),
                opt(&lead.phone),
                opt(&lead.budget),
                cell(&lead.message),
                cell(&Value::Object(lead.details.clone()).to_string()),
                lead.master_id.map(|id| id.to_string()).unwrap_or_default(),
                lead.consent
                    .as_ref()
                    .map(|c| cell(&c.version))
                    .unwrap_or_default(),
                lead.consent
                    .as_ref()
                    .map(|c| time(&c.at))
                    .unwrap_or_default(),
            ];
            cells.extend(attribution_cells(attribution));
            cells
        },
    }
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
        answers::Malformed,
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
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
