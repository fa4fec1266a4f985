//! What the call tests share (`#[path]` from `crates/sipline/tests` and
//! `crates/sipline-server/tests`): waiting for a session's next event or an incoming call, with
//! a deadline so a lost message fails the test instead of hanging it, a UA's own address as a
//! target URI, answering with a tone, and listening for a tone in what a session received.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipline::{
    AcceptOptions, BufferHandle, BufferSink, Session, SessionEvent, ToneSource, TransportKind, Ua,
    UaEvent, tone_frequency,
};
use tokio::time::timeout;

/// How long a test waits for the next event before it fails.
pub(crate) const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The next event within `wait`, skipping `Connecting` (checked on its own where it matters).
pub(crate) async fn next_within(s: &mut Session, wait: Duration) -> SessionEvent {
    loop {
        let e = timeout(wait, s.next_event())
            .await
            .unwrap_or_else(|_| panic!("no session event within {wait:?}"))
            .expect("the session ended without Terminated");
        if !matches!(e, SessionEvent::Connecting) {
            return e;
        }
    }
}

/// The next event, skipping `Connecting`.
pub(crate) async fn next(s: &mut Session) -> SessionEvent {
    next_within(s, EVENT_WAIT).await
}

/// The next event that is neither `Connecting` nor a provisional response.
pub(crate) async fn next_after_progress(s: &mut Session) -> SessionEvent {
    loop {
        match next(s).await {
            SessionEvent::Progress { .. } => {}
            e => return e,
        }
    }
}

/// The next incoming call of `ua`.
pub(crate) async fn incoming(ua: &Ua) -> Session {
    match timeout(EVENT_WAIT, ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no incoming call: {other:?}"),
    }
}

/// `sip:user@<ua's address on transport>`, with `;transport=` unless UDP.
pub(crate) fn target(ua: &Ua, user: &str, transport: TransportKind) -> String {
    let addr = ua
        .local_addr(transport)
        .expect("the UA listens on that transport");
    match transport {
        TransportKind::Udp => format!("sip:{user}@{addr}"),
        t => format!("sip:{user}@{addr};transport={}", t.uri_param()),
    }
}

/// Accepts `answer`, sending a `hz` tone (8 kHz, -10 dBFS); returns what the answerer hears.
pub(crate) async fn accept_with_tone(answer: &Session, hz: f32) -> BufferHandle {
    let sink = BufferSink::new(8000);
    let ear = sink.handle();
    answer
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(8000, hz, -10.0)),
            audio_sink: Box::new(sink),
            ..AcceptOptions::default()
        })
        .await
        .expect("the call is accepted");
    ear
}

/// Waits until `ear` has heard `want` Hz (ICE and DTLS take a moment), for up to 15 s.
pub(crate) async fn hears(ear: &BufferHandle, want: f32, who: &str) {
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
