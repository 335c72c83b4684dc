//! A browser-like WebTransport client for the tests: pins the certificate hash
//! the server publishes and speaks the `protocol` datagrams.

use std::time::{Duration, Instant};

use base64::Engine;
use protocol::{Frame, PointerKind, Uplink, VERSION, decode_frame, encode_uplink};
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Endpoint};

/// A browser-like WebTransport client.
pub(crate) struct WtClient {
    _endpoint: Endpoint<wtransport::endpoint::endpoint_side::Client>,
    pub(crate) connection: wtransport::Connection,
    seq: u32,
}

/// A client endpoint trusting the certificate `base` publishes, and its WebTransport URL.
pub(crate) async fn client_endpoint(
    base: &str,
) -> (
    Endpoint<wtransport::endpoint::endpoint_side::Client>,
    String,
) {
    let info: serde_json::Value = reqwest::get(format!("{base}/api/webtransport"))
        .await
        .expect("webtransport info")
        .json()
        .await
        .expect("JSON");
    let url = info["url"].as_str().expect("url").to_owned();
    let hash = base64::engine::general_purpose::STANDARD
        .decode(
            info["certificate_hashes"][0]["value"]
                .as_str()
                .expect("hash"),
        )
        .expect("base64");
    let hash: [u8; 32] = hash.try_into().expect("32 bytes");
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([Sha256Digest::new(hash)])
        .build();
    (Endpoint::client(config).expect("client endpoint"), url)
}

impl WtClient {
    /// Opens a session to `campaign`'s room `page` on the server at `base`.
    pub(crate) async fn connect(
        base: &str,
        campaign: &str,
        page: &str,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::connect_version(base, campaign, page, token, 1).await
    }

    /// [`Self::connect`] asking for protocol `version` (2: rosters too).
    pub(crate) async fn connect_version(
        base: &str,
        campaign: &str,
        page: &str,
        token: Option<&str>,
        version: u8,
    ) -> anyhow::Result<Self> {
        let (endpoint, url) = client_endpoint(base).await;
        let mut target = format!("{url}/{campaign}?page={page}");
        if version > 1 {
            target.push_str(&format!("&v={version}"));
        }
        if let Some(token) = token {
            // A ticket for it; a token the server refuses is sent as a ticket
            // as it is, for the handshake to refuse.
            let asked =
                crate::support::ask_ticket(&reqwest::Client::new(), base, campaign, token).await;
            let ticket = match asked.body["ticket"].as_str() {
                Some(ticket) if asked.status == 201 => ticket.to_owned(),
                _ => token.to_owned(),
            };
            target.push_str(&format!("&ticket={ticket}"));
        }
        let connection = endpoint.connect(target).await?;
        Ok(Self {
            _endpoint: endpoint,
            connection,
            seq: 0,
        })
    }

    pub(crate) fn send(&mut self, kind: PointerKind, x: u16, y: u16) {
        self.seq += 1;
        let bytes = encode_uplink(&Uplink {
            version: VERSION,
            seq: self.seq,
            kind,
            x,
            y,
        });
        self.connection.send_datagram(bytes).expect("datagram sent");
    }

    /// The application close code, if the server closes the session
    /// within `wait`.
    pub(crate) async fn closed_within(&self, wait: Duration) -> Option<u64> {
        match tokio::time::timeout(wait, self.connection.closed()).await {
            Ok(wtransport::error::ConnectionError::ApplicationClosed(close)) => {
                Some(close.code().into_inner())
            }
            Ok(other) => panic!("closed otherwise: {other}"),
            Err(_) => None,
        }
    }

    pub(crate) async fn frame_within(&self, wait: Duration) -> Option<Frame> {
        let datagram = tokio::time::timeout(wait, self.connection.receive_datagram())
            .await
            .ok()?
            .ok()?;
        Some(decode_frame(&datagram).expect("the server sends valid frames"))
    }

    /// Frames until `done` holds for one (within 10 s); returns it and the wait.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&Frame) -> bool,
    ) -> (Frame, Duration) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(frame) = self.frame_within(Duration::from_millis(200)).await
                && done(&frame)
            {
                return (frame, started.elapsed());
            }
        }
        panic!("no frame with {what} within 10 s");
    }
}

pub(crate) fn shows(frame: &Frame, x: u16, y: u16) -> Option<u32> {
    frame
        .cursors
        .iter()
        .find(|c| c.x == x && c.y == y)
        .map(|c| c.id)
}

/// The server's roster stream of a version-2 session.
pub(crate) struct RosterStream {
    stream: wtransport::RecvStream,
    buffer: Vec<u8>,
}

impl WtClient {
    /// The roster stream of a version-2 session and its first roster (within 5 s each).
    pub(crate) async fn first_roster(&self) -> (RosterStream, protocol::Roster) {
        let mut stream = self
            .roster_stream(Duration::from_secs(5))
            .await
            .expect("a roster stream");
        let first = stream
            .next_within(Duration::from_secs(5))
            .await
            .expect("a first roster");
        (stream, first)
    }

    /// The roster stream the server opens for a version-2 session (within `wait`).
    pub(crate) async fn roster_stream(&self, wait: Duration) -> Option<RosterStream> {
        let stream = tokio::time::timeout(wait, self.connection.accept_uni())
            .await
            .ok()?
            .ok()?;
        Some(RosterStream {
            stream,
            buffer: Vec::new(),
        })
    }
}

impl RosterStream {
    /// The next roster message, within `wait`.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<protocol::Roster> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some((len, used)) = protocol::read_length(&self.buffer).expect("a sane length")
                && self.buffer.len() >= used + len
            {
                let message: Vec<u8> = self.buffer.drain(..used + len).skip(used).collect();
                return Some(
                    protocol::decode_roster(&message).expect("the server sends valid rosters"),
                );
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()??;
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Rosters until `done` holds for one (within 10 s).
    pub(crate) async fn wait_for(
        &mut self,
        what: &str,
        done: impl Fn(&protocol::Roster) -> bool,
    ) -> protocol::Roster {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(roster) = self.next_within(Duration::from_millis(500)).await
                && done(&roster)
            {
                return roster;
            }
        }
        panic!("no roster with {what} within 10 s");
    }
}
