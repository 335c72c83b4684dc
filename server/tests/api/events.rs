//! `GET /api/campaign/{slug}/events`: the live stream as a browser reads it.

use std::time::Duration;

use ovasabi_edge::internals::bus::Event;
use reqwest::Method;
use serde_json::json;

use crate::db_tests;
use crate::support::{As, Db, poll_until, spawn_app, spawn_app_with};

async fn the_first_message_is_a_snapshot_then_events_in_order(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let mut stream = app.events("c", "", None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "presence");
    assert_eq!(snapshot.json(), json!({"active": 1}));
    assert!(snapshot.id.is_some(), "every event has an id");
    assert_eq!(snapshot.retry, Some(3000), "a retry hint");

    for name in ["Ada", "Grace", "Linus"] {
        app.join(
            "c",
            &format!("{}@example.com", name.to_lowercase()),
            name,
            None,
        )
        .await
        .assert_status(201);
    }
    let mut ids = Vec::new();
    for name in ["Ada", "Grace", "Linus"] {
        let joined = stream.next_of("user.joined").await;
        assert_eq!(joined.json(), json!({"display_name": name}));
        ids.push(
            joined
                .id
                .expect("id")
                .parse::<ovasabi_edge::internals::bus::EventId>()
                .expect("event id"),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

async fn refusals_come_before_the_stream_as_json(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"rate_limits": {"streams_per_ip": 2}}))
        .await;
    app.create_campaign(json!({"slug": "draft", "name": "Draft"}))
        .await
        .assert_status(201);
    let unknown = app.events("nope", "", None).await;
    assert_eq!(
        (unknown.status.as_u16(), &unknown.error["code"]),
        (404, &json!("campaign_not_found"))
    );
    let draft = app.events("draft", "", None).await;
    assert_eq!(draft.status, 404);
    let forged = app.events("c", "?ticket=abc.def", None).await;
    assert_eq!(
        (forged.status.as_u16(), &forged.error["code"]),
        (401, &json!("invalid_ticket"))
    );
    // A session token never travels in a URL: refused, even a valid one.
    let (_, token) = app.visitor("c").await;
    let in_url = app.events("c", &format!("?token={token}"), None).await;
    assert_eq!(
        (in_url.status.as_u16(), &in_url.error["code"]),
        (400, &json!("token_in_url"))
    );
    // A switch is on or off, nothing else.
    for query in ["?cursors=yes", "?members=null"] {
        let bad = app.events("c", query, None).await;
        assert_eq!(
            (bad.status.as_u16(), &bad.error["code"]),
            (422, &json!("invalid_field")),
            "{query}"
        );
    }

    let _one = app.events("c", "", None).await;
    let _two = app.events("c", "", None).await;
    let third = app.events("c", "", None).await;
    assert_eq!(
        (third.status.as_u16(), &third.error["code"]),
        (429, &json!("rate_limited"))
    );
}

async fn a_client_resuming_gets_exactly_what_it_missed(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("other", json!({})).await;
    let mut stream = app.events("c", "", None).await;
    let last = stream.next().await.id.expect("id");
    drop(stream);

    app.joined("c", "ada@example.com", "Ada", None).await;
    app.joined("other", "zed@example.com", "Zed", None).await;
    app.joined("c", "grace@example.com", "Grace", None).await;

    for (query, header) in [
        ("", Some(last.as_str())),
        (&*format!("?last_event_id={last}"), None),
    ] {
        let mut resumed = app.events("c", query, header).await;
        let first = resumed.next().await;
        assert_eq!(first.event, "presence", "a snapshot first");
        let missed: Vec<_> = [resumed.next().await, resumed.next().await]
            .iter()
            .map(|e| (e.event.clone(), e.json()["display_name"].clone()))
            .collect();
        assert_eq!(
            missed,
            [
                ("user.joined".to_owned(), json!("Ada")),
                ("user.joined".to_owned(), json!("Grace"))
            ],
            "exactly the campaign's missed events, in order"
        );
        // And then live, without repeats.
        app.joined(
            "c",
            &format!("linus{}@example.com", query.len()),
            "Linus",
            None,
        )
        .await;
        let next = resumed.next_of("user.joined").await;
        assert_eq!(next.json()["display_name"], "Linus");
    }
}

async fn a_gap_too_old_for_the_history_is_an_explicit_reset(db: Db) {
    let app = spawn_app_with(db, |c| c.event_history = 100).await;
    app.open_campaign("c", json!({})).await;
    let mut stream = app.events("c", "", None).await;
    let old = stream.next().await.id.expect("id");
    drop(stream);
    // The server notices the closed stream on its own time; the snapshot below
    // must not count it.
    let left = poll_until(|| app.metrics("c"), |m| m["active"] == 0).await;
    assert_eq!(left["active"], 0, "the closed stream left");
    for i in 0..150 {
        app.state
            .bus
            .publish("c", Event::public("test.tick", json!(i)))
            .await
            .expect("publish");
    }
    let mut resumed = app.events("c", "", Some(&old)).await;
    let first = resumed.next().await;
    assert_eq!(first.event, "reset", "never silent loss");
    assert_eq!(first.json(), json!({"active": 1}), "with a fresh snapshot");
    let mut garbage = app.events("c", "?last_event_id=yesterday", None).await;
    assert_eq!(garbage.next().await.event, "reset");
}

async fn a_lead_status_reaches_only_its_owner(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, token) = app.visitor("c").await;
    let ticket = app.ticket("c", &token).await;
    let mut owner = app.events("c", &format!("?ticket={ticket}"), None).await;
    let mut other = app.events("c", "", None).await;
    let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hi"});
    let id = app
        .submit_lead(&lead, None, Some(&token))
        .await
        .assert_status(201)["id"]
        .clone();
    app.call(
        Method::PATCH,
        &format!("/api/quote/{}", id.as_str().expect("id")),
        As::Admin,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_status(200);
    app.joined("c", "grace@example.com", "Grace", None).await;

    let status = owner.next_of("lead.status").await;
    assert_eq!(
        status.json(),
        json!({"quote_id": id, "status": "in_review"})
    );
    // The other visitor sees the public events around it, but not the status.
    loop {
        let event = other.next().await;
        assert_ne!(event.event, "lead.status", "private to its owner");
        if event.event == "user.joined" {
            break;
        }
    }
}

async fn presence_counts_visitors_not_connections(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, token) = app.visitor("c").await;
    let mut watcher = app.events("c", "", None).await;
    watcher.presence_reaches(1).await;
    let ticket = app.ticket("c", &token).await;
    let tab_one = app.events("c", &format!("?ticket={ticket}"), None).await;
    let tab_two = app.events("c", "", None).await;
    let same_visitor = app
        .client
        .get(app.url("/api/campaign/c/events"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stream");
    watcher.presence_reaches(3).await;
    assert_eq!(
        app.metrics("c").await["active"],
        3,
        "the cookie and the query name one visitor"
    );
    drop(tab_one);
    drop(same_visitor);
    watcher.presence_reaches(2).await;
    drop(tab_two);
    watcher.presence_reaches(1).await;
}

async fn a_slow_reader_is_skipped_ahead_not_buffered(db: Db) {
    let app = spawn_app_with(db, |c| c.sse_buffer = 16).await;
    app.open_campaign("c", json!({})).await;
    let mut slow = app.events("c", "", None).await;
    slow.next().await;
    // While it reads nothing, far more is published than sockets and buffer hold.
    let payload = "x".repeat(2000);
    let published = 20_000;
    for i in 0..published {
        app.state
            .bus
            .publish(
                "c",
                Event::public("test.bulk", json!({"i": i, "pad": payload})),
            )
            .await
            .expect("publish");
    }
    let mut received = 0;
    let mut reset = false;
    while let Some(event) = slow.next_within(Duration::from_millis(500)).await {
        match event.event.as_str() {
            "test.bulk" => received += 1,
            "reset" => reset = true,
            _ => {}
        }
    }
    assert!(reset, "the slow client is told it was skipped ahead");
    assert!(
        received < published,
        "it was skipped ahead: {received} of {published}"
    );
    assert!(app.state.counters.sse_resets.get() >= 1);
}

async fn idle_streams_get_heartbeats_and_end_at_shutdown(db: Db) {
    let app = spawn_app_with(db, |c| c.sse_heartbeat = Duration::from_millis(1000)).await;
    app.open_campaign("c", json!({})).await;
    let mut stream = app.events("c", "", None).await;
    stream.next().await;
    let idle = stream.next_within(Duration::from_millis(2500)).await;
    assert!(idle.is_none(), "{idle:?}");
    assert!(
        stream.comments >= 2,
        "heartbeat comments: {}",
        stream.comments
    );
    app.shut_down();
    let started = std::time::Instant::now();
    assert!(stream.next_within(Duration::from_secs(5)).await.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed promptly at shutdown"
    );
    let retry = stream.retry.expect("a retry hint before the end");
    assert!(
        (500..2000).contains(&retry),
        "reconnect soon, spread: {retry} ms"
    );
}

/// Streams opening while events are published each get every event from
/// their first on, in order, none twice: nothing falls between a stream's
/// opening and the campaign's shared task of idle streams taking it over.
async fn streams_opening_during_a_burst_miss_nothing(db: Db) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let app = spawn_app_with(db, |c| c.connections_per_ip = 1000).await;
    app.open_campaign("c", json!({"rate_limits": {"streams_per_ip": 100}}))
        .await;
    let streams = 40;
    let opened = Arc::new(AtomicUsize::new(0));
    // Events as fast as they can go, until every stream is open and 200 more.
    let publisher = {
        let state = app.state.clone();
        let opened = opened.clone();
        tokio::spawn(async move {
            let publish = |kind: &'static str, i: u64| {
                let state = state.clone();
                async move {
                    state
                        .bus
                        .publish("c", Event::public(kind, json!({ "i": i })))
                        .await
                        .expect("publish");
                }
            };
            let mut i = 0;
            let mut after = 0;
            while after < 200 {
                publish("test.seq", i).await;
                i += 1;
                if opened.load(Ordering::SeqCst) == streams {
                    after += 1;
                }
                tokio::task::yield_now().await;
            }
            publish("test.last", i).await;
        })
    };
    let url = app.url("/api/campaign/c/events");
    let readers: Vec<_> = (0..streams)
        .map(|n| {
            let (url, opened) = (url.clone(), opened.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(n as u64 * 3)).await;
                // A connection of its own: the lean path serves it.
                let client = reqwest::Client::new();
                let mut stream = crate::support::SseClient::open(&client, &url, None).await;
                assert_eq!(stream.status, 200, "{:?}", stream.error);
                opened.fetch_add(1, Ordering::SeqCst);
                let mut seen = Vec::new();
                loop {
                    let Some(event) = stream.next_within(Duration::from_secs(10)).await else {
                        panic!("stream {n} stopped after {seen:?}");
                    };
                    let i = || event.json()["i"].as_u64().expect("i");
                    match event.event.as_str() {
                        "test.seq" => seen.push(i()),
                        "test.last" => return (seen, i()),
                        _ => {}
                    }
                }
            })
        })
        .collect();
    publisher.await.expect("published");
    for (n, reader) in readers.into_iter().enumerate() {
        let (seen, last) = reader.await.expect("reader");
        let first = seen[0];
        assert_eq!(
            seen,
            (first..last).collect::<Vec<_>>(),
            "stream {n}: every event from its first on, in order, once"
        );
    }
}

/// A client that stops reading is let go once its socket has taken nothing
/// for the write-stall time: its place, and its visitor, are released.
async fn a_reader_that_stops_reading_is_let_go(db: Db) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(db, |c| {
        c.sse_heartbeat = Duration::from_millis(300);
        c.idle_timeout = Duration::from_secs(2);
    })
    .await;
    app.open_campaign("c", json!({})).await;
    let mut deaf = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connects");
    deaf.write_all(b"GET /api/campaign/c/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("sent");
    let open = poll_until(|| async { app.state.counters.sse_open.get() }, |n| *n == 1).await;
    assert_eq!(open, 1, "the stream is open");
    // Far more than the sockets' buffers hold, and never read.
    let started = std::time::Instant::now();
    let payload = "x".repeat(16 * 1024);
    for i in 0..1000 {
        app.state
            .bus
            .publish(
                "c",
                Event::public("test.big", json!({"i": i, "pad": payload})),
            )
            .await
            .expect("publish");
    }
    let open = poll_until(|| async { app.state.counters.sse_open.get() }, |n| *n == 0).await;
    assert_eq!(open, 0, "the deaf stream is let go");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "not before the stall time: {:?}",
        started.elapsed()
    );
    assert_eq!(app.metrics("c").await["active"], 0, "its visitor left");
    drop(deaf);
}

/// Reads from `socket` into `seen` until it holds `wanted`; panics after 5 s.
async fn read_until(socket: &mut tokio::net::TcpStream, seen: &mut String, wanted: &str) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while !seen.contains(wanted) {
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} in {seen:?}"))
            .expect("read");
        assert!(n > 0, "closed before {wanted:?}: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// A new connection's event stream is served without HTTP/1.1 chunking, closed
/// to end it; one asked for on a kept-alive connection comes chunked from the
/// router. Both carry the same events, and errors are the same JSON.
async fn event_streams_on_new_and_kept_alive_connections_agree(db: Db) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let request = "GET /api/campaign/c/events HTTP/1.1\r\nHost: t\r\n\r\n";

    let mut fresh = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connects");
    fresh.write_all(request.as_bytes()).await.expect("sent");
    let mut fresh_seen = String::new();
    read_until(&mut fresh, &mut fresh_seen, "event: presence").await;
    let (head, _) = fresh_seen.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");

    let mut reused = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connects");
    reused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("sent");
    let mut reused_seen = String::new();
    read_until(&mut reused, &mut reused_seen, "\r\n\r\n").await;
    assert!(reused_seen.starts_with("HTTP/1.1 200"), "{reused_seen}");
    reused.write_all(request.as_bytes()).await.expect("sent");
    read_until(&mut reused, &mut reused_seen, "event: presence").await;
    assert!(
        reused_seen.contains("transfer-encoding: chunked"),
        "{reused_seen}"
    );

    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
    read_until(&mut fresh, &mut fresh_seen, "event: user.joined").await;
    read_until(&mut reused, &mut reused_seen, "event: user.joined").await;
    assert!(
        fresh_seen.contains(r#"data: {"display_name":"Ada"}"#),
        "{fresh_seen}"
    );
    assert!(
        reused_seen.contains(r#"data: {"display_name":"Ada"}"#),
        "{reused_seen}"
    );

    let mut unknown = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connects");
    unknown
        .write_all(b"GET /api/campaign/nope/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("sent");
    let mut reply = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut unknown, &mut reply),
    )
    .await
    .expect("closed after the answer")
    .expect("read");
    let reply = String::from_utf8(reply).expect("utf-8");
    let (head, body) = reply.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let error: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(error["code"], "campaign_not_found");
}

db_tests!(
    event_streams_on_new_and_kept_alive_connections_agree,
    the_first_message_is_a_snapshot_then_events_in_order,
    refusals_come_before_the_stream_as_json,
    a_client_resuming_gets_exactly_what_it_missed,
    a_gap_too_old_for_the_history_is_an_explicit_reset,
    a_lead_status_reaches_only_its_owner,
    presence_counts_visitors_not_connections,
    a_slow_reader_is_skipped_ahead_not_buffered,
    idle_streams_get_heartbeats_and_end_at_shutdown,
    streams_opening_during_a_burst_miss_nothing,
    a_reader_that_stops_reading_is_let_go,
);
