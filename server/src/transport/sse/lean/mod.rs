//! Lean event-stream connections.
//!
//! An idle event stream is most of what an instance holds: ten thousand of
//! them on a campaign page. Served by hyper, each one keeps an HTTP/1.1
//! connection's read and write buffers (8 KiB each, hyper's minimum) for its
//! whole life, about 23 KiB per visitor in all. Yet an event stream never
//! reads another request, and what it writes is ready-made bytes.
//!
//! So the HTTP listener looks at the first request of every new connection
//! before hyper does. A plain `GET /api/campaign/{slug}/events` (no body, no
//! upgrade) is answered here: the same [`open_stream`] as the routed handler
//! (campaign, session, limits, resume), then the frames are written straight to
//! the socket, the body delimited by the connection's end. Every other
//! connection — and any later request on a kept-alive one — goes to Salvo
//! untouched, with the bytes already read put back in front.
//!
//! An opened stream with nothing of its own to relay (no cursor or members
//! room) is then kept by its campaign's task of idle streams ([`idle`]);
//! the others keep a task each.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use salvo::conn::tcp::{TcpAcceptor, TcpCoupler};
use salvo::conn::{Accepted, Acceptor, ConnCtrl, Holding, StraightStream};
use salvo::fuse::{ArcFusePolicy, FuseAction, FuseInfo, TransProto};
use salvo::http::header::HeaderValue;
use salvo::http::uri::Scheme;
use salvo::prelude::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::Instrument;

#[cfg(test)]
use super::StreamCredential;
use super::{EventStream, StreamRequest, open_stream};
use crate::limit::ConnectionSlot;
use crate::request::ApiError;
use crate::request::access;
use crate::state::{AppState, ConnectionRefusal};

mod head;
pub(crate) mod idle;
mod rewound;

pub use head::event_stream_request;
use head::read_head;
use idle::IdleStreams;
pub(crate) use rewound::Rewound;

/// How long a new connection may take to send its first request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections accepted and looked at, waiting for Salvo to take them.
const HANDOVER_QUEUE: usize = 256;

/// The socket as Salvo's TCP acceptor hands it out (with its timeouts).
type Socket = StraightStream<TcpStream>;
/// A connection for Salvo, and where it came from.
type Handover = Accepted<TcpCoupler<Rewound>, Rewound>;

/// A connection accepted, and what Salvo's fuse decided for it: the
/// timeouts it gets if it goes to Salvo. (An event stream served here keeps
/// the plain socket: it has timeouts of its own, and a kept idle stream
/// leaves the runtime's reactor.)
struct Incoming {
    socket: TcpStream,
    remote_addr: salvo::conn::SocketAddr,
    local_addr: salvo::conn::SocketAddr,
    fuse_config: Option<salvo::fuse::FuseConfig>,
    conn_ctrl: ConnCtrl,
    observer: Option<salvo::fuse::ArcConnObserver>,
}

/// Salvo's TCP acceptor, with event streams taken off on the way.
pub(crate) struct LeanAcceptor {
    holdings: Vec<Holding>,
    /// The inner acceptor, until the first `accept` starts the loop that owns it.
    inner: Option<(TcpAcceptor, Arc<AppState>)>,
    handover: mpsc::Receiver<Handover>,
    sender: mpsc::Sender<Handover>,
}

impl LeanAcceptor {
    /// Wraps `inner`; event streams are served with `state`.
    pub(crate) fn new(inner: TcpAcceptor, state: Arc<AppState>) -> Self {
        let (sender, handover) = mpsc::channel(HANDOVER_QUEUE);
        Self {
            holdings: inner.holdings().to_vec(),
            inner: Some((inner, state)),
            handover,
            sender,
        }
    }
}

impl Acceptor for LeanAcceptor {
    type Coupler = TcpCoupler<Rewound>;
    type Stream = Rewound;

    fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    async fn accept(&mut self, fuse_policy: Option<ArcFusePolicy>) -> io::Result<Handover> {
        if let Some((inner, state)) = self.inner.take() {
            let tasks = state.tasks.clone();
            tasks.spawn(
                "http accept",
                accept_loop(inner, fuse_policy, state, self.sender.clone()),
            );
        }
        self.handover
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the HTTP listener stopped"))
    }
}

/// Accepts connections and looks at each one in a task of its own, so that a
/// slow client never holds up the next. (Accepted from the listener itself,
/// as Salvo's acceptor does, with its fuse's decision, so that an event
/// stream keeps the plain socket.)
async fn accept_loop(
    inner: TcpAcceptor,
    fuse_policy: Option<ArcFusePolicy>,
    state: Arc<AppState>,
    handover: mpsc::Sender<Handover>,
) {
    let idle = IdleStreams::new(state.clone());
    let Some(local_addr) = inner.holdings().first().map(|h| h.local_addr.clone()) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            () = state.tasks.shutdown().cancelled() => return,
            () = handover.closed() => return,
            accepted = inner.inner().accept() => accepted,
        };
        let (socket, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: let some close.
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn_ctrl = ConnCtrl::new();
        let (fuse_config, observer) = match &fuse_policy {
            None => (None, None),
            Some(policy) => {
                let info = FuseInfo {
                    trans_proto: TransProto::Tcp,
                    remote_addr: remote_addr.into(),
                    local_addr: local_addr.clone(),
                };
                match policy.decide(&info).await {
                    FuseAction::Accept(config) => (Some(config), policy.observe(&info, &conn_ctrl)),
                    FuseAction::Reject => continue,
                }
            }
        };
        let incoming = Incoming {
            socket,
            remote_addr: remote_addr.into(),
            local_addr: local_addr.clone(),
            fuse_config,
            conn_ctrl,
            observer,
        };
        state.tasks.spawn(
            "http connection head",
            route(incoming, state.clone(), handover.clone(), idle.clone()),
        );
    }
}

/// Serves the connection here when it opens with an event stream, else hands
/// it to Salvo.
async fn route(
    incoming: Incoming,
    state: Arc<AppState>,
    handover: mpsc::Sender<Handover>,
    idle: Arc<IdleStreams>,
) {
    let Incoming {
        socket: mut stream,
        remote_addr,
        local_addr,
        fuse_config,
        conn_ctrl,
        observer,
    } = incoming;
    // Counted before anything is read: a peer cannot hold more than its share
    // of connections by never sending a request.
    let slots = match remote_addr.ip().map(|ip| state.admit_connection(ip)) {
        None => Vec::new(),
        Some(Ok(slots)) => slots,
        Some(Err(refusal)) => {
            state.counters.http_connections_refused.inc();
            let error = match refusal {
                ConnectionRefusal::PerAddress => ApiError::TooManyRequests {
                    retry_after_secs: 5,
                },
                ConnectionRefusal::Full => ApiError::Unavailable {
                    code: "overloaded",
                    message: "the server holds as many connections as it can; retry".into(),
                },
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                stream.write_all(&error_response(&error, None)),
            )
            .await;
            return;
        }
    };
    let head = tokio::select! {
        () = state.tasks.shutdown().cancelled() => return,
        head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => head,
    };
    let Ok(Ok(head)) = head else {
        return; // closed, failed or silent: nothing to answer
    };
    let trust = state.config.proxy_trust();
    if let Some(request) = event_stream_request(&head, remote_addr.ip(), trust) {
        // A task of its own: this one, sized for every path above, ends here.
        state
            .tasks
            .clone()
            .spawn("event stream", serve(stream, state, request, slots, idle));
        return;
    }
    let stream = StraightStream::new(stream, fuse_config, conn_ctrl.clone(), observer);
    let _ = handover
        .send(Accepted {
            coupler: TcpCoupler::new(),
            stream: Rewound {
                read: head.freeze(),
                inner: stream,
                _slots: slots,
            },
            fuse_config,
            conn_ctrl,
            remote_addr,
            local_addr,
            http_scheme: Scheme::HTTP,
        })
        .await;
}

/// The route template of the event stream, as the access log names it.
const EVENTS_ROUTE: &str = "/api/campaign/{slug}/events";

/// Answers the event stream on `stream` until either side ends it, inside
/// the request's span.
///
/// Two phases, so that the task kept for the stream's life holds only what
/// its loop needs: opening (admission, replay, the response head and the
/// opening frames) runs once, boxed and dropped when done; then the stream
/// goes to its campaign's idle streams, or [`relay`] holds the socket and
/// the stream. (An `async fn` keeps its arguments for its whole life, so one
/// that took the request and then looped would carry it to the end.)
fn serve(
    stream: TcpStream,
    state: Arc<AppState>,
    request: StreamRequest,
    slots: Vec<ConnectionSlot>,
    idle: Arc<IdleStreams>,
) -> impl Future<Output = ()> + Send {
    use futures::FutureExt;
    let span = access::request_span(&request.request_id, "GET", EVENTS_ROUTE);
    Box::pin(open(stream, state, request, slots))
        .then(move |opened| {
            let opened = opened.and_then(|o| match o.events.into_idle() {
                Ok(stream) => {
                    idle.park(o.stream, stream, o._slots);
                    None
                }
                Err(events) => Some(Opened {
                    events: *events,
                    ..o
                }),
            });
            futures::future::OptionFuture::from(
                opened.map(|o| relay(o.stream, o.events, o.write_stall, o._slots)),
            )
        })
        .map(|_| ())
        .instrument(span)
}

/// An opened event stream: what its loop holds.
struct Opened {
    stream: TcpStream,
    events: EventStream,
    /// How long a write may wait for a reader that stopped reading.
    write_stall: Duration,
    _slots: Vec<ConnectionSlot>,
}

/// Opens the stream and writes the response head; `None` when refused (the
/// refusal answered) or the client left.
async fn open(
    mut stream: TcpStream,
    state: Arc<AppState>,
    request: StreamRequest,
    slots: Vec<ConnectionSlot>,
) -> Option<Opened> {
    let started = std::time::Instant::now();
    let client = request.client;
    let request_id = request.request_id.clone();
    // Admitted from another origin: it is allowed, and may read the stream.
    let cross_origin = request
        .origin
        .origin
        .clone()
        .filter(|_| !request.origin.same_origin);
    let events = match open_stream(state.clone(), request).await {
        Ok(events) => events,
        Err(error) => {
            access::record(
                &state,
                (EVENTS_ROUTE, "GET"),
                error.status().as_u16(),
                started,
                client,
            );
            let refusal = error_response(&error, Some(&request_id));
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                stream.write_all(&refusal).await?;
                stream.shutdown().await
            })
            .await;
            return None;
        }
    };
    access::record(&state, (EVENTS_ROUTE, "GET"), 200, started, client);
    let mut events = events;
    let mut head = response_head(cross_origin.as_deref(), &request_id);
    for frame in events.take_opening() {
        head.extend_from_slice(&frame);
    }
    let write_stall = state.config.idle_timeout;
    tokio::time::timeout(write_stall, stream.write_all(&head))
        .await
        .ok()?
        .ok()?;
    Some(Opened {
        stream,
        events,
        write_stall,
        _slots: slots,
    })
}

/// Most bytes a client may send into its own event stream once it is open
/// (nothing is expected there); one more ends the stream, so that a client
/// writing fast cannot make the server read for it.
pub(super) const MAX_INBOUND: usize = 4096;

/// Writes the stream's frames until either side ends it.
async fn relay(
    stream: TcpStream,
    mut events: EventStream,
    write_stall: Duration,
    _slots: Vec<ConnectionSlot>,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut scratch = [0u8; 64];
    let mut inbound = 0;
    loop {
        tokio::select! {
            frame = events.next_frame() => {
                let Some(frame) = frame else { break };
                // A reader that stopped reading is let go, not waited for.
                match tokio::time::timeout(write_stall, writer.write_all(&frame)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            // A client says nothing more on an event stream; reading notices
            // it leaving, or sending more than it may.
            read = reader.read(&mut scratch) => match read {
                Ok(n) if n > 0 && inbound + n <= MAX_INBOUND => inbound += n,
                _ => return,
            },
        }
    }
    let _ = writer.shutdown().await;
}

/// The head of an event stream's response; with the CORS headers that let
/// a page on `origin` (admitted) read it.
fn response_head(origin: Option<&str>, request_id: &str) -> Vec<u8> {
    let mut head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                     x-accel-buffering: no\r\nvary: origin\r\nconnection: close\r\n"
            .to_vec();
    push_request_id(&mut head, request_id);
    if let Some(origin) = origin.filter(|o| HeaderValue::from_str(o).is_ok()) {
        head.extend_from_slice(b"access-control-allow-origin: ");
        head.extend_from_slice(origin.as_bytes());
        head.extend_from_slice(b"\r\naccess-control-allow-credentials: true\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// An error as a whole HTTP/1.1 response that closes the connection, rendered
/// by [`ApiError::render`] like every other error.
fn error_response(error: &ApiError, request_id: Option<&str>) -> Vec<u8> {
    let mut response = Response::new();
    error.render(&mut response);
    let body = match response.take_body() {
        salvo::http::ResBody::Once(bytes) => bytes,
        _ => Bytes::new(),
    };
    let status = error.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    for (name, value) in response.headers() {
        if name != "content-length" && name != "connection" {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(id) = request_id {
        push_request_id(&mut out, id);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// Adds the `x-request-id` header line (the id is header-safe: see
/// [`access::request_id`]).
fn push_request_id(head: &mut Vec<u8>, request_id: &str) {
    head.extend_from_slice(access::REQUEST_ID.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(request_id.as_bytes());
    head.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
