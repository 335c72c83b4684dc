//! A lossy link on loopback: user-space proxies that delay and lose traffic
//! (the kernel here has no netem).
//!
//! - [`udp_proxy`]: each datagram is dropped with probability `loss`, else
//!   delivered after `delay ± jitter` (independently, so datagrams may
//!   arrive reordered, as on a real path).
//! - [`tcp_proxy`]: a proxy cannot drop a TCP segment (the kernels at both
//!   ends would retransmit it at once on loopback), so a loss is modelled as
//!   what the application sees of it: with probability `loss` per chunk read,
//!   that chunk — and, the stream being ordered, everything behind it — waits
//!   one retransmission timeout ([`RETRANSMISSION_TIMEOUT`], Linux's minimum
//!   RTO) more. Every chunk is delayed by `delay ± jitter`, never before the
//!   one ahead of it.
//!
//! Each proxy connects upstream from the client's own address (127.0.0.N), so
//! the server's per-address caps and ticket-address checks see the client.
//! Losses come from one seeded generator per proxy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The stall a lost TCP segment costs: Linux's minimum retransmission timeout.
pub const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// How a link misbehaves, each way.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability that a datagram (UDP) or a chunk (TCP) is lost.
    pub loss: f64,
    /// One-way delay.
    pub delay: Duration,
    /// The delay varies uniformly by up to this much either way.
    pub jitter: Duration,
    /// Seed of the loss and jitter generator.
    pub seed: u64,
}

/// The seeded draws of one proxy.
struct Draws {
    rng: Mutex<StdRng>,
    impairment: Impairment,
}

impl Draws {
    fn new(impairment: Impairment) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(StdRng::seed_from_u64(impairment.seed)),
            impairment,
        })
    }

    /// Whether this packet or chunk is lost.
    fn lost(&self) -> bool {
        let loss = self.impairment.loss;
        loss > 0.0 && self.rng.lock().random_bool(loss.min(1.0))
    }

    /// This packet's or chunk's one-way delay.
    fn delay(&self) -> Duration {
        let Impairment { delay, jitter, .. } = self.impairment;
        if jitter.is_zero() {
            return delay;
        }
        let spread = jitter.as_secs_f64();
        let offset = self.rng.lock().random_range(-spread..=spread);
        Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
    }
}

/// A UDP socket bound to `ip` on any port.
async fn udp_bound_to(ip: IpAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(SocketAddr::new(ip, 0)).await
}

/// Sends `bytes` on `socket` to `to` after the link's delay, unless lost.
fn forward_datagram(draws: &Draws, socket: &Arc<UdpSocket>, bytes: Vec<u8>, to: SocketAddr) {
    if draws.lost() {
        return;
    }
    let due = Instant::now() + draws.delay();
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(due).await;
        let _ = socket.send_to(&bytes, to).await;
    });
}

/// Starts a UDP proxy to `upstream` on `listen`'s address (port 0: any);
/// returns where it listens. It runs until the process ends.
pub async fn udp_proxy(
    listen: SocketAddr,
    upstream: SocketAddr,
    impairment: Impairment,
) -> anyhow::Result<SocketAddr> {
    let front = Arc::new(UdpSocket::bind(listen).await?);
    let addr = front.local_addr()?;
    let draws = Draws::new(impairment);
    tokio::spawn(async move {
        // One upstream socket per client, from the client's own address.
        let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buffer = vec![0u8; 65_536];
        loop {
            let Ok((len, client)) = front.recv_from(&mut buffer).await else {
                return;
            };
            let back = match clients.get(&client) {
                Some(back) => back.clone(),
                None => {
                    let Ok(back) = udp_bound_to(client.ip()).await else {
                        continue;
                    };
                    let back = Arc::new(back);
                    clients.insert(client, back.clone());
                    // The server's replies, back to this client.
                    let (back_reader, front, draws) = (back.clone(), front.clone(), draws.clone());
                    tokio::spawn(async move {
                        let mut buffer = vec![0u8; 65_536];
                        while let Ok((len, _)) = back_reader.recv_from(&mut buffer).await {
                            forward_datagram(&draws, &front, buffer[..len].to_vec(), client);
                        }
                    });
                    back
                }
            };
            forward_datagram(&draws, &back, buffer[..len].to_vec(), upstream);
        }
    });
    Ok(addr)
}

/// Starts a TCP proxy to `upstream` on `listen`'s address (port 0: any);
/// returns where it listens. It runs until the process ends.
pub async fn tcp_proxy(
    listen: SocketAddr,
    upstream: SocketAddr,
    impairment: Impairment,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let draws = Draws::new(impairment);
    tokio::spawn(async move {
        while let Ok((client, from)) = listener.accept().await {
            let draws = draws.clone();
            tokio::spawn(async move {
                let Ok(server) = tcp_from(from.ip(), upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    pump(client_read, server_write, draws.clone()),
                    pump(server_read, client_write, draws),
                );
            });
        }
    });
    Ok(addr)
}

/// A TCP connection to `upstream` from address `ip`.
async fn tcp_from(ip: IpAddr, upstream: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match ip {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(upstream).await
}

/// Copies one direction of a connection through the impaired link: each
/// chunk delivered after its delay (plus a stall when lost), in order.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    draws: Arc<Draws>,
) {
    let (chunks, mut due_chunks) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = due_chunks.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut last_due = Instant::now();
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(len) = from.read(&mut buffer).await {
        if len == 0 {
            break;
        }
        let mut due = Instant::now() + draws.delay();
        if draws.lost() {
            due += RETRANSMISSION_TIMEOUT;
        }
        // Ordered: never before the chunk ahead of it.
        last_due = due.max(last_due);
        if chunks.send((last_due, buffer[..len].to_vec())).is_err() {
            break;
        }
    }
    drop(chunks);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss: f64, delay_ms: u64, jitter_ms: u64) -> Impairment {
        Impairment {
            loss,
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            seed: 7,
        }
    }

    #[test]
    fn draws_lose_about_the_share_asked_and_stay_within_the_jitter() {
        let draws = Draws::new(link(0.05, 30, 10));
        let lost = (0..20_000).filter(|_| draws.lost()).count();
        assert!((800..1200).contains(&lost), "{lost} of 20 000 lost at 5 %");
        for _ in 0..1000 {
            let delay = draws.delay();
            assert!(delay >= Duration::from_millis(20) && delay <= Duration::from_millis(40));
        }
        assert!(!Draws::new(link(0.0, 0, 0)).lost());
    }

    #[tokio::test]
    async fn udp_datagrams_are_delayed_and_some_lost() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("loopback");
        let proxy = udp_proxy(
            "127.0.0.1:0".parse().expect("an address"),
            server.local_addr().expect("loopback"),
            link(0.5, 20, 0),
        )
        .await
        .expect("the proxy starts");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("loopback");
        let sent = Instant::now();
        for i in 0..200u8 {
            client.send_to(&[i], proxy).await.expect("loopback");
        }
        let mut received = 0;
        let mut buffer = [0u8; 16];
        let mut from = None;
        while let Ok(Ok((_, peer))) =
            tokio::time::timeout(Duration::from_millis(300), server.recv_from(&mut buffer)).await
        {
            if received == 0 {
                assert!(sent.elapsed() >= Duration::from_millis(20), "not delayed");
            }
            received += 1;
            from = Some(peer);
        }
        assert!(
            (50..150).contains(&received),
            "{received} of 200 through at 50 % loss"
        );
        let from = from.expect("loopback");
        assert_eq!(
            from.ip(),
            client.local_addr().expect("loopback").ip(),
            "sent from the client's address"
        );
        // Replies find their way back.
        for _ in 0..20 {
            server.send_to(b"pong", from).await.expect("loopback");
        }
        let back =
            tokio::time::timeout(Duration::from_secs(1), client.recv_from(&mut buffer)).await;
        assert!(back.is_ok(), "no reply came back through the proxy");
    }

    #[tokio::test]
    async fn tcp_chunks_arrive_in_order_and_a_loss_stalls_the_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let upstream = listener.local_addr().expect("loopback");
        let proxy = tcp_proxy(
            "127.0.0.1:0".parse().expect("an address"),
            upstream,
            link(1.0, 10, 5),
        )
        .await
        .expect("loopback");
        let mut client = TcpStream::connect(proxy).await.expect("loopback");
        let (mut server, _) = listener.accept().await.expect("loopback");
        let sent = Instant::now();
        for i in 0..50u8 {
            client.write_all(&[i]).await.expect("loopback");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut got = Vec::new();
        while got.len() < 50 {
            let mut buffer = [0u8; 64];
            let len = server.read(&mut buffer).await.expect("loopback");
            assert!(len > 0, "closed early");
            got.extend_from_slice(&buffer[..len]);
        }
        assert_eq!(got, (0..50u8).collect::<Vec<_>>(), "reordered");
        assert!(
            sent.elapsed() >= RETRANSMISSION_TIMEOUT,
            "every chunk lost, yet no stall"
        );
    }
}
