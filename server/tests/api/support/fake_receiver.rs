//! A real local HTTP server standing in for the CRM's webhook receiver: it
//! answers with a scripted sequence of statuses and records every request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::prelude::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// Request path.
    pub(crate) path: String,
    /// Headers, lower-case names.
    pub(crate) headers: salvo::http::HeaderMap,
    /// Raw body.
    pub(crate) body: Vec<u8>,
    /// The status it was answered with.
    pub(crate) answered: u16,
}

impl Received {
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<u16>>,
    received: Mutex<Vec<Received>>,
}

struct Record(Arc<Shared>);

#[async_trait]
impl Handler for Record {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
        let status = self.0.script.lock().pop_front().unwrap_or(200);
        self.0.received.lock().push(Received {
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
            body,
            answered: status,
        });
        res.status_code(StatusCode::from_u16(status).expect("status"));
        res.render("ok");
    }
}

/// The running receiver.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver that answers `script` in order, then 200.
    pub(crate) async fn start(script: &[u16]) -> Self {
        let shared = Arc::new(Shared::default());
        shared.script.lock().extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = TcpAcceptor::try_from(listener).expect("acceptor");
        let router = Router::with_path("{**rest}").post(Record(shared.clone()));
        tokio::spawn(Server::new(acceptor).serve(router));
        Self { addr, shared }
    }

    /// URL of `path` on the receiver.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.shared.received.lock().clone()
    }

    /// Waits until `done` holds for what was received (at most 10 s).
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {received:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
