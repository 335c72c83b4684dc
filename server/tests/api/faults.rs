//! Slow, silent and greedy clients: none of them holds the server.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Db, TestApp, spawn_app_with};

/// Reads what the server answers on `socket` until it closes (at most 10 s).
async fn answer(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn app_with(tweak: impl FnOnce(&mut server::Config)) -> TestApp {
    let app = spawn_app_with(Db::Sqlite, tweak).await;
    app.open_campaign("c", json!({})).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_and_writes_nothing() {
    let app = app_with(|c| c.body_timeout = Duration::from_secs(1)).await;
    let mut socket = TcpStream::connect(app.addr).await.expect("connects");
    // Warm up the connection with a request, so that it goes to the router.
    let started = Instant::now();
    socket
        .write_all(
            b"POST /api/quote HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"campaign\":",
        )
        .await
        .expect("head sent");
    // One byte now and then, never the whole body.
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if socket.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let text = answer(&mut socket).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.metrics("c").await["leads"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let app = app_with(|c| c.connections_per_ip = 3).await;
    // Three silent connections from this address: the fourth is refused at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(app.addr).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(app.addr).await.expect("connects");
    let text = answer(&mut fourth).await;
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(text.contains("\"code\":\"rate_limited\""), "{text}");
    // Once they go, the address is served again.
    drop(silent);
    let served = crate::helpers::poll_until(
        || async {
            reqwest::Client::new()
                .get(app.url("/healthz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        },
        |status| *status == 200,
    )
    .await;
    assert_eq!(served, 200);
    let metrics = crate::helpers::scrape_metrics(&reqwest::Client::new(), &app.url("")).await;
    assert!(
        metrics["ovasabi_connections_refused_total{transport=\"http\"}"] >= 1.0,
        "{metrics:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_not_held_to_one_address_cap() {
    let app = app_with(|c| {
        c.connections_per_ip = 2;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(app.addr).await.expect("connects"));
    }
    let reply = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("served");
    assert_eq!(reply.status(), 200, "the proxy's visitors are many");
}
