//! Interop of the public API with baresip (Debian `baresip-core`), a real SIP phone, on
//! 127.0.0.1:
//! - baresip calls sipline: sipline rings, answers playing 440 Hz, hears baresip's 880 Hz
//!   sine (`ausine`), gets DTMF from baresip (RFC 4733), hangs up with BYE;
//! - sipline calls baresip (`answermode=auto`): the same audio checks both ways, DTMF to
//!   baresip by RFC 4733 and by INFO, DTMF from baresip (RFC 4733), BYE from sipline;
//! - baresip calls sipline over TCP, holds and resumes (two re-INVITEs), hangs up (BYE);
//! - baresip cancels a ringing call, sipline rejects one (486), sipline cancels one.
//!
//! `SIPLINE_BARESIP_TRACE=1` makes baresip print every SIP message (`-s`) and the tests
//! print baresip's output.
//!
//! What baresip heard is read from its `sndfile` dump of the decoded audio (a WAV).
//! baresip runs with its own config directory, is driven through stdin (`stdio` module),
//! and is killed by its pid when the test ends on any path; its output is printed when a
//! test fails. baresip is required: when it is missing the tests fail with how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/baresip.rs"]
#[allow(dead_code, unreachable_pub)]
mod baresip;

use std::net::SocketAddr;
use std::time::Duration;

use baresip::{BARESIP_HZ, Baresip, SIPLINE_HZ, assert_tone};
use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, DtmfOptions, DtmfTransport, InviteOptions,
    ProgressOptions, Session, SessionEvent, StatusCode, ToneSource, TransportKind, Ua, UaEvent,
};
use tokio::time::timeout;

#[path = "common/calls.rs"]
mod calls;
use calls::{next, next_after_progress};

async fn ua() -> Ua {
    Ua::builder()
        .uri("sip:alice@127.0.0.1")
        .udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build()
        .await
        .unwrap()
}

/// Checks the RTP statistics of an established call: packets flowed both ways.
async fn assert_rtp_both_ways(call: &Session) {
    let stats = call.stats().await.expect("the call has media");
    eprintln!("sipline RTP stats: {stats:?}");
    assert!(
        stats.packets_received >= 50 && stats.packets_sent >= 50,
        "too few RTP packets after 1.5 s: {stats:?}"
    );
    assert_eq!(stats.packets_invalid, 0, "{stats:?}");
}

/// A digit typed on baresip's console goes out as RFC 4733 events; sipline reports it.
async fn dtmf_from_baresip(call: &mut Session, baresip: &mut Baresip) {
    baresip.type_keys("4").await;
    match next(call).await {
        SessionEvent::Dtmf { tone, request, .. } => {
            assert_eq!(tone, '4');
            assert!(request.is_none(), "by RFC 4733");
        }
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
}

/// sipline hangs up: the call ends by our BYE, and baresip sees it end.
async fn hang_up(call: &mut Session, baresip: &Baresip) {
    call.bye(ByeOptions::default()).await.unwrap();
    match next(call).await {
        SessionEvent::Terminated { cause } => assert_eq!(cause, Cause::Bye),
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    assert!(call.next_event().await.is_none());
    assert!(call.end_time().is_some());
    baresip.wait_for("terminated", Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_sipline() {
    let ua = ua().await;
    let addr = ua.local_addr(TransportKind::Udp).unwrap();
    let mut baresip = Baresip::start(Some(&format!("sip:alice@{addr}")));
    let mut call = match timeout(Duration::from_secs(15), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!(
            "no call from baresip: {other:?}\n--- baresip ---\n{}",
            baresip.log()
        ),
    };
    let from = call.remote_identity().unwrap();
    assert!(from.starts_with("sip:bob@127.0.0.1"), "{from}");
    call.progress(ProgressOptions::default()).await.unwrap();
    baresip
        .wait_for("180 Ringing", Duration::from_secs(5))
        .await;
    let sink = BufferSink::new(8000);
    let ear = sink.handle();
    call.accept(AcceptOptions {
        audio_source: Box::new(ToneSource::new(8000, SIPLINE_HZ, -10.0)),
        audio_sink: Box::new(sink),
        ..AcceptOptions::default()
    })
    .await
    .unwrap();
    match next(&mut call).await {
        SessionEvent::Accepted { code, response } => {
            assert_eq!(code, StatusCode::OK);
            assert!(response.is_none(), "inbound: accepted by the ACK");
        }
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    baresip
        .wait_for("Call established", Duration::from_secs(5))
        .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_rtp_both_ways(&call).await;
    assert_tone("sipline heard baresip", &ear.take(), 8000, BARESIP_HZ);

    dtmf_from_baresip(&mut call, &mut baresip).await;

    hang_up(&mut call, &baresip).await;
    let status = baresip.quit(Duration::from_secs(10)).await;
    assert!(status.success(), "baresip exited with {status}");
    let (samples, rate) = baresip.decoded_audio();
    assert_tone("baresip heard sipline", &samples, rate, SIPLINE_HZ);
    ua.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_calls_baresip() {
    let ua = ua().await;
    let mut baresip = Baresip::start(None);
    baresip
        .wait_for("baresip is ready", Duration::from_secs(10))
        .await;
    let sink = BufferSink::new(8000);
    let ear = sink.handle();
    let mut call = ua
        .invite(
            &format!("sip:bob@127.0.0.1:{}", baresip.port),
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, SIPLINE_HZ, -10.0)),
                audio_sink: Box::new(sink),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    match next_after_progress(&mut call).await {
        SessionEvent::Accepted { code, response } => {
            assert_eq!(code, StatusCode::OK);
            let sdp = String::from_utf8_lossy(&response.unwrap().body).into_owned();
            assert!(sdp.contains("RTP/AVP"), "{sdp}");
        }
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    baresip
        .wait_for("Call established", Duration::from_secs(5))
        .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_rtp_both_ways(&call).await;
    assert_tone("sipline heard baresip", &ear.take(), 8000, BARESIP_HZ);

    // DTMF to baresip by RFC 4733: baresip logs each telephone-event it receives.
    call.dtmf(
        "15#",
        DtmfOptions {
            transport: DtmfTransport::Rtp,
            inter_tone_gap: Duration::from_millis(100),
            ..DtmfOptions::default()
        },
    )
    .await
    .unwrap();
    for tone in ['1', '5', '#'] {
        baresip
            .wait_for(&format!("received event: '{tone}'"), Duration::from_secs(5))
            .await;
    }
    // DTMF to baresip by SIP INFO (application/dtmf-relay).
    call.dtmf(
        "7",
        DtmfOptions {
            transport: DtmfTransport::Info,
            ..DtmfOptions::default()
        },
    )
    .await
    .unwrap();
    baresip
        .wait_for("received DTMF: '7'", Duration::from_secs(5))
        .await;

    dtmf_from_baresip(&mut call, &mut baresip).await;

    hang_up(&mut call, &baresip).await;
    let status = baresip.quit(Duration::from_secs(10)).await;
    assert!(status.success(), "baresip exited with {status}");
    let (samples, rate) = baresip.decoded_audio();
    assert_tone("baresip heard sipline", &samples, rate, SIPLINE_HZ);
    ua.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_over_tcp_holds_resumes_and_hangs_up() {
    let ua = Ua::builder()
        .uri("sip:alice@127.0.0.1")
        .udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .tcp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build()
        .await
        .unwrap();
    let addr = ua.local_addr(TransportKind::Tcp).unwrap();
    let mut baresip = Baresip::start(Some(&format!("sip:alice@{addr};transport=tcp")));
    let mut call = match timeout(Duration::from_secs(15), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!(
            "no call from baresip: {other:?}\n--- baresip ---\n{}",
            baresip.log()
        ),
    };
    let sink = BufferSink::new(8000);
    let ear = sink.handle();
    call.accept(AcceptOptions {
        audio_source: Box::new(ToneSource::new(8000, SIPLINE_HZ, -10.0)),
        audio_sink: Box::new(sink),
        ..AcceptOptions::default()
    })
    .await
    .unwrap();
    match next(&mut call).await {
        SessionEvent::Accepted { .. } => {}
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    baresip
        .wait_for("Call established", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_tone("sipline heard baresip", &ear.take(), 8000, BARESIP_HZ);
    // baresip puts the call on hold and resumes it: two re-INVITEs.
    baresip.type_keys("/hold\n").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    baresip.type_keys("/resume\n").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    ear.take();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_tone(
        "sipline heard baresip after resume",
        &ear.take(),
        8000,
        BARESIP_HZ,
    );
    if std::env::var_os("SIPLINE_BARESIP_TRACE").is_some() {
        eprintln!("{}", baresip.log());
    }
    // baresip hangs up.
    baresip.type_keys("/hangup\n").await;
    match next(&mut call).await {
        SessionEvent::Bye { .. } => {}
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    match next(&mut call).await {
        SessionEvent::Terminated { cause } => assert_eq!(cause, Cause::Bye),
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    let status = baresip.quit(Duration::from_secs(10)).await;
    assert!(status.success(), "baresip exited with {status}");
    ua.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_cancels_and_sipline_rejects_and_cancels() {
    let ua = ua().await;
    let addr = ua.local_addr(TransportKind::Udp).unwrap();
    let mut baresip = Baresip::start_with(None, "manual");
    baresip
        .wait_for("baresip is ready", Duration::from_secs(10))
        .await;

    // baresip calls and gives up while sipline rings: CANCEL.
    baresip
        .type_keys(&format!("/dial sip:alice@{addr}\n"))
        .await;
    let mut call = match timeout(Duration::from_secs(10), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no call: {other:?}\n--- baresip ---\n{}", baresip.log()),
    };
    call.progress(ProgressOptions::default()).await.unwrap();
    baresip
        .wait_for("180 Ringing", Duration::from_secs(5))
        .await;
    baresip.type_keys("/hangup\n").await;
    match next(&mut call).await {
        SessionEvent::Cancel => {}
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }
    match next(&mut call).await {
        SessionEvent::Terminated { cause } => assert_eq!(cause, Cause::Canceled),
        e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
    }

    // baresip calls again; sipline is busy.
    baresip
        .type_keys(&format!("/dial sip:alice@{addr}\n"))
        .await;
    let call = match timeout(Duration::from_secs(10), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no call: {other:?}\n--- baresip ---\n{}", baresip.log()),
    };
    call.reject(sipline::RejectOptions {
        status_code: StatusCode::BUSY_HERE,
        ..sipline::RejectOptions::default()
    })
    .await
    .unwrap();
    baresip
        .wait_for("486 Busy Here", Duration::from_secs(5))
        .await;

    // sipline calls baresip, which rings (manual answer), and cancels.
    let mut call = ua
        .invite(
            &format!("sip:bob@127.0.0.1:{}", baresip.port),
            InviteOptions::default(),
        )
        .await
        .unwrap();
    loop {
        match next(&mut call).await {
            SessionEvent::Progress { response } if response.status == StatusCode::RINGING => {
                break;
            }
            SessionEvent::Progress { .. } => {}
            e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
        }
    }
    call.cancel(sipline::CancelOptions::default())
        .await
        .unwrap();
    loop {
        match next(&mut call).await {
            SessionEvent::Rejected { response, .. } => {
                assert_eq!(response.status, StatusCode::REQUEST_TERMINATED);
            }
            SessionEvent::Failed { cause, .. } => {
                assert_eq!(cause, Cause::Canceled);
                break;
            }
            e => panic!("{e:?}\n--- baresip ---\n{}", baresip.log()),
        }
    }
    if std::env::var_os("SIPLINE_BARESIP_TRACE").is_some() {
        eprintln!("{}", baresip.log());
    }
    let status = baresip.quit(Duration::from_secs(10)).await;
    assert!(status.success(), "baresip exited with {status}");
    ua.stop().await;
}
