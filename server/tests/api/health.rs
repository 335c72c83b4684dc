//! `/healthz` and `/readyz`.

use crate::db_tests;
use crate::support::{As, Db, redis_url, spawn_app, spawn_app_with};

async fn healthz_and_readyz_answer(db: Db) {
    let app = spawn_app(db).await;
    app.get("/healthz", As::Anonymous).await.assert_status(200);
    let ready = app.get("/readyz", As::Anonymous).await;
    let body = ready.assert_status(200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "not_configured");
}

db_tests!(healthz_and_readyz_answer);

#[tokio::test]
async fn readyz_checks_redis_when_configured() {
    let Some(redis) = redis_url() else { return };
    let app = spawn_app_with(Db::Sqlite, |c| c.redis_url = Some(redis.into())).await;
    let ready = app.get("/readyz", As::Anonymous).await;
    assert_eq!(ready.assert_status(200)["checks"]["redis"], "ok");
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_start_with_a_clear_reason() {
    // Nothing listens on port 1 of loopback.
    let db = crate::support::fresh_database(&Db::Sqlite).await;
    let mut config = ovasabi_edge::Config::for_database(db.url.clone());
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let err = match ovasabi_edge::App::build(config).await {
        Ok(_) => panic!("must not start without its Redis"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("REDIS_URL"), "{err}");
}
