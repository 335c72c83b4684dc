//! Campaigns: `POST /api/campaign` and `GET /api/campaign` (admin),
//! `GET /api/campaign/{slug}`, `PATCH /api/campaign/{slug}` (admin) and
//! `GET /api/campaign/{slug}/metrics`.
//!
//! Draft campaigns are visible to the admin only; everyone else gets 404, as if
//! they did not exist. Webhook receivers are never shown to the public.

use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{
    ApiError, json_body, page, read_body, sees_campaign, state, team, team_campaign,
    visible_campaign,
};
use crate::campaign::files::ApplyOutcome;
use crate::model::campaign::settings::MetricField;
use crate::model::campaign::{Campaign, CampaignPatch, NewCampaign};
use crate::model::report::HourCounts;
use crate::model::team::{AuditAction, Role};
use crate::request::answers;
use crate::request::body::media_type;
use crate::request::markers::{CampaignFileBody, PageQuery};
use crate::state::AppState;
use crate::store::CampaignCounts;
use crate::team::campaign_summary;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/campaign")
        .get(list)
        .post(create)
        .push(
            Router::with_path("{slug}")
                .get(show)
                .patch(update)
                .push(Router::with_path("metrics").get(metrics))
                .push(Router::with_path("file").put(apply_file))
                .push(Router::with_path("document").get(document)),
        )
}

/// Body of `GET /api/campaign`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignList {
    /// The page of campaigns, oldest first.
    pub campaigns: Vec<Campaign>,
}

/// Body of `GET /api/campaign/{slug}/metrics`: the figures the campaign
/// shows to anyone (`config.public_metrics`), or all of them to the admin,
/// with counts per hour of the campaign's life.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignMetrics {
    /// Visitors connected right now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<u64>,
    /// Registered users.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[salvo(schema(minimum = 0))]
    pub users: Option<i64>,
    /// Leads sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[salvo(schema(minimum = 0))]
    pub leads: Option<i64>,
    /// Referrals credited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[salvo(schema(minimum = 0))]
    pub referrals: Option<i64>,
    /// Counts per hour of the campaign's life, the last 90 days at most
    /// (admin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<HourCounts>>,
}

/// Most hours of counts `series` holds: the last 90 days of a longer campaign.
const MAX_SERIES_HOURS: i64 = 90 * 24;

/// Create a campaign (owner)
#[endpoint(
    tags("campaigns"),
    security(("adminToken" = ["owner"])),
    request_body = NewCampaign,
    responses(
        (status_code = 201, description = "Created", body = Campaign),
        answers::Body,
        answers::Key,
        answers::Conflict,
        answers::Invalid,
        answers::Limited,
        answers::Unavailable,
    )
)]
async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    by.require_unscoped(Role::Owner)?;
    let spec: NewCampaign = json_body(req, &state.config).await?;
    let carried = state.clone();
    let campaign = state
        .team
        .carried(async move { carried.forms.create_campaign(&by, spec).await })
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(campaign.team_view()));
    Ok(())
}

/// Campaigns, oldest first (viewer)
///
/// A key of one campaign lists that campaign.
#[endpoint(
    tags("campaigns"),
    security(("adminToken" = ["viewer"])),
    parameters(
    ),
    responses(
        (status_code = 200, description = "Campaigns", body = CampaignList),
        answers::Malformed,
        answers::Key,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn list(
    _page: PageQuery,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let page = page(req)?;
    let campaigns = match by.scope_id() {
        None => state.store.list_campaigns(page).await?,
        // A campaign's key lists its campaign.
        Some(id) if page.offset == 0 && page.limit > 0 => {
            state.store.campaign_by_id(id).await?.into_iter().collect()
        }
        Some(_) => Vec::new(),
    };
    let campaigns = campaigns.iter().map(Campaign::team_view).collect();
    res.render(Json(CampaignList { campaigns }));
    Ok(())
}

/// A campaign (drafts: admin only)
///
/// Webhook receivers are shown to the campaign's team only, without their
/// credentials.
#[endpoint(
    tags("campaigns"),
    security((), ("adminToken" = [])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "The campaign", body = Campaign),
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let campaign = visible_campaign(req, &state).await?;
    res.render(Json(campaign.team_view()));
    Ok(())
}

/// Change a campaign (editor): absent fields stay, null clears a date
///
/// Editors may change `status` alone (pause, resume, end); anything else
/// needs an owner.
#[endpoint(
    tags("campaigns"),
    security(("adminToken" = ["editor"])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    request_body = CampaignPatch,
    responses(
        (status_code = 200, description = "The campaign", body = Campaign),
        answers::TeamWrite,
        answers::IllegalTransition,
    )
)]
async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let patch: CampaignPatch = json_body(req, &state.config).await?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let carried = state.clone();
    let stored = state
        .team
        .carried(async move { carried.forms.update_campaign(&by, &slug, patch).await })
        .await?;
    res.render(Json(stored.team_view()));
    Ok(())
}

/// Answer of `PUT /api/campaign/{slug}/file`.
#[derive(Debug, Serialize, ToSchema)]
struct Applied {
    /// The campaign's slug.
    slug: String,
    /// What applying the file did.
    outcome: FileOutcome,
}

/// What applying a campaign file did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum FileOutcome {
    /// A new campaign.
    Created,
    /// The campaign changed.
    Updated,
    /// The campaign already was as the file says.
    Unchanged,
}

/// Apply a campaign file to this deployment (owner)
///
/// The file's TOML text (`Content-Type: application/toml`, or `text/plain`);
/// its `slug`, if it names one, must be the path's. Applied as
/// `ovasabi-edge campaigns apply` does from the folder.
#[endpoint(
    tags("campaigns"),
    security(("adminToken" = ["owner"])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "Applied", body = Applied),
        answers::Body,
        answers::Key,
        answers::IllegalTransition,
        answers::Invalid,
        answers::Limited,
        answers::Unavailable,
    )
)]
async fn apply_file(
    _body: CampaignFileBody,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let is_toml = media_type(req)
        .is_some_and(|essence| essence == "application/toml" || essence == "text/plain");
    if !is_toml {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = read_body(req, state.config.max_body_bytes, state.config.body_timeout).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid_field("body", "a campaign file is UTF-8 text"))?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let spec = crate::campaign::files::parse_campaign(text, Some(&slug))
        .map_err(|reason| ApiError::invalid_field("body", reason))?;
    if spec.slug != slug {
        return Err(ApiError::invalid_field(
            "slug",
            format!("the file is campaign {:?}, not {slug:?}", spec.slug),
        ));
    }
    spec.config
        .check_webhook_targets(&state.config.webhook_policy())?;
    let before = state.store.campaign_by_slug(&spec.slug).await?;
    by.require_for(Role::Owner, before.as_ref().map(|c| c.id))?;
    if let Some(current) = &before {
        crate::forms::campaigns::check_move(current.status, spec.status)?;
    }
    let carried = state.clone();
    let (spec, outcome) = state
        .team
        .carried(async move {
            let state = carried;
            let outcome = crate::campaign::files::apply(state.store.as_ref(), &spec).await?;
            state.campaigns.forget(&spec.slug);
            if matches!(outcome, ApplyOutcome::Created | ApplyOutcome::Updated)
                && let Some(after) = state.store.campaign_by_slug(&spec.slug).await?
            {
                let action = if before.is_some() {
                    AuditAction::CampaignUpdated
                } else {
                    AuditAction::CampaignCreated
                };
                let change = by.change(
                    action,
                    Some(after.id),
                    after.slug.clone(),
                    before.as_ref().map(campaign_summary),
                    Some(campaign_summary(&after)),
                );
                state.team.record(change).await;
            }
            Ok((spec, outcome))
        })
        .await?;
    tracing::info!(slug = %spec.slug, ?outcome, "campaign file applied through the API");
    res.render(Json(Applied {
        slug: spec.slug,
        outcome: match outcome {
            ApplyOutcome::Created => FileOutcome::Created,
            ApplyOutcome::Updated => FileOutcome::Updated,
            ApplyOutcome::Unchanged | ApplyOutcome::Kept => FileOutcome::Unchanged,
        },
    }));
    Ok(())
}

/// The campaign's document (Markdown): its endpoints, live events and configuration in force, as `ovasabi-edge campaigns docs` writes it for its campaign file (viewer)
///
/// Made from the campaign as it stands now (a change made through the API
/// included), naming its file in the server's campaign folder when it has
/// one.
#[endpoint(
    tags("campaigns"),
    security(("adminToken" = ["viewer"])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "The document", content(("text/markdown" = String))),
        answers::Key,
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn document(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    use crate::campaign::files::CampaignFile;
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Viewer).await?;
    let spec = NewCampaign {
        slug: campaign.slug.clone(),
        name: campaign.name.clone(),
        status: campaign.status,
        starts_at: campaign.starts_at,
        ends_at: campaign.ends_at,
        config: campaign.config.clone(),
    };
    let from_folder = state
        .config
        .campaigns_dir
        .as_deref()
        .and_then(|dir| crate::campaign::files::read_dir(dir).ok())
        .and_then(|files| files.into_iter().find(|f| f.spec.slug == campaign.slug));
    let file = match from_folder {
        Some(file) => CampaignFile { spec, ..file },
        None => CampaignFile {
            path: format!("{}.toml (no file: made through the API)", campaign.slug).into(),
            number: 0,
            spec,
            hash: String::new(),
        },
    };
    res.headers_mut().insert(
        salvo::http::header::CONTENT_TYPE,
        salvo::http::HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    res.body(crate::campaign::scaffold::campaign_doc(&file));
    Ok(())
}

/// Live visitors and counts: what the campaign shows (config.public_metrics), everything to the admin
///
/// Anyone gets the figures listed in the campaign's `config.public_metrics`
/// (by default only `active`); the admin gets `active`, `users`, `leads`,
/// `referrals` and `series`, the counts per hour of the campaign's life (the
/// last 90 days at most): the most visitors connected at once (sampled
/// every `OVASABI_VISITOR_SAMPLE_SECS`, kept
/// `OVASABI_VISITOR_SAMPLE_RETENTION_DAYS`), joins, leads and referrals.
#[endpoint(
    tags("campaigns"),
    security((), ("adminToken" = [])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "Metrics", body = CampaignMetrics),
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn metrics(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let admin = sees_campaign(req, &state, &slug).await?;
    let campaign = state.forms.visible_campaign(&slug, admin).await?;
    let shown = |field: MetricField| admin || campaign.config.public_metrics.contains(&field);
    let counted =
        shown(MetricField::Users) || shown(MetricField::Leads) || shown(MetricField::Referrals);
    let counts = if counted {
        state.store.campaign_counts(campaign.id).await?
    } else {
        CampaignCounts::default()
    };
    let active = if shown(MetricField::Active) {
        Some(state.presence.active(&campaign.slug).await?)
    } else {
        None
    };
    let series = if admin {
        Some(hourly_series(&state, &campaign).await?)
    } else {
        None
    };
    res.render(Json(CampaignMetrics {
        active,
        users: shown(MetricField::Users).then_some(counts.users),
        leads: shown(MetricField::Leads).then_some(counts.leads),
        referrals: shown(MetricField::Referrals).then_some(counts.referrals),
        series,
    }));
    Ok(())
}

/// Joins, leads and referrals per hour from the campaign's start (or
/// creation) to now (or its end), every hour listed, the last
/// [`MAX_SERIES_HOURS`] at most.
async fn hourly_series(state: &AppState, campaign: &Campaign) -> Result<Vec<HourCounts>, ApiError> {
    use chrono::{DurationRound, TimeDelta, Utc};
    let hour = TimeDelta::hours(1);
    let now = Utc::now();
    let end = campaign.ends_at.map_or(now, |end| end.min(now));
    let start = campaign
        .starts_at
        .map_or(campaign.created_at, |s| s.min(campaign.created_at))
        .max(end - hour * MAX_SERIES_HOURS as i32);
    let first = start.duration_trunc(hour).unwrap_or(start);
    let counted = state.store.hourly(campaign.id, first, end).await?;
    let mut counted = counted.into_iter().peekable();
    let mut series = Vec::new();
    let mut at = first;
    while at < end {
        match counted.next_if(|c| c.hour == at) {
            Some(counts) => series.push(counts),
            None => series.push(HourCounts {
                hour: at,
                ..HourCounts::default()
            }),
        }
        at += hour;
    }
    Ok(series)
}
