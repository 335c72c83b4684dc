//! Shutdown: when `App::run` returns, every task the app started has ended —
//! workers, relays, cursor rooms and sessions, event streams, the store's
//! writers — and what was submitted before is stored.

use std::time::Duration;

use serde_json::json;

use crate::support::wt::WtClient;
use crate::support::{Db, fresh_database, read, redis_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_background_task_has_stopped_when_run_returns() {
    ovasabi_edge::internals::telemetry::init_for_tests();
    let db = fresh_database(&Db::Sqlite).await;
    let mut config = ovasabi_edge::Config::for_database(db.url.clone());
    // With Redis, the bus reader, presence sync and cursor relays run too.
    config.redis_url = redis_url().map(Into::into);
    config.redis_prefix = format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple());
    config.webhook_url = Some("http://127.0.0.1:9/hook".parse().expect("url"));
    let mut body = crate::support::open_campaign_body("c");
    body["config"]["cursor"] = json!({"sessions_per_ip": 10});
    let crate::support::Started {
        base,
        state,
        shutdown,
        running,
    } = crate::support::start_with(config, body).await;
    let client = reqwest::Client::new();
    let session = read(
        client
            .post(format!("{base}/api/session"))
            .json(&json!({"campaign": "c"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let token = session.body["token"].as_str().expect("token").to_owned();
    let lead = client
        .post(format!("{base}/api/quote"))
        .json(&json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hello"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(lead.status(), 201);
    // A live event stream (on the lean path: a connection of its own), a
    // cursor session and its room.
    let ticket = crate::support::ticket(&client, &base, "c", &token).await;
    let mut stream = reqwest::Client::new()
        .get(format!(
            "{base}/api/campaign/c/events?cursors=1&ticket={ticket}"
        ))
        .send()
        .await
        .expect("stream opens");
    assert_eq!(stream.status(), 200);
    let _first = stream.chunk().await.expect("reads");
    let _cursor = WtClient::connect(&base, "c", "/", Some(&token))
        .await
        .expect("cursor session");
    let names: Vec<&str> = state.tasks.running().iter().map(|(n, _)| *n).collect();
    for expected in [
        "http accept",
        "event stream",
        "cursor session",
        "cursor room",
        "outbox delivery",
        "lead writer",
        "webtransport accept",
        "certificate renewal",
    ] {
        assert!(names.contains(&expected), "{expected} runs: {names:?}");
    }
    if redis_url().is_some() {
        for expected in ["event bus reader", "presence sync", "cursor relay follower"] {
            assert!(names.contains(&expected), "{expected} runs: {names:?}");
        }
    }

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("run returns within the grace period")
        .expect("run does not panic");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(state.tasks.running(), [], "every task has stopped");
    assert!(
        state.tasks.shutdown().is_cancelled() && state.tasks.drained().is_cancelled(),
        "both shutdown steps were taken"
    );
    let stored = state
        .store
        .list_leads(
            state
                .store
                .campaign_by_slug("c")
                .await
                .expect("read")
                .expect("campaign")
                .id,
            None,
            ovasabi_edge::internals::store::Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .expect("quotes");
    assert_eq!(
        stored.len(),
        1,
        "the lead submitted before shutdown is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_says_not_ready_serves_on_then_ends_streams_with_a_retry_hint() {
    let db = fresh_database(&Db::Sqlite).await;
    let mut config = ovasabi_edge::Config::for_database(db.url.clone());
    config.shutdown_drain = Duration::from_secs(1);
    let crate::support::Started {
        base,
        shutdown,
        running,
        ..
    } = crate::support::start_with_campaign(config).await;
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{base}/api/campaign/c/events"))
        .send()
        .await
        .expect("stream opens");
    let _first = stream.chunk().await.expect("reads");

    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = read(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["status"], "draining");
    // Still serving while the balancer catches up.
    let lead = client
        .post(format!("{base}/api/quote"))
        .json(&json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "Hello"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(lead.status(), 201);
    // Then the stream ends, telling the browser to come back soon.
    let mut rest = String::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("ends in time")
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("retry: "), "{rest:?}");
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("run returns")
        .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
}
