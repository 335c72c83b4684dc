//! Who is calling: the client's address, as every entry point (the routed
//! REST API, the lean event-stream path, the WebTransport endpoint) reads it,
//! and the key its per-address limits count under. Nothing else reads a peer
//! address.

use std::net::IpAddr;

/// The client's address, from the address of the peer that connected (an
/// IPv4 address mapped into IPv6 is read as the IPv4 address it is). `None`
/// when the peer has no IP address (a Unix socket).
pub fn client_address(peer: Option<IpAddr>) -> Option<IpAddr> {
    peer.map(|ip| ip.to_canonical())
}

/// The key a client's per-address limits (rate limits, connection caps)
/// count under.
pub fn rate_limit_key(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_read_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        let plain: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(client_address(Some(mapped)), Some(plain));
        assert_eq!(rate_limit_key(client_address(Some(mapped))), "192.0.2.7");
        assert_eq!(rate_limit_key(client_address(None)), "unknown");
    }
}
