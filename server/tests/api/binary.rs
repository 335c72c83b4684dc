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
