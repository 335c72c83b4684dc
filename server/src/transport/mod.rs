//! The live channels: every way a browser stays connected, one module per
//! transport, each a skin over the event bus and the [`crate::cursor`]
//! rooms, all admitted by [`crate::admission::admit`]:
//! - [`sse`]: the event stream (Server-Sent Events), served by the router or,
//!   on a connection that opens with it, by its lean path ([`sse::lean`]);
//! - [`fallback`]: the cursor channel's uplink for browsers without
//!   WebTransport (their downlink is the event stream);
//! - [`connect`]: the connect tickets a page trades its session for;
//! - [`webtransport`]: the cursor channel over WebTransport (its own UDP
//!   endpoint), and [`webtransport::describe`], where a page learns it.
//!
//! The HTTP router (`crate::http`) mounts their routes; what they read from
//! a request is [`crate::request`].

pub(crate) mod connect;
pub(crate) mod fallback;
pub(crate) mod sse;
pub(crate) mod webtransport;
