//! The `ovasabi-edge` binary as a newcomer runs it.

use crate::helpers::{RunningBinary, binary_command};

#[test]
fn bad_config_exits_non_zero_with_a_one_line_reason() {
    let cases = [
        ("OVASABI_HTTP_ADDR", "not-an-address"),
        ("DATABASE_URL", "mysql://nope"),
        ("OVASABI_ADMIN_TOKEN", "short"),
        ("OVASABI_WEBHOOK_URL", "crm.example"),
    ];
    for (name, value) in cases {
        let out = binary_command(&[(name, value)])
            .output()
            .expect("binary runs");
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(name), "names the setting: {stderr}");
    }
}

#[test]
fn generated_secrets_are_refused_when_scaled_out() {
    // Redis set (another instance may share it), secrets not: refused, exit 2.
    let out = binary_command(&[
        ("REDIS_URL", "redis://127.0.0.1:9"),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
    ])
    .output()
    .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for name in ["OVASABI_SESSION_SECRET", "OVASABI_ADMIN_TOKEN", "REDIS_URL"] {
        assert!(stderr.contains(name), "names {name}: {stderr}");
    }
    // A secret file that is too short is named as the setting it is.
    let dir = tempfile::tempdir().expect("dir");
    let short = dir.path().join("secret");
    std::fs::write(&short, "short\n").expect("written");
    let out = binary_command(&[("OVASABI_SESSION_SECRET_FILE", short.to_str().expect("path"))])
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OVASABI_SESSION_SECRET_FILE"));
}

#[tokio::test]
async fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().expect("dir");
    let file = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("written");
        path.to_str().expect("path").to_owned()
    };
    let admin = file("admin", "admin-token-from-a-mounted-file");
    let session = file("session", "session-secret-from-a-mounted-file-32+");
    let webhook = file("webhook", "webhook-secret-from-a-file");
    let db = format!("sqlite://{}/edge.db", dir.path().display());
    let server = RunningBinary::start(&[
        ("DATABASE_URL", &db),
        (
            "REDIS_URL",
            &crate::helpers::redis_url().unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
        ),
        (
            "OVASABI_REDIS_PREFIX",
            &format!("ovasabi-test-{}", uuid::Uuid::now_v7().simple()),
        ),
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("OVASABI_ADMIN_TOKEN_FILE", &admin),
        ("OVASABI_SESSION_SECRET_FILE", &session),
        ("OVASABI_WEBHOOK_SECRET_FILE", &webhook),
    ])
    .await;
    let listed = reqwest::Client::new()
        .get(format!("{}/api/campaign", server.base))
        .bearer_auth("admin-token-from-a-mounted-file")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        listed.status(),
        200,
        "the admin token from the file is the one"
    );
    server.stop("TERM").await;
}

#[tokio::test]
async fn default_run_serves_the_shipped_campaign_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("edge.db").display());
    let server = RunningBinary::start(&[
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", &database),
    ])
    .await;
    let reply = reqwest::get(format!("{}/api/campaign/ovasabi-website", server.base))
        .await
        .expect("request");
    assert_eq!(reply.status(), 200);
    let status = server.stop("TERM").await;
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}
