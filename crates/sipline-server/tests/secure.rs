//! TLS and secure WebSocket through the server: bob registers over TLS, alice over WSS
//! (both trusting a test CA); alice calls bob by AOR, the server reaches bob on his TLS
//! connection (no outgoing TLS of its own), audio flows, bob hangs up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sipline::{
    AcceptOptions, ByeOptions, Cause, InviteOptions, SessionEvent, TlsClientConfig,
    TlsServerConfig, TransportKind, Ua, UaEvent,
};
use sipline_server::Server;
use tokio::time::timeout;

#[path = "../../sipline/tests/common/calls.rs"]
mod calls;
use calls::next_after_progress as next;

/// A CA and a certificate for 127.0.0.1 signed by it: (CA PEM, server config).
fn pki() -> (String, TlsServerConfig) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "sipline test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server =
        TlsServerConfig::from_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    (ca_cert.pem(), server)
}

async fn ua(
    user: &str,
    kind: TransportKind,
    server: &Server,
    ca: &str,
    tls: TlsServerConfig,
) -> Ua {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let at = server.local_addr(kind).unwrap();
    let b = Ua::builder()
        .uri(format!("sip:{user}@sipline.test"))
        .registrar("sip:sipline.test")
        .outbound_proxy(format!("sip:{at};transport={}", kind.uri_param()))
        .tls_client(TlsClientConfig::trust_ca(ca.as_bytes()).unwrap());
    let b = match kind {
        TransportKind::Tls => b.tls(any, tls),
        _ => b.wss(any, tls),
    };
    let ua = timeout(Duration::from_secs(10), b.build())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{user} over {kind}: {e}"));
    assert!(matches!(
        timeout(Duration::from_secs(5), ua.next_event()).await,
        Ok(Some(UaEvent::Registered { .. }))
    ));
    ua
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_wss_clients_call_through_the_server() {
    let (ca, cert) = pki();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::builder()
        .tls(any, cert.clone())
        .wss(any, cert)
        .domain("sipline.test")
        .start()
        .await
        .unwrap();
    let bob = ua("bob", TransportKind::Tls, &server, &ca, pki().1).await;
    let alice = ua("alice", TransportKind::Wss, &server, &ca, pki().1).await;
    let regs = server.registrations().await.unwrap();
    assert_eq!(regs.len(), 2);
    let mut call = alice
        .invite("sip:bob@sipline.test", InviteOptions::default())
        .await
        .unwrap();
    let mut answer = match timeout(Duration::from_secs(10), bob.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no call over TLS: {other:?}"),
    };
    answer.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&mut answer).await,
        SessionEvent::Accepted { .. }
    ));
    answer.bye(ByeOptions::default()).await.unwrap();
    assert!(matches!(next(&mut call).await, SessionEvent::Bye { .. }));
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Terminated { cause: Cause::Bye }
    ));
    server.shutdown().await;
}
