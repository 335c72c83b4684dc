//! `POST /api/translate` and `PUT /api/translate/override` against a local
//! LibreTranslate stand-in: memory, overrides, glossary, context, batching,
//! the circuit breaker, and every way LibreTranslate can fail.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::fake_libretranslate::{FakeLibreTranslate, Mode};
use crate::support::{As, Db, TestApp, spawn_app, spawn_app_with};

async fn app_with(db: Db, fake: &FakeLibreTranslate) -> TestApp {
    let url = fake.url();
    let app = spawn_app_with(db, |c| {
        c.libretranslate_url = Some(url.into());
        c.translate_timeout = Duration::from_millis(300);
        c.translate_breaker_threshold = 2;
        c.translate_breaker_open = Duration::from_millis(400);
    })
    .await;
    app.open_campaign(
        "c",
        json!({"locales": ["en", "fr", "pt-BR", "de"], "glossary": ["Ovasabi"], "rate_limits": {"translations_per_minute": 10000}}),
    )
    .await;
    app
}

async fn translate(app: &TestApp, body: Value) -> crate::support::Reply {
    app.call(Method::POST, "/api/translate", As::Anonymous, Some(body))
        .await
}

fn texts_of(reply: &crate::support::Reply) -> Vec<(String, String)> {
    reply.body["translations"]
        .as_array()
        .expect("translations")
        .iter()
        .map(|t| {
            (
                t["text"].as_str().expect("text").to_owned(),
                t["origin"].as_str().expect("origin").to_owned(),
            )
        })
        .collect()
}

fn pair(text: &str, origin: &str) -> (String, String) {
    (text.to_owned(), origin.to_owned())
}

async fn memory_serves_the_second_call_without_libretranslate(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    let body =
        json!({"campaign": "c", "target": "fr", "texts": ["Hello world", "Join", "Hello world"]});
    let first = translate(&app, body.clone()).await;
    first.assert_status(200);
    assert_eq!(
        texts_of(&first),
        [
            pair("Bonjour monde", "machine"),
            pair("Rejoindre", "machine"),
            pair("Bonjour monde", "machine")
        ],
        "order kept, duplicates translated once"
    );
    assert_eq!(first.body["machine_translation"], "ok");
    assert_eq!(
        (fake.calls(), fake.array_calls()),
        (1, 1),
        "one batched call"
    );

    let second = translate(&app, body).await;
    assert_eq!(
        texts_of(&second),
        [
            pair("Bonjour monde", "memory"),
            pair("Rejoindre", "memory"),
            pair("Bonjour monde", "memory")
        ]
    );
    assert_eq!(fake.calls(), 1, "a memory hit does not call LibreTranslate");

    let single = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["Hello"]}),
    )
    .await;
    assert_eq!(texts_of(&single), [pair("Bonjour", "machine")]);
    assert_eq!(fake.array_calls(), 1, "one text goes as a string q");
}

async fn an_override_always_wins(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    let body =
        json!({"campaign": "c", "target": "fr", "texts": ["Join"], "context": {"page": "/"}});
    assert_eq!(
        texts_of(&translate(&app, body.clone()).await),
        [pair("Rejoindre", "machine")]
    );
    let set = json!({"campaign": "c", "target": "fr", "text": "Join", "translation": "Rejoignez-nous", "context": {"page": "/"}});
    app.call(
        Method::PUT,
        "/api/translate/override",
        As::Anonymous,
        Some(set.clone()),
    )
    .await
    .assert_error(401, "unauthorized");
    app.call(Method::PUT, "/api/translate/override", As::Admin, Some(set))
        .await
        .assert_status(200);
    assert_eq!(
        texts_of(&translate(&app, body.clone()).await),
        [pair("Rejoignez-nous", "override")]
    );
    // A later machine result for the same key never replaces it.
    app.state
        .store
        .memory_store(&[ovasabi_edge::internals::model::translation::MemoryEntry {
            campaign_id: app.campaign_id("c").await,
            source_lang: "en".into(),
            target_lang: "fr".into(),
            context_key: ovasabi_edge::internals::translate::context_key("text", Some("/"), None),
            source_hash: ovasabi_edge::internals::translate::text_hash("Join"),
            source_text: "Join".into(),
            translated_text: "machine again".into(),
            origin: ovasabi_edge::internals::model::translation::MemoryOrigin::Machine,
        }])
        .await
        .expect("store");
    assert_eq!(
        texts_of(&translate(&app, body).await),
        [pair("Rejoignez-nous", "override")]
    );
}

async fn glossary_terms_and_context_are_respected(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["Hello Ovasabi"]}),
    )
    .await;
    assert_eq!(
        texts_of(&reply),
        [pair("Bonjour Ovasabi", "machine")],
        "the brand is not translated"
    );

    for page in ["/", "/pricing"] {
        translate(
            &app,
            json!({"campaign": "c", "target": "fr", "texts": ["world"], "context": {"page": page}}),
        )
        .await
        .assert_status(200);
    }
    assert_eq!(
        fake.calls(),
        3,
        "the same text on two pages is two memory entries"
    );
    let again = translate(&app, json!({"campaign": "c", "target": "fr", "texts": ["world"], "context": {"page": "/pricing"}})).await;
    assert_eq!(texts_of(&again), [pair("monde", "memory")]);

    let auto = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "source": "auto", "texts": ["Join"]}),
    )
    .await;
    assert_eq!(auto.assert_status(200)["detected_source"], "en");
}

async fn identical_concurrent_requests_call_libretranslate_once(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    fake.set_delay(Duration::from_millis(150));
    let app = app_with(db, &fake).await;
    let body = json!({"campaign": "c", "target": "fr", "texts": ["Hello world"]});
    let replies = futures::future::join_all((0..6).map(|_| translate(&app, body.clone()))).await;
    for reply in &replies {
        assert_eq!(texts_of(reply), [pair("Bonjour monde", "machine")]);
    }
    assert_eq!(fake.calls(), 1);
}

async fn the_breaker_opens_and_closes(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    fake.set_mode(Mode::Failing);
    for _ in 0..2 {
        let reply = translate(
            &app,
            json!({"campaign": "c", "target": "fr", "texts": ["Hello"]}),
        )
        .await;
        assert_eq!(
            reply.assert_status(200)["machine_translation"],
            "unavailable"
        );
        assert_eq!(texts_of(&reply), [pair("Hello", "untranslated")]);
    }
    let calls = fake.calls();
    assert_eq!(calls, 4, "each failure retried once");
    let started = Instant::now();
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["Hello"]}),
    )
    .await;
    assert_eq!(reply.body["machine_translation"], "unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "open: answered in {:?}",
        started.elapsed()
    );
    assert_eq!(fake.calls(), calls, "open: LibreTranslate is not called");

    fake.set_mode(Mode::Normal);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["Hello"]}),
    )
    .await;
    assert_eq!(
        texts_of(&reply),
        [pair("Bonjour", "machine")],
        "closed again after a good trial"
    );
}

async fn every_failure_of_libretranslate_is_an_answer(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    for (mode, label) in [
        (Mode::Garbage, "garbage"),
        (Mode::RateLimited, "429"),
        (Mode::Forbidden, "403"),
    ] {
        fake.set_mode(mode);
        let reply = translate(
            &app,
            json!({"campaign": "c", "target": "fr", "texts": [format!("text {label}")]}),
        )
        .await;
        assert_eq!(
            reply.assert_status(200)["machine_translation"],
            "unavailable",
            "{label}"
        );
        assert_eq!(texts_of(&reply)[0].1, "untranslated", "{label}");
    }
    fake.set_mode(Mode::Normal);
    fake.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["slow"]}),
    )
    .await;
    assert_eq!(
        reply.assert_status(200)["machine_translation"],
        "unavailable"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout bounds it: {:?}",
        started.elapsed()
    );
}

async fn requests_are_checked(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    app.create_campaign(json!({"slug": "draft", "name": "Draft"}))
        .await
        .assert_status(201);
    let cases = [
        (
            json!({"campaign": "c", "target": "ja", "texts": ["Hello"]}),
            422,
            "unsupported_locale",
            Some("target"),
        ),
        (
            json!({"campaign": "c", "target": "fr", "texts": []}),
            422,
            "invalid_field",
            Some("texts"),
        ),
        (
            json!({"campaign": "c", "target": "fr", "texts": vec!["a"; 101]}),
            422,
            "invalid_field",
            Some("texts"),
        ),
        (
            json!({"campaign": "c", "target": "fr", "texts": ["x".repeat(5001)]}),
            422,
            "invalid_field",
            Some("texts[0]"),
        ),
        (
            json!({"campaign": "c", "target": "fr", "source": "English", "texts": ["a"]}),
            422,
            "invalid_field",
            Some("source"),
        ),
        (
            json!({"campaign": "c", "target": "fr", "texts": ["a"], "format": "pdf"}),
            422,
            "invalid_field",
            Some("format"),
        ),
        (
            json!({"campaign": "nope", "target": "fr", "texts": ["a"]}),
            404,
            "campaign_not_found",
            None,
        ),
        (
            json!({"campaign": "draft", "target": "en", "texts": ["a"]}),
            404,
            "campaign_not_found",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let reply = translate(&app, body.clone()).await;
        let error = reply.assert_error(status, code);
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{body}");
        }
    }
    assert_eq!(fake.calls(), 0);
    // A pair the instance does not offer is said so, not guessed.
    app.state
        .translator
        .machine()
        .expect("configured")
        .refresh_languages()
        .await
        .expect("languages");
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "de", "texts": ["Hello"]}),
    )
    .await;
    assert_eq!(
        reply.assert_status(200)["machine_translation"],
        "unsupported"
    );
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "pt-BR", "texts": ["Hello"]}),
    )
    .await;
    assert_eq!(
        texts_of(&reply),
        [pair("Bonjour", "machine")],
        "pt-BR goes to LibreTranslate as pt"
    );
}

async fn without_libretranslate_memory_and_overrides_still_serve(db: Db) {
    let app = spawn_app(db).await;
    app.open_campaign("c", json!({"locales": ["en", "fr"]}))
        .await;
    app.call(
        Method::PUT,
        "/api/translate/override",
        As::Admin,
        Some(json!({"campaign": "c", "target": "fr", "text": "Join", "translation": "Rejoignez-nous"})),
    )
    .await
    .assert_status(200);
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": ["Join", "Hello"]}),
    )
    .await;
    assert_eq!(
        reply.assert_status(200)["machine_translation"],
        "not_configured"
    );
    assert_eq!(
        texts_of(&reply),
        [
            pair("Rejoignez-nous", "override"),
            pair("Hello", "untranslated")
        ]
    );
}

async fn a_page_of_50_strings_is_fast_from_memory_and_survives_an_outage(db: Db) {
    let fake = FakeLibreTranslate::start().await;
    let app = app_with(db, &fake).await;
    let page: Vec<String> = (0..50).map(|i| format!("string{i} Hello")).collect();
    let body = json!({"campaign": "c", "target": "fr", "texts": page});
    translate(&app, body.clone()).await.assert_status(200);
    let started = Instant::now();
    let reply = translate(&app, body).await;
    let elapsed = started.elapsed();
    eprintln!("50 strings from memory in {elapsed:?}");
    assert!(
        texts_of(&reply)
            .iter()
            .all(|(_, origin)| origin == "memory")
    );
    assert!(elapsed < Duration::from_millis(250), "{elapsed:?}");

    fake.set_mode(Mode::Failing);
    let mut mixed: Vec<String> = (0..40).map(|i| format!("string{i} Hello")).collect();
    mixed.extend((0..10).map(|i| format!("new{i}")));
    let reply = translate(
        &app,
        json!({"campaign": "c", "target": "fr", "texts": mixed}),
    )
    .await;
    reply.assert_status(200);
    let origins: Vec<String> = texts_of(&reply).into_iter().map(|(_, o)| o).collect();
    assert!(origins[..40].iter().all(|o| o == "memory"));
    assert!(origins[40..].iter().all(|o| o == "untranslated"));
}

db_tests!(
    memory_serves_the_second_call_without_libretranslate,
    an_override_always_wins,
    glossary_terms_and_context_are_respected,
    identical_concurrent_requests_call_libretranslate_once,
    the_breaker_opens_and_closes,
    every_failure_of_libretranslate_is_an_answer,
    requests_are_checked,
    without_libretranslate_memory_and_overrides_still_serve,
    a_page_of_50_strings_is_fast_from_memory_and_survives_an_outage,
);
