//! A forked INVITE (RFC 3261 §13.2.2, §16): alice calls through a stateless forking proxy that
//! sends her INVITE to bob and carol. Both ring (two early dialogs, RFC 3261 §12.1.2), bob
//! answers first, and carol's later 2xx is ACKed and ended with a BYE (§13.2.2.4); alice's
//! session stays with bob.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sipline_proto::{
    Body, Flow, HeaderName, InviteParams, Limits, LocalTransport, Message, Receive, ReplyParams,
    SessionId, SessionState, StatusCode, Transmit, TransportKind, UaConfig, UaCore, UaEvent, Uri,
    parse_message,
};
use sipline_sim::{Link, Net, Node, Poll};

const ALICE: usize = 0;
const PROXY: usize = 1;
const BOB: usize = 2;
const CAROL: usize = 3;

fn addr(i: usize) -> std::net::SocketAddr {
    format!("10.0.0.{}:5060", i + 1).parse().unwrap()
}

/// A stateless proxy (RFC 3261 §16.11) that forks every request from alice to bob and carol,
/// and sends responses back along their Via.
#[derive(Default)]
struct ForkingProxy {
    out: VecDeque<Transmit>,
}

impl ForkingProxy {
    fn flow(to: std::net::SocketAddr) -> Flow {
        Flow {
            transport: TransportKind::Udp,
            remote: to,
            conn: None,
        }
    }

    fn receive(&mut self, r: Receive) {
        let limits = Limits::default();
        match parse_message(r.payload, &limits).unwrap() {
            Message::Request(req) => {
                let branch = req.top_via().unwrap().branch().unwrap().to_owned();
                for (i, target) in [BOB, CAROL].into_iter().enumerate() {
                    let mut fwd = req.clone();
                    // The same derived branch for the INVITE and its CANCEL (§16.11).
                    fwd.headers.push_front(
                        HeaderName::Via,
                        format!("SIP/2.0/UDP {};branch=z9hG4bK{branch}p{i}", addr(PROXY)),
                    );
                    fwd.uri = Uri::parse(&format!("sip:user@{}", addr(target))).unwrap();
                    self.out.push_back(Transmit {
                        flow: Self::flow(addr(target)),
                        payload: fwd.to_bytes(),
                    });
                }
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
                self.out.push_back(Transmit {
                    flow: Self::flow(addr(ALICE)),
                    payload: resp.to_bytes(),
                });
            }
        }
    }
}

/// A user agent or the proxy.
#[allow(clippy::large_enum_variant)]
enum Peer {
    Ua(UaCore),
    Proxy(ForkingProxy),
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
    cfg.endpoint.seed = 100 + i as u64;
    Peer::Ua(UaCore::new(cfg))
}

const SDP: &str = "v=0\r\no=x 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

#[test]
fn two_early_dialogs_then_the_second_2xx_is_acked_and_byed() {
    let mut net: Net<Peer> = Net::new(40);
    net.add_node(ua("alice", ALICE));
    net.add_node(Peer::Proxy(ForkingProxy::default()));
    net.add_node(ua("bob", BOB));
    net.add_node(ua("carol", CAROL));
    net.set_default_link(Link {
        latency: Duration::from_millis(10),
        ..Link::default()
    });
    let now = net.now();
    let flow = net.flow(ALICE, PROXY, TransportKind::Udp);
    let a: SessionId = net
        .node_mut(ALICE)
        .ua()
        .invite(
            now,
            InviteParams {
                target: Uri::parse("sip:everyone@example.com").unwrap(),
                flow,
                offer: Some(Body::sdp(SDP)),
                headers: Vec::new(),
                rel100: None,
            },
        )
        .unwrap();
    // bob and carol ring at once; bob answers after 100 ms, carol after 300 ms.
    let mut pending: Vec<(usize, SessionId, Duration)> = Vec::new();
    let mut progress_tags = Vec::new();
    let mut alice_events = Vec::new();
    let mut carol_events = Vec::new();
    while net.elapsed() < Duration::from_secs(40) {
        net.run_until(net.elapsed() + Duration::from_millis(10), |net, node, e| {
            let t = net.elapsed();
            if let UaEvent::Incoming { session, .. } = &e {
                let now = net.now();
                net.node_mut(node)
                    .ua()
                    .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                    .unwrap();
                let after = if node == BOB { 100 } else { 300 };
                pending.push((node, *session, t + Duration::from_millis(after)));
            }
            if node == ALICE {
                if let UaEvent::Progress { response, .. } = &e
                    && response.status == StatusCode::RINGING
                {
                    progress_tags.push(response.headers.to().unwrap().tag().unwrap().to_owned());
                }
                alice_events.push(
                    format!("{e:?}")
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
            if node == CAROL {
                carol_events.push(
                    format!("{e:?}")
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        })
        .unwrap();
        let now = net.now();
        let t = net.elapsed();
        pending.retain(|(node, sid, at)| {
            if t >= *at {
                net.node_mut(*node)
                    .ua()
                    .accept(
                        now,
                        *sid,
                        ReplyParams::status(StatusCode::OK).with_body(Body::sdp(SDP)),
                    )
                    .unwrap();
                false
            } else {
                true
            }
        });
    }
    // Two early dialogs: a 180 from each fork, with different To tags.
    assert_eq!(progress_tags.len(), 2, "{alice_events:?}");
    assert_ne!(progress_tags[0], progress_tags[1]);
    // alice's session is with bob.
    assert_eq!(
        net.node_mut(ALICE).ua().state(a),
        Some(SessionState::Confirmed)
    );
    let dialog = net.node_mut(ALICE).ua().dialog(a).unwrap();
    assert_eq!(
        dialog.remote_target().as_str(),
        format!("sip:bob@{}", addr(BOB))
    );
    // carol's 2xx was ACKed, then ended with a BYE straight to her Contact (§13.2.2.4).
    let acks_to_carol = net
        .packets
        .iter()
        .filter(|p| p.from == ALICE && p.to == CAROL && p.first_line().starts_with("ACK "))
        .count();
    let byes_to_carol = net
        .packets
        .iter()
        .filter(|p| p.from == ALICE && p.to == CAROL && p.first_line().starts_with("BYE "))
        .count();
    assert_eq!((acks_to_carol, byes_to_carol), (1, 1));
    assert!(carol_events.iter().any(|e| e == "Bye"), "{carol_events:?}");
    // bob's call is untouched: no BYE to bob.
    assert!(
        !net.packets
            .iter()
            .any(|p| p.to == BOB && p.first_line().starts_with("BYE "))
    );
}
