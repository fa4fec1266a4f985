//! End-to-end, sans-IO: two `RtpMedia` sessions joined by an in-memory network with latency,
//! loss and reordering, driven in virtual time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_media::rtcp::{self, RtcpPacket};
use sipline_media::rtp::is_rtcp;
use sipline_media::{
    AudioOptions, BufferHandle, BufferSink, Codec, Direction, DtmfTone, MediaError, MediaEvent,
    MediaInput, MediaKind, MediaOutput, MediaSession, MuteMode, RtpConfig, RtpMedia, ToneSource,
    WavRecorder, WavSource, tone_frequency,
};

const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40002);

/// What the network does to the n-th packet in one direction.
#[derive(Clone, Copy)]
enum Fate {
    Deliver,
    Drop,
    Delay(Duration),
}

struct Side {
    media: RtpMedia,
    heard: BufferHandle,
    events: Vec<MediaEvent>,
    /// RTP packets sent (what `fate` counts).
    sent: u64,
    /// The RTCP packets sent: (source, destination, bytes).
    rtcp: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

struct Call {
    start: Instant,
    now: Instant,
    sides: [Side; 2],
    /// (deliver at, to side, from address, bytes)
    in_flight: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    latency: Duration,
    fate: [Box<dyn FnMut(u64) -> Fate>; 2],
    /// Rewrites the source address of packets from a side (a NAT).
    nat: [Option<SocketAddr>; 2],
}

fn side(addr: SocketAddr, seed: u64, freq: f32, tweak: impl FnOnce(&mut RtpConfig)) -> Side {
    let mut cfg = RtpConfig::new(addr, seed);
    tweak(&mut cfg);
    let sink = BufferSink::new(8000);
    let heard = sink.handle();
    let media = RtpMedia::new(cfg)
        .with_audio(Box::new(ToneSource::new(8000, freq, -10.0)), Box::new(sink))
        .unwrap();
    Side {
        media,
        heard,
        events: Vec::new(),
        sent: 0,
        rtcp: Vec::new(),
    }
}

impl Call {
    fn new(a: Side, b: Side) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            sides: [a, b],
            in_flight: Vec::new(),
            latency: Duration::from_millis(10),
            fate: [Box::new(|_| Fate::Deliver), Box::new(|_| Fate::Deliver)],
            nat: [None, None],
        }
    }

    /// A offers, B answers, A accepts.
    fn connect(&mut self) {
        let offer = self.sides[0].media.create_offer(self.now).unwrap();
        let answer = self.sides[1].media.accept_offer(self.now, &offer).unwrap();
        self.sides[0]
            .media
            .accept_answer(self.now, &answer)
            .unwrap();
    }

    /// Drains both sides' outputs into the network; returns the earliest deadline.
    fn drain(&mut self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for i in 0..2 {
            loop {
                match self.sides[i].media.poll_output() {
                    MediaOutput::Transmit(t) => {
                        // Side 0 owns its RTP port and the next one (RTCP); the rest is side 1.
                        let a = self.sides[0].media.local_addr();
                        let to = if t.destination.ip() == a.ip()
                            && (t.destination.port() == a.port()
                                || t.destination.port() == a.port() + 1)
                        {
                            0
                        } else {
                            1
                        };
                        let source = self.nat[i].unwrap_or(t.source);
                        if is_rtcp(&t.contents) {
                            // RTCP is never lost: `fate` counts RTP only.
                            self.sides[i]
                                .rtcp
                                .push((t.source, t.destination, t.contents.clone()));
                            self.in_flight
                                .push((self.now + self.latency, to, source, t.contents));
                            continue;
                        }
                        let n = self.sides[i].sent;
                        self.sides[i].sent += 1;
                        let at = match (self.fate[i])(n) {
                            Fate::Drop => continue,
                            Fate::Deliver => self.now + self.latency,
                            Fate::Delay(d) => self.now + self.latency + d,
                        };
                        self.in_flight.push((at, to, source, t.contents));
                    }
                    MediaOutput::Event(e) => self.sides[i].events.push(e),
                    MediaOutput::Timeout(t) => {
                        next = [next, t].into_iter().flatten().min();
                        break;
                    }
                }
            }
        }
        [next, self.in_flight.iter().map(|p| p.0).min()]
            .into_iter()
            .flatten()
            .min()
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self.drain().unwrap_or(end);
            if next > end {
                self.now = end;
                break;
            }
            self.now = next.max(self.now);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.0 <= now);
            self.in_flight = later;
            let mut due = due;
            due.sort_by_key(|p| p.0);
            for (_, to, from, bytes) in due {
                self.sides[to].media.handle_input(
                    now,
                    MediaInput::Receive {
                        source: from,
                        contents: &bytes,
                    },
                );
            }
            for s in &mut self.sides {
                s.media.handle_input(now, MediaInput::Timeout);
            }
        }
        self.drain();
    }

    fn dtmf(&self, i: usize) -> Vec<(char, Duration)> {
        self.sides[i]
            .events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::DtmfReceived { tone, duration } => Some((tone.to_char(), *duration)),
                _ => None,
            })
            .collect()
    }
}

fn default_call() -> Call {
    Call::new(side(A, 1, 440.0, |_| {}), side(B, 2, 880.0, |_| {}))
}

fn assert_tone(samples: &[i16], want: f32) {
    // Skip the first 100 ms (start-up) and check the rest.
    let f = tone_frequency(&samples[800.min(samples.len())..], 8000);
    let f = f.unwrap_or_else(|| panic!("no tone in {} samples", samples.len()));
    assert!((f - want).abs() <= 5.0, "heard {f} Hz, want {want}");
}

#[test]
fn two_seconds_of_tones_both_ways() {
    let mut call = default_call();
    call.connect();
    call.run_for(Duration::from_secs(2));
    let [a, b] = &call.sides;
    assert_tone(&b.heard.samples(), 440.0);
    assert_tone(&a.heard.samples(), 880.0);
    for s in [a, b] {
        let st = s.media.stats();
        assert!((99..=102).contains(&st.packets_sent), "{st:?}");
        assert!((98..=102).contains(&st.packets_received), "{st:?}");
        assert_eq!(st.bytes_sent, st.packets_sent * 160);
        assert_eq!(
            (st.packets_lost, st.packets_late, st.packets_duplicate),
            (0, 0, 0),
            "{st:?}"
        );
        assert!(st.jitter < Duration::from_millis(1), "{st:?}");
        assert!(st.remote_level_dbov.unwrap() > -20.0);
        assert_eq!(
            s.events
                .iter()
                .filter(|e| **e == MediaEvent::Started)
                .count(),
            1
        );
        assert!(s.events.contains(&MediaEvent::RemoteActive));
    }
    // Both sides recorded close to 2 s of audio.
    assert!(
        b.heard.samples().len() >= 15_600,
        "{}",
        b.heard.samples().len()
    );
    assert_eq!(call.now - call.start, Duration::from_secs(2));
}

#[test]
fn dtmf_both_ways() {
    let mut call = default_call();
    call.connect();
    call.run_for(Duration::from_millis(200));
    let now = call.now;
    let ms = Duration::from_millis;
    call.sides[0]
        .media
        .send_dtmf(now, DtmfTone::from_char('1').unwrap(), ms(100))
        .unwrap();
    call.sides[0]
        .media
        .send_dtmf(now, DtmfTone::Pound, ms(160))
        .unwrap();
    call.sides[1]
        .media
        .send_dtmf(now, DtmfTone::A, ms(250))
        .unwrap();
    call.run_for(Duration::from_secs(1));
    assert_eq!(call.dtmf(1), [('1', ms(100)), ('#', ms(160))]);
    assert_eq!(call.dtmf(0), [('A', ms(250))]);
    assert_eq!(call.sides[0].media.stats().dtmf_sent, 2);
    assert_eq!(call.sides[1].media.stats().dtmf_received, 2);
    // Audio resumed after the events.
    assert_tone(&call.sides[1].heard.samples(), 440.0);
}

#[test]
fn dtmf_survives_losing_end_packets_and_reports_once() {
    let mut call = default_call();
    call.connect();
    call.run_for(Duration::from_millis(100));
    // A's packets: 5 audio sent so far; drop the first two end packets of the event.
    let sent = call.sides[0].sent;
    let mut dropped = 0;
    call.fate[0] = Box::new(move |n| {
        // Event of 100 ms: packets at 0, 50 ms, then ends at 100, 120, 140 ms.
        if n >= sent + 2 && n < sent + 4 && dropped < 2 {
            dropped += 1;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let now = call.now;
    call.sides[0]
        .media
        .send_dtmf(now, DtmfTone::Digit(7), Duration::from_millis(100))
        .unwrap();
    call.run_for(Duration::from_millis(500));
    assert_eq!(call.dtmf(1), [('7', Duration::from_millis(100))]);
}

#[test]
fn loss_and_reordering_show_in_the_stats() {
    let mut call = default_call();
    // A -> B: drop every 10th packet, hold every 7th back by 30 ms (it arrives after the next).
    call.fate[0] = Box::new(|n| {
        if n % 10 == 9 {
            Fate::Drop
        } else if n % 7 == 3 {
            Fate::Delay(Duration::from_millis(30))
        } else {
            Fate::Deliver
        }
    });
    call.connect();
    call.run_for(Duration::from_secs(2));
    let st = call.sides[1].media.stats();
    let sent = call.sides[0].media.stats().packets_sent;
    let dropped = (0..sent).filter(|n| n % 10 == 9).count() as i64;
    // The last packets may still be in flight at the end.
    assert!(
        (dropped - 1..=dropped + 1).contains(&st.packets_lost),
        "{st:?}, dropped {dropped}"
    );
    assert!(st.packets_reordered >= 10, "{st:?}");
    assert_eq!(
        st.packets_late, 0,
        "the jitter buffer waited for the delayed ones: {st:?}"
    );
    assert!(st.jitter > Duration::from_millis(1), "{st:?}");
    assert_tone(&call.sides[1].heard.samples(), 440.0);
    // The lost frames were concealed, so the recording kept its length.
    assert!(call.sides[1].heard.samples().len() >= 15_000);
    // B -> A was clean.
    assert_eq!(call.sides[0].media.stats().packets_lost, 0);
}

#[test]
fn hold_and_resume_by_re_offer() {
    let mut call = default_call();
    call.connect();
    call.run_for(Duration::from_millis(500));

    // A puts B on hold: a=sendonly, B answers a=recvonly and stops sending (RFC 3264 §8.4).
    call.sides[0].media.set_direction(Direction::SendOnly);
    let offer = call.sides[0].media.create_offer(call.now).unwrap();
    assert!(offer.contains("a=sendonly\r\n"), "{offer}");
    assert!(offer.contains("o=- "), "{offer}");
    let answer = call.sides[1].media.accept_offer(call.now, &offer).unwrap();
    assert!(answer.contains("a=recvonly\r\n"), "{answer}");
    call.sides[0]
        .media
        .accept_answer(call.now, &answer)
        .unwrap();
    call.run_for(Duration::from_millis(40));
    let b_sent = call.sides[1].media.stats().packets_sent;
    let a_heard = call.sides[0].heard.samples().len();
    call.run_for(Duration::from_secs(1));
    assert_eq!(
        call.sides[1].media.stats().packets_sent,
        b_sent,
        "B sends nothing on hold"
    );
    assert!(call.sides[0].heard.samples().len() <= a_heard + 160);
    assert!(
        call.sides[1].heard.samples().len() > 8000 * 14 / 10,
        "A keeps sending"
    );

    // Resume.
    call.sides[0].media.set_direction(Direction::SendRecv);
    let offer2 = call.sides[0].media.create_offer(call.now).unwrap();
    assert!(offer2.contains("a=sendrecv\r\n"));
    // The o= version grew with each changed offer (RFC 3264 §8).
    let version = |s: &str| {
        s.lines()
            .nth(1)
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(version(&offer2) > version(&offer));
    let answer = call.sides[1].media.accept_offer(call.now, &offer2).unwrap();
    call.sides[0]
        .media
        .accept_answer(call.now, &answer)
        .unwrap();
    call.run_for(Duration::from_millis(500));
    assert!(call.sides[1].media.stats().packets_sent >= b_sent + 24);
}

#[test]
fn symmetric_rtp_latches_to_the_source_address() {
    let mut call = default_call();
    let nat: SocketAddr = "127.0.0.1:51000".parse().unwrap();
    call.nat[1] = Some(nat);
    call.connect();
    assert_eq!(call.sides[0].media.remote_addr(), Some(B));
    call.run_for(Duration::from_millis(100));
    assert_eq!(call.sides[0].media.remote_addr(), Some(nat));
    assert!(
        call.sides[0]
            .events
            .contains(&MediaEvent::RemoteAddressLatched { address: nat })
    );
}

#[test]
fn without_symmetric_rtp_the_sdp_address_stays() {
    let mut call = Call::new(
        side(A, 1, 440.0, |c| c.symmetric_rtp = false),
        side(B, 2, 880.0, |_| {}),
    );
    call.nat[1] = Some("127.0.0.1:51000".parse().unwrap());
    call.connect();
    call.run_for(Duration::from_millis(100));
    assert_eq!(call.sides[0].media.remote_addr(), Some(B));
}

#[test]
fn rtp_timeout_is_reported_once_and_clears_when_media_returns() {
    let mut call = Call::new(
        side(A, 1, 440.0, |c| {
            c.rtp_timeout = Some(Duration::from_secs(1))
        }),
        side(B, 2, 880.0, |_| {}),
    );
    let silent = std::rc::Rc::new(std::cell::Cell::new(true));
    let s = silent.clone();
    call.fate[1] = Box::new(move |_| if s.get() { Fate::Drop } else { Fate::Deliver });
    call.connect();
    call.run_for(Duration::from_millis(2500));
    let timeouts = |c: &Call| {
        c.sides[0]
            .events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Timeout { .. }))
            .count()
    };
    assert_eq!(timeouts(&call), 1);
    assert!(matches!(
        call.sides[0].events.iter().find(|e| matches!(e, MediaEvent::Timeout { .. })),
        Some(MediaEvent::Timeout { silent_for }) if *silent_for == Duration::from_secs(1)
    ));
    silent.set(false);
    call.run_for(Duration::from_millis(200));
    assert!(call.sides[0].events.contains(&MediaEvent::RemoteActive));
}

#[test]
fn mute_sends_silence_or_nothing() {
    let mut call = default_call();
    call.connect();
    call.sides[0].media.set_muted(MediaKind::Audio, true);
    call.run_for(Duration::from_secs(1));
    assert!(
        call.sides[0].media.stats().packets_sent >= 49,
        "silence is sent"
    );
    assert_eq!(tone_frequency(&call.sides[1].heard.samples(), 8000), None);

    let mut call = Call::new(
        side(A, 1, 440.0, |c| c.mute_mode = MuteMode::Nothing),
        side(B, 2, 880.0, |_| {}),
    );
    call.sides[0].media.set_muted(MediaKind::Audio, true);
    call.connect();
    call.run_for(Duration::from_millis(500));
    assert_eq!(call.sides[0].media.stats().packets_sent, 0);
    call.sides[0].media.set_muted(MediaKind::Audio, false);
    call.run_for(Duration::from_millis(500));
    assert!(call.sides[0].media.stats().packets_sent >= 24);
    assert_tone(&call.sides[1].heard.samples(), 440.0);
}

#[test]
fn pcma_only_and_a_wav_round_trip() {
    let only_pcma = |c: &mut RtpConfig| {
        c.audio = AudioOptions {
            codecs: vec![Codec::Pcma],
            ..AudioOptions::default()
        }
    };
    let mut call = Call::new(side(A, 1, 440.0, only_pcma), side(B, 2, 880.0, |_| {}));
    let path = std::env::temp_dir().join(format!("sipline-media-e2e-{}.wav", std::process::id()));
    call.sides[1]
        .media
        .set_audio_sink(Box::new(WavRecorder::create(&path, 8000).unwrap()))
        .unwrap();
    call.connect();
    assert_eq!(call.sides[0].media.negotiated().unwrap().codec, Codec::Pcma);
    call.run_for(Duration::from_secs(1));
    // Dropping the recorder would lose the header lengths: replace it to finalize.
    call.sides[1]
        .media
        .set_audio_sink(Box::new(BufferSink::new(8000)))
        .unwrap();
    // hound finalizes on drop too; read the file back.
    let mut src = WavSource::open(&path).unwrap();
    let mut samples = vec![0; src.len()];
    sipline_media::AudioSource::read(&mut src, &mut samples);
    let _ = std::fs::remove_file(&path);
    assert!(samples.len() >= 7000, "{}", samples.len());
    assert_tone(&samples, 440.0);
}

#[test]
fn state_and_argument_errors() {
    let mut a = RtpMedia::new(RtpConfig::new(A, 1));
    let now = Instant::now();
    assert_eq!(
        a.accept_answer(now, "v=0\r\n"),
        Err(MediaError::InvalidState("no offer pending"))
    );
    assert_eq!(
        a.send_dtmf(now, DtmfTone::Star, Duration::from_millis(100)),
        Err(MediaError::DtmfUnavailable)
    );
    assert!(matches!(
        a.send_dtmf(now, DtmfTone::Star, Duration::from_millis(10)),
        Err(MediaError::InvalidDuration(_))
    ));
    assert_eq!(
        a.set_audio_source(Box::new(ToneSource::new(48_000, 440.0, -10.0))),
        Err(MediaError::SampleRate {
            got: 48_000,
            want: 8000
        })
    );
    let offer = a.create_offer(now).unwrap();
    assert!(
        matches!(
            a.accept_offer(now, &offer),
            Err(MediaError::InvalidState(_))
        ),
        "glare"
    );
    a.cancel_offer();
    assert!(matches!(
        a.accept_answer(now, &offer),
        Err(MediaError::InvalidState(_))
    ));
    // Nothing is scheduled before negotiation.
    assert_eq!(a.poll_output(), MediaOutput::Timeout(None));
    // Garbage datagrams are counted, never a panic.
    a.handle_input(
        now,
        MediaInput::Receive {
            source: B,
            contents: b"hello",
        },
    );
    assert_eq!(a.stats().packets_invalid, 1);
}

#[test]
fn a_second_identical_offer_keeps_the_version() {
    let mut a = RtpMedia::new(RtpConfig::new(A, 1));
    let now = Instant::now();
    let o1 = a.create_offer(now).unwrap();
    let o2 = a.create_offer(now).unwrap();
    assert_eq!(o1, o2);
}

#[test]
fn a_remote_hold_offer_stops_our_sending() {
    let mut call = default_call();
    call.connect();
    call.run_for(Duration::from_millis(200));
    // B re-offers with inactive: A must answer inactive and send nothing.
    call.sides[1].media.set_direction(Direction::Inactive);
    let offer = call.sides[1].media.create_offer(call.now).unwrap();
    let answer = call.sides[0].media.accept_offer(call.now, &offer).unwrap();
    assert!(answer.contains("a=inactive\r\n"), "{answer}");
    call.sides[1]
        .media
        .accept_answer(call.now, &answer)
        .unwrap();
    call.run_for(Duration::from_millis(40));
    let sent = (
        call.sides[0].media.stats().packets_sent,
        call.sides[1].media.stats().packets_sent,
    );
    call.run_for(Duration::from_millis(500));
    assert_eq!(
        (
            call.sides[0].media.stats().packets_sent,
            call.sides[1].media.stats().packets_sent
        ),
        sent
    );
}

/// Checks both sides' RTCP after a call: reports sent and received both ways, an RTT equal to
/// twice the one-way latency within 1 ms.
fn assert_reports(call: &Call, min_sent: u64) {
    let want = call.latency * 2;
    for (i, s) in call.sides.iter().enumerate() {
        let st = s.media.stats();
        assert!(st.rtcp_sent >= min_sent, "side {i}: {st:?}");
        assert_eq!(st.rtcp_sent, s.rtcp.len() as u64);
        assert!(st.rtcp_received >= 1, "side {i}: {st:?}");
        let rtt = st.rtt.unwrap_or_else(|| panic!("side {i}: no RTT: {st:?}"));
        assert!(
            rtt.abs_diff(want) <= Duration::from_millis(1),
            "side {i}: RTT {rtt:?}, simulated {want:?}"
        );
    }
}

#[test]
fn rtcp_reports_both_ways_over_rtcp_mux_give_the_round_trip_time() {
    let mut call = default_call();
    call.latency = Duration::from_millis(20);
    call.connect();
    assert!(call.sides[0].media.negotiated().unwrap().rtcp_mux);
    assert!(call.sides[1].media.negotiated().unwrap().rtcp_mux);
    call.run_for(Duration::from_secs(12));
    assert_reports(&call, 2);
    for (i, s) in call.sides.iter().enumerate() {
        let other = call.sides[1 - i].media.local_addr();
        for (source, destination, bytes) in &s.rtcp {
            // Muxed: from and to the RTP ports (RFC 5761 §4).
            assert_eq!((*source, *destination), (s.media.local_addr(), other));
            // Both sides send RTP, so every report is an SR with a block about the peer.
            let packets = rtcp::parse_compound(bytes).unwrap();
            let RtcpPacket::Report(r) = &packets[0] else {
                panic!("{packets:?}")
            };
            assert!(r.sender.is_some());
            assert_eq!(r.blocks.len(), 1);
            assert_eq!(r.blocks[0].ssrc, call.sides[1 - i].media.ssrc());
            assert!(matches!(&packets[1], RtcpPacket::Sdes(c) if c.len() == 1));
        }
        let st = s.media.stats();
        assert_eq!(st.remote_packets_lost, Some(0), "{st:?}");
        assert_eq!(st.remote_fraction_lost, Some(0.0), "{st:?}");
    }
    eprintln!(
        "RTT measured {:?} / {:?}, simulated {:?}",
        call.sides[0].media.stats().rtt,
        call.sides[1].media.stats().rtt,
        call.latency * 2
    );
}

#[test]
fn loss_on_rtp_shows_in_the_peers_report() {
    let mut call = default_call();
    // A -> B: drop every 10th RTP packet.
    call.fate[0] = Box::new(|n| {
        if n % 10 == 9 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    call.connect();
    call.run_for(Duration::from_secs(12));
    assert_reports(&call, 2);
    let a = call.sides[0].media.stats();
    let b = call.sides[1].media.stats();
    // 10% lost: 25/256 or 26/256 over an interval.
    let fraction = a.remote_fraction_lost.unwrap();
    assert!((0.08..=0.12).contains(&fraction), "{a:?}");
    // The cumulative count as of B's last report: at least 2.5 s of loss, at most all of it.
    let lost = a.remote_packets_lost.unwrap();
    assert!((12..=b.packets_lost).contains(&lost), "{a:?} / {b:?}");
    // B -> A is clean.
    assert_eq!(b.remote_packets_lost, Some(0), "{b:?}");
    assert_eq!(b.remote_fraction_lost, Some(0.0), "{b:?}");
}

#[test]
fn without_rtcp_mux_rtcp_uses_the_next_port_or_a_rtcp() {
    // A offers no rtcp-mux and has its RTCP socket at RTP + 1; B's RTCP socket is elsewhere,
    // so B's answer says a=rtcp (RFC 3605).
    let b_rtcp: SocketAddr = "127.0.0.1:40010".parse().unwrap();
    let a_rtcp = SocketAddr::new(A.ip(), A.port() + 1);
    let mut call = Call::new(
        side(A, 1, 440.0, |c| {
            c.audio.rtcp_mux = false;
            c.rtcp_addr = Some(a_rtcp);
        }),
        side(B, 2, 880.0, |c| c.rtcp_addr = Some(b_rtcp)),
    );
    let offer = call.sides[0].media.create_offer(call.now).unwrap();
    assert!(!offer.contains("a=rtcp"), "{offer}");
    let answer = call.sides[1].media.accept_offer(call.now, &offer).unwrap();
    assert!(answer.contains("a=rtcp:40010\r\n"), "{answer}");
    assert!(!answer.contains("rtcp-mux"), "{answer}");
    call.sides[0]
        .media
        .accept_answer(call.now, &answer)
        .unwrap();
    assert!(!call.sides[0].media.negotiated().unwrap().rtcp_mux);
    call.latency = Duration::from_millis(20);
    call.run_for(Duration::from_secs(12));
    assert_reports(&call, 2);
    assert!(
        call.sides[0]
            .rtcp
            .iter()
            .all(|(s, d, _)| (*s, *d) == (a_rtcp, b_rtcp))
    );
    assert!(
        call.sides[1]
            .rtcp
            .iter()
            .all(|(s, d, _)| (*s, *d) == (b_rtcp, a_rtcp))
    );
}

#[test]
fn an_answer_without_rtcp_mux_is_not_muxed() {
    let mut call = Call::new(
        side(A, 1, 440.0, |c| c.symmetric_rtp = false),
        side(B, 2, 880.0, |c| c.audio.rtcp_mux = false),
    );
    let offer = call.sides[0].media.create_offer(call.now).unwrap();
    assert!(offer.contains("a=rtcp-mux\r\n"), "{offer}");
    let answer = call.sides[1].media.accept_offer(call.now, &offer).unwrap();
    assert!(!answer.contains("rtcp-mux"), "{answer}");
    call.sides[0]
        .media
        .accept_answer(call.now, &answer)
        .unwrap();
    assert!(!call.sides[0].media.negotiated().unwrap().rtcp_mux);
    assert!(!call.sides[1].media.negotiated().unwrap().rtcp_mux);
    // No RTCP sockets: reports go from the RTP socket to the peer's RTP port + 1, where the
    // peer's runtime would have no socket; the harness delivers them anyway.
    call.run_for(Duration::from_secs(12));
    let b_next = SocketAddr::new(B.ip(), B.port() + 1);
    assert!(
        call.sides[0]
            .rtcp
            .iter()
            .all(|(s, d, _)| (*s, *d) == (A, b_next))
    );
    // B, symmetric (RFC 4961), answers RTCP where A's comes from once it has some.
    let (s, d, _) = call.sides[1].rtcp.last().unwrap();
    assert_eq!((*s, *d), (B, A));
    assert_reports(&call, 2);
}
