//! A real local HTTP server speaking a CAPTCHA provider's siteverify
//! protocol (Cloudflare Turnstile's or hCaptcha's): a form-encoded POST of
//! `secret`, `response`, `remoteip` (and Turnstile's `idempotency_key`),
//! answered `{"success": …, "error-codes": […]}`. A token starting `pass`
//! is valid once (then a duplicate, in the provider's own words, unless the
//! retry carries the first call's idempotency key); any other is invalid.
//! It can be taken down (500s).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::json;

/// Whose protocol it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Turnstile,
    Hcaptcha,
}

/// The secret it expects.
pub(crate) const SECRET: &str = "0x-test-secret";

#[derive(Default)]
struct Shared {
    down: AtomicBool,
    /// Tokens verified, with the idempotency key of their first call.
    seen: Mutex<HashMap<String, Option<String>>>,
    /// Every call's form fields.
    calls: Mutex<Vec<HashMap<String, String>>>,
}

struct Verify(Arc<Shared>, Flavour);

#[async_trait]
impl Handler for Verify {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
        let form: HashMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        self.0.calls.lock().push(form.clone());
        if self.0.down.load(Ordering::SeqCst) {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render("down");
            return;
        }
        let duplicate = match self.1 {
            Flavour::Turnstile => "timeout-or-duplicate",
            Flavour::Hcaptcha => "invalid-or-already-seen-response",
        };
        let token = form.get("response").cloned().unwrap_or_default();
        let key = form.get("idempotency_key").cloned();
        let answer = if form.get("secret").map(String::as_str) != Some(SECRET) {
            json!({"success": false, "error-codes": ["invalid-input-secret"]})
        } else if token.is_empty() {
            json!({"success": false, "error-codes": ["missing-input-response"]})
        } else if !token.starts_with("pass") {
            json!({"success": false, "error-codes": ["invalid-input-response"]})
        } else {
            let mut seen = self.0.seen.lock();
            match seen.get(&token) {
                None => {
                    seen.insert(token, key);
                    json!({"success": true, "error-codes": [], "hostname": "localhost"})
                }
                Some(first) if first.is_some() && *first == key => {
                    json!({"success": true, "error-codes": [], "hostname": "localhost"})
                }
                Some(_) => json!({"success": false, "error-codes": [duplicate]}),
            }
        };
        res.render(Json(answer));
    }
}

/// The running provider.
pub(crate) struct SiteVerify {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SiteVerify {
    /// Starts one speaking `flavour`'s protocol.
    pub(crate) async fn start(flavour: Flavour) -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = TcpAcceptor::try_from(listener).expect("acceptor");
        let router = Router::with_path("siteverify").post(Verify(shared.clone(), flavour));
        tokio::spawn(Server::new(acceptor).serve(router));
        Self { addr, shared }
    }

    /// Its siteverify URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/siteverify", self.addr)
    }

    /// Takes it down (every call answered 500) or back up.
    pub(crate) fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every call's form fields so far.
    pub(crate) fn calls(&self) -> Vec<HashMap<String, String>> {
        self.shared.calls.lock().clone()
    }
}
