//! A call through a record-routing proxy (RFC 3261 §12.1, §16.6, §16.12), as Kamailio does
//! it: alice sends her INVITE to the proxy, which adds a Record-Route and forwards it to bob.
//! Bob's 2xx must carry the Record-Route back (§12.1.1), so alice's route set holds the
//! proxy and her ACK, INFO and BYE go through it, not straight to bob's Contact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_proto::{
    Body, Flow, HeaderName, InviteParams, Limits, LocalTransport, Message, Method, Receive,
    ReplyParams, Response, SessionId, SessionState, StatusCode, Transmit, TransportKind, UaConfig,
    UaCore, UaEvent, Uri, parse_message,
};
use sipline_sim::{Link, Net, Node, Poll};

const ALICE: usize = 0;
const PROXY: usize = 1;
const BOB: usize = 2;

fn addr(i: usize) -> SocketAddr {
    format!("10.0.0.{}:5060", i + 1).parse().unwrap()
}

fn flow(to: SocketAddr) -> Flow {
    Flow {
        transport: TransportKind::Udp,
        remote: to,
        conn: None,
    }
}

/// Where a SIP URI points (an IP address host; port 5060 by default).
fn uri_addr(uri: &Uri) -> SocketAddr {
    SocketAddr::new(uri.host().parse().unwrap(), uri.port().unwrap_or(5060))
}

/// A stateless loose-routing proxy (§16.4, §16.11) that record-routes INVITEs.
#[derive(Default)]
struct RecordRoutingProxy {
    out: VecDeque<Transmit>,
    /// The methods of the requests it forwarded.
    forwarded: Vec<Method>,
}

impl RecordRoutingProxy {
    fn receive(&mut self, r: Receive) {
        match parse_message(r.payload, &Limits::default()).unwrap() {
            Message::Request(mut req) => {
                // Our own Route goes (§16.4); the next one, if any, is the next hop.
                let mut routes: Vec<String> = req
                    .headers
                    .values(HeaderName::Route)
                    .map(str::to_owned)
                    .collect();
                if routes
                    .first()
                    .is_some_and(|r| r.contains(&addr(PROXY).to_string()))
                {
                    routes.remove(0);
                }
                req.headers.remove(HeaderName::Route);
                for route in routes.iter().rev() {
                    req.headers.push_front(HeaderName::Route, route.as_str());
                }
                if req.method == Method::Invite && req.headers.to().unwrap().tag().is_none() {
                    req.headers
                        .push_front(HeaderName::RecordRoute, format!("<sip:{};lr>", addr(PROXY)));
                }
                let next = match routes.first() {
                    Some(r) => {
                        Uri::parse(r.trim_start_matches('<').split('>').next().unwrap()).unwrap()
                    }
                    None => req.uri.clone(),
                };
                let branch = req.top_via().unwrap().branch().unwrap().to_owned();
                req.headers.push_front(
                    HeaderName::Via,
                    format!("SIP/2.0/UDP {};branch=z9hG4bK{branch}p", addr(PROXY)),
                );
                self.forwarded.push(req.method.clone());
                self.out.push_back(Transmit {
                    flow: flow(uri_addr(&next)),
                    payload: req.to_bytes(),
                });
            }
            Message::Response(mut resp) => {
                let vias: Vec<String> = resp
                    .headers
                    .values(HeaderName::Via)
                    .map(str::to_owned)
                    .collect();
                resp.headers.remove(HeaderName::Via);
                for v in vias.iter().skip(1).rev() {
                    resp.headers.push_front(HeaderName::Via, v.as_str());
                }
                // The next Via's sent-by: "SIP/2.0/UDP host:port;params".
                let sent_by = vias[1].split_whitespace().nth(1).unwrap();
                let to: SocketAddr = sent_by.split(';').next().unwrap().parse().unwrap();
                self.out.push_back(Transmit {
                    flow: flow(to),
                    payload: resp.to_bytes(),
                });
            }
        }
    }
}

#[allow(clippy::large_enum_variant)]
enum Peer {
    Ua(UaCore),
    Proxy(RecordRoutingProxy),
}

impl Node for Peer {
    type Event = UaEvent;

    fn receive(&mut self, now: Instant, r: Receive) {
        match self {
            Peer::Ua(u) => u.receive(now, r),
            Peer::Proxy(p) => p.receive(r),
        }
    }

    fn timeout(&mut self, now: Instant) {
        if let Peer::Ua(u) = self {
            u.timeout(now);
        }
    }

    fn poll(&mut self) -> Poll<UaEvent> {
        match self {
            Peer::Ua(u) => u.poll(),
            Peer::Proxy(p) => match p.out.pop_front() {
                Some(t) => Poll::Transmit(t),
                None => Poll::Timeout(None),
            },
        }
    }
}

impl Peer {
    fn ua(&mut self) -> &mut UaCore {
        match self {
            Peer::Ua(u) => u,
            Peer::Proxy(_) => panic!("the proxy is no user agent"),
        }
    }

    fn proxy(&self) -> &RecordRoutingProxy {
        match self {
            Peer::Proxy(p) => p,
            Peer::Ua(_) => panic!("not the proxy"),
        }
    }
}

fn ua(user: &str, i: usize) -> Peer {
    let host = addr(i).to_string();
    let mut cfg = UaConfig::new(
        format!("<sip:{user}@example.com>"),
        LocalTransport {
            kind: TransportKind::Udp,
            sent_by: host.clone(),
            contact: format!("<sip:{user}@{host}>"),
        },
    );
    cfg.endpoint.seed = 200 + i as u64;
    Peer::Ua(UaCore::new(cfg))
}

const SDP: &str = "v=0\r\no=x 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

#[test]
fn in_dialog_requests_follow_the_record_route_through_the_proxy() {
    let mut net: Net<Peer> = Net::new(41);
    net.add_node(ua("alice", ALICE));
    net.add_node(Peer::Proxy(RecordRoutingProxy::default()));
    net.add_node(ua("bob", BOB));
    net.set_default_link(Link {
        latency: Duration::from_millis(10),
        ..Link::default()
    });
    let now = net.now();
    let to_proxy = net.flow(ALICE, PROXY, TransportKind::Udp);
    let a: SessionId = net
        .node_mut(ALICE)
        .ua()
        .invite(
            now,
            InviteParams {
                target: Uri::parse(&format!("sip:bob@{}", addr(BOB))).unwrap(),
                flow: to_proxy,
                offer: Some(Body::sdp(SDP)),
                headers: Vec::new(),
                rel100: None,
            },
        )
        .unwrap();
    let mut ok_record_route = None;
    let mut bob_session = None;
    let mut bob_events = Vec::new();
    net.run_until(Duration::from_secs(2), |net, node, e| {
        let now = net.now();
        match (node, &e) {
            (BOB, UaEvent::Incoming { session, .. }) => {
                bob_session = Some(*session);
                net.node_mut(BOB)
                    .ua()
                    .accept(
                        now,
                        *session,
                        ReplyParams::status(StatusCode::OK).with_body(Body::sdp(SDP)),
                    )
                    .unwrap();
            }
            (ALICE, UaEvent::Accepted { response, .. }) => {
                ok_record_route = response
                    .as_ref()
                    .expect("the 200")
                    .headers
                    .get(HeaderName::RecordRoute)
                    .map(str::to_owned);
                net.node_mut(ALICE)
                    .ua()
                    .request_in_dialog(now, a, Method::Info, &[], None)
                    .unwrap();
            }
            (BOB, UaEvent::InDialogRequest { tx, request, .. }) => {
                bob_events.push(format!("{:?}", request.method));
                let ok = Response::from_request(request, StatusCode::OK, None);
                net.node_mut(BOB).ua().respond(now, *tx, ok).unwrap();
            }
            (ALICE, UaEvent::Response { response, .. }) => {
                assert_eq!(response.as_ref().unwrap().status, StatusCode::OK);
                net.node_mut(ALICE).ua().bye(now, a, &[]).unwrap();
            }
            (BOB, e) => bob_events.push(
                format!("{e:?}")
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned(),
            ),
            _ => {}
        }
    })
    .unwrap();
    // Bob's 200 carried the proxy's Record-Route back; alice's route set holds the proxy.
    let rr = format!("<sip:{};lr>", addr(PROXY));
    assert_eq!(ok_record_route.as_deref(), Some(rr.as_str()));
    assert!(bob_session.is_some());
    // ACK, INFO and BYE went through the proxy, nothing from alice straight to bob.
    let forwarded = &net.node(PROXY).proxy().forwarded;
    for m in [Method::Invite, Method::Ack, Method::Info, Method::Bye] {
        assert!(
            forwarded.contains(&m),
            "{m:?} not via the proxy: {forwarded:?}"
        );
    }
    assert!(
        !net.packets.iter().any(|p| p.from == ALICE && p.to == BOB),
        "alice sent to bob directly"
    );
    assert_eq!(
        net.node_mut(ALICE).ua().state(a),
        Some(SessionState::Terminated)
    );
    assert!(bob_events.iter().any(|e| e == "Bye"), "{bob_events:?}");
}
