//! Runs the examples' own code over real sockets on 127.0.0.1, so an example that stops
//! working fails the test suite: the call example calls the answering bot, the transfer
//! example runs whole, and a WebRTC "browser" (a sipline UA over WebSocket) calls a plain-RTP
//! phone through the browser bridge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../answer_bot.rs"]
#[allow(dead_code, unreachable_pub)]
mod answer_bot;
#[path = "../browser_bridge.rs"]
#[allow(dead_code, unreachable_pub)]
mod browser_bridge;
#[path = "../call.rs"]
#[allow(dead_code, unreachable_pub)]
mod call;
#[path = "../transfer.rs"]
#[allow(dead_code, unreachable_pub)]
mod transfer;

use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, DtmfOptions, InviteOptions, MediaChoice, SessionEvent,
    ToneSource, TransportKind, Ua, UaEvent, tone_frequency,
};
use tokio::time::timeout;

async fn ua(user: &str) -> Ua {
    Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .udp("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_example_calls_the_answer_bot() {
    let bot = ua("bot").await;
    let target = format!("sip:bot@{}", bot.local_addr(TransportKind::Udp).unwrap());
    let serving = tokio::spawn(answer_bot::serve(bot.clone(), None, Some(1)));
    let caller = ua("caller").await;
    // The bot hangs up at '#', long before the 20 s the caller would stay.
    let report = timeout(
        Duration::from_secs(20),
        call::call(&caller, &target, "42#", Duration::from_secs(20)),
    )
    .await
    .expect("the call took longer than 20 s")
    .unwrap();
    assert!(report.answered);
    assert!(report.hung_up_by_peer, "the bot did not hang up at '#'");
    let hz = report.heard_hz.expect("the caller heard no prompt");
    assert!((hz - 880.0).abs() < 5.0, "the caller heard {hz} Hz");
    let digits = timeout(Duration::from_secs(10), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(digits, ["42"]);
    caller.stop().await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transfer_example_connects_alice_to_carol() {
    let (alice, carol) = timeout(Duration::from_secs(30), transfer::run())
        .await
        .expect("the transfer took longer than 30 s")
        .unwrap();
    assert!((alice - 880.0).abs() < 5.0, "alice heard {alice} Hz");
    assert!((carol - 440.0).abs() < 5.0, "carol heard {carol} Hz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_caller_reaches_a_plain_rtp_phone_through_the_bridge() {
    let any = "127.0.0.1:0".parse().unwrap();
    let bridge = Ua::builder()
        .uri("sip:bridge@127.0.0.1")
        .ws(any)
        .udp(any)
        .build()
        .await
        .unwrap();
    let phone = ua("phone").await;
    let phone_uri = format!(
        "sip:phone@{}",
        phone.local_addr(TransportKind::Udp).unwrap()
    );
    let bridging = tokio::spawn(browser_bridge::serve(bridge.clone(), phone_uri, Some(1)));

    // The "browser": WebRTC media over WebSocket, a 440 Hz tone.
    let browser = Ua::builder()
        .uri("sip:browser@127.0.0.1")
        .ws(any)
        .build()
        .await
        .unwrap();
    let ws = bridge.local_addr(TransportKind::Ws).unwrap();
    let browser_hears = BufferSink::new(48000);
    let browser_heard = browser_hears.handle();
    let mut b_call = browser
        .invite(
            &format!("sip:bridge@{ws};transport=ws"),
            InviteOptions {
                media: MediaChoice::WebRtc,
                audio_source: Box::new(ToneSource::new(48000, 440.0, -12.0)),
                audio_sink: Box::new(browser_hears),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();

    // The phone answers the bridge's plain-RTP call with 660 Hz.
    let mut p_call = match timeout(Duration::from_secs(10), phone.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("the phone got no call: {other:?}"),
    };
    let offer = String::from_utf8_lossy(&p_call.request().unwrap().body).into_owned();
    assert!(
        offer.contains("RTP/AVP") && !offer.contains("SAVPF"),
        "{offer}"
    );
    let phone_hears = BufferSink::new(8000);
    let phone_heard = phone_hears.handle();
    p_call
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(8000, 660.0, -12.0)),
            audio_sink: Box::new(phone_hears),
            ..AcceptOptions::default()
        })
        .await
        .unwrap();
    loop {
        match timeout(Duration::from_secs(10), b_call.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::Accepted { .. }) => break,
            Some(SessionEvent::Terminated { cause }) => panic!("browser call ended: {cause:?}"),
            _ => {}
        }
    }
    assert!(
        b_call
            .remote_description()
            .unwrap()
            .contains("UDP/TLS/RTP/SAVPF")
    );

    // Audio both ways through the bridge, then a digit from the browser reaches the phone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b_call.dtmf("5", DtmfOptions::default()).await.unwrap();
    let tone = loop {
        match timeout(Duration::from_secs(10), p_call.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::Dtmf { tone, .. }) => break tone,
            Some(SessionEvent::Terminated { cause }) => panic!("phone call ended: {cause:?}"),
            _ => {}
        }
    };
    assert_eq!(tone, '5');
    let heard = browser_heard.take();
    let hz = tone_frequency(&heard[heard.len() / 2..], 48000).expect("the browser heard nothing");
    assert!((hz - 660.0).abs() < 5.0, "the browser heard {hz} Hz");
    let heard = phone_heard.take();
    let hz = tone_frequency(&heard[heard.len() / 2..], 8000).expect("the phone heard nothing");
    assert!((hz - 440.0).abs() < 5.0, "the phone heard {hz} Hz");

    // The browser hangs up: the bridge hangs up the phone.
    b_call.bye(ByeOptions::default()).await.unwrap();
    loop {
        match timeout(Duration::from_secs(10), p_call.next_event())
            .await
            .unwrap()
        {
            Some(SessionEvent::Bye { .. }) => break,
            Some(SessionEvent::Terminated { cause }) => panic!("phone call ended: {cause:?}"),
            _ => {}
        }
    }
    let bridged = timeout(Duration::from_secs(10), bridging)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(bridged, 1);
    for ua in [bridge, phone, browser] {
        ua.stop().await;
    }
}
