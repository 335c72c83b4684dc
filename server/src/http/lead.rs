//! Leads: `POST /api/quote` for visitors, with an optional
//! `Idempotency-Key`; `GET /api/quote` (JSON pages, or the whole list as CSV
//! with `?format=csv` / `Accept: text/csv`) and `PATCH /api/quote/{id}` for
//! the campaign team. The rules are [`crate::forms::lead`]'s.

use super::export::{
    ATTRIBUTION_HEADER, Export, attribution_cells, cell, opt, stream_csv, time, wants_csv,
};
use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};

use salvo_oapi::{ToSchema, endpoint};

use crate::model::attribution::Attribution;
use crate::model::report::Position;
use crate::request::answers;
use crate::request::markers::PageQuery;
use crate::state::AppState;
use serde_json::Value;

use super::{
    ApiError, bearer_token, campaign_query, client_address, client_ip, json_body, page, state, team,
};
use crate::forms::bots::Sender;
use crate::forms::lead::{LeadRequest, Submission};
use crate::model::lead::{Lead, LeadReceipt, LeadStatus};
use crate::model::schema::{ListFormat, Slug};
use crate::model::team::Role;
use crate::request::body::form_body;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/quote")
        .post(submit)
        .get(list)
        .push(Router::with_path("{id}").patch(update_status))
}

/// Body of `PATCH /api/quote/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusChange {
    /// The new status.
    pub status: LeadStatus,
}

/// Body of `GET /api/quote`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeadList {
    /// The page of leads, newest first.
    /// (Named `quotes` in the answer, as it always was.)
    #[serde(rename = "quotes")]
    pub leads: Vec<Lead>,
}

/// Send a lead (the quote form)
///
/// A session token (`Authorization: Bearer`, optional) links the lead to its
/// session, which then gets its `lead.status` events. With an
/// `Idempotency-Key`, a retry of the same request answers the lead stored
/// first (`Idempotent-Replayed: true`). Besides its own fields the body may
/// carry the campaign's honeypot field (`config.forms.honeypot`); any other
/// is refused.
#[endpoint(
    tags("leads"),
    security((), ("sessionToken" = [])),
    parameters(("Idempotency-Key" = Option<String>, Header, max_length = 255)),
    request_body = LeadRequest,
    responses(
        (status_code = 201, description = "Stored (or, with the same Idempotency-Key, the earlier one)", body = LeadReceipt),
        answers::SessionCredential,
        answers::Form,
        answers::Conflict,
    )
)]
async fn submit(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (form, extra): (LeadRequest, _) = form_body(req, &state.config).await?;
    super::check_campaign_origin(req, &state, &form.campaign).await?;
    let sender = Sender {
        key: client_ip(req, &state),
        address: client_address(req, &state),
        user_agent: req
            .headers()
            .get(salvo::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        extra,
    };
    let submitted = state
        .forms
        .submit_lead(Submission {
            form,
            token: bearer_token(req.headers()),
            idempotency_key: req
                .headers()
                .get("idempotency-key")
                .map(HeaderValue::as_bytes),
            sender: &sender,
        })
        .await?;
    if submitted.replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res.status_code(StatusCode::CREATED);
    res.render(Json(LeadReceipt {
        id: submitted.lead.id,
        status: submitted.lead.status,
    }));
    Ok(())
}

/// A campaign's leads, newest first (viewer)
///
/// JSON pages (`limit`, `offset`), or with `?format=csv` (or `Accept:
/// text/csv`) every lead as CSV, streamed.
#[endpoint(
    tags("leads"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("campaign" = Slug, Query, description = "The campaign's slug"),
        ("status" = Option<LeadStatus>, Query, description = "Only leads in this status"),
        ("format" = Option<ListFormat>, Query, description = "`csv`: the whole list as CSV (also chosen by `Accept: text/csv` without `format=json`)"),
    ),
    responses(
        (status_code = 200, description = "Leads, or every lead (of `status`) as CSV, newest first, with attribution and consent", content(("application/json" = LeadList), ("text/csv" = String))),
        answers::TeamList,
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
    let campaign = campaign_query(req, &state).await?;
    by.in_scope(campaign.id)?;
    let status = match req.query::<String>("status") {
        None => None,
        Some(raw) => Some(LeadStatus::parse(&raw).ok_or_else(|| {
            ApiError::invalid_field("status", "must be new, in_review, contacted, won or lost")
        })?),
    };
    let page = page(req)?;
    if wants_csv(req)? {
        let export = leads_export(&state, &campaign.slug, campaign.id, status);
        return stream_csv(res, export, None).await;
    }
    let leads = state.store.list_leads(campaign.id, status, page).await?;
    res.render(Json(LeadList { leads }));
    Ok(())
}

/// Move a lead to its next status (editor)
#[endpoint(
    tags("leads"),
    security(("adminToken" = ["editor"])),
    parameters(("id" = uuid::Uuid, Path, description = "The lead's id")),
    request_body = StatusChange,
    responses(
        (status_code = 200, description = "The lead", body = Lead),
        answers::TeamWrite,
        answers::Conflict,
    )
)]
async fn update_status(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let change: StatusChange = json_body(req, &state.config).await?;
    let id = req.param::<String>("id").unwrap_or_default();
    let carried = state.clone();
    let updated = state
        .team
        .carried(async move { carried.forms.set_lead_status(&by, &id, change.status).await })
        .await?;
    res.render(Json(updated));
    Ok(())
}

/// The leads of `campaign_id` (of `status`, when given) as a CSV export.
pub(super) fn leads_export(
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
