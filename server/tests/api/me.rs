//! `GET /api/me` and `PATCH /api/me`: a user's own profile, referral code
//! and count, next milestone and quotes; a visitor's own quotes; never
//! anyone else's.

use reqwest::Method;
use serde_json::json;

use crate::db_tests;
use crate::support::{As, Db, spawn_app};

fn lead(email: &str) -> serde_json::Value {
    json!({"campaign": "c", "name": "Lead", "email": email, "message": "Hello"})
}

async fn a_user_sees_their_own_standing(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"milestones": [1, 3, 10]}))
        .await;
    let (ada, code, token) = app.joined("c", "ada@example.com", "Ada", None).await;
    let me = app.call_as(Method::GET, "/api/me", &token, None).await;
    let me = me.assert_status(200).clone();
    assert_eq!(me["kind"], "user");
    assert_eq!(me["master_id"], ada.as_str());
    assert_eq!(me["referral_code"], code.as_str());
    assert_eq!(me["referral_count"], 0);
    assert_eq!(me["next_milestone"], 1);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["quotes"], json!([]));
    // Two friends join with her code; she sends a lead.
    app.joined("c", "b@example.com", "B", Some(&code)).await;
    app.joined("c", "c@example.com", "C", Some(&code)).await;
    let sent = app
        .submit_lead(&lead("ada@example.com"), None, Some(&token))
        .await;
    let quote_id = sent.assert_status(201)["id"].clone();
    // Someone else's lead is not hers.
    app.submit_lead(&lead("other@example.com"), None, None)
        .await
        .assert_status(201);
    let me = app.call_as(Method::GET, "/api/me", &token, None).await;
    let me = me.assert_status(200);
    assert_eq!(me["referral_count"], 2);
    assert_eq!(me["next_milestone"], 3);
    assert_eq!(me["quotes"].as_array().map(Vec::len), Some(1));
    assert_eq!(me["quotes"][0]["quote_id"], quote_id);
    assert_eq!(me["quotes"][0]["status"], "new");

    // She changes her name and locale; an unknown field or a bad value
    // changes nothing.
    let changed = app
        .call_as(
            Method::PATCH,
            "/api/me",
            &token,
            Some(json!({"display_name": "Ada L.", "locale": "fr"})),
        )
        .await;
    assert_eq!(changed.assert_status(200)["display_name"], "Ada L.");
    assert_eq!(changed.body["locale"], "fr");
    for (body, field) in [
        (json!({"locale": "French"}), Some("locale")),
        (json!({"display_name": "  "}), Some("display_name")),
        (json!({"email": "new@example.com"}), None),
    ] {
        let reply = app
            .call_as(Method::PATCH, "/api/me", &token, Some(body))
            .await;
        assert_eq!(reply.status, 422, "{}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.body["field"], field);
        }
    }
    let me = app.call_as(Method::GET, "/api/me", &token, None).await;
    assert_eq!(me.assert_status(200)["display_name"], "Ada L.");
    assert_eq!(me.body["email"], "ada@example.com");
    let cleared = app
        .call_as(
            Method::PATCH,
            "/api/me",
            &token,
            Some(json!({"locale": null})),
        )
        .await;
    assert_eq!(cleared.assert_status(200)["locale"], json!(null));
}

async fn a_visitor_sees_only_their_sessions_quotes(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (mine, token) = app.visitor("c").await;
    let (_, theirs) = app.visitor("c").await;
    app.submit_lead(&lead("me@example.com"), None, Some(&token))
        .await
        .assert_status(201);
    app.submit_lead(&lead("them@example.com"), None, Some(&theirs))
        .await
        .assert_status(201);
    let me = app.call_as(Method::GET, "/api/me", &token, None).await;
    let me = me.assert_status(200);
    assert_eq!(me["kind"], "visitor");
    assert_eq!(me["session_id"], mine.as_str());
    assert_eq!(me["quotes"].as_array().map(Vec::len), Some(1));
    assert!(me.get("email").is_none());
    // A visitor has no profile to change.
    app.call_as(
        Method::PATCH,
        "/api/me",
        &token,
        Some(json!({"display_name": "Me"})),
    )
    .await
    .assert_error(403, "join_first");
}

async fn me_needs_a_valid_session(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.get("/api/me", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    app.call_as(Method::GET, "/api/me", "not-a-token", None)
        .await
        .assert_error(401, "invalid_token");
    // The admin token is not a session.
    app.get("/api/me", As::Admin)
        .await
        .assert_error(401, "invalid_token");
    // Checked before the body is read.
    app.call_as(Method::PATCH, "/api/me", "not-a-token", Some(json!([])))
        .await
        .assert_error(401, "invalid_token");
}

db_tests!(
    a_user_sees_their_own_standing,
    a_visitor_sees_only_their_sessions_quotes,
    me_needs_a_valid_session,
);
