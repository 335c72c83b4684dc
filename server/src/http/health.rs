//! `GET /healthz` (the process is up) and `GET /readyz` (its dependencies answer:
//! the database, and Redis when configured).

use std::time::Duration;

use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use super::{ApiError, state};
use crate::state::AppState;

/// How long one readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::new()
        .push(Router::with_path("healthz").get(healthz))
        .push(Router::with_path("readyz").get(readyz))
}

/// Body of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Body of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `not_ready` when a dependency fails, like every error body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// Which dependency fails, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// `ok`, `error` or `not_configured`, per dependency.
    pub checks: Checks,
}

/// Per-dependency results.
#[derive(Debug, Serialize, ToSchema)]
#[allow(missing_docs)] // fields named for what they hold
pub(crate) struct Checks {
    pub database: &'static str,
    pub redis: &'static str,
}

/// The process is up
#[endpoint(
    tags("operations"),
    responses((status_code = 200, description = "Up", body = Health))
)]
async fn healthz(res: &mut Response) {
    res.render(Json(Health { status: "ok" }));
}

async fn check_database(state: &AppState) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(e)),
                "database not ready"
            );
            "error"
        }
        Err(_) => "error",
    }
}

async fn check_redis(state: &AppState) -> &'static str {
    let Some(client) = &state.redis else {
        return "not_configured";
    };
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "redis not ready");
            "error"
        }
        Err(_) => "error",
    }
}

/// Ready for traffic: the database (and Redis) answer, not draining
#[endpoint(
    tags("operations"),
    responses(
        (status_code = 200, description = "Ready", body = Readiness),
        (status_code = 503, description = "Not ready or draining", body = Readiness),
    )
)]
async fn readyz(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let (database, redis) = tokio::join!(check_database(&state), check_redis(&state));
    let draining = state.tasks.draining().is_cancelled();
    // Without Redis the instance still serves (events and presence locally):
    // degraded, not out of service.
    let degraded = redis == "error";
    let ready = database == "ok" && !draining;
    if !ready {
        res.status_code(StatusCode::SERVICE_UNAVAILABLE);
    }
    res.render(Json(Readiness {
        status: if draining {
            "draining"
        } else if !ready {
            "not_ready"
        } else if degraded {
            "degraded"
        } else {
            "ready"
        },
        code: (!ready).then_some(if draining { "draining" } else { "not_ready" }),
        message: (!ready).then_some(if draining {
            "this instance is shutting down; send new requests elsewhere"
        } else {
            "a dependency does not answer; see checks"
        }),
        checks: Checks { database, redis },
    }));
    Ok(())
}
