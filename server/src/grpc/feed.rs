//! `Leads.Follow` and `Leads.Ack`: the outbox records of the default
//! receiver as a resumable feed, read from the database in pages (a slow
//! consumer holds at most one page and a small channel, never more).
//!
//! Positions are given in commit order by [`FeedStore::sequence_feed`]
//! (ids are handed out before commit, so `id > after` would lose a row that
//! committed late); this module numbers what committed every second, and a
//! follower that caught up numbers before each look.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::proto::leads_server::Leads;
use super::proto::{
    AckRequest, AckResponse, Consumer, DeleteConsumerRequest, FollowRequest, ListConsumersRequest,
    ListConsumersResponse, Record,
};
use super::status;
use crate::error::ApiError;
use crate::model::feed::ConsumerScope;
use crate::model::outbox::OutboxEntry;
use crate::model::team::Role;
use crate::state::AppState;
use crate::team::consumers;

/// Records one page reads.
const PAGE: u32 = 200;
/// Records numbered in one transaction.
const NUMBERING_BATCH: u32 = 500;
/// How often a follower that caught up looks again.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Records a follower's channel holds before its reader waits (backpressure).
const CHANNEL: usize = 64;

/// The feed service.
pub(crate) struct Feed(pub Arc<AppState>);

/// Numbers committed records every second, so that retention can remove
/// them (and a consumer's position means the same on every instance).
pub(crate) fn start_numbering(state: &Arc<AppState>) {
    let numbering = state.clone();
    state
        .tasks
        .periodic("feed numbering", Duration::from_secs(1), None, move || {
            let state = numbering.clone();
            async move {
                if let Err(e) = state.store.sequence_feed(NUMBERING_BATCH).await {
                    tracing::debug!(error = %e, "feed records not numbered");
                }
            }
        });
}

fn record(position: u64, entry: OutboxEntry) -> Record {
    Record {
        position,
        r#type: entry.event_type,
        campaign: entry.campaign_slug.unwrap_or_default(),
        payload_json: entry.payload.to_string(),
        created_at: entry.created_at.to_rfc3339(),
    }
}

fn out_of_range(after: u64, pruned: u64) -> Status {
    let mut status = Status::out_of_range(format!(
        "position {after} is older than what retention kept (records up to {pruned} were removed): start again from {pruned}"
    ));
    status.metadata_mut().insert(
        "ovasabi-code",
        tonic::metadata::MetadataValue::from_static("position_pruned"),
    );
    status
}

type FollowStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Record, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Leads for Feed {
    type FollowStream = FollowStream;

    async fn follow(
        &self,
        request: Request<FollowRequest>,
    ) -> Result<Response<Self::FollowStream>, Status> {
        let state = self.0.clone();
        let by = super::caller(&state, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let (campaign_id, start) = start_of(&state, &by, &request).await?;
        // Held open with its key: a revocation ends it; a key holds a few.
        let key = by.key_id;
        let holder = key.map_or_else(|| by.name.clone(), |id| format!("key {id}"));
        let limit = state.config.follows_per_key;
        let slot = state
            .follows
            .acquire(&holder, limit)
            .ok_or_else(|| too_many_follows(limit))?;
        let hold = (slot, key.map(|id| state.revocations.hold_key(id)));
        let types = request.types;
        let (tx, mut rx) = mpsc::channel::<Result<Record, Status>>(CHANNEL);
        let stop = state.tasks.shutdown().clone();
        let reader = state.clone();
        state.tasks.spawn("grpc feed follower", async move {
            let state = reader;
            let mut position = start;
            let mut revoked = state.revocations.changed();
            let _hold = hold;
            loop {
                if let Some(id) = key
                    && state.revocations.key_revoked(id)
                {
                    let _ = tx.send(Err(revoked_key())).await;
                    return;
                }
                if let Err(e) = state.store.sequence_feed(NUMBERING_BATCH).await {
                    let _ = tx.send(Err(status(e.into()))).await;
                    return;
                }
                let page = match state.store.feed_after(position, campaign_id, PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(status(e.into()))).await;
                        return;
                    }
                };
                // Overtaken by retention (an anonymous follower far behind).
                match state.store.feed_bounds().await {
                    Ok((pruned, _)) if position < pruned => {
                        let _ = tx.send(Err(out_of_range(position, pruned))).await;
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(status(e.into()))).await;
                        return;
                    }
                }
                let full = page.len() == PAGE as usize;
                for (at, entry) in page {
                    position = at;
                    if !types.is_empty() && !types.contains(&entry.event_type) {
                        continue;
                    }
                    if tx.send(Ok(record(at, entry))).await.is_err() {
                        return; // the consumer went away
                    }
                }
                if !full {
                    tokio::select! {
                        () = tokio::time::sleep(FOLLOW_POLL) => {}
                        _ = revoked.changed() => {}
                        () = tx.closed() => return,
                        () = stop.cancelled() => return,
                    }
                }
            }
        });
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let by = super::caller(&self.0, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let state = self.0.clone();
        let position = self
            .0
            .team
            .carried(async move {
                let AckRequest {
                    consumer,
                    position,
                    campaign,
                } = request;
                state
                    .team
                    .ack_consumer(&by, &campaign, &consumer, position)
                    .await
            })
            .await
            .map_err(status)?;
        Ok(Response::new(AckResponse { position }))
    }

    async fn list_consumers(
        &self,
        request: Request<ListConsumersRequest>,
    ) -> Result<Response<ListConsumersResponse>, Status> {
        let by = super::caller(&self.0, &request, Role::Viewer).await?;
        let listed = self
            .0
            .team
            .list_consumers(&by, &request.get_ref().campaign)
            .await
            .map_err(status)?;
        Ok(Response::new(ListConsumersResponse {
            consumers: listed.into_iter().map(consumer).collect(),
        }))
    }

    async fn delete_consumer(
        &self,
        request: Request<DeleteConsumerRequest>,
    ) -> Result<Response<Consumer>, Status> {
        let by = super::caller(&self.0, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let state = self.0.clone();
        let deleted = self
            .0
            .team
            .carried(async move {
                state
                    .team
                    .delete_consumer(&by, &request.campaign, &request.consumer)
                    .await
            })
            .await
            .map_err(status)?;
        Ok(Response::new(consumer(deleted)))
    }
}

/// A listed consumer as the API sends it.
fn consumer(listed: consumers::Listed) -> Consumer {
    let consumers::Listed { consumer, idle } = listed;
    Consumer {
        name: consumer.name,
        campaign: consumer.campaign.unwrap_or_default(),
        position: consumer.position,
        updated_at: consumer.updated_at.to_rfc3339(),
        read_at: consumer.read_at.to_rfc3339(),
        idle,
    }
}

/// What a follow beyond the key's share is refused with.
fn too_many_follows(limit: u32) -> Status {
    let mut status = Status::resource_exhausted(format!(
        "this key holds {limit} follows open already (OVASABI_FOLLOWS_PER_KEY): \
         end one, or use another key"
    ));
    status.metadata_mut().insert(
        "ovasabi-code",
        tonic::metadata::MetadataValue::from_static("too_many_follows"),
    );
    status
}

/// What a follow whose key was revoked ends with.
fn revoked_key() -> Status {
    status(ApiError::Unauthorized {
        code: "key_revoked",
        message: "the key this feed was followed with was revoked".into(),
    })
}

/// Where a follow starts, and the campaign it reads (the consumer's scope):
/// after `after`, else where the named consumer acknowledged, else the
/// oldest record kept; out of range when retention removed that far.
async fn start_of(
    state: &AppState,
    by: &crate::team::Caller,
    request: &FollowRequest,
) -> Result<(ConsumerScope, u64), Status> {
    let consumer = consumers::consumer_name(&request.consumer).map_err(status)?;
    // The campaign read, which is the consumer's scope.
    let campaign_id = state
        .team
        .consumer_scope(by, &request.campaign)
        .await
        .map_err(status)?;
    let stored = match (&consumer, request.after) {
        (Some(name), None) => state
            .team
            .resume_consumer(campaign_id, name)
            .await
            .map_err(status)?,
        _ => None,
    };
    let (pruned, _) = state
        .store
        .feed_bounds()
        .await
        .map_err(|e| status(e.into()))?;
    let start = match request.after.or(stored) {
        Some(after) if after < pruned => return Err(out_of_range(after, pruned)),
        Some(after) => after,
        // From the start: the oldest record kept.
        None => pruned,
    };
    Ok((campaign_id, start))
}
