//! Helpers shared by the integration tests: test certificates, a peer that answers every
//! request with 200, OPTIONS requests, raw messages.
// Test helpers may fail loudly, like the tests themselves.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod sipp;

use std::net::SocketAddr;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sipline_proto::{
    ClientTxId, Event, Flow, Method, Request, Response, StatusCode, TransportFailure,
    TransportKind, Uri,
};
use sipline_tokio::rustls::pki_types::CertificateDer;
use sipline_tokio::{Handle, RuntimeBuilder, TlsServerConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// No test may run longer than this.
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

/// Runs `f` under [`LIMIT`], with the runtime's logs captured per test (warnings and up; set
/// `SIPLINE_TEST_LOG=debug` or `trace` for more, `sipline::wire` shows every message).
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    let level = match std::env::var("SIPLINE_TEST_LOG").as_deref() {
        Ok("trace") => tracing::Level::TRACE,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(level)
        .try_init();
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test took longer than its time limit")
}

/// A CA and a server certificate it signed, for `localhost`, 127.0.0.1 and ::1.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
            cert_der: leaf.der().clone(),
        }
    }

    pub fn server(&self) -> TlsServerConfig {
        TlsServerConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
}

/// A running runtime whose requests are all answered 200 OK (with the given body size);
/// the requests and every other event are kept for the test to look at.
pub struct Peer {
    pub handle: Handle,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub requests: mpsc::UnboundedReceiver<(Flow, Request)>,
    task: JoinHandle<()>,
}

impl Peer {
    pub async fn start(builder: RuntimeBuilder) -> Peer {
        Self::start_with_body(builder, 0).await
    }

    /// Answers with a body of `body` bytes.
    pub async fn start_with_body(builder: RuntimeBuilder, body: usize) -> Peer {
        let (handle, mut stream) = builder.start().await.unwrap();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let (req_tx, requests) = mpsc::unbounded_channel();
        let h = handle.clone();
        let task = tokio::spawn(async move {
            while let Some(ev) = stream.next_event().await {
                match ev {
                    Event::Request {
                        tx, request, flow, ..
                    } => {
                        let Ok(tag) = h.new_tag().await else { break };
                        let mut ok = Response::from_request(&request, StatusCode::OK, Some(&tag));
                        if body > 0 {
                            ok.set_body("text/plain", vec![b'x'; body]);
                        }
                        let _ = h.respond(tx, ok).await;
                        let _ = req_tx.send((flow, request));
                    }
                    other => {
                        let _ = ev_tx.send(other);
                    }
                }
            }
        });
        Peer {
            handle,
            events,
            requests,
            task,
        }
    }

    /// Sends an OPTIONS to `to` over `kind` (RFC 3261 §11), without a connection named.
    pub async fn options(&self, kind: TransportKind, to: SocketAddr) -> ClientTxId {
        self.options_on(Flow {
            transport: kind,
            remote: to,
            conn: None,
        })
        .await
    }

    /// Sends an OPTIONS on `flow`.
    pub async fn options_on(&self, flow: Flow) -> ClientTxId {
        let kind = flow.transport;
        let to = flow.remote;
        let me = self
            .handle
            .local_addr(kind)
            .map_or_else(|| "alice.invalid".to_string(), |a| a.to_string());
        let branch = self.handle.new_branch().await.unwrap();
        let tag = self.handle.new_tag().await.unwrap();
        let uri = if kind == TransportKind::Udp {
            format!("sip:bob@{to}")
        } else {
            format!("sip:bob@{to};transport={}", kind.uri_param())
        };
        let req = Request::builder(Method::Options, Uri::parse(&uri).unwrap())
            .via(kind.via_token(), &me, &branch)
            .from(&format!("<sip:alice@{me}>"), &tag)
            .to(&format!("<sip:bob@{to}>"), None)
            .call_id(&format!("{branch}@test"))
            .cseq(1)
            .build()
            .unwrap();
        self.handle.send_request(req, flow).await.unwrap()
    }

    /// The outcome of client transaction `tx`: its final response, its timeout or its
    /// transport error. Other events are skipped.
    pub async fn outcome(&mut self, tx: ClientTxId) -> Event {
        loop {
            let ev = self.events.recv().await.expect("the runtime stopped");
            match &ev {
                Event::Response { tx: t, response } if *t == tx && response.status.is_final() => {
                    return ev;
                }
                Event::Timeout { tx: t } | Event::TransportError { tx: t, .. } if *t == tx => {
                    return ev;
                }
                _ => {}
            }
        }
    }

    /// Asserts that `tx` got a 200.
    pub async fn expect_ok(&mut self, tx: ClientTxId) {
        match self.outcome(tx).await {
            Event::Response { response, .. } => assert_eq!(response.status, StatusCode::OK),
            other => panic!("expected 200 OK, got {other:?}"),
        }
    }

    /// Asserts that `tx` failed in the transport, for the reason given.
    pub async fn expect_transport_error(&mut self, tx: ClientTxId, why: TransportFailure) {
        match self.outcome(tx).await {
            Event::TransportError { reason, .. } => assert_eq!(reason, why),
            other => panic!("expected a transport error ({why}), got {other:?}"),
        }
    }

    /// Shuts the runtime down and waits for every task.
    pub async fn stop(&mut self) {
        self.handle.shutdown().await;
        (&mut self.task).await.unwrap();
    }
}

/// An OPTIONS request as raw bytes, with a Via of `transport` and a unique branch.
pub fn raw_options(i: usize, transport: &str, sent_by: &str) -> String {
    format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bKraw{i}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         From: <sip:raw@127.0.0.1>;tag=raw{i}\r\n\
         Call-ID: raw{i}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Polls `f` until it holds, every 20 ms.
pub async fn eventually<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !f().await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
