//! `GET /metrics`: the instance's Prometheus metrics ([`crate::telemetry::metrics`])
//! in the Prometheus text format — HTTP requests by route and status, live
//! connections, events, the bus, webhooks, translation, rate limits, cursors
//! and the process. With `OVASABI_METRICS_ADDR` set it is served there only
//! (see [`admin_service`]) and this route answers 404.

use std::sync::Arc;

use salvo::http::{HeaderValue, header};
use salvo::prelude::*;
use salvo_oapi::endpoint;

use super::{ApiError, state};
use crate::request::answers;
use crate::state::AppState;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("metrics").get(metrics)
}

/// The service of the separate metrics address: `GET /metrics` only.
pub(crate) fn admin_service(state: Arc<AppState>) -> Service {
    Service::new(
        Router::new()
            .hoop(crate::request::Inject(state))
            .push(Router::with_path("metrics").get(scrape)),
    )
}

/// Prometheus metrics (text format); 404 when served on OVASABI_METRICS_ADDR only
#[endpoint(
    tags("operations"),
    responses(
        (status_code = 200, description = "Metrics", content(("text/plain" = String))),
        answers::NotFound,
    )
)]
async fn metrics(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    if state.config.metrics_addr.is_some() {
        return Err(ApiError::NotFound {
            code: "not_found",
            message: "metrics are served on the metrics address (OVASABI_METRICS_ADDR)".into(),
        });
    }
    render(&state, res).await;
    Ok(())
}

#[handler]
async fn scrape(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    render(&*state(depot)?, res).await;
    Ok(())
}

/// How long a scrape waits for the outbox counts before leaving them as
/// they were (a database outage must not stall the scrape).
const OUTBOX_COUNT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

async fn render(state: &AppState, res: &mut Response) {
    let counts = tokio::time::timeout(OUTBOX_COUNT_WAIT, state.store.outbox_counts()).await;
    if let Ok(Ok(counts)) = counts {
        let entries = &state.counters.outbox_entries;
        entries.with_label_values(&["pending"]).set(counts.pending);
        entries.with_label_values(&["dead"]).set(counts.dead);
    }
    // What is read rather than counted is read now.
    state
        .cursors
        .counters
        .rooms
        .set(i64::try_from(state.cursors.room_count()).unwrap_or(i64::MAX));
    let breaker_open = state.translator.machine().is_some_and(|m| m.is_open());
    state
        .counters
        .translation_breaker_open
        .set(i64::from(breaker_open));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.body(crate::telemetry::metrics::render(&state.metrics));
}
