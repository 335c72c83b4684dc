//! Leads: submission, idempotency, field rules, the admin's status
//! changes, and `lead.status` reaching only the submitter.

use ovasabi_edge::internals::bus::Audience;
use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, spawn_app};

fn lead(campaign: &str) -> Value {
    json!({
        "campaign": campaign,
        "name": "Ada Lovelace",
        "email": "Ada@Example.com",
        "message": "We need a campaign site\nfor the spring launch.",
        "company": "Analytical Engines",
        "budget": 25000,
        "details": {"service": "web", "timeline": "Q2"}
    })
}

async fn a_lead_is_stored_delivered_and_announced_without_personal_data(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let mut events = app.watch_events("c");
    let reply = app.submit_lead(&lead("c"), None, None).await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["status"], "new");
    let id: uuid::Uuid = body["id"].as_str().expect("id").parse().expect("uuid");
    let stored = app
        .state
        .store
        .lead_by_id(id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.email, "ada@example.com");
    assert_eq!(stored.budget.as_deref(), Some("25000"));
    assert_eq!(stored.details["timeline"], "Q2");

    let created = events.of_kind("lead.created").await;
    assert_eq!(created.len(), 1);
    let data = created[0].event.data.to_string();
    assert!(
        !data.contains("ada@example.com") && !data.contains("Lovelace") && !data.contains("spring"),
        "{data}"
    );
    assert_eq!(created[0].event.data["service"], "web");

    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_type, "lead.created");
    assert_eq!(
        outbox[0].payload["email"], "ada@example.com",
        "the CRM gets the contact"
    );
    assert_eq!(app.metrics("c").await["leads"], 1);
}

async fn private_campaigns_do_not_announce_leads(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"events": {"public_leads": false}}))
        .await;
    let mut events = app.watch_events("c");
    app.submit_lead(&lead("c"), None, None)
        .await
        .assert_status(201);
    assert!(events.of_kind("lead.created").await.is_empty());
}

async fn the_same_idempotency_key_returns_the_same_lead(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let first = app.submit_lead(&lead("c"), Some("form-123"), None).await;
    let second = app.submit_lead(&lead("c"), Some("form-123"), None).await;
    assert_eq!(
        first.assert_status(201)["id"],
        second.assert_status(201)["id"]
    );
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(app.metrics("c").await["leads"], 1);
    assert_eq!(app.outbox().await.len(), 1, "one CRM delivery");

    let mut changed = lead("c");
    changed["message"] = json!("Something else entirely");
    let reply = app.submit_lead(&changed, Some("form-123"), None).await;
    reply.assert_error(409, "idempotency_key_reused");
    app.submit_lead(&lead("c"), Some("form-456"), None)
        .await
        .assert_status(201);
    assert_eq!(app.metrics("c").await["leads"], 2);
}

async fn concurrent_duplicates_store_one_lead(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let body = lead("c");
    let replies = futures::future::join_all(
        (0..10).map(|_| app.submit_lead(&body, Some("double-click"), None)),
    )
    .await;
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|r| r.assert_status(201)["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every reply names the same lead");
    assert_eq!(app.metrics("c").await["leads"], 1);
    assert_eq!(app.outbox().await.len(), 1);
}

/// A burst of leads (written in groups on SQLite): every distinct lead stored
/// once with its CRM delivery, every duplicate answered with its original.
async fn a_burst_of_leads_is_stored_whole(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let app = &app;
    let sends = (0..40).map(|i| {
        let mut body = lead("c");
        body["message"] = json!(format!("lead {}", i % 20));
        let key = format!("burst-{}", i % 20);
        async move { (i % 20, app.submit_lead(&body, Some(&key), None).await) }
    });
    let replies = futures::future::join_all(sends).await;
    let mut ids = std::collections::HashMap::new();
    for (lead_no, reply) in &replies {
        let id = reply.assert_status(201)["id"]
            .as_str()
            .expect("id")
            .to_owned();
        assert_eq!(ids.entry(*lead_no).or_insert_with(|| id.clone()), &id);
    }
    assert_eq!(ids.len(), 20);
    assert_eq!(app.metrics("c").await["leads"], 20);
    assert_eq!(app.outbox().await.len(), 20, "one CRM delivery per lead");
}

/// A lead that cannot be written (here: of a campaign that does not exist)
/// fails alone; the leads written with it are all stored.
async fn one_failing_lead_does_not_take_others_with_it(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let campaign_id = app.campaign_id("c").await;
    let lead = |i: i64, campaign_id: i64| ovasabi_edge::internals::model::lead::Lead {
        id: uuid::Uuid::now_v7(),
        campaign_id,
        master_id: None,
        session_id: None,
        name: format!("Lead {i}"),
        email: format!("lead{i}@example.com"),
        company: None,
        phone: None,
        message: "hello".into(),
        budget: None,
        details: serde_json::Map::new(),
        status: ovasabi_edge::internals::model::lead::LeadStatus::New,
        idempotency_key: None,
        request_fingerprint: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        visitor_id: None,
        consent: None,
    };
    let outbox = |campaign_id: i64| {
        vec![ovasabi_edge::internals::model::outbox::NewOutbox {
            kind: Default::default(),
            campaign_id: Some(campaign_id),
            event_type: "lead.created".into(),
            payload: json!({}),
            targets: vec![None],
        }]
    };
    let store = &app.state.store;
    let results = futures::future::join_all((0..30).map(|i| {
        let target = if i == 7 { 999_999 } else { campaign_id };
        let (q, o) = (lead(i, target), outbox(target));
        async move { store.insert_lead(&q, &o).await.map(|(_, created)| created) }
    }))
    .await;
    for (i, result) in results.iter().enumerate() {
        if i == 7 {
            assert!(result.is_err(), "the lead of no campaign fails: {result:?}");
        } else {
            assert!(matches!(result, Ok(true)), "lead {i}: {result:?}");
        }
    }
    assert_eq!(app.metrics("c").await["leads"], 29);
    assert_eq!(app.outbox().await.len(), 29);
}

async fn bad_leads_are_refused_and_write_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign(
        "c",
        json!({"forms": {"quote": {"required": ["phone"], "max_message_chars": 50, "details_keys": ["service"]}}}),
    )
    .await;
    let with = |patch: Value| {
        let mut body = lead("c");
        body["phone"] = json!("+44 20 7946 0000");
        body["message"] = json!("Short enough.");
        body["details"] = json!({"service": "web"});
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    app.submit_lead(&with(json!({})), None, None)
        .await
        .assert_status(201);
    let before = app.metrics("c").await;
    let cases = [
        (with(json!({"message": null})), "message"),
        (with(json!({"message": "   "})), "message"),
        (with(json!({"message": "x".repeat(51)})), "message"),
        (with(json!({"email": "ada-at-example"})), "email"),
        (with(json!({"name": ""})), "name"),
        (with(json!({"phone": null})), "phone"),
        (with(json!({"phone": "call me"})), "phone"),
        (
            with(json!({"details": {"colour": "red"}})),
            "details.colour",
        ),
        (
            with(json!({"details": {"service": {"nested": true}}})),
            "details.service",
        ),
        (with(json!({"details": "web"})), "details"),
        (with(json!({"budget": "x".repeat(101)})), "budget"),
        (with(json!({"spam": 1})), "spam"),
    ];
    for (body, field) in cases {
        let reply = app.submit_lead(&body, None, None).await;
        assert_eq!(
            reply.assert_error(422, "invalid_field")["field"],
            field,
            "for {body}"
        );
    }
    let reply = app
        .submit_lead(&with(json!({})), Some("bad key with spaces"), None)
        .await;
    assert_eq!(
        reply.assert_error(422, "invalid_field")["field"],
        "Idempotency-Key"
    );
    app.submit_lead(&with(json!({"campaign": "nope"})), None, None)
        .await
        .assert_error(404, "campaign_not_found");
    app.submit_lead(&with(json!({})), None, Some("forged.token.value"))
        .await
        .assert_error(401, "invalid_token");
    let huge = with(json!({"message": "x".repeat(70_000)}));
    app.submit_lead(&huge, None, None)
        .await
        .assert_error(413, "payload_too_large");
    assert_eq!(app.metrics("c").await, before, "nothing written");
    assert_eq!(app.outbox().await.len(), 1, "nothing written");
}

async fn the_team_moves_a_lead_and_only_its_submitter_hears(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let session = app
        .call(
            Method::POST,
            "/api/session",
            As::Anonymous,
            Some(json!({"campaign": "c"})),
        )
        .await;
    let session = session.assert_status(201).clone();
    let token = session["token"].as_str().expect("token");
    let session_id: uuid::Uuid = session["session_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let lead = app.submit_lead(&lead("c"), None, Some(token)).await;
    let id = lead.assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/quote/{id}");

    app.call(
        Method::PATCH,
        &path,
        As::Anonymous,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_error(401, "unauthorized");
    let mut events = app.watch_events("c");
    let moved = app
        .call(
            Method::PATCH,
            &path,
            As::Admin,
            Some(json!({"status": "in_review"})),
        )
        .await;
    assert_eq!(moved.assert_status(200)["status"], "in_review");
    let statuses = events.of_kind("lead.status").await;
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        statuses[0].event.audience,
        Audience::Session(session_id),
        "only the submitter"
    );
    assert_eq!(
        statuses[0].event.data,
        json!({"quote_id": id, "status": "in_review"})
    );

    let reply = app
        .call(
            Method::PATCH,
            &path,
            As::Admin,
            Some(json!({"status": "won"})),
        )
        .await;
    assert_eq!(
        reply.assert_error(409, "illegal_transition")["field"],
        "status"
    );
    let reply = app
        .call(
            Method::PATCH,
            &path,
            As::Admin,
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "status");
    app.call(
        Method::PATCH,
        "/api/quote/0194f1b2-0000-7000-8000-000000000000",
        As::Admin,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_error(404, "quote_not_found");
    app.call(
        Method::PATCH,
        "/api/quote/not-a-uuid",
        As::Admin,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_error(404, "quote_not_found");
    for next in ["contacted", "won"] {
        app.call(
            Method::PATCH,
            &path,
            As::Admin,
            Some(json!({"status": next})),
        )
        .await
        .assert_status(200);
    }
    let changes: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.event_type == "lead.status_changed")
        .map(|e| e.payload["status"].as_str().expect("status").to_owned())
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");

    let list = app.get("/api/quote?campaign=c&status=won", As::Admin).await;
    assert_eq!(list.assert_status(200)["quotes"][0]["id"], json!(id));
    let list = app.get("/api/quote?campaign=c&status=new", As::Admin).await;
    assert_eq!(list.assert_status(200)["quotes"], json!([]));
    app.get("/api/quote?campaign=c", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    app.get("/api/quote", As::Admin)
        .await
        .assert_error(422, "invalid_field");
    app.get("/api/quote?campaign=c&status=maybe", As::Admin)
        .await
        .assert_error(422, "invalid_field");
}

async fn closed_campaigns_take_no_leads(db: Db) {
    let app = spawn_app(db).await;
    app.create_campaign(json!({"slug": "p", "name": "P", "status": "paused"}))
        .await
        .assert_status(201);
    app.submit_lead(&lead("p"), None, None)
        .await
        .assert_error(403, "campaign_closed");
    assert!(app.outbox().await.is_empty());
}

db_tests!(
    a_lead_is_stored_delivered_and_announced_without_personal_data,
    private_campaigns_do_not_announce_leads,
    the_same_idempotency_key_returns_the_same_lead,
    concurrent_duplicates_store_one_lead,
    a_burst_of_leads_is_stored_whole,
    one_failing_lead_does_not_take_others_with_it,
    bad_leads_are_refused_and_write_nothing,
    the_team_moves_a_lead_and_only_its_submitter_hears,
    closed_campaigns_take_no_leads,
);
