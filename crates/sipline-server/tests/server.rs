//! The registrar and proxy over real sockets on 127.0.0.1, with sipline user agents as
//! clients: digest registration, calls between a UDP and a WebSocket client in both
//! directions with audio, forking, CANCEL, 404/480, garbage input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, Error, InviteOptions, ProgressOptions,
    SessionEvent, StatusCode, ToneSource, TransportKind, Ua, UaEvent,
};
use sipline_server::{Server, ServerEvent, UnregisterReason, Users};
use tokio::time::timeout;

#[path = "../../sipline/tests/common/calls.rs"]
mod calls;
use calls::{accept_with_tone, hears, incoming, next_after_progress as next};

const DOMAIN: &str = "sipline.test";

async fn server(users: Option<&str>) -> Server {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let b = Server::builder().udp(any).tcp(any).ws(any).domain(DOMAIN);
    let b = match users {
        Some(u) => b.users(Users::parse(u).unwrap()),
        None => b,
    };
    b.start().await.unwrap()
}

fn proxy_uri(s: &Server, transport: TransportKind) -> String {
    let a = s.local_addr(transport).unwrap();
    match transport {
        TransportKind::Udp => format!("sip:{a}"),
        t => format!("sip:{a};transport={}", t.uri_param()),
    }
}

/// A UA for `user` on `transport`, registering through `s`.
async fn ua(s: &Server, user: &str, password: &str, transport: TransportKind) -> Result<Ua, Error> {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let b = Ua::builder()
        .uri(format!("sip:{user}@{DOMAIN}"))
        .password(password)
        .registrar(format!("sip:{DOMAIN}"))
        .register_expires(300)
        .outbound_proxy(proxy_uri(s, transport));
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

async fn registered(s: &Server, user: &str, transport: TransportKind) -> Ua {
    let ua = ua(s, user, "secret", transport)
        .await
        .unwrap_or_else(|e| panic!("{user} did not register over {transport}: {e}"));
    match timeout(Duration::from_secs(5), ua.next_event()).await {
        Ok(Some(UaEvent::Registered { expires })) => assert!(expires > 0 && expires <= 300),
        other => panic!("{user}: expected Registered, got {other:?}"),
    }
    ua
}

/// `from` calls `to_user` through the server; both play a tone and hear the other's; the
/// callee (or the caller) hangs up through the Record-Route path.
async fn call_with_audio(from: &Ua, to: &Ua, to_user: &str, callee_hangs_up: bool) {
    let caller_hears = BufferSink::new(8000);
    let caller_ear = caller_hears.handle();
    let mut call = from
        .invite(
            &format!("sip:{to_user}@{DOMAIN}"),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(caller_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let mut answer = incoming(to).await;
    let invite = answer.request().unwrap();
    let rr: Vec<&str> = invite
        .headers
        .get_all(sipline::HeaderName::RecordRoute)
        .collect();
    assert!(!rr.is_empty(), "the server record-routes the INVITE");
    let callee_ear = accept_with_tone(&answer, 880.0).await;
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&mut answer).await,
        SessionEvent::Accepted { .. }
    ));
    hears(&callee_ear, 440.0, "callee").await;
    hears(&caller_ear, 880.0, "caller").await;
    let (hangs, other) = if callee_hangs_up {
        (&mut answer, &mut call)
    } else {
        (&mut call, &mut answer)
    };
    hangs.bye(ByeOptions::default()).await.unwrap();
    assert!(matches!(next(other).await, SessionEvent::Bye { .. }));
    assert!(matches!(
        next(other).await,
        SessionEvent::Terminated { cause: Cause::Bye }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_and_websocket_clients_call_each_other_through_the_server() {
    let s = server(Some("alice:secret\nbob:secret\n")).await;
    let alice = registered(&s, "alice", TransportKind::Udp).await;
    let bob = registered(&s, "bob", TransportKind::Ws).await;
    let regs = s.registrations().await.unwrap();
    assert_eq!(regs.len(), 2, "{regs:?}");
    let bob_reg = regs.iter().find(|r| r.aor == "bob").unwrap();
    assert_eq!(bob_reg.flow.transport, TransportKind::Ws);
    assert!(bob_reg.flow.conn.is_some(), "bound to its connection");
    // UDP -> WS, the callee hangs up; WS -> UDP, the caller hangs up.
    call_with_audio(&alice, &bob, "bob", true).await;
    call_with_audio(&bob, &alice, "alice", false).await;
    // bob's connection closes: his binding goes with it (RFC 5626 §5.4).
    bob.stop().await;
    let mut gone = false;
    for _ in 0..50 {
        let ev = timeout(Duration::from_secs(5), s.next_event())
            .await
            .unwrap();
        if let Some(ServerEvent::Unregistered { aor, reason, .. }) = ev
            && aor == "bob"
        {
            assert_eq!(reason, UnregisterReason::ConnectionClosed);
            gone = true;
            break;
        }
    }
    assert!(gone);
    assert_eq!(s.registrations().await.unwrap().len(), 1);
    alice.stop().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_registration_good_and_wrong_password() {
    let s = server(Some("alice:secret\n")).await;
    let ok = registered(&s, "alice", TransportKind::Tcp).await;
    match ua(&s, "alice", "wrong", TransportKind::Udp).await {
        Err(Error::Rejected(code)) => assert_eq!(code, StatusCode::FORBIDDEN),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a wrong password registered"),
    }
    match ua(&s, "mallory", "secret", TransportKind::Udp).await {
        Err(Error::Rejected(code)) => assert_eq!(code, StatusCode::FORBIDDEN),
        other => panic!("unknown user: {other:?}"),
    }
    assert_eq!(s.registrations().await.unwrap().len(), 1);
    ok.unregister().await.unwrap();
    assert!(s.registrations().await.unwrap().is_empty());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forking_first_answer_wins_the_other_is_cancelled() {
    let s = server(None).await;
    let alice = registered(&s, "alice", TransportKind::Udp).await;
    let bob1 = registered(&s, "bob", TransportKind::Udp).await;
    let bob2 = registered(&s, "bob", TransportKind::Tcp).await;
    assert_eq!(s.registrations().await.unwrap().len(), 3);
    let mut call = alice
        .invite(&format!("sip:bob@{DOMAIN}"), InviteOptions::default())
        .await
        .unwrap();
    let mut a1 = incoming(&bob1).await;
    let mut a2 = incoming(&bob2).await;
    a1.progress(ProgressOptions::default()).await.unwrap();
    a2.progress(ProgressOptions::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    a2.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(next(&mut a2).await, SessionEvent::Accepted { .. }));
    assert!(matches!(next(&mut a1).await, SessionEvent::Cancel));
    assert!(matches!(
        next(&mut a1).await,
        SessionEvent::Terminated {
            cause: Cause::Canceled
        }
    ));
    call.bye(ByeOptions::default()).await.unwrap();
    assert!(matches!(next(&mut a2).await, SessionEvent::Bye { .. }));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancel_unknown_and_unregistered_users() {
    let s = server(Some("alice:secret\nbob:secret\ncarol:secret\n")).await;
    let alice = registered(&s, "alice", TransportKind::Udp).await;
    let bob = registered(&s, "bob", TransportKind::Ws).await;
    // CANCEL before the answer: the callee sees it, the caller gets 487.
    let mut call = alice
        .invite(&format!("sip:bob@{DOMAIN}"), InviteOptions::default())
        .await
        .unwrap();
    let mut answer = incoming(&bob).await;
    answer.progress(ProgressOptions::default()).await.unwrap();
    loop {
        match timeout(Duration::from_secs(10), call.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::Progress { response }) if response.status == StatusCode::RINGING => {
                break;
            }
            Some(_) => {}
            None => panic!("call ended"),
        }
    }
    call.cancel(sipline::CancelOptions::default())
        .await
        .unwrap();
    assert!(matches!(next(&mut answer).await, SessionEvent::Cancel));
    loop {
        match next(&mut call).await {
            SessionEvent::Rejected { .. } => {}
            SessionEvent::Failed { code, .. } => {
                assert_eq!(code, Some(StatusCode::REQUEST_TERMINATED));
                break;
            }
            e => panic!("{e:?}"),
        }
    }
    // 404 for a user nobody knows, 480 for a known one not registered.
    for (user, want) in [
        ("nobody", StatusCode::NOT_FOUND),
        ("carol", StatusCode::TEMPORARILY_UNAVAILABLE),
    ] {
        let mut call = alice
            .invite(&format!("sip:{user}@{DOMAIN}"), InviteOptions::default())
            .await
            .unwrap();
        loop {
            match next(&mut call).await {
                SessionEvent::Rejected { response, .. } => assert_eq!(response.status, want),
                SessionEvent::Failed { code, .. } => {
                    assert_eq!(code, Some(want), "{user}");
                    break;
                }
                e => panic!("{e:?}"),
            }
        }
    }
    s.shutdown().await;
}

/// OPTIONS to the server itself over UDP: the status line of the answer.
async fn options_status(sock: &tokio::net::UdpSocket, server: SocketAddr, n: u32) -> String {
    let local = sock.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKping{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:ping@{local}>;tag=p{n}\r\nTo: <sip:{server}>\r\n\
         Call-ID: ping{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("no answer to OPTIONS")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.contains("OPTIONS") {
            return text.lines().next().unwrap_or_default().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_megabyte_on_tcp_leave_it_serving() {
    use tokio::io::AsyncWriteExt;
    let s = server(None).await;
    let udp = s.local_addr(TransportKind::Udp).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(options_status(&sock, udp, 1).await, "SIP/2.0 200 OK");
    for g in [
        &b"\x00\xff\xfe garbage"[..],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nMax-Forwards: 0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 99999\r\n\r\n",
    ] {
        sock.send_to(g, udp).await.unwrap();
    }
    let mut tcp = tokio::net::TcpStream::connect(s.local_addr(TransportKind::Tcp).unwrap())
        .await
        .unwrap();
    let mb = vec![b'A'; 1 << 20];
    let _ = tcp.write_all(&mb).await;
    drop(tcp);
    assert_eq!(options_status(&sock, udp, 2).await, "SIP/2.0 200 OK");
    s.shutdown().await;
}
