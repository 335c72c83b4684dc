//! `POST /api/user/register`: joining a campaign, with and without a referral code.

use serde_json::json;

use crate::db_tests;
use crate::support::{As, Db, spawn_app};

async fn join_returns_id_code_and_a_working_token(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let mut events = app.watch_events("c");
    let reply = app
        .join("c", "  Ada.Lovelace@Example.COM ", " Ada ", None)
        .await;
    let body = reply.assert_status(201).clone();
    let master_id = uuid::Uuid::parse_str(body["master_id"].as_str().expect("id")).expect("uuid");
    assert_eq!(master_id.get_version_num(), 7, "UUID v7");
    assert_eq!(body["display_name"], "Ada");
    let code = body["referral_code"].as_str().expect("code");
    assert_eq!(code.len(), 8);
    assert!(
        code.bytes()
            .all(|b| b"23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(&b)),
        "{code}"
    );

    let stored = app
        .state
        .store
        .user_by_id(master_id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.email, "ada.lovelace@example.com",
        "trimmed and lower-cased"
    );

    let joined = events.of_kind("user.joined").await;
    assert_eq!(joined.len(), 1);
    assert_eq!(
        joined[0].event.data,
        json!({"display_name": "Ada"}),
        "never the email"
    );

    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_type, "user.registered");
    assert_eq!(outbox[0].payload["email"], "ada.lovelace@example.com");
    assert!(
        outbox[0].delivered_at.is_none(),
        "no receiver configured: stays pending"
    );

    // The token identifies the user: a referral with it is accepted.
    let (_, friend_code, _) = app.joined("c", "grace@example.com", "Grace", None).await;
    let token = body["token"].as_str().expect("token");
    app.refer("c", &friend_code, Some(token))
        .await
        .assert_status(201);
    assert_eq!(app.metrics("c").await["users"], 2);
}

async fn the_same_email_cannot_join_twice(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("other", json!({})).await;
    app.join("c", "Ada@Example.com", "Ada", None)
        .await
        .assert_status(201);
    let reply = app
        .join("c", " ada@example.COM", "Someone else", None)
        .await;
    assert_eq!(reply.assert_error(409, "email_taken")["field"], "email");
    assert_eq!(app.metrics("c").await["users"], 1);
    assert_eq!(app.outbox().await.len(), 1, "no second welcome");
    // Another campaign is another list.
    app.join("other", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
}

async fn bad_joins_are_refused_and_write_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"forms": {"join": {"max_name_chars": 10}}}))
        .await;
    let cases = [
        (
            json!({"campaign": "c", "email": "not-an-email", "name": "Ada"}),
            422,
            "invalid_field",
            Some("email"),
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "  "}),
            422,
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "Ada Lovelace!"}),
            422,
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "locale": "english"}),
            422,
            "invalid_field",
            Some("locale"),
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "admin": true}),
            422,
            "invalid_field",
            Some("admin"),
        ),
        (
            json!({"campaign": "c", "email": 42, "name": "Ada"}),
            422,
            "invalid_field",
            Some("email"),
        ),
        (
            json!({"email": "ada@example.com", "name": "Ada"}),
            422,
            "invalid_field",
            Some("campaign"),
        ),
        (
            json!({"campaign": "c", "email": "x".repeat(300), "name": "Ada"}),
            422,
            "invalid_field",
            Some("email"),
        ),
        (
            json!({"campaign": "nope", "email": "ada@example.com", "name": "Ada"}),
            404,
            "campaign_not_found",
            None,
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "referral_code": "ZZZZZZZZ"}),
            404,
            "unknown_code",
            None,
        ),
        (
            json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "referral_code": "not a code"}),
            404,
            "unknown_code",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let reply = app
            .call(
                reqwest::Method::POST,
                "/api/user/register",
                As::Anonymous,
                Some(body.clone()),
            )
            .await;
        let error = reply.assert_error(status, code);
        if let Some(field) = field {
            assert_eq!(error["field"], field, "for {body}");
        }
    }
    app.call_raw(
        reqwest::Method::POST,
        "/api/user/register",
        As::Anonymous,
        "application/json",
        "{\"campaign\":",
    )
    .await
    .assert_error(400, "malformed_json");
    app.call_raw(
        reqwest::Method::POST,
        "/api/user/register",
        As::Anonymous,
        "application/json",
        b"{\"campaign\":\"c\",\"email\":\"a@b.co\",\"name\":\"\xc3\x28\"}".to_vec(),
    )
    .await
    .assert_error(400, "malformed_json");
    assert_eq!(
        app.metrics("c").await,
        json!({"active": 0, "users": 0, "leads": 0, "referrals": 0})
    );
    assert!(app.outbox().await.is_empty(), "nothing written");
}

async fn closed_campaigns_take_no_joins(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "draft", "name": "Draft"}))
        .await
        .assert_status(201);
    app.create_campaign(json!({"slug": "paused", "name": "Paused", "status": "paused"}))
        .await
        .assert_status(201);
    app.create_campaign(json!({
        "slug": "over", "name": "Over", "status": "active",
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z"
    }))
    .await
    .assert_status(201);
    app.create_campaign(json!({"slug": "later", "name": "Later", "status": "active", "starts_at": "2999-01-01T00:00:00Z"}))
        .await
        .assert_status(201);
    app.join("draft", "a@example.com", "A", None)
        .await
        .assert_error(404, "campaign_not_found");
    for slug in ["paused", "over", "later"] {
        app.join(slug, "a@example.com", "A", None)
            .await
            .assert_error(403, "campaign_closed");
    }
    assert!(app.outbox().await.is_empty(), "nothing written");
}

async fn a_referral_code_at_join_credits_the_friend(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"milestones": [1, 2]})).await;
    let (ada_id, ada_code, _) = app.joined("c", "ada@example.com", "Ada", None).await;
    let mut events = app.watch_events("c");
    let lower = ada_code.to_lowercase();
    let (grace_id, _, _) = app
        .joined("c", "grace@example.com", "Grace", Some(&lower))
        .await;
    let grace = app
        .state
        .store
        .user_by_id(grace_id.parse().expect("uuid"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(grace.referred_by.map(|id| id.to_string()), Some(ada_id));
    assert_eq!(app.metrics("c").await["referrals"], 1);
    let milestones = events.of_kind("referral.milestone").await;
    assert_eq!(milestones.len(), 1);
    assert_eq!(
        milestones[0].event.data,
        json!({"user": "Ada", "count": 1, "milestone": 1})
    );
    let types: Vec<_> = app
        .outbox()
        .await
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert!(types.contains(&"referral.created".to_owned()), "{types:?}");
}

async fn joins_are_rate_limited_per_address(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"rate_limits": {"joins_per_minute": 2}}))
        .await;
    app.join("c", "a@example.com", "A", None)
        .await
        .assert_status(201);
    app.join("c", "b@example.com", "B", None)
        .await
        .assert_status(201);
    let reply = app.join("c", "c@example.com", "C", None).await;
    reply.assert_error(429, "rate_limited");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(app.metrics("c").await["users"], 2);
}

db_tests!(
    join_returns_id_code_and_a_working_token,
    the_same_email_cannot_join_twice,
    bad_joins_are_refused_and_write_nothing,
    closed_campaigns_take_no_joins,
    a_referral_code_at_join_credits_the_friend,
    joins_are_rate_limited_per_address,
);

/// SQLite only: another writer holding the database past the busy timeout
/// makes a join a retryable 503 `busy`, never a 500, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_is_a_retryable_503() {
    use sqlx::Connection;
    let app = spawn_app(Db::Sqlite).await;
    app.open_campaign("c", json!({})).await;
    let url = app.db_url();
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("second connection");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("takes the write lock");
    let reply = app.join("c", "ada@example.com", "Ada", None).await;
    reply.assert_error(503, "busy");
    assert_eq!(reply.headers["retry-after"], "1");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("releases it");
    assert_eq!(app.metrics("c").await["users"], 0, "nothing written");
    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
}
