//! The README's promises tried as a hostile key holder would: a campaign's
//! key stays inside its campaign on the back-office feed, a revoked key's
//! open follows and team streams end (on every instance), and so do an
//! erased person's sessions. Erasure itself is in `erasure.rs`.

use std::time::{Duration, Instant};

use ovasabi_edge::internals::grpc::proto;
use ovasabi_edge::internals::grpc::proto::leads_client::LeadsClient;
use reqwest::Method;
use serde_json::json;
use tonic::Code;

use crate::db_tests;
use crate::grpc::{app, channel, code_of, next, with_token};
use crate::support::{As, Db, SseClient, TestApp};
use crate::team::make_key;

fn lead(campaign: &str, email: &str) -> serde_json::Value {
    json!({"campaign": campaign, "name": "Lead", "email": email, "message": "Hello"})
}

/// Every committed record numbered; the last position.
async fn numbered(app: &TestApp) -> u64 {
    let store = &app.state.store;
    while store.sequence_feed(100).await.expect("numbered") > 0 {}
    store.feed_bounds().await.expect("bounds").1
}

fn ack(consumer: &str, position: u64, campaign: &str) -> proto::AckRequest {
    proto::AckRequest {
        consumer: consumer.into(),
        position,
        campaign: campaign.into(),
    }
}

/// A viewer key of campaign A can neither move the CRM's consumer nor make
/// one; an editor of A reaches A's consumers only (a name of its own, in
/// its own scope); B's records still reach the CRM; consumers are listed
/// and deleted within scope, and every change is in the audit log.
async fn the_feed_stays_inside_its_tenant(db: Db) {
    let app = app(db).await;
    app.open_campaign("a", json!({})).await;
    app.open_campaign("b", json!({})).await;
    let (_, viewer_a) = make_key(&app, "agency", "viewer", Some("a")).await;
    let (_, editor_a) = make_key(&app, "a editor", "editor", Some("a")).await;
    let (_, crm) = make_key(&app, "crm", "editor", None).await;
    app.submit_lead(&lead("a", "a@example.com"), None, None)
        .await
        .assert_status(201);
    for i in 0..4 {
        app.submit_lead(&lead("b", &format!("{i}@example.com")), None, None)
            .await
            .assert_status(201);
    }
    let last = numbered(&app).await;
    let mut leads = LeadsClient::new(channel(&app).await);
    let first = last - 4; // the lead of A
    let acked = leads
        .ack(with_token(&crm, ack("crm", first, "")))
        .await
        .expect("the CRM acknowledges")
        .into_inner();
    assert_eq!(acked.position, first);

    // A viewer of A: refused, and nothing moved or made.
    for request in [
        ack("crm", last, ""),
        ack("fresh", 0, ""),
        ack("crm", last, "b"),
    ] {
        let refused = leads
            .ack(with_token(&viewer_a, request))
            .await
            .expect_err("a viewer may not acknowledge");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(code_of(&refused), "role_required");
    }
    // An editor of A naming B: out of its scope, for Ack and Follow.
    let refused = leads
        .ack(with_token(&editor_a, ack("crm", last, "b")))
        .await
        .expect_err("B is not A's");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(code_of(&refused), "campaign_out_of_scope");
    let refused = leads
        .follow(with_token(
            &viewer_a,
            proto::FollowRequest {
                consumer: "crm".into(),
                campaign: "b".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("B is not A's");
    assert_eq!(code_of(&refused), "campaign_out_of_scope");
    // An editor of A naming "crm" makes A's own consumer of that name.
    let own = leads
        .ack(with_token(&editor_a, ack("crm", last, "")))
        .await
        .expect("A's own consumer")
        .into_inner();
    assert_eq!(own.position, last);

    // The CRM's consumer is where it acknowledged: its follow resumes after
    // the lead of A and delivers every lead of B.
    let mut resumed = leads
        .follow(with_token(
            &crm,
            proto::FollowRequest {
                consumer: "crm".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("following")
        .into_inner();
    for position in first + 1..=last {
        let record = next(&mut resumed).await;
        assert_eq!((record.position, record.campaign.as_str()), (position, "b"));
    }
    leads
        .ack(with_token(&crm, ack("crm", last, "")))
        .await
        .expect("the CRM moves on");

    // Listing: A's key sees A's consumer only; an unscoped key every one.
    let listed = leads
        .list_consumers(with_token(
            &viewer_a,
            proto::ListConsumersRequest::default(),
        ))
        .await
        .expect("listed")
        .into_inner();
    let seen: Vec<(String, String, u64)> = listed
        .consumers
        .iter()
        .map(|c| (c.name.clone(), c.campaign.clone(), c.position))
        .collect();
    assert_eq!(seen, [("crm".to_owned(), "a".to_owned(), last)]);
    assert!(!listed.consumers[0].idle);
    let all = app.get("/api/admin/consumers", As::Admin).await;
    let all = all.assert_status(200)["consumers"].clone();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    assert_eq!(all[0]["campaign"], json!(null));
    assert_eq!(all[1]["campaign"], "a");
    let of_b = app.get("/api/admin/consumers?campaign=b", As::Admin).await;
    assert_eq!(of_b.assert_status(200)["consumers"], json!([]));

    // Deleting: an editor within scope; a viewer never; 404 for none.
    app.call_as(Method::DELETE, "/api/admin/consumers/crm", &viewer_a, None)
        .await
        .assert_error(403, "role_required");
    app.call_as(
        Method::DELETE,
        "/api/admin/consumers/crm?campaign=b",
        &editor_a,
        None,
    )
    .await
    .assert_error(403, "campaign_out_of_scope");
    let deleted = app
        .call_as(Method::DELETE, "/api/admin/consumers/crm", &editor_a, None)
        .await;
    assert_eq!(deleted.assert_status(200)["campaign"], "a");
    app.call_as(Method::DELETE, "/api/admin/consumers/crm", &editor_a, None)
        .await
        .assert_error(404, "consumer_not_found");
    app.call_as(
        Method::DELETE,
        "/api/admin/consumers/no%20such",
        &editor_a,
        None,
    )
    .await
    .assert_error(422, "invalid_field");
    let missing = leads
        .delete_consumer(with_token(
            &crm,
            proto::DeleteConsumerRequest {
                consumer: "nope".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("none");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(code_of(&missing), "consumer_not_found");
    // The CRM's consumer is still there.
    let all = app.get("/api/admin/consumers", As::Admin).await;
    assert_eq!(all.assert_status(200)["consumers"][0]["position"], last);

    // Every consumer made, moved and deleted is in the audit log.
    let log = app.get("/api/admin/audit", As::Admin).await;
    let entries: Vec<(String, String, serde_json::Value, serde_json::Value)> = log
        .assert_status(200)["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("feed_consumer."))
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
                e["campaign"].clone(),
                e["after"]["position"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "feed_consumer.deleted".into(),
                "a editor".into(),
                json!("a"),
                json!(null)
            ),
            (
                "feed_consumer.moved".into(),
                "crm".into(),
                json!(null),
                json!(last)
            ),
            (
                "feed_consumer.created".into(),
                "a editor".into(),
                json!("a"),
                json!(last)
            ),
            (
                "feed_consumer.created".into(),
                "crm".into(),
                json!(null),
                json!(first)
            ),
        ]
    );
}

/// A consumer unread for longer than the idle setting stops holding
/// retention back; once retention passed its position, its next read is
/// OUT_OF_RANGE, as a pruned position is.
async fn an_idle_consumer_holds_nothing_back(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    for i in 0..3 {
        app.submit_lead(&lead("c", &format!("{i}@example.com")), None, None)
            .await
            .assert_status(201);
    }
    let last = numbered(&app).await;
    let mut leads = LeadsClient::new(channel(&app).await);
    leads
        .ack(with_token(&app.admin_token, ack("slow", last - 2, "")))
        .await
        .expect("acknowledged");
    let store = &app.state.store;
    let now = chrono::Utc::now();
    let everything_old = now + chrono::Duration::days(1);
    // Read lately: it keeps what it has not acknowledged.
    store
        .prune_outbox(everything_old, true, now - chrono::Duration::days(30))
        .await
        .expect("pruned");
    assert_eq!(store.feed_bounds().await.expect("bounds").0, last - 2);
    // Unread since before the cutoff: it holds nothing back.
    store
        .prune_outbox(everything_old, true, now + chrono::Duration::hours(1))
        .await
        .expect("pruned");
    assert_eq!(store.feed_bounds().await.expect("bounds").0, last);
    let mut stream = leads
        .follow(with_token(
            &app.admin_token,
            proto::FollowRequest {
                consumer: "slow".into(),
                ..Default::default()
            },
        ))
        .await;
    let refused = match &mut stream {
        Err(status) => status.clone(),
        Ok(response) => response
            .get_mut()
            .message()
            .await
            .expect_err("out of range"),
    };
    assert_eq!(refused.code(), Code::OutOfRange);
    assert_eq!(code_of(&refused), "position_pruned");
}

/// A team stream opened with `key` (the campaign's events, with `query`).
async fn team_stream(app: &TestApp, key: &str, query: &str) -> SseClient {
    let request = app
        .client
        .get(app.url(&format!("/api/campaign/c/events{query}")))
        .bearer_auth(key);
    let mut stream = SseClient::send(request).await;
    assert_eq!(stream.status, 200, "{}", stream.error);
    stream.next_of("presence").await;
    stream
}

/// Revoking a key ends, within a second, the follow and the team streams
/// (an idle lean one and one relaying a room) it opened; what comes after
/// reaches none of them.
async fn revoking_a_key_ends_what_it_holds_open(db: Db) {
    let app = app(db).await;
    app.open_campaign("c", json!({})).await;
    let (id, key) = make_key(&app, "agency", "viewer", None).await;
    let mut follow = LeadsClient::new(channel(&app).await)
        .follow(with_token(&key, proto::FollowRequest::default()))
        .await
        .expect("following")
        .into_inner();
    let mut idle = team_stream(&app, &key, "").await;
    let mut relaying = team_stream(&app, &key, "?cursors=1").await;
    // Both hear the team's events while the key is live.
    app.submit_lead(&lead("c", "before@example.com"), None, None)
        .await
        .assert_status(201);
    assert_eq!(next(&mut follow).await.r#type, "lead.created");
    idle.next_of("team.lead").await;
    relaying.next_of("team.lead").await;

    let revoked_at = Instant::now();
    app.call(
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        As::Admin,
        None,
    )
    .await
    .assert_status(200);
    let ended = tokio::time::timeout(Duration::from_secs(1), follow.message())
        .await
        .expect("the follow ends within a second")
        .expect_err("with an error");
    assert_eq!(ended.code(), Code::Unauthenticated);
    assert_eq!(code_of(&ended), "key_revoked");
    assert!(
        idle.ends_within(Duration::from_secs(1)).await,
        "the idle stream ends"
    );
    assert!(
        relaying.ends_within(Duration::from_secs(1)).await,
        "the relaying stream ends"
    );
    assert!(revoked_at.elapsed() < Duration::from_secs(2));
    // Nothing of the key opens again.
    let again = SseClient::send(
        app.client
            .get(app.url("/api/campaign/c/events"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(again.status, 401, "{}", again.error);
}

/// Erasing a person ends the streams and the cursor session of their
/// sessions (their user's and the visitor session they joined from), within
/// a second, and their tokens
/// and tickets answer 401 `session_ended`; other people's go on.
async fn an_erasure_ends_the_persons_sessions(db: Db) {
    let app = crate::support::spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, visitor) = app.visitor("c").await;
    let joined = app
        .call_as(
            Method::POST,
            "/api/user/register",
            &visitor,
            Some(json!({"campaign": "c", "email": "ada@example.com", "name": "Ada"})),
        )
        .await;
    let token = joined.assert_status(201)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, _, other) = app.joined("c", "grace@example.com", "Grace", None).await;
    let ticket = app.ticket("c", &token).await;
    let open = |credential: &str, ticket: bool| {
        let url = if ticket {
            app.url(&format!("/api/campaign/c/events?ticket={credential}"))
        } else {
            app.url("/api/campaign/c/events")
        };
        let mut request = app.client.get(url);
        if !ticket {
            request = request.bearer_auth(credential);
        }
        SseClient::send(request)
    };
    let cursors = app
        .wt_on("c", "/", Some(&token))
        .await
        .expect("a cursor session");
    let mut by_token = open(&token, false).await;
    let mut by_ticket = open(&ticket, true).await;
    let mut as_visitor = open(&visitor, false).await;
    let mut someone_else = open(&other, false).await;
    for stream in [
        &mut by_token,
        &mut by_ticket,
        &mut as_visitor,
        &mut someone_else,
    ] {
        assert_eq!(stream.status, 200, "{}", stream.error);
        stream.next_of("presence").await;
    }

    app.erase_email("ada@example.com").await.assert_status(200);
    for stream in [&mut by_token, &mut by_ticket, &mut as_visitor] {
        assert!(
            stream.ends_within(Duration::from_secs(1)).await,
            "the person's stream ends"
        );
    }
    assert_eq!(
        cursors.closed_within(Duration::from_secs(1)).await,
        Some(u64::from(
            ovasabi_edge::internals::transport::webtransport::SESSION_ENDED
        )),
        "the person's cursor session ends"
    );
    assert!(
        !someone_else.ends_within(Duration::from_millis(300)).await,
        "another person's stream goes on"
    );
    app.call_as(Method::GET, "/api/me", &token, None)
        .await
        .assert_error(401, "session_ended");
    app.call_as(
        Method::POST,
        "/api/connect",
        &visitor,
        Some(json!({"campaign": "c"})),
    )
    .await
    .assert_error(401, "session_ended");
    let refused = open(&ticket, true).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.error["code"], "session_ended");
    app.call_as(Method::GET, "/api/me", &other, None)
        .await
        .assert_status(200);
}

/// Two instances on one database, with or without a Redis between them.
async fn two_instances(
    db: &crate::support::TestDb,
    redis: Option<&str>,
) -> (crate::support::Started, crate::support::Started) {
    let prefix = format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple());
    let config = || {
        let mut config = ovasabi_edge::Config::for_database(db.url.clone());
        if let Some(redis) = redis {
            config.redis_url = Some(redis.into());
            config.redis_prefix.clone_from(&prefix);
        }
        config
    };
    let a = crate::support::start_with_campaign(config()).await;
    let b = crate::support::start(config()).await;
    (a, b)
}

/// A key revoked on one instance ends its team stream on another: within a
/// second when Redis carries the announcement, within the periodic check
/// (5 s) when there is no bus between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_every_instance() {
    let (Some(redis), Some(postgres)) = (crate::support::redis_url(), Db::postgres()) else {
        return;
    };
    let client = reqwest::Client::new();
    for (bus, within) in [(Some(redis.as_str()), 1), (None, 7)] {
        let db = crate::support::fresh_database(&postgres).await;
        let (a, b) = two_instances(&db, bus).await;
        let admin = a.state.config.admin_token.value.clone();
        let made = client
            .post(format!("{}/api/admin/keys", a.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "agency", "role": "viewer"}))
            .send()
            .await
            .expect("sent");
        let made: serde_json::Value = made.json().await.expect("json");
        let (id, key) = (made["key"]["id"].clone(), made["token"].clone());
        let key = key.as_str().expect("token");
        let mut on_b = SseClient::send(
            client
                .get(format!("{}/api/campaign/c/events", b.base))
                .bearer_auth(key),
        )
        .await;
        assert_eq!(on_b.status, 200, "{}", on_b.error);
        on_b.next_of("presence").await;
        let revoked = client
            .delete(format!("{}/api/admin/keys/{id}", a.base))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(revoked.status(), 200);
        assert!(
            on_b.ends_within(Duration::from_secs(within)).await,
            "the stream on the other instance ends within {within} s (bus: {bus:?})"
        );
        a.shutdown.cancel();
        b.shutdown.cancel();
        let _ = tokio::join!(a.running, b.running);
    }
}

db_tests!(
    the_feed_stays_inside_its_tenant,
    an_idle_consumer_holds_nothing_back,
    revoking_a_key_ends_what_it_holds_open,
    an_erasure_ends_the_persons_sessions,
);
