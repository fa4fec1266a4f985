//! What `RtpMedia` puts on the wire: RTP headers, marker bits, RFC 4733 event packets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_media::dtmf::EventPayload;
use sipline_media::rtp::RtpHeader;
use sipline_media::{DtmfTone, MediaInput, MediaOutput, MediaSession, RtpConfig, RtpMedia};

fn pair() -> (RtpMedia, Instant) {
    let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let mut ma = RtpMedia::new(RtpConfig::new(a, 7));
    let mut mb = RtpMedia::new(RtpConfig::new(b, 8));
    let now = Instant::now();
    let offer = ma.create_offer(now).unwrap();
    let answer = mb.accept_offer(now, &offer).unwrap();
    ma.accept_answer(now, &answer).unwrap();
    (ma, now)
}

/// Runs `m` from `from` for `d` in 10 ms steps and returns (time offset, header, payload).
fn capture(m: &mut RtpMedia, from: Instant, d: Duration) -> Vec<(Duration, RtpHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= from + d {
        m.handle_input(t, MediaInput::Timeout);
        loop {
            match m.poll_output() {
                MediaOutput::Transmit(tx) => {
                    let (h, p) = RtpHeader::parse(&tx.contents).unwrap();
                    assert_eq!(tx.destination, "127.0.0.1:40002".parse().unwrap());
                    out.push((t - from, h, p.to_vec()));
                }
                MediaOutput::Event(_) => {}
                MediaOutput::Timeout(_) => break,
            }
        }
        t += Duration::from_millis(10);
    }
    out
}

#[test]
fn audio_packets_are_paced_and_numbered() {
    let (mut a, t0) = pair();
    let pkts = capture(&mut a, t0, Duration::from_millis(200));
    assert_eq!(pkts.len(), 11, "one per 20 ms including t=0");
    assert!(pkts[0].1.marker, "talkspurt start");
    assert!(pkts[1..].iter().all(|p| !p.1.marker));
    for w in pkts.windows(2) {
        assert_eq!(w[1].0 - w[0].0, Duration::from_millis(20));
        assert_eq!(w[1].1.sequence, w[0].1.sequence.wrapping_add(1));
        assert_eq!(w[1].1.timestamp, w[0].1.timestamp.wrapping_add(160));
        assert_eq!(w[1].1.ssrc, a.ssrc());
    }
    assert!(
        pkts.iter()
            .all(|p| p.1.payload_type == 0 && p.2.len() == 160)
    );
}

#[test]
fn rfc4733_event_packets() {
    let (mut a, t0) = pair();
    let _ = capture(&mut a, t0, Duration::from_millis(30));
    let start = t0 + Duration::from_millis(40);
    a.send_dtmf(start, DtmfTone::Pound, Duration::from_millis(120))
        .unwrap();
    let pkts = capture(&mut a, start, Duration::from_millis(300));
    let events: Vec<_> = pkts.iter().filter(|p| p.1.payload_type == 101).collect();
    let ev: Vec<EventPayload> = events
        .iter()
        .map(|p| EventPayload::parse(&p.2).unwrap())
        .collect();
    // Updates at 0, 50, 100 ms, end at 120 ms repeated three times 20 ms apart.
    let times: Vec<u64> = events.iter().map(|p| (p.0.as_millis()) as u64).collect();
    let t = times[0];
    assert_eq!(
        times.iter().map(|x| x - t).collect::<Vec<_>>(),
        [0, 50, 100, 120, 140, 160]
    );
    assert!(events[0].1.marker && events[1..].iter().all(|p| !p.1.marker));
    assert!(
        events
            .iter()
            .all(|p| p.1.timestamp == events[0].1.timestamp)
    );
    assert!(ev.iter().all(|e| e.event == 11));
    assert_eq!(
        ev.iter().map(|e| e.end).collect::<Vec<_>>(),
        [false, false, false, true, true, true]
    );
    assert_eq!(
        ev.iter().map(|e| e.duration).collect::<Vec<_>>(),
        [400, 800, 960, 960, 960, 960]
    );
    // No audio while the event plays; audio resumes with the marker bit.
    let first_ev = events[0].0;
    let last_ev = events[5].0;
    assert!(
        pkts.iter()
            .filter(|p| p.1.payload_type == 0)
            .all(|p| p.0 < first_ev || p.0 > last_ev)
    );
    let resumed = pkts
        .iter()
        .find(|p| p.1.payload_type == 0 && p.0 > last_ev)
        .unwrap();
    assert!(resumed.1.marker);
    // Sequence numbers stay contiguous across audio and events.
    for w in pkts.windows(2) {
        assert_eq!(w[1].1.sequence, w[0].1.sequence.wrapping_add(1));
    }
}

#[test]
fn seeds_make_streams_differ_and_repeat() {
    let (a1, _) = pair();
    let (a2, _) = pair();
    assert_eq!(a1.ssrc(), a2.ssrc(), "same seed, same SSRC");
    let other = RtpMedia::new(RtpConfig::new("127.0.0.1:1".parse().unwrap(), 99));
    assert_ne!(a1.ssrc(), other.ssrc());
}
