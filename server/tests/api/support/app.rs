//! The app under test: [`spawn_app`] starts the real server on port 0 with a
//! fresh database and returns a [`TestApp`], whose methods are named after
//! what a visitor or the campaign team does.

use std::net::SocketAddr;
use std::sync::Arc;

use ovasabi_edge::{App, AppState, Config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::db::{Db, TestDb, fresh_database};
use super::sse::SseClient;
use super::wt::WtClient;

/// A running app and a client for it.
pub(crate) struct TestApp {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its admin token.
    pub(crate) admin_token: String,
    /// Its state (store included), for checks behind the API.
    pub(crate) state: Arc<AppState>,
    /// Its WebTransport endpoint.
    pub(crate) webtransport:
        Arc<ovasabi_edge::internals::transport::webtransport::WebTransportServer>,
    /// Its separate metrics address, when `metrics_addr` is set.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Its back-office gRPC address, when `grpc_addr` is set.
    pub(crate) grpc_addr: Option<SocketAddr>,
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
    ovasabi_edge::internals::telemetry::init_for_tests();
    let test_db = fresh_database(&db).await;
    let mut config = Config::for_database(test_db.url.clone());
    tweak(&mut config);
    let admin_token = config.admin_token.value.clone();
    let app = App::build(config).await.expect("app builds");
    let addr = app.http_addr();
    let state = app.state();
    let webtransport = app.webtransport();
    let metrics_addr = app.metrics_addr();
    let grpc_addr = app.grpc_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        addr,
        metrics_addr,
        grpc_addr,
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

    /// A visitor with session `token` on campaign `c`'s page `/` over
    /// WebTransport (a connect ticket first, as the browser client does).
    pub(crate) async fn wt(&self, token: &str) -> anyhow::Result<WtClient> {
        self.wt_on("c", "/", Some(token)).await
    }

    /// A WebTransport client on `campaign`'s `page`, with a ticket for
    /// `token` (and none without one).
    pub(crate) async fn wt_on(
        &self,
        campaign: &str,
        page: &str,
        token: Option<&str>,
    ) -> anyhow::Result<WtClient> {
        WtClient::connect(&self.url(""), campaign, page, token).await
    }

    /// A protocol-version-2 WebTransport client (rosters too) on `campaign`'s `page`.
    pub(crate) async fn wt_v2(
        &self,
        campaign: &str,
        page: &str,
        token: &str,
    ) -> anyhow::Result<WtClient> {
        WtClient::connect_version(&self.url(""), campaign, page, Some(token), 2).await
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

    /// Sends a request with a session token and an optional JSON body.
    pub(crate) async fn call_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// `GET path` as admin, answered as CSV: its rows by column name
    /// (parsed with the `csv` crate, as a spreadsheet would read them).
    pub(crate) async fn csv(&self, path: &str) -> Vec<std::collections::HashMap<String, String>> {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.admin_token)
            .header("accept", "text/csv")
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .to_owned();
        assert!(content_type.starts_with("text/csv"), "{content_type}");
        let text = response.text().await.expect("body read");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().expect("a header row").clone();
        reader
            .records()
            .map(|record| {
                let record = record.expect("a CSV record");
                header
                    .iter()
                    .zip(record.iter())
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .collect()
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

    /// `POST /api/erasure` of `email` (every campaign), as admin.
    pub(crate) async fn erase_email(&self, email: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/erasure",
            As::Admin,
            Some(json!({"email": email})),
        )
        .await
    }

    /// `PUT /api/campaign/{slug}/file` with a campaign file's TOML, as admin.
    pub(crate) async fn apply_campaign_file(&self, slug: &str, toml: &str) -> Reply {
        self.call_raw(
            Method::PUT,
            &format!("/api/campaign/{slug}/file"),
            As::Admin,
            "application/toml",
            toml.to_owned(),
        )
        .await
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
    pub(crate) async fn stored_campaigns(
        &self,
    ) -> Vec<ovasabi_edge::internals::model::campaign::Campaign> {
        self.state
            .store
            .list_campaigns(ovasabi_edge::internals::store::Page {
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
    pub(crate) async fn submit_lead(
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

    /// The counts of `GET /api/campaign/{slug}/metrics` as admin (its
    /// `series` left out).
    pub(crate) async fn metrics(&self, slug: &str) -> Value {
        let mut counts = self
            .get(&format!("/api/campaign/{slug}/metrics"), As::Admin)
            .await
            .assert_status(200)
            .clone();
        counts.as_object_mut().expect("an object").remove("series");
        counts
    }

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

    /// Every webhook entry of the outbox, read behind the API.
    pub(crate) async fn outbox(&self) -> Vec<ovasabi_edge::internals::model::outbox::OutboxEntry> {
        let mut entries = self.all_outbox().await;
        entries.retain(|e| e.kind == ovasabi_edge::internals::model::outbox::OutboxKind::Webhook);
        entries
    }

    /// Every outbox entry, webhooks and mails, read behind the API.
    pub(crate) async fn all_outbox(
        &self,
    ) -> Vec<ovasabi_edge::internals::model::outbox::OutboxEntry> {
        self.state
            .store
            .list_outbox(
                ovasabi_edge::internals::model::outbox::OutboxState::All,
                None,
                ovasabi_edge::internals::store::Page {
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
pub(crate) struct EventWatch(
    tokio::sync::broadcast::Receiver<Arc<ovasabi_edge::internals::bus::Envelope>>,
);

impl EventWatch {
    /// Every event published until nothing new arrived for `quiet`.
    pub(crate) async fn drain(
        &mut self,
        quiet: std::time::Duration,
    ) -> Vec<Arc<ovasabi_edge::internals::bus::Envelope>> {
        let mut seen = Vec::new();
        while let Ok(Ok(envelope)) = tokio::time::timeout(quiet, self.0.recv()).await {
            seen.push(envelope);
        }
        seen
    }

    /// The events of `kind` among those published until quiet for 300 ms.
    pub(crate) async fn of_kind(
        &mut self,
        kind: &str,
    ) -> Vec<Arc<ovasabi_edge::internals::bus::Envelope>> {
        self.drain(std::time::Duration::from_millis(300))
            .await
            .into_iter()
            .filter(|e| e.event.kind == kind)
            .collect()
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

/// Starts the app from `config` and creates campaign `c`, open to submissions.
pub(crate) async fn start_with_campaign(config: Config) -> Started {
    start_with(config, open_campaign_body("c")).await
}

/// Starts the app from `config` and creates the campaign `campaign` (a
/// `POST /api/campaign` body) through the API.
pub(crate) async fn start_with(config: Config, campaign: Value) -> Started {
    let admin = config.admin_token.value.clone();
    let started = start(config).await;
    let created = reqwest::Client::new()
        .post(format!("{}/api/campaign", started.base))
        .bearer_auth(&admin)
        .json(&campaign)
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    started
}

/// Starts the app from `config` (on a database that may be another
/// instance's too).
pub(crate) async fn start(config: Config) -> Started {
    ovasabi_edge::internals::telemetry::init_for_tests();
    let app = App::build(config).await.expect("app builds");
    let base = format!("http://{}", app.http_addr());
    let state = app.state();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
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
