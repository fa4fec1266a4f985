//! Calls over TLS, WebSocket and secure WebSocket (RFC 7118) between two sipline user agents,
//! with certificates from a test CA that the caller trusts (verification stays on); and a
//! call with a reliable 183 carrying early media (RFC 3262), answered through `reply`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sipline::{
    BufferSink, ByeOptions, Cause, InviteOptions, ProgressOptions, Rel100, Session, SessionEvent,
    StatusCode, TlsClientConfig, TlsServerConfig, ToneSource, TransportKind, Ua, UaEvent,
    tone_frequency,
};

#[path = "common/calls.rs"]
mod calls;
use calls::next;

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
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server =
        TlsServerConfig::from_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    (ca_cert.pem(), server)
}

async fn accepted(s: &mut Session) -> StatusCode {
    loop {
        match next(s).await {
            SessionEvent::Progress { .. } => {}
            SessionEvent::Accepted { code, .. } => return code,
            e => panic!("{e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_tls_ws_and_wss() {
    let (ca, server) = pki();
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Ua::builder()
        .uri("sip:bob@127.0.0.1")
        .udp(any)
        .tls(any, server.clone())
        .ws(any)
        .wss(any, server)
        .build()
        .await
        .unwrap();
    let alice = Ua::builder()
        .uri("sip:alice@127.0.0.1")
        .udp(any)
        .tls(any, pki().1)
        .ws(any)
        .wss(any, pki().1)
        .tls_client(TlsClientConfig::trust_ca(ca.as_bytes()).unwrap())
        .build()
        .await
        .unwrap();
    for transport in [TransportKind::Tls, TransportKind::Ws, TransportKind::Wss] {
        let addr = bob.local_addr(transport).unwrap();
        let bob_hears = BufferSink::new(8000);
        let ear = bob_hears.handle();
        let mut call = alice
            .invite(
                &format!("sip:bob@{addr};transport={}", transport.uri_param()),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 660.0, -10.0)),
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let Some(UaEvent::Invite(mut answer)) = bob.next_event().await else {
            panic!("no call over {transport}");
        };
        let via = answer
            .request()
            .unwrap()
            .headers
            .get(sipline::HeaderName::Via)
            .unwrap()
            .to_owned();
        assert!(via.starts_with(&format!("SIP/2.0/{transport} ")), "{via}");
        answer
            .accept(sipline::AcceptOptions {
                audio_sink: Box::new(bob_hears),
                ..sipline::AcceptOptions::default()
            })
            .await
            .unwrap();
        assert_eq!(accepted(&mut call).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let f = tone_frequency(&ear.take(), 8000).unwrap();
        assert!((f - 660.0).abs() < 5.0, "over {transport} bob heard {f} Hz");
        // The callee hangs up: its BYE goes back over the caller's connection.
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
    }
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_183_with_early_media_then_reply_200() {
    let any = "127.0.0.1:0".parse().unwrap();
    let build = |user: &str| {
        Ua::builder()
            .uri(format!("sip:{user}@127.0.0.1"))
            .udp(any)
            .rel100(Rel100::Supported)
            .build()
    };
    let alice = build("alice").await.unwrap();
    let bob = build("bob").await.unwrap();
    let alice_hears = BufferSink::new(8000);
    let alice_ear = alice_hears.handle();
    let mut call = alice
        .invite(
            &format!("sip:bob@{}", bob.local_addr(TransportKind::Udp).unwrap()),
            InviteOptions {
                audio_sink: Box::new(alice_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let Some(UaEvent::Invite(answer)) = bob.next_event().await else {
        panic!("no call");
    };
    answer
        .progress(ProgressOptions {
            status_code: StatusCode::SESSION_PROGRESS,
            rel100: true,
            media: true,
            ..ProgressOptions::default()
        })
        .await
        .unwrap();
    let p183 = loop {
        match next(&mut call).await {
            SessionEvent::Progress { response }
                if response.status == StatusCode::SESSION_PROGRESS =>
            {
                break response;
            }
            SessionEvent::Progress { .. } => {}
            e => panic!("{e:?}"),
        }
    };
    assert_eq!(
        p183.headers.get(sipline::HeaderName::Require),
        Some("100rel")
    );
    assert!(!p183.body.is_empty(), "early media SDP");
    // Early media flows before the answer (bob plays silence: packets, not a tone).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(alice_ear.take().len() >= 1600, "early media reached alice");
    answer
        .reply(sipline::ReplyOptions::status(StatusCode::OK))
        .await
        .unwrap();
    assert_eq!(accepted(&mut call).await, StatusCode::OK);
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_plays_the_progress_audio_then_the_accept_audio() {
    let any = "127.0.0.1:0".parse().unwrap();
    let build = |user: &str| {
        Ua::builder()
            .uri(format!("sip:{user}@127.0.0.1"))
            .udp(any)
            .rel100(Rel100::Supported)
            .build()
    };
    let alice = build("alice").await.unwrap();
    let bob = build("bob").await.unwrap();
    let alice_hears = BufferSink::new(8000);
    let alice_ear = alice_hears.handle();
    let mut call = alice
        .invite(
            &format!("sip:bob@{}", bob.local_addr(TransportKind::Udp).unwrap()),
            InviteOptions {
                audio_source: Box::new(sipline::ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(alice_hears),
                media: sipline::MediaChoice::Rtp,
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let Some(UaEvent::Invite(answer)) = bob.next_event().await else {
        panic!("no call");
    };
    let early_ear = BufferSink::new(8000);
    let bob_heard_early = early_ear.handle();
    answer
        .progress_with_audio(
            ProgressOptions {
                status_code: StatusCode::SESSION_PROGRESS,
                rel100: true,
                media: true,
                ..ProgressOptions::default()
            },
            Box::new(sipline::ToneSource::new(8000, 660.0, -10.0)),
            Box::new(early_ear),
        )
        .await
        .unwrap();
    // The early media plays the progress's tone (RFC 3960 §3), and records the caller.
    tokio::time::sleep(Duration::from_millis(600)).await;
    alice_ear.take();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let early = sipline::tone_frequency(&alice_ear.take(), 8000).unwrap_or(0.0);
    assert!((early - 660.0).abs() < 5.0, "alice heard {early} Hz early");
    let heard = sipline::tone_frequency(&bob_heard_early.take(), 8000).unwrap_or(0.0);
    assert!((heard - 440.0).abs() < 5.0, "bob heard {heard} Hz early");
    // The answer's audio replaces the early media's, on the same RTP session.
    let bob_hears = BufferSink::new(8000);
    let bob_ear = bob_hears.handle();
    answer
        .accept(sipline::AcceptOptions {
            audio_source: Box::new(sipline::ToneSource::new(8000, 880.0, -10.0)),
            audio_sink: Box::new(bob_hears),
            ..sipline::AcceptOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(accepted(&mut call).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    alice_ear.take();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let talk = sipline::tone_frequency(&alice_ear.take(), 8000).unwrap_or(0.0);
    assert!(
        (talk - 880.0).abs() < 5.0,
        "alice heard {talk} Hz after the answer"
    );
    let heard = sipline::tone_frequency(&bob_ear.take(), 8000).unwrap_or(0.0);
    assert!(
        (heard - 440.0).abs() < 5.0,
        "bob's accept sink heard {heard} Hz"
    );
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}
