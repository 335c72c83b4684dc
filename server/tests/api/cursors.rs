//! The cursor channel end to end: real WebTransport sessions (wtransport client,
//! certificate hash pinned from `GET /api/webtransport`) and the SSE + POST
//! fallback, in one room.

use std::time::{Duration, Instant};

use crate::support::wt::{client_endpoint, shows};
use crate::support::{As, Db, TestApp, scrape_metrics, spawn_app, spawn_app_with};
use base64::Engine;
use protocol::{PointerKind, Uplink, VERSION, decode_frame, encode_uplink};
use reqwest::Method;
use serde_json::json;

async fn cursor_campaign(app: &TestApp, slug: &str, extra: serde_json::Value) {
    let mut config =
        json!({"cursor": {"sessions_per_ip": 500}, "rate_limits": {"streams_per_ip": 500}});
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            config[k] = v;
        }
    }
    app.open_campaign(slug, config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_see_each_other_move_and_leave() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(&app, "c", json!({})).await;
    let (_, ada_token) = app.visitor("c").await;
    let (_, grace_token) = app.visitor("c").await;
    let mut ada = app.wt(&ada_token).await.expect("ada connects");
    let mut grace = app.wt(&grace_token).await.expect("grace connects");
    grace.wait_for("both present", |f| f.presence == 2).await;

    ada.send(PointerKind::Move, 1000, 2000);
    let (frame, waited) = grace
        .wait_for("Ada's move", |f| shows(f, 1000, 2000).is_some())
        .await;
    eprintln!("move seen after {waited:?}");
    assert!(waited < Duration::from_millis(500), "{waited:?}");
    let ada_id = shows(&frame, 1000, 2000).expect("shown");

    grace.send(PointerKind::Tap, 3000, 4000);
    let (frame, _) = ada
        .wait_for("Grace's tap", |f| shows(f, 3000, 4000).is_some())
        .await;
    let tap = frame.cursors.iter().find(|c| c.x == 3000).expect("tap");
    assert_eq!(tap.kind, PointerKind::Tap);

    ada.send(PointerKind::Leave, 0, 0);
    grace
        .wait_for("Ada's leave", |f| f.removed.contains(&ada_id))
        .await;
    ada.send(PointerKind::Move, 5, 6);
    grace
        .wait_for("Ada back", |f| shows(f, 5, 6) == Some(ada_id))
        .await;

    drop(ada);
    let (frame, _) = grace
        .wait_for("Ada gone", |f| f.removed.contains(&ada_id))
        .await;
    assert_eq!(frame.presence, 1, "exact presence");
    assert!(app.state.cursors.counters.frames.get() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_a_valid_token_are_refused() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(&app, "c", json!({})).await;
    cursor_campaign(&app, "other", json!({})).await;
    let (_, other_token) = app.visitor("other").await;
    assert!(app.wt_on("c", "/", None).await.is_err(), "no token");
    assert!(app.wt("forged.token.here").await.is_err(), "forged");
    assert!(app.wt(&other_token).await.is_err(), "another campaign's");
    let (_, token) = app.visitor("c").await;
    assert!(
        app.wt_on("nope", "/", Some(&token)).await.is_err(),
        "unknown campaign"
    );
    assert!(app.wt(&token).await.is_ok(), "a valid one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_datagrams_do_no_harm() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(&app, "c", json!({})).await;
    let (_, a) = app.visitor("c").await;
    let (_, b) = app.visitor("c").await;
    let mut sender = app.wt(&a).await.expect("connects");
    let watcher = app.wt(&b).await.expect("connects");
    for junk in [
        vec![],
        vec![2, 1, 0, 0, 0],
        vec![1, 0xFF],
        vec![1; 900],
        vec![0xAB; 40],
    ] {
        sender.connection.send_datagram(junk).expect("sent");
    }
    sender.send(PointerKind::Move, 777, 888);
    watcher
        .wait_for("the valid move", |f| shows(f, 777, 888).is_some())
        .await;
    let dropped = app.state.cursors.counters.dropped_malformed.get();
    assert_eq!(dropped, 5, "each bad datagram dropped and counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interest_cap_holds_with_200_sessions() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(
        &app,
        "c",
        json!({"cursor": {"interest_cap": 16, "sessions_per_ip": 500}}),
    )
    .await;
    let (_, token) = app.visitor("c").await;
    let (endpoint, url) = client_endpoint(&app.url("")).await;
    let ticket = app.ticket("c", &token).await;
    let mut movers = Vec::new();
    for _ in 0..200 {
        // Under a loaded machine (CI runs every test at once) the server's
        // HTTP/3 layer has, once, closed one of 200 handshakes with
        // H3_EXCESSIVE_LOAD (code 263); this test is about the interest cap,
        // so such a connection is tried again, twice at most.
        let mut attempts = 0;
        let connection = loop {
            attempts += 1;
            match endpoint
                .connect(format!("{url}/c?page=/&ticket={ticket}"))
                .await
            {
                Ok(connection) => break connection,
                Err(e) if attempts < 3 => eprintln!("connect again after: {e}"),
                Err(e) => panic!("connects: {e}"),
            }
        };
        movers.push(connection);
    }
    let watcher = app.wt(&token).await.expect("connects");
    for (i, mover) in movers.iter().enumerate() {
        let bytes = encode_uplink(&Uplink {
            version: VERSION,
            seq: 1,
            kind: PointerKind::Move,
            x: i as u16 + 1,
            y: 9,
        });
        mover.send_datagram(bytes).expect("sent");
    }
    let mut seen = std::collections::HashSet::new();
    let started = Instant::now();
    while seen.len() < 200 && started.elapsed() < Duration::from_secs(15) {
        if let Some(frame) = watcher.frame_within(Duration::from_millis(500)).await {
            assert!(
                frame.cursors.len() <= 16,
                "at most the cap per tick: {}",
                frame.cursors.len()
            );
            assert_eq!(
                frame.presence, 1,
                "one visitor (one session), however many connections"
            );
            seen.extend(frame.cursors.iter().filter(|c| c.y == 9).map(|c| c.x));
        }
    }
    assert_eq!(seen.len(), 200, "every move is shown within a few ticks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_and_webtransport_visitors_see_each_other() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(&app, "c", json!({})).await;
    let (_, old_browser) = app.visitor("c").await;
    let (_, modern) = app.visitor("c").await;
    let mut stream = app
        .events(
            "c",
            &format!(
                "?cursors=1&page=/pricing&ticket={}",
                app.ticket("c", &old_browser).await
            ),
            None,
        )
        .await;
    let mut wt = app
        .wt_on("c", "/pricing", Some(&modern))
        .await
        .expect("connects");

    // Fallback → WebTransport, as JSON and as the binary datagram bytes.
    let post = |body: reqwest::Body, content_type: &'static str| {
        app.client
            .post(app.url("/api/campaign/c/cursor?page=/pricing"))
            .bearer_auth(&old_browser)
            .header("content-type", content_type)
            .body(body)
    };
    let reply = post(
        json!({"seq": 1, "kind": "move", "x": 111, "y": 222})
            .to_string()
            .into(),
        "application/json",
    )
    .send()
    .await
    .expect("posted");
    assert_eq!(reply.status(), 204);
    wt.wait_for("the fallback visitor's move", |f| {
        shows(f, 111, 222).is_some()
    })
    .await;
    let binary = encode_uplink(&Uplink {
        version: VERSION,
        seq: 2,
        kind: PointerKind::Tap,
        x: 333,
        y: 444,
    });
    let reply = post(binary.into(), "application/octet-stream")
        .send()
        .await
        .expect("posted");
    assert_eq!(reply.status(), 204);
    wt.wait_for("the fallback visitor's tap", |f| {
        shows(f, 333, 444).is_some()
    })
    .await;

    // WebTransport → fallback: the same frame bytes, base64 in `event: cursors`.
    wt.send(PointerKind::Move, 555, 666);
    let started = Instant::now();
    loop {
        let event = stream.next_of("cursors").await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&event.data)
            .expect("base64");
        if shows(&decode_frame(&bytes).expect("a frame"), 555, 666).is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_uplink_refuses_what_it_cannot_use() {
    let app = spawn_app_with(Db::Sqlite, |_| {}).await;
    cursor_campaign(
        &app,
        "c",
        json!({"rate_limits": {"cursor_per_second": 3, "streams_per_ip": 10}}),
    )
    .await;
    let (_, token) = app.visitor("c").await;
    let post = |body: serde_json::Value, token: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/campaign/c/cursor"))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { crate::support::read(request.send().await.expect("sent")).await }
    };
    let sample = json!({"seq": 1, "kind": "move", "x": 1, "y": 1});
    post(sample.clone(), None)
        .await
        .assert_error(401, "unauthorized");
    post(sample.clone(), Some(&token))
        .await
        .assert_error(409, "no_cursor_stream");
    let _stream = app
        .events(
            "c",
            &format!("?cursors=1&ticket={}", app.ticket("c", &token).await),
            None,
        )
        .await;
    post(
        json!({"seq": 1, "kind": "wiggle", "x": 1, "y": 1}),
        Some(&token),
    )
    .await
    .assert_error(422, "invalid_field");
    let binary_junk = app
        .call_raw(
            Method::POST,
            "/api/campaign/c/cursor",
            As::Anonymous,
            "application/octet-stream",
            vec![7u8; 8],
        )
        .await;
    binary_junk.assert_error(401, "unauthorized");
    let mut statuses = Vec::new();
    for seq in 1..=5 {
        statuses.push(
            post(
                json!({"seq": seq, "kind": "move", "x": 1, "y": 1}),
                Some(&token),
            )
            .await
            .status
            .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [204, 204, 204, 429, 429],
        "rate limited like datagrams"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_certificate_is_published_and_renewed_in_place() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.wt_dev_certificate = ovasabi_edge::internals::config::DevCertificatePolicy {
            validity: Duration::from_secs(13 * 24 * 3600),
            renew_before: Duration::from_secs(14 * 24 * 3600),
            check_every: Duration::from_secs(3600),
        };
    })
    .await;
    cursor_campaign(&app, "c", json!({})).await;
    let info = app.get("/api/webtransport", As::Anonymous).await.body;
    let port = app.webtransport.local_addr().port();
    assert_eq!(info["url"], format!("https://127.0.0.1:{port}/wt"));
    assert_eq!(info["certificate_hashes"][0]["algorithm"], "sha-256");
    let before = info["certificate_hashes"][0]["value"].clone();
    let (_, token) = app.visitor("c").await;
    let (old_endpoint, url) = client_endpoint(&app.url("")).await;

    assert!(
        app.webtransport.rotate_if_due().expect("renews"),
        "due: renewed"
    );
    let after =
        app.get("/api/webtransport", As::Anonymous).await.body["certificate_hashes"][0]["value"]
            .clone();
    assert_ne!(before, after, "a new certificate is published");
    assert!(
        old_endpoint
            .connect(format!("{url}/c?ticket={}", app.ticket("c", &token).await))
            .await
            .is_err(),
        "the old hash no longer matches"
    );
    assert!(app.wt(&token).await.is_ok(), "without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_connections_and_cursor_traffic() {
    let app = spawn_app(Db::Sqlite).await;
    cursor_campaign(&app, "c", json!({})).await;
    let (_, a) = app.visitor("c").await;
    let (_, b) = app.visitor("c").await;
    let _stream = app.events("c", "", None).await;
    let mut sender = app.wt(&a).await.expect("connects");
    let watcher = app.wt(&b).await.expect("connects");
    sender.connection.send_datagram(vec![9u8; 3]).expect("sent");
    sender.send(PointerKind::Move, 10, 20);
    watcher
        .wait_for("the move", |f| shows(f, 10, 20).is_some())
        .await;
    let metrics = scrape_metrics(&app.client, &app.url("")).await;
    let value = |name: &str| -> u64 {
        let value = metrics
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:?}"));
        *value as u64
    };
    assert_eq!(value("ovasabi_connections{transport=\"webtransport\"}"), 2);
    assert_eq!(value("ovasabi_connections{transport=\"sse\"}"), 1);
    assert!(value("ovasabi_cursor_uplinks_total{outcome=\"accepted\"}") >= 1);
    assert_eq!(
        value("ovasabi_cursor_uplinks_total{outcome=\"malformed\"}"),
        1
    );
    assert!(value("ovasabi_cursor_frames_total") >= 1);
    assert!(value("ovasabi_cursor_datagrams_out_total") >= 1);
    assert_eq!(value("ovasabi_cursor_rooms"), 1);
    assert!(value("ovasabi_cursor_tick_seconds_count") >= 1);
    assert_eq!(
        value("ovasabi_cursor_tick_seconds_bucket{le=\"+Inf\"}"),
        value("ovasabi_cursor_tick_seconds_count"),
        "buckets are cumulative"
    );
}
