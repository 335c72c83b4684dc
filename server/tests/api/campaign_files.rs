//! Campaign files (`campaigns/NNN_name.toml`) applied at start, idempotently.

use std::path::Path;

use ovasabi_edge::internals::campaign::files::{ApplyOutcome, apply_dir};
use ovasabi_edge::{App, Config};

use crate::db_tests;
use crate::support::{As, Db, fresh_database, spawn_app_with};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write campaign file");
}

fn shipped_campaigns() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns")
}

async fn shipped_campaign_is_served_after_start(db: Db) {
    let app = spawn_app_with(db, |c| c.campaigns_dir = Some(shipped_campaigns())).await;
    let reply = app
        .get("/api/campaign/ovasabi-website", As::Anonymous)
        .await;
    let campaign = reply.assert_status(200);
    assert_eq!(campaign["name"], "Ovasabi website");
    assert_eq!(campaign["status"], "active");
    assert_eq!(campaign["config"]["glossary"][0], "Ovasabi");

    // Its document, for its team: the committed one, since nothing changed.
    let document = app
        .client
        .get(app.url("/api/campaign/ovasabi-website/document"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(document.status(), 200);
    assert_eq!(
        document.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    let served = document.text().await.expect("text");
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/campaign/001_ovasabi_website.md"),
    )
    .expect("the committed document");
    assert_eq!(served, committed);
    app.get("/api/campaign/ovasabi-website/document", As::Anonymous)
        .await
        .assert_error(401, "unauthorized");
}

async fn applying_twice_changes_nothing(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "001_first_one.toml",
        "name = \"First\"\nstatus = \"active\"\n",
    );
    write(
        dir.path(),
        "002_second.toml",
        "slug = \"second-campaign\"\nname = \"Second\"\n[config.cursor]\ntick_hz = 15\n",
    );
    let app = spawn_app_with(db, |c| c.campaigns_dir = Some(dir.path().to_owned())).await;
    let store = app.state.store.as_ref();
    let before = app.stored_campaigns().await;
    assert_eq!(
        before.iter().map(|c| c.slug.as_str()).collect::<Vec<_>>(),
        ["first-one", "second-campaign"],
        "applied in number order, slug from the name or the file"
    );
    assert_eq!(before[1].config.cursor.tick_hz, 15);

    let again = apply_dir(store, dir.path(), Default::default(), false)
        .await
        .expect("apply again");
    assert!(
        again.iter().all(|(_, o)| *o == ApplyOutcome::Kept),
        "{again:?}"
    );
    let forced = apply_dir(store, dir.path(), Default::default(), true)
        .await
        .expect("apply again, forced");
    assert!(
        forced.iter().all(|(_, o)| *o == ApplyOutcome::Unchanged),
        "{forced:?}"
    );
    assert_eq!(
        app.stored_campaigns().await,
        before,
        "not even updated_at moved"
    );

    write(
        dir.path(),
        "001_first_one.toml",
        "name = \"First, renamed\"\nstatus = \"paused\"\n",
    );
    let changed = apply_dir(store, dir.path(), Default::default(), false)
        .await
        .expect("apply change");
    assert_eq!(changed[0], ("first-one".to_owned(), ApplyOutcome::Updated));
    assert_eq!(changed[1].1, ApplyOutcome::Kept);
    let after = app.stored_campaigns().await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].name, "First, renamed");
    assert_eq!(after[0].id, before[0].id, "same row");
}

async fn a_restart_keeps_what_the_admin_changed(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "001_live.toml",
        "name = \"Live\"\nstatus = \"active\"\n",
    );
    let app = spawn_app_with(db, |c| c.campaigns_dir = Some(dir.path().to_owned())).await;
    app.call(
        reqwest::Method::PATCH,
        "/api/campaign/live",
        As::Admin,
        Some(serde_json::json!({"status": "paused"})),
    )
    .await
    .assert_status(200);
    // A deploy restarts with the same file: the campaign stays paused.
    let store = app.state.store.as_ref();
    let kept = apply_dir(store, dir.path(), Default::default(), false)
        .await
        .expect("apply");
    assert_eq!(kept[0].1, ApplyOutcome::Kept);
    assert_eq!(app.stored_campaigns().await[0].status.as_str(), "paused");
    // `campaigns apply --force` puts the file back.
    let forced = apply_dir(store, dir.path(), Default::default(), true)
        .await
        .expect("apply, forced");
    assert_eq!(forced[0].1, ApplyOutcome::Updated);
    assert_eq!(app.stored_campaigns().await[0].status.as_str(), "active");
}

async fn a_bad_campaign_file_stops_the_start(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "001_ok.toml", "name = \"Ok\"\n");
    write(
        dir.path(),
        "002_bad.toml",
        "name = \"Bad\"\n[config.cursor]\ntick_hz = 1000\n",
    );
    let test_db = fresh_database(&db).await;
    let mut config = Config::for_database(test_db.url.clone());
    config.campaigns_dir = Some(dir.path().to_owned());
    let err = match App::build(config).await {
        Ok(_) => panic!("a bad campaign file must stop the start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("002_bad.toml"), "{err}");
    assert!(err.contains("config.cursor.tick_hz"), "{err}");
}

db_tests!(
    shipped_campaign_is_served_after_start,
    applying_twice_changes_nothing,
    a_restart_keeps_what_the_admin_changed,
    a_bad_campaign_file_stops_the_start,
);
