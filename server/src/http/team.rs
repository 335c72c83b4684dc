//! The campaign team over REST: `GET /api/admin/whoami` (who this key is),
//! `GET|POST /api/admin/keys` and `DELETE /api/admin/keys/{id}` (owners
//! make and revoke named keys), `GET /api/admin/audit` (the audit log,
//! newest first, as JSON pages or one CSV file), and `GET
//! /api/admin/consumers` and `DELETE /api/admin/consumers/{name}` (the
//! back-office feed's named consumers, `?campaign=` naming their scope).

use chrono::{DateTime, Utc};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;

use super::reports::{Export, stream_csv, wants_csv};
use super::{ApiError, MAX_PAGE, campaign_filter, json_body, query_u32, state, team};
use crate::model::report::Position;
use crate::model::team::{ApiKey, AuditEntry, Role};
use crate::team::KeyRequest;
use crate::team::consumers::Listed;

/// Routes of this resource.
pub fn router() -> Router {
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
#[derive(Debug, Serialize)]
struct ConsumerList {
    /// By scope (every campaign first), then name.
    consumers: Vec<Listed>,
}

/// `?campaign=`: the consumers' scope (empty: the key's own).
fn consumer_scope(req: &Request) -> String {
    req.query::<String>("campaign").unwrap_or_default()
}

#[handler]
async fn list_consumers(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let consumers = crate::team::consumers::list(&state, &by, &consumer_scope(req)).await?;
    res.render(Json(ConsumerList { consumers }));
    Ok(())
}

#[handler]
async fn delete_consumer(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let name = req.param::<String>("name").unwrap_or_default();
    let (carried, scope) = (state.clone(), consumer_scope(req));
    let deleted = crate::team::carried(&state, async move {
        crate::team::consumers::delete(&carried, &by, &scope, &name).await
    })
    .await?;
    res.render(Json(deleted));
    Ok(())
}

/// Body of `GET /api/admin/whoami`.
#[derive(Debug, Serialize)]
struct WhoAmI {
    /// The key's name (`admin token` for the configured token).
    name: String,
    /// Its id, for a named key.
    key_id: Option<i64>,
    role: Role,
    /// The campaign it is limited to.
    campaign: Option<String>,
}

#[handler]
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
#[derive(Debug, Serialize)]
struct KeyList {
    /// Live keys first, newest first.
    keys: Vec<ApiKey>,
}

#[handler]
async fn list_keys(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let keys = crate::team::keys(&state, &by).await?;
    res.render(Json(KeyList { keys }));
    Ok(())
}

#[handler]
async fn create_key(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Owner).await?;
    let request: KeyRequest = json_body(req, &state.config).await?;
    let carried = state.clone();
    let made = crate::team::carried(&state, async move {
        crate::team::create_key(&carried, &by, request).await
    })
    .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(made));
    Ok(())
}

#[handler]
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
    let revoked = crate::team::carried(&state, async move {
        crate::team::revoke_key(&carried, &by, id).await
    })
    .await?;
    res.render(Json(revoked));
    Ok(())
}

/// Body of `GET /api/admin/audit`.
#[derive(Debug, Serialize)]
struct AuditPage {
    /// Newest first.
    entries: Vec<AuditEntry>,
    /// `before` for the next (older) page; absent on the last.
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
        v.as_ref()
            .map(|v| super::reports::cell(&v.to_string()))
            .unwrap_or_default()
    };
    vec![
        e.id.to_string(),
        super::reports::time(&e.at),
        super::reports::cell(&e.actor),
        e.action.clone(),
        e.campaign.clone().unwrap_or_default(),
        super::reports::cell(&e.target),
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

#[handler]
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
