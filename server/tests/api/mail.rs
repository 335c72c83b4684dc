//! Mail and verified joins, against a real SMTP server (`scripts/smtp-sink`):
//! every mail arrives with a working link; a join counts only once its
//! email is verified, for referrals both ways; no squatting, enumeration or
//! mail bombing; a mail waits out an SMTP outage; a drop after DATA gives at
//! most one duplicate with the same Message-ID; a refusal suppresses the
//! address; one-click unsubscribe.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::smtp::{SmtpSink, link_path};
use crate::support::{As, Db, TestApp, poll_until, read, spawn_app_with};

/// The base of every link in a mail, in these tests.
const PUBLIC: &str = "http://edge.test";

/// The app, mailing through `smtp` (a URL), fast retries.
pub(crate) async fn mailing_app(db: Db, smtp: &str) -> TestApp {
    let smtp = smtp.to_owned();
    spawn_app_with(db, move |config| {
        config.mail.smtp_url = Some(smtp.as_str().into());
        config.mail.mail_from = Some("Ovasabi <hello@ovasabi.test>".into());
        config.mail.public_url = Some(PUBLIC.parse().expect("URL"));
        config.mail.mail_per_second = 200;
        config.webhook_backoff = Duration::from_millis(50);
    })
    .await
}

/// A campaign whose joins wait for their email to be verified.
async fn verifying_campaign(app: &TestApp, slug: &str) {
    app.open_campaign(
        slug,
        json!({"forms": {"join": {"verify": "email"}}, "milestones": [1, 2]}),
    )
    .await;
}

/// Opens the verification link of the last mail to `address` the way a
/// browser does (the 303 to the verify page), then verifies the token that
/// page was handed; the answer.
pub(crate) async fn verify_from_mail(app: &TestApp, sink: &SmtpSink, address: &str) -> Value {
    let mails = sink.wait_for(address, 1).await;
    let mail = mails
        .iter()
        .rev()
        .find(|m| {
            m["headers"]["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("Confirm your email"))
        })
        .unwrap_or_else(|| panic!("no verification mail to {address}: {mails:?}"));
    let path = link_path(mail["text"].as_str().expect("text"), PUBLIC);
    // The HTML body escapes the link as an attribute value (`/` as `&#x2f;`).
    let html = mail["html"].as_str().expect("html").replace("&#x2f;", "/");
    let html_path = link_path(&html, PUBLIC);
    assert_eq!(path, html_path, "the same link in both bodies");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let opened = client.get(app.url(&path)).send().await.expect("sent");
    assert_eq!(opened.status(), 303);
    let location = opened.headers()["location"]
        .to_str()
        .expect("text")
        .to_owned();
    let token = url::Url::parse(&format!("http://x{location}"))
        .or_else(|_| url::Url::parse(&location))
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "verify")
        .map(|(_, v)| v.into_owned())
        .expect("?verify=");
    app.call(
        Method::POST,
        "/api/verify",
        As::Anonymous,
        Some(json!({"token": token})),
    )
    .await
    .assert_status(200)
    .clone()
}

async fn a_join_counts_once_its_email_is_verified(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    verifying_campaign(&app, "c").await;
    let mut events = app.watch_events("c");
    let joined = app.join("c", "ada@example.com", "Ada", None).await;
    let body = joined.assert_status(201);
    assert_eq!(body["verified"], false);
    let ada_code = body["referral_code"].as_str().expect("code").to_owned();
    let ada_token = body["token"].as_str().expect("token").to_owned();
    // Grace joins with Ada's code while Ada is pending, and verifies first.
    app.join("c", "grace@example.com", "Grace", Some(&ada_code))
        .await
        .assert_status(201);
    assert_eq!(
        app.metrics("c").await["users"],
        0,
        "pending joins count nowhere"
    );
    let me = app.call_as(Method::GET, "/api/me", &ada_token, None).await;
    assert_eq!(me.assert_status(200)["verified"], false);
    let grace = verify_from_mail(&app, &sink, "grace@example.com").await;
    assert_eq!(grace["status"], "verified");
    let counts = app.metrics("c").await;
    assert_eq!(
        (counts["users"].clone(), counts["referrals"].clone()),
        (json!(1), json!(0)),
        "Grace counts; her referral waits for Ada"
    );
    // Ada verifies: her referral of Grace counts now.
    let ada = verify_from_mail(&app, &sink, "ada@example.com").await;
    assert_eq!(ada["status"], "verified");
    let counts = app.metrics("c").await;
    assert_eq!(
        (counts["users"].clone(), counts["referrals"].clone()),
        (json!(2), json!(1))
    );
    // Linus joins with the verified Ada's code: counts when Linus verifies.
    app.join("c", "linus@example.com", "Linus", Some(&ada_code))
        .await
        .assert_status(201);
    assert_eq!(app.metrics("c").await["referrals"], 1);
    verify_from_mail(&app, &sink, "linus@example.com").await;
    assert_eq!(app.metrics("c").await["referrals"], 2);
    let seen = events.drain(Duration::from_millis(300)).await;
    let of_kind = |kind: &str| seen.iter().filter(|e| e.event.kind == kind).count();
    assert_eq!(
        of_kind("user.joined"),
        3,
        "announced when verified, once each"
    );
    assert_eq!(of_kind("referral.milestone"), 2, "Ada's 1 and 2");
    // A second use of a link changes nothing.
    let again = verify_from_mail(&app, &sink, "ada@example.com").await;
    assert_eq!(again["status"], "already_verified");
    assert_eq!(app.metrics("c").await["users"], 3);
    // The welcome mail followed each verification.
    let welcome = sink.wait_for("ada@example.com", 2).await;
    assert!(
        welcome
            .iter()
            .any(|m| m["headers"]["subject"] == "Welcome to c"),
        "{welcome:?}"
    );
}

async fn bad_verification_links_are_refused(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    verifying_campaign(&app, "c").await;
    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
    let (path, token) = first_link(&sink, "ada@example.com").await;
    // One character changed (to one it is not: a forgery that equals the
    // link would be no forgery).
    let swap = if &token[5..6] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &token[..5], &token[6..]);
    for bad in [forged.as_str(), "nonsense", ""] {
        app.call(
            Method::POST,
            "/api/verify",
            As::Anonymous,
            Some(json!({"token": bad})),
        )
        .await
        .assert_error(400, "invalid_token");
    }
    let opened = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url(&format!("/v/{forged}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        read(opened).await.assert_error(400, "invalid_token")["code"],
        "invalid_token"
    );
    assert_eq!(app.metrics("c").await["users"], 0);
    // Opening the link (a mail scanner) changes nothing.
    let scanner = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let opened = scanner.get(app.url(&path)).send().await.expect("sent");
    assert_eq!(opened.status(), 303);
    assert_eq!(app.metrics("c").await["users"], 0);
}

/// A join never verified is removed after its retention; its link then
/// opens nothing, and a verified join stays.
async fn joins_never_verified_are_removed_in_time(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    verifying_campaign(&app, "c").await;
    app.join("c", "grace@example.com", "Grace", None)
        .await
        .assert_status(201);
    verify_from_mail(&app, &sink, "grace@example.com").await;
    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
    let (_, token) = first_link(&sink, "ada@example.com").await;
    // What the hourly retention step removes past OVASABI_PENDING_JOIN_RETENTION_DAYS.
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    let pruned = app
        .state
        .store
        .prune_pending_joins(cutoff)
        .await
        .expect("pruned");
    assert_eq!(pruned, 1, "Ada's join, not Grace's");
    app.call(
        Method::POST,
        "/api/verify",
        As::Anonymous,
        Some(json!({"token": token})),
    )
    .await
    .assert_error(400, "invalid_token");
    let participants = app.get("/api/campaign/c/participants", As::Admin).await;
    let emails: Vec<&Value> = participants.assert_status(200)["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| &p["email"])
        .collect();
    assert_eq!(emails, [&json!("grace@example.com")]);
    // The address may join again, as anyone.
    app.join("c", "ada@example.com", "Ada", None)
        .await
        .assert_status(201);
}

/// The link of the first mail to `address` (its path on the server), and
/// the token that path carries.
async fn first_link(sink: &SmtpSink, address: &str) -> (String, String) {
    let mail = sink.wait_for(address, 1).await;
    let path = link_path(mail[0]["text"].as_str().expect("text"), PUBLIC);
    let token = path.trim_start_matches("/v/").to_owned();
    (path, token)
}

/// A port nothing listens on yet.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn an_address_cannot_be_squatted_enumerated_or_bombed(db: Db) {
    // The SMTP server starts after the joins: what is sent is decided then.
    let port = free_port();
    let app = mailing_app(db, &format!("smtp://127.0.0.1:{port}")).await;
    verifying_campaign(&app, "c").await;
    let first = app.join("c", "ada@example.com", "Squatter", None).await;
    let first = first.assert_status(201).clone();
    // The owner joins: the same answer's shape; the older join is replaced,
    // and its token opens nothing.
    let second = app.join("c", "ada@example.com", "Ada", None).await;
    let second = second.assert_status(201).clone();
    let keys = |v: &Value| {
        v.as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&first), keys(&second));
    app.call_as(
        Method::GET,
        "/api/me",
        first["token"].as_str().expect("t"),
        None,
    )
    .await
    .assert_error(401, "invalid_token");
    // However many joins, the address gets one verification mail in ten minutes…
    for _ in 0..3 {
        app.join("c", "ada@example.com", "Ada", None)
            .await
            .assert_status(201);
    }
    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for("ada@example.com", 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sink.wait_for("ada@example.com", 1).await.len(),
        1,
        "one mail"
    );
    // …and its link verifies the address's latest join: the owner's.
    assert!(
        mails[0]["text"]
            .as_str()
            .expect("text")
            .starts_with("Hi Ada,"),
        "{}",
        mails[0]
    );
    verify_from_mail(&app, &sink, "ada@example.com").await;
    let participants = app.get("/api/campaign/c/participants", As::Admin).await;
    let participants = &participants.assert_status(200)["participants"];
    assert_eq!(participants.as_array().map(Vec::len), Some(1));
    assert_eq!(participants[0]["display_name"], "Ada");
    // A verified address joined again: 201 like a new join, a token that
    // opens nothing, nothing counted twice, nothing more mailed in the window.
    let again = app.join("c", "ada@example.com", "Mallory", None).await;
    let again = again.assert_status(201).clone();
    assert_eq!(keys(&again), keys(&first));
    app.call_as(
        Method::GET,
        "/api/me",
        again["token"].as_str().expect("t"),
        None,
    )
    .await
    .assert_error(401, "invalid_token");
    assert_eq!(app.metrics("c").await["users"], 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = sink.wait_for("ada@example.com", 1).await;
    assert!(
        all.iter()
            .all(|m| m["headers"]["subject"] != "You are already registered for c"),
        "the window holds for every mail that answers a join: {all:?}"
    );
}

async fn lead_mails_reach_the_submitter_and_the_team(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    app.open_campaign("c", json!({"notify": {"leads": ["team@ovasabi.test"]}}))
        .await;
    let lead = app
        .submit_lead(
            &json!({"campaign": "c", "name": "Ada", "email": "ada@example.com",
                    "message": "A <b>bold</b> plan", "company": "Analytical"}),
            None,
            None,
        )
        .await;
    let id = lead.assert_status(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let confirmation = &sink.wait_for("ada@example.com", 1).await[0];
    assert_eq!(
        confirmation["headers"]["subject"],
        "We received your message: c"
    );
    let status_path = link_path(confirmation["text"].as_str().expect("text"), PUBLIC);
    let status = reqwest::get(app.url(&status_path)).await.expect("sent");
    let status = read(status).await;
    assert_eq!(status.assert_status(200)["status"], "new");
    assert_eq!(status.body["id"], id);
    // The link is the lead's own: another lead's id with it is a 404.
    let other = status_path.replace(&id, &uuid::Uuid::now_v7().to_string());
    read(reqwest::get(app.url(&other)).await.expect("sent"))
        .await
        .assert_error(404, "quote_not_found");
    let team = &sink.wait_for("team@ovasabi.test", 1).await[0];
    assert_eq!(team["headers"]["subject"], "New lead for c: Ada");
    assert!(
        team["text"]
            .as_str()
            .expect("text")
            .contains("A <b>bold</b> plan")
    );
    assert!(
        team["html"]
            .as_str()
            .expect("html")
            .contains("A &lt;b&gt;bold&lt;&#x2f;b&gt; plan"),
        "the HTML body escapes what the person typed: {team}"
    );
    // Every mail is an outbox entry the team sees, delivered.
    let entries = app.all_outbox().await;
    let mails: Vec<_> = entries
        .iter()
        .filter(|e| e.event_type.starts_with("mail."))
        .collect();
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().all(|e| e.delivered_at.is_some()), "{mails:?}");
    // Mails are not the back office's: the gRPC feed carries the lead only.
    let store = &app.state.store;
    while store.sequence_feed(100).await.expect("numbered") > 0 {}
    let feed = store.feed_after(0, None, 100).await.expect("feed");
    let types: Vec<&str> = feed.iter().map(|(_, e)| e.event_type.as_str()).collect();
    assert_eq!(types, ["lead.created"]);
}

async fn a_mail_waits_out_an_outage_and_a_drop_gives_one_duplicate(db: Db) {
    let port = free_port();
    let app = mailing_app(db, &format!("smtp://127.0.0.1:{port}")).await;
    app.open_campaign("c", json!({})).await;
    app.submit_lead(
        &json!({"campaign": "c", "name": "Ada", "email": "ada@example.com", "message": "hi"}),
        None,
        None,
    )
    .await
    .assert_status(201);
    let failed = poll_until(
        || app.all_outbox(),
        |entries| {
            entries
                .iter()
                .any(|e| e.attempts > 0 && e.last_error.is_some())
        },
    )
    .await;
    assert!(
        failed.iter().all(|e| e.dead_at.is_none()),
        "retried, not dead: {failed:?}"
    );
    let sink = SmtpSink::start_on(port).await;
    let mail = sink.wait_for("ada@example.com", 1).await;
    assert_eq!(mail.len(), 1, "arrives once the server is up");
    // A connection cut after DATA, before the 250: sent again, same Message-ID.
    app.submit_lead(
        &json!({"campaign": "c", "name": "Bob", "email": "drop@example.com", "message": "hi"}),
        None,
        None,
    )
    .await
    .assert_status(201);
    let copies = sink.wait_for("drop@example.com", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let copies_later = sink.wait_for("drop@example.com", 2).await;
    assert_eq!(copies.len(), 2, "one duplicate: {copies:?}");
    assert_eq!(copies_later.len(), 2, "no more");
    assert_eq!(
        copies[0]["headers"]["message-id"],
        copies[1]["headers"]["message-id"]
    );
    sink.stop().await;
}

async fn a_refusal_suppresses_the_address(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    app.open_campaign("c", json!({})).await;
    let lead =
        json!({"campaign": "c", "name": "Eve", "email": "refuse@example.com", "message": "hi"});
    app.submit_lead(&lead, None, None).await.assert_status(201);
    let entries = poll_until(
        || app.all_outbox(),
        |entries| entries.iter().any(|e| e.dead_at.is_some()),
    )
    .await;
    let dead = entries
        .iter()
        .find(|e| e.dead_at.is_some())
        .expect("dead at once");
    assert_eq!(dead.attempts, 1);
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{dead:?}"
    );
    let list = app
        .get("/api/mail/suppressions?campaign=c", As::Admin)
        .await;
    assert_eq!(
        list.assert_status(200)["suppressions"][0]["email"],
        "refuse@example.com"
    );
    // No more mail to it: the next one is dead without an attempt at the server.
    app.submit_lead(&lead, None, None).await.assert_status(201);
    poll_until(
        || app.all_outbox(),
        |entries| entries.iter().filter(|e| e.dead_at.is_some()).count() == 2,
    )
    .await;
    assert!(sink.messages().is_empty());
}

async fn one_click_unsubscribe_stops_marketing_mail(db: Db) {
    let sink = SmtpSink::start().await;
    let app = mailing_app(db, &sink.url()).await;
    app.open_campaign("c", json!({})).await;
    app.joined("c", "ada@example.com", "Ada", None).await;
    let welcome = &sink.wait_for("ada@example.com", 1).await[0];
    assert_eq!(
        welcome["headers"]["list-unsubscribe-post"],
        "List-Unsubscribe=One-Click"
    );
    let link = welcome["headers"]["list-unsubscribe"]
        .as_str()
        .expect("header");
    let path = link
        .trim_matches(['<', '>'])
        .trim_start_matches(PUBLIC)
        .to_owned();
    // Opening it (a scanner, a person) changes nothing; the POST unsubscribes.
    reqwest::get(app.url(&path)).await.expect("sent");
    let participants = app.get("/api/campaign/c/participants", As::Admin).await;
    assert_eq!(
        participants.assert_status(200)["participants"][0]["unsubscribed_at"],
        Value::Null
    );
    let done = reqwest::Client::new()
        .post(app.url(&path))
        .body("List-Unsubscribe=One-Click")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        read(done).await.assert_status(200)["status"],
        "unsubscribed"
    );
    let participants = app.get("/api/campaign/c/participants", As::Admin).await;
    assert!(participants.body["participants"][0]["unsubscribed_at"].is_string());
    read(
        reqwest::Client::new()
            .post(app.url("/api/unsubscribe/forged"))
            .send()
            .await
            .expect("sent"),
    )
    .await
    .assert_error(400, "invalid_token");
}

async fn a_mail_is_in_the_persons_language_or_the_campaigns(db: Db) {
    use crate::support::fake_libretranslate::{FakeLibreTranslate, Mode};
    let sink = SmtpSink::start().await;
    let translator = FakeLibreTranslate::start().await;
    let smtp = sink.url();
    let machine = translator.url();
    let app = spawn_app_with(db, move |config| {
        config.mail.smtp_url = Some(smtp.as_str().into());
        config.mail.mail_from = Some("Ovasabi <hello@ovasabi.test>".into());
        config.mail.public_url = Some(PUBLIC.parse().expect("URL"));
        config.libretranslate_url = Some(machine.into());
    })
    .await;
    app.open_campaign(
        "c",
        json!({"forms": {"join": {"verify": "email"}}, "locales": ["en", "fr"]}),
    )
    .await;
    let body = json!({"campaign": "c", "email": "ada@example.com", "name": "Ada", "locale": "fr"});
    app.call(
        Method::POST,
        "/api/user/register",
        As::Anonymous,
        Some(body.clone()),
    )
    .await
    .assert_status(201);
    let mail = &sink.wait_for("ada@example.com", 1).await[0];
    let subject = mail["headers"]["subject"].as_str().expect("subject");
    assert!(subject.starts_with("fr:Confirm"), "in French: {subject}");
    assert!(subject.ends_with(" c"), "the tag kept, filled: {subject}");
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("Ada"), "{text}");
    // The link survived translation, and works.
    let token = link_path(text, PUBLIC).trim_start_matches("/v/").to_owned();
    app.call(
        Method::POST,
        "/api/verify",
        As::Anonymous,
        Some(json!({"token": token})),
    )
    .await
    .assert_status(200);
    // LibreTranslate down (for a text the memory does not hold yet): the
    // mail goes, in the campaign's language.
    translator.set_mode(Mode::Failing);
    let lead = json!({"campaign": "c", "name": "Grace", "email": "grace@example.com",
                      "message": "hi", "locale": "fr"});
    app.submit_lead(&lead, None, None).await.assert_status(201);
    let mail = &sink.wait_for("grace@example.com", 1).await[0];
    assert_eq!(mail["headers"]["subject"], "We received your message: c");
}

db_tests!(
    a_mail_is_in_the_persons_language_or_the_campaigns,
    a_join_counts_once_its_email_is_verified,
    bad_verification_links_are_refused,
    an_address_cannot_be_squatted_enumerated_or_bombed,
    lead_mails_reach_the_submitter_and_the_team,
    a_mail_waits_out_an_outage_and_a_drop_gives_one_duplicate,
    a_refusal_suppresses_the_address,
    one_click_unsubscribe_stops_marketing_mail,
    joins_never_verified_are_removed_in_time,
);
