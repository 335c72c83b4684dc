//! Bot defence on the join and lead forms: a honeypot and a minimum time
//! hold a submission as spam (answered like a success, counted nowhere,
//! written nowhere else) until the team says "not spam", which replays it
//! whole; a CAPTCHA verified with its provider (a local server speaking
//! Turnstile's or hCaptcha's siteverify protocol), down both ways; spam
//! erased with its person.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::mail::{mailing_app, verify_from_mail};
use crate::support::siteverify::{Flavour, SECRET, SiteVerify};
use crate::support::smtp::SmtpSink;
use crate::support::{
    As, Db, Reply, SseClient, TestApp, scrape_metrics, spawn_app, spawn_app_with,
};

/// The app, with both CAPTCHA providers at `provider` (a siteverify URL).
async fn captcha_app(db: Db, provider: &str) -> TestApp {
    let url = provider.to_owned();
    spawn_app_with(db, move |config| {
        let secret = ovasabi_edge::internals::config::Secret::configured(SECRET);
        config.bots.turnstile_secret = Some(secret.clone());
        config.bots.hcaptcha_secret = Some(secret);
        config.bots.turnstile_verify_url = url.parse().expect("URL");
        config.bots.hcaptcha_verify_url = url.parse().expect("URL");
        config.bots.captcha_timeout = Duration::from_secs(2);
    })
    .await
}

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

async fn spam_list(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/spam?campaign=c{query}"), As::Admin)
        .await
        .assert_status(200)
        .clone()
}

async fn release(app: &TestApp, id: &str) -> Reply {
    app.call(
        Method::POST,
        &format!("/api/spam/{id}/release"),
        As::Admin,
        None,
    )
    .await
}

async fn post(app: &TestApp, path: &str, body: Value, token: Option<&str>) -> Reply {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    crate::support::read(request.send().await.expect("sent")).await
}

async fn a_honeypot_join_answers_like_a_real_one_counts_nowhere_and_is_replayed(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    app.open_campaign(
        "c",
        json!({"forms": {"honeypot": "website", "join": {"verify": "email"}}, "milestones": [1, 2]}),
    )
    .await;
    let ada = app.join("c", "ada@example.com", "Ada", None).await;
    let ada = ada.assert_status(201).clone();
    verify_from_mail(&app, &sink, "ada@example.com").await;
    let code = ada["referral_code"].as_str().expect("code");
    let outbox_before = app.all_outbox().await.len();

    // A bot fills every field it finds, the hidden one too.
    let bot = post(
        &app,
        "/api/user/register",
        json!({"campaign": "c", "email": "bot@example.com", "name": "Bot",
               "referral_code": code, "website": "https://spam.example"}),
        None,
    )
    .await;
    let bot = bot.assert_status(201).clone();
    assert_eq!(keys(&bot), keys(&ada), "the same shape as a real join");
    assert_eq!(bot["verified"], false, "as a real join here");
    // Its token opens nothing; nothing was written, mailed or counted.
    let token = bot["token"].as_str().expect("token");
    app.call_as(Method::GET, "/api/me", token, None)
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(app.all_outbox().await.len(), outbox_before);
    let metrics = app.metrics("c").await;
    assert_eq!(
        (metrics["users"].clone(), metrics["referrals"].clone()),
        (json!(1), json!(0))
    );
    let listed = spam_list(&app, "").await;
    assert_eq!(
        listed["counts"],
        json!({"held": 1, "released": 0, "passed": 0})
    );
    let held = &listed["spam"][0];
    assert_eq!(
        (
            &held["form"],
            &held["reason"],
            &held["state"],
            &held["email"]
        ),
        (
            &json!("join"),
            &json!("honeypot"),
            &json!("held"),
            &json!("bot@example.com")
        )
    );
    assert_eq!(
        held["id"], bot["master_id"],
        "listed under the id it was answered with"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| m["to"] != json!(["bot@example.com"]))
    );

    // Not spam: replayed as if it had just arrived.
    let id = bot["master_id"].as_str().expect("id");
    let released = release(&app, id).await;
    assert_eq!(released.assert_status(200)["state"], "released");
    assert_eq!(released.body["released_by"], "admin token");
    verify_from_mail(&app, &sink, "bot@example.com").await;
    let metrics = app.metrics("c").await;
    assert_eq!(
        (metrics["users"].clone(), metrics["referrals"].clone()),
        (json!(2), json!(1))
    );
    // It became the join its sender was answered with: the token opens it.
    let me = app.call_as(Method::GET, "/api/me", token, None).await;
    assert_eq!(me.assert_status(200)["referral_code"], bot["referral_code"]);
    release(&app, id).await.assert_error(409, "not_held");
    let audit = app.get("/api/admin/audit", As::Admin).await;
    let actions: Vec<&Value> = audit.assert_status(200)["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert!(actions.contains(&&json!("spam.released")), "{actions:?}");
}

async fn a_honeypot_lead_is_held_then_released_whole(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"forms": {"honeypot": "fax"}}))
        .await;
    // The team's stream hears of it; a visitor's does not.
    let request = app.client.get(app.url("/api/campaign/c/events"));
    let mut team = SseClient::send(request.bearer_auth(&app.admin_token)).await;
    let mut visitor = SseClient::send(app.client.get(app.url("/api/campaign/c/events"))).await;
    visitor.next_of("presence").await;
    let form = json!({"campaign": "c", "name": "Spam Co", "email": "spam@example.com",
                      "message": "Cheap pills", "details": {"service": "seo"}, "fax": "555"});
    let held = app.submit_lead(&form, Some("key-1"), None).await;
    let held = held.assert_status(201).clone();
    assert_eq!(
        keys(&held),
        BTreeSet::from(["id".to_owned(), "status".to_owned()])
    );
    let told = team.next_of("team.spam").await.json();
    assert_eq!(
        (&told["id"], &told["form"], &told["reason"], &told["state"]),
        (
            &held["id"],
            &json!("lead"),
            &json!("honeypot"),
            &json!("held")
        )
    );
    let leads = app.get("/api/quote?campaign=c", As::Admin).await;
    assert_eq!(leads.assert_status(200)["quotes"], json!([]));
    assert!(app.outbox().await.is_empty(), "no lead.created");
    // An empty honeypot is a person's: written as usual.
    let mut person = form.clone();
    person["fax"] = json!("");
    person["email"] = json!("ada@example.com");
    app.submit_lead(&person, None, None)
        .await
        .assert_status(201);
    assert_eq!(app.outbox().await.len(), 1);

    let id = held["id"].as_str().expect("id");
    release(&app, id).await.assert_status(200);
    assert_eq!(team.next_of("team.spam").await.json()["state"], "released");
    // The visitor heard only the released lead's own event, if any.
    while let Some(event) = visitor.next_within(Duration::from_millis(300)).await {
        assert!(!event.event.starts_with("team."), "{}", event.event);
    }
    let leads = app.get("/api/quote?campaign=c", As::Admin).await;
    let ids: Vec<&Value> = leads.assert_status(200)["quotes"]
        .as_array()
        .expect("quotes")
        .iter()
        .map(|l| &l["id"])
        .collect();
    assert!(
        ids.contains(&&json!(id)),
        "the lead, under its answered id: {ids:?}"
    );
    let created: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.event_type == "lead.created" && e.payload["id"] == json!(id))
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].payload["details"]["service"], "seo");
    release(&app, id).await.assert_error(409, "not_held");
    release(&app, &uuid::Uuid::now_v7().to_string())
        .await
        .assert_error(404, "spam_not_found");
    release(&app, "nonsense")
        .await
        .assert_error(404, "spam_not_found");
}

async fn a_form_sent_too_soon_is_held(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"forms": {"min_seconds": 2}}))
        .await;
    // No session at all counts as too soon.
    let join = app.join("c", "quick@example.com", "Quick", None).await;
    join.assert_status(201);
    let (_, visitor) = app.visitor("c").await;
    let lead = json!({"campaign": "c", "name": "Ada", "email": "ada@example.com",
                      "message": "Hello"});
    app.submit_lead(&lead, None, Some(&visitor))
        .await
        .assert_status(201);
    let listed = spam_list(&app, "&state=held").await;
    let reasons: Vec<&Value> = listed["spam"]
        .as_array()
        .expect("spam")
        .iter()
        .map(|s| &s["reason"])
        .collect();
    assert_eq!(reasons, [&json!("too_fast"), &json!("too_fast")]);
    assert_eq!(app.metrics("c").await["leads"], 0);
    // The same visitor, after the minimum time: a person.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.submit_lead(&lead, None, Some(&visitor))
        .await
        .assert_status(201);
    assert_eq!(app.metrics("c").await["leads"], 1);
    let metrics = scrape_metrics(&app.client, &app.url("")).await;
    assert_eq!(
        metrics.get("ovasabi_spam_total{form=\"lead\",reason=\"too_fast\"}"),
        Some(&1.0)
    );
}

async fn fields_a_form_does_not_have_are_refused(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"forms": {"honeypot": "website"}}))
        .await;
    let body = json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "nickname": "A"});
    let refused = post(&app, "/api/user/register", body, None).await;
    assert_eq!(
        refused.assert_error(422, "invalid_field")["field"],
        "nickname"
    );
    // The honeypot's name is the team's, not the public's.
    let public = app.get("/api/campaign/c", As::Anonymous).await;
    assert!(
        public.assert_status(200)["config"]["forms"]
            .get("honeypot")
            .is_none()
    );
    let team = app.get("/api/campaign/c", As::Admin).await;
    assert_eq!(
        team.assert_status(200)["config"]["forms"]["honeypot"],
        "website"
    );
    // A honeypot named like a field of the forms is refused.
    let bad = app
        .patch_campaign(
            "c",
            As::Admin,
            json!({"config": {"forms": {"honeypot": "email"}}}),
        )
        .await;
    assert_eq!(
        bad.assert_error(422, "invalid_field")["field"],
        "config.forms.honeypot"
    );
    assert_eq!(app.metrics("c").await["users"], 0);
}

async fn a_captcha_is_verified_with_its_provider(db: Db) {
    let provider = SiteVerify::start(Flavour::Turnstile).await;
    let app = captcha_app(db, &provider.url()).await;
    app.open_campaign(
        "c",
        json!({"forms": {"captcha": {"provider": "turnstile", "site_key": "0x-site"}}}),
    )
    .await;
    // The page finds the site key in the public view.
    let public = app.get("/api/campaign/c", As::Anonymous).await;
    assert_eq!(
        public.assert_status(200)["config"]["forms"]["captcha"]["site_key"],
        "0x-site"
    );
    let join = |email: &str, token: Option<&str>| {
        let mut body = json!({"campaign": "c", "email": email, "name": "Ada"});
        if let Some(token) = token {
            body["captcha_token"] = json!(token);
        }
        post(&app, "/api/user/register", body, None)
    };
    join("a@example.com", None)
        .await
        .assert_error(422, "captcha_required");
    join("a@example.com", Some(" "))
        .await
        .assert_error(422, "captcha_required");
    join("a@example.com", Some("forged"))
        .await
        .assert_error(422, "captcha_invalid");
    join("a@example.com", Some("pass-1"))
        .await
        .assert_status(201);
    join("b@example.com", Some("pass-1"))
        .await
        .assert_error(422, "captcha_reused");
    // The lead form too.
    let lead = json!({"campaign": "c", "name": "Ada", "email": "a@example.com",
                      "message": "Hi", "captcha_token": "pass-2"});
    app.submit_lead(&lead, None, None).await.assert_status(201);
    let metrics = app.metrics("c").await;
    assert_eq!(
        (metrics["users"].clone(), metrics["leads"].clone()),
        (json!(1), json!(1))
    );
    // What the provider was told: the secret, the token, the visitor's
    // address and (Turnstile) an idempotency key.
    let calls = provider.calls();
    let call = calls
        .iter()
        .find(|c| c["response"] == "pass-1")
        .expect("a call");
    assert_eq!(call["secret"], SECRET);
    assert_eq!(call["remoteip"], "127.0.0.1");
    assert!(call.get("idempotency_key").is_some_and(|k| !k.is_empty()));
    let scraped = scrape_metrics(&app.client, &app.url("")).await;
    assert_eq!(
        scraped.get("ovasabi_captcha_checks_total{provider=\"turnstile\",result=\"reused\"}"),
        Some(&1.0)
    );
}

async fn a_captcha_provider_outage_lets_through_marked_or_refuses(db: Db) {
    let provider = SiteVerify::start(Flavour::Hcaptcha).await;
    let app = captcha_app(db, &provider.url()).await;
    app.open_campaign(
        "c",
        json!({"forms": {"captcha": {"provider": "hcaptcha", "site_key": "10000000-ffff"}}}),
    )
    .await;
    let join = |email: &str, token: &str| {
        let body = json!({"campaign": "c", "email": email, "name": "Ada", "captcha_token": token});
        post(&app, "/api/user/register", body, None)
    };
    // hCaptcha's words for a token seen before.
    join("a@example.com", "pass-1").await.assert_status(201);
    join("b@example.com", "pass-1")
        .await
        .assert_error(422, "captcha_reused");
    provider.set_down(true);
    // on_outage = allow (the default): through, and listed.
    let through = join("c@example.com", "pass-2").await;
    let through = through.assert_status(201).clone();
    assert_eq!(app.metrics("c").await["users"], 2);
    let listed = spam_list(&app, "&state=passed").await;
    assert_eq!(listed["spam"][0]["id"], through["master_id"]);
    assert_eq!(listed["spam"][0]["reason"], "captcha_unavailable");
    release(&app, through["master_id"].as_str().expect("id"))
        .await
        .assert_error(409, "not_held");
    // on_outage = refuse: 503, nothing written.
    app.patch_campaign(
        "c",
        As::Admin,
        json!({"config": {"forms": {"captcha": {"provider": "hcaptcha", "site_key": "10000000-ffff", "on_outage": "refuse"}}}}),
    )
    .await
    .assert_status(200);
    join("d@example.com", "pass-3")
        .await
        .assert_error(503, "captcha_unavailable");
    assert_eq!(app.metrics("c").await["users"], 2);
    provider.set_down(false);
    join("d@example.com", "pass-3").await.assert_status(201);
    let scraped = scrape_metrics(&app.client, &app.url("")).await;
    assert_eq!(
        scraped.get("ovasabi_captcha_checks_total{provider=\"hcaptcha\",result=\"unavailable\"}"),
        Some(&2.0)
    );
}

async fn held_spam_is_erased_with_its_person(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"forms": {"honeypot": "website"}}))
        .await;
    for email in ["ada@example.com", "bot@example.com"] {
        let body = json!({"campaign": "c", "email": email, "name": "X", "website": "x"});
        post(&app, "/api/user/register", body, None)
            .await
            .assert_status(201);
    }
    let erased = app.erase_email("ada@example.com").await;
    assert_eq!(erased.assert_status(200)["spam"], 1);
    let listed = spam_list(&app, "").await;
    let emails: Vec<&Value> = listed["spam"]
        .as_array()
        .expect("spam")
        .iter()
        .map(|s| &s["email"])
        .collect();
    assert_eq!(emails, [&json!("bot@example.com")]);
}

db_tests!(
    a_honeypot_join_answers_like_a_real_one_counts_nowhere_and_is_replayed,
    a_honeypot_lead_is_held_then_released_whole,
    a_form_sent_too_soon_is_held,
    fields_a_form_does_not_have_are_refused,
    a_captcha_is_verified_with_its_provider,
    a_captcha_provider_outage_lets_through_marked_or_refuses,
    held_spam_is_erased_with_its_person,
);
