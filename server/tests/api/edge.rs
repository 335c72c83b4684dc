//! The production edge, tried directly (the reverse-proxy tests are in
//! `proxy`): who the client is, which origins may use the API, connect
//! tickets, JSON-only bodies, text that reaches other visitors, security
//! headers, webhook targets and session secret rotation.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::fake_receiver::Receiver;
use crate::support::{As, Db, SseClient, TestApp, read, spawn_app, spawn_app_with};

const SITE: &str = "https://www.example.com";
const EVIL: &str = "https://evil.example";

/// An event stream of campaign `slug` sent with `headers`.
async fn stream_with(
    app: &TestApp,
    slug: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> SseClient {
    let mut request = app
        .client
        .get(app.url(&format!("/api/campaign/{slug}/events{query}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    SseClient::send(request).await
}

fn code_of(stream: &SseClient) -> (u16, Value) {
    (stream.status.as_u16(), stream.error["code"].clone())
}

async fn forwarded_addresses_count_only_from_trusted_proxies(db: Db) {
    // Trusting the loopback peer as a proxy: its X-Forwarded-For names the client.
    let app = spawn_app_with(db, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    app.open_campaign("c", json!({"rate_limits": {"streams_per_ip": 1}}))
        .await;
    let one = stream_with(&app, "c", "", &[("x-forwarded-for", "203.0.113.1")]).await;
    let two = stream_with(
        &app,
        "c",
        "",
        &[("x-forwarded-for", "6.6.6.6, 203.0.113.2")],
    )
    .await;
    assert_eq!(
        (one.status.as_u16(), two.status.as_u16()),
        (200, 200),
        "two visitors, two streams"
    );
    let again = stream_with(&app, "c", "", &[("x-forwarded-for", "203.0.113.1")]).await;
    assert_eq!(
        code_of(&again),
        (429, json!("rate_limited")),
        "the same visitor again"
    );
    // IPv6: one /64 is one visitor, whatever address inside it.
    let v6 = stream_with(&app, "c", "", &[("x-forwarded-for", "2001:db8:1:2::1")]).await;
    assert_eq!(v6.status, 200);
    let same_net = stream_with(
        &app,
        "c",
        "",
        &[("x-forwarded-for", "2001:db8:1:2:ffff::9")],
    )
    .await;
    assert_eq!(code_of(&same_net), (429, json!("rate_limited")));
    let other_net = stream_with(&app, "c", "", &[("x-forwarded-for", "2001:db8:1:3::1")]).await;
    assert_eq!(other_net.status, 200);

    // Trusting nobody (the default): the same headers change nothing.
    let plain = spawn_app(Db::Sqlite).await;
    plain
        .open_campaign("c", json!({"rate_limits": {"streams_per_ip": 1}}))
        .await;
    let first = stream_with(&plain, "c", "", &[("x-forwarded-for", "203.0.113.1")]).await;
    let spoofed = stream_with(&plain, "c", "", &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        code_of(&spoofed),
        (429, json!("rate_limited")),
        "spoofing gains nothing"
    );
}

async fn only_allowed_origins_may_use_the_api(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"origins": [SITE]})).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/quote"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let allowed = preflight(SITE).await.expect("preflight");
    assert_eq!(allowed.status(), 204);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], SITE);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .expect("text")
            .contains("authorization")
    );
    assert!(headers.get_all("vary").iter().any(|v| v == "origin"));
    let refused = read(preflight(EVIL).await.expect("preflight")).await;
    refused.assert_error(403, "origin_not_allowed");
    assert!(!refused.headers.contains_key("access-control-allow-origin"));

    let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"});
    let post = |origin: &'static str| {
        app.client
            .post(app.url("/api/quote"))
            .header("origin", origin)
            .json(&lead)
            .send()
    };
    let written = read(post(SITE).await.expect("sent")).await;
    written.assert_status(201);
    assert_eq!(written.headers["access-control-allow-origin"], SITE);
    let foreign = read(post(EVIL).await.expect("sent")).await;
    foreign.assert_error(403, "origin_not_allowed");
    assert!(!foreign.headers.contains_key("access-control-allow-origin"));
    // The server's own origin needs no listing.
    let own = read(
        app.client
            .post(app.url("/api/session"))
            .header("origin", app.url(""))
            .json(&json!({"campaign": "c"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    own.assert_status(201);
    // An origin one campaign allows is not allowed by another.
    app.open_campaign("d", json!({})).await;
    let elsewhere = read(
        app.client
            .post(app.url("/api/quote"))
            .header("origin", SITE)
            .json(&json!({"campaign": "d", "name": "Ada", "email": "ada@example.com", "message": "Hi"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    elsewhere.assert_error(403, "origin_not_allowed");
    assert_eq!(app.metrics("d").await["leads"], 0);
    assert_eq!(
        app.metrics("c").await["leads"],
        1,
        "only the allowed write happened"
    );

    // Event streams: readable from the allowed origin, refused to another.
    let stream = stream_with(&app, "c", "", &[("origin", SITE)]).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.headers["access-control-allow-origin"], SITE);
    let refused = stream_with(&app, "c", "", &[("origin", EVIL)]).await;
    assert_eq!(code_of(&refused), (403, json!("origin_not_allowed")));
    // The client's module scripts load from anywhere, without credentials.
    let script = app
        .client
        .get(app.url("/client/ovasabi.js"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("script");
    assert_eq!(script.headers()["access-control-allow-origin"], "*");
}

async fn bodies_must_be_json(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let body = r#"{"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app.client.post(app.url("/api/quote")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        read(request.send().await.expect("sent"))
            .await
            .assert_error(415, "unsupported_media_type");
    }
    assert_eq!(app.metrics("c").await["leads"], 0, "nothing written");
}

async fn connect_tickets_are_short_lived_and_bound(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("d", json!({})).await;
    let (_, token) = app.visitor("c").await;
    // A ticket opens the stream, and again within its minute.
    let ticket = app.ticket("c", &token).await;
    let first = app.events("c", &format!("?ticket={ticket}"), None).await;
    let second = app.events("c", &format!("?ticket={ticket}"), None).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));
    // Not for another campaign.
    let elsewhere = app.events("d", &format!("?ticket={ticket}"), None).await;
    assert_eq!(code_of(&elsewhere), (401, json!("invalid_ticket")));
    // Not once expired, nor from another address.
    let claims = app
        .state
        .sessions
        .verify(&token, chrono::Utc::now())
        .expect("token");
    let (old, _) = app.state.sessions.issue_ticket(
        &claims,
        "127.0.0.1",
        None,
        chrono::Utc::now() - chrono::Duration::minutes(2),
    );
    let expired = app.events("c", &format!("?ticket={old}"), None).await;
    assert_eq!(code_of(&expired), (401, json!("ticket_expired")));
    let (theirs, _) =
        app.state
            .sessions
            .issue_ticket(&claims, "198.51.100.7", None, chrono::Utc::now());
    let moved = app.events("c", &format!("?ticket={theirs}"), None).await;
    assert_eq!(code_of(&moved), (401, json!("invalid_ticket")));
    // Asking for one needs the session token, for that campaign.
    let anonymous = app
        .call(
            Method::POST,
            "/api/connect",
            As::Anonymous,
            Some(json!({"campaign": "c"})),
        )
        .await;
    anonymous.assert_error(401, "unauthorized");
    crate::support::ask_ticket(&app.client, &app.url(""), "d", &token)
        .await
        .assert_error(401, "invalid_token");
}

async fn text_shown_to_others_refuses_invisible_characters(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    for name in [
        "Ada\u{202E}gnp.exe",
        "Ada\u{2028}Lovelace",
        "A\u{200B}da",
        "\u{2066}Ada",
    ] {
        let reply = app.join("c", "ada@example.com", name, None).await;
        assert_eq!(
            reply.assert_error(422, "invalid_field")["field"],
            "name",
            "{name:?}"
        );
    }
    app.joined("c", "ada@example.com", "Ada", None).await;
    for variant in [
        "ＡＤＡ@ｅｘａｍｐｌｅ.ｃｏｍ",
        "a\u{200B}da@example.com",
        "Ada@Example.com",
    ] {
        app.join("c", variant, "Ada again", None)
            .await
            .assert_error(409, "email_taken");
    }
    // A NUL anywhere: refused alike on every database, nothing written.
    let reply = app
        .call(
            Method::POST,
            "/api/quote",
            As::Anonymous,
            Some(json!({"campaign": "c", "name": "Grace", "email": "grace@example.com", "message": "a\u{0}b"})),
        )
        .await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "message");
    let nested = app
        .call(
            Method::POST,
            "/api/quote",
            As::Anonymous,
            Some(json!({"campaign": "c", "name": "Grace", "email": "grace@example.com", "message": "hi", "details": {"page": "\u{0}"}})),
        )
        .await;
    assert_eq!(
        nested.assert_error(422, "invalid_field")["field"],
        "details.page"
    );
    assert_eq!(app.metrics("c").await["leads"], 0);
}

db_tests!(
    forwarded_addresses_count_only_from_trusted_proxies,
    only_allowed_origins_may_use_the_api,
    bodies_must_be_json,
    connect_tickets_are_short_lived_and_bound,
    text_shown_to_others_refuses_invisible_characters,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_served_at_its_version_for_good() {
    let app = spawn_app(Db::Sqlite).await;
    let version = ovasabi_edge::internals::http::web::CLIENT_VERSION;
    let package: serde_json::Value =
        serde_json::from_str(include_str!("../../../web-client/package.json"))
            .expect("package.json");
    assert_eq!(package["version"], version, "the package's own version");
    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // The unversioned URL redirects to the current version, and is not cached.
    let latest = manual
        .get(app.url("/client/ovasabi.js"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(latest.status(), 307);
    assert_eq!(
        latest.headers()["location"],
        format!("/client/v{version}/ovasabi.js").as_str()
    );
    assert_eq!(latest.headers()["cache-control"], "no-cache");
    assert_eq!(latest.headers()["access-control-allow-origin"], "*");
    // The versioned one is the module, immutable, loadable from anywhere.
    for file in ["ovasabi.js", "protocol.js", "motion.js", "react.js"] {
        let module = manual
            .get(app.url(&format!("/client/v{version}/{file}")))
            .send()
            .await
            .expect("sent");
        assert_eq!(module.status(), 200, "{file}");
        let headers = module.headers().clone();
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(
            headers["content-type"]
                .to_str()
                .expect("text")
                .starts_with("text/javascript")
        );
        assert_eq!(headers["access-control-allow-origin"], "*");
        let text = module.text().await.expect("body");
        assert!(!text.is_empty());
    }
    let body = manual
        .get(app.url(&format!("/client/v{version}/ovasabi.js")))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains(&format!("CLIENT_VERSION = '{version}'")),
        "the module knows its version"
    );
    // Another version, or a file that is not the client's: 404 with a reason.
    for path in [
        "/client/v0.0.1/ovasabi.js".to_owned(),
        format!("/client/{version}/ovasabi.js"),
        format!("/client/v{version}/nope.js"),
        "/client/nope.js".to_owned(),
    ] {
        let reply = read(manual.get(app.url(&path)).send().await.expect("sent")).await;
        reply.assert_error(404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_has_security_headers_and_can_be_turned_off() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.frame_ancestors = "https://www.example.com".into()
    })
    .await;
    let page = app.client.get(app.url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    let csp = headers["content-security-policy"].to_str().expect("text");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains("frame-ancestors https://www.example.com"),
        "{csp}"
    );
    let wt_port = app.webtransport.local_addr().port();
    assert!(
        csp.contains(&format!("https://127.0.0.1:{wt_port}")),
        "{csp}"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let script = app
        .client
        .get(app.url("/client/ovasabi.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.headers()["referrer-policy"], "no-referrer");

    let off = spawn_app_with(Db::Sqlite, |c| c.demo = false).await;
    for path in ["/", "/demo/app.js"] {
        let reply = read(off.client.get(off.url(path)).send().await.expect("sent")).await;
        reply.assert_status(404);
    }
    let client = read(
        off.client
            .get(off.url("/client/ovasabi.js"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    client.assert_status(200);
}

/// The team's dashboard: every file of it under a policy that allows its own
/// scripts and styles and the API only, never framed; with
/// `OVASABI_ADMIN_UI=false` it is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_has_security_headers_and_can_be_turned_off() {
    let app = spawn_app(Db::Sqlite).await;
    for (path, content_type) in [
        ("/admin", "text/html; charset=utf-8"),
        ("/admin/app.js", "text/javascript; charset=utf-8"),
        ("/admin/views.js", "text/javascript; charset=utf-8"),
        ("/admin/uPlot.esm.js", "text/javascript; charset=utf-8"),
        ("/admin/admin.css", "text/css; charset=utf-8"),
    ] {
        let answer = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        let csp = headers["content-security-policy"].to_str().expect("text");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    let page = app
        .client
        .get(app.url("/admin"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Team key"), "the sign-in form");
    read(
        app.client
            .get(app.url("/admin/nope.js"))
            .send()
            .await
            .expect("sent"),
    )
    .await
    .assert_error(404, "not_found");

    let off = spawn_app_with(Db::Sqlite, |c| c.admin_ui = false).await;
    for path in ["/admin", "/admin/app.js"] {
        let reply = read(off.client.get(off.url(path)).send().await.expect("sent")).await;
        reply.assert_error(404, "not_found");
    }
    // The API it uses stays: the page is only a client of it.
    off.get("/api/admin/whoami", As::Admin)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_keeps_old_tokens_valid() {
    const OLD: &str = "the-old-session-secret-of-32-chars!";
    const NEW: &str = "the-new-session-secret-of-32-chars!";
    let before = spawn_app_with(Db::Sqlite, |c| c.session_secret.value = OLD.into()).await;
    before.open_campaign("c", json!({})).await;
    let (_, token) = before.visitor("c").await;
    let (_, _, user) = before.joined("c", "ada@example.com", "Ada", None).await;

    let rotated = spawn_app_with(Db::Sqlite, |c| {
        c.session_secret.value = NEW.into();
        c.session_secret_previous = Some(ovasabi_edge::internals::config::Secret::configured(OLD));
    })
    .await;
    rotated.open_campaign("c", json!({})).await;
    for old in [&token, &user] {
        rotated.ticket("c", old).await;
    }
    let after = spawn_app_with(Db::Sqlite, |c| c.session_secret.value = NEW.into()).await;
    after.open_campaign("c", json!({})).await;
    crate::support::ask_ticket(&after.client, &after.url(""), "c", &token)
        .await
        .assert_error(401, "invalid_token");
    // Visitors' tokens live hours, users' longer.
    let session = rotated
        .call(
            Method::POST,
            "/api/session",
            As::Anonymous,
            Some(json!({"campaign": "c"})),
        )
        .await;
    let visitor = session.assert_status(201)["expires_at"]
        .as_str()
        .expect("expiry")
        .to_owned();
    let expires: chrono::DateTime<chrono::Utc> = visitor.parse().expect("time");
    let hours = (expires - chrono::Utc::now()).num_hours();
    assert!((11..=12).contains(&hours), "{hours} hours");
}

#[test]
fn webhook_targets_are_checked_at_config() {
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://localhost/hook",
        "http://crm.example.com/hook",
    ] {
        let err = ovasabi_edge::Config::from_flags(["--webhook-url", url]).expect_err(url);
        assert_eq!(err.name, "OVASABI_WEBHOOK_URL", "{url}: {err}");
    }
    assert!(
        ovasabi_edge::Config::from_flags(["--webhook-url", "https://crm.example.com/hook"]).is_ok()
    );
    assert!(
        ovasabi_edge::Config::from_flags([
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--webhook-allow-http",
            "true",
            "--webhook-allow-private",
            "true"
        ])
        .is_ok(),
        "development allows local receivers when told to"
    );
}

/// The first delivery error of `app`'s outbox (waiting up to 10 s for one).
async fn first_error(app: &TestApp) -> String {
    let entries = crate::support::poll_until(
        || app.outbox(),
        |entries| entries.iter().any(|e| e.last_error.is_some()),
    )
    .await;
    entries
        .into_iter()
        .find_map(|e| e.last_error)
        .unwrap_or_else(|| "no delivery error within 10 s".to_owned())
}

/// A host name (from `/etc/hosts`) that resolves to a loopback address.
fn loopback_name() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: std::net::IpAddr = words.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| words.find(|w| !w.contains("localhost")).map(str::to_owned))?
        })
        .next()
        .unwrap_or_else(|| "localhost".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_are_checked_at_delivery() {
    let receiver = Receiver::start(&[307, 307, 307]).await;
    let port = url::Url::parse(&receiver.url("/"))
        .expect("url")
        .port()
        .expect("port");
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.webhook_allow_http = true;
        c.webhook_backoff = Duration::from_millis(10);
        c.webhook_max_attempts = 1;
    })
    .await;
    // A campaign cannot name a private address…
    app.call(
        Method::POST,
        "/api/campaign",
        As::Admin,
        Some(json!({"slug": "x", "name": "X", "status": "active", "config": {"webhooks": ["http://169.254.169.254/"]}})),
    )
    .await
    .assert_error(422, "invalid_field");
    // …but a name is only known at delivery: one that resolves to loopback is refused then.
    let name = loopback_name();
    app.open_campaign(
        "c",
        json!({"webhooks": [format!("http://{name}:{port}/hook")]}),
    )
    .await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    let error = first_error(&app).await;
    assert!(error.contains("not a public address"), "{error}");
    assert_eq!(receiver.received().len(), 0, "never called");

    // A redirect is a failed attempt, not followed.
    let follows = spawn_app_with(Db::Sqlite, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.webhook_url = Some(receiver.url("/crm").parse().expect("url"));
        c.webhook_max_attempts = 1;
    })
    .await;
    follows.open_campaign("c", json!({})).await;
    follows.joined("c", "ada@example.com", "Ada", None).await;
    let error = first_error(&follows).await;
    assert!(
        error.contains("307") && error.contains("redirects are not followed"),
        "{error}"
    );
    assert_eq!(
        receiver.received().len(),
        1,
        "one attempt, no second request to the redirect"
    );
}

/// Joins from this test's address until one is refused; how many got in.
async fn joins_until_refused(apps: &[&TestApp], tries: usize) -> usize {
    for i in 0..tries {
        let app = apps[i % apps.len()];
        let reply = app
            .join(
                "c",
                &format!("v{i}-{}@example.com", uuid::Uuid::now_v7().simple()),
                "V",
                None,
            )
            .await;
        if reply.status == 429 {
            assert_eq!(reply.body["code"], "rate_limited");
            assert!(reply.headers.contains_key("retry-after"));
            return i;
        }
        reply.assert_status(201);
    }
    tries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_instances_and_fall_back_without_redis() {
    let Some(redis) = crate::support::redis_url() else {
        return;
    };
    let prefix = format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple());
    let shared = |redis: String, prefix: String| {
        move |c: &mut ovasabi_edge::Config| {
            c.redis_url = Some(redis.as_str().into());
            c.redis_prefix = prefix;
        }
    };
    let a = spawn_app_with(Db::Sqlite, shared(redis.clone(), prefix.clone())).await;
    let b = spawn_app_with(Db::Sqlite, shared(redis.clone(), prefix.clone())).await;
    for app in [&a, &b] {
        app.open_campaign("c", json!({"rate_limits": {"joins_per_minute": 4}}))
            .await;
    }
    assert_eq!(
        joins_until_refused(&[&a, &b], 10).await,
        4,
        "four joins a minute in all, not four per instance"
    );

    // A Redis of our own, then stopped: each instance limits on its own, quickly.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("addr").port()
    };
    let mut own = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let own_url = format!("redis://127.0.0.1:{port}");
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = spawn_app_with(Db::Sqlite, shared(own_url, prefix)).await;
    c.open_campaign("c", json!({})).await;
    let _ = own.kill();
    let _ = own.wait();
    // Sessions: limited (60 a minute) and, unlike joins, publishing nothing
    // on the bus, so the time measured is the limiter's alone.
    let started = std::time::Instant::now();
    let mut granted = 0;
    for _ in 0..70 {
        let reply = c
            .call(
                Method::POST,
                "/api/session",
                As::Anonymous,
                Some(json!({"campaign": "c"})),
            )
            .await;
        if reply.status == 429 {
            assert_eq!(reply.body["code"], "rate_limited");
            break;
        }
        reply.assert_status(201);
        granted += 1;
    }
    assert_eq!(granted, 60, "the local limit holds");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no request waits long for the dead Redis: {:?}",
        started.elapsed()
    );
    let fallbacks = c.state.limiter.fallbacks.get();
    assert!(fallbacks >= 1, "the local buckets decided");
}
