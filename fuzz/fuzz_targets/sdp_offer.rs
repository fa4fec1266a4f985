//! Any bytes as a peer's SDP (offer, answer, trickled candidates) into both media
//! implementations (plain RTP and WebRTC), then any datagrams on their media socket: never a panic, and a session that
//! refused the SDP still answers a well-formed offer afterwards. The SDP comes from the
//! network (the INVITE's body), the datagrams too.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sipline_media::{
    MediaInput, MediaOutput, MediaSession, NullSink, RtpConfig, RtpMedia, SilenceSource, WebRtcConfig,
    WebRtcMedia,
};

fn drain(m: &mut dyn MediaSession) {
    for _ in 0..10_000 {
        if let MediaOutput::Timeout(_) = m.poll_output() {
            return;
        }
    }
    panic!("poll_output never reached Timeout");
}

fn exercise(m: &mut dyn MediaSession, data: &[u8], now: Instant) {
    // The input: an SDP, then datagrams separated by 0xFF.
    let mut parts = data.split(|&b| b == 0xFF);
    let sdp = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let _ = m.accept_offer(now, &sdp);
    drain(m);
    let _ = m.create_offer(now);
    let _ = m.accept_answer(now, &sdp);
    drain(m);
    // The same bytes as a peer's trickled candidates (RFC 8840 sdpfrag in an INFO).
    let _ = m.add_remote_candidates(now, &sdp);
    drain(m);
    let source = "127.0.0.1:40002".parse().unwrap_or_else(|_| unreachable!());
    let mut t = now;
    for datagram in parts {
        m.handle_input(t, MediaInput::Receive { source, contents: datagram });
        drain(m);
        t += Duration::from_millis(20);
        m.handle_input(t, MediaInput::Timeout);
        drain(m);
    }
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let local = "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
    if let Ok(mut rtp) = RtpMedia::new(RtpConfig::new(local, 1))
        .with_audio(Box::new(SilenceSource::new(8000)), Box::new(NullSink::new(8000)))
    {
        exercise(&mut rtp, data, now);
    }
    if let Ok(mut webrtc) = WebRtcMedia::new(WebRtcConfig::new(local, 1))
        .with_audio(Box::new(SilenceSource::new(8000)), Box::new(NullSink::new(8000)))
    {
        exercise(&mut webrtc, data, now);
    }
});
