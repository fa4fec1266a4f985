//! Two sipline user agents call each other with WebRTC media (ICE, DTLS-SRTP, Opus, BUNDLE,
//! rtcp-mux) on 127.0.0.1: over WebSocket, where `MediaChoice::Auto` picks WebRTC, and over
//! TCP with WebRTC asked for explicitly. Each side plays a tone and hears the other's at the
//! right frequency; RFC 4733 DTMF both ways; mute; BYE. The answerer never chooses: it
//! answers whatever the offer asks for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, DtmfOptions, DtmfTransport, InviteOptions,
    MediaChoice, MuteOptions, Session, SessionEvent, ToneSource, TransportKind, Ua, UaEvent,
    tone_frequency,
};
use tokio::time::timeout;

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

/// The next event, skipping `Connecting` and provisional responses.
async fn next(s: &mut Session) -> SessionEvent {
    loop {
        let e = timeout(Duration::from_secs(10), s.next_event())
            .await
            .expect("no session event within 10 s")
            .expect("the session ended without Terminated");
        if !matches!(e, SessionEvent::Connecting | SessionEvent::Progress { .. }) {
            return e;
        }
    }
}

async fn incoming(ua: &Ua) -> Session {
    match timeout(Duration::from_secs(10), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no incoming call: {other:?}"),
    }
}

fn target(ua: &Ua, user: &str, transport: TransportKind) -> String {
    let addr = ua.local_addr(transport).unwrap();
    match transport {
        TransportKind::Udp => format!("sip:{user}@{addr}"),
        t => format!("sip:{user}@{addr};transport={}", t.uri_param()),
    }
}

/// Waits until `ear` has heard `want` Hz for a while (ICE and DTLS take a moment), then
/// returns the frequency heard over the last half second.
async fn hears(ear: &sipline::BufferHandle, want: f32, who: &str) {
    let mut last = None;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let samples = ear.take();
        last = tone_frequency(&samples, 8000);
        if last.is_some_and(|f| (f - want).abs() < 5.0) {
            return;
        }
    }
    panic!("{who} did not hear {want} Hz; last heard {last:?}");
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
