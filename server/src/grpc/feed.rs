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
use super::proto::{AckRequest, AckResponse, FollowRequest, Record};
use super::{invalid, status};
use crate::error::ApiError;
use crate::model::outbox::OutboxEntry;
use crate::model::team::Role;
use crate::state::AppState;

/// Records one page reads.
const PAGE: u32 = 200;
/// Records numbered in one transaction.
const NUMBERING_BATCH: u32 = 500;
/// How often a follower that caught up looks again.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Records a follower's channel holds before its reader waits (backpressure).
const CHANNEL: usize = 64;

/// The feed service.
pub struct Feed(pub Arc<AppState>);

/// Numbers committed records every second, so that retention can remove
/// them (and a consumer's position means the same on every instance).
pub fn start_numbering(state: &Arc<AppState>) {
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

fn consumer_name(raw: &str) -> Result<Option<String>, Status> {
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
        Err(invalid(
            "consumer",
            "a consumer name is 1-64 letters, digits, '.', '_' or '-'",
        ))
    }
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
        let consumer = consumer_name(&request.consumer)?;
        let campaign_id = if request.campaign.is_empty() {
            // A campaign's key follows its campaign.
            by.scope_id()
        } else {
            let found = state
                .campaigns
                .by_slug(state.store.as_ref(), &request.campaign)
                .await
                .map_err(|e| status(e.into()))?;
            let id = found
                .ok_or_else(|| status(ApiError::campaign_not_found(&request.campaign)))?
                .id;
            by.in_scope(id).map_err(status)?;
            Some(id)
        };
        let stored = match (&consumer, request.after) {
            (Some(name), None) => state
                .store
                .consumer_position(name)
                .await
                .map_err(|e| status(e.into()))?,
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
        let types = request.types;
        let (tx, mut rx) = mpsc::channel::<Result<Record, Status>>(CHANNEL);
        let stop = state.tasks.shutdown().clone();
        let reader = state.clone();
        state.tasks.spawn("grpc feed follower", async move {
            let state = reader;
            let mut position = start;
            loop {
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
        super::caller(&self.0, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let name = consumer_name(&request.consumer)?
            .ok_or_else(|| invalid("consumer", "name the consumer whose position this is"))?;
        let (_, last) = self
            .0
            .store
            .feed_bounds()
            .await
            .map_err(|e| status(e.into()))?;
        if request.position > last {
            return Err(invalid(
                "position",
                format!(
                    "no record has position {} yet (the last is {last})",
                    request.position
                ),
            ));
        }
        let position = self
            .0
            .store
            .ack_feed(&name, request.position)
            .await
            .map_err(|e| status(e.into()))?;
        Ok(Response::new(AckResponse { position }))
    }
}
