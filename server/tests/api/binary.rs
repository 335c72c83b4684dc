//! The `ovasabi-edge` binary as a newcomer runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ovasabi-edge");

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Runs the binary with only the given environment (no inherited `DATABASE_URL` etc.).
fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied());
    cmd
}

#[test]
fn bad_config_exits_non_zero_with_a_one_line_reason() {
    let cases = [
        ("OVASABI_HTTP_ADDR", "not-an-address"),
        ("DATABASE_URL", "mysql://nope"),
        ("OVASABI_ADMIN_TOKEN", "short"),
        ("OVASABI_WEBHOOK_URL", "crm.example"),
    ];
    for (name, value) in cases {
        let out = command(&[(name, value)]).output().expect("binary runs");
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
    let mut child = command(&[
        ("OVASABI_HTTP_ADDR", "127.0.0.1:0"),
        ("OVASABI_WT_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", &database),
    ])
    .current_dir(repo_root())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("reads the listening line");
    let base = first_line
        .trim()
        .strip_prefix("ovasabi-edge listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();

    let reply = reqwest::get(format!("{base}/api/campaign/ovasabi-website"))
        .await
        .expect("request");
    assert_eq!(reply.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}
