//! The back-office gRPC API (`proto/ovasabi/edge/v1/edge.proto`), on its own
//! listener (`OVASABI_GRPC_ADDR`): the leads feed ([`feed`]), quotes,
//! campaigns and a campaign's own events ([`services`]), with gRPC health
//! checking and server reflection. Every call of the API's services carries
//! a team key, the admin token or the service token (`authorization: Bearer
//! …`), and is held to the key's role and campaign scope as REST is; health
//! and reflection answer anyone. Errors are the REST API's, as gRPC
//! status codes with the stable code in the `ovasabi-code` metadata entry.

pub(crate) mod feed;
pub(crate) mod services;

use std::sync::Arc;

use anyhow::Context;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status};

use crate::error::ApiError;
use crate::model::team::Role;
use crate::state::AppState;
use crate::team::Caller;

/// The generated messages, servers and clients of `ovasabi.edge.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ovasabi.edge.v1");

    /// The compiled descriptors, served by reflection.
    pub const DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/edge_descriptor.bin"));
}

/// The REST error as a gRPC status: its code mapped, its stable code (and
/// field) in metadata, its cause logged and never sent.
pub(crate) fn status(error: ApiError) -> Status {
    let code = match error.status().as_u16() {
        400 | 413 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 => Code::DeadlineExceeded,
        409 if error.code().ends_with("_taken") => Code::AlreadyExists,
        409 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    let message = match &error {
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "gRPC call failed");
            "internal server error".to_owned()
        }
        other => other.to_string(),
    };
    let mut status = Status::new(code, message);
    status
        .metadata_mut()
        .insert("ovasabi-code", MetadataValue::from_static(error.code()));
    if let Some(field) = error.field().and_then(|f| f.parse().ok()) {
        status.metadata_mut().insert("ovasabi-field", field);
    }
    status
}

/// 422 `invalid_field` naming `field`, as a status.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Status {
    status(ApiError::invalid_field(field, message))
}

/// Lets a call through when it carries a bearer, and notes it in the call's
/// extensions: the service token as its caller, any other for [`caller`] to
/// ask [`crate::team::Team::caller`] about (an interceptor cannot wait for the
/// database).
#[derive(Clone)]
pub(crate) struct Authorize(Arc<AppState>);

/// A bearer other than the service token, for [`caller`] to look up.
#[derive(Clone)]
struct Bearer(String);

fn unauthenticated() -> Status {
    status(ApiError::Unauthorized {
        code: "unauthorized",
        message: "this API needs a team key, the admin token or the service token \
                  (authorization: Bearer …)"
            .into(),
    })
}

impl tonic::service::Interceptor for Authorize {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::request::bearer)
            .map(str::to_owned);
        let state = &self.0;
        let service = state
            .config
            .service_token
            .as_ref()
            .is_some_and(|secret| crate::team::token_matches(bearer.as_deref(), &secret.value));
        if service {
            request.extensions_mut().insert(Caller::service_token());
        } else if let Some(bearer) = bearer {
            request.extensions_mut().insert(Bearer(bearer));
        } else {
            return Err(unauthenticated());
        }
        Ok(request)
    }
}

/// Who made the call [`Authorize`] let through, with at least `role`
/// (a team key is looked up now: a revoked one is refused).
pub(crate) async fn caller<T>(
    state: &AppState,
    request: &Request<T>,
    role: Role,
) -> Result<Caller, Status> {
    let found = match (
        request.extensions().get::<Caller>(),
        request.extensions().get::<Bearer>(),
    ) {
        (Some(caller), _) => Some(caller.clone()),
        (None, Some(Bearer(bearer))) => state.team.caller(Some(bearer)).await.map_err(status)?,
        (None, None) => None,
    };
    let caller = found.ok_or_else(unauthenticated)?;
    caller.require(role).map_err(status)?;
    Ok(caller)
}

/// Serves the API on `listener` until the app drains; the feed's numbering
/// runs beside it.
pub(crate) fn start(
    state: &Arc<AppState>,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    use proto::campaigns_server::CampaignsServer;
    use proto::events_server::EventsServer;
    use proto::leads_server::LeadsServer;
    use proto::quotes_server::QuotesServer;

    let auth = Authorize(state.clone());
    let api = services::Api(state.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    // Reflection in both versions clients ask for (grpcurl and grpcio's
    // descriptor database still speak v1alpha).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let mut server = tonic::transport::Server::builder();
    if let (Some(cert), Some(key)) = (&state.config.grpc_cert, &state.config.grpc_key) {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the gRPC {what} {} (OVASABI_GRPC_{})",
                    path.display(),
                    what.to_uppercase()
                )
            })
        };
        let identity = tonic::transport::Identity::from_pem(read(cert, "cert")?, read(key, "key")?);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .context("the gRPC certificate and key do not make a TLS identity")?;
    }
    let router = server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(LeadsServer::with_interceptor(
            feed::Feed(state.clone()),
            auth.clone(),
        ))
        .add_service(QuotesServer::with_interceptor(api.clone(), auth.clone()))
        .add_service(CampaignsServer::with_interceptor(api.clone(), auth.clone()))
        .add_service(EventsServer::with_interceptor(api, auth));
    let stop = state.tasks.shutdown().clone();
    state.tasks.spawn("grpc listener", async move {
        for name in [
            "ovasabi.edge.v1.Leads",
            "ovasabi.edge.v1.Quotes",
            "ovasabi.edge.v1.Campaigns",
            "ovasabi.edge.v1.Events",
            "",
        ] {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
        {
            tracing::warn!(error = %e, "the gRPC listener stopped");
        }
    });
    feed::start_numbering(state);
    Ok(())
}
