//! The `ovasabi-edge` binary, started as an operator would.

/// The `ovasabi-edge` binary, running.
pub(crate) struct RunningBinary {
    child: std::process::Child,
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
}

impl RunningBinary {
    /// Starts the binary with exactly `env` (plus `PATH`) from the repository
    /// root, and waits for its listening line.
    pub(crate) async fn start(env: &[(&str, &str)]) -> Self {
        let logs = if std::env::var_os("TEST_LOG").is_some() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        };
        Self::start_logging_to(env, logs).await
    }

    /// Like [`RunningBinary::start`], with its logs (stderr) going to `logs`.
    pub(crate) async fn start_logging_to(
        env: &[(&str, &str)],
        logs: impl Into<std::process::Stdio>,
    ) -> Self {
        use std::io::BufRead;
        let mut child = binary_command(env)
            .current_dir(repo_root())
            .stdout(std::process::Stdio::piped())
            .stderr(logs)
            .spawn()
            .expect("binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await
        .expect("join")
        .expect("reads the listening line");
        let base = first_line
            .trim()
            .strip_prefix("ovasabi-edge listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        Self { child, base }
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the exit.
    pub(crate) async fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let mut child = std::mem::replace(&mut self.child, dummy_child());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait")
    }
}

fn dummy_child() -> std::process::Child {
    std::process::Command::new("true")
        .spawn()
        .expect("true runs")
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository root (where `campaigns/` lives).
pub(crate) fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The binary with only `env` (and `PATH`): nothing inherited leaks in.
pub(crate) fn binary_command(env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ovasabi-edge"));
    // From the repository root, as an operator runs it: what a run writes
    // (data/, a generated admin token) lands where .gitignore keeps it out.
    cmd.current_dir(repo_root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().copied());
    cmd
}

/// Turns the shipped campaign's minimum time off (`config.forms.min_seconds`),
/// for tests of other things that post its forms at once, without a
/// session. Another instance's campaign cache learns it within a second.
pub(crate) async fn without_minimum_time(base: &str, admin: &str) {
    change_shipped_config(base, admin, |config| {
        config["forms"]["min_seconds"] = serde_json::json!(0);
    })
    .await;
}

/// Changes the shipped campaign's configuration with `change`, as its
/// team would (`PATCH` of the whole document it reads).
pub(crate) async fn change_shipped_config(
    base: &str,
    admin: &str,
    change: impl FnOnce(&mut serde_json::Value),
) {
    let client = reqwest::Client::new();
    let url = format!("{base}/api/campaign/ovasabi-website");
    let current: serde_json::Value = client
        .get(&url)
        .bearer_auth(admin)
        .send()
        .await
        .expect("campaign")
        .json()
        .await
        .expect("JSON");
    let mut config = current["config"].clone();
    change(&mut config);
    let patched = client
        .patch(&url)
        .bearer_auth(admin)
        .json(&serde_json::json!({ "config": config }))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200, "the shipped campaign patched");
}
