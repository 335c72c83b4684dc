//! The test harness: the app under test ([`app`]), its databases ([`db`]),
//! clients as browsers speak to it ([`sse`], [`wt`]), the binary ([`binary`]),
//! and stand-ins for the services it talks to ([`fake_libretranslate`],
//! [`fake_receiver`]).

pub(crate) mod app;
pub(crate) mod binary;
pub(crate) mod db;
pub(crate) mod fake_libretranslate;
pub(crate) mod fake_receiver;
pub(crate) mod siteverify;
pub(crate) mod smtp;
pub(crate) mod sse;
pub(crate) mod wt;

pub(crate) use app::*;
pub(crate) use binary::*;
pub(crate) use db::*;
pub(crate) use sse::*;

/// The server's `/metrics` at `base`, as sample name (with labels) → value.
pub(crate) async fn scrape_metrics(
    client: &reqwest::Client,
    base: &str,
) -> std::collections::HashMap<String, f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Reads with `read` until `done` holds for what it returns, or 10 s pass;
/// returns the last reading (the caller asserts on it).
pub(crate) async fn poll_until<T, Fut: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> Fut,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let value = read().await;
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Writes a self-signed ECDSA P-256 certificate for `name`, valid a day (as
/// browsers pin for WebTransport), and its key, as PEM files (`openssl`).
pub(crate) fn self_signed_certificate(cert: &std::path::Path, key: &std::path::Path, name: &str) {
    openssl_certificate(cert, key, name, &[]);
}

/// The same, as an end-entity certificate for DNS name `name` (not a CA:
/// rustls clients refuse a CA certificate as a server's own).
pub(crate) fn end_entity_certificate(cert: &std::path::Path, key: &std::path::Path, name: &str) {
    let san = format!("subjectAltName=DNS:{name}");
    openssl_certificate(
        cert,
        key,
        name,
        &[
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            &san,
        ],
    );
}

fn openssl_certificate(cert: &std::path::Path, key: &std::path::Path, name: &str, extra: &[&str]) {
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .args(extra)
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success(), "self-signed certificate");
}

/// Whether a tool a check needs is there (`present`). When it is not, the
/// check is skipped with a notice, and under `OVASABI_REQUIRE_ALL` (CI) the
/// test fails, naming how to install it.
pub(crate) fn tool_present(present: bool, what: &str, install: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("OVASABI_REQUIRE_ALL").is_none(),
            "{what} is installed ({install})"
        );
        println!("skipped: {what} ({install})");
    }
    present
}
