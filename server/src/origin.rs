//! Web origins, as browsers send them in `Origin`: read, compared with the
//! host a request was addressed to, and matched against allowed lists. The
//! policy that uses them (CORS, cross-site refusals, WebTransport) lives with
//! the transports; this module only knows what an origin is.

/// `raw` as an origin, `scheme://host[:port]` in lower case with the
/// scheme's default port left out; `None` unless it is an http(s) origin
/// (no path beyond `/`, no query, no credentials).
pub(crate) fn normalize(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| url.origin().ascii_serialization())
}

/// Whether `origin` (as sent) is the origin of a request addressed to
/// `host` (its `Host` header or authority): same host and port — the scheme
/// is not compared, as a TLS-terminating proxy changes it on the way.
pub(crate) fn is_same_origin(origin: &str, host: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let (Some(origin_host), Some(origin_port)) = (url.host_str(), url.port_or_known_default())
    else {
        return false;
    };
    let Ok(authority) = host.trim().parse::<salvo::http::uri::Authority>() else {
        return false;
    };
    let host_name = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let origin_name = origin_host.trim_start_matches('[').trim_end_matches(']');
    if !host_name.eq_ignore_ascii_case(origin_name) {
        return false;
    }
    match authority.port_u16() {
        Some(port) => port == origin_port,
        None => url.port().is_none(),
    }
}

/// Whether `origin` is one of `allowed` (normalized origins).
pub(crate) fn is_listed(origin: &str, allowed: &[String]) -> bool {
    normalize(origin).is_some_and(|origin| allowed.contains(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            normalize("HTTPS://WWW.Example.com:443/").as_deref(),
            Some("https://www.example.com")
        );
        assert_eq!(
            normalize("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "null",
            "ftp://x.example",
            "https://x.example/path",
            "https://u:p@x.example",
            "*",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(is_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(is_same_origin("https://edge.example", "edge.example"));
        assert!(is_same_origin("https://edge.example", "EDGE.example:443"));
        assert!(is_same_origin("http://[::1]:9000", "[::1]:9000"));
        assert!(!is_same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!is_same_origin("https://evil.example", "edge.example"));
        assert!(!is_same_origin("https://edge.example:8443", "edge.example"));
        assert!(!is_same_origin("null", "edge.example"));
    }

    #[test]
    fn listed_origins() {
        let allowed = vec!["https://www.example.com".to_owned()];
        assert!(is_listed("https://www.example.com", &allowed));
        assert!(is_listed("https://WWW.example.com:443", &allowed));
        assert!(!is_listed("http://www.example.com", &allowed));
        assert!(!is_listed("null", &allowed));
    }
}
