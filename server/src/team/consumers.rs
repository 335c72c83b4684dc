//! The back-office feed's named consumers, as the team's keys may use them
//! (gRPC `Leads`, and REST for listing and deleting): each belongs to a
//! scope — the campaign a call names, else the key's own campaign, else
//! every campaign — so a campaign's key reaches its campaign's consumers
//! only. Following needs a viewer; acknowledging (which moves, or makes,
//! a consumer) and deleting need an editor. Every consumer made, moved or
//! deleted is in the audit log.

use chrono::Utc;
use serde_json::json;

use super::{Caller, Team};
use crate::error::ApiError;
use crate::model::feed::{ConsumerScope, FeedConsumer};
use crate::model::team::{AuditAction, Role};

/// A consumer's name checked: 1-64 letters, digits, `.`, `_` or `-`; `None`
/// for the empty name (an anonymous follower).
pub(crate) fn consumer_name(raw: &str) -> Result<Option<String>, ApiError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let ok = raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(Some(raw.to_owned()))
    } else {
        Err(ApiError::invalid_field(
            "consumer",
            "a consumer name is 1-64 letters, digits, '.', '_' or '-'",
        ))
    }
}

/// A name that must be given.
fn named(raw: &str) -> Result<String, ApiError> {
    consumer_name(raw)?.ok_or_else(|| {
        ApiError::invalid_field("consumer", "name the consumer whose position this is")
    })
}

/// A consumer as listed: with whether it went unread for longer than
/// `OVASABI_FEED_CONSUMER_IDLE_DAYS` (it then holds no record back).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Listed {
    /// The consumer.
    #[serde(flatten)]
    pub consumer: FeedConsumer,
    /// Unread for longer than the idle setting.
    pub idle: bool,
}

/// `FeedConsumer` among the document's schemas: the stored consumer's
/// fields and `idle`, in one object as they are sent (a derive would say
/// the flattened consumer as an `allOf`).
impl salvo_oapi::ToSchema for Listed {
    fn to_schema(components: &mut salvo_oapi::Components) -> salvo_oapi::RefOr<salvo_oapi::Schema> {
        use salvo_oapi::schema::{BasicType, Object, Ref};
        use salvo_oapi::{RefOr, Schema};
        const STORED: &str = "StoredFeedConsumer";
        FeedConsumer::to_schema(components);
        let mut stored = None;
        components.schemas.0.retain(|name, schema| {
            if name == STORED {
                stored = Some(schema.clone());
            }
            name != STORED
        });
        let Some(RefOr::Type(Schema::Object(fields))) = stored else {
            unreachable!("the derived schema of a struct is an object")
        };
        let schema = fields
            .property(
                "idle",
                Object::with_type(BasicType::Boolean).description(
                    "Unread for longer than OVASABI_FEED_CONSUMER_IDLE_DAYS: it holds no \
                     record back from retention",
                ),
            )
            .required("idle")
            .description(
                "A named consumer of the back-office feed (gRPC `Leads.Follow`): its scope is \
                 one campaign, or every campaign (`campaign` null)",
            );
        components.schemas.insert("FeedConsumer", schema);
        Ref::from_schema_name("FeedConsumer").into()
    }
}

impl Team {
    /// The scope a call of `by` naming `campaign` (a slug; empty: none) works
    /// in: that campaign (403 `campaign_out_of_scope` beyond the key's own,
    /// 404 when there is none), else the key's campaign, else every campaign.
    pub(crate) async fn consumer_scope(
        &self,
        by: &Caller,
        campaign: &str,
    ) -> Result<ConsumerScope, ApiError> {
        if campaign.is_empty() {
            return Ok(by.scope_id());
        }
        let id = self
            .campaigns
            .by_slug(self.store.as_ref(), campaign)
            .await?
            .ok_or_else(|| ApiError::campaign_not_found(campaign))?
            .id;
        by.in_scope(id)?;
        Ok(Some(id))
    }

    /// Where the consumer `name` of `scope` resumes (its acknowledged
    /// position, if it has one), noting that it was read now.
    pub(crate) async fn resume_consumer(
        &self,
        scope: ConsumerScope,
        name: &str,
    ) -> Result<Option<u64>, ApiError> {
        let consumer = self.store.feed_consumer(scope, name).await?;
        if consumer.is_some() {
            self.store
                .touch_feed_consumer(scope, name, Utc::now())
                .await?;
        }
        Ok(consumer.map(|c| c.position))
    }

    /// Stores `position` for the consumer `name` of the scope `campaign` names
    /// (an editor's call); its position now. 422 for a position no record has.
    pub(crate) async fn ack_consumer(
        &self,
        by: &Caller,
        campaign: &str,
        name: &str,
        position: u64,
    ) -> Result<u64, ApiError> {
        by.require(Role::Editor)?;
        let name = named(name)?;
        let scope = self.consumer_scope(by, campaign).await?;
        let (_, last) = self.store.feed_bounds().await?;
        if position > last {
            return Err(ApiError::invalid_field(
                "position",
                format!("no record has position {position} yet (the last is {last})"),
            ));
        }
        let acked = self
            .store
            .ack_feed(scope, &name, position, Utc::now())
            .await?;
        let action = match acked.before {
            None => Some(AuditAction::FeedConsumerCreated),
            Some(before) if before != acked.position => Some(AuditAction::FeedConsumerMoved),
            Some(_) => None,
        };
        if let Some(action) = action {
            let before = acked.before.map(|p| json!({"position": p}));
            let after = Some(json!({"position": acked.position}));
            self.record(by.change(action, scope, name, before, after))
                .await;
        }
        Ok(acked.position)
    }

    /// The consumers `by` may see (a viewer's call): of the campaign named, of
    /// the key's campaign, or every one for an unscoped key naming none.
    pub(crate) async fn list_consumers(
        &self,
        by: &Caller,
        campaign: &str,
    ) -> Result<Vec<Listed>, ApiError> {
        by.require(Role::Viewer)?;
        let scope = self.consumer_scope(by, campaign).await?;
        let cutoff = self.idle_cutoff();
        Ok(self
            .store
            .list_feed_consumers(scope)
            .await?
            .into_iter()
            .map(|consumer| Listed {
                idle: !consumer.live_since(cutoff),
                consumer,
            })
            .collect())
    }

    /// Deletes the consumer `name` of the scope `campaign` names (an editor's
    /// call): retention no longer keeps what it had not acknowledged. 404
    /// `consumer_not_found` when there is none.
    pub(crate) async fn delete_consumer(
        &self,
        by: &Caller,
        campaign: &str,
        name: &str,
    ) -> Result<Listed, ApiError> {
        by.require(Role::Editor)?;
        let name = named(name)?;
        let scope = self.consumer_scope(by, campaign).await?;
        let consumer = self
            .store
            .delete_feed_consumer(scope, &name)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                code: "consumer_not_found",
                message: format!("no consumer {name:?} in this scope"),
            })?;
        let before = Some(json!({"position": consumer.position}));
        let change = by.change(AuditAction::FeedConsumerDeleted, scope, name, before, None);
        self.record(change).await;
        Ok(Listed {
            idle: !consumer.live_since(self.idle_cutoff()),
            consumer,
        })
    }

    /// Consumers read before this are idle: they hold no record back.
    pub(crate) fn idle_cutoff(&self) -> chrono::DateTime<Utc> {
        Utc::now()
            - chrono::Duration::from_std(self.feed_consumer_idle)
                .unwrap_or(chrono::Duration::days(30))
    }
}
