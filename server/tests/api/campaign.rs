//! `/api/campaign`: create, read, update, list, metrics — and every refusal.

use reqwest::Method;
use serde_json::json;

use crate::db_tests;
use crate::support::{As, Db, spawn_app};

async fn create_returns_the_stored_campaign_with_defaults(db: Db) {
    let app = spawn_app(db).await;
    let reply = app
        .create_campaign(json!({"slug": "spring-2027", "name": "Spring 2027"}))
        .await;
    let created = reply.assert_status(201);
    assert_eq!(created["slug"], "spring-2027");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["config"]["cursor"]["tick_hz"], 30);
    assert_eq!(created["config"]["cursor"]["interest_cap"], 64);
    assert_eq!(
        created["config"]["milestones"],
        json!([1, 10, 50, 100, 500, 1000])
    );
    assert!(created["id"].is_i64());
    assert!(created["created_at"].is_string());

    let fetched = app.get("/api/campaign/spring-2027", As::Admin).await;
    assert_eq!(fetched.assert_status(200), created);
}

async fn create_keeps_the_given_fields(db: Db) {
    let app = spawn_app(db).await;
    let body = json!({
        "slug": "launch",
        "name": "Launch week",
        "status": "active",
        "starts_at": "2026-12-01T09:00:00Z",
        "ends_at": "2026-12-08T09:00:00Z",
        "config": {
            "locales": ["en", "pt-BR"],
            "cursor": {"tick_hz": 20, "interest_cap": 32},
            "glossary": ["Ovasabi"],
            "webhooks": ["https://crm.example/hook"]
        }
    });
    let created = app.create_campaign(body).await;
    let created = created.assert_status(201);
    assert_eq!(created["starts_at"], "2026-12-01T09:00:00Z");
    assert_eq!(created["config"]["locales"], json!(["en", "pt-BR"]));
    assert_eq!(created["config"]["cursor"]["tick_hz"], 20);
    assert_eq!(
        created["config"]["cursor"]["sessions_per_ip"], 20,
        "defaults fill the rest"
    );

    // The public sees the campaign, but not where its leads are sent.
    let public = app.get("/api/campaign/launch", As::Anonymous).await;
    assert_eq!(public.assert_status(200)["config"]["webhooks"], json!([]));
    let admin = app.get("/api/campaign/launch", As::Admin).await;
    assert_eq!(
        admin.assert_status(200)["config"]["webhooks"],
        json!(["https://crm.example/hook"])
    );
}

async fn create_needs_the_admin_token(db: Db) {
    let app = spawn_app(db).await;
    let body = json!({"slug": "x", "name": "X"});
    let reply = app
        .call(
            Method::POST,
            "/api/campaign",
            As::Anonymous,
            Some(body.clone()),
        )
        .await;
    reply.assert_error(401, "unauthorized");
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    let wrong = app
        .client
        .post(app.url("/api/campaign"))
        .bearer_auth("not-the-token-at-all")
        .json(&body)
        .send()
        .await
        .expect("sent");
    crate::support::read(wrong)
        .await
        .assert_error(401, "unauthorized");
    assert!(app.stored_campaigns().await.is_empty(), "nothing written");
}

async fn malformed_json_is_400_and_writes_nothing(db: Db) {
    let app = spawn_app(db).await;
    for body in [
        r#"{"slug": "x", "name": "#,
        "",
        "[1, 2",
        r#"{"slug":"x","name":"X"} trailing"#,
    ] {
        let reply = app
            .call_raw(
                Method::POST,
                "/api/campaign",
                As::Admin,
                "application/json",
                body,
            )
            .await;
        reply.assert_error(400, "malformed_json");
    }
    let not_utf8 = b"{\"slug\": \"x\", \"name\": \"\xff\xfe\"}".to_vec();
    app.call_raw(
        Method::POST,
        "/api/campaign",
        As::Admin,
        "application/json",
        not_utf8,
    )
    .await
    .assert_error(400, "malformed_json");
    assert!(app.stored_campaigns().await.is_empty(), "nothing written");
}

async fn invalid_fields_are_422_naming_the_field(db: Db) {
    let app = spawn_app(db).await;
    let cases = [
        (json!({"slug": "Bad Slug", "name": "X"}), "slug"),
        (json!({"slug": "x", "name": "   "}), "name"),
        (json!({"slug": "x", "name": "x".repeat(201)}), "name"),
        (json!({"slug": "x"}), "name"),
        (json!({"slug": 7, "name": "X"}), "slug"),
        (
            json!({"slug": "x", "name": "X", "status": "live"}),
            "status",
        ),
        (json!({"slug": "x", "name": "X", "colour": "red"}), "colour"),
        (
            json!({"slug": "x", "name": "X", "starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}),
            "ends_at",
        ),
        (
            json!({"slug": "x", "name": "X", "starts_at": "next tuesday"}),
            "starts_at",
        ),
        (
            json!({"slug": "x", "name": "X", "config": {"cursor": {"tick_hz": 0}}}),
            "config.cursor.tick_hz",
        ),
        (
            json!({"slug": "x", "name": "X", "config": {"cursor": {"tick_herz": 5}}}),
            "config.cursor.tick_herz",
        ),
        (
            json!({"slug": "x", "name": "X", "config": {"rate_limits": {"quotes_per_minute": 0}}}),
            "config.rate_limits.quotes_per_minute",
        ),
        (
            json!({"slug": "x", "name": "X", "config": {"locales": ["en", "EN_us"]}}),
            "config.locales[1]",
        ),
        (
            json!({"slug": "x", "name": "X", "config": {"milestones": [5, 1]}}),
            "config.milestones",
        ),
    ];
    for (body, field) in cases {
        let reply = app.create_campaign(body.clone()).await;
        let error = reply.assert_error(422, "invalid_field");
        assert_eq!(error["field"], field, "for {body}");
    }
    assert!(app.stored_campaigns().await.is_empty(), "nothing written");
}

async fn duplicate_slug_is_409_and_keeps_the_original(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "dup", "name": "First"}))
        .await
        .assert_status(201);
    let reply = app
        .create_campaign(json!({"slug": "dup", "name": "Second"}))
        .await;
    assert_eq!(reply.assert_error(409, "slug_taken")["field"], "slug");
    let stored = app.stored_campaigns().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "First");
}

async fn concurrent_creates_of_one_slug_store_one(db: Db) {
    let app = spawn_app(db).await;
    let attempts =
        (0..8).map(|i| app.create_campaign(json!({"slug": "race", "name": format!("Try {i}")})));
    let replies = futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, conflicts), (1, 7), "{replies:?}");
    assert_eq!(app.stored_campaigns().await.len(), 1);
}

async fn body_over_the_limit_is_413(db: Db) {
    let app = spawn_app(db).await;
    let huge = json!({"slug": "big", "name": "Big", "config": {"glossary": vec!["word"; 40_000]}});
    let reply = app.create_campaign(huge).await;
    reply.assert_error(413, "payload_too_large");
    assert!(app.stored_campaigns().await.is_empty(), "nothing written");
}

async fn non_json_content_type_is_415(db: Db) {
    let app = spawn_app(db).await;
    app.call_raw(
        Method::POST,
        "/api/campaign",
        As::Admin,
        "text/plain",
        "slug=x",
    )
    .await
    .assert_error(415, "unsupported_media_type");
    assert!(app.stored_campaigns().await.is_empty(), "nothing written");
}

async fn unknown_campaign_is_404_everywhere(db: Db) {
    let app = spawn_app(db).await;
    for path in [
        "/api/campaign/nope",
        "/api/campaign/nope/metrics",
        "/api/campaign/NOT%20A%20SLUG",
    ] {
        app.get(path, As::Admin)
            .await
            .assert_error(404, "campaign_not_found");
    }
    app.patch_campaign("nope", As::Admin, json!({"name": "X"}))
        .await
        .assert_error(404, "campaign_not_found");
    app.get("/api/nothing-here", As::Anonymous)
        .await
        .assert_error(404, "not_found");
}

async fn drafts_are_hidden_from_the_public(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "secret", "name": "Secret"}))
        .await
        .assert_status(201);
    app.get("/api/campaign/secret", As::Anonymous)
        .await
        .assert_error(404, "campaign_not_found");
    app.get("/api/campaign/secret/metrics", As::Anonymous)
        .await
        .assert_error(404, "campaign_not_found");
    app.get("/api/campaign/secret", As::Admin)
        .await
        .assert_status(200);

    app.patch_campaign("secret", As::Admin, json!({"status": "active"}))
        .await
        .assert_status(200);
    app.get("/api/campaign/secret", As::Anonymous)
        .await
        .assert_status(200);
}

async fn patch_updates_only_what_is_sent(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({
        "slug": "p", "name": "Before", "status": "active", "starts_at": "2026-12-01T00:00:00Z",
        "config": {"locales": ["en", "fr"]}
    }))
    .await
    .assert_status(201);

    let reply = app
        .patch_campaign("p", As::Admin, json!({"name": "After", "status": "paused"}))
        .await;
    let patched = reply.assert_status(200);
    assert_eq!(patched["name"], "After");
    assert_eq!(patched["status"], "paused");
    assert_eq!(patched["starts_at"], "2026-12-01T00:00:00Z", "untouched");
    assert_eq!(
        patched["config"]["locales"],
        json!(["en", "fr"]),
        "untouched"
    );

    let cleared = app
        .patch_campaign("p", As::Admin, json!({"starts_at": null}))
        .await;
    assert!(
        cleared.assert_status(200)["starts_at"].is_null(),
        "null clears"
    );

    let reconfigured = app
        .patch_campaign(
            "p",
            As::Admin,
            json!({"config": {"cursor": {"tick_hz": 10}}}),
        )
        .await;
    let reconfigured = reconfigured.assert_status(200);
    assert_eq!(reconfigured["config"]["cursor"]["tick_hz"], 10);
    assert_eq!(
        reconfigured["config"]["locales"],
        json!(["en"]),
        "config is replaced whole"
    );

    let stored = app.get("/api/campaign/p", As::Admin).await;
    assert_eq!(stored.assert_status(200), reconfigured);
}

async fn bad_patches_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "q", "name": "Q", "ends_at": "2026-12-10T00:00:00Z"}))
        .await
        .assert_status(201);
    let before = app.get("/api/campaign/q", As::Admin).await.body;

    app.patch_campaign("q", As::Anonymous, json!({"name": "Hacked"}))
        .await
        .assert_error(401, "unauthorized");
    let reply = app
        .patch_campaign("q", As::Admin, json!({"starts_at": "2026-12-20T00:00:00Z"}))
        .await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "ends_at");
    let reply = app
        .patch_campaign("q", As::Admin, json!({"config": {"milestones": []}}))
        .await;
    assert_eq!(
        reply.assert_error(422, "invalid_field")["field"],
        "config.milestones"
    );
    let reply = app
        .patch_campaign("q", As::Admin, json!({"slug": "renamed"}))
        .await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "slug");
    app.call_raw(
        Method::PATCH,
        "/api/campaign/q",
        As::Admin,
        "application/json",
        "{",
    )
    .await
    .assert_error(400, "malformed_json");

    let after = app.get("/api/campaign/q", As::Admin).await.body;
    assert_eq!(before, after, "nothing changed");
}

async fn list_is_admin_only_and_paged(db: Db) {
    let app = spawn_app(db).await;
    for slug in ["a", "b", "c"] {
        app.active_campaign(slug).await;
    }
    app.get("/api/campaign", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    let all = app.get("/api/campaign", As::Admin).await;
    let slugs: Vec<_> = all.assert_status(200)["campaigns"]
        .as_array()
        .expect("campaigns array")
        .iter()
        .map(|c| c["slug"].as_str().expect("slug").to_owned())
        .collect();
    assert_eq!(slugs, ["a", "b", "c"]);
    let page = app.get("/api/campaign?limit=1&offset=1", As::Admin).await;
    assert_eq!(page.assert_status(200)["campaigns"][0]["slug"], "b");
    assert_eq!(page.body["campaigns"].as_array().map(Vec::len), Some(1));
    let reply = app.get("/api/campaign?limit=100000", As::Admin).await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "limit");
    let reply = app.get("/api/campaign?offset=-1", As::Admin).await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "offset");
}

async fn metrics_count_from_the_tables(db: Db) {
    let app = spawn_app(db).await;
    app.active_campaign("m").await;
    assert_eq!(
        app.metrics("m").await,
        json!({"active": 0, "users": 0, "leads": 0, "referrals": 0})
    );
}

db_tests!(
    create_returns_the_stored_campaign_with_defaults,
    create_keeps_the_given_fields,
    create_needs_the_admin_token,
    malformed_json_is_400_and_writes_nothing,
    invalid_fields_are_422_naming_the_field,
    duplicate_slug_is_409_and_keeps_the_original,
    concurrent_creates_of_one_slug_store_one,
    body_over_the_limit_is_413,
    non_json_content_type_is_415,
    unknown_campaign_is_404_everywhere,
    drafts_are_hidden_from_the_public,
    patch_updates_only_what_is_sent,
    bad_patches_change_nothing,
    list_is_admin_only_and_paged,
    metrics_count_from_the_tables,
);
