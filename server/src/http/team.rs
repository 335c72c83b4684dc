//! The campaign team over REST: `GET /api/admin/whoami` (who this key is),
//! `GET|POST /api/admin/keys` and `DELETE /api/admin/keys/{id}` (owners
//! make and revoke named keys), `GET /api/admin/audit` (the audit log,
//! newest first, as JSON pages or one CSV file), and `GET
//! /api/admin/consumers` and `DELETE /api/admin/consumers/{name}` (the
//! back-office feed's named consumers, `?campaign=` naming their scope).

use chrono::{DateTime, Utc};
use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::export::{Export, cell, stream_csv, time, wants_csv};
use super::{ApiError, MAX_PAGE, campaign_filter, json_body, query_u32, state, team};
use crate::model::report::Position;
use crate::model::team::{ApiKey, AuditEntry, Role};
use crate::request::answers;
use crate::team::consumers::Listed;
use crate::team::{KeyRequest, MadeKey};

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/admin")
        .push(Router::with_path("whoami").get(whoami))
        .push(
            Router::with_path("keys")
                .get(list_keys)
                .post(create_key)
                .push(Router::with_path("{id}").delete(revoke_key)),
        )
        .push(Router::with_path("audit").get(audit))
        .push(
            Router::with_path("consumers")
                .get(list_consumers)
                .push(Router::with_path("{name}").delete(delete_consumer)),
        )
}

/// Body of `GET /api/admin/consumers`.
#[derive(Debug, Serialize, ToSchema)]
struct ConsumerList {
    /// By scope (every campaign first), then name.
    consumers: Vec<Listed>,
}

/// `?campaign=`: the consumers' scope (empty: the key's own).
fn consumer_scope(req: &Request) -> String {
    req.query::<String>("campaign").unwrap_or_default()
}

/// The back-office feed's named consumers, of the key's campaign or the one named (viewer)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["viewer"])),
    parameters(("campaign" = Option<String>, Query, description = "The consumers' campaign (slug); absent: the key's campaign, or every consumer for a key of every campaign")),
    responses(
        (status_code = 200, description = "Consumers", body = ConsumerList),
        answers::Key,
        answers::NoCampaign,
        answers::Unavailable,
    )
)]
async fn list_consumers(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let consumers = state.team.list_consumers(&by, &consumer_scope(req)).await?;
    res.render(Json(ConsumerList { consumers }));
    Ok(())
}

/// Delete a named feed consumer: retention no longer keeps what it had not acknowledged (editor)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["editor"])),
    parameters(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The consumer's name: 1-64 letters, digits, `.`, `_` or `-`"),
        ("campaign" = Option<String>, Query, description = "The consumers' campaign (slug); absent: the key's campaign, or every consumer for a key of every campaign"),
    ),
    responses(
        (status_code = 200, description = "The deleted consumer", body = Listed),
        answers::Key,
        answers::NoConsumer,
        answers::InvalidName,
        answers::Unavailable,
    )
)]
async fn delete_consumer(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let name = req.param::<String>("name").unwrap_or_default();
    let (carried, scope) = (state.clone(), consumer_scope(req));
    let deleted = state
        .team
        .carried(async move { carried.team.delete_consumer(&by, &scope, &name).await })
        .await?;
    res.render(Json(deleted));
    Ok(())
}

/// Body of `GET /api/admin/whoami`.
#[derive(Debug, Serialize, ToSchema)]
struct WhoAmI {
    /// The key's name (`admin token` for the configured token).
    name: String,
    /// Its id, for a named key.
    #[salvo(schema(required = true))]
    key_id: Option<i64>,
    /// What it may do.
    role: Role,
    /// The campaign it is limited to.
    #[salvo(schema(required = true))]
    campaign: Option<String>,
}

/// Who this key is: its name, role and campaign (viewer)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["viewer"])),
    responses(
        (status_code = 200, description = "The caller", body = WhoAmI),
        answers::KeyCredential,
        answers::Unavailable,
    )
)]
async fn whoami(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    res.render(Json(WhoAmI {
        campaign: by.scope.map(|(_, slug)| slug),
        name: by.name,
        key_id: by.key_id,
        role: by.role,
    }));
    Ok(())
}

/// Body of `GET /api/admin/keys`.
#[derive(Debug, Serialize, ToSchema)]
struct KeyList {
    /// Live keys first, newest first.
    keys: Vec<ApiKey>,
}

/// The team's keys, live first, newest first; a campaign's owner sees that campaign's (owner)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["owner"])),
    responses(
        (status_code = 200, description = "Keys (never their secret)", body = KeyList),
        answers::Key,
        answers::Unavailable,
    )
)]
async fn list_keys(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let keys = state.team.keys(&by).await?;
    res.render(Json(KeyList { keys }));
    Ok(())
}

/// Make a named key; its secret is in `token`, shown this once (owner; a campaign's owner makes keys of that campaign only)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["owner"])),
    request_body = KeyRequest,
    responses(
        (status_code = 201, description = "Made", body = MadeKey),
        answers::Body,
        answers::Key,
        answers::NotFound,
        answers::KeyNameTaken,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn create_key(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let request: KeyRequest = json_body(req, &state.config).await?;
    let carried = state.clone();
    let made = state
        .team
        .carried(async move { carried.team.create_key(&by, request).await })
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(made));
    Ok(())
}

/// Revoke a key: it opens nothing from now on (owner)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["owner"])),
    parameters(("id" = i64, Path, description = "The key's id")),
    responses(
        (status_code = 200, description = "The revoked key", body = ApiKey),
        answers::Key,
        answers::NoKey,
        answers::Unavailable,
    )
)]
async fn revoke_key(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let id = req
        .param::<String>("id")
        .and_then(|raw| raw.parse::<i64>().ok())
        .ok_or_else(|| ApiError::NotFound {
            code: "key_not_found",
            message: "no live key with that id".into(),
        })?;
    let carried = state.clone();
    let revoked = state
        .team
        .carried(async move { carried.team.revoke_key(&by, id).await })
        .await?;
    res.render(Json(revoked));
    Ok(())
}

/// Body of `GET /api/admin/audit`.
#[derive(Debug, Serialize, ToSchema)]
struct AuditPage {
    /// Newest first.
    entries: Vec<AuditEntry>,
    /// `before` for the next (older) page; null on the last.
    #[salvo(schema(required = true))]
    next_before: Option<i64>,
}

const AUDIT_HEADER: [&str; 9] = [
    "id",
    "at",
    "actor",
    "action",
    "campaign",
    "target",
    "before",
    "after",
    "actor_key_id",
];

fn audit_cells(e: &AuditEntry) -> Vec<String> {
    let json = |v: &Option<serde_json::Value>| {
        v.as_ref().map(|v| cell(&v.to_string())).unwrap_or_default()
    };
    vec![
        e.id.to_string(),
        time(&e.at),
        cell(&e.actor),
        e.action.clone(),
        e.campaign.clone().unwrap_or_default(),
        cell(&e.target),
        json(&e.before),
        json(&e.after),
        e.actor_key_id.map(|id| id.to_string()).unwrap_or_default(),
    ]
}

fn audit_position(e: &AuditEntry) -> Position {
    Position {
        count: None,
        at: e.at,
        id: e.id.to_string(),
    }
}

/// The audit log: every change the team made (status, configuration, override, retry, erasure, keys), newest first; CSV with `Accept: text/csv` or `?format=csv` (viewer; a campaign's key reads its campaign's entries)
#[endpoint(
    tags("team"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("campaign" = Option<crate::model::schema::Slug>, Query, description = "Only this campaign's entries"),
        ("before" = Option<i64>, Query, minimum = 1, description = "Entries older than this id (the `next_before` of the previous page)"),
        ("limit" = Option<u32>, Query, maximum = 500, description = "Entries per page (default 100)"),
        ("format" = Option<crate::model::schema::ListFormat>, Query, description = "`csv`: every entry as CSV (also chosen by `Accept: text/csv` without `format=json`)"),
    ),
    responses(
        (status_code = 200, description = "A page of entries (or every entry, as CSV)", content(("application/json" = AuditPage), ("text/csv" = String))),
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn audit(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let campaign_id = campaign_filter(req, &state, &by).await?;
    let before = match req.query::<String>("before") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "before",
                        "must be an entry id (a whole number above 0)",
                    )
                })?,
        ),
    };
    if wants_csv(req)? {
        let store = state.store.clone();
        let stamp: DateTime<Utc> = Utc::now();
        let export = Export {
            filename: format!("audit-{}.csv", stamp.format("%Y%m%dT%H%M%SZ")),
            header: AUDIT_HEADER.to_vec(),
            page: Box::new(move |after: Option<Position>, limit| {
                let store = store.clone();
                let before = after.and_then(|p| p.id.parse::<i64>().ok()).or(before);
                Box::pin(async move { store.audit_log(campaign_id, before, limit).await })
            }),
            position: audit_position,
            cells: audit_cells,
        };
        return stream_csv(res, export, None).await;
    }
    let limit = query_u32(req, "limit", 100, MAX_PAGE)?;
    let entries = state.store.audit_log(campaign_id, before, limit).await?;
    let next_before = (limit > 0 && entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    res.render(Json(AuditPage {
        entries,
        next_before,
    }));
    Ok(())
}
