//! Which URIs are ours, the Record-Route entries we add (RFC 3261 §16.6 step 4, double
//! record-routing across transports per RFC 5658 §3.2), and flow tokens: a Record-Route
//! entry facing a connection-bound client (a WebSocket browser with a `*.invalid` Contact,
//! RFC 7118 §5) names that connection in its user part, so in-dialog requests that come
//! back through us reach it on the same flow (RFC 5626 §5.3).

use std::net::{IpAddr, SocketAddr};

use sipline_proto::message::{Scheme, UriRef};
use sipline_proto::{ConnId, Flow, TransportKind};

/// Our listeners and domain.
#[derive(Debug, Clone)]
pub(crate) struct Locals {
    pub(crate) addrs: Vec<(TransportKind, SocketAddr)>,
    pub(crate) domain: Option<String>,
}

impl Locals {
    /// The first listener of `kind`.
    pub(crate) fn addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == kind).map(|&(_, a)| a)
    }

    /// Whether `addr` is one of our listeners (any transport).
    pub(crate) fn is_local_addr(&self, addr: SocketAddr) -> bool {
        self.addrs.iter().any(|&(_, a)| a == addr)
    }

    /// Whether `host[:port]` names us: our domain, or the address of one of our listeners
    /// (a missing port meaning the transport's default, RFC 3261 §19.1.2).
    pub(crate) fn is_ours(&self, uri: &UriRef<'_>) -> bool {
        let host = uri.host();
        if host.is_empty() {
            return false;
        }
        if let Some(d) = &self.domain
            && host.eq_ignore_ascii_case(d)
        {
            return true;
        }
        let Some(ip) = parse_ip(host) else {
            return false;
        };
        self.addrs
            .iter()
            .any(|&(kind, a)| a.ip() == ip && a.port() == uri.port().unwrap_or(kind.default_port()))
    }

    /// A Record-Route value for our `kind` listener, with a flow token when `flow` is a
    /// connection (§16.6 step 4; RFC 5626 §5.3).
    pub(crate) fn record_route(&self, kind: TransportKind, flow: Option<Flow>) -> Option<String> {
        let addr = self.addr(kind)?;
        let host = match addr {
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            SocketAddr::V4(a) => a.to_string(),
        };
        let user = flow
            .and_then(|f| f.conn.map(|c| (c, f.remote)))
            .map(|(c, remote)| format!("{}@", encode_token(c, remote)))
            .unwrap_or_default();
        let transport = if kind == TransportKind::Udp {
            String::new()
        } else {
            format!(";transport={}", kind.uri_param())
        };
        Some(format!("<sip:{user}{host}{transport};lr>"))
    }
}

/// `host` as an IP address (IPv6 references keep brackets in URIs).
pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The transport a URI asks for: its `transport` parameter, TLS for `sips:`, else UDP
/// (RFC 3263 §4.1 without NAPTR/SRV).
pub(crate) fn uri_transport(uri: &UriRef<'_>) -> Option<TransportKind> {
    match uri.transport() {
        Some(t) => TransportKind::from_via(t),
        None if uri.scheme() == Scheme::Sips => Some(TransportKind::Tls),
        None => Some(TransportKind::Udp),
    }
}

/// Where a URI with an IP host leads (RFC 3263 §4.2 for numeric hosts). Names are not
/// resolved: the core does no I/O.
pub(crate) fn uri_flow(uri: &UriRef<'_>) -> Option<Flow> {
    let ip = parse_ip(uri.host())?;
    let transport = uri_transport(uri)?;
    Some(Flow {
        transport,
        remote: SocketAddr::new(ip, uri.port().unwrap_or(transport.default_port())),
        conn: None,
    })
}

/// `c<conn>-<port>-<ip>`: digits, `.`, `-` and hex only (an IPv6 `:` becomes `-`), all
/// unreserved in a URI user part (RFC 3261 §25.1).
fn encode_token(conn: ConnId, remote: SocketAddr) -> String {
    let ip = remote.ip().to_string().replace(':', "_");
    format!("c{}-{}-{ip}", conn.0, remote.port())
}

/// The flow named by the user part of one of our Record-Route URIs, over `transport`.
pub(crate) fn decode_token(user: &str, transport: TransportKind) -> Option<Flow> {
    let rest = user.strip_prefix('c')?;
    let mut it = rest.splitn(3, '-');
    let conn: u64 = it.next()?.parse().ok()?;
    let port: u16 = it.next()?.parse().ok()?;
    let ip: IpAddr = it.next()?.replace('_', ":").parse().ok()?;
    Some(Flow {
        transport,
        remote: SocketAddr::new(ip, port),
        conn: Some(ConnId(conn)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sipline_proto::NameAddr;

    fn locals() -> Locals {
        Locals {
            addrs: vec![
                (TransportKind::Udp, "127.0.0.1:5060".parse().unwrap()),
                (TransportKind::Ws, "127.0.0.1:5066".parse().unwrap()),
            ],
            domain: Some("sipline.test".into()),
        }
    }

    #[test]
    fn ours_by_domain_or_listener() {
        let l = locals();
        for (u, ours) in [
            ("sip:alice@sipline.test", true),
            ("sip:alice@SIPLINE.test:7000", true),
            ("sip:127.0.0.1", true),
            ("sip:127.0.0.1:5066;transport=ws", true),
            ("sip:127.0.0.1:5070", false),
            ("sip:bob@example.com", false),
        ] {
            assert_eq!(l.is_ours(&UriRef::parse(u).unwrap()), ours, "{u}");
        }
    }

    #[test]
    fn flow_tokens_round_trip_in_record_route() {
        let l = locals();
        for remote in ["127.0.0.1:40000", "[::1]:40001"] {
            let flow = Flow {
                transport: TransportKind::Ws,
                remote: remote.parse().unwrap(),
                conn: Some(ConnId(42)),
            };
            let rr = l.record_route(TransportKind::Ws, Some(flow)).unwrap();
            let na = NameAddr::parse(&rr).unwrap();
            assert!(l.is_ours(&na.uri), "{rr}");
            assert!(na.uri.params().contains("lr"));
            let back = decode_token(na.uri.user().unwrap(), TransportKind::Ws).unwrap();
            assert_eq!(back, flow);
        }
        assert_eq!(
            l.record_route(TransportKind::Udp, None).unwrap(),
            "<sip:127.0.0.1:5060;lr>"
        );
        assert!(l.record_route(TransportKind::Tcp, None).is_none());
        assert!(decode_token("alice", TransportKind::Ws).is_none());
    }
}
