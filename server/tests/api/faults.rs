//! Slow, silent and greedy clients: none of them holds the server.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Db, TestApp, spawn_app_with};

/// Reads what the server answers on `socket` until it closes (at most 10 s).
async fn answer(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn app_with(tweak: impl FnOnce(&mut ovasabi_edge::Config)) -> TestApp {
    let app = spawn_app_with(Db::Sqlite, tweak).await;
    app.open_campaign("c", json!({})).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_and_writes_nothing() {
    let app = app_with(|c| c.body_timeout = Duration::from_secs(1)).await;
    let mut socket = TcpStream::connect(app.addr).await.expect("connects");
    // Warm up the connection with a request, so that it goes to the router.
    let started = Instant::now();
    socket
        .write_all(
            b"POST /api/quote HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"campaign\":",
        )
        .await
        .expect("head sent");
    // One byte now and then, never the whole body.
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if socket.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let text = answer(&mut socket).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.metrics("c").await["leads"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let app = app_with(|c| c.connections_per_ip = 3).await;
    // Three silent connections from this address: the fourth is refused at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(app.addr).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(app.addr).await.expect("connects");
    let text = answer(&mut fourth).await;
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(text.contains("\"code\":\"rate_limited\""), "{text}");
    // Once they go, the address is served again.
    drop(silent);
    let served = crate::support::poll_until(
        || async {
            reqwest::Client::new()
                .get(app.url("/healthz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        },
        |status| *status == 200,
    )
    .await;
    assert_eq!(served, 200);
    let metrics = crate::support::scrape_metrics(&reqwest::Client::new(), &app.url("")).await;
    assert!(
        metrics["ovasabi_connections_refused_total{transport=\"http\"}"] >= 1.0,
        "{metrics:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_not_held_to_one_address_cap() {
    let app = app_with(|c| {
        c.connections_per_ip = 2;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(app.addr).await.expect("connects"));
    }
    let reply = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("served");
    assert_eq!(reply.status(), 200, "the proxy's visitors are many");
}

/// A TCP proxy in front of a service, which the test can cut and restore:
/// an outage without stopping the shared service.
struct CuttableProxy {
    addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (flag, held) = (open.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, as good as
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().push(task);
            }
        });
        Self {
            addr,
            open,
            connections,
            _accept: accept,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.connections.lock().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_fails_fast_keeps_pages_up_and_recovers() {
    let Some(postgres) = Db::postgres() else {
        return;
    };
    let db = crate::support::fresh_database(&postgres).await;
    let mut url = url::Url::parse(&db.url).expect("url");
    let target = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let target = tokio::net::lookup_host(target)
        .await
        .expect("resolves")
        .next()
        .expect("an address");
    let proxy = CuttableProxy::start(target).await;
    url.set_port(Some(proxy.addr.port())).expect("port");
    url.set_host(Some("127.0.0.1")).expect("host");
    let mut config = ovasabi_edge::Config::for_database(url.to_string());
    config.outbox_worker = false;
    let crate::support::Started {
        base,
        state,
        shutdown,
        ..
    } = crate::support::start_with_campaign(config).await;
    let client = reqwest::Client::new();
    let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"});
    // The campaign is loaded (and cached) before the outage.
    assert_eq!(
        client
            .get(format!("{base}/api/campaign/c"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );

    proxy.cut();
    for attempt in 0..3 {
        let started = Instant::now();
        let reply = crate::support::read(
            client
                .post(format!("{base}/api/quote"))
                .header("idempotency-key", "outage-1")
                .json(&lead)
                .send()
                .await
                .expect("sent"),
        )
        .await;
        reply.assert_error(503, "unavailable");
        assert!(reply.headers.contains_key("retry-after"));
        let bound = if attempt == 0 { 3 } else { 1 };
        assert!(
            started.elapsed() < Duration::from_secs(bound),
            "attempt {attempt}: {:?}",
            started.elapsed()
        );
    }
    // What was loaded still serves: the campaign, its event stream.
    let page = client
        .get(format!("{base}/api/campaign/c"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
    let stream = client
        .get(format!("{base}/api/campaign/c/events"))
        .send()
        .await
        .expect("sent");
    assert_eq!(stream.status(), 200);
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 503);

    // Back, without a restart: the retry (same idempotency key) is stored once.
    proxy.restore();
    let stored = crate::support::poll_until(
        || async {
            client
                .post(format!("{base}/api/quote"))
                .header("idempotency-key", "outage-1")
                .json(&lead)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        },
        |status| *status == 201,
    )
    .await;
    assert_eq!(stored, 201);
    let campaign = state
        .store
        .campaign_by_slug("c")
        .await
        .expect("reads")
        .expect("campaign");
    assert_eq!(
        state
            .store
            .campaign_counts(campaign.id)
            .await
            .expect("counts")
            .leads,
        1,
        "nothing half-written, nothing doubled"
    );
    shutdown.cancel();
}

/// A `redis-server` of the test's own, on a spare port, that it can kill and
/// start again (the shared one is never stopped).
pub(crate) struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not listen on {}", self.port);
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `user.joined` names a stream shows: until `expected` came (within
/// `wait`), then for half a second more, to catch any shown twice.
async fn joined_names(
    stream: &mut crate::support::SseClient,
    expected: usize,
    wait: Duration,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match stream.next_within(left).await {
            Some(event) if event.event == "user.joined" => {
                names.push(
                    event.json()["display_name"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
                if names.len() == expected {
                    deadline = tokio::time::Instant::now() + Duration::from_millis(500);
                }
            }
            Some(_) => {}
            None => return names,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_forms_fast_and_streams_whole() {
    if crate::support::redis_url().is_none() {
        return; // redis-server is there whenever the shared Redis is
    }
    let mut redis = OwnRedis::start().await;
    let prefix = format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple());
    let instance = |url: String, prefix: String| {
        spawn_app_with(Db::Sqlite, move |c| {
            c.redis_url = Some(url.as_str().into());
            c.redis_prefix = prefix;
        })
    };
    let a = instance(redis.url(), prefix.clone()).await;
    let b = instance(redis.url(), prefix.clone()).await;
    for app in [&a, &b] {
        app.open_campaign("c", json!({})).await;
    }
    let mut on_a = a.events("c", "", None).await;
    let mut on_b = b.events("c", "", None).await;
    on_a.next().await;
    on_b.next().await;

    on_a.presence_reaches(2).await;
    redis.kill();
    // Each instance goes on counting its own visitors.
    on_a.presence_reaches(1).await;
    // A join during the outage: answered fast, shown on its instance at once.
    let started = Instant::now();
    a.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the form did not wait for Redis: {:?}",
        started.elapsed()
    );
    assert_eq!(
        joined_names(&mut on_a, 1, Duration::from_secs(2)).await,
        ["Ada"]
    );
    // The instance says it is degraded, and still opens streams.
    let ready = a.get("/readyz", crate::support::As::Anonymous).await;
    assert_eq!(ready.assert_status(200)["status"], "degraded");
    let mut late = a.events("c", "", None).await;
    assert_eq!(late.status, 200);
    late.next().await;

    // Redis comes back: the outage's event reaches the other instance, the
    // next events reach everyone, and nobody sees anything twice.
    redis.restart().await;
    let on_b_names = joined_names(&mut on_b, 1, Duration::from_secs(10)).await;
    assert_eq!(on_b_names, ["Ada"], "delivered after the outage, once");
    b.join("c", "grace@example.com", "Grace", None)
        .await
        .assert_status(201);
    assert_eq!(
        joined_names(&mut on_a, 1, Duration::from_secs(10)).await,
        ["Grace"],
        "Ada is not shown again; Grace arrives"
    );
    assert_eq!(
        joined_names(&mut on_b, 1, Duration::from_secs(3)).await,
        ["Grace"]
    );
    assert_eq!(
        joined_names(&mut late, 1, Duration::from_secs(3)).await,
        ["Grace"]
    );
    // Presence merged again: two visitors on A, one on B.
    let active = crate::support::poll_until(
        || async { b.metrics("c").await["active"].as_u64() },
        |active| *active == Some(3),
    )
    .await;
    assert_eq!(active, Some(3));
}

/// Nothing grows forever: delivered entries, and entries waiting for a
/// default receiver that is not configured, go after the retention; dead
/// ones stay until handled.
async fn old_outbox_entries_are_pruned_dead_ones_kept(db: Db) {
    let app = spawn_app_with(db, |c| c.outbox_worker = false).await;
    app.open_campaign("c", json!({})).await;
    for (i, name) in ["Ada", "Grace", "Linus"].iter().enumerate() {
        app.joined("c", &format!("u{i}@example.com"), name, None)
            .await;
    }
    let entries = app.outbox().await;
    assert_eq!(entries.len(), 3);
    let store = &app.state.store;
    let now = chrono::Utc::now();
    store
        .outbox_delivered(entries[0].id, now)
        .await
        .expect("delivered");
    store
        .outbox_failed(entries[1].id, 12, "gone", None, now)
        .await
        .expect("dead");
    let later = now + chrono::Duration::seconds(5);
    let read_since = now - chrono::Duration::days(30);
    assert_eq!(
        store
            .prune_outbox(now - chrono::Duration::days(1), true, read_since)
            .await
            .expect("prune"),
        0,
        "nothing is old enough"
    );
    assert_eq!(
        store
            .prune_outbox(later, false, read_since)
            .await
            .expect("prune"),
        1,
        "the delivered one"
    );
    assert_eq!(
        store
            .prune_outbox(later, true, read_since)
            .await
            .expect("prune"),
        1,
        "the one waiting for a receiver that is not configured"
    );
    let left = app.outbox().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, entries[1].id, "the dead one is kept");
}

/// An admin erases a person: users, leads and pending outbox payloads no
/// longer name them; counts stay; the erasure is recorded; bad requests are
/// refused.
async fn a_person_can_be_erased(db: Db) {
    use crate::support::As;
    let app = spawn_app_with(db, |c| c.outbox_worker = false).await;
    app.open_campaign("c", json!({})).await;
    let (_, ada_code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (grace, _, _) = app
        .joined("c", "grace@example.com", "Grace", Some(&ada_code))
        .await;
    let lead = json!({"campaign": "c", "name": "Ada L.", "email": "ada@example.com", "message": "Call me", "phone": "+44 20 1234"});
    app.submit_lead(&lead, None, None).await.assert_status(201);
    let before = app.metrics("c").await;

    let erased = app
        .call(
            reqwest::Method::POST,
            "/api/erasure",
            As::Admin,
            Some(json!({"email": "ADA@example.com", "campaign": "c"})),
        )
        .await;
    let report = erased.assert_status(200);
    assert_eq!(report["users"], 1, "{report}");
    assert_eq!(report["quotes"], 1, "{report}");
    assert!(
        report["outbox_entries"].as_u64().unwrap_or(0) >= 2,
        "{report}"
    );

    let after = app.metrics("c").await;
    assert_eq!(
        (
            after["users"].clone(),
            after["leads"].clone(),
            after["referrals"].clone()
        ),
        (
            before["users"].clone(),
            before["leads"].clone(),
            before["referrals"].clone()
        ),
        "counts stay"
    );
    for entry in app.outbox().await {
        let text = entry.payload.to_string();
        assert!(
            !text.contains("ada@example.com") && !text.contains("Ada L."),
            "{text}"
        );
    }
    let leads = app.get("/api/quote?campaign=c", As::Admin).await;
    let text = leads.body.to_string();
    assert!(
        !text.contains("ada@example.com") && !text.contains("+44"),
        "{text}"
    );
    let grace = app
        .state
        .store
        .user_by_id(grace.parse().expect("id"))
        .await
        .expect("reads")
        .expect("grace");
    assert_eq!(
        (grace.email.as_str(), grace.display_name.as_str()),
        ("grace@example.com", "Grace"),
        "others are untouched"
    );
    // The same address can join again: the erased user holds no claim on it.
    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);

    for bad in [
        json!({}),
        json!({"email": "not an email"}),
        json!({"email": "a@b.co", "master_id": uuid::Uuid::nil()}),
    ] {
        app.call(reqwest::Method::POST, "/api/erasure", As::Admin, Some(bad))
            .await
            .assert_error(422, "invalid_field");
    }
    app.call(
        reqwest::Method::POST,
        "/api/erasure",
        As::Anonymous,
        Some(json!({"email": "grace@example.com"})),
    )
    .await
    .assert_error(401, "unauthorized");
}

crate::db_tests!(
    old_outbox_entries_are_pruned_dead_ones_kept,
    a_person_can_be_erased,
    machine_translations_are_evicted_least_recently_used_first
);

/// The translation memory is bounded: past the limit, the least recently
/// served machine translations go; overrides never do.
async fn machine_translations_are_evicted_least_recently_used_first(db: Db) {
    use ovasabi_edge::internals::model::translation::{MemoryEntry, MemoryOrigin};
    let app = spawn_app_with(db, |_| {}).await;
    app.open_campaign("c", json!({})).await;
    let campaign = app.campaign_id("c").await;
    let entry = |hash: &str, origin| MemoryEntry {
        campaign_id: campaign,
        source_lang: "en".into(),
        target_lang: "fr".into(),
        context_key: "page:/".into(),
        source_hash: hash.into(),
        source_text: format!("text {hash}"),
        translated_text: format!("texte {hash}"),
        origin,
    };
    let store = &app.state.store;
    store
        .memory_store(&[
            entry("a", MemoryOrigin::Machine),
            entry("b", MemoryOrigin::Machine),
            entry("c", MemoryOrigin::Machine),
            entry("o", MemoryOrigin::Override),
        ])
        .await
        .expect("stored");
    // "b" is served: it becomes the most recently used.
    let served = store
        .memory_lookup(campaign, "en", "fr", "page:/", &["b".to_owned()])
        .await
        .expect("lookup");
    assert_eq!(served.len(), 1);
    assert_eq!(store.prune_memory(1).await.expect("prune"), 2);
    let left = store
        .memory_lookup(
            campaign,
            "en",
            "fr",
            "page:/",
            &["a".into(), "b".into(), "c".into(), "o".into()],
        )
        .await
        .expect("lookup");
    let mut hashes: Vec<&str> = left.iter().map(|e| e.source_hash.as_str()).collect();
    hashes.sort_unstable();
    assert_eq!(hashes, ["b", "o"], "the served one and the override stay");
    assert_eq!(
        store.prune_memory(1).await.expect("prune"),
        0,
        "within the bound"
    );
}

/// Where the app's WebTransport endpoint listens, and a QUIC client
/// configuration that trusts its development certificate.
async fn quic_target(app: &TestApp) -> (std::net::SocketAddr, wtransport::quinn::ClientConfig) {
    let info: serde_json::Value = reqwest::get(app.url("/api/webtransport"))
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    let hash = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        info["certificate_hashes"][0]["value"]
            .as_str()
            .expect("hash"),
    )
    .expect("base64");
    let hash: [u8; 32] = hash.try_into().expect("32 bytes");
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(hash)])
        .build();
    let url = url::Url::parse(info["url"].as_str().expect("url")).expect("url");
    let addr = std::net::SocketAddr::new(
        url.host_str().expect("host").parse().expect("ip"),
        url.port().expect("port"),
    );
    (addr, config.quic_config().clone())
}

/// A QUIC connection that completes its handshake but never asks for a
/// session.
async fn silent_quic(
    target: &(std::net::SocketAddr, wtransport::quinn::ClientConfig),
) -> anyhow::Result<(wtransport::quinn::Endpoint, wtransport::quinn::Connection)> {
    let endpoint = wtransport::quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    let connecting = endpoint.connect_with(target.1.clone(), target.0, "127.0.0.1")?;
    let connection = tokio::time::timeout(Duration::from_secs(5), connecting).await??;
    Ok((endpoint, connection))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_quic_connections_are_capped_and_dropped() {
    let app = app_with(|c| {
        c.connections_per_ip = 3;
        c.handshake_timeout = Duration::from_secs(1);
    })
    .await;
    let target = quic_target(&app).await;
    // Silent connections until the address's cap (HTTP connections of this
    // test count too) refuses one, before any handshake.
    let mut silent = Vec::new();
    loop {
        match silent_quic(&target).await {
            Ok(connection) => silent.push(connection),
            Err(_) => break,
        }
        assert!(silent.len() <= 3, "the cap of 3 holds");
    }
    assert!(
        !silent.is_empty(),
        "silent connections are accepted up to the cap"
    );
    // The silent ones are dropped at the deadline, and the address is free again.
    let started = Instant::now();
    for (_, connection) in &silent {
        tokio::time::timeout(Duration::from_secs(5), connection.closed())
            .await
            .expect("closed by the server within its deadline");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
    assert!(
        silent_quic(&target).await.is_ok(),
        "served again once they are gone"
    );
    let metrics = crate::support::scrape_metrics(&reqwest::Client::new(), &app.url("")).await;
    assert!(
        metrics["ovasabi_connections_refused_total{transport=\"quic\"}"] >= 2.0,
        "refused at the cap and dropped at the deadline: {metrics:?}"
    );
}

/// This process's resident memory, in bytes (Linux).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_cost_bounded_memory() {
    let app = app_with(|c| c.connections_per_ip = 1000).await;
    app.open_campaign(
        "cur",
        json!({"cursor": {"enabled": true, "sessions_per_ip": 100}, "rate_limits": {"streams_per_ip": 100, "cursor_per_second": 240}}),
    )
    .await;
    // Event streams whose readers never read a byte, and cursor sessions
    // that never read a datagram.
    let mut deaf_streams = Vec::new();
    for _ in 0..20 {
        let mut socket = TcpStream::connect(app.addr).await.expect("connects");
        socket
            .write_all(b"GET /api/campaign/c/events HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("sent");
        deaf_streams.push(socket);
    }
    let (_, token) = app.visitor("cur").await;
    let mut deaf_sessions = Vec::new();
    for _ in 0..20 {
        deaf_sessions.push(app.wt_on("cur", "/", Some(&token)).await.expect("session"));
    }
    let mut mover = app.wt_on("cur", "/", Some(&token)).await.expect("mover");
    let before = resident_bytes();
    // 20 000 events of 1 KB and 20 000 cursor moves later…
    let padding = "x".repeat(1000);
    for i in 0..20_000u32 {
        app.state
            .bus
            .publish(
                "c",
                ovasabi_edge::internals::bus::Event::public(
                    "flood",
                    json!({ "i": i, "pad": padding }),
                ),
            )
            .await
            .expect("published");
        mover.send(protocol::PointerKind::Move, (i % 60_000) as u16, 100);
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = resident_bytes().saturating_sub(before);
    println!("resident memory grew by {} KiB", grown / 1024);
    // …what is held for them is the campaign's bounded buffer and the
    // sockets' own buffers, not the 20 MB of events times twenty readers.
    assert!(
        grown < 64 * 1024 * 1024,
        "memory grew by {} MiB",
        grown / (1024 * 1024)
    );
    drop(deaf_streams);
    drop(deaf_sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app_with(|c| {
        c.idle_timeout = Duration::from_secs(5);
        c.sse_heartbeat = Duration::from_secs(1);
    })
    .await;
    let mut socket = TcpStream::connect(app.addr).await.expect("connects");
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("sent");
    let mut buffer = [0u8; 1024];
    let n = socket.read(&mut buffer).await.expect("answer");
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    // Then silence: the server closes the connection after its idle timeout.
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(15), socket.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "closed, not kept: {closed:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3) && started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
}
