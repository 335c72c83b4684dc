//! Several instances behind one Redis: events cross instances through Redis
//! Streams, presence spans them, and a killed instance stops counting.
//! These need PostgreSQL and Redis (`OVASABI_TEST_POSTGRES_URL`,
//! `OVASABI_TEST_REDIS_URL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ovasabi_edge::internals::bus::{Event, EventBus, EventId, RedisBus, Since};
use serde_json::json;

use protocol::PointerKind;

use crate::support::wt::{WtClient, shows};
use crate::support::{Db, RunningBinary, SseClient, fresh_database, redis_url, scrape_metrics};

fn unique_prefix() -> String {
    format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple())
}

/// Two instances of the binary on one PostgreSQL database and one Redis prefix.
async fn two_instances(redis: &str, db_url: &str, prefix: &str) -> (RunningBinary, RunningBinary) {
    let env = [
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", db_url),
        ("REDIS_URL", redis),
        ("OVASABI_REDIS_PREFIX", prefix),
        ("OVASABI_ADMIN_TOKEN", "admin-token-shared-by-both"),
        (
            "OVASABI_SESSION_SECRET",
            "session-secret-shared-by-both-instances",
        ),
        ("OVASABI_WEBHOOK_SECRET", "webhook-secret-shared-by-both"),
        ("OVASABI_PRESENCE_TTL_MS", "2000"),
    ];
    // Both start at once: the campaign file is applied by both, without harm.
    let (a, b) = tokio::join!(RunningBinary::start(&env), RunningBinary::start(&env));
    // These tests post forms at once, as no page does: the minimum time off
    // (both instances' campaign caches know within a second).
    crate::support::without_minimum_time(&a.base, "admin-token-shared-by-both").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_events_presence_and_history() {
    let (Some(redis), Some(postgres)) = (redis_url(), Db::postgres()) else {
        return;
    };
    let db = fresh_database(&postgres).await;
    let (a, b) = two_instances(&redis, &db.url, &unique_prefix()).await;
    let client = reqwest::Client::new();
    let events = |base: &str| format!("{base}/api/campaign/ovasabi-website/events");

    let mut on_b = SseClient::open(&client, &events(&b.base), None).await;
    assert_eq!(on_b.next().await.event, "presence");
    let mut on_a = SseClient::open(&client, &events(&a.base), None).await;
    on_a.next().await;
    on_b.presence_reaches(2).await;

    // A join posted to A is on B's stream.
    let sent = Instant::now();
    let join = client
        .post(format!("{}/api/user/register", a.base))
        .json(&json!({"campaign": "ovasabi-website", "email": "ada@example.com", "name": "Ada"}))
        .send()
        .await
        .expect("join");
    assert_eq!(join.status(), 201);
    let joined = on_b.next_of("user.joined").await;
    let latency = sent.elapsed();
    assert_eq!(joined.json(), json!({"display_name": "Ada"}));
    eprintln!("join on A seen on B after {latency:?}");
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    let joined_id = joined.id.expect("id");
    // B measured the event's trip through Redis and its handing to the stream.
    let metrics = scrape_metrics(&client, &b.base).await;
    for name in [
        "ovasabi_bus_lag_seconds_count",
        "ovasabi_sse_delivery_seconds_count",
        "ovasabi_sse_events_total",
    ] {
        let value = metrics.get(name).copied().unwrap_or_default();
        assert!(value >= 1.0, "{name} = {value} in {metrics:?}");
    }
    let lag = metrics["ovasabi_bus_lag_seconds_sum"] / metrics["ovasabi_bus_lag_seconds_count"];
    assert!((0.0..2.0).contains(&lag), "mean bus lag {lag} s");
    assert_eq!(
        on_a.next_of("user.joined").await.id.as_deref(),
        Some(joined_id.as_str()),
        "one id everywhere"
    );

    // A client of A resuming on B gets what it missed, from Redis.
    let before: EventId = joined_id.parse().expect("id");
    client
        .post(format!("{}/api/user/register", a.base))
        .json(
            &json!({"campaign": "ovasabi-website", "email": "grace@example.com", "name": "Grace"}),
        )
        .send()
        .await
        .expect("join");
    let mut resumed = SseClient::open(&client, &events(&b.base), Some(&before.to_string())).await;
    assert_eq!(resumed.next().await.event, "presence");
    assert_eq!(
        resumed.next().await.json(),
        json!({"display_name": "Grace"})
    );
    drop(resumed);
    on_b.presence_reaches(2).await;

    // The team's events cross through Redis too, to the team only: a lead
    // posted to A is on B's team stream (the admin token), with its id.
    let mut team = SseClient::send(
        client
            .get(events(&b.base))
            .bearer_auth("admin-token-shared-by-both"),
    )
    .await;
    assert_eq!(team.status, 200, "{}", team.error);
    let lead = client
        .post(format!("{}/api/quote", a.base))
        .json(&json!({"campaign": "ovasabi-website", "name": "Ada", "email": "ada@example.com", "message": "Hello"}))
        .send()
        .await
        .expect("lead");
    assert_eq!(lead.status(), 201);
    let lead: serde_json::Value = lead.json().await.expect("receipt");
    assert_eq!(team.next_of("team.lead").await.json()["id"], lead["id"]);
    let public = on_b.next_of("lead.created").await;
    assert!(!public.data.contains(lead["id"].as_str().expect("id")));
    drop(team);

    // Killing A (its visitor still connected, so it cannot say goodbye) drops
    // that visitor from the count within 10 s: only the expiry removes it.
    let killed_at = Instant::now();
    let status = a.stop("KILL").await;
    assert!(!status.success());
    on_b.presence_reaches(1).await;
    let gone_after = killed_at.elapsed();
    eprintln!("killed instance's visitor dropped after {gone_after:?}");
    assert!(gone_after < Duration::from_secs(10), "{gone_after:?}");
    assert!(
        gone_after >= Duration::from_millis(500),
        "dropped by expiry, not a goodbye: {gone_after:?}"
    );
    drop(on_a);
    drop(b);
}

async fn visitor_token(base: &str) -> String {
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/session"))
        .json(&json!({"campaign": "ovasabi-website"}))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("JSON");
    reply["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_cross_instances_and_vanish_with_a_killed_one() {
    let (Some(redis), Some(postgres)) = (redis_url(), Db::postgres()) else {
        return;
    };
    let db = fresh_database(&postgres).await;
    let (a, b) = two_instances(&redis, &db.url, &unique_prefix()).await;
    let campaign = "ovasabi-website";
    let mut ada = WtClient::connect(&a.base, campaign, "/", Some(&visitor_token(&a.base).await))
        .await
        .expect("ada on A");
    let grace = WtClient::connect(&a.base, campaign, "/", Some(&visitor_token(&a.base).await))
        .await
        .expect("grace on A");
    let mut linus = WtClient::connect(&b.base, campaign, "/", Some(&visitor_token(&b.base).await))
        .await
        .expect("linus on B");
    linus
        .wait_for("three visitors over both instances", |f| f.presence == 3)
        .await;

    ada.send(PointerKind::Move, 1111, 2222);
    let (_, waited) = linus
        .wait_for("Ada's move, from A", |f| shows(f, 1111, 2222).is_some())
        .await;
    eprintln!("cursor move on A seen on B after {waited:?}");
    assert!(waited < Duration::from_secs(1), "{waited:?}");

    linus.send(PointerKind::Move, 3333, 4444);
    let (frame, _) = grace
        .wait_for("Linus's move, from B", |f| shows(f, 3333, 4444).is_some())
        .await;
    let linus_id = shows(&frame, 3333, 4444).expect("shown");
    let (_, _) = ada
        .wait_for("Linus's move on Ada's side too", |f| {
            shows(f, 3333, 4444).is_some()
        })
        .await;

    // B dies without a word: Linus's cursor goes when B is silent too long.
    let killed = Instant::now();
    b.stop("KILL").await;
    let (frame, _) = grace
        .wait_for("Linus removed", |f| f.removed.contains(&linus_id))
        .await;
    eprintln!(
        "cursor of a killed instance removed after {:?}",
        killed.elapsed()
    );
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_eq!(frame.presence, 2);
    drop(linus);
    drop(a);
}

/// Who is on the campaign's pages crosses instances: a visitor on A learns
/// of a user who joined and is reading a page on B, by name and page, and
/// that they are gone when B dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_is_here_crosses_instances_by_name_and_page() {
    let (Some(redis), Some(postgres)) = (redis_url(), Db::postgres()) else {
        return;
    };
    let db = fresh_database(&postgres).await;
    let (a, b) = two_instances(&redis, &db.url, &unique_prefix()).await;
    let campaign = "ovasabi-website";
    let client = reqwest::Client::new();
    async fn members(client: &reqwest::Client, base: &str, page: &str, token: &str) -> SseClient {
        let ticket = crate::support::ticket(client, base, "ovasabi-website", token).await;
        let url = format!(
            "{base}/api/campaign/ovasabi-website/events?members=1&page={page}&ticket={ticket}"
        );
        SseClient::open(client, &url, None).await
    }
    let visitor = visitor_token(&a.base).await;
    let mut on_a = members(&client, &a.base, "/", &visitor).await;
    let joined: serde_json::Value = client
        .post(format!("{}/api/user/register", b.base))
        .json(&json!({"campaign": campaign, "email": "ada@example.com", "name": "Ada"}))
        .send()
        .await
        .expect("join")
        .json()
        .await
        .expect("JSON");
    let ada = joined["token"].as_str().expect("token").to_owned();
    let on_b = members(&client, &b.base, "/pricing", &ada).await;
    let started = Instant::now();
    let ada_id = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "Ada never appeared on A"
        );
        let roster = on_a.next_of("members").await.roster();
        if let Some(m) = roster
            .joined
            .iter()
            .find(|m| m.name.as_deref() == Some("Ada"))
        {
            assert_eq!(m.page.as_deref(), Some("/pricing"));
            break m.id;
        }
    };
    eprintln!("a member on B known on A after {:?}", started.elapsed());
    b.stop("KILL").await;
    let killed = Instant::now();
    loop {
        assert!(
            killed.elapsed() < Duration::from_secs(12),
            "Ada never left on A"
        );
        if on_a
            .next_of("members")
            .await
            .roster()
            .left
            .contains(&ada_id)
        {
            break;
        }
    }
    eprintln!(
        "a member of a killed instance gone after {:?}",
        killed.elapsed()
    );
    drop(on_b);
    drop(a);
}

/// What the server derives — the leaderboard, milestones, a campaign's
/// status — is announced once per change, however many instances saw it:
/// one page counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_events_are_announced_once_per_cluster() {
    let (Some(redis), Some(postgres)) = (redis_url(), Db::postgres()) else {
        return;
    };
    let db = fresh_database(&postgres).await;
    let (a, b) = two_instances(&redis, &db.url, &unique_prefix()).await;
    let client = reqwest::Client::new();
    let admin = "admin-token-shared-by-both";
    let campaign_url = format!("{}/api/campaign/ovasabi-website", a.base);
    crate::support::change_shipped_config(&a.base, admin, |config| {
        config["leaderboard"] = json!({"enabled": true, "size": 3});
        config["rate_limits"]["joins_per_minute"] = json!(1000);
    })
    .await;
    // Both instances' campaign caches (1 s) now know.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let mut page = SseClient::open(
        &client,
        &format!("{}/api/campaign/ovasabi-website/events", b.base),
        None,
    )
    .await;
    assert_eq!(page.next().await.event, "presence");
    let join = |base: String, i: usize, code: Option<String>| {
        let client = client.clone();
        async move {
            let mut body = json!({"campaign": "ovasabi-website", "email": format!("u{i}@example.com"), "name": format!("U{i}")});
            if let Some(code) = code {
                body["referral_code"] = json!(code);
            }
            let reply = client
                .post(format!("{base}/api/user/register"))
                .json(&body)
                .send()
                .await
                .expect("join");
            assert_eq!(reply.status(), 201);
            reply.json::<serde_json::Value>().await.expect("json")
        }
    };
    let ada = join(a.base.clone(), 0, None).await;
    let code = ada["referral_code"].as_str().expect("code").to_owned();
    for i in 1..=6 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        join(base.clone(), i, Some(code.clone())).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The team pauses the campaign on A.
    let paused = client
        .patch(&campaign_url)
        .bearer_auth(admin)
        .json(&json!({"status": "paused"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(paused.status(), 200);

    let mut boards = Vec::new();
    let mut milestones = Vec::new();
    let mut statuses = Vec::new();
    while let Some(event) = page.next_within(Duration::from_secs(3)).await {
        match event.event.as_str() {
            "leaderboard" => boards.push(event.json()),
            "referral.milestone" => milestones.push(event.json()),
            "campaign.status" => statuses.push(event.json()),
            _ => {}
        }
    }
    let seqs: Vec<u64> = boards
        .iter()
        .map(|b| b["seq"].as_u64().expect("seq"))
        .collect();
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "each change announced once: {boards:?}");
    assert!(!boards.is_empty());
    assert_eq!(
        boards.last().expect("a board")["top"],
        json!([{"display_name": "U0", "count": 6}])
    );
    assert_eq!(
        milestones,
        vec![json!({"user": "U0", "count": 1, "milestone": 1})],
        "milestone 1 once"
    );
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0]["status"], "paused");
    assert_eq!(statuses[0]["open"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_bus_replays_and_reports_trimmed_history() {
    let Some(redis) = redis_url() else { return };
    let client = redis::Client::open(redis.as_str()).expect("url");
    let bus = Arc::new(
        RedisBus::connect(client, &unique_prefix(), 100, 64)
            .await
            .expect("connects"),
    );
    let tasks = ovasabi_edge::internals::tasks::Tasks::new();
    bus.clone().start(&tasks);

    let empty = bus.head().await.expect("head");
    assert_eq!(
        bus.since("c", empty, 10).await.expect("since"),
        Since::Events(vec![])
    );
    let mut live = bus.subscribe("c");
    let first = bus
        .publish("c", Event::public("t", json!(1)))
        .await
        .expect("publish");
    bus.publish("d", Event::public("t", json!(2)))
        .await
        .expect("publish");
    let third = bus
        .publish("c", Event::public("t", json!(3)))
        .await
        .expect("publish");
    let delivered = tokio::time::timeout(Duration::from_secs(5), live.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(delivered.id, first, "the reader delivers published events");

    let Since::Events(missed) = bus.since("c", first, 10).await.expect("since") else {
        panic!("history reaches back");
    };
    assert_eq!(missed.iter().map(|e| e.id).collect::<Vec<_>>(), [third]);
    assert_eq!(missed[0].event.data, json!(3));
    let future = EventId::new(third.epoch, third.ms + 60_000, 0);
    assert_eq!(bus.since("c", future, 10).await.expect("since"), Since::Gap);

    // Another campaign's events, however many, are not c's history: past
    // MAXLEN ~100 of the stream every instance reads, c's resume is whole.
    for i in 0..1000 {
        bus.publish("d", Event::public("t", json!(i)))
            .await
            .expect("publish");
    }
    let Since::Events(missed) = bus.since("c", first, 10).await.expect("since") else {
        panic!("c's own history reaches back");
    };
    assert_eq!(missed.iter().map(|e| e.id).collect::<Vec<_>>(), [third]);
    // Far past MAXLEN ~100 of c's own history, its oldest entries are
    // trimmed: resuming from them is a gap.
    for i in 0..1000 {
        bus.publish("c", Event::public("t", json!(i)))
            .await
            .expect("publish");
    }
    assert_eq!(
        bus.since("c", first, 10_000).await.expect("since"),
        Since::Gap
    );
    assert!(tasks.stop(Duration::from_secs(5)).await, "the reader stops");
}
