//! Interop of the public API with Kamailio (Debian `kamailio`, `kamailio-websocket-modules`)
//! as registrar and record-routing proxy with digest authentication, over UDP, TCP and
//! WebSocket on 127.0.0.1.
//!
//! Each test starts Kamailio with `interop/kamailio/kamailio.cfg` (ports filled in, checked
//! with `kamailio -c` first). Two sipline [`Ua`]s, alice and bob, register through it with
//! digest (401), alice calls `sip:bob@sipline.test` through it (her INVITE authenticated with
//! 407), bob answers; each side hears the other's tone (440 Hz / 880 Hz), DTMF by INFO reaches
//! bob through the recorded route, alice hangs up, both see the call end. Bob's INVITE must
//! carry Kamailio's Record-Route and Via. A wrong password is refused with 403.
//!
//! Kamailio runs under a guard that stops it by its pid (SIGTERM, which also stops its
//! children; SIGKILL to its process group if it lingers) on every path, and prints its log
//! when a test fails. Kamailio is required: if it is missing the tests fail and say how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, DtmfOptions, Error, HeaderName, InviteOptions,
    SessionEvent, StatusCode, ToneSource, TransportKind, Ua, UaEvent, tone_frequency,
};
use tokio::time::timeout;

/// The domain our users belong to (an alias of Kamailio, and the digest realm).
const DOMAIN: &str = "sipline.test";

#[path = "common/kamailio.rs"]
mod kamailio;
use kamailio::Kamailio;

#[path = "common/calls.rs"]
mod calls;
use calls::{incoming, next, next_after_progress};

/// A Kamailio for one test, in its own directory.
fn start_kamailio() -> Kamailio {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sipline-kamailio-{}-{n}", std::process::id()));
    Kamailio::start(&dir, DOMAIN)
}

impl Kamailio {
    /// The outbound proxy URI for `transport`.
    fn proxy(&self, transport: TransportKind) -> String {
        match transport {
            TransportKind::Udp => format!("sip:127.0.0.1:{}", self.sip_port),
            TransportKind::Tcp => format!("sip:127.0.0.1:{};transport=tcp", self.sip_port),
            TransportKind::Ws => format!("sip:127.0.0.1:{};transport=ws", self.ws_port),
            t => panic!("no Kamailio listener for {t}"),
        }
    }

    /// The port Kamailio serves `transport` on.
    fn port(&self, transport: TransportKind) -> u16 {
        if transport == TransportKind::Ws {
            self.ws_port
        } else {
            self.sip_port
        }
    }
}

/// A user agent for `user` with a listener of `transport`, registering through Kamailio.
async fn ua(
    kam: &Kamailio,
    user: &str,
    password: &str,
    transport: TransportKind,
) -> Result<Ua, Error> {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let b = Ua::builder()
        .uri(format!("sip:{user}@{DOMAIN}"))
        .password(password)
        .registrar(format!("sip:{DOMAIN}"))
        .register_expires(300)
        .outbound_proxy(kam.proxy(transport));
    let b = match transport {
        TransportKind::Udp => b.udp(any),
        TransportKind::Tcp => b.tcp(any),
        TransportKind::Ws => b.ws(any),
        t => panic!("{t}"),
    };
    timeout(Duration::from_secs(10), b.build())
        .await
        .expect("no answer to REGISTER within 10 s")
}

async fn registered(kam: &Kamailio, user: &str, transport: TransportKind) -> Ua {
    let ua = ua(kam, user, &format!("{user}-secret"), transport)
        .await
        .unwrap_or_else(|e| panic!("{user} did not register over {transport}: {e}"));
    match timeout(Duration::from_secs(5), ua.next_event()).await {
        Ok(Some(UaEvent::Registered { expires })) => assert!(expires > 0 && expires <= 300),
        other => panic!("{user}: expected Registered, got {other:?}"),
    }
    ua
}

/// Alice and bob register over `transport` and call each other through Kamailio.
async fn call_through_kamailio(transport: TransportKind) {
    let kam = start_kamailio();
    let alice = registered(&kam, "alice", transport).await;
    let bob = registered(&kam, "bob", transport).await;

    let alice_hears = BufferSink::new(8000);
    let alice_ear = alice_hears.handle();
    let mut call = alice
        .invite(
            &format!("sip:bob@{DOMAIN}"),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(alice_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let mut answer = incoming(&bob).await;

    // Kamailio was in the path: it record-routed and added its Via on its port.
    let invite = answer.request().unwrap();
    let kam_port = kam.port(transport);
    let rr: Vec<&str> = invite.headers.values(HeaderName::RecordRoute).collect();
    assert!(
        rr.iter()
            .any(|r| r.contains(&format!("127.0.0.1:{kam_port}")) && r.contains(";lr")),
        "bob's INVITE has no Record-Route of Kamailio: {rr:?}"
    );
    let vias: Vec<&str> = invite.headers.values(HeaderName::Via).collect();
    assert_eq!(vias.len(), 2, "Kamailio's Via and alice's: {vias:?}");
    assert!(
        vias[0].contains(&format!("127.0.0.1:{kam_port}")),
        "{vias:?}"
    );
    assert_eq!(invite.uri.user(), Some("bob"));
    assert_eq!(
        answer.remote_identity().as_deref(),
        Some(format!("sip:alice@{DOMAIN}").as_str())
    );

    // Kamailio challenged alice's INVITE (407) and took the one with her credentials.
    let invites = kam
        .log()
        .matches(&format!("request INVITE sip:bob@{DOMAIN}"))
        .count();
    assert_eq!(invites, 2, "the INVITE, then with Proxy-Authorization");
    assert!(!invite.headers.contains(HeaderName::ProxyAuthorization));

    let bob_hears = BufferSink::new(8000);
    let bob_ear = bob_hears.handle();
    answer
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(8000, 880.0, -10.0)),
            audio_sink: Box::new(bob_hears),
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    let accepted = next_after_progress(&mut call).await;
    assert!(
        matches!(accepted, SessionEvent::Accepted { code, .. } if code == StatusCode::OK),
        "{accepted:?}"
    );
    assert!(
        matches!(next(&mut answer).await, SessionEvent::Accepted { .. }),
        "bob's session did not see the ACK through Kamailio"
    );

    // One second of audio each way (RTP goes directly between the two).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let heard_by_bob = tone_frequency(&bob_ear.take(), 8000).expect("bob heard nothing");
    let heard_by_alice = tone_frequency(&alice_ear.take(), 8000).expect("alice heard nothing");
    eprintln!("{transport}: bob heard {heard_by_bob:.1} Hz, alice heard {heard_by_alice:.1} Hz");
    assert!(
        (heard_by_bob - 440.0).abs() < 5.0,
        "bob heard {heard_by_bob} Hz"
    );
    assert!(
        (heard_by_alice - 880.0).abs() < 5.0,
        "alice heard {heard_by_alice} Hz"
    );

    // DTMF by INFO follows the recorded route through Kamailio.
    call.dtmf(
        "5#",
        DtmfOptions {
            inter_tone_gap: Duration::from_millis(100),
            duration: Duration::from_millis(200),
            ..DtmfOptions::default()
        },
    )
    .await
    .unwrap();
    for want in ['5', '#'] {
        match next(&mut answer).await {
            SessionEvent::Dtmf { tone, request, .. } => {
                assert_eq!(tone, want);
                let info = request.expect("DTMF by INFO");
                assert!(
                    info.headers.count(HeaderName::Via) >= 2,
                    "the INFO did not come through Kamailio: {info:?}"
                );
            }
            e => panic!("expected DTMF {want}, got {e:?}"),
        }
    }

    // Alice hangs up.
    call.bye(ByeOptions::default()).await.unwrap();
    loop {
        match next(&mut call).await {
            SessionEvent::Terminated { cause } => {
                assert_eq!(cause, Cause::Bye);
                break;
            }
            SessionEvent::Bye { .. } => {}
            e => panic!("alice: {e:?}"),
        }
    }
    let mut bob_saw_bye = false;
    loop {
        match next(&mut answer).await {
            SessionEvent::Bye { request } => {
                assert!(
                    request.headers.count(HeaderName::Via) >= 2,
                    "the BYE did not come through Kamailio: {request:?}"
                );
                bob_saw_bye = true;
            }
            SessionEvent::Terminated { cause } => {
                assert_eq!(cause, Cause::Bye);
                break;
            }
            e => panic!("bob: {e:?}"),
        }
    }
    assert!(bob_saw_bye, "bob's session ended without the BYE");
    eprintln!("{transport}: registered, called, heard, DTMF, BYE, terminated");

    for (name, ua) in [("alice", &alice), ("bob", &bob)] {
        timeout(Duration::from_secs(5), ua.unregister())
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer to the unregistering REGISTER"))
            .unwrap_or_else(|e| panic!("{name} did not unregister: {e}"));
        ua.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uas_call_through_kamailio_over_udp() {
    call_through_kamailio(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uas_call_through_kamailio_over_tcp() {
    call_through_kamailio(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uas_call_through_kamailio_over_websocket() {
    call_through_kamailio(TransportKind::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_refuses_a_wrong_password() {
    let kam = start_kamailio();
    let r = ua(&kam, "alice", "wrong", TransportKind::Udp).await;
    assert!(
        matches!(r, Err(Error::Rejected(s)) if s == StatusCode::FORBIDDEN),
        "{r:?}"
    );
}
