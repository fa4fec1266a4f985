//! `WebRtcMedia` end to end, sans-IO: two instances back to back in memory, driven in virtual
//! time through ICE, DTLS-SRTP and audio; and browser SDP fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_media::{
    BufferHandle, BufferSink, DtmfTone, MediaError, MediaEvent, MediaInput, MediaKind, MediaOutput,
    MediaSession, SilenceSource, ToneSource, WebRtcCodec, WebRtcConfig, WebRtcMedia,
    tone_frequency,
};

const A: &str = "127.0.0.1:41000";
const B: &str = "127.0.0.1:41002";

struct Side {
    media: WebRtcMedia,
    heard: BufferHandle,
    events: Vec<MediaEvent>,
    rate: u32,
}

fn side(addr: &str, seed: u64, freq: f32, rate: u32, codecs: &[WebRtcCodec]) -> Side {
    side_with(addr, seed, freq, rate, codecs, |_| {})
}

fn side_with(
    addr: &str,
    seed: u64,
    freq: f32,
    rate: u32,
    codecs: &[WebRtcCodec],
    tweak: impl FnOnce(&mut WebRtcConfig),
) -> Side {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut cfg = WebRtcConfig::new(addr, seed).with_codecs(codecs);
    tweak(&mut cfg);
    let sink = BufferSink::new(rate);
    let heard = sink.handle();
    let media = WebRtcMedia::new(cfg)
        .with_audio(Box::new(ToneSource::new(rate, freq, -10.0)), Box::new(sink))
        .unwrap();
    Side {
        media,
        heard,
        events: Vec::new(),
        rate,
    }
}

struct Call {
    now: Instant,
    sides: [Side; 2],
    /// (deliver at, to side, from, bytes)
    in_flight: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    latency: Duration,
    /// Drop every n-th RTP packet sent by side i.
    drop_every: [Option<u64>; 2],
    rtp_sent: [u64; 2],
    /// Drop everything side i sends.
    blackhole: [bool; 2],
    /// The USERNAME of each STUN request side i sent (RFC 8445 §7.2.2: `remote:local`).
    stun_users: [Vec<String>; 2],
    /// A STUN server (RFC 5389) at this address answers Binding requests with this mapped
    /// address, if the bool says it answers at all; the requests it got.
    stun_server: Option<(SocketAddr, SocketAddr, bool)>,
    stun_requests: u32,
    /// Every destination side i sent to.
    destinations: [Vec<SocketAddr>; 2],
}

/// A Binding success response with XOR-MAPPED-ADDRESS (RFC 5389 §15.2) to `request`.
fn stun_binding_response(request: &[u8], mapped: SocketAddr) -> Option<Vec<u8>> {
    if request.len() < 20 || request[0..2] != [0, 1] {
        return None;
    }
    let key = &request[4..20]; // magic cookie and transaction id
    let SocketAddr::V4(v4) = mapped else {
        panic!("v4 only")
    };
    let port = v4.port().to_be_bytes();
    let mut value = vec![0, 1, port[0] ^ key[0], port[1] ^ key[1]];
    value.extend(v4.ip().octets().iter().zip(key).map(|(b, k)| b ^ k));
    let mut m = vec![0x01, 0x01, 0, 12];
    m.extend_from_slice(key);
    m.extend([0x00, 0x20, 0, 8]);
    m.extend(value);
    Some(m)
}

/// The USERNAME attribute (0x0006, RFC 5389 §15.3) of a STUN request.
fn stun_username(b: &[u8]) -> Option<String> {
    if b.len() < 20 || b[0] >> 6 != 0 || b[4..8] != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let mut at = 20;
    while at + 4 <= b.len() {
        let t = u16::from_be_bytes([b[at], b[at + 1]]);
        let len = usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
        let v = b.get(at + 4..at + 4 + len)?;
        if t == 0x0006 {
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// RTP rather than STUN, DTLS or RTCP (RFC 7983 §7, RFC 5761 §4).
fn is_rtp(b: &[u8]) -> bool {
    b.len() > 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1])
}

impl Call {
    fn new(a: Side, b: Side) -> Self {
        let start = Instant::now();
        Self {
            now: start,
            sides: [a, b],
            in_flight: Vec::new(),
            latency: Duration::from_millis(5),
            drop_every: [None, None],
            rtp_sent: [0, 0],
            blackhole: [false, false],
            stun_users: [Vec::new(), Vec::new()],
            stun_server: None,
            stun_requests: 0,
            destinations: [Vec::new(), Vec::new()],
        }
    }

    /// A offers, B answers, A accepts.
    fn negotiate(&mut self) -> (String, String) {
        let now = self.now;
        let offer = self.sides[0].media.create_offer(now).unwrap();
        let answer = self.sides[1].media.accept_offer(now, &offer).unwrap();
        self.sides[0].media.accept_answer(now, &answer).unwrap();
        (offer, answer)
    }

    fn drain(&mut self, i: usize) -> Option<Instant> {
        loop {
            match self.sides[i].media.poll_output() {
                MediaOutput::Transmit(t) => {
                    assert_eq!(t.source, self.sides[i].media.local_addr());
                    self.destinations[i].push(t.destination);
                    if let Some((server, mapped, answers)) = self.stun_server
                        && t.destination == server
                    {
                        self.stun_requests += 1;
                        if answers && let Some(r) = stun_binding_response(&t.contents, mapped) {
                            self.in_flight.push((self.now + self.latency, i, server, r));
                        }
                        continue;
                    }
                    if let Some(u) = stun_username(&t.contents) {
                        self.stun_users[i].push(u);
                    }
                    if self.blackhole[i] {
                        continue;
                    }
                    if is_rtp(&t.contents) {
                        self.rtp_sent[i] += 1;
                        if self.drop_every[i].is_some_and(|n| self.rtp_sent[i].is_multiple_of(n)) {
                            continue;
                        }
                    }
                    self.in_flight
                        .push((self.now + self.latency, 1 - i, t.source, t.contents));
                }
                MediaOutput::Event(e) => self.sides[i].events.push(e),
                MediaOutput::Timeout(t) => return t,
            }
        }
    }

    fn run_until(&mut self, until: Instant) {
        let mut guard = 0u32;
        while self.now < until {
            guard += 1;
            assert!(guard < 1_000_000, "no progress");
            let da = self.drain(0);
            let db = self.drain(1);
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let next = [da, db, next_packet, Some(until)]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            self.now = next.max(self.now);
            let now = self.now;
            let due: Vec<_> = {
                let (due, rest) = self.in_flight.drain(..).partition(|p| p.0 <= now);
                self.in_flight = rest;
                due
            };
            for (_, to, from, bytes) in due {
                self.sides[to].media.handle_input(
                    now,
                    MediaInput::Receive {
                        source: from,
                        contents: &bytes,
                    },
                );
            }
            for i in 0..2 {
                if [da, db][i].is_some_and(|t| t <= now) {
                    self.sides[i].media.handle_input(now, MediaInput::Timeout);
                }
            }
        }
        self.drain(0);
        self.drain(1);
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn heard_freq(&self, i: usize, skip: Duration) -> f32 {
        let s = &self.sides[i];
        let samples = s.heard.samples();
        let skip = (skip.as_millis() as usize * s.rate as usize / 1000).min(samples.len());
        tone_frequency(&samples[skip..], s.rate).unwrap_or(0.0)
    }
}

fn assert_tones(call: &Call, fa: f32, fb: f32) {
    let heard_by_a = call.heard_freq(0, Duration::from_millis(300));
    let heard_by_b = call.heard_freq(1, Duration::from_millis(300));
    assert!((heard_by_b - fa).abs() < 5.0, "B heard {heard_by_b} Hz");
    assert!((heard_by_a - fb).abs() < 5.0, "A heard {heard_by_a} Hz");
}

#[test]
fn offer_has_what_browsers_need() {
    let mut a = side(
        A,
        1,
        440.0,
        8000,
        &[WebRtcCodec::Opus, WebRtcCodec::Pcmu, WebRtcCodec::Pcma],
    );
    let offer = a.media.create_offer(Instant::now()).unwrap();
    for needle in [
        "UDP/TLS/RTP/SAVPF",
        "a=group:BUNDLE",
        "a=rtcp-mux",
        "a=ice-ufrag:",
        "a=ice-pwd:",
        "a=fingerprint:sha-256",
        "a=setup:actpass",
        "opus/48000/2",
        "minptime=10",
        "useinbandfec=1",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/48000",
        "telephone-event/8000",
        "127.0.0.1 41000 typ host",
    ] {
        assert!(offer.contains(needle), "{needle} missing in\n{offer}");
    }
    let m = offer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    // Opus first.
    assert!(m.contains("SAVPF 111"), "{m}");
    // DTX only when configured (RFC 7587 §6.1).
    assert!(!offer.contains("usedtx"), "{offer}");
    let mut dtx = side_with(A, 1, 440.0, 8000, &[WebRtcCodec::Opus], |c| {
        c.opus_dtx = true
    });
    let offer = dtx.media.create_offer(Instant::now()).unwrap();
    let fmtp = offer.lines().find(|l| l.starts_with("a=fmtp:111")).unwrap();
    assert!(
        fmtp.contains("useinbandfec=1") && fmtp.contains("usedtx=1"),
        "{fmtp}"
    );
}

/// DTX (RFC 7587 §3.1.3): A hears silence and both sides ask for DTX; A stops sending after
/// 200 ms of silence but for one packet every 400 ms. B sees no loss and no timeout (1 s),
/// and its sink keeps pace, 20 ms of audio per 20 ms (comfort noise fading to silence), not
/// in a burst at the next packet. Without `usedtx=1` from B, A sends every frame.
#[test]
fn dtx_sends_few_packets_and_the_peer_keeps_time() {
    for b_asks in [true, false] {
        let cfg = |c: &mut WebRtcConfig| {
            c.rtp_timeout = Some(Duration::from_secs(1));
        };
        let mut a = side_with(A, 41, 440.0, 8000, &[WebRtcCodec::Opus], |c| {
            cfg(c);
            c.opus_dtx = true;
        });
        a.media = a
            .media
            .with_audio(
                Box::new(SilenceSource::new(8000)),
                Box::new(sipline_media::NullSink::new(8000)),
            )
            .unwrap();
        let b = side_with(B, 42, 880.0, 8000, &[WebRtcCodec::Opus], |c| {
            cfg(c);
            c.opus_dtx = b_asks;
        });
        let mut call = Call::new(a, b);
        call.negotiate();
        call.run_for(Duration::from_millis(500));
        let sent_before = call.sides[0].media.stats().packets_sent;
        call.sides[1].heard.take();
        let mut lens = Vec::new();
        for _ in 0..20 {
            call.run_for(Duration::from_millis(200));
            lens.push(call.sides[1].heard.take().len());
        }
        let sent = call.sides[0].media.stats().packets_sent - sent_before;
        let b_stats = call.sides[1].media.stats();
        if b_asks {
            // 4 s: one packet per 400 ms.
            assert!((8..=12).contains(&sent), "sent {sent}");
        } else {
            assert!(sent >= 195, "sent {sent}");
        }
        assert_eq!(b_stats.packets_lost, 0, "{b_stats:?}");
        let timeouts = call.sides[1]
            .events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Timeout { .. }))
            .count();
        assert_eq!(timeouts, 0, "{:?}", call.sides[1].events);
        // 200 ms at 8 kHz each time, give or take the 80 ms B waits before it fills a gap.
        for l in &lens {
            assert!((960..=2240).contains(l), "{b_asks}: {lens:?}");
        }
        let total: usize = lens.iter().sum();
        assert!(
            (30400..=33600).contains(&total),
            "{b_asks}: {total} {lens:?}"
        );
    }
}

#[test]
fn two_sessions_connect_and_hear_each_other_opus() {
    let all = [WebRtcCodec::Opus, WebRtcCodec::Pcmu, WebRtcCodec::Pcma];
    let mut call = Call::new(side(A, 1, 440.0, 8000, &all), side(B, 2, 880.0, 8000, &all));
    call.negotiate();
    call.run_for(Duration::from_secs(2));
    for s in &call.sides {
        assert!(s.events.contains(&MediaEvent::Started), "{:?}", s.events);
        assert!(
            s.events.contains(&MediaEvent::RemoteActive),
            "{:?}",
            s.events
        );
        assert_eq!(s.media.send_codec(), Some(WebRtcCodec::Opus));
    }
    assert_tones(&call, 440.0, 880.0);
    let st = call.sides[0].media.stats();
    assert!(st.packets_sent >= 80, "{st:?}");
    assert!(st.packets_received >= 80, "{st:?}");
    assert_eq!(st.packets_lost, 0);
}

#[test]
fn pcmu_only() {
    let pcmu = [WebRtcCodec::Pcmu];
    let mut call = Call::new(
        side(A, 3, 440.0, 8000, &pcmu),
        side(B, 4, 880.0, 8000, &pcmu),
    );
    let (offer, _) = call.negotiate();
    assert!(!offer.contains("opus"), "{offer}");
    call.run_for(Duration::from_secs(2));
    assert_eq!(call.sides[0].media.send_codec(), Some(WebRtcCodec::Pcmu));
    assert_tones(&call, 440.0, 880.0);
}

#[test]
fn pcma_with_a_48k_and_a_16k_side() {
    let mut call = Call::new(
        side(A, 33, 440.0, 48000, &[WebRtcCodec::Pcma]),
        side(
            B,
            34,
            1000.0,
            16000,
            &[WebRtcCodec::Pcma, WebRtcCodec::Opus],
        ),
    );
    call.negotiate();
    call.run_for(Duration::from_secs(2));
    assert_eq!(call.sides[0].media.send_codec(), Some(WebRtcCodec::Pcma));
    assert_eq!(call.sides[1].media.send_codec(), Some(WebRtcCodec::Pcma));
    assert_tones(&call, 440.0, 1000.0);
    // Two seconds of audio at each sink's own rate, less the connection time.
    let a_len = call.sides[0].heard.samples().len();
    assert!((90_000..=96_000).contains(&a_len), "{a_len}");
}

#[test]
fn opus_forced_at_48k_sources_and_sinks() {
    let opus = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side(A, 5, 440.0, 48000, &opus),
        side(B, 6, 880.0, 8000, &[WebRtcCodec::Opus, WebRtcCodec::Pcmu]),
    );
    call.negotiate();
    call.run_for(Duration::from_secs(2));
    assert_eq!(call.sides[1].media.send_codec(), Some(WebRtcCodec::Opus));
    assert_tones(&call, 440.0, 880.0);
}

#[test]
fn dtmf_both_ways() {
    for codecs in [&[WebRtcCodec::Opus][..], &[WebRtcCodec::Pcma][..]] {
        let mut call = Call::new(
            side(A, 7, 440.0, 8000, codecs),
            side(B, 8, 880.0, 8000, codecs),
        );
        call.negotiate();
        call.run_for(Duration::from_millis(500));
        let now = call.now;
        call.sides[0]
            .media
            .send_dtmf(now, DtmfTone::Digit(5), Duration::from_millis(100))
            .unwrap();
        call.sides[0]
            .media
            .send_dtmf(now, DtmfTone::Pound, Duration::from_millis(120))
            .unwrap();
        call.sides[1]
            .media
            .send_dtmf(now, DtmfTone::Star, Duration::from_millis(80))
            .unwrap();
        call.run_for(Duration::from_secs(1));
        let tones = |i: usize| -> Vec<(DtmfTone, Duration)> {
            call.sides[i]
                .events
                .iter()
                .filter_map(|e| match e {
                    MediaEvent::DtmfReceived { tone, duration } => Some((*tone, *duration)),
                    _ => None,
                })
                .collect()
        };
        let at_b = tones(1);
        assert_eq!(
            at_b.iter().map(|t| t.0).collect::<Vec<_>>(),
            [DtmfTone::Digit(5), DtmfTone::Pound],
            "{codecs:?}"
        );
        assert!(
            (at_b[0].1.as_millis() as i64 - 100).abs() <= 5,
            "{:?}",
            at_b[0].1
        );
        assert_eq!(
            tones(0).iter().map(|t| t.0).collect::<Vec<_>>(),
            [DtmfTone::Star]
        );
        assert_eq!(call.sides[0].media.stats().dtmf_sent, 2);
        assert_eq!(call.sides[1].media.stats().dtmf_received, 2);
    }
}

#[test]
fn dtmf_duration_limits() {
    let mut a = side(A, 9, 440.0, 8000, &[WebRtcCodec::Opus]);
    let now = Instant::now();
    assert_eq!(
        a.media
            .send_dtmf(now, DtmfTone::Digit(1), Duration::from_millis(10)),
        Err(MediaError::InvalidDuration(Duration::from_millis(10)))
    );
    assert_eq!(
        a.media
            .send_dtmf(now, DtmfTone::Digit(1), Duration::from_millis(100)),
        Err(MediaError::DtmfUnavailable)
    );
}

#[test]
fn mute_stops_the_tone() {
    let all = [WebRtcCodec::Opus, WebRtcCodec::Pcmu];
    let mut call = Call::new(
        side(A, 10, 440.0, 8000, &all),
        side(B, 11, 880.0, 8000, &all),
    );
    call.negotiate();
    call.run_for(Duration::from_secs(1));
    call.sides[0].media.set_muted(MediaKind::Audio, true);
    call.sides[1].heard.take();
    call.run_for(Duration::from_secs(1));
    let heard = call.sides[1].heard.take();
    // Skip what was in flight and the decoder's tail.
    let tail = &heard[heard.len().min(800)..];
    assert!(!tail.is_empty());
    let peak = tail.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak < 200, "muted, B still hears a peak of {peak}");
    // B's tone still reaches A.
    let heard_by_a = call.sides[0].heard.take();
    let f = tone_frequency(&heard_by_a[heard_by_a.len() / 2..], 8000).unwrap_or(0.0);
    assert!((f - 880.0).abs() < 5.0, "{f}");
    // Unmute: the tone is back.
    call.sides[0].media.set_muted(MediaKind::Audio, false);
    call.run_for(Duration::from_secs(1));
    let heard = call.sides[1].heard.take();
    let f = tone_frequency(&heard[heard.len() / 2..], 8000).unwrap_or(0.0);
    assert!((f - 440.0).abs() < 5.0, "{f}");
}

/// What Chromium 120+ offers through SIP.js for an audio+video call (host candidate only;
/// CRLF line ends as on the wire).
const CHROME_OFFER: &str = include_str!("fixtures/chromium_offer.sdp");

#[test]
fn answers_a_chromium_offer_with_video_rejected() {
    let mut b = side(
        B,
        12,
        440.0,
        8000,
        &[WebRtcCodec::Opus, WebRtcCodec::Pcmu, WebRtcCodec::Pcma],
    );
    let answer = b.media.accept_offer(Instant::now(), CHROME_OFFER).unwrap();
    for needle in [
        "a=group:BUNDLE",
        "a=rtcp-mux",
        "a=fingerprint:sha-256",
        "a=ice-ufrag:",
        "opus/48000/2",
        "a=setup:passive",
        "127.0.0.1 41002 typ host",
    ] {
        assert!(answer.contains(needle), "{needle} missing in\n{answer}");
    }
    let audio = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(audio.contains("UDP/TLS/RTP/SAVPF 111"), "{audio}");
    let video = answer.lines().find(|l| l.starts_with("m=video")).unwrap();
    assert!(
        video.starts_with("m=video 0 "),
        "video not rejected: {video}\n{answer}"
    );
    assert_eq!(b.media.send_codec(), Some(WebRtcCodec::Opus));

    // Hold re-offer from our side keeps both m-lines, in order, video still rejected.
    b.media.set_direction(sipline_media::Direction::SendOnly);
    let reoffer = b.media.create_offer(Instant::now()).unwrap();
    let mlines: Vec<_> = reoffer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(mlines.len(), 2, "{reoffer}");
    assert!(mlines[0].starts_with("m=audio 9 "), "{reoffer}");
    assert!(mlines[1].starts_with("m=video 0 "), "{reoffer}");
    assert!(reoffer.contains("a=sendonly"), "{reoffer}");
    assert!(reoffer.contains("a=setup:actpass"), "{reoffer}");
    // Glare: the peer's offer while ours is pending.
    assert_eq!(
        b.media.accept_offer(Instant::now(), CHROME_OFFER),
        Err(MediaError::InvalidState(
            "an offer of ours is pending (glare, RFC 3264 §4)"
        ))
    );
    b.media.cancel_offer();
}

#[test]
fn garbage_sdp_is_an_error_not_a_panic() {
    let now = Instant::now();
    let garbage = [
        "",
        "hello",
        "v=0\r\n",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n",
        &CHROME_OFFER[..CHROME_OFFER.len() / 2],
        &CHROME_OFFER.replace("a=fingerprint", "a=fingerprimt"),
        &CHROME_OFFER.replace("m=audio 52000", "m=audio x"),
    ];
    for g in garbage {
        let mut b = side(B, 13, 440.0, 8000, &[WebRtcCodec::Opus]);
        assert!(b.media.accept_offer(now, g).is_err(), "accepted {g:?}");
        // The session is still usable afterwards.
        assert!(
            b.media.accept_offer(now, CHROME_OFFER).is_ok(),
            "after {g:?}"
        );
        let mut a = side(A, 14, 440.0, 8000, &[WebRtcCodec::Opus]);
        a.media.create_offer(now).unwrap();
        assert!(
            a.media.accept_answer(now, g).is_err(),
            "accepted answer {g:?}"
        );
    }
}

#[test]
fn reoffer_for_hold_and_unchanged_reoffer() {
    let all = [WebRtcCodec::Opus, WebRtcCodec::Pcmu];
    let mut call = Call::new(
        side(A, 15, 440.0, 8000, &all),
        side(B, 16, 880.0, 8000, &all),
    );
    call.negotiate();
    call.run_for(Duration::from_secs(1));
    // Unchanged re-offer (a session refresh).
    let now = call.now;
    let offer = call.sides[0].media.create_offer(now).unwrap();
    assert!(offer.contains("a=setup:actpass"), "{offer}");
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    // Hold: A goes sendonly.
    call.sides[0]
        .media
        .set_direction(sipline_media::Direction::SendOnly);
    let offer = call.sides[0].media.create_offer(now).unwrap();
    assert!(offer.contains("a=sendonly"), "{offer}");
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    assert!(answer.contains("a=recvonly"), "{answer}");
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    call.sides[0].heard.take();
    call.run_for(Duration::from_secs(1));
    // A still sends; B no longer does.
    let heard_by_a = call.sides[0].heard.take();
    assert!(
        heard_by_a.len() < 1600,
        "A still hears B: {}",
        heard_by_a.len()
    );
    let f = call.heard_freq(1, Duration::from_millis(300));
    assert!((f - 440.0).abs() < 5.0, "B heard {f}");
}

#[test]
fn is_send_and_boxes_as_a_media_session() {
    fn send<T: Send>(_: &T) {}
    let a = side(A, 17, 440.0, 8000, &[WebRtcCodec::Opus]);
    send(&a.media);
    let boxed: Box<dyn MediaSession> = Box::new(a.media);
    assert_eq!(boxed.local_addr(), A.parse::<SocketAddr>().unwrap());
}

#[test]
fn plain_rtp_offer_is_left_to_rtp_media() {
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let mut b = side(B, 18, 440.0, 8000, &[WebRtcCodec::Pcmu]);
    assert!(matches!(
        b.media.accept_offer(Instant::now(), offer),
        Err(MediaError::UnsupportedProfile { mline: 0, .. })
    ));
}

#[test]
fn started_only_once_ice_and_dtls_are_up() {
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side(A, 19, 440.0, 8000, &all),
        side(B, 20, 880.0, 8000, &all),
    );
    call.negotiate();
    call.drain(0);
    call.drain(1);
    assert!(!call.sides[0].events.contains(&MediaEvent::Started));
    call.run_for(Duration::from_millis(300));
    for s in &call.sides {
        assert!(s.media.is_connected());
        let started = s
            .events
            .iter()
            .filter(|e| **e == MediaEvent::Started)
            .count();
        assert_eq!(started, 1, "{:?}", s.events);
    }
}

#[test]
fn lost_packets_are_concealed_and_counted() {
    for codecs in [&[WebRtcCodec::Opus][..], &[WebRtcCodec::Pcmu][..]] {
        let mut call = Call::new(
            side(A, 21, 440.0, 8000, codecs),
            side(B, 22, 880.0, 8000, codecs),
        );
        call.negotiate();
        call.run_for(Duration::from_millis(500));
        call.drop_every[0] = Some(10);
        call.sides[1].heard.take();
        call.run_for(Duration::from_secs(3));
        let heard = call.sides[1].heard.take();
        // The sink's timeline keeps pace despite the loss: 3 s at 8 kHz, give or take.
        assert!(
            (23000..=25000).contains(&heard.len()),
            "{codecs:?}: {} {:?} {:?}",
            heard.len(),
            call.sides[1].media.stats(),
            call.sides[0].media.stats()
        );
        let f = tone_frequency(&heard, 8000).unwrap_or(0.0);
        assert!((f - 440.0).abs() < 5.0, "{codecs:?}: {f}");
        let lost = call.sides[1].media.stats().packets_lost;
        assert!((10..=20).contains(&lost), "{codecs:?}: lost {lost}");
    }
}

#[test]
fn silence_from_the_peer_or_no_connection_times_out() {
    let timeout = |c: &mut WebRtcConfig| c.rtp_timeout = Some(Duration::from_secs(2));
    let opus = [WebRtcCodec::Opus];
    let timeouts = |s: &Side| {
        s.events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Timeout { .. }))
            .count()
    };
    // B goes silent after the call is up.
    let mut call = Call::new(
        side_with(A, 23, 440.0, 8000, &opus, timeout),
        side_with(B, 24, 880.0, 8000, &opus, timeout),
    );
    call.negotiate();
    call.run_for(Duration::from_secs(1));
    assert_eq!(timeouts(&call.sides[0]), 0);
    call.drop_every[1] = Some(1);
    call.run_for(Duration::from_secs(3));
    assert_eq!(timeouts(&call.sides[0]), 1, "{:?}", call.sides[0].events);
    assert_eq!(timeouts(&call.sides[1]), 0);
    // Media again: RemoteActive again.
    call.drop_every[1] = None;
    call.sides[0].events.clear();
    call.run_for(Duration::from_millis(500));
    assert!(call.sides[0].events.contains(&MediaEvent::RemoteActive));

    // ICE never connects.
    let mut call = Call::new(
        side_with(A, 25, 440.0, 8000, &opus, timeout),
        side_with(B, 26, 880.0, 8000, &opus, timeout),
    );
    call.blackhole = [true, true];
    call.negotiate();
    call.run_for(Duration::from_secs(3));
    for s in &call.sides {
        assert!(!s.media.is_connected());
        assert!(!s.events.contains(&MediaEvent::Started));
        assert_eq!(timeouts(s), 1, "{:?}", s.events);
    }
}

mod mutated_offers {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A Chromium offer with lines dropped, duplicated or cut short: an answer or an
        /// error, never a panic; and the session still answers a good offer afterwards.
        #[test]
        fn never_panics(
            drop in proptest::collection::vec(any::<bool>(), 140),
            dup in 0usize..140,
            cut in 0usize..200,
        ) {
            let lines: Vec<&str> = CHROME_OFFER.split_inclusive("\r\n").collect();
            let mut offer = String::new();
            for (i, l) in lines.iter().enumerate() {
                if i > 0 && drop.get(i).copied().unwrap_or(false) && i % 3 == 0 {
                    continue;
                }
                offer.push_str(l);
                if i == dup {
                    offer.push_str(l);
                }
                if i == cut {
                    offer.push_str(&l[..l.len() / 2]);
                    break;
                }
            }
            let mut b = side(B, 30, 440.0, 8000, &[WebRtcCodec::Opus, WebRtcCodec::Pcmu]);
            let now = Instant::now();
            let _ = b.media.accept_offer(now, &offer);
            b.media.handle_input(now, MediaInput::Timeout);
            while !matches!(b.media.poll_output(), MediaOutput::Timeout(_)) {}
        }
    }
}

#[test]
fn wrong_dtls_fingerprint_fails_the_session_not_the_process() {
    let timeout = |c: &mut WebRtcConfig| c.rtp_timeout = Some(Duration::from_secs(2));
    let opus = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side_with(A, 27, 440.0, 8000, &opus, timeout),
        side_with(B, 28, 880.0, 8000, &opus, timeout),
    );
    let now = call.now;
    let offer = call.sides[0].media.create_offer(now).unwrap();
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    // A man in the middle: the answer's fingerprint (RFC 8122 §5) is not B's certificate's.
    let fp = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=fingerprint:sha-256 "))
        .unwrap()
        .to_string();
    let forged = fp
        .chars()
        .map(|c| {
            if c == 'A' {
                'B'
            } else if c == 'B' {
                'A'
            } else {
                c
            }
        })
        .collect::<String>();
    assert_ne!(fp, forged);
    let answer = answer.replace(&fp, &forged);
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    call.run_for(Duration::from_secs(3));
    let a = &call.sides[0];
    assert!(!a.media.is_connected());
    assert!(!a.events.contains(&MediaEvent::Started), "{:?}", a.events);
    assert!(
        a.events
            .iter()
            .any(|e| matches!(e, MediaEvent::Timeout { .. })),
        "{:?}",
        a.events
    );
    assert!(matches!(
        call.sides[0].media.create_offer(call.now),
        Err(MediaError::WebRtc { .. })
    ));
    assert!(call.heard_freq(0, Duration::ZERO) == 0.0);
}

#[test]
fn answers_keep_our_hold() {
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side(A, 31, 440.0, 8000, &all),
        side(B, 32, 880.0, 8000, &all),
    );
    call.negotiate();
    call.run_for(Duration::from_millis(500));
    // A wants to hold (RFC 3264 §8.4); B re-offers sendrecv, as a session refresh would.
    call.sides[0]
        .media
        .set_direction(sipline_media::Direction::SendOnly);
    let now = call.now;
    let offer = call.sides[1].media.create_offer(now).unwrap();
    let answer = call.sides[0].media.accept_offer(now, &offer).unwrap();
    assert!(answer.contains("a=sendonly"), "{answer}");
    call.sides[1].media.accept_answer(now, &answer).unwrap();
    use sipline_media::Direction;
    assert_eq!(call.sides[0].media.direction(), Some(Direction::SendOnly));
    assert_eq!(call.sides[1].media.direction(), Some(Direction::RecvOnly));
    let b_sent = call.sides[1].media.stats().packets_sent;
    call.sides[0].heard.take();
    call.sides[1].heard.take();
    call.run_for(Duration::from_secs(1));
    assert!(call.sides[0].heard.take().len() < 1600, "A still hears B");
    assert!(
        call.sides[1].media.stats().packets_sent <= b_sent + 2,
        "B still sends while held"
    );
    let heard_by_b = call.sides[1].heard.take();
    let f = tone_frequency(&heard_by_b, 8000).unwrap_or(0.0);
    assert!((f - 440.0).abs() < 5.0, "B heard {f}");
    // Resume.
    call.sides[0]
        .media
        .set_direction(sipline_media::Direction::SendRecv);
    let now = call.now;
    let offer = call.sides[0].media.create_offer(now).unwrap();
    assert!(offer.contains("a=sendrecv"), "{offer}");
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    call.sides[0].heard.take();
    call.run_for(Duration::from_secs(1));
    assert_eq!(call.sides[0].media.direction(), Some(Direction::SendRecv));
    assert_eq!(call.sides[1].media.direction(), Some(Direction::SendRecv));
    let heard_by_a = call.sides[0].heard.take();
    // About a second, not more: nothing was filled in for the pause.
    assert!(
        (7000..=8800).contains(&heard_by_a.len()),
        "{}",
        heard_by_a.len()
    );
    let f = tone_frequency(&heard_by_a[1600..], 8000).unwrap_or(0.0);
    assert!((f - 880.0).abs() < 5.0, "A heard {f} after resuming");
}

#[test]
fn a_refused_hold_offer_leaves_the_call_as_it_was() {
    use sipline_media::Direction;
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side(A, 35, 440.0, 8000, &all),
        side(B, 36, 880.0, 8000, &all),
    );
    call.negotiate();
    call.run_for(Duration::from_millis(500));
    call.sides[0].media.set_direction(Direction::Inactive);
    let now = call.now;
    let offer = call.sides[0].media.create_offer(now).unwrap();
    assert!(offer.contains("a=inactive"), "{offer}");
    // The peer refuses (a 488 to the re-INVITE): forget it, and give up the hold.
    call.sides[0].media.cancel_offer();
    call.sides[0].media.set_direction(Direction::SendRecv);
    assert_eq!(call.sides[0].media.direction(), Some(Direction::SendRecv));
    call.sides[0].heard.take();
    call.sides[1].heard.take();
    call.run_for(Duration::from_secs(1));
    let heard_by_a = call.sides[0].heard.take();
    let heard_by_b = call.sides[1].heard.take();
    assert!(heard_by_a.len() > 7000 && heard_by_b.len() > 7000);
    let fa = tone_frequency(&heard_by_a[1600..], 8000).unwrap_or(0.0);
    let fb = tone_frequency(&heard_by_b[1600..], 8000).unwrap_or(0.0);
    assert!((fa - 880.0).abs() < 5.0, "A heard {fa}");
    assert!((fb - 440.0).abs() < 5.0, "B heard {fb}");
}

/// The `a=ice-ufrag` of an SDP.
fn ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn ice_restart_both_ways_keeps_audio_flowing() {
    // RFC 8445 §9: a re-offer with new ice-ufrag/ice-pwd (RFC 8839 §4.4.1.1.1) restarts the
    // checks; the answer carries new credentials too; audio goes on over the new pair.
    let all = [WebRtcCodec::Opus, WebRtcCodec::Pcmu];
    let mut call = Call::new(
        side(A, 31, 440.0, 8000, &all),
        side(B, 32, 880.0, 8000, &all),
    );
    let (offer0, answer0) = call.negotiate();
    call.run_for(Duration::from_secs(1));
    let mut ufrags = (ufrag(&offer0), ufrag(&answer0));
    for restarter in [0, 1] {
        let other = 1 - restarter;
        let now = call.now;
        let offer = call.sides[restarter]
            .media
            .create_restart_offer(now)
            .unwrap();
        let answer = call.sides[other].media.accept_offer(now, &offer).unwrap();
        call.sides[restarter]
            .media
            .accept_answer(now, &answer)
            .unwrap();
        let (o, a) = (ufrag(&offer), ufrag(&answer));
        let (old_restarter, old_other) = if restarter == 0 {
            (&ufrags.0, &ufrags.1)
        } else {
            (&ufrags.1, &ufrags.0)
        };
        assert_ne!(&o, old_restarter, "the re-offer keeps the old ufrag");
        assert_ne!(&a, old_other, "the answer keeps the old ufrag");
        assert!(offer.contains("typ host"), "{offer}");
        ufrags = if restarter == 0 { (o, a) } else { (a, o) };
        call.stun_users = [Vec::new(), Vec::new()];
        let before: Vec<u64> = call
            .sides
            .iter()
            .map(|s| s.media.stats().packets_received)
            .collect();
        for s in &call.sides {
            s.heard.take();
        }
        call.run_for(Duration::from_secs(2));
        for (i, s) in call.sides.iter().enumerate() {
            let got = s.media.stats().packets_received - before[i];
            assert!(
                got >= 80,
                "side {i} got {got} packets after restart {restarter}"
            );
            assert!(s.media.is_connected());
        }
        assert_tones(&call, 440.0, 880.0);
        // Connectivity checks (and consent, RFC 7675) now use the new credentials only.
        let want = [
            format!("{}:{}", ufrags.1, ufrags.0),
            format!("{}:{}", ufrags.0, ufrags.1),
        ];
        for (i, (users, want)) in call.stun_users.iter().zip(&want).enumerate() {
            assert!(!users.is_empty(), "side {i} sent no STUN after the restart");
            assert!(users.iter().all(|u| u == want), "{users:?} != {want}");
        }
        for s in &call.sides {
            let started = s
                .events
                .iter()
                .filter(|e| **e == MediaEvent::Started)
                .count();
            assert_eq!(started, 1, "{:?}", s.events);
        }
    }
}

#[test]
fn ice_restart_needs_a_negotiated_session_and_can_be_refused() {
    let all = [WebRtcCodec::Opus];
    let mut a = side(A, 33, 440.0, 8000, &all);
    assert!(matches!(
        a.media.create_restart_offer(Instant::now()),
        Err(MediaError::InvalidState(_))
    ));
    let mut call = Call::new(a, side(B, 34, 880.0, 8000, &all));
    call.negotiate();
    call.run_for(Duration::from_secs(1));
    let now = call.now;
    // Refused (a 491 or 488 to the re-INVITE): the call goes on with the old credentials.
    call.sides[0].media.create_restart_offer(now).unwrap();
    call.sides[0].media.cancel_offer();
    let before = call.sides[1].media.stats().packets_received;
    call.run_for(Duration::from_secs(1));
    assert!(call.sides[1].media.stats().packets_received - before >= 40);
    // And a later restart still works.
    let now = call.now;
    let offer = call.sides[0].media.create_restart_offer(now).unwrap();
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    let before = call.sides[1].media.stats().packets_received;
    call.run_for(Duration::from_secs(1));
    assert!(call.sides[1].media.stats().packets_received - before >= 40);
}

const STUN_SERVER: &str = "192.0.2.1:3478";
const MAPPED: &str = "198.51.100.7:40000";

fn with_stun(cfg: &mut WebRtcConfig) {
    cfg.stun_server = Some(STUN_SERVER.parse().unwrap());
}

/// Runs the call until side `i`'s gathering wait is over, as a runtime deferring its
/// offer or answer would; how long that took.
fn gather(call: &mut Call, i: usize) -> Duration {
    let start = call.now;
    while let Some(until) = call.sides[i].media.gather(call.now) {
        assert!(until > call.now, "the wait must end in the future");
        let step = call.now + Duration::from_millis(1);
        call.run_until(step.min(until));
    }
    call.now - start
}

#[test]
fn stun_server_gives_srflx_candidates_in_offer_and_answer() {
    // RFC 8445 §5.1.1.2: the mapped address of a Binding response is a server-reflexive
    // candidate, its base (our host candidate) as raddr/rport (RFC 8839 §5.1).
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side_with(A, 41, 440.0, 8000, &all, with_stun),
        side_with(B, 42, 880.0, 8000, &all, with_stun),
    );
    call.stun_server = Some((STUN_SERVER.parse().unwrap(), MAPPED.parse().unwrap(), true));
    let waited = gather(&mut call, 0);
    assert!(waited <= Duration::from_millis(20), "waited {waited:?}");
    assert_eq!(call.stun_requests, 1);
    let now = call.now;
    let offer = call.sides[0].media.create_offer(now).unwrap();
    assert!(
        offer.contains("198.51.100.7 40000 typ srflx raddr 127.0.0.1 rport 41000"),
        "{offer}"
    );
    assert!(offer.contains("127.0.0.1 41000 typ host"), "{offer}");
    gather(&mut call, 1);
    let now = call.now;
    let answer = call.sides[1].media.accept_offer(now, &offer).unwrap();
    assert!(
        answer.contains("198.51.100.7 40000 typ srflx raddr 127.0.0.1 rport 41002"),
        "{answer}"
    );
    call.sides[0].media.accept_answer(now, &answer).unwrap();
    call.run_for(Duration::from_secs(2));
    assert_tones(&call, 440.0, 880.0);
    // No more requests once answered.
    assert_eq!(call.stun_requests, 2);
}

#[test]
fn lost_stun_response_means_no_srflx_and_no_hang() {
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side_with(A, 43, 440.0, 8000, &all, with_stun),
        side(B, 44, 880.0, 8000, &all),
    );
    call.stun_server = Some((STUN_SERVER.parse().unwrap(), MAPPED.parse().unwrap(), false));
    let waited = gather(&mut call, 0);
    // gather_timeout (300 ms); sent at 0, 100 and 300 ms on the way.
    assert_eq!(waited, Duration::from_millis(300));
    assert_eq!(call.stun_requests, 3);
    let (offer, _) = call.negotiate();
    assert!(!offer.contains("srflx"), "{offer}");
    call.run_for(Duration::from_secs(5));
    assert_tones(&call, 440.0, 880.0);
    // Retransmitted (100, 200, 400, 800 ms) then given up: no endless timer.
    assert_eq!(call.stun_requests, 5);
    let now = call.now;
    call.sides[0].media.handle_input(now, MediaInput::Timeout);
    assert!(call.sides[0].media.gather(now).is_none());
}

#[test]
fn late_stun_response_still_adds_the_candidate_after_the_offer() {
    // An offer made at once (no wait) has host candidates only; the response arriving after
    // it is taken (not handed to str0m as garbage) and the call works.
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side_with(A, 45, 440.0, 8000, &all, with_stun),
        side(B, 46, 880.0, 8000, &all),
    );
    call.stun_server = Some((STUN_SERVER.parse().unwrap(), MAPPED.parse().unwrap(), true));
    let (offer, _) = call.negotiate();
    assert!(!offer.contains("srflx"), "{offer}");
    call.run_for(Duration::from_secs(2));
    assert_eq!(call.stun_requests, 1);
    assert_eq!(call.sides[0].media.stats().packets_invalid, 0);
    assert_tones(&call, 440.0, 880.0);
}

#[test]
fn late_srflx_candidate_is_trickled_and_taken_by_the_peer() {
    // Trickle ICE (RFC 8838, RFC 8840 §9): the offer goes out at once (no wait); the srflx
    // candidate found after it comes as an SDP fragment with a=end-of-candidates, and the
    // peer fed with it starts checks towards it.
    let all = [WebRtcCodec::Opus];
    let mut call = Call::new(
        side_with(A, 47, 440.0, 8000, &all, |c| {
            with_stun(c);
            c.gather_timeout = Duration::ZERO;
        }),
        side(B, 48, 880.0, 8000, &all),
    );
    call.stun_server = Some((STUN_SERVER.parse().unwrap(), MAPPED.parse().unwrap(), true));
    assert_eq!(call.sides[0].media.gather(call.now), None, "no wait");
    let (offer, _) = call.negotiate();
    assert!(!offer.contains("srflx"), "{offer}");
    call.run_for(Duration::from_millis(500));
    let frags: Vec<String> = call.sides[0]
        .events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::LocalCandidates { sdpfrag } => Some(sdpfrag.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(frags.len(), 1, "{:?}", call.sides[0].events);
    let frag = &frags[0];
    for needle in [
        &format!("a=ice-ufrag:{}", ufrag(&offer)),
        "a=ice-pwd:",
        "m=audio 9 UDP/TLS/RTP/SAVPF",
        "a=mid:",
        "typ srflx raddr 127.0.0.1 rport 41000",
        "a=end-of-candidates",
    ] {
        assert!(frag.contains(needle), "{needle} missing in\n{frag}");
    }
    assert!(!frag.contains("typ host"), "{frag}");
    let mapped: SocketAddr = MAPPED.parse().unwrap();
    assert!(!call.destinations[1].contains(&mapped));
    let now = call.now;
    // A fragment of an older ICE generation (another ufrag) is ignored (RFC 8838 §11).
    let stale: SocketAddr = "198.51.100.9:40000".parse().unwrap();
    let old = "a=ice-ufrag:stale\r\na=candidate:1 1 udp 1686109951 198.51.100.9 40000 typ srflx \
               raddr 0.0.0.0 rport 0\r\na=end-of-candidates\r\n";
    call.sides[1].media.add_remote_candidates(now, old).unwrap();
    call.sides[1]
        .media
        .add_remote_candidates(now, frag)
        .unwrap();
    call.run_for(Duration::from_millis(500));
    assert!(
        call.destinations[1].contains(&mapped),
        "B never checked the trickled candidate"
    );
    assert!(
        !call.destinations[1].contains(&stale),
        "B checked a stale candidate"
    );
    assert_tones(&call, 440.0, 880.0);
    assert!(
        call.sides[1]
            .media
            .add_remote_candidates(now, "a=candidate:garbage")
            .is_err()
    );
}
