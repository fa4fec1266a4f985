//! TURN relay candidates (RFC 8656, RFC 8445 §5.1.1.2) over the wire with coturn: two
//! sipline user agents call each other with WebRTC media, one side relay-only
//! (`UaBuilder::relay_only`, as a browser's `iceTransportPolicy: "relay"`), then both. The
//! SDP carries a `typ relay` candidate and no host candidate from a relay-only side, the call
//! connects, each side hears the other's tone at the right frequency, coturn's log shows the
//! allocations, permissions and channels it served and the data it relayed, and hanging up
//! releases the allocations (Refresh with lifetime 0).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/coturn.rs"]
mod coturn;

use std::time::Duration;

use sipline::{
    BufferSink, ByeOptions, InviteOptions, SessionEvent, ToneSource, TransportKind, Ua, UaEvent,
};
use tokio::time::timeout;

use coturn::Coturn;

#[path = "common/calls.rs"]
mod calls;
use calls::{accept_with_tone, hears, next_after_progress as next};

async fn ua(user: &str, turn: Option<&str>, relay_only: bool) -> Ua {
    let any = "127.0.0.1:0".parse().unwrap();
    let mut b = Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .ws(any)
        .relay_only(relay_only);
    if let Some(url) = turn {
        b = b.turn_server(url, coturn::USER, coturn::PASSWORD);
    }
    b.build().await.unwrap()
}

/// The candidate lines of `sdp`.
fn candidates(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_call_through_coturn_relay_only() {
    // (alice relay-only, bob with TURN and relay-only)
    for both in [false, true] {
        let server = Coturn::start(
            &std::env::temp_dir().join(format!("sipline-coturn-{}-{both}", std::process::id())),
        );
        let url = server.url();
        let alice = ua("alice", Some(&url), true).await;
        let bob = ua("bob", both.then_some(url.as_str()), both).await;

        let alice_hears = BufferSink::new(8000);
        let alice_ear = alice_hears.handle();
        let addr = bob.local_addr(TransportKind::Ws).unwrap();
        let mut call = alice
            .invite(
                &format!("sip:bob@{addr};transport=ws"),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                    audio_sink: Box::new(alice_hears),
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let answer = match timeout(Duration::from_secs(10), bob.next_event()).await {
            Ok(Some(UaEvent::Invite(s))) => s,
            other => panic!("no incoming call: {other:?}"),
        };
        let offer = String::from_utf8_lossy(&answer.request().unwrap().body).into_owned();
        let offered = candidates(&offer);
        assert!(!offered.is_empty(), "{offer}");
        assert!(
            offered
                .iter()
                .all(|c| c.contains(" typ relay raddr 127.0.0.1 rport ")),
            "relay-only offers relayed candidates only: {offer}"
        );
        let bob_ear = accept_with_tone(&answer, 880.0).await;
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Accepted { .. }
        ));
        let their_answer = call.remote_description().unwrap();
        let answered = candidates(&their_answer);
        if both {
            assert!(
                !answered.is_empty() && answered.iter().all(|c| c.contains(" typ relay ")),
                "{their_answer}"
            );
        } else {
            assert!(
                answered.iter().all(|c| c.contains(" typ host")),
                "{their_answer}"
            );
        }

        hears(&bob_ear, 440.0, "bob").await;
        hears(&alice_ear, 880.0, "alice").await;
        let stats = call.stats().await.unwrap();
        assert!(
            stats.packets_received > 20 && stats.packets_sent > 20,
            "{stats:?}"
        );

        // coturn served the allocations (one per relaying side, each after a 401),
        // permissions and channels for the peer. Alice has no other candidate, so the media
        // heard above went through it.
        let log = server.log();
        let allocations = log.matches("ALLOCATE processed, success").count();
        assert_eq!(allocations, if both { 2 } else { 1 }, "{log}");
        // RFC 8489 §9.2: each first Allocate came without credentials and got 401.
        assert!(
            log.matches("error 401: Unauthorized").count() >= allocations,
            "{log}"
        );
        assert!(log.contains("CHANNEL_BIND processed, success"), "{log}");
        assert!(
            log.contains("CREATE_PERMISSION processed, success"),
            "{log}"
        );

        call.bye(ByeOptions::default()).await.unwrap();
        drop((call, answer));
        alice.stop().await;
        bob.stop().await;
        // The media tasks release their allocations as they end (Refresh, lifetime 0).
        let mut released = 0;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let log = server.log();
            released = log.matches("username=<u>, lifetime=0").count();
            if released >= allocations {
                break;
            }
        }
        let log = server.log();
        assert!(
            released >= allocations,
            "{released} of {allocations} allocations released (both: {both})\n{log}"
        );
        drop(server);
    }
}
