//! Wire types of the Ovasabi Edge cursor channel, shared by the server, the load
//! generator and the tests. No I/O lives here.
//!
//! # Layout
//! The cursor uplink and downlink frames (bincode 2, `config::standard()`) land
//! here with the live-cursor issue; `protocol/README.md` will document their byte
//! layout and golden vectors.

/// Version tag of the cursor wire format carried by every datagram.
pub const WIRE_VERSION: u8 = 1;
