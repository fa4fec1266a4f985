//! An OPTIONS from one runtime to another, answered 200, over every transport and both
//! address families; connection reuse; keep-alives.

// Helpers of the tests fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Peer, Pki, bounded, raw_options, v4, v6};
use sipline_proto::{Flow, Message, Response, StatusCode, TransportKind, parse_message};
use sipline_tokio::{ConnectionConfig, Runtime, RuntimeBuilder, TlsClientConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Builders for a server listening on `kind` at `addr` and a client able to reach it.
fn pair(kind: TransportKind, addr: SocketAddr) -> (RuntimeBuilder, RuntimeBuilder) {
    let pki = Pki::new("pair");
    let server = Runtime::builder();
    let server = match kind {
        TransportKind::Udp => server.udp(addr),
        TransportKind::Tcp => server.tcp(addr),
        TransportKind::Tls => server.tls(addr, pki.server()),
        TransportKind::Ws => server.ws(addr),
        TransportKind::Wss => server.wss(addr, pki.server()),
    };
    let client =
        Runtime::builder().tls_client(TlsClientConfig::trust_ca(pki.ca_pem.as_bytes()).unwrap());
    // UDP responses go to the Via's sent-by: the client needs a UDP socket of the family.
    let client = if kind == TransportKind::Udp {
        client.udp(addr)
    } else {
        client
    };
    (server, client)
}

async fn options_answered(kind: TransportKind, addr: SocketAddr) {
    bounded(async {
        let (server, client) = pair(kind, addr);
        let mut bob = Peer::start(server).await;
        let mut alice = Peer::start(client).await;
        let to = bob.handle.local_addr(kind).unwrap();
        assert_eq!(to.is_ipv6(), addr.is_ipv6());

        let tx = alice.options(kind, to).await;
        alice.expect_ok(tx).await;

        let (flow, req) = bob.requests.recv().await.unwrap();
        assert_eq!(flow.transport, kind);
        assert_eq!(flow.conn.is_some(), kind != TransportKind::Udp);
        assert_eq!(req.top_via().unwrap().transport, kind.via_token());
        if kind != TransportKind::Udp {
            assert_eq!(alice.handle.stats().await.unwrap().connections, 1);
            assert_eq!(bob.handle.stats().await.unwrap().connections, 1);
        }
        alice.stop().await;
        bob.stop().await;
        assert!(bob.events.recv().await.is_none(), "no event after shutdown");
    })
    .await;
}

#[tokio::test]
async fn udp_ipv4() {
    options_answered(TransportKind::Udp, v4()).await;
}

#[tokio::test]
async fn udp_ipv6() {
    options_answered(TransportKind::Udp, v6()).await;
}

#[tokio::test]
async fn tcp_ipv4() {
    options_answered(TransportKind::Tcp, v4()).await;
}

#[tokio::test]
async fn tcp_ipv6() {
    options_answered(TransportKind::Tcp, v6()).await;
}

#[tokio::test]
async fn tls_ipv4() {
    options_answered(TransportKind::Tls, v4()).await;
}

#[tokio::test]
async fn tls_ipv6() {
    options_answered(TransportKind::Tls, v6()).await;
}

#[tokio::test]
async fn ws_ipv4() {
    options_answered(TransportKind::Ws, v4()).await;
}

#[tokio::test]
async fn ws_ipv6() {
    options_answered(TransportKind::Ws, v6()).await;
}

#[tokio::test]
async fn wss_ipv4() {
    options_answered(TransportKind::Wss, v4()).await;
}

#[tokio::test]
async fn wss_ipv6() {
    options_answered(TransportKind::Wss, v6()).await;
}

/// RFC 3261 §18: requests to an address with an open connection use it, and a connection
/// accepted from X also carries requests to X.
#[tokio::test]
async fn connections_are_reused_both_ways() {
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().tcp(v4())).await;
        let mut alice = Peer::start(Runtime::builder().tcp(v4())).await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();
        for _ in 0..3 {
            let tx = alice.options(TransportKind::Tcp, to).await;
            alice.expect_ok(tx).await;
        }
        assert_eq!(alice.handle.stats().await.unwrap().connections, 1);
        assert_eq!(bob.handle.stats().await.unwrap().connections, 1);

        // Bob asks Alice at the address her connection came from: the same connection.
        let (flow, _) = bob.requests.recv().await.unwrap();
        let back = bob.options(TransportKind::Tcp, flow.remote).await;
        bob.expect_ok(back).await;
        let (alice_side, _) = alice.requests.recv().await.unwrap();
        assert_eq!(alice_side.remote, to);
        assert_eq!(bob.handle.stats().await.unwrap().connections, 1);
        assert_eq!(alice.handle.stats().await.unwrap().connections, 1);

        // Naming the connection works the same.
        let named = bob.options_on(flow).await;
        bob.expect_ok(named).await;

        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// A connection unused for the idle timeout is closed on both sides.
#[tokio::test]
async fn idle_connections_close() {
    bounded(async {
        let idle = ConnectionConfig {
            idle_timeout: Duration::from_millis(300),
            ..ConnectionConfig::default()
        };
        let mut bob =
            Peer::start(Runtime::builder().tcp(v4()).connection_config(idle.clone())).await;
        let mut alice = Peer::start(Runtime::builder().connection_config(idle)).await;
        let to = bob.handle.local_addr(TransportKind::Tcp).unwrap();
        let tx = alice.options(TransportKind::Tcp, to).await;
        alice.expect_ok(tx).await;
        assert_eq!(bob.handle.stats().await.unwrap().connections, 1);
        common::eventually(|| async {
            alice.handle.stats().await.unwrap().connections == 0
                && bob.handle.stats().await.unwrap().connections == 0
        })
        .await;
        // A new request opens a new connection.
        let tx = alice.options(TransportKind::Tcp, to).await;
        alice.expect_ok(tx).await;
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// Answered keep-alives keep a flow open past the idle timeout, on TCP (CRLF) and WS (Ping
/// frames), on both sides.
#[tokio::test]
async fn keepalives_keep_connections_open() {
    bounded(async {
        let idle = Duration::from_millis(400);
        let server_cfg = ConnectionConfig {
            idle_timeout: idle,
            ..ConnectionConfig::default()
        };
        let client_cfg = ConnectionConfig {
            idle_timeout: idle,
            keepalive_interval: Some(Duration::from_millis(100)),
            keepalive_timeout: Duration::from_millis(300),
            ..ConnectionConfig::default()
        };
        for kind in [TransportKind::Tcp, TransportKind::Ws] {
            let server = Runtime::builder().connection_config(server_cfg.clone());
            let server = if kind == TransportKind::Tcp {
                server.tcp(v4())
            } else {
                server.ws(v4())
            };
            let mut bob = Peer::start(server).await;
            let mut alice =
                Peer::start(Runtime::builder().connection_config(client_cfg.clone())).await;
            let to = bob.handle.local_addr(kind).unwrap();
            let tx = alice.options(kind, to).await;
            alice.expect_ok(tx).await;
            tokio::time::sleep(idle * 3).await;
            assert_eq!(alice.handle.stats().await.unwrap().connections, 1, "{kind}");
            assert_eq!(bob.handle.stats().await.unwrap().connections, 1, "{kind}");
            alice.stop().await;
            bob.stop().await;
        }
    })
    .await;
}

/// RFC 5626 §3.5.1: the client pings with CRLF CRLF and expects a CRLF pong; without a pong
/// it gives the connection up (§4.4.1). The server side answers pings.
#[tokio::test]
async fn crlf_keepalives() {
    bounded(async {
        // A hand-written server: answers the OPTIONS, one ping, then goes silent.
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = server.local_addr().unwrap();
        let alice_cfg = ConnectionConfig {
            keepalive_interval: Some(Duration::from_millis(150)),
            keepalive_timeout: Duration::from_millis(300),
            ..ConnectionConfig::default()
        };
        let mut alice = Peer::start(Runtime::builder().connection_config(alice_cfg)).await;
        let tx = alice.options(TransportKind::Tcp, to).await;

        let (mut sock, _) = server.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let Message::Request(req) =
            parse_message(bytes::Bytes::from(buf), &Default::default()).unwrap()
        else {
            panic!("not a request")
        };
        let ok = Response::from_request(&req, StatusCode::OK, Some("srv"));
        sock.write_all(&ok.to_bytes()).await.unwrap();
        alice.expect_ok(tx).await;

        // First ping: answer it.
        let mut ping = [0u8; 4];
        sock.read_exact(&mut ping).await.unwrap();
        assert_eq!(&ping, b"\r\n\r\n");
        sock.write_all(b"\r\n").await.unwrap();
        // Second ping: stay silent; the client closes within the pong timeout.
        sock.read_exact(&mut ping).await.unwrap();
        assert_eq!(&ping, b"\r\n\r\n");
        let start = tokio::time::Instant::now();
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest).await;
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(rest.iter().all(|&b| b == b'\r' || b == b'\n'));
        common::eventually(|| async { alice.handle.stats().await.unwrap().connections == 0 }).await;
        alice.stop().await;

        // The server side of the runtime answers a ping with a pong.
        let mut bob = Peer::start(Runtime::builder().tcp(v4())).await;
        let mut raw = TcpStream::connect(bob.handle.local_addr(TransportKind::Tcp).unwrap())
            .await
            .unwrap();
        raw.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        raw.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        // And still serves SIP on that connection.
        raw.write_all(raw_options(1, "TCP", "127.0.0.1:9").as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 12];
        raw.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"SIP/2.0 200 ");
        drop(raw);
        bob.stop().await;
    })
    .await;
}

/// A runtime without listeners still sends over new connections, and a request naming a
/// connection that no longer exists goes to its remote address on a new one.
#[tokio::test]
async fn client_only_runtime_and_stale_conn() {
    bounded(async {
        let mut bob = Peer::start(Runtime::builder().ws(v4())).await;
        let mut alice = Peer::start(Runtime::builder()).await;
        let to = bob.handle.local_addr(TransportKind::Ws).unwrap();
        let tx = alice
            .options_on(Flow {
                transport: TransportKind::Ws,
                remote: to,
                conn: Some(sipline_proto::ConnId(9999)),
            })
            .await;
        alice.expect_ok(tx).await;
        let tx = alice.options(TransportKind::Ws, to).await;
        alice.expect_ok(tx).await;
        assert_eq!(alice.handle.stats().await.unwrap().connections, 1);
        alice.stop().await;
        bob.stop().await;
    })
    .await;
}

/// The first datagram a fresh UDP socket sends leaves at once. tokio caches a socket's
/// readiness and a new socket has none until the reactor has polled it, so a bare
/// `try_send_to` reported `WouldBlock` and the first request of a runtime that sent at once
/// went out only with its first retransmission, T1 later (500 ms by default: `sipline demo`'s
/// first REGISTER). With T1 at 30 s, a dropped first datagram arrives after the 5 s this test
/// waits. The request is sent right after `start`, before anything lets the reactor run.
#[tokio::test]
async fn the_first_udp_datagram_is_sent_at_once() {
    bounded(async {
        let peer = tokio::net::UdpSocket::bind(v4()).await.unwrap();
        let to = peer.local_addr().unwrap();
        let mut cfg = sipline_proto::EndpointConfig::default();
        cfg.timers.t1 = Duration::from_secs(30);
        cfg.timers.t2 = Duration::from_secs(60);
        let (handle, _events) = Runtime::builder()
            .udp(v4())
            .endpoint_config(cfg)
            .start()
            .await
            .unwrap();
        let me = handle.local_addr(TransportKind::Udp).unwrap();
        let req = parse_message(
            bytes::Bytes::from(raw_options(1, "UDP", &me.to_string())),
            &Default::default(),
        )
        .unwrap();
        let Message::Request(req) = req else {
            panic!("not a request")
        };
        let flow = Flow {
            transport: TransportKind::Udp,
            remote: to,
            conn: None,
        };
        handle.send_request(req, flow).await.unwrap();
        let mut buf = vec![0u8; 2048];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .expect("the first request was not sent at once")
            .unwrap();
        assert!(buf[..n].starts_with(b"OPTIONS "));
        handle.shutdown().await;
    })
    .await;
}
