//! Misbehaving peers and failing transports: the runtime keeps serving everyone else, closes
//! what must be closed, and reports failures to the transactions they concern.

// Helpers of the tests fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Peer, Pki, bounded, raw_options, v4};
use sipline_proto::{TransportFailure, TransportKind};
use sipline_tokio::{ConnectionConfig, Runtime, TlsClientConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::Instant;

/// Reads until the peer closes (EOF or reset); returns how long that took.
async fn until_closed(sock: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A peer that sends half a message and stalls: the others are served meanwhile, and the
/// stalled connection is closed once the idle timeout passes.
#[tokio::test]
async fn stalled_tcp_peer_is_closed_after_idle_timeout() {
    bounded(async {
        let idle = Duration::from_millis(800);
        let cfg = ConnectionConfig {
            idle_timeout: idle,
            ..ConnectionConfig::default()
        };
        let mut bob = Peer::start(Runtime::builder().tcp(v4()).connection_config(cfg)).await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();

        let mut stalled = TcpStream::connect(to).await.unwrap();
        let half = raw_options(1, "TCP", "127.0.0.1:9");
        stalled
            .write_all(&half.as_bytes()[..half.len() / 2])
            .await
            .unwrap();
        let stalled_at = Instant::now();

        // Another client is served while the first one stalls.
        let mut alice = Peer::start(Runtime::builder()).await;
        let tx = alice.options(TransportKind::Tcp, to).await;
        alice.expect_ok(tx).await;
        assert!(
            stalled_at.elapsed() < idle,
            "served before the idle timeout"
        );

        until_closed(&mut stalled).await;
        let waited = stalled_at.elapsed();
        assert!(
            waited >= idle - Duration::from_millis(50),
            "closed early: {waited:?}"
        );
        assert!(waited < idle * 4, "closed late: {waited:?}");
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// 1 MB of garbage on a TCP connection: that connection is closed (framing error or size
/// limit), everyone else is still served.
#[tokio::test]
async fn tcp_garbage_closes_only_that_connection() {
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().tcp(v4())).await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();

        for garbage in [garbage(1 << 20, false), garbage(1 << 20, true)] {
            let mut bad = TcpStream::connect(to).await.unwrap();
            let (mut rd, mut wr) = bad.split();
            // The runtime closes the connection long before all of it is written: the
            // write may fail with a reset.
            let write = async {
                let _ = wr.write_all(&garbage).await;
            };
            let read = async {
                let mut buf = [0u8; 4096];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            tokio::join!(write, read);
            drop(bad);
        }

        let mut alice = Peer::start(Runtime::builder()).await;
        let tx = alice.options(TransportKind::Tcp, to).await;
        alice.expect_ok(tx).await;
        common::eventually(|| async { bob.handle.stats().await.unwrap().connections == 1 }).await;
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// Pseudo-random bytes; with `sip_like`, header-like lines without Content-Length.
fn garbage(len: usize, sip_like: bool) -> Vec<u8> {
    if sip_like {
        let unit = b"INVITE sip:x SIP/2.0\r\nVia: garbage\r\n\r\n";
        return unit.iter().copied().cycle().take(len).collect();
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Garbage datagrams are dropped; the UDP socket keeps serving.
#[tokio::test]
async fn udp_garbage_is_dropped() {
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().udp(v4())).await;
        let to = bob.handle.local_addr(TransportKind::Udp).unwrap();
        let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut datagrams: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\r\n\r\n".to_vec(),
            b"SIP/2.0".to_vec(),
            b"OPTIONS sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n".to_vec(),
            b"SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\n".to_vec(),
            raw_options(7, "UDP", "127.0.0.1:9")
                .replace("CSeq: 1", "CSeq: x")
                .into_bytes(),
            vec![0xff; 60_000],
        ];
        for i in 0..50 {
            datagrams.push(garbage(100 + 37 * i, false));
        }
        for d in &datagrams {
            raw.send_to(d, to).await.unwrap();
        }
        let mut alice = Peer::start(Runtime::builder().udp(v4())).await;
        let tx = alice.options(TransportKind::Udp, to).await;
        alice.expect_ok(tx).await;
        // Bob saw drops, and nothing else went wrong.
        let mut dropped = 0;
        while let Ok(ev) = bob.events.try_recv() {
            assert!(
                matches!(ev, sipline_proto::Event::Dropped { .. }),
                "unexpected {ev:?}"
            );
            dropped += 1;
        }
        assert!(dropped > 0);
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// A server whose certificate the client does not trust: the handshake fails and the
/// transaction gets a transport error. The trusted server works.
#[tokio::test]
async fn tls_untrusted_certificate_fails() {
    bounded(async {
        let trusted = Pki::new("trusted");
        let rogue = Pki::new("rogue");
        let mut good = Peer::start(Runtime::builder().tls(v4(), trusted.server())).await;
        let mut bad = Peer::start(Runtime::builder().tls(v4(), rogue.server())).await;
        let client = Runtime::builder()
            .tls_client(TlsClientConfig::trust_ca(trusted.ca_pem.as_bytes()).unwrap());
        let mut alice = Peer::start(client).await;

        let tx = alice
            .options(
                TransportKind::Tls,
                bad.handle.local_addr(TransportKind::Tls).unwrap(),
            )
            .await;
        alice
            .expect_transport_error(tx, TransportFailure::HandshakeFailed)
            .await;
        assert!(
            bad.requests.try_recv().is_err(),
            "the rogue server got no request"
        );

        let tx = alice
            .options(
                TransportKind::Tls,
                good.handle.local_addr(TransportKind::Tls).unwrap(),
            )
            .await;
        alice.expect_ok(tx).await;
        assert!(good.requests.recv().await.is_some());
        alice.stop().await;
        good.stop().await;
        bad.stop().await;
    })
    .await;
}

/// Certificate pinning: the pinned certificate is accepted whoever signed it; another one
/// is not. Also over WSS, and a TLS client with no configuration refuses to connect.
#[tokio::test]
async fn tls_pinning_and_no_client_config() {
    bounded(async {
        let pki = Pki::new("pinned");
        let other = Pki::new("other");
        let bob = Peer::start(
            Runtime::builder()
                .tls(v4(), pki.server())
                .wss(v4(), pki.server()),
        )
        .await;
        let tls_to = bob.handle.local_addr(TransportKind::Tls).unwrap();
        let wss_to = bob.handle.local_addr(TransportKind::Wss).unwrap();

        let mut pinned = Peer::start(
            Runtime::builder().tls_client(TlsClientConfig::pinned(pki.cert_der.clone())),
        )
        .await;
        let tx = pinned.options(TransportKind::Tls, tls_to).await;
        pinned.expect_ok(tx).await;
        let tx = pinned.options(TransportKind::Wss, wss_to).await;
        pinned.expect_ok(tx).await;

        let mut wrong = Peer::start(
            Runtime::builder()
                .tls_client(TlsClientConfig::pinned_pem(other.cert_pem.as_bytes()).unwrap()),
        )
        .await;
        let tx = wrong.options(TransportKind::Tls, tls_to).await;
        wrong
            .expect_transport_error(tx, TransportFailure::HandshakeFailed)
            .await;
        let tx = wrong.options(TransportKind::Wss, wss_to).await;
        wrong
            .expect_transport_error(tx, TransportFailure::HandshakeFailed)
            .await;

        // The name checked must be in the certificate.
        let mut misnamed = Peer::start(
            Runtime::builder().tls_client(
                TlsClientConfig::trust_ca(pki.ca_pem.as_bytes())
                    .unwrap()
                    .server_name(tls_to, "proxy.example.com")
                    .unwrap(),
            ),
        )
        .await;
        let tx = misnamed.options(TransportKind::Tls, tls_to).await;
        misnamed
            .expect_transport_error(tx, TransportFailure::HandshakeFailed)
            .await;

        let mut none = Peer::start(Runtime::builder()).await;
        let tx = none.options(TransportKind::Tls, tls_to).await;
        none.expect_transport_error(tx, TransportFailure::ConnectFailed)
            .await;

        for mut p in [pinned, wrong, misnamed, none, bob] {
            p.stop().await;
        }
    })
    .await;
}

/// Connecting to a closed port fails the client transaction with a transport error.
#[tokio::test]
async fn connect_to_closed_port_is_a_transport_error() {
    bounded(async {
        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let mut alice = Peer::start(Runtime::builder()).await;
        for kind in [TransportKind::Tcp, TransportKind::Ws] {
            let tx = alice.options(kind, closed).await;
            alice
                .expect_transport_error(tx, TransportFailure::ConnectFailed)
                .await;
        }
        assert_eq!(alice.handle.stats().await.unwrap().connections, 0);
        alice.stop().await;
    })
    .await;
}

/// Past `max_connections`, accepted connections are closed at once; outgoing ones fail.
#[tokio::test]
async fn connection_limit() {
    bounded(async {
        let cfg = ConnectionConfig {
            max_connections: 2,
            ..ConnectionConfig::default()
        };
        let mut bob =
            Peer::start(Runtime::builder().tcp(v4()).connection_config(cfg.clone())).await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();
        let mut a = TcpStream::connect(to).await.unwrap();
        let _b = TcpStream::connect(to).await.unwrap();
        common::eventually(|| async { bob.handle.stats().await.unwrap().connections == 2 }).await;
        let mut c = TcpStream::connect(to).await.unwrap();
        until_closed(&mut c).await;
        // The first two still work.
        a.write_all(raw_options(1, "TCP", "127.0.0.1:9").as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 12];
        a.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"SIP/2.0 200 ");

        // Outgoing: the third connection is refused locally.
        let mut servers = [
            Peer::start(Runtime::builder().tcp(v4())).await,
            Peer::start(Runtime::builder().tcp(v4())).await,
            Peer::start(Runtime::builder().tcp(v4())).await,
        ];
        let mut alice = Peer::start(Runtime::builder().connection_config(cfg)).await;
        for (i, s) in servers.iter().enumerate() {
            let tx = alice
                .options(
                    TransportKind::Tcp,
                    s.handle.local_addr(TransportKind::Tcp).unwrap(),
                )
                .await;
            if i < 2 {
                alice.expect_ok(tx).await;
            } else {
                alice
                    .expect_transport_error(tx, TransportFailure::ConnectFailed)
                    .await;
            }
        }
        alice.stop().await;
        for s in &mut servers {
            s.stop().await;
        }
        bob.stop().await;
    })
    .await;
}

/// A peer that sends requests but never reads the (large) responses: its write queue fills,
/// the connection is closed, and memory stays bounded; others are still served.
#[tokio::test]
async fn slow_reader_is_disconnected() {
    bounded(async {
        let cfg = ConnectionConfig {
            write_queue: 4,
            ..ConnectionConfig::default()
        };
        let mut bob =
            Peer::start_with_body(Runtime::builder().tcp(v4()).connection_config(cfg), 60_000)
                .await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();

        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut lazy = socket.connect(to).await.unwrap();
        let mut sent = 0;
        while bob.handle.stats().await.unwrap().closed_slow == 0 {
            assert!(sent < 2000, "never disconnected");
            let batch: String = (sent..sent + 20)
                .map(|i| raw_options(i, "TCP", "127.0.0.1:9"))
                .collect();
            if lazy.write_all(batch.as_bytes()).await.is_err() {
                break; // reset: already closed
            }
            sent += 20;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        common::eventually(|| async {
            let s = bob.handle.stats().await.unwrap();
            s.closed_slow == 1 && s.connections == 0
        })
        .await;
        drop(lazy);

        let mut alice = Peer::start(Runtime::builder()).await;
        let tx = alice.options(TransportKind::Tcp, to).await;
        alice.expect_ok(tx).await;
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// RFC 7118 §4.1: a WebSocket client that does not offer the `sip` subprotocol is refused;
/// one that does gets it back.
#[tokio::test]
async fn websocket_requires_sip_subprotocol() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().ws(v4())).await;
        let to = bob.handle.local_addr(TransportKind::Ws).unwrap();
        let url = format!("ws://{to}/");

        let tcp = TcpStream::connect(to).await.unwrap();
        let refused = tokio_tungstenite::client_async(url.as_str(), tcp).await;
        assert!(refused.is_err(), "accepted without the sip subprotocol");

        let tcp = TcpStream::connect(to).await.unwrap();
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "chat, sip".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
        assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], "sip");
        drop(ws);
        bob.stop().await;
    })
    .await;
}

/// A WebSocket message over the size limit closes that connection.
#[tokio::test]
async fn websocket_message_size_limit() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().ws(v4())).await;
        let to = bob.handle.local_addr(TransportKind::Ws).unwrap();
        let mut req = format!("ws://{to}/").into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
        let tcp = TcpStream::connect(to).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();

        // One message: answered.
        ws.send(Message::text(raw_options(1, "WS", "client.invalid")))
            .await
            .unwrap();
        let Some(Ok(Message::Text(answer))) = ws.next().await else {
            panic!("no answer")
        };
        assert!(answer.starts_with("SIP/2.0 200 "));

        // Too large: closed.
        let _ = ws.send(Message::binary(vec![b'x'; 70_000])).await;
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
        common::eventually(|| async { bob.handle.stats().await.unwrap().connections == 0 }).await;
        bob.stop().await;
    })
    .await;
}

/// An application that does not read its events: the runtime stops reading the network, so
/// memory stays bounded, yet it still serves commands; once the events are read, it catches
/// up.
#[tokio::test]
async fn slow_application_does_not_block_commands() {
    use sipline_proto::{Event, Response, StatusCode};
    bounded(async {
        let (bob, mut bob_events) = Runtime::builder()
            .udp(v4())
            .event_capacity(1)
            .start()
            .await
            .unwrap();
        let to = bob.local_addr(TransportKind::Udp).unwrap();
        let mut alice = Peer::start(Runtime::builder().udp(v4())).await;
        let mut txs = Vec::new();
        for _ in 0..5 {
            txs.push(alice.options(TransportKind::Udp, to).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // One event in the channel, one waiting: nothing more was read.
        assert!(bob.stats().await.unwrap().transactions <= 2);
        let tag = bob.new_tag().await.unwrap();

        let mut answered = 0;
        while answered < 5 {
            if let Some(Event::Request { tx, request, .. }) = bob_events.next_event().await {
                let ok = Response::from_request(&request, StatusCode::OK, Some(&tag));
                bob.respond(tx, ok).await.unwrap();
                answered += 1;
            }
        }
        for tx in txs {
            alice.expect_ok(tx).await;
        }
        bob.shutdown().await;
        assert!(bob_events.next_event().await.is_none());
        alice.stop().await;
    })
    .await;
}
