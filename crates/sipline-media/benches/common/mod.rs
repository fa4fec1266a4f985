//! Two media sessions wired back to back in memory and driven in virtual time (as
//! `tests/webrtc.rs` does): ICE, DTLS-SRTP, RTP and RTCP all go through [`Pair::run_for`].

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipline_media::{
    AudioSource, MediaInput, MediaOutput, MediaSession, NullSink, RtpConfig, RtpMedia, ToneSource,
    WebRtcCodec, WebRtcConfig, WebRtcMedia,
};

/// One second of a tone rendered once, then played in a loop: `ToneSource` computes a `sin`
/// and an `fmod` per sample, which took ~20% of a G.711 pair's time in `perf` and is no part
/// of what a call costs.
pub(crate) struct LoopSource {
    rate: u32,
    samples: Vec<i16>,
    pos: usize,
}

impl LoopSource {
    pub(crate) fn tone(rate: u32, freq: f32) -> Self {
        let mut samples = vec![0i16; rate as usize];
        ToneSource::new(rate, freq, -10.0).read(&mut samples);
        LoopSource {
            rate,
            samples,
            pos: 0,
        }
    }
}

impl AudioSource for LoopSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn read(&mut self, frame: &mut [i16]) -> usize {
        let mut done = 0;
        while done < frame.len() {
            let n = (frame.len() - done).min(self.samples.len() - self.pos);
            frame[done..done + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            done += n;
            self.pos = (self.pos + n) % self.samples.len();
        }
        frame.len()
    }
}

/// Which media both sides of a pair run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `WebRtcMedia` with only this codec offered, audio source and sink at this rate.
    WebRtc(WebRtcCodec, u32),
    /// `RtpMedia`, G.711 µ-law (its first codec), 8 kHz audio.
    RtpPcmu,
}

/// RTP rather than STUN, DTLS or RTCP (RFC 7983 §7, RFC 5761 §4).
pub(crate) fn is_rtp(b: &[u8]) -> bool {
    b.len() > 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1])
}

/// Wall time spent in side 0's media session, split by what it was doing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Probe {
    /// In `handle_input(Timeout)` and the `poll_output` drain after it (the 20 ms frame
    /// clock: read, encode, packetise, SRTP protect; plus str0m's own timers).
    pub(crate) send: Duration,
    /// In `handle_input(Receive)` of RTP packets and the drain after it (SRTP unprotect,
    /// depacketise, decode, the sink).
    pub(crate) recv: Duration,
    /// RTP packets side 0 sent.
    pub(crate) sent: u64,
    /// RTP packets side 0 was handed.
    pub(crate) received: u64,
}

/// Two sessions back to back.
pub(crate) struct Pair {
    pub(crate) now: Instant,
    pub(crate) sides: [Box<dyn MediaSession>; 2],
    /// (deliver at, to side, from, bytes)
    in_flight: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    latency: Duration,
    /// Time side 0's calls when set.
    pub(crate) probe: Option<Probe>,
}

fn side(kind: Kind, addr: SocketAddr, seed: u64, freq: f32) -> Box<dyn MediaSession> {
    match kind {
        Kind::WebRtc(codec, rate) => Box::new(
            WebRtcMedia::new(WebRtcConfig::new(addr, seed).with_codecs(&[codec]))
                .with_audio(
                    Box::new(LoopSource::tone(rate, freq)),
                    Box::new(NullSink::new(rate)),
                )
                .expect("WebRTC media"),
        ),
        Kind::RtpPcmu => Box::new(
            RtpMedia::new(RtpConfig::new(addr, seed))
                .with_audio(
                    Box::new(LoopSource::tone(8000, freq)),
                    Box::new(NullSink::new(8000)),
                )
                .expect("RTP media"),
        ),
    }
}

impl Pair {
    /// Pair number `i` (distinct addresses), negotiated (0 offers, 1 answers) and run for
    /// one virtual second so that ICE and DTLS are done and audio flows.
    pub(crate) fn connected(kind: Kind, i: u16, start: Instant) -> Self {
        let a: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 20000 + 4 * i));
        let b: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 20002 + 4 * i));
        let mut pair = Pair {
            now: start,
            sides: [
                side(kind, a, u64::from(i) * 2 + 1, 440.0),
                side(kind, b, u64::from(i) * 2 + 2, 880.0),
            ],
            in_flight: Vec::new(),
            latency: Duration::from_millis(1),
            probe: None,
        };
        let offer = pair.sides[0].create_offer(start).expect("offer");
        let answer = pair.sides[1].accept_offer(start, &offer).expect("answer");
        pair.sides[0]
            .accept_answer(start, &answer)
            .expect("accept the answer");
        pair.run_for(Duration::from_secs(1));
        let st = pair.sides[0].stats();
        assert!(
            st.packets_received > 10 && st.packets_sent > 10,
            "no audio flows in {kind:?}: {st:?}"
        );
        pair
    }

    fn drain(&mut self, i: usize) -> Option<Instant> {
        loop {
            match self.sides[i].poll_output() {
                MediaOutput::Transmit(t) => {
                    if i == 0
                        && is_rtp(&t.contents)
                        && let Some(p) = self.probe.as_mut()
                    {
                        p.sent += 1;
                    }
                    self.in_flight
                        .push((self.now + self.latency, 1 - i, t.source, t.contents));
                }
                MediaOutput::Event(_) => {}
                MediaOutput::Timeout(t) => return t,
            }
        }
    }

    fn deliver(&mut self, to: usize, from: SocketAddr, bytes: &[u8]) -> Option<Instant> {
        let input = MediaInput::Receive {
            source: from,
            contents: bytes,
        };
        let now = self.now;
        if to == 0 && self.probe.is_some() && is_rtp(bytes) {
            let t = Instant::now();
            self.sides[0].handle_input(now, input);
            let next = self.drain(0);
            if let Some(p) = self.probe.as_mut() {
                p.recv += t.elapsed();
                p.received += 1;
            }
            return next;
        }
        self.sides[to].handle_input(now, input);
        self.drain(to)
    }

    fn timeout(&mut self, i: usize) -> Option<Instant> {
        let now = self.now;
        if i == 0 && self.probe.is_some() {
            let t = Instant::now();
            self.sides[0].handle_input(now, MediaInput::Timeout);
            let next = self.drain(0);
            if let Some(p) = self.probe.as_mut() {
                p.send += t.elapsed();
            }
            return next;
        }
        self.sides[i].handle_input(now, MediaInput::Timeout);
        self.drain(i)
    }

    /// Runs both sides until `until` (virtual time).
    pub(crate) fn run_until(&mut self, until: Instant) {
        let mut due_at = [self.drain(0), self.drain(1)];
        while self.now < until {
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let next = [due_at[0], due_at[1], next_packet, Some(until)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until);
            self.now = next.max(self.now);
            let now = self.now;
            let due: Vec<_> = {
                let (due, rest) = self.in_flight.drain(..).partition(|p| p.0 <= now);
                self.in_flight = rest;
                due
            };
            for (_, to, from, bytes) in due {
                due_at[to] = self.deliver(to, from, &bytes);
            }
            let snapshot = due_at;
            for (i, at) in snapshot.iter().enumerate() {
                if at.is_some_and(|t| t <= now) {
                    due_at[i] = self.timeout(i);
                }
            }
        }
    }

    /// Runs both sides for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}
