//! Attribution and consent: a visitor session's first touch (UTM parameters,
//! referrer, landing page) carried to the joins and leads it produces, into
//! the funnel and the CSV exports; consent required, refused when missing,
//! stored with its version and time, exported, and erased with the person.

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{As, Db, TestApp, spawn_app};

/// A visitor session with this first touch: `(session_id, token)`.
async fn session_from(app: &TestApp, campaign: &str, first_touch: Value) -> (String, String) {
    let mut body = json!({"campaign": campaign});
    for (k, v) in first_touch.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let reply = app
        .call(Method::POST, "/api/session", As::Anonymous, Some(body))
        .await;
    let body = reply.assert_status(201);
    (
        body["session_id"].as_str().expect("id").to_owned(),
        body["token"].as_str().expect("token").to_owned(),
    )
}

fn lead(campaign: &str, email: &str) -> Value {
    json!({"campaign": campaign, "name": "Lead", "email": email, "message": "A site, please"})
}

async fn first_touch_follows_joins_and_leads_into_the_funnel_and_exports(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    // A visitor from a newsletter link joins, then sends a lead as that user.
    let (_, news) = session_from(
        &app,
        "c",
        json!({
            "landing_page": "https://www.example.com/?utm_source=news&utm_medium=email&utm_campaign=launch",
            "referrer": "https://mail.example.net/inbox"
        }),
    )
    .await;
    let joined = app
        .call_as(
            Method::POST,
            "/api/user/register",
            &news,
            Some(json!({"campaign": "c", "email": "ada@example.com", "name": "Ada"})),
        )
        .await;
    let user_token = joined.assert_status(201)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.submit_lead(&lead("c", "ada@example.com"), None, Some(&user_token))
        .await
        .assert_status(201);
    // A visitor from a search engine sends a lead without joining.
    let (_, search) = session_from(
        &app,
        "c",
        json!({"referrer": "https://www.google.com/search?q=ovasabi"}),
    )
    .await;
    app.submit_lead(&lead("c", "grace@example.com"), None, Some(&search))
        .await
        .assert_status(201);
    // A visitor who came directly, and looked only.
    session_from(&app, "c", json!({})).await;
    // Someone joins with no session at all.
    app.join("c", "linus@example.com", "Linus", None)
        .await
        .assert_status(201);

    let funnel = app.get("/api/campaign/c/funnel", As::Admin).await;
    let funnel = funnel.assert_status(200);
    let row = |source: &str| {
        funnel["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .find(|r| r["source"] == source)
            .cloned()
            .unwrap_or_else(|| panic!("no {source} row in {funnel}"))
    };
    assert_eq!(
        row("news"),
        json!({"source": "news", "visitors": 1, "joins": 1, "leads": 1})
    );
    assert_eq!(
        row("www.google.com"),
        json!({"source": "www.google.com", "visitors": 1, "joins": 0, "leads": 1})
    );
    assert_eq!(
        row("(direct)"),
        json!({"source": "(direct)", "visitors": 1, "joins": 0, "leads": 0})
    );
    assert_eq!(
        row("(unknown)"),
        json!({"source": "(unknown)", "visitors": 0, "joins": 1, "leads": 0})
    );
    assert_eq!(
        funnel["total"],
        json!({"source": "(all)", "visitors": 3, "joins": 2, "leads": 2})
    );
    // A period before any of it counts nothing.
    let empty = app
        .get(
            "/api/campaign/c/funnel?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z",
            As::Admin,
        )
        .await;
    assert_eq!(empty.assert_status(200)["sources"], json!([]));
    app.get("/api/campaign/c/funnel?since=yesterday", As::Admin)
        .await
        .assert_error(422, "invalid_field");
    app.get("/api/campaign/c/funnel", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");

    let participants = app.csv("/api/campaign/c/participants").await;
    assert_eq!(participants.len(), 2);
    let ada = participants
        .iter()
        .find(|p| p["email"] == "ada@example.com")
        .expect("Ada exported");
    assert_eq!(ada["utm_source"], "news");
    assert_eq!(ada["utm_medium"], "email");
    assert_eq!(ada["utm_campaign"], "launch");
    assert_eq!(ada["referrer"], "https://mail.example.net/inbox");
    let linus = participants
        .iter()
        .find(|p| p["email"] == "linus@example.com")
        .expect("Linus exported");
    assert_eq!(linus["utm_source"], "");

    let quotes = app.csv("/api/quote?campaign=c&format=csv").await;
    assert_eq!(quotes.len(), 2);
    let by = |email: &str| {
        quotes
            .iter()
            .find(|q| q["email"] == email)
            .unwrap_or_else(|| panic!("{email} exported"))
    };
    assert_eq!(by("ada@example.com")["utm_campaign"], "launch");
    assert_eq!(
        by("grace@example.com")["referrer"],
        "https://www.google.com/search?q=ovasabi"
    );
    assert_eq!(by("grace@example.com")["utm_source"], "");

    // Erasing Grace removes the URLs of her visit (they may name her); the
    // funnel still counts it.
    app.erase_email("grace@example.com")
        .await
        .assert_status(200);
    let quotes = app.csv("/api/quote?campaign=c").await;
    let erased = quotes
        .iter()
        .find(|q| q["email"] != "ada@example.com")
        .expect("her lead stays");
    assert_eq!(erased["referrer"], "");
    assert_eq!(erased["landing_page"], "");
    let funnel = app.get("/api/campaign/c/funnel", As::Admin).await;
    assert_eq!(funnel.assert_status(200)["total"]["leads"], 2);
    assert!(
        funnel.body["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .any(|r| r["source"] == "www.google.com" && r["leads"] == 1)
    );
}

async fn a_bad_first_touch_is_refused_and_makes_no_session(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    for (body, field) in [
        (json!({"referrer": "javascript:alert(1)"}), "referrer"),
        (json!({"landing_page": "/relative"}), "landing_page"),
        (json!({"utm_source": "x".repeat(201)}), "utm_source"),
        (json!({"utm_term": "a\u{202e}b"}), "utm_term"),
    ] {
        let mut request = json!({"campaign": "c"});
        for (k, v) in body.as_object().expect("object") {
            request[k] = v.clone();
        }
        let reply = app
            .call(Method::POST, "/api/session", As::Anonymous, Some(request))
            .await;
        assert_eq!(reply.assert_error(422, "invalid_field")["field"], field);
    }
    app.call(
        Method::POST,
        "/api/session",
        As::Anonymous,
        Some(json!({"campaign": "c", "utm_color": "red"})),
    )
    .await
    .assert_status(422);
    let funnel = app.get("/api/campaign/c/funnel", As::Admin).await;
    assert_eq!(funnel.assert_status(200)["total"]["visitors"], 0);
}

async fn consent_is_required_stored_exported_and_erased(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign(
        "c",
        json!({"forms": {"join": {"consent": "terms-2026-11"}, "quote": {"consent": "privacy-3"}}}),
    )
    .await;
    // Missing or another version: refused, nothing written.
    let join = |consent: Option<&str>| {
        let mut body = json!({"campaign": "c", "email": "ada@example.com", "name": "Ada"});
        if let Some(consent) = consent {
            body["consent"] = json!(consent);
        }
        app.call(
            Method::POST,
            "/api/user/register",
            As::Anonymous,
            Some(body),
        )
    };
    for consent in [None, Some("terms-2025-01"), Some(" ")] {
        let reply = join(consent).await;
        assert_eq!(
            reply.assert_error(422, "consent_required")["field"],
            "consent"
        );
    }
    let mut no_consent = lead("c", "grace@example.com");
    app.submit_lead(&no_consent, None, None)
        .await
        .assert_error(422, "consent_required");
    let counts = app.metrics("c").await;
    assert_eq!(
        (counts["users"].clone(), counts["leads"].clone()),
        (json!(0), json!(0))
    );
    assert!(app.outbox().await.is_empty(), "nothing written");

    // Given: stored with its version and time.
    let before = chrono::Utc::now();
    join(Some("terms-2026-11")).await.assert_status(201);
    no_consent["consent"] = json!("privacy-3");
    app.submit_lead(&no_consent, None, None)
        .await
        .assert_status(201);
    let listed = app.get("/api/campaign/c/participants", As::Admin).await;
    let consent = &listed.assert_status(200)["participants"][0]["consent"];
    assert_eq!(consent["version"], "terms-2026-11");
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(consent["at"].clone()).expect("a time");
    assert!(at >= before - chrono::Duration::seconds(1), "{at}");
    let participants = app.csv("/api/campaign/c/participants").await;
    assert_eq!(participants[0]["consent_version"], "terms-2026-11");
    assert!(!participants[0]["consent_at"].is_empty());
    let quotes = app.csv("/api/quote?campaign=c").await;
    assert_eq!(quotes[0]["consent_version"], "privacy-3");

    // Erasing the person removes their consent record with the rest.
    app.erase_email("ada@example.com").await.assert_status(200);
    let participants = app.csv("/api/campaign/c/participants").await;
    assert_eq!(participants[0]["consent_version"], "");
    assert_eq!(participants[0]["consent_at"], "");
    assert_ne!(participants[0]["email"], "ada@example.com");
}

async fn consent_on_a_form_that_asks_none_is_refused(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({})).await;
    let reply = app
        .call(
            Method::POST,
            "/api/user/register",
            As::Anonymous,
            Some(json!({"campaign": "c", "email": "a@example.com", "name": "A", "consent": "v1"})),
        )
        .await;
    assert_eq!(reply.assert_error(422, "invalid_field")["field"], "consent");
    // A campaign's consent version must be a version, not prose.
    let reply = app
        .patch_campaign(
            "c",
            As::Admin,
            json!({"config": {"forms": {"join": {"consent": "I agree to everything"}}}}),
        )
        .await;
    assert_eq!(
        reply.assert_error(422, "invalid_field")["field"],
        "config.forms.join.consent"
    );
}

db_tests!(
    first_touch_follows_joins_and_leads_into_the_funnel_and_exports,
    a_bad_first_touch_is_refused_and_makes_no_session,
    consent_is_required_stored_exported_and_erased,
    consent_on_a_form_that_asks_none_is_refused,
);
