//! A campaign's live vocabulary over REST: `GET
//! /api/campaign/{slug}/event-types` (the SSE event catalogue: built-in and
//! the campaign's own), `POST /api/campaign/{slug}/events` (an editor: publish
//! one of the campaign's own event types, [`crate::live::custom`]) and `GET
//! /api/campaign/{slug}/leaderboard` (top referrers, when the campaign
//! shows one).

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::json;

use super::campaign::{team_campaign, visible_campaign};
use super::{ApiError, json_body, query_u32, state};
use crate::live::custom::CustomEvent;
use crate::model::events;
use crate::model::team::Role;

/// Routes of this resource, under `api/campaign/{slug}`.
pub fn router() -> Router {
    Router::new()
        .push(Router::with_path("event-types").get(event_types))
        .push(Router::with_path("events").post(publish))
        .push(Router::with_path("leaderboard").get(leaderboard))
}

#[handler]
async fn event_types(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let campaign = visible_campaign(req, &state).await?;
    let config = &campaign.config;
    let built_in = events::sent_by(config)
        .map(|t| json!({"name": t.name, "built_in": true, "who": t.who, "data": t.data}));
    let own = config.event_types.iter().map(|(name, decl)| {
        json!({
            "name": name,
            "built_in": false,
            "audience": decl.audience,
            "webhook": decl.webhook,
            "description": decl.description,
            "fields": decl.fields,
        })
    });
    res.render(Json(
        json!({"event_types": built_in.chain(own).collect::<Vec<_>>()}),
    ));
    Ok(())
}

#[handler]
async fn publish(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Editor).await?;
    let event: CustomEvent = json_body(req, &state.config).await?;
    let kind = event.kind.clone();
    let id = crate::live::custom::publish(&state, &campaign, event).await?;
    res.status_code(StatusCode::ACCEPTED);
    res.render(Json(json!({"id": id.to_string(), "type": kind})));
    Ok(())
}

/// Most places `GET …/leaderboard` returns.
const MAX_LEADERBOARD: u32 = 100;

#[handler]
async fn leaderboard(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let campaign = visible_campaign(req, &state).await?;
    let settings = &campaign.config.leaderboard;
    if !settings.enabled {
        return Err(ApiError::NotFound {
            code: "leaderboard_disabled",
            message: format!("campaign {:?} shows no leaderboard", campaign.slug),
        });
    }
    let limit = query_u32(req, "limit", settings.size, MAX_LEADERBOARD)?.max(1);
    let top = state.store.leaderboard(campaign.id, limit).await?;
    res.render(Json(json!({"top": top})));
    Ok(())
}
