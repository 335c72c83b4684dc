//! The first request head of a new connection: read (up to [`MAX_HEAD`]
//! bytes), and whether it is an event-stream request this path serves.

use bytes::BytesMut;
use salvo::http::HeaderMap;
use salvo::http::header::{HeaderName, HeaderValue};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::super::StreamRequest;

/// Longest request head looked at; a longer one goes to Salvo as it is.
const MAX_HEAD: usize = 8 * 1024;

/// Whether `head` holds the empty line that ends a request head, with
/// CRLF line endings or bare LF ones (which this path does not serve, but
/// must not wait for more after).
pub(super) fn head_ended(head: &[u8]) -> bool {
    head.windows(2).any(|w| w == b"\n\n") || head.windows(3).any(|w| w == b"\n\r\n")
}

/// Whether `head` has a line ending in a bare LF (no CR before it).
pub(super) fn bare_lf(head: &[u8]) -> bool {
    head.first() == Some(&b'\n') || head.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
}

/// Reads until the end of the first request head, or [`MAX_HEAD`] bytes, or
/// the end of what the client sends.
pub(super) async fn read_head(stream: &mut TcpStream) -> std::io::Result<BytesMut> {
    let mut head = BytesMut::with_capacity(1024);
    loop {
        if head_ended(&head) || head.len() >= MAX_HEAD {
            return Ok(head);
        }
        if head.capacity() == head.len() {
            head.reserve(head.len().min(MAX_HEAD - head.len()).max(1024));
        }
        if stream.read_buf(&mut head).await? == 0 {
            return Ok(head);
        }
    }
}

/// The event-stream request `head` makes, if it is one this path serves: a
/// complete `GET /api/campaign/{slug}/events` without a body or an upgrade.
/// (Public for the fuzz targets: any bytes a client sends come here.)
pub fn event_stream_request(
    head: &[u8],
    peer: Option<std::net::IpAddr>,
    trust: crate::client::ProxyTrust<'_>,
) -> Option<StreamRequest> {
    if bare_lf(head) {
        return None; // Salvo answers it as it answers any such request
    }
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(length) = parsed.parse(head).ok()? else {
        return None;
    };
    if length != head.len() || parsed.method? != "GET" || parsed.version? != 1 {
        return None; // pipelined bytes after it, another method, or HTTP/1.0
    }
    let (path, query) = parsed.path?.split_once('?').unwrap_or((parsed.path?, ""));
    let slug = path
        .strip_prefix("/api/campaign/")?
        .strip_suffix("/events")?;
    if slug.is_empty() || slug.contains('/') {
        return None;
    }
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(header.value).ok()?);
    }
    // Any length but one zero (several, conflicting ones too) is Salvo's to
    // answer: it refuses conflicting lengths with 400.
    let has_body = map.contains_key("transfer-encoding")
        || map
            .get_all("content-length")
            .iter()
            .any(|v| v.as_bytes() != b"0");
    if has_body || map.contains_key("upgrade") {
        return None;
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let client = crate::client::client_address(peer, &map, trust);
    Some(StreamRequest::new(slug, &map, &query, client))
}
