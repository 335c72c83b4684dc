//! Who is calling: the client's address, as every entry point (the routed
//! REST API, the lean event-stream path, the WebTransport endpoint) reads it,
//! and the key its per-address limits count under. Nothing else reads a peer
//! address or a forwarding header.
//!
//! Behind a reverse proxy every connection comes from the proxy. When the
//! peer is one of the configured trusted proxies, the client is read from the
//! forwarding header that proxy writes: the rightmost address in it that is
//! not itself a trusted proxy (everything left of that was written by the
//! client and may be forged). From any other peer the headers are ignored.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv6Net};
use salvo::http::HeaderMap;

/// The header trusted proxies name the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx's `proxy_add_x_forwarded_for`).
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    #[value(name = "forwarded")]
    Forwarded,
}

/// Which peers are trusted to name the client, and how they name it.
#[derive(Debug, Clone, Copy)]
pub struct ProxyTrust<'a> {
    /// Trusted proxy networks; empty trusts nobody.
    pub proxies: &'a [IpNet],
    /// The header they write.
    pub header: ForwardedHeader,
}

impl ProxyTrust<'_> {
    /// Trusts nobody: the client is the peer.
    pub const NONE: ProxyTrust<'static> = ProxyTrust {
        proxies: &[],
        header: ForwardedHeader::XForwardedFor,
    };

    fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address: the peer that connected, or, when that peer is a
/// trusted proxy, the address its forwarding header names (see the module
/// documentation). An IPv4 address mapped into IPv6 is read as the IPv4
/// address it is. `None` when the peer has no IP address (a Unix socket).
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trust: ProxyTrust<'_>,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trust.trusts(peer) {
        return Some(peer);
    }
    let hops = forwarded_hops(headers, trust.header);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // An obfuscated or unknown hop: nothing left of it can be believed.
            None => return Some(client),
            Some(ip) if trust.trusts(*ip) => client = *ip,
            Some(ip) => return Some(*ip),
        }
    }
    Some(client)
}

/// The addresses a forwarding header lists, leftmost first, over all its
/// lines; `None` for an entry that is not an address (`unknown`, `_hidden`).
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut hops = Vec::new();
    for line in headers.get_all(name) {
        let Ok(line) = line.to_str() else {
            hops.push(None);
            continue;
        };
        for element in line.split(',') {
            let node = match header {
                ForwardedHeader::XForwardedFor => Some(element),
                ForwardedHeader::Forwarded => element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then_some(value)
                }),
            };
            if let Some(node) = node {
                hops.push(parse_node(node));
            } else if header == ForwardedHeader::Forwarded {
                hops.push(None);
            }
        }
    }
    hops
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `"[2001:db8::1]:4711"`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The key a client's per-address limits (rate limits, connection caps)
/// count under: an IPv4 address, or an IPv6 address's /64 — one network hands
/// its hosts a whole /64, so rotating addresses inside it is one client.
pub(crate) fn rate_limit_key(client: Option<IpAddr>) -> String {
    match client.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => Ipv6Net::new(ip, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| ip.to_string()),
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local (cloud metadata lives there), shared, documentation,
/// benchmarking, multicast, broadcast or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64 (embeds IPv4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header"));
        }
        map
    }

    #[test]
    fn mapped_ipv4_is_read_as_ipv4() {
        let none = HeaderMap::new();
        let mapped = client_address(Some(ip("::ffff:192.0.2.7")), &none, ProxyTrust::NONE);
        assert_eq!(mapped, Some(ip("192.0.2.7")));
        assert_eq!(rate_limit_key(mapped), "192.0.2.7");
        assert_eq!(rate_limit_key(None), "unknown");
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let proxies = ["10.0.0.0/8".parse().expect("net")];
        let trust = ProxyTrust {
            proxies: &proxies,
            header: ForwardedHeader::XForwardedFor,
        };
        let forged = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        // From the proxy: the rightmost untrusted entry (the forged one is left of it).
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &forged, trust),
            Some(ip("203.0.113.9"))
        );
        // From anyone else: ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &forged, trust),
            Some(ip("198.51.100.1"))
        );
        // Several lines are one list; ports and brackets are read.
        let lines = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "[2001:db8::5]:443"),
        ]);
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &lines, trust),
            Some(ip("2001:db8::5"))
        );
        // An unknown hop stops the walk at the last trusted address.
        let unknown = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &unknown, trust),
            Some(ip("10.0.0.1"))
        );
        // The other header is not read.
        let other = headers(&[("forwarded", "for=203.0.113.9")]);
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &other, trust),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn rfc7239_forwarded() {
        let proxies = ["127.0.0.1/32".parse().expect("net")];
        let trust = ProxyTrust {
            proxies: &proxies,
            header: ForwardedHeader::Forwarded,
        };
        let map = headers(&[(
            "forwarded",
            r#"for=6.6.6.6;proto=https, for="[2001:db8:cafe::17]:4711";by=x"#,
        )]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &map, trust),
            Some(ip("2001:db8:cafe::17"))
        );
        let v4 = headers(&[("forwarded", r#"for="192.0.2.43:47011""#)]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &v4, trust),
            Some(ip("192.0.2.43"))
        );
    }

    #[test]
    fn ipv6_keys_are_the_64() {
        assert_eq!(
            rate_limit_key(Some(ip("2001:db8:1:2:aaaa::1"))),
            rate_limit_key(Some(ip("2001:db8:1:2:bbbb::2")))
        );
        assert_eq!(
            rate_limit_key(Some(ip("2001:db8:1:2::9"))),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            rate_limit_key(Some(ip("2001:db8:1:2::1"))),
            rate_limit_key(Some(ip("2001:db8:1:3::1")))
        );
    }

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }
}
