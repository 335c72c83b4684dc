//! The campaign team: named keys with roles and a campaign scope, made and
//! revoked by owners, honoured by every admin endpoint; the audit log of
//! every change, as JSON pages and as CSV; the translation memory listing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::fake_receiver::Receiver;
use crate::support::{As, Db, SseClient, TestApp, spawn_app, spawn_app_with};

/// Makes a key as the admin token; returns `(id, token)`.
pub(crate) async fn make_key(
    app: &TestApp,
    name: &str,
    role: &str,
    campaign: Option<&str>,
) -> (i64, String) {
    let mut body = json!({"name": name, "role": role});
    if let Some(slug) = campaign {
        body["campaign"] = json!(slug);
    }
    let made = app
        .call(Method::POST, "/api/admin/keys", As::Admin, Some(body))
        .await;
    let made = made.assert_status(201);
    (
        made["key"]["id"].as_i64().expect("id"),
        made["token"].as_str().expect("token").to_owned(),
    )
}

fn lead(campaign: &str) -> Value {
    json!({"campaign": campaign, "name": "Ada", "email": "ada@example.com", "message": "Hello there"})
}

async fn keys_are_made_shown_once_and_stored_hashed(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let made = app
        .call(
            Method::POST,
            "/api/admin/keys",
            As::Admin,
            Some(json!({"name": "  Grace (sales)  ", "role": "editor", "campaign": "c"})),
        )
        .await;
    let made = made.assert_status(201).clone();
    let token = made["token"].as_str().expect("token");
    assert!(token.starts_with("ovk_") && token.len() > 40, "{token}");
    assert_eq!(made["key"]["name"], "Grace (sales)");
    assert_eq!(made["key"]["role"], "editor");
    assert_eq!(made["key"]["campaign"], "c");
    assert_eq!(made["key"]["created_by"], "admin token");
    let hint = made["key"]["hint"].as_str().expect("hint");
    assert!(token.starts_with(hint.trim_end_matches('…')), "{hint}");

    // Listed without the secret; the database has only its hash.
    let listed = app.get("/api/admin/keys", As::Admin).await;
    let listed = listed.assert_status(200).to_string();
    assert!(
        listed.contains("Grace (sales)") && !listed.contains(token),
        "{listed}"
    );
    let hash = ovasabi_edge::internals::model::team::key_hash(token);
    let stored = app
        .state
        .store
        .live_key(&hash)
        .await
        .expect("read")
        .expect("found by hash");
    assert_eq!(stored.name, "Grace (sales)");

    // Who am I, with the key.
    let me = app
        .call_as(Method::GET, "/api/admin/whoami", token, None)
        .await;
    let me = me.assert_status(200);
    assert_eq!(me["name"], "Grace (sales)");
    assert_eq!(me["role"], "editor");
    assert_eq!(me["campaign"], "c");

    // A second live key of that name is refused; bad requests write nothing.
    app.call(
        Method::POST,
        "/api/admin/keys",
        As::Admin,
        Some(json!({"name": "Grace (sales)", "role": "viewer"})),
    )
    .await
    .assert_error(409, "key_name_taken");
    for (body, field) in [
        (json!({"name": "", "role": "viewer"}), "name"),
        (json!({"name": "x", "role": "root"}), "role"),
        (json!({"name": "x\u{7}", "role": "viewer"}), "name"),
    ] {
        let reply = app
            .call(Method::POST, "/api/admin/keys", As::Admin, Some(body))
            .await;
        assert_eq!(reply.assert_error(422, "invalid_field")["field"], field);
    }
    app.call(
        Method::POST,
        "/api/admin/keys",
        As::Admin,
        Some(json!({"name": "x", "role": "viewer", "campaign": "nope"})),
    )
    .await
    .assert_error(404, "campaign_not_found");
    assert_eq!(
        app.state.store.list_keys(None).await.expect("keys").len(),
        1
    );

    // Revoked: it opens nothing at once, and its name is free again.
    let id = made["key"]["id"].as_i64().expect("id");
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/api/admin/keys/{id}"),
            As::Admin,
            None,
        )
        .await;
    assert!(revoked.assert_status(200)["revoked_at"].is_string());
    app.call_as(Method::GET, "/api/admin/whoami", token, None)
        .await
        .assert_error(401, "unauthorized");
    app.call(
        Method::DELETE,
        &format!("/api/admin/keys/{id}"),
        As::Admin,
        None,
    )
    .await
    .assert_error(404, "key_not_found");
    make_key(&app, "Grace (sales)", "viewer", None).await;
    // Anyone else: 401.
    app.get("/api/admin/keys", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
    app.call_as(Method::GET, "/api/admin/keys", "ovk_not-a-key", None)
        .await
        .assert_error(401, "unauthorized");
}

async fn roles_decide_what_a_key_may_do(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let (_, viewer) = make_key(&app, "viewer", "viewer", None).await;
    let (_, editor) = make_key(&app, "editor", "editor", None).await;
    let (_, owner) = make_key(&app, "owner", "owner", None).await;
    let id = app
        .submit_lead(&lead("c"), None, None)
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = |to: &str| json!({"status": to});
    let path = format!("/api/quote/{id}");

    // A viewer reads, and may not change a status.
    app.call_as(Method::GET, "/api/quote?campaign=c", &viewer, None)
        .await
        .assert_status(200);
    let refused = app
        .call_as(Method::PATCH, &path, &viewer, Some(status("in_review")))
        .await;
    let refused = refused.assert_error(403, "role_required");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("an editor key")),
        "{refused}"
    );
    // An editor may, and may pause the campaign, but not reconfigure it.
    app.call_as(Method::PATCH, &path, &editor, Some(status("in_review")))
        .await
        .assert_status(200);
    app.call_as(
        Method::PATCH,
        "/api/campaign/c",
        &editor,
        Some(json!({"status": "paused"})),
    )
    .await
    .assert_status(200);
    app.call_as(
        Method::PATCH,
        "/api/campaign/c",
        &editor,
        Some(json!({"name": "Renamed"})),
    )
    .await
    .assert_error(403, "role_required");
    app.call_as(
        Method::POST,
        "/api/admin/keys",
        &editor,
        Some(json!({"name": "x", "role": "viewer"})),
    )
    .await
    .assert_error(403, "role_required");
    // An owner may do all of it, and make keys.
    app.call_as(
        Method::PATCH,
        "/api/campaign/c",
        &owner,
        Some(json!({"name": "Renamed", "status": "active"})),
    )
    .await
    .assert_status(200);
    app.call_as(
        Method::POST,
        "/api/admin/keys",
        &owner,
        Some(json!({"name": "made by owner", "role": "viewer"})),
    )
    .await
    .assert_status(201);
    app.call_as(
        Method::POST,
        "/api/erasure",
        &owner,
        Some(json!({"email": "nobody@example.com"})),
    )
    .await
    .assert_status(200);
    app.call_as(
        Method::POST,
        "/api/erasure",
        &editor,
        Some(json!({"email": "nobody@example.com"})),
    )
    .await
    .assert_error(403, "role_required");
    // The lead's status is what the editor made it.
    let listed = app.get("/api/quote?campaign=c", As::Admin).await;
    assert_eq!(
        listed.assert_status(200)["quotes"][0]["status"],
        "in_review"
    );
}

async fn a_campaign_key_sees_and_acts_on_its_campaign_only(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("d", json!({})).await;
    app.create_campaign(json!({"slug": "draft", "name": "Draft"}))
        .await
        .assert_status(201);
    let (_, key) = make_key(&app, "c owner", "owner", Some("c")).await;
    let in_d = app
        .submit_lead(&lead("d"), None, None)
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.submit_lead(&lead("c"), None, None)
        .await
        .assert_status(201);

    app.call_as(Method::GET, "/api/quote?campaign=c", &key, None)
        .await
        .assert_status(200);
    let document = app
        .client
        .get(app.url("/api/campaign/c/document"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("sent");
    assert_eq!(document.status(), 200);
    let text = document.text().await.expect("text");
    assert!(
        text.contains("| slug | `c` |") && text.contains("no file: made through the API"),
        "{text}"
    );
    for path in [
        "/api/campaign/d/document",
        "/api/quote?campaign=d",
        "/api/campaign/d/participants",
        "/api/campaign/d/funnel",
    ] {
        app.call_as(Method::GET, path, &key, None)
            .await
            .assert_error(403, "campaign_out_of_scope");
    }
    app.call_as(
        Method::PATCH,
        &format!("/api/quote/{in_d}"),
        &key,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_error(403, "campaign_out_of_scope");
    // Its campaign list is its campaign; drafts of others stay hidden.
    let listed = app.call_as(Method::GET, "/api/campaign", &key, None).await;
    let slugs: Vec<&str> = listed.assert_status(200)["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .filter_map(|c| c["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["c"]);
    app.call_as(Method::GET, "/api/campaign/draft", &key, None)
        .await
        .assert_error(404, "campaign_not_found");
    // What spans campaigns needs a key of every campaign; it makes keys of
    // its campaign only, and erases a person in its campaign only.
    for (path, body) in [
        ("/api/campaign", json!({"slug": "new", "name": "New"})),
        ("/api/erasure", json!({"email": "ada@example.com"})),
        (
            "/api/erasure",
            json!({"email": "ada@example.com", "campaign": "d"}),
        ),
        (
            "/api/admin/keys",
            json!({"name": "everything", "role": "viewer"}),
        ),
    ] {
        app.call_as(Method::POST, path, &key, Some(body))
            .await
            .assert_error(403, "campaign_out_of_scope");
    }
    let erased = app
        .call_as(
            Method::POST,
            "/api/erasure",
            &key,
            Some(json!({"email": "ada@example.com", "campaign": "c"})),
        )
        .await;
    assert_eq!(
        erased.assert_status(200)["quotes"],
        1,
        "its campaign's lead only"
    );
    app.call_as(
        Method::POST,
        "/api/admin/keys",
        &key,
        Some(json!({"name": "c viewer", "role": "viewer", "campaign": "c"})),
    )
    .await
    .assert_status(201);
    let listed = app
        .call_as(Method::GET, "/api/admin/keys", &key, None)
        .await;
    assert_eq!(
        listed.assert_status(200)["keys"]
            .as_array()
            .expect("keys")
            .len(),
        2,
        "its campaign's keys only"
    );
    // Outbox entries of its campaign only.
    let outbox = app.call_as(Method::GET, "/api/outbox", &key, None).await;
    let entries = outbox.assert_status(200)["entries"].clone();
    assert!(
        entries
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["campaign_slug"] == "c"),
        "{entries}"
    );
}

async fn every_change_is_in_the_audit_log(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"locales": ["en", "fr"]}))
        .await;
    app.open_campaign("d", json!({})).await;
    let (key_id, editor) = make_key(&app, "Ada", "editor", None).await;
    let id = app
        .submit_lead(&lead("c"), None, None)
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.call_as(
        Method::PATCH,
        &format!("/api/quote/{id}"),
        &editor,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_status(200);
    // The same status again changes nothing and logs nothing.
    app.call_as(
        Method::PATCH,
        &format!("/api/quote/{id}"),
        &editor,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_status(200);
    app.call_as(
        Method::PATCH,
        "/api/campaign/d",
        &editor,
        Some(json!({"status": "paused"})),
    )
    .await
    .assert_status(200);
    app.call_as(
        Method::PUT,
        "/api/translate/override",
        &editor,
        Some(json!({"campaign": "c", "target": "fr", "text": "Join", "translation": "Rejoindre"})),
    )
    .await
    .assert_status(200);
    // Refused changes are not logged.
    app.call_as(
        Method::PATCH,
        &format!("/api/quote/{id}"),
        &editor,
        Some(json!({"status": "new"})),
    )
    .await
    .assert_error(409, "illegal_transition");
    app.erase_email("ada@example.com").await.assert_status(200);

    let log = app.get("/api/admin/audit", As::Admin).await;
    let entries = log.assert_status(200)["entries"].clone();
    let actions: Vec<&str> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "erasure",
            "translation.override",
            "campaign.updated",
            "lead.status",
            "key.created",
            "campaign.created",
            "campaign.created"
        ],
        "{entries}"
    );
    let status = &entries[3];
    assert_eq!(status["actor"], "Ada");
    assert_eq!(status["actor_key_id"], key_id);
    assert_eq!(status["campaign"], "c");
    assert_eq!(status["target"], id.as_str());
    assert_eq!(status["before"], json!({"status": "new"}));
    assert_eq!(status["after"], json!({"status": "in_review"}));
    assert_eq!(entries[2]["before"]["status"], "active");
    assert_eq!(entries[2]["after"]["status"], "paused");
    assert_eq!(entries[1]["after"]["translation"], "Rejoindre");
    assert!(entries[1]["before"].is_null(), "no earlier translation");
    // The erasure names no one.
    assert_eq!(entries[0]["actor"], "admin token");
    assert!(!entries[0].to_string().contains("ada@"), "{}", entries[0]);
    assert_eq!(entries[0]["after"]["users"], 0);

    // Pages, newest first, and one campaign's entries.
    let first = app.get("/api/admin/audit?limit=3", As::Admin).await;
    let first = first.assert_status(200).clone();
    assert_eq!(first["entries"].as_array().expect("page").len(), 3);
    let before = first["next_before"].as_i64().expect("a next page");
    let second = app
        .get(
            &format!("/api/admin/audit?limit=3&before={before}"),
            As::Admin,
        )
        .await;
    assert_eq!(
        second.assert_status(200)["entries"][0]["action"],
        "lead.status"
    );
    let of_d = app.get("/api/admin/audit?campaign=d", As::Admin).await;
    let of_d: Vec<&str> = of_d.assert_status(200)["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(of_d, ["campaign.updated", "campaign.created"]);
    app.get("/api/admin/audit?before=x", As::Admin)
        .await
        .assert_error(422, "invalid_field");
    app.get("/api/admin/audit", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");

    // The same log as CSV, for a spreadsheet.
    let rows = app.csv("/api/admin/audit").await;
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[3]["action"], "lead.status");
    assert_eq!(rows[3]["actor"], "Ada");
    let after: Value = serde_json::from_str(&rows[3]["after"]).expect("JSON cell");
    assert_eq!(after["status"], "in_review");
}

async fn a_scoped_key_reads_its_campaigns_audit_only(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    app.open_campaign("d", json!({})).await;
    let (_, key) = make_key(&app, "c viewer", "viewer", Some("c")).await;
    let log = app
        .call_as(Method::GET, "/api/admin/audit", &key, None)
        .await;
    let entries = log.assert_status(200)["entries"].clone();
    assert!(
        entries
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["campaign"] == "c"),
        "{entries}"
    );
    assert_eq!(entries.as_array().expect("entries").len(), 2, "{entries}");
    app.call_as(Method::GET, "/api/admin/audit?campaign=d", &key, None)
        .await
        .assert_error(403, "campaign_out_of_scope");
}

async fn the_translation_memory_is_listed_per_locale(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"locales": ["en", "fr", "de"]}))
        .await;
    for (target, text, translation) in [
        ("fr", "Join", "Rejoindre"),
        ("de", "Join", "Beitreten"),
        ("fr", "Send", "Envoyer"),
    ] {
        app.call(
            Method::PUT,
            "/api/translate/override",
            As::Admin,
            Some(json!({
                "campaign": "c", "target": target, "text": text, "translation": translation,
                "context": {"page": "/", "hint": "button"}
            })),
        )
        .await
        .assert_status(200);
    }
    let listed = app
        .get("/api/translate/memory?campaign=c&target=fr", As::Admin)
        .await;
    let entries = listed.assert_status(200)["entries"].clone();
    let texts: Vec<&str> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["translation"].as_str())
        .collect();
    assert_eq!(texts, ["Envoyer", "Rejoindre"], "newest first, French only");
    let first = &entries[0];
    assert_eq!(first["origin"], "override");
    assert_eq!(first["source"], "en");
    assert_eq!(first["format"], "text");
    assert_eq!(first["context"], json!({"page": "/", "hint": "button"}));
    assert!(first["updated_at"].is_string());
    let machine = app
        .get("/api/translate/memory?campaign=c&origin=machine", As::Admin)
        .await;
    assert_eq!(machine.assert_status(200)["entries"], json!([]));
    app.get("/api/translate/memory?campaign=c&target=xx", As::Admin)
        .await
        .assert_error(422, "invalid_field");
    app.get("/api/translate/memory?campaign=c&origin=ai", As::Admin)
        .await
        .assert_error(422, "invalid_field");
    app.get("/api/translate/memory?campaign=c", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");

    // A context too long to keep whole is kept as its hash: the listing
    // gives its context_key, under which an override replaces it.
    let long_page = format!("/{}", "a".repeat(300));
    let put = |body: Value| {
        app.call(
            Method::PUT,
            "/api/translate/override",
            As::Admin,
            Some(body),
        )
    };
    put(
        json!({"campaign": "c", "target": "de", "text": "Hello", "translation": "Hallo",
               "context": {"page": long_page}}),
    )
    .await
    .assert_status(200);
    let listed = app
        .get("/api/translate/memory?campaign=c&target=de", As::Admin)
        .await;
    let entry = listed.assert_status(200)["entries"][0].clone();
    assert_eq!(entry["text"], "Hello");
    assert!(entry["context"].is_null(), "{entry}");
    let key = entry["context_key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("text|#"), "{key}");
    put(
        json!({"campaign": "c", "target": "de", "text": "Hello", "translation": "Guten Tag",
               "context_key": key}),
    )
    .await
    .assert_status(200);
    let listed = app
        .get("/api/translate/memory?campaign=c&target=de", As::Admin)
        .await;
    let hellos: Vec<&Value> = listed.assert_status(200)["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["text"] == "Hello")
        .collect();
    assert_eq!(hellos.len(), 1, "replaced, not added: {hellos:?}");
    assert_eq!(hellos[0]["translation"], "Guten Tag");
    let served = app
        .call(
            Method::POST,
            "/api/translate",
            As::Anonymous,
            Some(json!({"campaign": "c", "target": "de", "texts": ["Hello"],
                        "context": {"page": format!("/{}", "a".repeat(300))}})),
        )
        .await;
    assert_eq!(
        served.assert_status(200)["translations"][0]["text"],
        "Guten Tag"
    );
    for body in [
        json!({"campaign": "c", "target": "de", "text": "Hello", "translation": "x",
               "context_key": "nonsense"}),
        json!({"campaign": "c", "target": "de", "text": "Hello", "translation": "x",
               "context_key": "text||", "context": {"page": "/"}}),
    ] {
        let refused = put(body).await;
        assert_eq!(
            refused.assert_error(422, "invalid_field")["field"],
            "context_key"
        );
    }
}

/// The team's stream: the campaign's event stream opened with a key. It
/// carries `team.lead` (every lead, with its id, as it comes and moves) and
/// `team.delivery` (each delivery's outcome), which no visitor receives; the
/// team member is not counted as a visitor.
async fn the_team_hears_leads_and_deliveries_live(db: Db) {
    let crm = Receiver::start(&[500]).await;
    let url = crm.url("/crm");
    let app = spawn_app_with(db, |c| {
        c.webhook_url = Some(url.parse().expect("url"));
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.webhook_max_attempts = 1;
    })
    .await;
    app.open_campaign("c", json!({"events": {"public_leads": false}}))
        .await;
    let (_, key) = make_key(&app, "Ada", "viewer", Some("c")).await;
    let stream = |token: Option<&str>| {
        let mut request = app.client.get(app.url("/api/campaign/c/events"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        SseClient::send(request)
    };
    let mut team = stream(Some(&key)).await;
    assert_eq!(team.status, 200, "{}", team.error);
    let mut visitor = stream(None).await;
    assert_eq!(
        visitor.next_of("presence").await.json()["active"],
        1,
        "the team is no visitor"
    );

    let id = app
        .submit_lead(&lead("c"), None, None)
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let came = team.next_of("team.lead").await.json();
    assert_eq!(came["id"], id.as_str());
    assert_eq!(came["status"], "new");
    // The receiver fails once: the entry is dead (one attempt allowed).
    let dead = team.next_of("team.delivery").await.json();
    assert_eq!(dead["state"], "dead", "{dead}");
    assert_eq!(dead["event_type"], "lead.created");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{dead}"
    );
    let entry = dead["id"].as_i64().expect("entry id");
    // Retried (the receiver now answers 200) and delivered, live.
    app.call(
        Method::POST,
        &format!("/api/outbox/{entry}/retry"),
        As::Admin,
        None,
    )
    .await
    .assert_status(200);
    let pending = team.next_of("team.delivery").await.json();
    assert_eq!(
        (pending["id"].as_i64(), &pending["state"]),
        (Some(entry), &json!("pending"))
    );
    let delivered = team.next_of("team.delivery").await.json();
    assert_eq!(
        (delivered["id"].as_i64(), &delivered["state"]),
        (Some(entry), &json!("delivered"))
    );
    // A status change, with what it was.
    app.call(
        Method::PATCH,
        &format!("/api/quote/{id}"),
        As::Admin,
        Some(json!({"status": "in_review"})),
    )
    .await
    .assert_status(200);
    let moved = team.next_of("team.lead").await.json();
    assert_eq!(
        (&moved["status"], &moved["previous"]),
        (&json!("in_review"), &json!("new"))
    );

    // The visitor heard none of it.
    while let Some(event) = visitor
        .next_within(std::time::Duration::from_millis(300))
        .await
    {
        assert!(
            !event.event.starts_with("team."),
            "a visitor got {}",
            event.event
        );
    }
    // A key of another campaign opens no team stream of this one.
    app.open_campaign("d", json!({})).await;
    let (_, other) = make_key(&app, "Grace", "viewer", Some("d")).await;
    let refused = stream(Some(&other)).await;
    assert_eq!(refused.status, 401, "{}", refused.error);
}

db_tests!(
    the_team_hears_leads_and_deliveries_live,
    keys_are_made_shown_once_and_stored_hashed,
    roles_decide_what_a_key_may_do,
    a_campaign_key_sees_and_acts_on_its_campaign_only,
    every_change_is_in_the_audit_log,
    a_scoped_key_reads_its_campaigns_audit_only,
    the_translation_memory_is_listed_per_locale,
);
