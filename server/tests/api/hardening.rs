//! The security audit's low findings, each as someone would exploit it:
//! invisible characters in lead details, visitor sessions kept forever, an
//! ended campaign reopened, request heads that hung the lean reader or
//! smuggled a body, a key holding follows without bound, a client writing
//! into its own event stream.

use std::time::Duration;

use ovasabi_edge::internals::grpc::proto;
use ovasabi_edge::internals::grpc::proto::leads_client::LeadsClient;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::db_tests;
use crate::grpc::{channel, code_of, with_token};
use crate::support::{As, Db, TestApp, spawn_app};

/// `details` values obey the text rules of every other field: no
/// bidirectional override, no control character.
async fn details_obey_the_text_rules(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    for bad in ["Roofs\u{202E}txt.exe", "Bell\u{7}", "Zero\u{200B}width"] {
        let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com",
                          "message": "Hello", "details": {"service": bad}});
        let refused = app.submit_lead(&lead, None, None).await;
        refused.assert_error(422, "invalid_field");
        assert_eq!(refused.body["field"], "details.service");
    }
    assert!(app.outbox().await.is_empty(), "nothing was written");
    let fine = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com",
                      "message": "Hello", "details": {"service": "Dächer 🏠"}});
    app.submit_lead(&fine, None, None).await.assert_status(201);
}

/// The funnel's visitors of campaign `c`.
async fn visitors(app: &TestApp) -> serde_json::Value {
    app.get("/api/campaign/c/funnel", As::Admin).await.body["total"]["visitors"].clone()
}

/// Anonymous visitor sessions are removed after the retention setting,
/// unless a join or a lead came from them.
async fn visitor_sessions_are_pruned(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, passing) = app.visitor("c").await;
    let (_, joining) = app.visitor("c").await;
    app.call_as(
        Method::POST,
        "/api/user/register",
        &joining,
        Some(json!({"campaign": "c", "email": "ada@example.com", "name": "Ada"})),
    )
    .await
    .assert_status(201);
    assert_eq!(visitors(&app).await, 2);
    let store = &app.state.store;
    let now = chrono::Utc::now();
    assert_eq!(
        store
            .prune_visitor_sessions(now - chrono::Duration::days(90))
            .await
            .expect("pruned"),
        0,
        "nothing is old enough"
    );
    assert_eq!(
        store
            .prune_visitor_sessions(now + chrono::Duration::days(1))
            .await
            .expect("pruned"),
        1,
        "the session nothing came from"
    );
    assert_eq!(visitors(&app).await, 1);
    let participants = app.get("/api/campaign/c/participants", As::Admin).await;
    assert!(
        participants.assert_status(200)["participants"][0]["attribution"].is_object(),
        "the join keeps its first touch: {}",
        participants.body
    );
    drop(passing);
}

/// A campaign's status moves by rules; anything else is 409
/// `illegal_transition`, over PATCH and over a campaign file.
async fn campaign_status_moves_by_rules(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "d", "name": "Draft"}))
        .await
        .assert_status(201);
    let patch = |slug: &'static str, status: &'static str| {
        let app = &app;
        async move {
            app.patch_campaign(slug, As::Admin, json!({"status": status}))
                .await
        }
    };
    for illegal in ["paused", "ended"] {
        patch("d", illegal)
            .await
            .assert_error(409, "illegal_transition");
    }
    for legal in ["active", "paused", "active", "paused", "ended"] {
        patch("d", legal).await.assert_status(200);
    }
    for illegal in ["active", "paused", "draft"] {
        let refused = patch("d", illegal).await;
        refused.assert_error(409, "illegal_transition");
        assert_eq!(refused.body["field"], "status");
    }
    patch("d", "ended").await.assert_status(200);
    app.apply_campaign_file("d", "name = \"Draft\"\nstatus = \"active\"\n")
        .await
        .assert_error(409, "illegal_transition");
    let stored = app
        .state
        .store
        .campaign_by_slug("d")
        .await
        .expect("read")
        .expect("d");
    assert_eq!(stored.status.as_str(), "ended", "ended is final");
}

/// Sends `request` on a fresh connection; what the server answers within
/// `wait` (empty when it said nothing).
async fn raw(app: &TestApp, request: &[u8], wait: Duration) -> String {
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connects");
    socket.write_all(request).await.expect("sent");
    let mut answer = vec![0u8; 4096];
    match tokio::time::timeout(wait, socket.read(&mut answer)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
        _ => String::new(),
    }
}

/// A head with bare-LF line endings is answered at once (by the router),
/// not left hanging; conflicting `Content-Length` headers are 400.
async fn odd_request_heads_are_answered(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let wait = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let answer = raw(&app, b"GET /api/campaign/c HTTP/1.1\nHost: x\n\n", wait).await;
    assert!(answer.starts_with("HTTP/1.1 "), "answered: {answer:?}");
    let answer = raw(
        &app,
        b"GET /api/campaign/c/events HTTP/1.1\nHost: x\n\n",
        wait,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 "), "answered: {answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not left hanging"
    );
    let smuggled = b"GET /api/campaign/c/events HTTP/1.1\r\nHost: x\r\n\
                     Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello";
    let answer = raw(&app, smuggled, wait).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "refused: {answer:?}");
}

/// A key holds at most `OVASABI_FOLLOWS_PER_KEY` (4) follows open; one more
/// is RESOURCE_EXHAUSTED, and a follow ended frees its place.
async fn follows_are_capped_per_key(db: Db) {
    let app = crate::grpc::app(db).await;
    let (_, key) = crate::team::make_key(&app, "crm", "viewer", None).await;
    let follow = || async {
        LeadsClient::new(channel(&app).await)
            .follow(with_token(&key, proto::FollowRequest::default()))
            .await
    };
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(follow().await.expect("within the cap"));
    }
    let refused = follow().await.expect_err("over the cap");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(code_of(&refused), "too_many_follows");
    // Another key is not held back by this one's.
    LeadsClient::new(channel(&app).await)
        .follow(with_token(
            &app.admin_token,
            proto::FollowRequest::default(),
        ))
        .await
        .expect("the admin token has its own share");
    open.pop();
    let again = crate::support::poll_until(follow, Result::is_ok).await;
    assert!(again.is_ok(), "a place was freed");
}

/// A client that writes more than 4 KiB into its own event stream is let
/// go (an idle stream and one relaying a room alike); the campaign's other
/// streams go on.
async fn a_client_writing_into_its_stream_is_let_go(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, visitor) = app.visitor("c").await;
    let mut other = app.events("c", "", None).await;
    other.next().await;
    for query in [
        String::new(),
        format!("?cursors=1&ticket={}", app.ticket("c", &visitor).await),
    ] {
        let mut socket = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connects");
        let head = format!("GET /api/campaign/c/events{query} HTTP/1.1\r\nHost: x\r\n\r\n");
        socket.write_all(head.as_bytes()).await.expect("sent");
        let mut buffer = vec![0u8; 16 * 1024];
        let n = socket.read(&mut buffer).await.expect("the head");
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
        // A little is tolerated; more than 4 KiB is not.
        socket.write_all(&[b'x'; 1000]).await.expect("sent");
        let _ = socket.write_all(&[b'x'; 5000]).await;
        let closed = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the writer was let go ({query:?})");
    }
    app.joined("c", "ada@example.com", "Ada", None).await;
    assert_eq!(
        other.next_of("user.joined").await.json()["display_name"],
        "Ada"
    );
}

db_tests!(
    details_obey_the_text_rules,
    visitor_sessions_are_pruned,
    campaign_status_moves_by_rules,
    odd_request_heads_are_answered,
    follows_are_capped_per_key,
    a_client_writing_into_its_stream_is_let_go,
);
