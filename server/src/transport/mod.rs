//! Transports of the cursor channel: skins over the [`crate::cursor`] rooms.
//! WebTransport lives here; the SSE fallback is part of the event stream
//! (`http::events`) and its uplink is `http::cursor`.

pub mod webtransport;

/// A page path as a room name: starts with `/`, at most 200 characters, no
/// control characters; anything else is `/`.
pub fn normalize_page(page: Option<&str>) -> String {
    match page.map(str::trim) {
        Some(p)
            if p.starts_with('/')
                && p.chars().count() <= 200
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}
