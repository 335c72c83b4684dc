//! A real SMTP server for the mail tests: `scripts/smtp-sink` (aiosmtpd),
//! started as its own process on a free port; each message it accepts is
//! a JSON file (envelope, headers, decoded text and HTML) read back here.
//! Recipients whose local part holds `refuse`, `defer` or `drop` make it
//! refuse (550), defer (451) or cut the connection after DATA once.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// A running SMTP sink.
pub(crate) struct SmtpSink {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    /// The port it listens on.
    pub(crate) port: u16,
}

impl SmtpSink {
    /// Starts one on a free port.
    pub(crate) async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts one on `port` (0: a free one).
    pub(crate) async fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 scripts/smtp-sink starts (pip install aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink starts in time")
            .expect("reads")
            .expect("the SMTP sink says where it listens (is aiosmtpd installed?)");
        let port = line
            .strip_prefix("listening on ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Self { child, dir, port }
    }

    /// `smtp://127.0.0.1:{port}`.
    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received, in order.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("reads the sink's folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("reads")).expect("JSON"))
            .collect()
    }

    /// The messages to `address`, once at least `count` arrived (or 15 s passed).
    pub(crate) async fn wait_for(&self, address: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Value> = self
                .messages()
                .into_iter()
                .filter(|m| {
                    m["rcpt_tos"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|r| r == address))
                })
                .collect();
            if found.len() >= count || tokio::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The path of the link in `text` that starts with `base`, e.g. the
/// `/v/{token}` of a verification mail.
pub(crate) fn link_path(text: &str, base: &str) -> String {
    let start = text
        .find(base)
        .unwrap_or_else(|| panic!("no {base} link in {text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<' && *c != '>')
        .collect();
    link.trim_start_matches(base).to_owned()
}
