//! The two ways records leave the building, each with a receiver that counts
//! what reached it: a webhook receiver (deliveries by id, and whether an id
//! ever came with another payload) and a gRPC feed follower (a named
//! consumer that acknowledges as it goes and resumes where it acknowledged).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The generated client of `ovasabi.edge.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ovasabi.edge.v1");
}

/// What the webhook receiver got.
#[derive(Default)]
pub struct Deliveries {
    /// Each delivery id: the digest of its payload (without `attempt`) and
    /// how many times it came.
    pub by_id: Mutex<HashMap<u64, ([u8; 32], u32)>>,
    /// Deliveries of an id that came before with another payload.
    pub conflicting: AtomicU64,
    /// Requests that were not a delivery (no JSON, no id).
    pub malformed: AtomicU64,
}

impl Deliveries {
    /// Takes in one delivery's body.
    fn take(&self, body: &[u8]) {
        let Ok(mut payload) = serde_json::from_slice::<serde_json::Value>(body) else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(id) = payload["id"].as_u64() else {
            self.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // Every attempt says which it is; the rest must not change.
        payload.as_object_mut().map(|p| p.remove("attempt"));
        let digest: [u8; 32] = Sha256::digest(payload.to_string().as_bytes()).into();
        let mut by_id = self.by_id.lock();
        let entry = by_id.entry(id).or_insert((digest, 0));
        entry.1 += 1;
        if entry.0 != digest {
            self.conflicting.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the webhook receiver on a free loopback port; returns its URL.
pub async fn webhook_receiver(deliveries: Arc<Deliveries>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr()?.port());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, deliveries.clone()));
        }
    });
    Ok(url)
}

/// Serves one connection's requests (kept alive) with 204.
async fn serve(mut socket: TcpStream, deliveries: Arc<Deliveries>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // The head, then the body its Content-Length announces.
        let (head, length) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = request.parse(&buffer) {
                let length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0usize);
                break (head, length);
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        deliveries.take(&buffer[head..head + length]);
        buffer.drain(..head + length);
        let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        if socket.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// What the feed follower handled.
#[derive(Default)]
pub struct Feed {
    /// Each lead id handled, and how many times (at different positions).
    pub leads: Mutex<HashMap<String, u32>>,
    /// The last position handled.
    pub position: AtomicU64,
    /// Records sent again at or below the last handled position (at least
    /// once: after a reconnect, what was not yet acknowledged).
    pub redelivered: AtomicU64,
    /// Records below the last handled position never handled before: one
    /// that committed late and was given an earlier position.
    pub out_of_order: AtomicU64,
    /// Follows opened (the first included).
    pub follows: AtomicU64,
    /// Acknowledgements the server took.
    pub acks: AtomicU64,
}

impl Feed {
    fn handle(&self, record: &proto::Record) {
        let id = serde_json::from_str::<serde_json::Value>(&record.payload_json)
            .ok()
            .and_then(|p| p["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let last = self.position.load(Ordering::Relaxed);
        if record.position <= last {
            self.redelivered.fetch_add(1, Ordering::Relaxed);
            if self.leads.lock().contains_key(&id) {
                return;
            }
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        } else {
            self.position.store(record.position, Ordering::Relaxed);
        }
        *self.leads.lock().entry(id).or_default() += 1;
    }
}

/// The consumer name the follower acknowledges as.
pub const CONSUMER: &str = "soak-follower";

/// Where the follower follows.
#[derive(Clone)]
pub struct Follow {
    /// The instances' gRPC URLs.
    pub grpc: Arc<Vec<String>>,
    /// A token that may follow and acknowledge.
    pub token: String,
    /// The campaign.
    pub campaign: String,
}

impl Follow {
    fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        Ok(request)
    }

    /// One follow on instance `server` until it ends or `stop`.
    async fn once(
        &self,
        server: usize,
        feed: &Feed,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let url = &self.grpc[server % self.grpc.len()];
        let channel = tonic::transport::Endpoint::from_shared(url.clone())?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .context("connect")?;
        let mut client = proto::leads_client::LeadsClient::new(channel);
        // After the consumer's acknowledged position: what was handled but
        // not yet acknowledged comes again.
        let follow = self.request(proto::FollowRequest {
            campaign: self.campaign.clone(),
            after: None,
            types: vec!["lead.created".into()],
            consumer: CONSUMER.into(),
        })?;
        let mut records = client.follow(follow).await?.into_inner();
        feed.follows.fetch_add(1, Ordering::Relaxed);
        let mut ack = tokio::time::interval(Duration::from_millis(500));
        let mut acked = 0;
        loop {
            tokio::select! {
                record = records.message() => match record? {
                    Some(record) => feed.handle(&record),
                    None => return Ok(()),
                },
                _ = ack.tick() => {
                    let position = feed.position.load(Ordering::Relaxed);
                    if position > acked {
                        let request = self.request(proto::AckRequest {
                            consumer: CONSUMER.into(),
                            position,
                            campaign: self.campaign.clone(),
                        })?;
                        if client.ack(request).await.is_ok() {
                            acked = position;
                            feed.acks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                () = super::stopped(stop) => return Ok(()),
            }
        }
    }
}

/// Follows the campaign's `lead.created` records until `stop`, moving to
/// the next instance whenever a follow ends.
pub async fn follow(follow: Follow, feed: Arc<Feed>, mut stop: watch::Receiver<bool>) {
    let mut server = 0;
    while !*stop.borrow() {
        let _ = follow.once(server, &feed, &mut stop).await;
        server += 1;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
            () = super::stopped(&mut stop) => return,
        }
    }
}
