//! The outbox for the campaign team: `GET /api/outbox?state=&campaign=` lists
//! entries (pending, delivered, dead), `POST /api/outbox/{id}/retry` puts an
//! undelivered (typically dead) entry back in line.

use chrono::Utc;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{ApiError, campaign_filter, page, state, team};
use crate::model::outbox::{OutboxEntry, OutboxState};
use crate::model::team::{AuditAction, Role};
use crate::request::answers;
use crate::request::markers::PageQuery;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/outbox")
        .get(list)
        .push(Router::with_path("{id}/retry").post(retry))
}

/// Body of `GET /api/outbox`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OutboxList {
    /// The page of entries, newest first.
    pub entries: Vec<OutboxEntry>,
}

/// Answer of `POST /api/outbox/{id}/retry`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Redriven {
    /// The entry's id.
    pub id: i64,
    /// Its state now: always `pending`.
    #[salvo(schema(value_type = String, pattern = "^pending$"))]
    pub state: &'static str,
}

/// Outbox entries (viewer)
///
/// Newest first; a key of one campaign sees that campaign's.
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("state" = Option<OutboxState>, Query, description = "Which entries (default `all`)"),
        ("campaign" = Option<crate::model::schema::Slug>, Query, description = "Only this campaign's entries"),
    ),
    responses(
        (status_code = 200, description = "Entries", body = OutboxList),
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
    let filter = match req.query::<String>("state") {
        None => OutboxState::All,
        Some(raw) => OutboxState::parse(&raw).ok_or_else(|| {
            ApiError::invalid_field("state", "must be pending, delivered, dead or all")
        })?,
    };
    let campaign_id = campaign_filter(req, &state, &by).await?;
    let entries = state
        .store
        .list_outbox(filter, campaign_id, page(req)?)
        .await?
        .into_iter()
        .map(OutboxEntry::team_view)
        .collect();
    res.render(Json(OutboxList { entries }));
    Ok(())
}

/// Put an undelivered entry back in line (editor)
#[endpoint(
    tags("operations"),
    security(("adminToken" = ["editor"])),
    parameters(("id" = i64, Path, description = "The entry's id")),
    responses(
        (status_code = 200, description = "Re-driven", body = Redriven),
        answers::Key,
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn retry(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let not_found = || ApiError::NotFound {
        code: "outbox_entry_not_found",
        message: "no undelivered outbox entry with that id".into(),
    };
    let id = req
        .param::<String>("id")
        .and_then(|raw| raw.parse::<i64>().ok())
        .ok_or_else(not_found)?;
    let entry = state
        .store
        .outbox_entry(id)
        .await?
        .map(OutboxEntry::team_view)
        .filter(|e| e.delivered_at.is_none())
        .ok_or_else(not_found)?;
    by.require_for(Role::Editor, entry.campaign_id)?;
    let carried = state.clone();
    state
        .team
        .carried(async move {
            let state = carried;
            if !state.store.redrive_outbox(id, Utc::now()).await? {
                return Err(not_found());
            }
            tracing::info!(id, "outbox entry re-driven");
            let was = |e: &OutboxEntry| {
                serde_json::json!({
                    "state": if e.dead_at.is_some() { "dead" } else { "pending" },
                    "attempts": e.attempts,
                    "last_error": e.last_error,
                })
            };
            let change = by.change(
                AuditAction::OutboxRetry,
                entry.campaign_id,
                id.to_string(),
                Some(was(&entry)),
                Some(serde_json::json!({"state": "pending", "attempts": 0})),
            );
            state.team.record(change).await;
            let mut now = entry;
            (now.dead_at, now.attempts) = (None, 0);
            crate::outbox::announce_delivery(state.bus.as_ref(), &now).await;
            Ok(())
        })
        .await?;
    res.render(Json(Redriven {
        id,
        state: "pending",
    }));
    Ok(())
}
