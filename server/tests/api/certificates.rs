//! WebTransport certificates in production: files given by `OVASABI_WT_CERT`
//! and `OVASABI_WT_KEY` are served, and a replaced pair is served without a
//! restart.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint, Identity};

use crate::support::{Db, self_signed_certificate, ticket};

/// The SHA-256 of the certificate in `cert`.
async fn hash_of(cert: &Path, key: &Path) -> Vec<u8> {
    let identity = Identity::load_pemfiles(cert, key).await.expect("loads");
    identity.certificate_chain().as_slice()[0]
        .hash()
        .as_ref()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_are_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    self_signed_certificate(&cert, &key, "first.example");
    let first = hash_of(&cert, &key).await;
    let (cert_path, key_path) = (cert.clone(), key.clone());
    let app = crate::support::spawn_app_with(Db::Sqlite, |c| {
        c.wt_cert = Some(cert_path);
        c.wt_key = Some(key_path);
    })
    .await;
    app.open_campaign("c", json!({})).await;
    let (_, token) = app.visitor("c").await;
    let (app, token) = (&app, &token);
    // Whether the endpoint serves the certificate of `hash` (a client that
    // pins it connects; one that pins another does not).
    let serves = |hash: Vec<u8>| async move {
        let base = app.url("");
        let ticket = ticket(&app.client, &base, "c", token).await;
        let info: serde_json::Value = reqwest::get(format!("{base}/api/webtransport"))
            .await
            .expect("info")
            .json()
            .await
            .expect("json");
        let url = info["url"].as_str().expect("url").to_owned();
        let pinned: [u8; 32] = hash.try_into().expect("32 bytes");
        let client = Endpoint::client(
            ClientConfig::builder()
                .with_bind_default()
                .with_server_certificate_hashes([Sha256Digest::new(pinned)])
                .build(),
        )
        .expect("client");
        client
            .connect(format!("{url}/c?page=/&ticket={ticket}"))
            .await
            .is_ok()
    };

    // Renewed on disk (a new key too), as cert-manager or certbot would.
    let (next_cert, next_key) = (dir.path().join("next.pem"), dir.path().join("next.key"));
    self_signed_certificate(&next_cert, &next_key, "second.example");
    let second = hash_of(&next_cert, &next_key).await;
    assert!(
        serves(first.clone()).await,
        "the first certificate is served"
    );
    assert!(
        !serves(second.clone()).await,
        "a pin of another certificate fails"
    );
    std::fs::rename(&next_key, &key).expect("key replaced");
    std::fs::rename(&next_cert, &cert).expect("certificate replaced");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if serves(second.clone()).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
