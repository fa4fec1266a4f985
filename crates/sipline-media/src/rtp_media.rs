//! [`RtpMedia`]: one audio stream over plain RTP/AVP (RFC 3550, RFC 3551) with G.711 and
//! RFC 4733 telephone-events, sans-IO.
//!
//! Sending is paced by timeouts: every packet time (the peer's `a=ptime`, 20 ms by default)
//! one frame is pulled from the [`AudioSource`], encoded and sent; the RTP timestamp advances
//! by one frame per tick whether or not a packet goes out, so pauses (mute, DTMF, hold) show
//! as timestamp gaps with the marker bit on the next talkspurt (RFC 3551 §4.1). If the
//! runtime falls more than 200 ms behind, the missed frames are skipped rather than burst.
//!
//! Receiving: a small jitter buffer puts packets back in sequence order and plays them out to
//! the [`AudioSink`] as soon as they are in order; a gap is skipped (and filled with silence)
//! once `jitter_depth` later packets are held or the oldest held packet has waited
//! `jitter_max_wait`. Loss follows RFC 3550 A.3 (expected minus received), jitter RFC 3550 A.8.
//!
//! RTCP ([`crate::rtcp`]): once media starts, a compound SR (if we sent RTP since the last
//! report) or RR, with one report block about the peer's SSRC and an SDES CNAME, goes out
//! every [`RtpConfig::rtcp_interval`] (5 s by default) randomised to 0.5-1.5 times that by the
//! seeded generator (RFC 3550 §6.3.5; the first after half an interval, §6.2). It goes to the
//! RTP address when `a=rtcp-mux` was negotiated (RFC 5761 §5.1.1), else to the peer's
//! `a=rtcp` (RFC 3605) or RTP port + 1 (RFC 3550 §11), from [`RtpConfig::rtcp_addr`] if the
//! runtime bound an RTCP socket. Incoming RTCP is told from RTP by its packet type (RFC 5761
//! §4) on any socket; the peer's report block about our SSRC gives the round-trip time (RFC
//! 3550 §6.4.1) and the loss it sees ([`MediaStats::rtt`], [`MediaStats::remote_fraction_lost`]).
//! NTP timestamps count from [`RtpConfig::ntp_base`], so the core never reads the clock. BYE
//! is neither sent nor acted on, and there is one report block at most (one peer).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use crate::audio::{AudioSink, AudioSource, NullSink, SilenceSource};
use crate::dtmf::{DtmfReceive, DtmfTone, EventPayload};
use crate::error::MediaError;
use crate::g711;
use crate::offer_answer::{self, AudioOptions, Codec, Negotiated};
use crate::rtcp::{self, LossCounter, Report, ReportBlock, RtcpPacket, SenderInfo};
use crate::rtp::{RtpHeader, is_rtcp};
use crate::sdp::{AddrType, Attribute, Direction, Origin, SessionDescription};
use crate::session::{
    MediaEvent, MediaInput, MediaKind, MediaOutput, MediaSession, MediaStats, Transmit,
};

/// The G.711 clock rate (RFC 3551 §4.5.14).
const CLOCK_RATE: u32 = 8000;
/// RFC 4733 §2.5.1.2: update packets every 50 ms.
const DTMF_UPDATE: Duration = Duration::from_millis(50);
/// Spacing of the three end packets (RFC 4733 §2.5.1.4).
const DTMF_END_SPACING: Duration = Duration::from_millis(20);
/// How far behind the runtime may be before frames are skipped instead of sent in a burst.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// RTP packets kept from before the answer to our first offer (RFC 3264 §5.1): 50 is 1 s of
/// 20 ms audio, more than an answer takes to come back on a working network; older ones go
/// first when it is full.
const EARLY_MAX_PACKETS: usize = 50;
/// The largest early packet kept (a 60 ms G.711 frame is 480 bytes of payload).
const EARLY_MAX_LEN: usize = 1500;

/// What a muted audio stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MuteMode {
    /// Encoded silence at the normal pace: keeps NAT bindings open and the peer's RTP timeout
    /// quiet. The default.
    #[default]
    Silence,
    /// Nothing; the next packet after unmuting carries the marker bit (RFC 3551 §4.1).
    Nothing,
}

/// Configuration of an [`RtpMedia`].
#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// The local address of the RTP socket the runtime bound.
    pub local_addr: SocketAddr,
    /// The address to put in `c=` and `o=`, if not the socket's (behind NAT, or a wildcard
    /// bind).
    pub sdp_address: Option<IpAddr>,
    /// Codecs, telephone-event payload type, ptime.
    pub audio: AudioOptions,
    /// Seed of the SSRC, initial sequence number and timestamp (RFC 3550 §5.1 wants them
    /// random) and the SDP session id. Give each session a different one.
    pub seed: u64,
    /// Send to the address the peer's RTP comes from once it arrives (RFC 4961), rather than
    /// only to the SDP address. On by default.
    pub symmetric_rtp: bool,
    /// Report [`MediaEvent::Timeout`] after this long without RTP; `None` never. 30 s by default.
    pub rtp_timeout: Option<Duration>,
    /// What muting sends.
    pub mute_mode: MuteMode,
    /// Packets held after a gap before the gap is declared lost. 3 by default.
    pub jitter_depth: usize,
    /// How long a packet waits for a missing earlier one. 60 ms by default.
    pub jitter_max_wait: Duration,
    /// The local address of the RTCP socket, if the runtime bound one (RFC 3550 §11: RTP
    /// port + 1 by convention). RTCP that is not muxed is sent from it, and our SDP carries
    /// `a=rtcp:<port>` (RFC 3605) when its port is not the RTP port + 1. `None`: RTCP is sent
    /// from the RTP socket and only muxed RTCP is received. `None` by default.
    pub rtcp_addr: Option<SocketAddr>,
    /// The wall-clock time of the first instant the session is given (the `now` of the
    /// first method call that takes one): the origin of the NTP timestamps of our sender
    /// reports (RFC 3550 §4, §6.4.1). The runtime passes `SystemTime::now()`; the default,
    /// the Unix epoch, is fine for tests (round-trip times only compare our own clock).
    pub ntp_base: SystemTime,
    /// The mean RTCP report interval (RFC 3550 §6.2, §6.3.5). 5 s by default.
    pub rtcp_interval: Duration,
}

impl RtpConfig {
    /// The defaults for a socket bound at `local_addr`.
    pub fn new(local_addr: SocketAddr, seed: u64) -> Self {
        Self {
            local_addr,
            sdp_address: None,
            audio: AudioOptions::default(),
            seed,
            symmetric_rtp: true,
            rtp_timeout: Some(Duration::from_secs(30)),
            mute_mode: MuteMode::default(),
            jitter_depth: 3,
            jitter_max_wait: Duration::from_millis(60),
            rtcp_addr: None,
            ntp_base: SystemTime::UNIX_EPOCH,
            rtcp_interval: Duration::from_secs(5),
        }
    }
}

/// SplitMix64: a tiny deterministic generator for the RFC 3550 random initial values.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A DTMF event being sent (RFC 4733 §2.5.1).
#[derive(Debug, Clone)]
struct DtmfSend {
    tone: DtmfTone,
    timestamp: u32,
    start: Instant,
    total: u16,
    next_at: Instant,
    sent: u32,
    ends_sent: u8,
}

/// A packet held in the jitter buffer.
#[derive(Debug, Clone)]
enum Held {
    Audio {
        codec: Codec,
        payload: Vec<u8>,
    },
    Event {
        timestamp: u32,
        payload: EventPayload,
    },
    Other,
}

/// Sequence tracking, loss and duplicate detection (RFC 3550 A.1, A.3).
#[derive(Debug, Clone, Default)]
struct SeqState {
    ssrc: Option<u32>,
    base: i64,
    max: i64,
    received: u64,
    /// Bit i set: sequence `max - i` was received.
    window: u128,
    /// RFC 3550 A.8 state.
    last_transit: Option<i64>,
    jitter: f64,
}

impl SeqState {
    /// Extends `seq` and records it; `None` for a duplicate.
    fn update(&mut self, ssrc: u32, seq: u16) -> Option<(i64, bool)> {
        if self.ssrc != Some(ssrc) {
            *self = SeqState {
                ssrc: Some(ssrc),
                base: i64::from(seq),
                max: i64::from(seq),
                received: 1,
                window: 1,
                ..Default::default()
            };
            return Some((i64::from(seq), false));
        }
        let delta = i64::from(seq.wrapping_sub(self.max as u16) as i16);
        let ext = self.max + delta;
        let mut reordered = false;
        if delta > 0 {
            self.window = if delta >= 128 {
                0
            } else {
                self.window << delta
            };
            self.window |= 1;
            self.max = ext;
        } else {
            let back = -delta;
            if back < 128 {
                if self.window & (1u128 << back) != 0 {
                    return None;
                }
                self.window |= 1u128 << back;
            }
            reordered = true;
            if ext < self.base {
                self.base = ext;
            }
        }
        self.received += 1;
        Some((ext, reordered))
    }

    fn lost(&self) -> i64 {
        if self.ssrc.is_none() {
            return 0;
        }
        (self.max - self.base + 1) - self.received as i64
    }
}

/// Receive-side reordering (see the module docs).
#[derive(Debug, Clone, Default)]
struct JitterBuffer {
    next: Option<i64>,
    held: BTreeMap<i64, (Instant, Held)>,
}

enum Release {
    Packet(Held),
    Gap(u64),
}

impl JitterBuffer {
    /// Holds a packet; `false` if it is too late.
    fn insert(&mut self, ext: i64, now: Instant, packet: Held) -> bool {
        if self.next.is_some_and(|n| ext < n) {
            return false;
        }
        self.next.get_or_insert(ext);
        self.held.entry(ext).or_insert((now, packet));
        true
    }

    fn pop(&mut self, now: Instant, depth: usize, max_wait: Duration) -> Option<Release> {
        let next = self.next?;
        let (&first, (arrived, _)) = self.held.first_key_value()?;
        if first == next {
            self.next = Some(next + 1);
            return self.held.pop_first().map(|(_, (_, p))| Release::Packet(p));
        }
        if self.held.len() > depth || now >= *arrived + max_wait {
            self.next = Some(first);
            return Some(Release::Gap((first - next) as u64));
        }
        None
    }

    fn deadline(&self, max_wait: Duration) -> Option<Instant> {
        self.held
            .values()
            .map(|(t, _)| *t)
            .min()
            .map(|t| t + max_wait)
    }

    fn reset(&mut self) {
        self.next = None;
        self.held.clear();
    }
}

/// Plain RTP/AVP audio: G.711 µ-law/A-law, RFC 4733 DTMF, symmetric RTP (RFC 4961).
/// See the module docs for pacing, jitter buffer and what is not implemented.
///
/// Mute ([`MediaSession::set_muted`] with [`MediaKind::Audio`]) sends what
/// [`RtpConfig::mute_mode`] says: encoded silence by default.
pub struct RtpMedia {
    cfg: RtpConfig,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,

    session_id: u64,
    version: u64,
    last_local: Option<SessionDescription>,
    pending_offer: Option<(SessionDescription, usize)>,
    negotiated: Option<Negotiated>,
    want_direction: Direction,

    started: Option<Instant>,
    out: VecDeque<MediaOutput>,
    stats: MediaStats,

    // Sending.
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    next_tick: Option<Instant>,
    talkspurt: bool,
    muted: bool,
    source_ended: bool,
    remote: Option<SocketAddr>,
    latched: bool,
    dtmf_queue: VecDeque<(DtmfTone, u16)>,
    dtmf: Option<DtmfSend>,
    frame: Vec<i16>,

    // Receiving.
    seq_state: SeqState,
    jitter: JitterBuffer,
    dtmf_rx: DtmfReceive,
    last_rx: Option<Instant>,
    remote_active: bool,
    timeout_reported: bool,
    last_audio_len: Option<usize>,
    decoded: Vec<i16>,
    /// RTP that came while our first offer waited for its answer (RFC 3264 §5.1: the offerer
    /// must be ready to receive as soon as it sends the offer): (source, datagram), on the
    /// offered payload types only, at most [`EARLY_MAX_PACKETS`]. Played once the answer
    /// says who the peer is.
    early: VecDeque<(SocketAddr, Vec<u8>)>,

    // RTCP.
    rng: SplitMix,
    cname: String,
    /// The instant [`RtpConfig::ntp_base`] stands for.
    clock_origin: Option<Instant>,
    next_rtcp: Option<Instant>,
    /// Where the peer's RTCP comes from (symmetric RTCP, RFC 4961), when not muxed.
    rtcp_latched: Option<SocketAddr>,
    /// The SSRC `loss` counts for, and the A.3 interval state.
    loss: (Option<u32>, LossCounter),
    /// The peer's last SR: its SSRC, the middle of its NTP timestamp, when it arrived.
    last_sr: Option<(u32, u32, Instant)>,
    /// `packets_sent` at our last report.
    sent_at_report: u64,
}

impl std::fmt::Debug for RtpMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpMedia")
            .field("local_addr", &self.cfg.local_addr)
            .field("negotiated", &self.negotiated)
            .field("remote", &self.remote)
            .field("ssrc", &self.ssrc)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn check_rate(got: u32) -> Result<(), MediaError> {
    if got == CLOCK_RATE {
        Ok(())
    } else {
        Err(MediaError::SampleRate {
            got,
            want: CLOCK_RATE,
        })
    }
}

impl RtpMedia {
    /// A session that sends silence and drops what it receives until a source and sink are
    /// set.
    pub fn new(cfg: RtpConfig) -> Self {
        let mut rng = SplitMix(cfg.seed);
        let ssrc = rng.next() as u32;
        let seq = rng.next() as u16;
        let timestamp = rng.next() as u32;
        let session_id = rng.next() >> 2;
        // RFC 7022 §4.2: a random CNAME per session.
        let cname = format!("{:016x}@sipline", rng.next());
        Self {
            cfg,
            source: Box::new(SilenceSource::new(CLOCK_RATE)),
            sink: Box::new(NullSink::new(CLOCK_RATE)),
            session_id,
            version: 1,
            last_local: None,
            pending_offer: None,
            negotiated: None,
            want_direction: Direction::SendRecv,
            started: None,
            out: VecDeque::new(),
            stats: MediaStats::default(),
            ssrc,
            seq,
            timestamp,
            next_tick: None,
            talkspurt: true,
            muted: false,
            source_ended: false,
            remote: None,
            latched: false,
            dtmf_queue: VecDeque::new(),
            dtmf: None,
            frame: Vec::new(),
            seq_state: SeqState::default(),
            jitter: JitterBuffer::default(),
            dtmf_rx: DtmfReceive::default(),
            last_rx: None,
            remote_active: false,
            timeout_reported: false,
            last_audio_len: None,
            decoded: Vec::new(),
            early: VecDeque::new(),
            rng,
            cname,
            clock_origin: None,
            next_rtcp: None,
            rtcp_latched: None,
            loss: (None, LossCounter::default()),
            last_sr: None,
            sent_at_report: 0,
        }
    }

    /// Sets the source and sink (builder style).
    ///
    /// # Errors
    /// [`MediaError::SampleRate`] if either is not at 8 kHz (G.711's clock).
    pub fn with_audio(
        mut self,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<Self, MediaError> {
        self.set_audio_source(source)?;
        self.set_audio_sink(sink)?;
        Ok(self)
    }

    /// What the last offer/answer exchange agreed, if any.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Where RTP is sent now (the SDP address, or the latched one).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Our SSRC (RFC 3550 §5.1).
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    fn sdp_ip(&self) -> IpAddr {
        self.cfg.sdp_address.unwrap_or(self.cfg.local_addr.ip())
    }

    fn sdp_local(&self) -> SocketAddr {
        SocketAddr::new(self.sdp_ip(), self.cfg.local_addr.port())
    }

    fn origin(&self) -> Origin {
        let ip = self.sdp_ip();
        Origin {
            username: "-".into(),
            session_id: self.session_id.to_string(),
            session_version: self.version.to_string(),
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
        }
    }

    /// Gives `sdp` the right `o=` version (RFC 3264 §8: +1 only when the SDP changed) and
    /// remembers it.
    fn finish_local(&mut self, mut sdp: SessionDescription) -> String {
        if self.last_local.as_ref().is_some_and(|last| *last != sdp) {
            self.version += 1;
            sdp.origin.session_version = self.version.to_string();
        }
        let text = sdp.to_string();
        self.last_local = Some(sdp);
        text
    }

    fn apply(&mut self, now: Instant, n: Negotiated) {
        let address_changed = self
            .negotiated
            .as_ref()
            .is_none_or(|old| old.remote_rtp != n.remote_rtp);
        if address_changed || !self.latched {
            self.remote = n.remote_rtp;
            self.latched = false;
        }
        if address_changed {
            self.rtcp_latched = None;
        }
        if !n.direction.sends() {
            self.talkspurt = true;
        }
        self.negotiated = Some(n);
        if self.started.is_none() {
            self.started = Some(now);
            self.next_tick = Some(now);
            // RFC 3550 §6.2: the first report after half the interval.
            self.next_rtcp = Some(now + self.rtcp_delay() / 2);
            self.out.push_back(MediaOutput::Event(MediaEvent::Started));
        }
    }

    /// The next report interval: [`RtpConfig::rtcp_interval`] times a random factor in
    /// 0.5..1.5 (RFC 3550 §6.3.5, without the e - 3/2 compensation so the mean is the
    /// configured interval).
    fn rtcp_delay(&mut self) -> Duration {
        let unit = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.cfg.rtcp_interval.mul_f64(0.5 + unit)
    }

    /// Records the first instant given, the one [`RtpConfig::ntp_base`] stands for.
    fn touch(&mut self, now: Instant) {
        self.clock_origin.get_or_insert(now);
    }

    /// Our NTP clock at `now` (RFC 3550 §4).
    fn ntp_at(&self, now: Instant) -> u64 {
        let since = self
            .clock_origin
            .map_or(Duration::ZERO, |o| now.saturating_duration_since(o));
        let wall = self
            .cfg
            .ntp_base
            .checked_add(since)
            .unwrap_or(self.cfg.ntp_base);
        rtcp::ntp_timestamp(wall)
    }

    /// Adds `a=rtcp` (RFC 3605 §2.1) to our audio m-line when our RTCP socket is not at the
    /// RTP port + 1.
    fn add_rtcp_attribute(&self, sdp: &mut SessionDescription, mline: usize) {
        let Some(rtcp_addr) = self.cfg.rtcp_addr else {
            return;
        };
        if Some(rtcp_addr.port()) == self.cfg.local_addr.port().checked_add(1) {
            return;
        }
        if let Some(m) = sdp.media.get_mut(mline).filter(|m| m.port != 0) {
            m.attributes
                .push(Attribute::value("rtcp", rtcp_addr.port().to_string()));
        }
    }

    /// Where our RTCP goes and which socket it leaves from (module docs).
    fn rtcp_route(&self) -> Option<(SocketAddr, SocketAddr)> {
        let n = self.negotiated.as_ref()?;
        if n.rtcp_mux {
            return Some((self.cfg.local_addr, self.remote?));
        }
        let to = self.rtcp_latched.or(n.remote_rtcp)?;
        Some((self.cfg.rtcp_addr.unwrap_or(self.cfg.local_addr), to))
    }

    /// Sends one compound report (RFC 3550 §6.4): SR if we sent RTP since the last one,
    /// else RR, with a block about the peer's SSRC if we have heard it.
    fn send_report(&mut self, now: Instant) {
        let Some((source, destination)) = self.rtcp_route() else {
            return;
        };
        let sender = (self.stats.packets_sent > self.sent_at_report).then(|| {
            // The RTP timestamp of `now`: the next frame's, less the time until it.
            let until = self
                .next_tick
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            let back = (until.as_micros() * u128::from(CLOCK_RATE) / 1_000_000) as u32;
            SenderInfo {
                ntp_timestamp: self.ntp_at(now),
                rtp_timestamp: self.timestamp.wrapping_sub(back),
                packet_count: self.stats.packets_sent as u32,
                octet_count: self.stats.bytes_sent as u32,
            }
        });
        self.sent_at_report = self.stats.packets_sent;
        let mut blocks = Vec::new();
        if let Some(ssrc) = self.seq_state.ssrc {
            if self.loss.0 != Some(ssrc) {
                self.loss = (Some(ssrc), LossCounter::default());
            }
            let s = &self.seq_state;
            let (cumulative_lost, fraction_lost) = self.loss.1.report(s.base, s.max, s.received);
            let (last_sr, delay_since_last_sr) = match self.last_sr {
                Some((from, middle, at)) if from == ssrc => (
                    middle,
                    rtcp::to_short_ntp(now.saturating_duration_since(at)),
                ),
                _ => (0, 0),
            };
            blocks.push(ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                highest_sequence: s.max as u32,
                jitter: s.jitter as u32,
                last_sr,
                delay_since_last_sr,
            });
        }
        let report = Report {
            ssrc: self.ssrc,
            sender,
            blocks,
        };
        let mut contents = Vec::with_capacity(100);
        if rtcp::write_report(&report, &self.cname, &mut contents).is_err() {
            return; // Our CNAME is always short.
        }
        self.stats.rtcp_sent += 1;
        self.out.push_back(MediaOutput::Transmit(Transmit {
            source,
            destination,
            contents,
        }));
    }

    /// Reads a compound RTCP packet from the peer (RFC 3550 §6.4).
    fn on_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Ok(packets) = rtcp::parse_compound(data) else {
            self.stats.packets_invalid += 1;
            return;
        };
        self.stats.rtcp_received += 1;
        let mut from_peer = false;
        for p in packets {
            let RtcpPacket::Report(r) = p else { continue };
            if r.ssrc == self.ssrc {
                continue; // Our own, looped back.
            }
            from_peer = true;
            if let Some(s) = r.sender {
                self.last_sr = Some((r.ssrc, rtcp::ntp_middle(s.ntp_timestamp), now));
            }
            for b in r.blocks.iter().filter(|b| b.ssrc == self.ssrc) {
                let arrival = rtcp::ntp_middle(self.ntp_at(now));
                if let Some(rtt) = rtcp::round_trip(arrival, b) {
                    self.stats.rtt = Some(rtt);
                }
                self.stats.remote_fraction_lost = Some(f32::from(b.fraction_lost) / 256.0);
                self.stats.remote_packets_lost = Some(i64::from(b.cumulative_lost));
                self.stats.remote_jitter = Some(Duration::from_secs_f64(
                    f64::from(b.jitter) / f64::from(CLOCK_RATE),
                ));
            }
        }
        let muxed = self.negotiated.as_ref().is_some_and(|n| n.rtcp_mux);
        if from_peer && self.cfg.symmetric_rtp && !muxed && self.rtcp_latched.is_none() {
            self.rtcp_latched = Some(from);
        }
    }

    fn samples_per_frame(&self) -> usize {
        let ptime = self
            .negotiated
            .as_ref()
            .map_or(self.cfg.audio.ptime, |n| n.ptime);
        (CLOCK_RATE / 1000 * ptime) as usize
    }

    fn ptime(&self) -> Duration {
        Duration::from_millis(u64::from(
            self.negotiated
                .as_ref()
                .map_or(self.cfg.audio.ptime, |n| n.ptime),
        ))
    }

    fn can_send(&self) -> Option<SocketAddr> {
        self.negotiated
            .as_ref()
            .filter(|n| n.direction.sends())
            .and(self.remote)
    }

    fn send_rtp(
        &mut self,
        to: SocketAddr,
        marker: bool,
        payload_type: u8,
        timestamp: u32,
        payload: &[u8],
    ) {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        let mut contents = Vec::with_capacity(12 + payload.len());
        header.write_to(&mut contents);
        contents.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        self.out.push_back(MediaOutput::Transmit(Transmit {
            source: self.cfg.local_addr,
            destination: to,
            contents,
        }));
    }

    /// One packet time: pull a frame, then send audio or start a queued DTMF event.
    fn tick(&mut self, at: Instant) {
        let samples = self.samples_per_frame();
        self.frame.resize(samples, 0);
        let n = self.source.read(&mut self.frame);
        self.frame[n.min(samples)..].fill(0);
        if n == 0 && !self.source_ended {
            self.source_ended = true;
            self.out
                .push_back(MediaOutput::Event(MediaEvent::SourceEnded));
        }
        let ts = self.timestamp;
        self.timestamp = ts.wrapping_add(samples as u32);

        let Some(to) = self.can_send() else {
            self.talkspurt = true;
            return;
        };
        if self.dtmf.is_none()
            && let Some((tone, total)) = self.dtmf_queue.pop_front()
        {
            self.dtmf = Some(DtmfSend {
                tone,
                timestamp: ts,
                start: at,
                total,
                next_at: at,
                sent: 0,
                ends_sent: 0,
            });
        }
        if self.dtmf.is_some() {
            return; // RFC 4733 §2.5.1.1: the event replaces the audio for its duration.
        }
        let Some(n) = self.negotiated.as_ref() else {
            return;
        };
        let (codec, pt) = (n.codec, n.payload_type);
        if self.muted {
            match self.cfg.mute_mode {
                MuteMode::Nothing => {
                    self.talkspurt = true;
                    return;
                }
                MuteMode::Silence => self.frame.fill(0),
            }
        }
        let mut payload = Vec::with_capacity(samples);
        match codec {
            Codec::Pcmu => g711::encode_ulaw(&self.frame, &mut payload),
            Codec::Pcma => g711::encode_alaw(&self.frame, &mut payload),
        }
        let marker = std::mem::replace(&mut self.talkspurt, false);
        self.send_rtp(to, marker, pt, ts, &payload);
    }

    /// Sends the DTMF packets due at `now` (RFC 4733 §2.5.1).
    fn dtmf_due(&mut self, now: Instant) {
        while let Some(d) = self.dtmf.clone() {
            if d.next_at > now {
                return;
            }
            let (Some(to), Some(pt)) = (
                self.can_send(),
                self.negotiated.as_ref().and_then(|n| n.telephone_event),
            ) else {
                self.dtmf = None;
                return;
            };
            let elapsed = d.next_at.saturating_duration_since(d.start);
            let total = Duration::from_secs_f64(f64::from(d.total) / f64::from(CLOCK_RATE));
            let ending = elapsed >= total;
            let duration = if ending {
                d.total
            } else {
                let covered = (d.sent + 1) * (CLOCK_RATE / 20); // through the end of this 50 ms step
                covered.min(u32::from(d.total)) as u16
            };
            let mut payload = Vec::with_capacity(4);
            EventPayload {
                event: d.tone.event_code(),
                end: ending,
                volume: 10,
                duration,
            }
            .write_to(&mut payload);
            self.send_rtp(to, d.sent == 0, pt, d.timestamp, &payload);
            let mut next = d.clone();
            next.sent += 1;
            if ending {
                next.ends_sent += 1;
                next.next_at += DTMF_END_SPACING;
            } else {
                next.next_at = (d.next_at + DTMF_UPDATE).min(d.start + total);
            }
            if next.ends_sent >= 3 {
                self.dtmf = None;
                self.talkspurt = true;
                self.stats.dtmf_sent += 1;
            } else {
                self.dtmf = Some(next);
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let ptime = self.ptime();
        while let Some(next) = self.next_tick.filter(|t| *t <= now) {
            let behind = now.saturating_duration_since(next);
            if behind > MAX_CATCH_UP {
                // Skip the frames we are late for; the timestamp still advances.
                let skip = (behind.as_micros() / ptime.as_micros().max(1)) as u32;
                self.timestamp = self
                    .timestamp
                    .wrapping_add(skip * self.samples_per_frame() as u32);
                self.next_tick = Some(next + ptime * skip);
                self.talkspurt = true;
                continue;
            }
            self.tick(next);
            self.dtmf_due(next);
            self.next_tick = Some(next + ptime);
        }
        self.dtmf_due(now);
        self.release(now);
        self.check_rx_timeout(now);
        if self.next_rtcp.is_some_and(|t| t <= now) {
            self.send_report(now);
            self.next_rtcp = Some(now + self.rtcp_delay());
        }
    }

    fn rx_deadline(&self) -> Option<Instant> {
        let t = self.cfg.rtp_timeout?;
        let n = self.negotiated.as_ref()?;
        if self.timeout_reported || !n.direction.receives() {
            return None;
        }
        Some(self.last_rx.or(self.started)? + t)
    }

    fn check_rx_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.rx_deadline().filter(|d| *d <= now) {
            let since = self.last_rx.or(self.started).unwrap_or(deadline);
            self.timeout_reported = true;
            self.remote_active = false;
            self.out.push_back(MediaOutput::Event(MediaEvent::Timeout {
                silent_for: now.saturating_duration_since(since),
            }));
        }
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if is_rtcp(data) {
            // RFC 5761 §4: RTCP on the RTP port (muxed), or from the RTCP socket.
            self.on_rtcp(now, from, data);
            return;
        }
        let Ok((header, payload)) = RtpHeader::parse(data) else {
            self.stats.packets_invalid += 1;
            return;
        };
        let Some(n) = self.negotiated.as_ref() else {
            self.keep_early(from, header.payload_type, data);
            return;
        };
        // Symmetric RTP (RFC 4961): once latched, the stream is the latched source's; a
        // stranger's packets are not played (and cannot take the stream over).
        if self.cfg.symmetric_rtp && self.latched && self.remote != Some(from) {
            self.stats.packets_invalid += 1;
            return;
        }
        let pt = header.payload_type;
        let held = if Some(pt) == n.telephone_event {
            match EventPayload::parse(payload) {
                Some(ev) => Held::Event {
                    timestamp: header.timestamp,
                    payload: ev,
                },
                None => {
                    self.stats.packets_invalid += 1;
                    return;
                }
            }
        } else if pt == n.payload_type {
            Held::Audio {
                codec: n.codec,
                payload: payload.to_vec(),
            }
        } else if pt == 0 || pt == 8 {
            // The peer may switch between the static G.711 types it was offered.
            let codec = if pt == 0 { Codec::Pcmu } else { Codec::Pcma };
            Held::Audio {
                codec,
                payload: payload.to_vec(),
            }
        } else if pt == 13 {
            Held::Other // Comfort noise (RFC 3389): keeps the sequence, plays nothing.
        } else {
            self.stats.packets_invalid += 1;
            return;
        };

        if self.seq_state.ssrc.is_some_and(|s| s != header.ssrc) {
            self.jitter.reset();
        }
        let Some((ext, reordered)) = self.seq_state.update(header.ssrc, header.sequence) else {
            self.stats.packets_duplicate += 1;
            return;
        };
        if self.cfg.symmetric_rtp && !self.latched {
            self.latched = true;
            if self.remote != Some(from) {
                self.remote = Some(from);
                self.out
                    .push_back(MediaOutput::Event(MediaEvent::RemoteAddressLatched {
                        address: from,
                    }));
            }
        }
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload.len() as u64;
        self.stats.packets_reordered += u64::from(reordered);
        self.last_rx = Some(now);
        self.timeout_reported = false;
        if !self.remote_active {
            self.remote_active = true;
            self.out
                .push_back(MediaOutput::Event(MediaEvent::RemoteActive));
        }
        if matches!(held, Held::Audio { .. }) {
            self.update_jitter(now, header.timestamp);
        }
        if !self.jitter.insert(ext, now, held) {
            self.stats.packets_late += 1;
        }
        self.release(now);
    }

    /// Keeps an RTP packet that came before the answer to our first offer, if its payload
    /// type is one we offered (RFC 3264 §5.1); anything else is invalid as before.
    fn keep_early(&mut self, from: SocketAddr, pt: u8, data: &[u8]) {
        let offered = self.pending_offer.as_ref().is_some_and(|(offer, mline)| {
            offer
                .media
                .get(*mline)
                .is_some_and(|m| m.payload_types().any(|p| p == pt))
        });
        if !offered || data.len() > EARLY_MAX_LEN {
            self.stats.packets_invalid += 1;
            return;
        }
        if self.early.len() == EARLY_MAX_PACKETS {
            self.early.pop_front();
            self.stats.packets_late += 1;
        }
        self.early.push_back((from, data.to_vec()));
    }

    /// Plays the packets kept by [`Self::keep_early`] now that the answer is applied. Those
    /// from the answer's address come first and alone when there are any (a stranger
    /// cannot latch before the peer); otherwise, behind a NAT, those of the first source
    /// seen, which symmetric RTP latches to as it would have on arrival. The others are
    /// invalid.
    fn replay_early(&mut self, now: Instant) {
        if self.early.is_empty() {
            return;
        }
        let early = std::mem::take(&mut self.early);
        let sdp_addr = self.negotiated.as_ref().and_then(|n| n.remote_rtp);
        let chosen = sdp_addr
            .filter(|a| early.iter().any(|(from, _)| from == a))
            .or_else(|| early.front().map(|(from, _)| *from));
        for (from, data) in early {
            if Some(from) == chosen {
                self.on_datagram(now, from, &data);
            } else {
                self.stats.packets_invalid += 1;
            }
        }
    }

    /// RFC 3550 A.8 interarrival jitter, in timestamp units.
    fn update_jitter(&mut self, now: Instant, timestamp: u32) {
        let Some(epoch) = self.started else { return };
        let arrival = now.saturating_duration_since(epoch).as_micros() as i64
            * i64::from(CLOCK_RATE)
            / 1_000_000;
        let transit = arrival.wrapping_sub(i64::from(timestamp)) as i32 as i64;
        let s = &mut self.seq_state;
        if let Some(last) = s.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            s.jitter += (d - s.jitter) / 16.0;
        }
        s.last_transit = Some(transit);
    }

    fn release(&mut self, now: Instant) {
        while let Some(r) = self
            .jitter
            .pop(now, self.cfg.jitter_depth, self.cfg.jitter_max_wait)
        {
            match r {
                Release::Packet(Held::Audio { codec, payload }) => {
                    match codec {
                        Codec::Pcmu => g711::decode_ulaw(&payload, &mut self.decoded),
                        Codec::Pcma => g711::decode_alaw(&payload, &mut self.decoded),
                    }
                    self.last_audio_len = Some(self.decoded.len());
                    self.stats.remote_level_dbov = Some(level_dbov(&self.decoded));
                    self.sink.write(&self.decoded);
                }
                Release::Packet(Held::Event { timestamp, payload }) => {
                    self.last_audio_len = None;
                    for (event, dur) in self.dtmf_rx.handle(timestamp, payload) {
                        if let Some(tone) = DtmfTone::from_event_code(event) {
                            self.stats.dtmf_received += 1;
                            let duration =
                                Duration::from_secs_f64(f64::from(dur) / f64::from(CLOCK_RATE));
                            self.out
                                .push_back(MediaOutput::Event(MediaEvent::DtmfReceived {
                                    tone,
                                    duration,
                                }));
                        }
                    }
                }
                Release::Packet(Held::Other) => self.last_audio_len = None,
                Release::Gap(lost) => {
                    // Conceal lost audio with silence so the recording keeps its timeline.
                    if let Some(len) = self.last_audio_len {
                        self.decoded.clear();
                        self.decoded.resize(len * lost.min(50) as usize, 0);
                        self.sink.write(&self.decoded);
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.next_tick,
            self.dtmf.as_ref().map(|d| d.next_at),
            self.jitter.deadline(self.cfg.jitter_max_wait),
            self.rx_deadline(),
            self.next_rtcp,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

fn level_dbov(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return -127.0;
    }
    let mean_sq = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / frame.len() as f64;
    if mean_sq <= 0.0 {
        -127.0
    } else {
        (10.0 * (mean_sq / (32768.0 * 32768.0)).log10()) as f32
    }
}

impl MediaSession for RtpMedia {
    fn create_offer(&mut self, now: Instant) -> Result<String, MediaError> {
        self.touch(now);
        let mut opts = self.cfg.audio.clone();
        if let Some(n) = &self.negotiated {
            // Keep the agreed telephone-event payload type (RFC 3264 §8.3.2).
            opts.telephone_event = opts
                .telephone_event
                .and(n.telephone_event.or(opts.telephone_event));
        }
        let mut offer =
            offer_answer::build_offer(self.origin(), self.sdp_local(), &opts, self.want_direction);
        self.add_rtcp_attribute(&mut offer, 0);
        let mut mline = 0;
        if let Some(prev) = &self.last_local {
            // A re-offer keeps the m-line count and order (RFC 3264 §8).
            let audio_index = self.negotiated.as_ref().map_or(0, |n| n.mline);
            if let Some(audio) = offer.media.pop() {
                let mut media: Vec<_> = prev.media.iter().map(offer_answer::rejected).collect();
                if audio_index < media.len() {
                    media[audio_index] = audio;
                    mline = audio_index;
                } else {
                    mline = media.len();
                    media.push(audio);
                }
                offer.media = media;
            }
        }
        self.pending_offer = Some((offer.clone(), mline));
        Ok(self.finish_local(offer))
    }

    fn accept_offer(&mut self, now: Instant, offer: &str) -> Result<String, MediaError> {
        if self.pending_offer.is_some() {
            return Err(MediaError::InvalidState(
                "an offer of ours is pending (glare, RFC 3264 §4)",
            ));
        }
        self.touch(now);
        let offer = SessionDescription::parse(offer)?;
        let mut opts = self.cfg.audio.clone();
        if let Some(n) = &self.negotiated {
            opts.codecs.sort_by_key(|c| *c != n.codec);
        }
        let (mut answer, n) = offer_answer::answer_offer(
            &offer,
            self.origin(),
            self.sdp_local(),
            &opts,
            self.want_direction,
        )?;
        self.add_rtcp_attribute(&mut answer, n.mline);
        let text = self.finish_local(answer);
        self.apply(now, n);
        self.on_timeout(now);
        Ok(text)
    }

    fn accept_answer(&mut self, now: Instant, answer: &str) -> Result<(), MediaError> {
        self.touch(now);
        let Some((offer, mline)) = &self.pending_offer else {
            return Err(MediaError::InvalidState("no offer pending"));
        };
        let answer = SessionDescription::parse(answer)?;
        let n = offer_answer::accept_answer(offer, &answer, *mline, &self.cfg.audio)?;
        self.pending_offer = None;
        self.apply(now, n);
        self.replay_early(now);
        self.on_timeout(now);
        Ok(())
    }

    fn cancel_offer(&mut self) {
        self.pending_offer = None;
        self.early.clear();
    }

    fn set_direction(&mut self, direction: Direction) {
        self.want_direction = direction;
    }

    fn set_muted(&mut self, kind: MediaKind, muted: bool) {
        if kind == MediaKind::Audio {
            self.muted = muted;
        }
    }

    fn send_dtmf(
        &mut self,
        now: Instant,
        tone: DtmfTone,
        duration: Duration,
    ) -> Result<(), MediaError> {
        if !(Duration::from_millis(40)..=Duration::from_secs(8)).contains(&duration) {
            return Err(MediaError::InvalidDuration(duration));
        }
        let ok = self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.telephone_event.is_some() && n.direction.sends());
        if !ok {
            return Err(MediaError::DtmfUnavailable);
        }
        self.touch(now);
        let samples = (duration.as_micros() * u128::from(CLOCK_RATE) / 1_000_000) as u16;
        self.dtmf_queue.push_back((tone, samples));
        self.on_timeout(now);
        Ok(())
    }

    fn set_audio_source(&mut self, source: Box<dyn AudioSource>) -> Result<(), MediaError> {
        check_rate(source.sample_rate())?;
        self.source = source;
        self.source_ended = false;
        Ok(())
    }

    fn set_audio_sink(&mut self, sink: Box<dyn AudioSink>) -> Result<(), MediaError> {
        check_rate(sink.sample_rate())?;
        self.sink = sink;
        Ok(())
    }

    fn handle_input(&mut self, now: Instant, input: MediaInput<'_>) {
        self.touch(now);
        if let MediaInput::Receive { source, contents } = input {
            self.on_datagram(now, source, contents);
        }
        self.on_timeout(now);
    }

    fn poll_output(&mut self) -> MediaOutput {
        self.out
            .pop_front()
            .unwrap_or_else(|| MediaOutput::Timeout(self.next_deadline()))
    }

    fn stats(&self) -> MediaStats {
        MediaStats {
            packets_lost: self.seq_state.lost(),
            jitter: Duration::from_secs_f64(self.seq_state.jitter / f64::from(CLOCK_RATE)),
            ..self.stats.clone()
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.cfg.local_addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_state_counts_loss_reorder_and_duplicates() {
        let mut s = SeqState::default();
        assert_eq!(s.update(1, 65534), Some((65534, false)));
        assert_eq!(s.update(1, 1), Some((65537, false))); // wrap, 65535 and 0 missing
        assert_eq!(s.lost(), 2);
        assert_eq!(s.update(1, 0), Some((65536, true)));
        assert_eq!(s.update(1, 0), None);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.update(2, 10), Some((10, false))); // new SSRC resets
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn jitter_buffer_reorders_and_skips_gaps() {
        let t0 = Instant::now();
        let w = Duration::from_millis(60);
        let mut jb = JitterBuffer::default();
        assert!(jb.insert(10, t0, Held::Other));
        assert!(matches!(jb.pop(t0, 3, w), Some(Release::Packet(_))));
        assert!(jb.insert(12, t0, Held::Other));
        assert!(jb.pop(t0, 3, w).is_none());
        assert!(jb.insert(11, t0, Held::Other));
        assert!(matches!(jb.pop(t0, 3, w), Some(Release::Packet(_))));
        assert!(matches!(jb.pop(t0, 3, w), Some(Release::Packet(_))));
        assert!(!jb.insert(11, t0, Held::Other), "late");
        assert!(jb.insert(15, t0, Held::Other));
        assert_eq!(jb.deadline(w), Some(t0 + w));
        assert!(jb.pop(t0, 3, w).is_none());
        assert!(matches!(jb.pop(t0 + w, 3, w), Some(Release::Gap(2))));
        assert!(matches!(jb.pop(t0 + w, 3, w), Some(Release::Packet(_))));
    }

    #[test]
    fn level_of_full_scale_and_silence() {
        assert!((level_dbov(&[32767, -32767]) - 0.0).abs() < 0.01);
        assert_eq!(level_dbov(&[0; 10]), -127.0);
    }
}
