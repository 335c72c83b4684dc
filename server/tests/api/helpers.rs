//! Typed helpers: `spawn_app(db)` starts the real server on port 0 with a fresh
//! database and returns a [`TestApp`] to talk to it.
//!
//! PostgreSQL tests run when `OVASABI_TEST_POSTGRES_URL` is set (CI sets it; its
//! absence skips them, printing so); each test gets a database of its own.
//! Redis tests likewise need `OVASABI_TEST_REDIS_URL`.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{App, AppState, Config};
use tokio_util::sync::CancellationToken;

/// The database a test runs on.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh database on the PostgreSQL server at this URL (without database name).
    Postgres(String),
}

impl Db {
    /// The PostgreSQL server to test on, or `None` (printed) when not configured.
    pub(crate) fn postgres() -> Option<Self> {
        match std::env::var("OVASABI_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => {
                Some(Self::Postgres(url.trim_end_matches('/').to_owned()))
            }
            _ => {
                eprintln!("skipped: OVASABI_TEST_POSTGRES_URL is not set");
                None
            }
        }
    }
}

/// The Redis server to test on, or `None` (printed) when not configured.
pub(crate) fn redis_url() -> Option<String> {
    match std::env::var("OVASABI_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped: OVASABI_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// Runs each named `async fn(Db)` test once on SQLite and once on PostgreSQL,
/// as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::helpers::Db::postgres() {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

/// A database made for one test; dropped with it.
pub(crate) struct TestDb {
    /// Its URL.
    pub(crate) url: String,
    /// Keeps the SQLite folder alive (removed on drop).
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL server and database name, dropped on drop.
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(drop)
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test database: {e}");
        }
    }
}

/// Makes a fresh, empty database.
pub(crate) async fn fresh_database(db: &Db) -> TestDb {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            TestDb {
                url,
                _dir: Some(dir),
                postgres: None,
            }
        }
        Db::Postgres(server) => {
            use sqlx::Connection;
            let name = format!("ovasabi_test_{}", uuid::Uuid::now_v7().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .expect("OVASABI_TEST_POSTGRES_URL must reach a PostgreSQL server");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await
                .expect("create test database");
            TestDb {
                url: format!("{server}/{name}"),
                _dir: None,
                postgres: Some((server.clone(), name)),
            }
        }
    }
}

/// A running app and a client for it.
pub(crate) struct TestApp {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its admin token.
    pub(crate) admin_token: String,
    /// Its state (store included), for checks behind the API.
    pub(crate) state: Arc<AppState>,
    /// Its WebTransport endpoint.
    pub(crate) webtransport: Arc<server::transport::webtransport::WebTransportServer>,
    /// HTTP client.
    pub(crate) client: reqwest::Client,
    /// Its database.
    db: TestDb,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the app on a fresh database with the test defaults.
pub(crate) async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Starts the app on a fresh database, after `tweak` has changed its config.
pub(crate) async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    server::telemetry::init_for_tests();
    let test_db = fresh_database(&db).await;
    let mut config = Config::for_database(test_db.url.clone());
    tweak(&mut config);
    let admin_token = config.admin_token.value.clone();
    let app = App::build(config).await.expect("app builds");
    let addr = app.http_addr();
    let state = app.state();
    let webtransport = app.webtransport();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        addr,
        admin_token,
        state,
        webtransport,
        client: reqwest::Client::new(),
        db: test_db,
        shutdown,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Status.
    pub(crate) status: StatusCode,
    /// Headers.
    pub(crate) headers: reqwest::header::HeaderMap,
    /// JSON body (`Null` when empty or not JSON).
    pub(crate) body: Value,
}

impl Reply {
    /// Asserts the status and the error `code`, and returns the body.
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(self.body["message"].is_string(), "body: {}", self.body);
        &self.body
    }

    /// Asserts the status and returns the body.
    pub(crate) fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum As {
    /// No credentials.
    Anonymous,
    /// The admin bearer token.
    Admin,
}

impl TestApp {
    /// Absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        who: As,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if who == As::Admin {
            request = request.bearer_auth(&self.admin_token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends raw bytes with a content type.
    pub(crate) async fn call_raw(
        &self,
        method: Method,
        path: &str,
        who: As,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if who == As::Admin {
            request = request.bearer_auth(&self.admin_token);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str, who: As) -> Reply {
        self.call(Method::GET, path, who, None).await
    }

    /// `POST /api/campaign` as admin.
    pub(crate) async fn create_campaign(&self, body: Value) -> Reply {
        self.call(Method::POST, "/api/campaign", As::Admin, Some(body))
            .await
    }

    /// Creates an active campaign with default config and returns its body.
    pub(crate) async fn active_campaign(&self, slug: &str) -> Value {
        self.create_campaign(json!({"slug": slug, "name": slug, "status": "active"}))
            .await
            .assert_status(201)
            .clone()
    }

    /// `PATCH /api/campaign/{slug}`.
    pub(crate) async fn patch_campaign(&self, slug: &str, who: As, body: Value) -> Reply {
        self.call(
            Method::PATCH,
            &format!("/api/campaign/{slug}"),
            who,
            Some(body),
        )
        .await
    }

    /// Every stored campaign, read behind the API.
    pub(crate) async fn stored_campaigns(&self) -> Vec<server::model::campaign::Campaign> {
        self.state
            .store
            .list_campaigns(server::store::Page {
                limit: 1000,
                offset: 0,
            })
            .await
            .expect("list campaigns")
    }
}

/// Reads a response whole.
pub(crate) async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// Test defaults for a campaign that takes submissions: active, and rate limits
/// high enough for bulk tests (tests of the limits set their own).
pub(crate) fn open_campaign_body(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": slug,
        "status": "active",
        "config": {"rate_limits": {
            "joins_per_minute": 10_000, "quotes_per_minute": 10_000, "referrals_per_minute": 10_000
        }}
    })
}

impl TestApp {
    /// Creates an active campaign with generous rate limits, plus `config` merged in.
    pub(crate) async fn open_campaign(&self, slug: &str, config: Value) -> Value {
        let mut body = open_campaign_body(slug);
        if let Value::Object(extra) = config {
            for (k, v) in extra {
                body["config"][k] = v;
            }
        }
        self.create_campaign(body).await.assert_status(201).clone()
    }

    /// `POST /api/user/register`.
    pub(crate) async fn join(
        &self,
        campaign: &str,
        email: &str,
        name: &str,
        code: Option<&str>,
    ) -> Reply {
        let mut body = json!({"campaign": campaign, "email": email, "name": name});
        if let Some(code) = code {
            body["referral_code"] = json!(code);
        }
        self.call(
            Method::POST,
            "/api/user/register",
            As::Anonymous,
            Some(body),
        )
        .await
    }

    /// Joins and returns `(master_id, referral_code, token)`.
    pub(crate) async fn joined(
        &self,
        campaign: &str,
        email: &str,
        name: &str,
        code: Option<&str>,
    ) -> (String, String, String) {
        let reply = self.join(campaign, email, name, code).await;
        let body = reply.assert_status(201);
        let field = |k: &str| body[k].as_str().expect("string field").to_owned();
        (field("master_id"), field("referral_code"), field("token"))
    }

    /// `POST /api/referral` with a session token.
    pub(crate) async fn refer(&self, campaign: &str, code: &str, token: Option<&str>) -> Reply {
        let mut request = self
            .client
            .post(self.url("/api/referral"))
            .json(&json!({"campaign": campaign, "code": code}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("sent")).await
    }

    /// `POST /api/quote` with an optional idempotency key and session token.
    pub(crate) async fn post_quote(
        &self,
        body: &Value,
        key: Option<&str>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self.client.post(self.url("/api/quote")).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("sent")).await
    }

    /// `GET /api/campaign/{slug}/metrics` as admin.
    pub(crate) async fn metrics(&self, slug: &str) -> Value {
        self.get(&format!("/api/campaign/{slug}/metrics"), As::Admin)
            .await
            .assert_status(200)
            .clone()
    }

    /// Every outbox entry, read behind the API.
    /// The database id of campaign `slug` (which must exist).
    pub(crate) async fn campaign_id(&self, slug: &str) -> i64 {
        self.state
            .store
            .campaign_by_slug(slug)
            .await
            .expect("read")
            .expect("campaign exists")
            .id
    }

    pub(crate) async fn outbox(&self) -> Vec<server::model::outbox::OutboxEntry> {
        self.state
            .store
            .list_outbox(
                server::model::outbox::OutboxState::All,
                None,
                server::store::Page {
                    limit: 1000,
                    offset: 0,
                },
            )
            .await
            .expect("list outbox")
    }

    /// Watches the campaign's events on the bus from now on.
    pub(crate) fn watch_events(&self, campaign: &str) -> EventWatch {
        EventWatch(self.state.bus.subscribe(campaign))
    }

    /// Opens the campaign's event stream; `query` is appended as is.
    pub(crate) async fn events(
        &self,
        slug: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> SseClient {
        SseClient::open(
            &self.client,
            &self.url(&format!("/api/campaign/{slug}/events{query}")),
            last_event_id,
        )
        .await
    }

    /// A connect ticket for the session `token` in `campaign`.
    pub(crate) async fn ticket(&self, campaign: &str, token: &str) -> String {
        ticket(&self.client, &self.url(""), campaign, token).await
    }

    /// A visitor session: `(session_id, token)`.
    pub(crate) async fn visitor(&self, campaign: &str) -> (String, String) {
        let reply = self
            .call(
                Method::POST,
                "/api/session",
                As::Anonymous,
                Some(json!({"campaign": campaign})),
            )
            .await;
        let body = reply.assert_status(201);
        (
            body["session_id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// The URL of the app's database.
    pub(crate) fn db_url(&self) -> String {
        self.db.url.clone()
    }

    /// Stops the app as SIGTERM would.
    pub(crate) fn shut_down(&self) {
        self.shutdown.cancel();
    }
}

/// Events published on the app's bus.
pub(crate) struct EventWatch(tokio::sync::broadcast::Receiver<Arc<server::bus::Envelope>>);

impl EventWatch {
    /// Every event published until nothing new arrived for `quiet`.
    pub(crate) async fn drain(
        &mut self,
        quiet: std::time::Duration,
    ) -> Vec<Arc<server::bus::Envelope>> {
        let mut seen = Vec::new();
        while let Ok(Ok(envelope)) = tokio::time::timeout(quiet, self.0.recv()).await {
            seen.push(envelope);
        }
        seen
    }

    /// The events of `kind` among those published until quiet for 300 ms.
    pub(crate) async fn of_kind(&mut self, kind: &str) -> Vec<Arc<server::bus::Envelope>> {
        self.drain(std::time::Duration::from_millis(300))
            .await
            .into_iter()
            .filter(|e| e.event.kind == kind)
            .collect()
    }
}

/// One Server-Sent Event as a client parses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SseEvent {
    /// `id:` field.
    pub(crate) id: Option<String>,
    /// `event:` field.
    pub(crate) event: String,
    /// `data:` lines, joined.
    pub(crate) data: String,
    /// `retry:` field.
    pub(crate) retry: Option<u64>,
}

impl SseEvent {
    /// The data as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data of {self:?} is JSON: {e}"))
    }
}

/// An event-stream client reading as a browser's EventSource would.
pub(crate) struct SseClient {
    /// The response status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: reqwest::header::HeaderMap,
    /// The last `retry:` the server sent, in milliseconds.
    pub(crate) retry: Option<u64>,
    /// The error body when the stream was refused.
    pub(crate) error: Value,
    body: Option<
        std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    >,
    buffer: String,
    /// Heartbeat comments seen.
    pub(crate) comments: usize,
}

impl SseClient {
    /// Opens `url`, sending `Last-Event-ID` when given.
    pub(crate) async fn open(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = client.get(url);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        Self::send(request).await
    }

    /// Sends `request` for an event stream and reads its answer.
    pub(crate) async fn send(request: reqwest::RequestBuilder) -> Self {
        let response = request
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("stream request sent");
        let status = response.status();
        let headers = response.headers().clone();
        if status != StatusCode::OK {
            let error = read(response).await.body;
            return Self {
                status,
                headers,
                retry: None,
                error,
                body: None,
                buffer: String::new(),
                comments: 0,
            };
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            status,
            headers,
            retry: None,
            error: Value::Null,
            body: Some(Box::pin(response.bytes_stream())),
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event within `wait`; `None` on timeout or when the stream ended.
    pub(crate) async fn next_within(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut data = Vec::new();
                let mut fields = 0;
                for line in block.lines() {
                    if line.is_empty() || line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    fields += 1;
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = value.to_owned(),
                        "data" => data.push(value.to_owned()),
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                if fields == 0 {
                    self.comments += 1;
                    continue;
                }
                if let Some(retry) = event.retry {
                    self.retry = Some(retry);
                }
                if data.is_empty() {
                    continue; // no data: nothing is dispatched (as in a browser)
                }
                event.data = data.join("\n");
                return Some(event);
            }
            let body = self.body.as_mut()?;
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Some(Err(_)) | None) => {
                    self.body = None;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// The next event, which must come within 5 s.
    pub(crate) async fn next(&mut self) -> SseEvent {
        self.next_within(std::time::Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Skips events until one of `kind` (within 10 s).
    pub(crate) async fn next_of(&mut self, kind: &str) -> SseEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(event) if event.event == kind => return event,
                Some(_) => {}
                None => panic!("no {kind} event within 10 s"),
            }
        }
    }

    /// Waits for a `presence` event with this count (within 15 s).
    pub(crate) async fn presence_reaches(&mut self, active: u64) -> SseEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(event) if event.event == "presence" && event.json()["active"] == active => {
                    return event;
                }
                Some(_) => {}
                None => panic!("presence never reached {active} within 15 s"),
            }
        }
    }
}

/// An app started from a configuration whose database the caller owns, with
/// the active campaign `c` created through the API.
pub(crate) struct Started {
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
    /// Its state.
    pub(crate) state: Arc<AppState>,
    /// Cancels to shut it down.
    pub(crate) shutdown: CancellationToken,
    /// `App::run`, ending after shutdown.
    pub(crate) running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the app from `config` and creates campaign `c`.
pub(crate) async fn start_with_campaign(config: Config) -> Started {
    server::telemetry::init_for_tests();
    let admin = config.admin_token.value.clone();
    let app = App::build(config).await.expect("app builds");
    let base = format!("http://{}", app.http_addr());
    let state = app.state();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
    let created = reqwest::Client::new()
        .post(format!("{base}/api/campaign"))
        .bearer_auth(&admin)
        .json(&open_campaign_body("c"))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    Started {
        base,
        state,
        shutdown,
        running,
    }
}

/// `POST {base}/api/connect` for the session `token` in `campaign`: the
/// answer, whatever it is.
pub(crate) async fn ask_ticket(
    client: &reqwest::Client,
    base: &str,
    campaign: &str,
    token: &str,
) -> Reply {
    read(
        client
            .post(format!("{base}/api/connect"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "campaign": campaign }))
            .send()
            .await
            .expect("connect sent"),
    )
    .await
}

/// A connect ticket (`POST {base}/api/connect`) for the session `token` in
/// `campaign`.
pub(crate) async fn ticket(
    client: &reqwest::Client,
    base: &str,
    campaign: &str,
    token: &str,
) -> String {
    let reply = ask_ticket(client, base, campaign, token).await;
    reply.assert_status(201)["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned()
}

/// The `ovasabi-edge` binary, running.
pub(crate) struct RunningBinary {
    child: std::process::Child,
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
}

impl RunningBinary {
    /// Starts the binary with exactly `env` (plus `PATH`) from the repository
    /// root, and waits for its listening line.
    pub(crate) async fn start(env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut child = binary_command(env)
            .current_dir(repo_root())
            .stdout(std::process::Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .expect("binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await
        .expect("join")
        .expect("reads the listening line");
        let base = first_line
            .trim()
            .strip_prefix("ovasabi-edge listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        Self { child, base }
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the exit.
    pub(crate) async fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let mut child = std::mem::replace(&mut self.child, dummy_child());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait")
    }
}

fn dummy_child() -> std::process::Child {
    std::process::Command::new("true")
        .spawn()
        .expect("true runs")
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository root (where `campaigns/` lives).
pub(crate) fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The binary with only `env` (and `PATH`): nothing inherited leaks in.
pub(crate) fn binary_command(env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ovasabi-edge"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().copied());
    cmd
}

/// The server's `/metrics` at `base`, as sample name (with labels) → value.
pub(crate) async fn scrape_metrics(
    client: &reqwest::Client,
    base: &str,
) -> std::collections::HashMap<String, f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Reads with `read` until `done` holds for what it returns, or 10 s pass;
/// returns the last reading (the caller asserts on it).
pub(crate) async fn poll_until<T, Fut: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> Fut,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let value = read().await;
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
