//! A campaign's own event types: declared in its campaign file, listed in
//! its event catalogue, published by the back office, received live (to
//! everyone, or to one session only), replayed after a reconnect, written
//! to the outbox when declared so; every bad request refused with nothing
//! published. And a campaign's life told live: `campaign.status` when it
//! reaches its end, its forms closed at once.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app};

/// The campaign file of `c` with two event types of its own.
const CAMPAIGN_FILE: &str = r#"
slug = "c"
name = "Custom events"
status = "active"

[config.leaderboard]
enabled = true

[config.event_types."announcement"]
description = "A line the team shows on every page"
[config.event_types."announcement".fields]
title = { type = "string", required = true, max_chars = 40 }
priority = { type = "integer", min = 1, max = 3 }

[config.event_types."onboarding.completed"]
audience = "private"
webhook = true
[config.event_types."onboarding.completed".fields]
step = { type = "string", required = true }
"#;

async fn launch(app: &TestApp) {
    let reply = app.apply_campaign_file("c", CAMPAIGN_FILE).await;
    assert_eq!(reply.assert_status(200)["outcome"], "created");
}

async fn publish(app: &TestApp, who: As, body: Value) -> crate::support::Reply {
    app.call(Method::POST, "/api/campaign/c/events", who, Some(body))
        .await
}

async fn declared_events_are_published_listed_and_replayed(db: Db) {
    let app = spawn_app(db).await;
    launch(&app).await;
    let catalogue = app.get("/api/campaign/c/event-types", As::Anonymous).await;
    let types = catalogue.assert_status(200)["event_types"]
        .as_array()
        .expect("list")
        .clone();
    let names: Vec<&str> = types
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    for name in [
        "presence",
        "user.joined",
        "leaderboard",
        "campaign.status",
        "announcement",
        "onboarding.completed",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let announcement = types
        .iter()
        .find(|t| t["name"] == "announcement")
        .expect("listed");
    assert_eq!(announcement["built_in"], false);
    assert_eq!(announcement["audience"], "public");
    assert_eq!(announcement["fields"]["title"]["max_chars"], 40);

    let mut page = app.events("c", "", None).await;
    assert_eq!(page.next().await.event, "presence");
    app.joined("c", "ada@example.com", "Ada", None).await;
    let before = page.next_of("user.joined").await.id.expect("an id");
    let sent = publish(
        &app,
        As::Admin,
        json!({"type": "announcement", "data": {"title": "Launch day", "priority": 2}}),
    )
    .await;
    let id = sent.assert_status(202)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let received = page.next_of("announcement").await;
    assert_eq!(received.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        received.json(),
        json!({"title": "Launch day", "priority": 2})
    );
    // A page that reconnects from before it gets it again.
    let mut back = app.events("c", "", Some(&before)).await;
    let replayed = back.next_of("announcement").await;
    assert_eq!(replayed.id.as_deref(), Some(id.as_str()));
    // Public events of a type without `webhook` leave no outbox entry.
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|entry| entry.event_type == "user.registered")
    );
}

async fn a_private_event_reaches_its_recipient_only(db: Db) {
    let app = spawn_app(db).await;
    launch(&app).await;
    let (ada_id, _, ada) = app.joined("c", "ada@example.com", "Ada", None).await;
    let (_, other) = app.visitor("c").await;
    let ada_ticket = app.ticket("c", &ada).await;
    let other_ticket = app.ticket("c", &other).await;
    let mut hers = app
        .events("c", &format!("?ticket={ada_ticket}"), None)
        .await;
    let mut theirs = app
        .events("c", &format!("?ticket={other_ticket}"), None)
        .await;
    let mut anonymous = app.events("c", "", None).await;
    publish(
        &app,
        As::Admin,
        json!({"type": "onboarding.completed", "recipient": ada_id, "data": {"step": "profile"}}),
    )
    .await
    .assert_status(202);
    let got = hers.next_of("onboarding.completed").await;
    assert_eq!(got.json(), json!({"step": "profile"}));
    for stream in [&mut theirs, &mut anonymous] {
        while let Some(event) = stream.next_within(Duration::from_millis(700)).await {
            assert_ne!(event.event, "onboarding.completed", "not theirs");
        }
    }
    // Declared `webhook = true`: it also left through the outbox.
    let outbox: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|entry| entry.event_type != "user.registered")
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].event_type, "onboarding.completed");
    assert_eq!(outbox[0].payload["data"], json!({"step": "profile"}));
}

async fn bad_custom_events_are_refused_and_nothing_is_published(db: Db) {
    let app = spawn_app(db).await;
    launch(&app).await;
    let mut watch = app.watch_events("c");
    let session = uuid::Uuid::now_v7();
    for (body, code, field) in [
        (
            json!({"type": "nope", "data": {}}),
            "unknown_event_type",
            "type",
        ),
        (
            json!({"type": "user.joined", "data": {}}),
            "unknown_event_type",
            "type",
        ),
        (
            json!({"type": "announcement", "data": {}}),
            "invalid_field",
            "data.title",
        ),
        (
            json!({"type": "announcement", "data": {"title": 7}}),
            "invalid_field",
            "data.title",
        ),
        (
            json!({"type": "announcement", "data": {"title": "x".repeat(41)}}),
            "invalid_field",
            "data.title",
        ),
        (
            json!({"type": "announcement", "data": {"title": "t", "priority": 4}}),
            "invalid_field",
            "data.priority",
        ),
        (
            json!({"type": "announcement", "data": {"title": "t", "colour": "red"}}),
            "invalid_field",
            "data.colour",
        ),
        (
            json!({"type": "announcement", "data": {"title": "t"}, "recipient": session}),
            "invalid_field",
            "recipient",
        ),
        (
            json!({"type": "onboarding.completed", "data": {"step": "s"}}),
            "invalid_field",
            "recipient",
        ),
    ] {
        let reply = publish(&app, As::Admin, body.clone()).await;
        assert_eq!(reply.assert_error(422, code)["field"], field, "{body}");
    }
    for body in [
        json!({"type": "announcement", "data": {"title": "t"}, "extra": 1}),
        json!({"type": "announcement", "data": ["t"]}),
        json!({"type": "announcement", "recipient": "not-a-uuid", "data": {"title": "t"}}),
    ] {
        let reply = publish(&app, As::Admin, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
    }
    publish(
        &app,
        As::Anonymous,
        json!({"type": "announcement", "data": {"title": "t"}}),
    )
    .await
    .assert_error(401, "unauthorized");
    app.call(
        Method::POST,
        "/api/campaign/nope/events",
        As::Admin,
        Some(json!({"type": "announcement", "data": {"title": "t"}})),
    )
    .await
    .assert_error(404, "campaign_not_found");
    assert!(watch.drain(Duration::from_millis(300)).await.is_empty());
    assert!(app.outbox().await.is_empty());
}

async fn a_campaign_file_declaring_a_bad_event_type_is_refused(db: Db) {
    let app = spawn_app(db).await;
    for (file, field) in [
        (
            "slug = \"c\"\nname = \"c\"\n[config.event_types.\"lead.created\"]\n",
            "lead.created",
        ),
        (
            "slug = \"c\"\nname = \"c\"\n[config.event_types.\"a\".fields]\nx = { type = \"boolean\", max_chars = 3 }\n",
            "max_chars",
        ),
        (
            "slug = \"c\"\nname = \"c\"\n[config.event_types.\"a\".fields]\nx = { type = \"date\" }\n",
            "date",
        ),
    ] {
        let reply = app.apply_campaign_file("c", file).await;
        assert_eq!(reply.status, 422, "{file}: {}", reply.body);
        assert!(
            reply.body.to_string().contains(field),
            "{file}: {}",
            reply.body
        );
    }
    assert!(app.stored_campaigns().await.is_empty());
}

async fn a_campaign_that_ends_closes_and_tells_its_pages(db: Db) {
    let app = spawn_app(db).await;
    let ends_at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let mut body = crate::support::open_campaign_body("c");
    body["ends_at"] = json!(ends_at);
    app.create_campaign(body).await.assert_status(201);
    app.joined("c", "ada@example.com", "Ada", None).await;
    let mut page = app.events("c", "", None).await;
    let closed = page.next_of("campaign.status").await.json();
    assert_eq!(closed["open"], false);
    assert_eq!(closed["status"], "active");
    assert!(chrono::Utc::now() >= ends_at - chrono::Duration::milliseconds(50));
    app.join("c", "late@example.com", "Late", None)
        .await
        .assert_error(403, "campaign_closed");
    // Reopened by the team: told once more.
    app.patch_campaign("c", As::Admin, json!({"ends_at": null}))
        .await
        .assert_status(200);
    let open = page.next_of("campaign.status").await.json();
    assert_eq!(open["open"], true);
    while let Some(event) = page.next_within(Duration::from_millis(1500)).await {
        assert_ne!(event.event, "campaign.status", "announced once: {event:?}");
    }
}

db_tests!(
    declared_events_are_published_listed_and_replayed,
    a_private_event_reaches_its_recipient_only,
    bad_custom_events_are_refused_and_nothing_is_published,
    a_campaign_file_declaring_a_bad_event_type_is_refused,
    a_campaign_that_ends_closes_and_tells_its_pages,
);
