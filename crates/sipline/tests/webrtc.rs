//! Two sipline user agents call each other with WebRTC media (ICE, DTLS-SRTP, Opus, BUNDLE,
//! rtcp-mux) on 127.0.0.1: over WebSocket, where `MediaChoice::Auto` picks WebRTC, and over
//! TCP with WebRTC asked for explicitly. Each side plays a tone and hears the other's at the
//! right frequency; RFC 4733 DTMF both ways; mute; BYE. The answerer never chooses: it
//! answers whatever the offer asks for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, DtmfOptions, DtmfTransport, Error, HeaderName,
    InviteOptions, MediaChoice, MuteOptions, ProgressOptions, RenegotiateOptions, SessionEvent,
    ToneSource, TransportKind, TrickleMode, Ua,
};
use tokio::time::timeout;

#[path = "common/calls.rs"]
mod calls;
use calls::{accept_with_tone, hears, incoming, next_after_progress as next, target};

async fn ua(user: &str) -> Ua {
    let any = "127.0.0.1:0".parse().unwrap();
    Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .udp(any)
        .tcp(any)
        .ws(any)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_calls_over_websocket_and_tcp() {
    for (transport, media) in [
        (TransportKind::Ws, MediaChoice::Auto),
        (TransportKind::Tcp, MediaChoice::WebRtc),
    ] {
        let alice = ua("alice").await;
        let bob = ua("bob").await;
        let alice_hears = BufferSink::new(8000);
        let alice_ear = alice_hears.handle();
        let mut call = alice
            .invite(
                &target(&bob, "bob", transport),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                    audio_sink: Box::new(alice_hears),
                    media,
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let mut answer = incoming(&bob).await;
        let offer = String::from_utf8_lossy(&answer.request().unwrap().body).into_owned();
        assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
        assert!(offer.contains("a=fingerprint:"), "{offer}");
        let bob_ear = accept_with_tone(&answer, 880.0).await;
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Accepted { .. }
        ));
        assert!(matches!(
            next(&mut answer).await,
            SessionEvent::Accepted { .. }
        ));
        let remote = call.remote_streams();
        assert!(
            remote[0].tracks[0]
                .codecs
                .iter()
                .any(|c| c.eq_ignore_ascii_case("opus/48000/2")),
            "{remote:?} ({transport})"
        );

        hears(&bob_ear, 440.0, "bob").await;
        hears(&alice_ear, 880.0, "alice").await;
        let stats = call.stats().await.unwrap();
        assert!(
            stats.packets_received > 20 && stats.packets_sent > 20,
            "{stats:?}"
        );

        // RFC 4733 DTMF both ways.
        let rtp = DtmfOptions {
            transport: DtmfTransport::Rtp,
            ..DtmfOptions::default()
        };
        call.dtmf("5", rtp.clone()).await.unwrap();
        match next(&mut answer).await {
            SessionEvent::Dtmf { tone, request, .. } => {
                assert_eq!(tone, '5');
                assert!(request.is_none(), "by RFC 4733");
            }
            e => panic!("{e:?}"),
        }
        answer.dtmf("#", rtp).await.unwrap();
        match next(&mut call).await {
            SessionEvent::Dtmf { tone, .. } => assert_eq!(tone, '#'),
            e => panic!("{e:?}"),
        }

        // Mute: bob stops hearing the tone.
        call.mute(MuteOptions::default()).await.unwrap();
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Muted { audio: true, .. }
        ));
        tokio::time::sleep(Duration::from_millis(400)).await;
        bob_ear.take();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let quiet = bob_ear.take();
        assert!(
            quiet.iter().all(|s| s.abs() < 300),
            "bob still hears alice while muted ({transport})"
        );
        call.unmute(MuteOptions::default()).await.unwrap();
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Unmuted { audio: true, .. }
        ));

        answer.bye(ByeOptions::default()).await.unwrap();
        assert!(matches!(next(&mut call).await, SessionEvent::Bye { .. }));
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Terminated { cause: Cause::Bye }
        ));
        alice.stop().await;
        bob.stop().await;
    }
}

fn video_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sipline-media/tests/fixtures")
        .join(name)
}

fn video_frames(mut s: impl sipline::VideoSource) -> Vec<sipline::VideoFrame> {
    let mut v = Vec::new();
    while let sipline::VideoRead::Frame(f) = s.read_frame().unwrap() {
        v.push(f);
    }
    v
}

/// Both sides send a video file (alice VP8 from IVF, bob H.264 from Annex B) and record what
/// arrives into IVF files: the recordings hold the sent frames, byte for byte, in order. The
/// streams list the video tracks; mute(video) shows in the local video track.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_call_with_video_files_both_ways() {
    use sipline::{AnnexBSource, IvfRecorder, IvfSource, MediaConstraints, MediaKind, VideoCodec};
    let dir = std::env::temp_dir();
    let rec_alice = dir.join(format!("sipline-ua-video-{}-alice.ivf", std::process::id()));
    let rec_bob = dir.join(format!("sipline-ua-video-{}-bob.ivf", std::process::id()));
    let vp8 = video_fixture("vp8.ivf");
    let h264 = video_fixture("h264.h264");

    let alice = ua("alice").await;
    let bob = ua("bob").await;
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Ws),
            InviteOptions {
                video_source: Some(Box::new(IvfSource::open(&vp8).unwrap())),
                video_sink: Some(Box::new(IvfRecorder::create(&rec_alice).unwrap())),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    let offer = String::from_utf8_lossy(&answer.request().unwrap().body).into_owned();
    assert!(offer.contains("m=video"), "{offer}");
    answer
        .accept(AcceptOptions {
            media: MediaConstraints {
                audio: true,
                video: true,
            },
            video_source: Some(Box::new(AnnexBSource::open_with_rate(&h264, 15.0).unwrap())),
            video_sink: Some(Box::new(IvfRecorder::create(&rec_bob).unwrap())),
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    let video_track = |streams: Vec<sipline::MediaStream>| {
        streams
            .into_iter()
            .flat_map(|s| s.tracks)
            .find(|t| t.kind == MediaKind::Video)
    };
    let local = video_track(call.local_streams()).expect("alice's local video track");
    assert!(local.enabled, "{local:?}");
    assert!(
        local
            .codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case("VP8/90000")),
        "{local:?}"
    );
    let remote = video_track(call.remote_streams()).expect("alice's remote video track");
    assert!(
        remote
            .codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case("H264/90000")),
        "{remote:?}"
    );

    let sent_vp8 = video_frames(IvfSource::open(&vp8).unwrap());
    let sent_h264 = video_frames(AnnexBSource::open_with_rate(&h264, 15.0).unwrap());
    // The files last 2 s; wait until both sides have them all (or give up after 10 s).
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (a, b) = (call.stats().await.unwrap(), answer.stats().await.unwrap());
        if a.video_frames_received >= sent_h264.len() as u64
            && b.video_frames_received >= sent_vp8.len() as u64
        {
            break;
        }
    }
    let at_bob = video_frames(IvfSource::open(&rec_bob).unwrap());
    let at_alice = IvfSource::open(&rec_alice).unwrap();
    assert_eq!(at_alice.codec(), VideoCodec::H264);
    let at_alice = video_frames(at_alice);
    for (got, sent, who) in [
        (&at_bob, &sent_vp8, "bob"),
        (&at_alice, &sent_h264, "alice"),
    ] {
        assert_eq!(got.len(), sent.len(), "frames recorded by {who}");
        for (i, (g, s)) in got.iter().zip(sent.iter()).enumerate() {
            assert_eq!(g.data, s.data, "{who}: frame {i}");
            assert_eq!(g.keyframe, s.keyframe, "{who}: frame {i}");
        }
    }

    call.mute(MuteOptions {
        audio: false,
        video: true,
    })
    .await
    .unwrap();
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Muted {
            audio: false,
            video: true
        }
    ));
    let local = video_track(call.local_streams()).unwrap();
    assert!(!local.enabled, "muted video track still enabled: {local:?}");
    let audio = call.local_streams()[0].tracks[0].clone();
    assert!(audio.kind == MediaKind::Audio && audio.enabled, "{audio:?}");

    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
    let _ = std::fs::remove_file(rec_alice);
    let _ = std::fs::remove_file(rec_bob);
}

fn ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("no a=ice-ufrag")
        .trim()
        .to_owned()
}

/// `Session::renegotiate { ice_restart: true }` (RFC 8445 §9) from either side: a re-INVITE
/// with new ICE credentials, answered with new ones; both keep hearing each other; a
/// re-INVITE while the other's is in flight gets 491 (glare) and the call goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_ice_restart_by_reinvite() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;
    let alice_hears = BufferSink::new(8000);
    let alice_ear = alice_hears.handle();
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Ws),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(alice_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let mut answer = incoming(&bob).await;
    let bob_ear = accept_with_tone(&answer, 880.0).await;
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&mut answer).await,
        SessionEvent::Accepted { .. }
    ));
    hears(&bob_ear, 440.0, "bob").await;
    hears(&alice_ear, 880.0, "alice").await;

    let restart = RenegotiateOptions {
        ice_restart: true,
        ..RenegotiateOptions::default()
    };
    for (who, session) in [("alice", &call), ("bob", &answer)] {
        let before = (
            ufrag(&call.local_description().unwrap()),
            ufrag(&answer.local_description().unwrap()),
        );
        let received = call.stats().await.unwrap().packets_received;
        timeout(
            Duration::from_secs(10),
            session.renegotiate(restart.clone()),
        )
        .await
        .expect("renegotiate hangs")
        .unwrap_or_else(|e| panic!("{who}'s ICE restart: {e}"));
        let after = (
            ufrag(&call.local_description().unwrap()),
            ufrag(&answer.local_description().unwrap()),
        );
        assert_ne!(
            before.0, after.0,
            "alice's credentials after {who}'s restart"
        );
        assert_ne!(before.1, after.1, "bob's credentials after {who}'s restart");
        alice_ear.take();
        bob_ear.take();
        hears(&bob_ear, 440.0, "bob").await;
        hears(&alice_ear, 880.0, "alice").await;
        let now = call.stats().await.unwrap().packets_received;
        assert!(now > received + 20, "{who}: {received} -> {now}");
    }

    // Glare: both at once. Usually one gets 491 (reported, not retried, RFC 3261 §14.1) or
    // finds the other's INVITE transaction in progress; on a loaded machine one may finish
    // before the other starts. Either way no error but those, and the call goes on. (The
    // 491 reporting itself is tested deterministically in sipline-sim's sessions.rs.)
    let (ra, rb) = tokio::join!(
        call.renegotiate(restart.clone()),
        answer.renegotiate(restart.clone())
    );
    for r in [&ra, &rb] {
        if let Err(e) = r {
            assert!(
                matches!(e, Error::Rejected(s) if s.as_u16() == 491)
                    || matches!(e, Error::InvalidState(_)),
                "{e}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.renegotiate(restart).await.unwrap();
    alice_ear.take();
    bob_ear.take();
    hears(&bob_ear, 440.0, "bob").await;
    hears(&alice_ear, 880.0, "alice").await;

    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}

/// A STUN server (RFC 5389) on 127.0.0.1 answering each Binding request with `mapped` in an
/// XOR-MAPPED-ADDRESS (or never, with `None`); counts the requests.
async fn stun_server(mapped: Option<std::net::SocketAddrV4>) -> (SocketAddr, Counter) {
    stun_server_after(mapped, Duration::ZERO).await
}

type Counter = std::sync::Arc<std::sync::atomic::AtomicU32>;

/// [`stun_server`] answering `delay` after each request.
async fn stun_server_after(
    mapped: Option<std::net::SocketAddrV4>,
    delay: Duration,
) -> (SocketAddr, Counter) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let req = &buf[..n];
            if n < 20 || req[0..2] != [0, 1] {
                continue;
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(mapped) = mapped else { continue };
            let key = &req[4..20];
            let port = mapped.port().to_be_bytes();
            let mut m = vec![0x01, 0x01, 0, 12];
            m.extend_from_slice(key);
            m.extend([0x00, 0x20, 0, 8, 0, 1, port[0] ^ key[0], port[1] ^ key[1]]);
            m.extend(mapped.ip().octets().iter().zip(key).map(|(b, k)| b ^ k));
            tokio::time::sleep(delay).await;
            let _ = sock.send_to(&m, from).await;
        }
    });
    (addr, count)
}

/// `UaBuilder::stun_server`: the offer and the answer carry a server-reflexive candidate
/// (RFC 8445 §5.1.1.2) with our host address as raddr; with a STUN server that never
/// answers, the offer goes out after the bounded wait with host candidates only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_offers_stun_server_reflexive_candidates() {
    for answers in [true, false] {
        let mapped = "198.51.100.7:40000".parse().unwrap();
        let (stun, requests) = stun_server(answers.then_some(mapped)).await;
        let with_stun = |user: &str| {
            let any = "127.0.0.1:0".parse().unwrap();
            Ua::builder()
                .uri(format!("sip:{user}@127.0.0.1"))
                .ws(any)
                .stun_server(stun)
                .build()
        };
        let alice = with_stun("alice").await.unwrap();
        let bob = with_stun("bob").await.unwrap();
        let alice_hears = BufferSink::new(8000);
        let alice_ear = alice_hears.handle();
        let started = std::time::Instant::now();
        let mut call = alice
            .invite(
                &target(&bob, "bob", TransportKind::Ws),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                    audio_sink: Box::new(alice_hears),
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let answer = incoming(&bob).await;
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(2), "the offer took {waited:?}");
        if !answers {
            // The offer waited for gather_timeout (300 ms), not longer.
            assert!(waited >= Duration::from_millis(290), "{waited:?}");
        }
        let offer = String::from_utf8_lossy(&answer.request().unwrap().body).into_owned();
        assert_eq!(
            offer.contains("198.51.100.7 40000 typ srflx raddr 127.0.0.1"),
            answers,
            "{offer}"
        );
        assert!(offer.contains("typ host"), "{offer}");
        accept_with_tone(&answer, 880.0).await;
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Accepted { .. }
        ));
        let their_answer = call.remote_description().unwrap();
        assert_eq!(
            their_answer.contains("198.51.100.7 40000 typ srflx raddr 127.0.0.1"),
            answers,
            "{their_answer}"
        );
        hears(&alice_ear, 880.0, "alice").await;
        assert!(requests.load(std::sync::atomic::Ordering::Relaxed) >= 2);
        call.bye(ByeOptions::default()).await.unwrap();
        alice.stop().await;
        bob.stop().await;
    }
}

/// Trickle ICE over SIP (RFC 8840): bob (the callee, with a STUN server) answers at once
/// without his server-reflexive candidate and sends it in an INFO of the trickle-ice package
/// once the call is up; alice checks it. The STUN server maps bob to a socket of the test,
/// so alice's connectivity check arriving there proves she took the trickled candidate.
/// Without trickle at alice, bob's answer waits for the candidate instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_trickles_a_late_candidate_in_info() {
    for alice_trickles in [true, false] {
        let sniffer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(mapped) = sniffer.local_addr().unwrap() else {
            unreachable!()
        };
        // Late for an answer that does not wait, in time for one that waits (300 ms).
        let (stun, _) = stun_server_after(Some(mapped), Duration::from_millis(150)).await;
        let any = "127.0.0.1:0".parse().unwrap();
        let alice = Ua::builder()
            .uri("sip:alice@127.0.0.1")
            .ws(any)
            .trickle_ice(alice_trickles)
            .build()
            .await
            .unwrap();
        let bob = Ua::builder()
            .uri("sip:bob@127.0.0.1")
            .ws(any)
            .stun_server(stun)
            .trickle_ice(true)
            .build()
            .await
            .unwrap();
        let alice_hears = BufferSink::new(8000);
        let alice_ear = alice_hears.handle();
        let mut call = alice
            .invite(
                &target(&bob, "bob", TransportKind::Ws),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                    audio_sink: Box::new(alice_hears),
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let answer = incoming(&bob).await;
        let invite = answer.request().unwrap();
        let supported = invite
            .headers
            .values(HeaderName::Supported)
            .any(|v| v == "trickle-ice");
        assert_eq!(supported, alice_trickles, "{invite:?}");
        accept_with_tone(&answer, 880.0).await;
        let response = match next(&mut call).await {
            SessionEvent::Accepted {
                response: Some(r), ..
            } => r,
            e => panic!("{e:?}"),
        };
        let srflx = format!("{} {} typ srflx", mapped.ip(), mapped.port());
        let sdp = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(sdp.contains(&srflx), !alice_trickles, "{sdp}");
        assert!(
            response
                .headers
                .values(HeaderName::Supported)
                .any(|v| v == "trickle-ice"),
            "{response:?}"
        );
        assert_eq!(response.headers.get_other("Recv-Info"), Some("trickle-ice"));
        // Alice checks bob's candidate: from the INFO, or from the SDP.
        let mut buf = [0u8; 1500];
        let (n, _) = timeout(Duration::from_secs(5), sniffer.recv_from(&mut buf))
            .await
            .expect("no connectivity check to bob's trickled candidate")
            .unwrap();
        assert_eq!(&buf[..2], &[0, 1], "a STUN Binding request");
        assert!(n > 20);
        hears(&alice_ear, 880.0, "alice").await;
        call.bye(ByeOptions::default()).await.unwrap();
        alice.stop().await;
        bob.stop().await;
    }
}

/// Full trickle ICE over SIP (RFC 8840 §4.2): alice, the caller, knows bob does trickle ICE;
/// her INVITE leaves at once with host candidates only, without waiting for her STUN server
/// (which answers late), and her server-reflexive candidate and end-of-candidates follow in
/// an INFO of the trickle-ice package. The STUN server maps alice to a socket of the test, so
/// bob's connectivity check arriving there proves he took the trickled candidate; the call
/// connects and audio flows both ways. First round: bob answers at once, the INFO goes after
/// the 200. Second round: bob answers in a 183 (early media, an early dialog, RFC 8840 §5.1)
/// and the STUN answer comes after it: the INFO goes in the early dialog and bob checks the
/// candidate before the call is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_full_trickle_invite_goes_before_the_stun_answer() {
    for ring in [false, true] {
        full_trickle_call(ring).await;
    }
}

async fn full_trickle_call(ring: bool) {
    let sniffer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let std::net::SocketAddr::V4(mapped) = sniffer.local_addr().unwrap() else {
        unreachable!()
    };
    let delay = Duration::from_millis(if ring { 500 } else { 700 });
    let (stun, requests) = stun_server_after(Some(mapped), delay).await;
    let any = "127.0.0.1:0".parse().unwrap();
    let alice = Ua::builder()
        .uri("sip:alice@127.0.0.1")
        .ws(any)
        .stun_server(stun)
        .trickle_ice_mode(TrickleMode::Full)
        .build()
        .await
        .unwrap();
    let bob = Ua::builder()
        .uri("sip:bob@127.0.0.1")
        .ws(any)
        .trickle_ice(true)
        .build()
        .await
        .unwrap();
    let alice_hears = BufferSink::new(8000);
    let alice_ear = alice_hears.handle();
    let started = std::time::Instant::now();
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Ws),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(alice_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    // Half trickle waits gather_timeout (300 ms) for the STUN answer here.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(290), "the offer took {took:?}");
    let answer = incoming(&bob).await;
    let invite = answer.request().unwrap();
    assert!(
        invite
            .headers
            .values(HeaderName::Supported)
            .any(|v| v == "trickle-ice"),
        "{invite:?}"
    );
    let offer = String::from_utf8_lossy(&invite.body).into_owned();
    assert!(offer.contains("typ host"), "{offer}");
    assert!(!offer.contains("typ srflx"), "{offer}");
    assert!(requests.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let mut buf = [0u8; 1500];
    if ring {
        answer
            .progress(ProgressOptions {
                status_code: sipline::StatusCode::new(183).unwrap(),
                media: true,
                ..ProgressOptions::default()
            })
            .await
            .unwrap();
        let (n, _) = timeout(Duration::from_secs(5), sniffer.recv_from(&mut buf))
            .await
            .expect("no check to alice's candidate trickled in the early dialog")
            .unwrap();
        assert_eq!(&buf[..2], &[0, 1], "a STUN Binding request");
        assert!(n > 20);
    }
    let bob_ear = accept_with_tone(&answer, 880.0).await;
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    // Bob checks alice's trickled candidate (still, after an early dialog).
    let (n, _) = timeout(Duration::from_secs(5), sniffer.recv_from(&mut buf))
        .await
        .expect("no connectivity check to alice's trickled candidate")
        .unwrap();
    assert_eq!(&buf[..2], &[0, 1], "a STUN Binding request");
    assert!(n > 20);
    if !ring {
        // (Early media plays silence and keeps playing it after accept: no tones then.)
        hears(&alice_ear, 880.0, "alice").await;
        hears(&bob_ear, 440.0, "bob").await;
    }
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}

/// A WebRTC INVITE is larger than 1300 bytes, so it goes over TCP (RFC 3261 §18.1.1); to a
/// peer with no TCP listener the connection is refused and the INVITE goes again over UDP,
/// as §18.1.1 says an element SHOULD: the call is set up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_invite_refused_over_tcp_goes_over_udp() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let udp_only = |user: &str| {
        Ua::builder()
            .uri(format!("sip:{user}@127.0.0.1"))
            .udp(any)
            .build()
    };
    let alice = udp_only("alice").await.unwrap();
    let bob = udp_only("bob").await.unwrap();
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions {
                media: MediaChoice::WebRtc,
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let invite = call.request().unwrap();
    assert!(invite.body.len() > 1300, "{} bytes", invite.body.len());
    let answer = incoming(&bob).await;
    let via = answer
        .request()
        .unwrap()
        .top_via()
        .unwrap()
        .transport
        .to_owned();
    assert_eq!(via, "UDP");
    answer.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}
