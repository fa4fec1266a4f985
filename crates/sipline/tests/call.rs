//! Two sipline user agents call each other over UDP and TCP on 127.0.0.1 through the public
//! API: ringing, answer, real RTP audio both ways (each side plays a tone, the other side
//! hears it at the right frequency), DTMF by INFO and by RFC 4733 both ways, mute/unmute,
//! REFER, hang-up; cancel, reject, and an unanswered call dropped (480).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, DtmfOptions, DtmfTransport, InviteOptions,
    MuteOptions, ProgressOptions, ReferOptions, RejectOptions, SessionEvent, StatusCode,
    ToneSource, TransportKind, Ua, tone_frequency,
};
use tokio::time::timeout;

#[path = "common/calls.rs"]
mod calls;
use calls::{incoming, next, next_after_progress, target};

async fn ua(user: &str) -> Ua {
    let any = "127.0.0.1:0".parse().unwrap();
    Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .udp(any)
        .tcp(any)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_audio_dtmf_mute_refer_and_bye() {
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
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
                    extra_headers: vec![("X-Call".into(), "demo".into())],
                    rel100: None,
                    media: sipline::MediaChoice::Rtp,
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let mut answer = incoming(&bob).await;
        assert_eq!(
            answer.request().unwrap().headers.get_other("X-Call"),
            Some("demo")
        );
        assert_eq!(
            answer.remote_identity().as_deref(),
            Some("sip:alice@127.0.0.1")
        );
        assert_eq!(
            answer.local_identity().as_deref(),
            Some(target(&bob, "bob", transport).as_str())
        );
        assert_eq!(
            call.local_identity().as_deref(),
            Some("sip:alice@127.0.0.1")
        );
        assert_eq!(answer.method(), sipline::Method::Invite);
        // Application data rides on the session (SIP.js `data`).
        answer.set_data(String::from("from the lobby"));
        assert_eq!(answer.data::<String>().as_deref(), Some("from the lobby"));
        assert_eq!(answer.data::<u32>(), None);
        assert_eq!(call.ua().identity(), "<sip:alice@127.0.0.1>");
        // Not yet established: DTMF is refused (SIP.js INVALID_STATE_ERROR).
        assert!(matches!(
            call.dtmf("1", DtmfOptions::default()).await,
            Err(sipline::Error::InvalidState(_))
        ));
        answer.progress(ProgressOptions::default()).await.unwrap();
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Progress { .. }
        ));
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
        // SIP.js's `connecting` comes first on both sides, then `accepted`.
        let mut saw = Vec::new();
        loop {
            let e = timeout(Duration::from_secs(10), call.next_event())
                .await
                .unwrap()
                .unwrap();
            match e {
                SessionEvent::Progress { .. } => {}
                SessionEvent::Connecting => saw.push("connecting"),
                e => {
                    saw.push("accepted");
                    assert!(matches!(e, SessionEvent::Accepted { .. }), "{e:?}");
                    break;
                }
            }
        }
        assert_eq!(saw, ["connecting", "accepted"]);
        let accepted = SessionEvent::Accepted {
            code: StatusCode::OK,
            response: None,
        };
        assert!(
            matches!(accepted, SessionEvent::Accepted { code, .. } if code == StatusCode::OK),
            "{accepted:?}"
        );
        assert!(matches!(
            answer.next_event().await,
            Some(SessionEvent::Connecting)
        ));
        assert!(matches!(
            next(&mut answer).await,
            SessionEvent::Accepted { response: None, .. }
        ));
        assert!(call.start_time().is_some() && answer.start_time().is_some());

        // One second of audio each way.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let heard_by_bob = tone_frequency(&bob_ear.take(), 8000).unwrap();
        let heard_by_alice = tone_frequency(&alice_ear.take(), 8000).unwrap();
        assert!(
            (heard_by_bob - 440.0).abs() < 5.0,
            "bob heard {heard_by_bob} Hz"
        );
        assert!(
            (heard_by_alice - 880.0).abs() < 5.0,
            "alice heard {heard_by_alice} Hz"
        );
        let stats = call.stats().await.unwrap();
        assert!(
            stats.packets_received > 30 && stats.packets_sent > 30,
            "{stats:?}"
        );

        // DTMF: INFO from alice, RFC 4733 from bob.
        call.dtmf(
            "1#",
            DtmfOptions {
                inter_tone_gap: Duration::from_millis(100),
                duration: Duration::from_millis(250),
                extra_headers: vec![("X-Digit".into(), "yes".into())],
                ..DtmfOptions::default()
            },
        )
        .await
        .unwrap();
        for want in ['1', '#'] {
            match next(&mut answer).await {
                SessionEvent::Dtmf {
                    tone,
                    request,
                    duration,
                } => {
                    assert_eq!(tone, want);
                    assert_eq!(duration, Duration::from_millis(250));
                    let info = request.expect("by INFO");
                    assert_eq!(info.headers.get_other("X-Digit"), Some("yes"));
                }
                e => panic!("{e:?}"),
            }
        }
        answer
            .dtmf(
                "9",
                DtmfOptions {
                    transport: DtmfTransport::Rtp,
                    ..DtmfOptions::default()
                },
            )
            .await
            .unwrap();
        match next(&mut call).await {
            SessionEvent::Dtmf { tone, request, .. } => {
                assert_eq!(tone, '9');
                assert!(request.is_none(), "by RFC 4733");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            call.dtmf("x", DtmfOptions::default()).await,
            Err(sipline::Error::InvalidArgument(_))
        ));

        // Streams (SIP.js getLocalStreams/getRemoteStreams): one audio track each way.
        let local = call.local_streams();
        let remote = answer.remote_streams();
        assert_eq!((local.len(), remote.len()), (1, 1), "{local:?} {remote:?}");
        assert_eq!(local[0].tracks[0].kind, sipline::MediaKind::Audio);
        assert!(local[0].tracks[0].enabled);
        assert!(
            remote[0].tracks[0].codecs.contains(&"PCMU/8000".to_owned()),
            "{remote:?}"
        );
        assert_eq!(call.remote_streams().len(), 1);
        // Mute: the events, and silence reaches bob.
        call.mute(MuteOptions::default()).await.unwrap();
        assert!(!call.local_streams()[0].tracks[0].enabled, "muted");
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Muted { audio: true, .. }
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        bob_ear.take();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quiet = bob_ear.take();
        assert!(!quiet.is_empty());
        assert!(
            quiet.iter().all(|s| s.abs() < 100),
            "bob still hears alice while muted"
        );
        call.unmute(MuteOptions::default()).await.unwrap();
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Unmuted { audio: true, .. }
        ));

        // REFER: bob is asked to call carol; the 202 resolves refer().
        call.refer("sip:carol@127.0.0.1", ReferOptions::default())
            .await
            .unwrap();
        match next(&mut answer).await {
            SessionEvent::Refer { request } => {
                let to = request.headers.refer_to().unwrap().unwrap();
                assert_eq!(to.uri.as_str(), "sip:carol@127.0.0.1");
            }
            e => panic!("{e:?}"),
        }

        // A BYE status code outside 200-699 is an InvalidArgument (SIP.js TypeError).
        assert!(matches!(
            answer
                .bye(ByeOptions {
                    status_code: Some(StatusCode::RINGING),
                    ..ByeOptions::default()
                })
                .await,
            Err(sipline::Error::InvalidArgument(_))
        ));
        // Bob hangs up with a reason.
        answer
            .bye(ByeOptions {
                status_code: Some(StatusCode::OK),
                reason_phrase: Some("done".into()),
                extra_headers: vec![("X-Bye".into(), "1".into())],
                body: Some(sipline::Body {
                    content_type: "text/plain".into(),
                    bytes: "bye now".into(),
                }),
            })
            .await
            .unwrap();
        match next(&mut call).await {
            SessionEvent::Bye { request } => {
                assert_eq!(request.headers.get_other("X-Bye"), Some("1"));
                assert_eq!(request.body.as_ref(), b"bye now");
                let reason = request.headers.get(sipline::HeaderName::Reason).unwrap();
                assert!(reason.contains("text=\"done\""), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            next(&mut call).await,
            SessionEvent::Terminated { cause: Cause::Bye }
        ));
        assert!(matches!(
            next(&mut answer).await,
            SessionEvent::Terminated { cause: Cause::Bye }
        ));
        assert!(call.next_event().await.is_none());
        assert!(call.end_time().is_some());
        // After the end, methods say so.
        assert!(call.bye(ByeOptions::default()).await.is_err());
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reject_and_an_unanswered_call_dropped() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;

    // Cancel while ringing.
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    let mut answer = incoming(&bob).await;
    answer.progress(ProgressOptions::default()).await.unwrap();
    loop {
        if let SessionEvent::Progress { response } = next(&mut call).await
            && response.status == StatusCode::RINGING
        {
            break;
        }
    }
    call.cancel(sipline::CancelOptions {
        status_code: Some(StatusCode::OK),
        reason_phrase: Some("Call completed elsewhere".into()),
        ..sipline::CancelOptions::default()
    })
    .await
    .unwrap();
    assert!(matches!(next(&mut answer).await, SessionEvent::Cancel));
    assert!(matches!(
        next(&mut answer).await,
        SessionEvent::Terminated {
            cause: Cause::Canceled
        }
    ));
    let mut saw_rejected = false;
    loop {
        match next_after_progress(&mut call).await {
            SessionEvent::Rejected { .. } => saw_rejected = true,
            SessionEvent::Failed { cause, code, .. } => {
                assert_eq!(cause, Cause::Canceled);
                assert_eq!(code, Some(StatusCode::REQUEST_TERMINATED));
                break;
            }
            e => panic!("{e:?}"),
        }
    }
    assert!(saw_rejected);

    // Reject busy.
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    answer
        .reject(RejectOptions {
            status_code: StatusCode::BUSY_HERE,
            ..RejectOptions::default()
        })
        .await
        .unwrap();
    assert!(
        answer.accept(AcceptOptions::default()).await.is_err(),
        "already answered"
    );
    loop {
        match next_after_progress(&mut call).await {
            SessionEvent::Rejected { response, .. } => {
                assert_eq!(response.status, StatusCode::BUSY_HERE);
            }
            SessionEvent::Failed { cause, .. } => {
                assert_eq!(cause, Cause::Busy);
                break;
            }
            e => panic!("{e:?}"),
        }
    }

    // bob drops the session without answering: 480.
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    drop(incoming(&bob).await);
    loop {
        match next_after_progress(&mut call).await {
            SessionEvent::Rejected { .. } => {}
            SessionEvent::Failed { cause, code, .. } => {
                assert_eq!(code, Some(StatusCode::TEMPORARILY_UNAVAILABLE));
                assert_eq!(cause, Cause::Unavailable);
                break;
            }
            e => panic!("{e:?}"),
        }
    }
    // Accepted without media (SIP.js media constraints): the answer declines the stream
    // (port 0) and no RTP flows.
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    answer
        .accept(AcceptOptions {
            media: sipline::MediaConstraints {
                audio: false,
                video: false,
            },
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    match next_after_progress(&mut call).await {
        SessionEvent::Accepted {
            response: Some(r), ..
        } => {
            let sdp = String::from_utf8_lossy(&r.body).into_owned();
            assert!(sdp.contains("m=audio 0 RTP/AVP"), "{sdp}");
        }
        e => panic!("{e:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call.stats().await.map_or(0, |s| s.packets_received), 0);
    assert!(
        answer.stats().await.is_none(),
        "no media task on the answering side"
    );
    assert!(answer.local_streams().is_empty() && call.remote_streams().is_empty());
    assert_eq!(
        answer.remote_streams().len(),
        1,
        "the offer's stream, read from the INVITE"
    );
    call.bye(ByeOptions::default()).await.unwrap();

    // A bad target is an InvalidArgument.
    assert!(matches!(
        alice.invite("not a uri", InviteOptions::default()).await,
        Err(sipline::Error::InvalidArgument(_))
    ));
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_with_follow_refer_and_sipfrag_notifies() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;
    let carol = ua("carol").await;
    let mut a_call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    let mut b_call = incoming(&bob).await;
    // Not established yet: REFER is refused (INVALID_STATE_ERROR).
    assert!(matches!(
        a_call
            .refer("sip:carol@127.0.0.1", ReferOptions::default())
            .await,
        Err(sipline::Error::InvalidState(_))
    ));
    b_call.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next_after_progress(&mut a_call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(
        next(&mut b_call).await,
        SessionEvent::Accepted { .. }
    ));

    // A target that is no URI is a TypeError's InvalidArgument.
    assert!(matches!(
        a_call.refer("not a uri", ReferOptions::default()).await,
        Err(sipline::Error::InvalidArgument(_))
    ));
    // alice transfers bob to carol (RFC 3515); bob follows the REFER.
    a_call
        .refer(
            &target(&carol, "carol", TransportKind::Udp),
            ReferOptions {
                extra_headers: vec![("X-Transfer".into(), "blind".into())],
            },
        )
        .await
        .unwrap();
    let refer = match next(&mut b_call).await {
        SessionEvent::Refer { request } => request,
        e => panic!("{e:?}"),
    };
    assert_eq!(refer.headers.get_other("X-Transfer"), Some("blind"));
    let (b_to_c, c_call) = tokio::join!(
        b_call.follow_refer(&refer, InviteOptions::default()),
        incoming(&carol)
    );
    let mut b_to_c = b_to_c.unwrap();
    let mut c_call = c_call;
    assert_eq!(
        c_call.remote_identity().as_deref(),
        Some("sip:bob@127.0.0.1")
    );
    c_call.progress(ProgressOptions::default()).await.unwrap();
    c_call.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next_after_progress(&mut b_to_c).await,
        SessionEvent::Accepted { .. }
    ));

    // alice hears how it went: 100 Trying, 180 Ringing, 200 OK in sipfrag NOTIFYs.
    let mut statuses = Vec::new();
    while statuses.last() != Some(&200) {
        match next(&mut a_call).await {
            SessionEvent::ReferProgress { status, request } => {
                assert_eq!(
                    request.headers.get(sipline::HeaderName::Event),
                    Some("refer")
                );
                statuses.push(status.as_u16());
            }
            e => panic!("{e:?}"),
        }
    }
    assert_eq!(statuses, [100, 180, 200]);

    // alice leaves; bob and carol stay connected.
    a_call.bye(ByeOptions::default()).await.unwrap();
    assert!(matches!(next(&mut b_call).await, SessionEvent::Bye { .. }));
    b_to_c.bye(ByeOptions::default()).await.unwrap();
    assert!(matches!(
        next(&mut c_call).await,
        SessionEvent::Accepted { .. }
    ));
    assert!(matches!(next(&mut c_call).await, SessionEvent::Bye { .. }));
    for ua in [alice, bob, carol] {
        ua.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcm_frames_in_and_out_through_channels() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;
    // alice's application produces PCM itself: 1 s of a 500 Hz sine, queued at once.
    let (source, frames_in) = sipline::ChannelSource::new(8000);
    let sine: Vec<i16> = (0..8000)
        .map(|n| (8000.0 * (2.0 * std::f32::consts::PI * 500.0 * n as f32 / 8000.0).sin()) as i16)
        .collect();
    frames_in.send(sine).unwrap();
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions {
                audio_source: Box::new(source),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    // bob's application takes the decoded frames.
    let (sink, frames_out) = sipline::ChannelSink::new(8000);
    answer
        .accept(AcceptOptions {
            audio_sink: Box::new(sink),
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        next_after_progress(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let heard: Vec<i16> = frames_out.try_iter().flatten().collect();
    assert!(heard.len() >= 4000, "{} samples", heard.len());
    let f = tone_frequency(&heard, 8000).unwrap();
    assert!((f - 500.0).abs() < 5.0, "bob heard {f} Hz");
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}

/// RTCP (RFC 3550 §6.4) between two UAs: the first report leaves 1.25-3.75 s after media
/// starts (half an interval of 5 s, randomised 0.5-1.5), so within 8 s each side has sent one
/// and received the other's, over rtcp-mux (RFC 5761) which both offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_reports_flow_both_ways() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    answer.accept(AcceptOptions::default()).await.unwrap();
    assert!(matches!(
        next_after_progress(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        let a = call.stats().await.unwrap();
        let b = answer.stats().await.unwrap();
        if [&a, &b]
            .iter()
            .all(|s| s.rtcp_sent > 0 && s.rtcp_received > 0)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no RTCP both ways within 8 s: {a:?} / {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}

/// `Session::renegotiate` on a plain RTP call: a re-INVITE with a re-offer (`ice_restart`
/// has no ICE to restart here, RFC 3264 §8), answered; audio goes on both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiate_a_plain_rtp_call() {
    let alice = ua("alice").await;
    let bob = ua("bob").await;
    let bob_hears = BufferSink::new(8000);
    let bob_ear = bob_hears.handle();
    let mut call = alice
        .invite(
            &target(&bob, "bob", TransportKind::Udp),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    let answer = incoming(&bob).await;
    answer
        .accept(AcceptOptions {
            audio_sink: Box::new(bob_hears),
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        next_after_progress(&mut call).await,
        SessionEvent::Accepted { .. }
    ));
    let before = call.local_description().unwrap();
    for ice_restart in [false, true] {
        timeout(
            Duration::from_secs(5),
            call.renegotiate(sipline::RenegotiateOptions {
                ice_restart,
                ..Default::default()
            }),
        )
        .await
        .expect("renegotiate hangs")
        .unwrap();
    }
    // Nothing changed: the same SDP, same o= version (RFC 3264 §8).
    assert_eq!(call.local_description().unwrap(), before);
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob_ear.take();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let f = tone_frequency(&bob_ear.take(), 8000).unwrap_or(0.0);
    assert!(
        (f - 440.0).abs() < 5.0,
        "bob heard {f} Hz after the re-INVITEs"
    );
    call.bye(ByeOptions::default()).await.unwrap();
    alice.stop().await;
    bob.stop().await;
}
