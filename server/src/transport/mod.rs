//! The live channels' transports, skins over the event bus and the
//! [`crate::cursor`] rooms, all admitted by [`admission::admit`]:
//! - `webtransport`: the cursor channel over WebTransport (its own UDP endpoint);
//! - the event stream (SSE) is served by `http::events` (routed) and
//!   `http::lean` (a connection that opens with it), the cursor fallback's
//!   uplink by `http::cursor`.

pub mod admission;
pub mod webtransport;
