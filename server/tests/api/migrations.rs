//! Migrations as a step: `ovasabi-edge migrate` before a deploy, and starts
//! that refuse an unmigrated database (`OVASABI_MIGRATE=false`) instead of
//! altering it.

use ovasabi_edge::{App, Config};

use crate::db_tests;
use crate::support::{Db, RunningBinary, binary_command, fresh_database};

db_tests!(
    a_start_that_may_not_migrate_refuses_an_unmigrated_database,
    a_database_migrated_by_a_newer_version_is_used_as_it_is,
);

async fn a_start_that_may_not_migrate_refuses_an_unmigrated_database(db: Db) {
    ovasabi_edge::internals::telemetry::init_for_tests();
    let test_db = fresh_database(&db).await;
    let mut config = Config::for_database(test_db.url.clone());
    config.migrate = false;
    let refused = App::build(config.clone()).await.err().expect("refused");
    let reason = format!("{refused:#}");
    assert!(reason.contains("ovasabi-edge migrate"), "{reason}");
    // Nothing was created: no migrations table, no tables (no SQLite file).
    if let Db::Sqlite = db {
        let path = test_db.url.trim_start_matches("sqlite://");
        assert!(!std::path::Path::new(path).exists(), "{path} was created");
    } else {
        assert_eq!(count_tables(&test_db.url).await, 0);
    }

    let applied = ovasabi_edge::internals::store::migrate(&test_db.url)
        .await
        .expect("migrates");
    assert!(applied[0].starts_with("0001 "), "{applied:?}");
    assert!(
        ovasabi_edge::internals::store::migrate(&test_db.url)
            .await
            .expect("migrates again")
            .is_empty(),
        "nothing left to apply"
    );
    let app = App::build(config)
        .await
        .expect("starts on a migrated database");
    drop(app);
}

async fn a_database_migrated_by_a_newer_version_is_used_as_it_is(db: Db) {
    ovasabi_edge::internals::telemetry::init_for_tests();
    let test_db = fresh_database(&db).await;
    ovasabi_edge::internals::store::migrate(&test_db.url)
        .await
        .expect("migrates");
    // A migration this version does not know, as a newer one would leave.
    let sql = "INSERT INTO _sqlx_migrations
                   (version, description, success, checksum, execution_time)
               VALUES (99990101000000, 'from the future', TRUE, x'00', 1)";
    let sql = if let Db::Postgres(_) = db {
        sql.replace("x'00'", "'\\x00'::bytea")
    } else {
        sql.to_owned()
    };
    execute(&test_db.url, &sql).await;
    for migrate in [true, false] {
        let mut config = Config::for_database(test_db.url.clone());
        config.migrate = migrate;
        let app = App::build(config).await.expect("starts");
        drop(app);
    }
}

async fn execute(url: &str, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("opens");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("runs");
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("runs");
    }
}

async fn count_tables(url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counted");
    count
}

#[tokio::test]
async fn migrate_is_a_step_of_its_own() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("deploy/edge.db").display());
    let migrate = || {
        binary_command(&[("DATABASE_URL", &url)])
            .arg("migrate")
            .output()
            .expect("binary runs")
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("applied 0001 "), "{printed}");
    let again = migrate();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));

    // A start that may not migrate runs on it...
    let running = RunningBinary::start(&[
        ("DATABASE_URL", &url),
        ("OVASABI_MIGRATE", "false"),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
    ])
    .await;
    let health = reqwest::get(format!("{}/healthz", running.base))
        .await
        .expect("answers");
    assert_eq!(health.status(), 200);
    // The container's health check asks the same, with the same settings.
    let addr = running.base.trim_start_matches("http://").to_owned();
    let health_check = || {
        binary_command(&[("OVASABI_HTTP_ADDR", &addr)])
            .arg("health")
            .output()
            .expect("binary runs")
    };
    assert!(health_check().status.success());
    assert!(running.stop("TERM").await.success());
    assert!(!health_check().status.success(), "down once stopped");

    // ...and refuses, naming the step, where there is nothing yet.
    let empty = format!("sqlite://{}", dir.path().join("none/edge.db").display());
    let refused = binary_command(&[
        ("DATABASE_URL", &empty),
        ("OVASABI_MIGRATE", "false"),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
    ])
    .output()
    .expect("binary runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ovasabi-edge migrate"));
    assert!(!dir.path().join("none").exists(), "nothing created");
}
