//! The databases tests run on: SQLite always, PostgreSQL when
//! `OVASABI_TEST_POSTGRES_URL` is set (CI sets it; its absence skips those
//! tests, printing so), each test on a fresh database of its own; Redis when
//! `OVASABI_TEST_REDIS_URL` is set.

/// The database a test runs on.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh database on the PostgreSQL server at this URL (without database name).
    Postgres(String),
}

impl Db {
    /// The PostgreSQL server to test on, or `None` (printed) when not configured.
    pub(crate) fn postgres() -> Option<Self> {
        match std::env::var("OVASABI_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => {
                Some(Self::Postgres(url.trim_end_matches('/').to_owned()))
            }
            _ => {
                eprintln!("skipped: OVASABI_TEST_POSTGRES_URL is not set");
                None
            }
        }
    }
}

/// The Redis server to test on, or `None` (printed) when not configured.
pub(crate) fn redis_url() -> Option<String> {
    match std::env::var("OVASABI_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped: OVASABI_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// Runs each named `async fn(Db)` test once on SQLite and once on PostgreSQL,
/// as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::support::Db::postgres() {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

/// A database made for one test; dropped with it.
pub(crate) struct TestDb {
    /// Its URL.
    pub(crate) url: String,
    /// Keeps the SQLite folder alive (removed on drop).
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL server and database name, dropped on drop.
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(drop)
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test database: {e}");
        }
    }
}

/// Makes a fresh, empty database.
pub(crate) async fn fresh_database(db: &Db) -> TestDb {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            TestDb {
                url,
                _dir: Some(dir),
                postgres: None,
            }
        }
        Db::Postgres(server) => {
            use sqlx::Connection;
            let name = format!("ovasabi_test_{}", uuid::Uuid::now_v7().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .expect("OVASABI_TEST_POSTGRES_URL must reach a PostgreSQL server");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await
                .expect("create test database");
            TestDb {
                url: format!("{server}/{name}"),
                _dir: None,
                postgres: Some((server.clone(), name)),
            }
        }
    }
}
