//! A campaign's own event types, published by its back office: `POST
//! /api/campaign/{slug}/events` (admin) names a declared type and its data;
//! the data is held against the declaration, written to the outbox first
//! when the type says `webhook = true`, then published on the bus — so it
//! reaches every instance, replays after a reconnect and resets like the
//! built-in events.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Live;
use crate::bus::{Event, EventId};
use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::campaign::event_types::EventAudience;
use crate::model::outbox::NewOutbox;

/// Body of `POST /api/campaign/{slug}/events`.
#[derive(Debug, Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomEvent {
    /// An event type of the campaign's `config.event_types`.
    #[serde(rename = "type")]
    #[salvo(schema(schema_with = event_name_schema))]
    pub kind: String,
    /// The declared fields (default `{}`).
    #[serde(default)]
    #[salvo(schema(value_type = Object))]
    pub data: Map<String, Value>,
    /// The session that receives a private event: a user's `master_id` or a
    /// visitor's `session_id` (refused for a public one).
    #[serde(default)]
    pub recipient: Option<Uuid>,
}

/// [`CustomEvent::kind`]: an event type's name
/// ([`crate::model::campaign::event_types::is_event_name`]).
fn event_name_schema() -> salvo_oapi::schema::Object {
    use salvo_oapi::schema::{BasicType, Object};
    Object::with_type(BasicType::String)
        .pattern(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
        .max_length(crate::model::campaign::event_types::MAX_EVENT_NAME_LEN)
        .description("An event type of the campaign's `config.event_types`")
}

impl Live {
    /// Publishes `event` for `campaign`: 422 `unknown_event_type` for a type the
    /// campaign does not declare, 422 naming the field (`data.<name>`,
    /// `recipient`) that breaks the declaration. Nothing is written or published
    /// unless all of it holds. Returns the event's id.
    pub(crate) async fn publish_custom(
        &self,
        campaign: &Campaign,
        event: CustomEvent,
    ) -> Result<EventId, ApiError> {
        let decl = campaign
        .config
        .event_types
        .get(&event.kind)
        .ok_or_else(|| ApiError::Unprocessable {
            code: "unknown_event_type",
            message: format!(
                "campaign {:?} declares no event type {:?} (see GET /api/campaign/{}/event-types)",
                campaign.slug, event.kind, campaign.slug
            ),
            field: Some("type".into()),
        })?;
        decl.check(&event.data)?;
        let audience = match (decl.audience, event.recipient) {
            (EventAudience::Public, None) => None,
            (EventAudience::Private, Some(recipient)) => Some(recipient),
            (EventAudience::Public, Some(_)) => {
                return Err(ApiError::invalid_field(
                    "recipient",
                    "this event type is public: it goes to every visitor, not to one",
                ));
            }
            (EventAudience::Private, None) => {
                return Err(ApiError::invalid_field(
                    "recipient",
                    "this event type is private: name the session that receives it",
                ));
            }
        };
        let data = Value::Object(event.data);
        if decl.webhook {
            let outbox = NewOutbox::for_campaign(
                campaign,
                &event.kind,
                json!({"campaign": campaign.slug, "data": data, "recipient": audience}),
            );
            self.store.insert_outbox(&[outbox]).await?;
        }
        let event = match audience {
            None => Event::public(&event.kind, data),
            Some(session) => Event::private(&event.kind, data, session),
        };
        let kind = event.kind.clone();
        let id = self
            .publisher
            .publish_event(campaign, event)
            .await
            .map_err(|e| ApiError::Internal(e.context(format!("publishing {kind}"))))?;
        tracing::info!(campaign = %campaign.slug, %kind, %id, "custom event published");
        Ok(id)
    }
}
