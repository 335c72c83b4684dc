//! Where and how a browser opens the cursor channel.
//!
//! `GET /api/webtransport`: `{"url": "https://127.0.0.1:4433/wt",
//! "certificate_hashes": [{"algorithm": "sha-256", "value": "<base64>"}]}` —
//! the browser connects to `<url>/<campaign>?page=<path>&ticket=<connect ticket>`,
//! passing the hashes as `serverCertificateHashes` (development). With a real
//! certificate the list is empty. Chromium reaches `127.0.0.1` reliably;
//! `localhost` may resolve to `::1`, where the endpoint may not listen.
//!
//! `GET /api/campaign/{slug}/webtransport?page=/` with a connect ticket
//! (`?ticket=`) or the session token (`Authorization: Bearer`): the same, plus `session_url` for
//! that campaign and page — after the same [admission](crate::admission)
//! checks the handshake runs, answered with their JSON errors (the handshake
//! itself can only refuse with a bare 403 or 429).

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;
use salvo::prelude::*;
use salvo_oapi::{ToSchema, endpoint};
use serde::Serialize;

use crate::request::answers;

use crate::admission::{AdmissionRequest, Channel, Credential, admit};
use crate::cursor::RoomKey;
use crate::request::{ApiError, bearer_token, client_address, request_origin, state};
use crate::state::AppState;

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/webtransport").get(info)
}

/// Routes under `api/campaign/{slug}`.
pub(crate) fn campaign_router() -> Router {
    Router::with_path("webtransport").get(connect_info)
}

/// One certificate hash, as `serverCertificateHashes` wants it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateHash {
    /// Always `sha-256`.
    pub algorithm: &'static str,
    /// Base64 of the digest.
    pub value: String,
}

/// Body of `GET /api/webtransport`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebTransportInfo {
    /// Base URL of the cursor channel.
    pub url: String,
    /// Hashes to pin (development only).
    pub certificate_hashes: Vec<CertificateHash>,
    /// The session URL of a campaign and page, without its token (only from
    /// `GET /api/campaign/{slug}/webtransport`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_url: Option<String>,
}

/// Where browsers reach the cursor channel, as `req` addressed this server.
pub(crate) fn endpoint_info(
    req: &Request,
    depot: &Depot,
    state: &AppState,
) -> Result<WebTransportInfo, ApiError> {
    let endpoint = published(depot)?;
    let addr = endpoint.local_addr();
    let url = match &state.config.wt_public_url {
        Some(url) => url.to_string(),
        None => {
            let host = if addr.ip().is_unspecified() {
                req.uri()
                    .host()
                    .map(str::to_owned)
                    .or_else(|| {
                        req.headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned())
                    })
                    .unwrap_or_else(|| "127.0.0.1".to_owned())
            } else if addr.is_ipv6() {
                format!("[{}]", addr.ip())
            } else {
                addr.ip().to_string()
            };
            format!("https://{host}:{}/wt", addr.port())
        }
    };
    let certificate_hashes = endpoint
        .certificate_hashes()
        .into_iter()
        .map(|value| CertificateHash {
            algorithm: "sha-256",
            value,
        })
        .collect();
    Ok(WebTransportInfo {
        url,
        certificate_hashes,
        session_url: None,
    })
}

/// The cursor channel's endpoint, which the HTTP service puts in the depot.
fn published(depot: &Depot) -> Result<Arc<PublishedEndpoint>, ApiError> {
    depot
        .get_typed::<Arc<PublishedEndpoint>>()
        .cloned()
        .map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the WebTransport endpoint missing from depot"
            ))
        })
}

/// The WebTransport endpoint and certificate hashes
#[endpoint(
    tags("live"),
    responses((status_code = 200, description = "Endpoint", body = WebTransportInfo))
)]
async fn info(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    res.render(Json(endpoint_info(req, depot, &state)?));
    Ok(())
}

/// Where to open the cursor channel, after the handshake's own checks
#[endpoint(
    tags("live"),
    security(("sessionToken" = [])),
    parameters(
        ("slug" = crate::model::schema::Slug, Path, description = "The campaign's slug"),
        ("page" = Option<String>, Query, description = "The page (path) the cursors are of"),
        ("ticket" = Option<String>, Query, description = "A connect ticket (POST /api/connect), instead of `Authorization: Bearer`"),
    ),
    responses(
        (status_code = 200, description = "Endpoint", body = WebTransportInfo),
        answers::SessionCredential,
        answers::NotAllowed,
        answers::NotFound,
        answers::Limited,
    )
)]
async fn connect_info(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let slug = req.param::<String>("slug").unwrap_or_default();
    let ticket = req.query::<String>("ticket");
    let credential = match (&ticket, bearer_token(req.headers())) {
        (Some(ticket), _) => Credential::Ticket(ticket),
        (None, Some(token)) => Credential::Token(token),
        (None, None) => Credential::None,
    };
    let page = request_origin(req.headers());
    // Checked as the handshake will be: a WebTransport session carries no
    // admin credential, so drafts are refused here too.
    let admission = admit(
        &state,
        Channel::CursorSession,
        AdmissionRequest {
            slug: &slug,
            credential,
            admin: false,
            client: client_address(req, &state),
            bind_ticket: true,
            origin: page.as_request(),
        },
    )
    .await?;
    drop(admission.slot); // a check, not a session: the handshake takes its own
    let room = RoomKey::new(
        &admission.campaign.slug,
        req.query::<String>("page").as_deref(),
    );
    let mut body = endpoint_info(req, depot, &state)?;
    let mut session_url = url::Url::parse(&format!(
        "{}/{}",
        body.url.trim_end_matches('/'),
        room.campaign
    ))
    .map_err(anyhow::Error::from)?;
    session_url
        .query_pairs_mut()
        .append_pair("page", &room.page);
    body.session_url = Some(session_url.to_string());
    res.render(Json(body));
    Ok(())
}

/// Where browsers reach the WebTransport endpoint, and the hashes of the
/// development certificate they pin (kept current by the endpoint as it
/// renews its certificate).
#[derive(Debug)]
pub struct PublishedEndpoint {
    addr: SocketAddr,
    hashes: RwLock<Vec<String>>,
}

impl PublishedEndpoint {
    /// The endpoint at `addr` with certificate `hashes`.
    pub fn new(addr: SocketAddr, hashes: Vec<String>) -> Self {
        Self {
            addr,
            hashes: RwLock::new(hashes),
        }
    }

    /// The UDP address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base64 SHA-256 hashes of the development certificate (none in production).
    pub fn certificate_hashes(&self) -> Vec<String> {
        self.hashes.read().clone()
    }

    /// Publishes the hashes of a new certificate.
    pub fn set_certificate_hashes(&self, hashes: Vec<String>) {
        *self.hashes.write() = hashes;
    }
}
