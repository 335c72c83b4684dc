//! A campaign's live vocabulary over REST: `GET
//! /api/campaign/{slug}/event-types` (the SSE event catalogue: built-in and
//! the campaign's own), `POST /api/campaign/{slug}/events` (an editor: publish
//! one of the campaign's own event types, [`crate::live::custom`]) and `GET
//! /api/campaign/{slug}/leaderboard` (top referrers, when the campaign
//! shows one).

use std::collections::BTreeMap;

use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo_oapi::schema::{BasicType, Object};
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{ApiError, json_body, query_u32, state};
use crate::live::custom::CustomEvent;
use crate::model::campaign::event_types::{EventAudience, FieldDecl};
use crate::model::report::Standing;
use crate::model::team::Role;
use crate::request::answers;
use crate::request::{team_campaign, visible_campaign};

/// Routes of this resource, under `api/campaign/{slug}`.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("event-types").get(event_types))
        .push(Router::with_path("events").post(publish))
        .push(Router::with_path("leaderboard").get(leaderboard))
}

/// A live event type: built in, or declared by the campaign
/// (`config.event_types`)
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[salvo(schema(name = EventType))]
enum EventTypeEntry {
    /// Built in: sent by the server itself.
    BuiltIn {
        /// The SSE `event:` name.
        name: &'static str,
        /// True.
        #[salvo(schema(schema_with = built_in))]
        built_in: bool,
        /// Who receives it.
        who: &'static str,
        /// Its `data:` (JSON).
        data: &'static str,
    },
    /// The campaign's own.
    Own {
        /// The SSE `event:` name.
        name: String,
        /// False.
        #[salvo(schema(schema_with = own))]
        built_in: bool,
        /// Who receives it.
        audience: EventAudience,
        /// Whether each event is also written to the outbox (webhooks).
        webhook: bool,
        /// What it means.
        description: String,
        /// The fields its data may hold.
        fields: BTreeMap<String, FieldDecl>,
    },
}

fn built_in() -> Object {
    Object::with_type(BasicType::Boolean).enum_values([true])
}

fn own() -> Object {
    Object::with_type(BasicType::Boolean).enum_values([false])
}

/// Body of `GET /api/campaign/{slug}/event-types`.
#[derive(Debug, Serialize, ToSchema)]
struct EventTypeList {
    /// The built-in types this campaign sends, then its own.
    event_types: Vec<EventTypeEntry>,
}

/// The live event catalogue: built-in types this campaign sends, and its own
#[endpoint(
    tags("live"),
    security((), ("adminToken" = [])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    responses(
        (status_code = 200, description = "Event types", body = EventTypeList),
        answers::NotFound,
        answers::Unavailable,
    )
)]
async fn event_types(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let campaign = visible_campaign(req, &state).await?;
    let config = &campaign.config;
    let built_in = config.built_in_events().map(|t| EventTypeEntry::BuiltIn {
        name: t.name,
        built_in: true,
        who: t.who,
        data: t.data,
    });
    let own = config
        .event_types
        .iter()
        .map(|(name, decl)| EventTypeEntry::Own {
            name: name.clone(),
            built_in: false,
            audience: decl.audience,
            webhook: decl.webhook,
            description: decl.description.clone(),
            fields: decl.fields.clone(),
        });
    res.render(Json(EventTypeList {
        event_types: built_in.chain(own).collect(),
    }));
    Ok(())
}

/// Answer of `POST /api/campaign/{slug}/events`.
#[derive(Debug, Serialize, ToSchema)]
struct Published {
    /// The event id (SSE `id`).
    id: String,
    /// Its type.
    #[serde(rename = "type")]
    kind: String,
}

/// Publish one of the campaign's own event types (editor)
///
/// `type` must be declared in the campaign's `config.event_types` (else 422
/// `unknown_event_type`, field `type`); `data` holds the declared fields,
/// each of its type and within its limits (else 422 `invalid_field`, field
/// `data.<name>`); `recipient` names the session of a private type and is
/// refused for a public one (422, field `recipient`).
#[endpoint(
    tags("live"),
    security(("adminToken" = ["editor"])),
    parameters(("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug")),
    request_body = CustomEvent,
    responses(
        (status_code = 202, description = "Published (and, for a `webhook` type, written to the outbox)", body = Published),
        answers::Body,
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn publish(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (_, campaign) = team_campaign(req, &state, Role::Editor).await?;
    let event: CustomEvent = json_body(req, &state.config).await?;
    let kind = event.kind.clone();
    let id = state.live.publish_custom(&campaign, event).await?;
    res.status_code(StatusCode::ACCEPTED);
    res.render(Json(Published {
        id: id.to_string(),
        kind,
    }));
    Ok(())
}

/// Most places `GET …/leaderboard` returns.
const MAX_LEADERBOARD: u32 = 100;
// `Leaderboard`'s schema and `limit`'s say it (the attributes take only a literal).
const _: () = assert!(MAX_LEADERBOARD == 100);

/// Body of `GET /api/campaign/{slug}/leaderboard`.
#[derive(Debug, Serialize, ToSchema)]
struct Leaderboard {
    /// The top referrers, most referrals first.
    #[salvo(schema(max_items = 100))]
    top: Vec<Standing>,
}

/// Top referrers, when the campaign shows a leaderboard
#[endpoint(
    tags("live"),
    security((), ("adminToken" = [])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("limit" = Option<u32>, Query, maximum = 100, description = "Places (default the campaign's `config.leaderboard.size`; 0 is 1)"),
    ),
    responses(
        (status_code = 200, description = "The top referrers, most referrals first", body = Leaderboard),
        answers::Malformed,
        answers::NoLeaderboard,
        answers::Invalid,
        answers::Unavailable,
    )
)]
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
    res.render(Json(Leaderboard { top }));
    Ok(())
}
