//! `GET /api/webtransport`: where and how a browser opens the cursor channel.
//!
//! `{"url": "https://127.0.0.1:4433/wt", "certificate_hashes": [{"algorithm":
//! "sha-256", "value": "<base64>"}]}` — the browser connects to
//! `<url>/<campaign>?page=<path>&token=<session token>`, passing the hashes as
//! `serverCertificateHashes` (development). With a real certificate the list
//! is empty. Chromium reaches `127.0.0.1` reliably; `localhost` may resolve to
//! `::1`, where the endpoint may not listen.

use salvo::prelude::*;
use serde::Serialize;

use super::{ApiError, state};

/// Routes of this resource.
pub fn router() -> Router {
    Router::with_path("api/webtransport").get(info)
}

/// One certificate hash, as `serverCertificateHashes` wants it.
#[derive(Debug, Serialize)]
pub struct CertificateHash {
    /// Always `sha-256`.
    pub algorithm: &'static str,
    /// Base64 of the digest.
    pub value: String,
}

/// Body of `GET /api/webtransport`.
#[derive(Debug, Serialize)]
pub struct WebTransportInfo {
    /// Base URL of the cursor channel.
    pub url: String,
    /// Hashes to pin (development only).
    pub certificate_hashes: Vec<CertificateHash>,
}

#[handler]
async fn info(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let state = state(depot)?;
    let addr = state.webtransport.local_addr();
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
    let certificate_hashes = state
        .webtransport
        .certificate_hashes()
        .into_iter()
        .map(|value| CertificateHash {
            algorithm: "sha-256",
            value,
        })
        .collect();
    res.render(Json(WebTransportInfo {
        url,
        certificate_hashes,
    }));
    Ok(())
}
