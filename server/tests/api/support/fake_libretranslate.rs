//! A local stand-in for LibreTranslate that speaks its real HTTP API —
//! `POST /translate` (string or array `q`), `GET /languages`, `POST /detect`,
//! errors as `{"error": "..."}` — and can be told to be slow, failing,
//! rate-limited, forbidding, or to answer garbage. It translates English to
//! French word by word from a small dictionary; what it does not know it
//! prefixes with `fr:`, and tokens like `[[0]]` pass through, as with a real engine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::{Value, json};

/// How the fake behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Failing,
    Garbage,
    RateLimited,
    Forbidden,
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    delay_ms: AtomicU64,
    translate_calls: AtomicUsize,
    array_calls: AtomicUsize,
}

fn word(w: &str) -> String {
    match w {
        "Hello" => "Bonjour".into(),
        "world" => "monde".into(),
        "Join" => "Rejoindre".into(),
        "Ovasabi" => "OVASABI-FR".into(),
        w if w.starts_with("[[") => w.into(),
        w => format!("fr:{w}"),
    }
}

fn translate_text(text: &str) -> String {
    text.split(' ').map(word).collect::<Vec<_>>().join(" ")
}

struct Translate(Arc<Shared>);

#[async_trait]
impl Handler for Translate {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        self.0.translate_calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.0.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let mode = self.0.mode.lock().unwrap_or(Mode::Normal);
        let body: Value = req.parse_json().await.unwrap_or(Value::Null);
        let (status, answer) = match mode {
            Mode::Failing => (500, json!({"error": "Internal error"})),
            Mode::RateLimited => (429, json!({"error": "Too many requests"})),
            Mode::Forbidden => (403, json!({"error": "Invalid API key"})),
            Mode::Garbage => {
                res.status_code(StatusCode::OK);
                res.render("<html>proxy error</html>");
                return;
            }
            Mode::Normal => match &body["q"] {
                Value::String(q) => (
                    200,
                    json!({
                        "translatedText": translate_text(q),
                        "detectedLanguage": {"confidence": 90, "language": "en"},
                    }),
                ),
                Value::Array(qs) => {
                    self.0.array_calls.fetch_add(1, Ordering::SeqCst);
                    let texts: Vec<String> = qs
                        .iter()
                        .map(|q| translate_text(q.as_str().unwrap_or("")))
                        .collect();
                    (
                        200,
                        json!({
                            "translatedText": texts,
                            "detectedLanguage": qs.iter().map(|_| json!({"confidence": 90, "language": "en"})).collect::<Vec<_>>(),
                        }),
                    )
                }
                _ => (
                    400,
                    json!({"error": "Invalid request: missing q parameter"}),
                ),
            },
        };
        res.status_code(StatusCode::from_u16(status).expect("status"));
        res.render(Json(answer));
    }
}

#[handler]
async fn languages(res: &mut Response) {
    res.render(Json(json!([
        {"code": "en", "name": "English", "targets": ["en", "fr", "es", "pt"]},
        {"code": "fr", "name": "French", "targets": ["en", "fr"]},
        {"code": "es", "name": "Spanish", "targets": ["en", "es"]},
        {"code": "pt", "name": "Portuguese", "targets": ["en", "pt"]}
    ])));
}

#[handler]
async fn detect(res: &mut Response) {
    res.render(Json(json!([{"confidence": 90.0, "language": "en"}])));
}

/// The running fake.
pub(crate) struct FakeLibreTranslate {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeLibreTranslate {
    pub(crate) async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new()
            .push(Router::with_path("translate").post(Translate(shared.clone())))
            .push(Router::with_path("languages").get(languages))
            .push(Router::with_path("detect").post(detect));
        tokio::spawn(Server::new(TcpAcceptor::try_from(listener).expect("acceptor")).serve(router));
        Self { addr, shared }
    }

    pub(crate) fn url(&self) -> url::Url {
        format!("http://{}", self.addr).parse().expect("url")
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock() = Some(mode);
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// `POST /translate` calls so far.
    pub(crate) fn calls(&self) -> usize {
        self.shared.translate_calls.load(Ordering::SeqCst)
    }

    /// Calls whose `q` was an array.
    pub(crate) fn array_calls(&self) -> usize {
        self.shared.array_calls.load(Ordering::SeqCst)
    }
}
