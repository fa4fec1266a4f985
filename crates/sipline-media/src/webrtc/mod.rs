//! [`WebRtcMedia`]: one audio stream the way browsers speak it (RFC 8829 JSEP), built on the
//! sans-IO WebRTC stack [str0m](https://docs.rs/str0m), so SIP.js or JsSIP in a browser can
//! call us, and we them, with no media gateway.
//!
//! What str0m does: SDP offer/answer, ICE (RFC 8445; we are a full agent with one host
//! candidate per configured address), DTLS-SRTP (RFC 5764, RFC 8842 `a=setup`), BUNDLE
//! (RFC 8843) and rtcp-mux (RFC 5761) on one UDP socket, SRTP, RTP packetisation, RTCP
//! reports, RFC 4733 telephone-event packet series. What it does not do and we do here: the
//! audio itself. A 20 ms frame clock of our own pulls audio from the [`AudioSource`],
//! resamples it (`webrtc/resample.rs`), encodes it with the negotiated codec (Opus, RFC 7587,
//! in `webrtc/opus.rs` over opus-rs; or G.711 via [`crate::g711`]) and hands the frame to
//! str0m's media writer; received frames are decoded the same way into the [`AudioSink`].
//!
//! The runtime contract is that of [`MediaSession`]: feed datagrams and timeouts with
//! [`MediaSession::handle_input`], drain [`MediaSession::poll_output`]. str0m demands that
//! every mutation of its state be followed by draining its output before the next one; this
//! module does that internally after each call into str0m and queues what came out, so the
//! runtime may call our methods in any order.
//!
//! Two sessions back to back in memory, as a browser and we would be, in virtual time:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sipline_media::{
//!     tone_frequency, BufferSink, MediaEvent, MediaInput, MediaOutput, MediaSession, ToneSource,
//!     WebRtcConfig, WebRtcMedia,
//! };
//!
//! let sink_b = BufferSink::new(8000);
//! let heard_by_b = sink_b.handle();
//! let mut a = WebRtcMedia::new(WebRtcConfig::new("127.0.0.1:41000".parse()?, 1))
//!     .with_audio(
//!         Box::new(ToneSource::new(8000, 440.0, -10.0)),
//!         Box::new(BufferSink::new(8000)),
//!     )?;
//! let mut b = WebRtcMedia::new(WebRtcConfig::new("127.0.0.1:41002".parse()?, 2))
//!     .with_audio(Box::new(ToneSource::new(8000, 880.0, -10.0)), Box::new(sink_b))?;
//!
//! let start = Instant::now();
//! let offer = a.create_offer(start)?; // JSEP offer: ICE, DTLS fingerprint, BUNDLE, Opus...
//! let answer = b.accept_offer(start, &offer)?;
//! a.accept_answer(start, &answer)?;
//!
//! // The runtime's job: send what one side transmits to the other, wake it at its deadline.
//! fn pump(
//!     from: &mut WebRtcMedia,
//!     to: &mut WebRtcMedia,
//!     now: Instant,
//!     started: &mut bool,
//! ) -> Option<Instant> {
//!     loop {
//!         match from.poll_output() {
//!             MediaOutput::Transmit(t) => to.handle_input(
//!                 now,
//!                 MediaInput::Receive { source: t.source, contents: &t.contents },
//!             ),
//!             MediaOutput::Event(MediaEvent::Started) => *started = true, // ICE + DTLS up
//!             MediaOutput::Event(_) => {}
//!             MediaOutput::Timeout(deadline) => return deadline,
//!         }
//!     }
//! }
//!
//! let (mut now, mut started) = (start, false);
//! while now < start + Duration::from_secs(1) {
//!     let da = pump(&mut a, &mut b, now, &mut started);
//!     let db = pump(&mut b, &mut a, now, &mut started);
//!     now = [da, db].into_iter().flatten().min().unwrap_or(now).max(now);
//!     a.handle_input(now, MediaInput::Timeout);
//!     b.handle_input(now, MediaInput::Timeout);
//! }
//! assert!(started);
//! let f = tone_frequency(&heard_by_b.samples(), 8000).unwrap_or(0.0);
//! assert!((f - 440.0).abs() < 5.0, "B heard {f} Hz");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ICE restart (RFC 8445 §9): [`MediaSession::create_restart_offer`]; a peer's restart is
//! answered by str0m with new credentials. A server-reflexive candidate (RFC 8445 §5.1.1.2)
//! comes from [`WebRtcConfig::stun_server`] (`webrtc/stun.rs`; offers and answers wait for
//! it up to [`WebRtcConfig::gather_timeout`] when the runtime calls
//! [`MediaSession::gather`]).
//!
//! Trickle ICE (RFC 8838): a srflx candidate found after our SDP went out, and the end of
//! gathering, come as [`MediaEvent::LocalCandidates`] (an RFC 8840 §9 fragment for a SIP
//! INFO); [`MediaSession::add_remote_candidates`] takes the peer's.
//!
//! Video: encoded VP8 (RFC 7741) and H.264 (RFC 6184) frames are passed through with
//! [`WebRtcMedia::with_video`], RTCP feedback per RFC 4585 (`webrtc/video.rs`). Without it a
//! video m-line in an offer is answered rejected (port 0).
//!
//! Not done yet: TURN, RFC 2198 RED, Opus DTX, and a jitter buffer beyond str0m's
//! reordering.

pub mod crypto;
pub(crate) mod opus;
pub(crate) mod resample;
pub(crate) mod stun;
pub(crate) mod turn;
pub(crate) mod video;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec as StrCodec, FormatParams};
use str0m::media::{Direction as StrDirection, Frequency, MediaData, MediaKind as StrKind};
use str0m::media::{MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::audio::{AudioSink, AudioSource, NullSink, SilenceSource};
use crate::dtmf::{DtmfReceive, DtmfTone, EventPayload};
use crate::error::MediaError;
use crate::g711;
use crate::rtp_media::MuteMode;
use crate::sdp::{Direction, SessionDescription};
use crate::session::{
    MediaEvent, MediaInput, MediaKind, MediaOutput, MediaSession, MediaStats, Transmit,
};

use self::opus::{DtxGate, OpusDec, OpusEnc, OpusFmtp};
use self::resample::Resampler;
pub use self::turn::{TurnServer, TurnTransport, TurnUrl, TurnUrlError};
use self::video::VideoState;

/// The frame clock: one audio frame every 20 ms (the WebRTC default packet time).
const FRAME: Duration = Duration::from_millis(20);
/// How far behind the runtime may be before frames are skipped instead of sent in a burst.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// The longest gap concealed; longer ones (outages, the peer pausing) are left out.
const MAX_CONCEAL: Duration = Duration::from_millis(120);
/// Without an Opus packet for this long, the peer is in DTX (or the network lost a burst):
/// the sink gets concealment (comfort noise fading to silence) on our frame clock from then
/// on, so its timeline keeps pace instead of getting the gap in a burst later (RFC 7587
/// §3.1.3). Longer than str0m's default wait for a missing packet plus a frame of jitter.
const RX_FILL_AFTER: Duration = Duration::from_millis(80);
/// Payload type of Opus, as str0m and Chromium number it (RFC 7587 §7, dynamic).
const PT_OPUS: u8 = 111;
/// RFC 4733 end packets are repeated 3 times, 20 ms apart (str0m's schedule): audio resumes
/// after the last one.
const DTMF_TAIL: Duration = Duration::from_millis(40);
/// str0m wants telephone events at least 50 ms apart.
const DTMF_GAP: Duration = Duration::from_millis(60);
/// The longest DTMF event str0m sends.
const DTMF_MAX: Duration = Duration::from_secs(6);
/// Payload types of telephone-event, as Chromium numbers them (RFC 4733 §7.1.1, dynamic).
const PT_TELEPHONE_EVENT_48K: u8 = 110;
const PT_TELEPHONE_EVENT_8K: u8 = 126;

/// An audio codec [`WebRtcMedia`] can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebRtcCodec {
    /// Opus (RFC 6716) at the 48 kHz RTP clock, `opus/48000/2` with `minptime=10;
    /// useinbandfec=1` (and `usedtx=1` with [`WebRtcConfig::opus_dtx`]) (RFC 7587 §4.1,
    /// §6.1). Sent mono, with in-band FEC when the peer's fmtp has `useinbandfec=1`; a lost
    /// packet is rebuilt from the next one's FEC data.
    Opus,
    /// G.711 µ-law, static payload type 0 (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 §4.5.14).
    Pcma,
}

impl WebRtcCodec {
    fn matches(self, codec: StrCodec) -> bool {
        matches!(
            (self, codec),
            (WebRtcCodec::Opus, StrCodec::Opus)
                | (WebRtcCodec::Pcmu, StrCodec::PCMU)
                | (WebRtcCodec::Pcma, StrCodec::PCMA)
        )
    }

    fn of(codec: StrCodec) -> Option<Self> {
        [WebRtcCodec::Opus, WebRtcCodec::Pcmu, WebRtcCodec::Pcma]
            .into_iter()
            .find(|c| c.matches(codec))
    }

    /// The RTP clock rate (RFC 7587 §4.1: always 48 kHz for Opus).
    fn clock_rate(self) -> u32 {
        match self {
            WebRtcCodec::Opus => 48000,
            WebRtcCodec::Pcmu | WebRtcCodec::Pcma => 8000,
        }
    }
}

/// Configuration of a [`WebRtcMedia`].
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// The local address of the one UDP socket the runtime bound: ICE, DTLS, RTP and RTCP all
    /// go over it (BUNDLE, RFC 8843; rtcp-mux, RFC 5761). It is our ICE host candidate
    /// (RFC 8445 §5.1.1.1) unless it is a wildcard address (`0.0.0.0`, `::`), which cannot
    /// be a candidate: then [`WebRtcConfig::host_addrs`] must name the addresses.
    pub local_addr: SocketAddr,
    /// Further host candidates on the same socket (other interfaces, or the public address of
    /// a 1:1 NAT). With a wildcard `local_addr` they are the only candidates, and the first
    /// is taken as the address incoming datagrams were sent to.
    pub host_addrs: Vec<SocketAddr>,
    /// Seed of the initial RTP media time (RFC 3550 §5.1 wants it random). ICE credentials,
    /// the DTLS certificate and SSRCs are drawn by str0m from the system's random generator,
    /// as RFC 8445 §5.3 and RFC 5764 require; they are not derived from this.
    pub seed: u64,
    /// The audio codecs to offer or accept, in order of preference. Default: Opus, PCMU,
    /// PCMA. We send with the first of these the peer also accepts.
    pub codecs: Vec<WebRtcCodec>,
    /// Offer and accept RFC 4733 telephone-event, at 48 kHz (for Opus) and 8 kHz (for G.711).
    /// On by default.
    pub telephone_event: bool,
    /// What muting sends: [`MuteMode::Silence`] (default) encodes and sends silent frames at
    /// the normal pace; [`MuteMode::Nothing`] stops sending audio packets (str0m keeps ICE
    /// consent and RTCP going, so the call stays up).
    pub mute_mode: MuteMode,
    /// Opus target bitrate in bits per second. 32000 by default.
    pub opus_bitrate: u32,
    /// Opus DTX (RFC 7587 §3.1.3, §6.1): offer `usedtx=1` (the peer may stop sending while we
    /// hear silence) and, when the peer's fmtp has `usedtx=1` too, stop sending in silence
    /// ourselves: after 200 ms of silence one packet every 400 ms. Off by default.
    pub opus_dtx: bool,
    /// Report [`MediaEvent::Timeout`] after this long without media from the peer once media
    /// started; `None` never. 30 s by default.
    pub rtp_timeout: Option<Duration>,
    /// Packets str0m holds after a gap, waiting for the missing one, before it gives up and
    /// the gap is concealed (Opus packet loss concealment, silence for G.711). 3 by default,
    /// as [`crate::RtpConfig::jitter_depth`] (str0m's own default, 15, adds 300 ms of delay
    /// at each loss).
    pub jitter_depth: usize,
    /// How long a packet waits for a missing earlier one. 60 ms by default.
    pub jitter_max_wait: Duration,
    /// How often str0m reports statistics (RTT, loss, jitter) for [`MediaSession::stats`].
    /// 1 s by default.
    pub stats_interval: Duration,
    /// A STUN server (RFC 5389) to learn our server-reflexive address from, for a
    /// `typ srflx` candidate with `raddr`/`rport` of our host candidate (RFC 8445 §5.1.1.2,
    /// RFC 8839 §5.1): what a peer outside our NAT can reach. `None` (the default): host
    /// candidates only. See [`WebRtcConfig::gather_timeout`] for when it is in the SDP.
    pub stun_server: Option<SocketAddr>,
    /// How long an offer or answer waits for the STUN server's response
    /// ([`MediaSession::gather`]), counted from the first request: 300 ms by default. A
    /// response that comes later still adds the candidate to the connectivity checks, and
    /// comes as [`MediaEvent::LocalCandidates`] for trickle ICE (RFC 8840) since the SDP
    /// already sent lacks it. The request is retransmitted after
    /// 100, 200, 400 and 800 ms (a faster RFC 5389 §7.2.1 schedule) and given up 3.1 s after
    /// the first.
    pub gather_timeout: Duration,
    /// TURN servers (RFC 8656) to allocate a relayed address on, over UDP with long-term
    /// credentials (RFC 8489 §9.2): a `typ relay` candidate (RFC 8445 §5.1.1.2, RFC 8839
    /// §5.1) each, with `raddr`/`rport` of our host candidate, waited for as the STUN
    /// response is ([`WebRtcConfig::gather_timeout`]). Empty by default.
    pub turn_servers: Vec<TurnServer>,
    /// Only relayed candidates (JSEP's `iceTransportPolicy: "relay"`, RFC 8829 §4.1.1):
    /// no host or server-reflexive candidate is offered or checked, so all media goes
    /// through a TURN server. Off by default; without a TURN server nothing connects. An
    /// offer or answer then waits for the allocation up to 4 s (or `gather_timeout` if
    /// longer), not `gather_timeout`: without it the SDP would have no candidate.
    pub relay_only: bool,
}

impl WebRtcConfig {
    /// The defaults for a socket bound at `local_addr`.
    pub fn new(local_addr: SocketAddr, seed: u64) -> Self {
        Self {
            local_addr,
            host_addrs: Vec::new(),
            seed,
            codecs: vec![WebRtcCodec::Opus, WebRtcCodec::Pcmu, WebRtcCodec::Pcma],
            telephone_event: true,
            mute_mode: MuteMode::default(),
            opus_bitrate: 32000,
            opus_dtx: false,
            rtp_timeout: Some(Duration::from_secs(30)),
            stats_interval: Duration::from_secs(1),
            jitter_depth: 3,
            jitter_max_wait: Duration::from_millis(60),
            stun_server: None,
            gather_timeout: Duration::from_millis(300),
            turn_servers: Vec::new(),
            relay_only: false,
        }
    }

    /// Sets the codec preference list (builder style).
    pub fn with_codecs(mut self, codecs: &[WebRtcCodec]) -> Self {
        self.codecs = codecs.to_vec();
        self
    }

    /// The ICE host candidates: `local_addr` unless it is a wildcard, then `host_addrs`.
    fn candidates(&self) -> Vec<SocketAddr> {
        let mut v = Vec::new();
        if !self.local_addr.ip().is_unspecified() {
            v.push(self.local_addr);
        }
        for a in &self.host_addrs {
            if !v.contains(a) {
                v.push(*a);
            }
        }
        v
    }
}

/// The offer we are waiting an answer for.
enum Pending {
    /// A real str0m offer.
    Offer(SdpPendingOffer),
    /// A re-offer that changes nothing (str0m makes none): our previous SDP sent again.
    Unchanged,
}

/// What we send with.
#[derive(Debug, Clone, Copy)]
struct SendCodec {
    pt: Pt,
    codec: WebRtcCodec,
    /// A telephone-event payload type at the codec's clock rate was negotiated.
    dtmf: bool,
}

/// Encoder state for the negotiated codec and the source's rate.
#[derive(Debug)]
struct Encoder {
    codec: WebRtcCodec,
    source_rate: u32,
    opus: Option<OpusEnc>,
    resampler: Resampler,
}

/// WebRTC audio (`UDP/TLS/RTP/SAVPF`) over str0m: see the module docs.
///
/// - [`MediaEvent::Started`] means ICE connected and the DTLS-SRTP handshake finished (str0m's
///   `Event::Connected`): media can flow from then on. It is reported once.
/// - [`MediaEvent::RemoteActive`] comes with the first audio or telephone-event frame received
///   (and again after a [`MediaEvent::Timeout`]).
/// - Mute ([`MediaSession::set_muted`] with [`MediaKind::Audio`]) does what
///   [`WebRtcConfig::mute_mode`] says: silent encoded frames by default.
/// - [`MediaSession::set_direction`] applies to our next offer and to our answers (RFC 3264
///   §6.1, §8.4): on hold we stay on hold when the peer re-offers `sendrecv`.
/// - DTMF ([`MediaSession::send_dtmf`]) is RFC 4733 at the clock rate of the codec we send
///   with; tones are queued and sent one after the other, replacing the audio while they
///   last. Durations of 40 ms to 6 s (str0m's limit).
pub struct WebRtcMedia {
    cfg: WebRtcConfig,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,

    rtc: Option<Rtc>,
    /// An error that made us drop the str0m instance, reported by the next fallible call.
    fatal: Option<MediaError>,
    now: Option<Instant>,
    mid: Option<Mid>,
    pending: Option<Pending>,
    /// Negotiated at least once (an answer produced or accepted).
    negotiated: bool,
    last_local: Option<String>,
    want_direction: Direction,
    send: Option<SendCodec>,
    /// The direction the peer's last answer allows us, when it narrowed our offer.
    answer_limit: Option<Direction>,
    /// str0m's direction of our media before our pending offer changed it.
    direction_before_offer: Option<StrDirection>,
    /// The next offer restarts ICE ([`MediaSession::create_restart_offer`]).
    restart_ice: bool,
    /// Server-reflexive candidate gathering, with [`WebRtcConfig::stun_server`].
    stun: Option<stun::Gatherer>,
    /// Our srflx candidate's `candidate:` attribute value, for trickling it.
    srflx_line: Option<String>,
    /// Relayed candidate allocations, one per [`WebRtcConfig::turn_servers`] entry.
    relays: Vec<turn::Relay>,

    out: VecDeque<MediaOutput>,
    rtc_timeout: Option<Instant>,
    stats: MediaStats,

    // Sending.
    connected: bool,
    started: bool,
    next_frame: Option<Instant>,
    /// Media time in 48 kHz units (a multiple of both RTP clocks we use).
    media_time_48k: u64,
    talkspurt: bool,
    muted: bool,
    source_ended: bool,
    encoder: Option<Encoder>,
    frame: Vec<i16>,
    resampled: Vec<i16>,
    payload: Vec<u8>,
    dtmf_queue: VecDeque<(DtmfTone, Duration)>,
    /// Audio is replaced by the current event until then.
    dtmf_until: Option<Instant>,
    /// The next event may start at this instant.
    dtmf_next: Option<Instant>,
    /// The Opus fmtp of the peer's last offer or answer (RFC 7587 §6.1).
    peer_opus: OpusFmtp,
    /// Sender DTX, when [`WebRtcConfig::opus_dtx`] and the peer's `usedtx=1`.
    dtx: DtxGate,

    // Receiving.
    opus_dec: Option<OpusDec>,
    rx_resampler: Option<Resampler>,
    decoded: Vec<i16>,
    played: Vec<i16>,
    dtmf_rx: DtmfReceive,
    remote_active: bool,
    last_rx: Option<Instant>,
    timeout_reported: bool,
    started_at: Option<Instant>,
    /// The first offer/answer exchange completed then.
    negotiated_at: Option<Instant>,
    /// Extended sequence numbers seen: (first, highest) for the loss count.
    rx_seq: Option<(u64, u64)>,
    rx_clock: u32,
    /// The media time the next audio frame should have, and its clock: a later one after a
    /// sequence gap means loss, concealed to keep the sink's timeline.
    rx_expect: Option<(u64, u32)>,
    /// Frames of concealment written since the last Opus packet ([`RX_FILL_AFTER`]).
    rx_filled: u32,

    /// Video passthrough, when configured (`webrtc/video.rs`).
    video: Option<VideoState>,
}

impl std::fmt::Debug for WebRtcMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcMedia")
            .field("local_addr", &self.cfg.local_addr)
            .field("mid", &self.mid)
            .field("send", &self.send)
            .field("connected", &self.connected)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn rtc_error(context: &'static str, e: impl std::fmt::Display) -> MediaError {
    MediaError::WebRtc {
        context,
        detail: e.to_string(),
    }
}

fn to_str0m(d: Direction) -> StrDirection {
    match d {
        Direction::SendRecv => StrDirection::SendRecv,
        Direction::SendOnly => StrDirection::SendOnly,
        Direction::RecvOnly => StrDirection::RecvOnly,
        Direction::Inactive => StrDirection::Inactive,
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

/// SplitMix64 finaliser, for the seeded initial media time.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl WebRtcMedia {
    /// A session that sends silence and drops what it receives until a source and sink are
    /// set. Nothing happens (no clock read, no key generated) until the first call that
    /// passes an instant.
    pub fn new(cfg: WebRtcConfig) -> Self {
        // A random initial RTP timestamp (RFC 3550 §5.1), in whole 20 ms frames.
        let media_time_48k = (mix(cfg.seed) & 0x3FFF_FFFF) / 960 * 960;
        let stun = cfg
            .stun_server
            .filter(|_| !cfg.relay_only)
            .map(|server| stun::Gatherer::new(server, stun::new_tid(cfg.seed)));
        let relays = cfg
            .turn_servers
            .iter()
            .map(|t| turn::Relay::new(t, cfg.local_addr))
            .collect();
        Self {
            cfg,
            source: Box::new(SilenceSource::new(8000)),
            sink: Box::new(NullSink::new(8000)),
            rtc: None,
            fatal: None,
            now: None,
            mid: None,
            pending: None,
            negotiated: false,
            last_local: None,
            want_direction: Direction::SendRecv,
            send: None,
            answer_limit: None,
            direction_before_offer: None,
            restart_ice: false,
            stun,
            srflx_line: None,
            relays,
            out: VecDeque::new(),
            rtc_timeout: None,
            stats: MediaStats::default(),
            connected: false,
            started: false,
            next_frame: None,
            media_time_48k,
            talkspurt: true,
            muted: false,
            source_ended: false,
            encoder: None,
            frame: Vec::new(),
            resampled: Vec::new(),
            payload: Vec::new(),
            dtmf_queue: VecDeque::new(),
            dtmf_until: None,
            dtmf_next: None,
            peer_opus: OpusFmtp::default(),
            dtx: DtxGate::default(),
            opus_dec: None,
            rx_resampler: None,
            decoded: Vec::new(),
            played: Vec::new(),
            dtmf_rx: DtmfReceive::default(),
            remote_active: false,
            last_rx: None,
            timeout_reported: false,
            started_at: None,
            negotiated_at: None,
            rx_seq: None,
            rx_clock: 48000,
            rx_expect: None,
            rx_filled: 0,
            video: None,
        }
    }

    /// Sets the source and sink (builder style). Any sample rate works: audio is resampled
    /// to and from the codec's rate.
    ///
    /// # Errors
    /// None today; the `Result` mirrors [`crate::RtpMedia::with_audio`].
    pub fn with_audio(
        mut self,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<Self, MediaError> {
        self.set_audio_source(source)?;
        self.set_audio_sink(sink)?;
        Ok(self)
    }

    /// The codec we send with, once negotiated.
    pub fn send_codec(&self) -> Option<WebRtcCodec> {
        self.send.map(|s| s.codec)
    }

    /// The direction of our audio stream as last negotiated (from our side), if any.
    pub fn direction(&self) -> Option<Direction> {
        let m = self.rtc.as_ref()?.media(self.mid?)?;
        if m.disabled() {
            return Some(Direction::Inactive);
        }
        let local = match m.direction() {
            StrDirection::SendRecv => Direction::SendRecv,
            StrDirection::SendOnly => Direction::SendOnly,
            StrDirection::RecvOnly => Direction::RecvOnly,
            StrDirection::Inactive => Direction::Inactive,
        };
        // str0m keeps the direction we offered even when the answer narrows it (a peer that
        // puts us on hold in its answer): apply the answer ourselves (RFC 3264 §6.1).
        Some(self.answer_limit.map_or(local, |l| local.intersect(l)))
    }

    /// Whether ICE and DTLS have connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The str0m instance, built at the first instant we are given.
    fn rtc_at(&mut self, now: Instant) -> Result<&mut Rtc, MediaError> {
        self.now = Some(self.now.map_or(now, |t| t.max(now)));
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if self.rtc.is_none() {
            let rtc = self.build_rtc(now)?;
            self.rtc = Some(rtc);
            self.drain();
        }
        self.rtc
            .as_mut()
            .ok_or(MediaError::InvalidState("the WebRTC session is closed"))
    }

    fn build_rtc(&self, now: Instant) -> Result<Rtc, MediaError> {
        let candidates = self.cfg.candidates();
        if candidates.is_empty() && !self.cfg.relay_only {
            return Err(rtc_error(
                "host candidate",
                format!(
                    "{} is a wildcard address and no host_addrs are configured",
                    self.cfg.local_addr
                ),
            ));
        }
        if self.cfg.codecs.is_empty() {
            return Err(MediaError::InvalidState("WebRtcConfig::codecs is empty"));
        }
        let mut b = RtcConfig::new().clear_codecs();
        for c in &self.cfg.codecs {
            b = match c {
                WebRtcCodec::Opus => {
                    // str0m's enable_opus, plus usedtx when asked (RFC 7587 §6.1).
                    let format = FormatParams {
                        min_p_time: Some(10),
                        use_inband_fec: Some(true),
                        use_dtx: self.cfg.opus_dtx.then_some(true),
                        ..Default::default()
                    };
                    let mut b = b;
                    b.codec_config().add_config(
                        PT_OPUS.into(),
                        None,
                        StrCodec::Opus,
                        Frequency::FORTY_EIGHT_KHZ,
                        Some(2),
                        format,
                    );
                    b
                }
                WebRtcCodec::Pcmu => b.enable_pcmu(true, false),
                WebRtcCodec::Pcma => b.enable_pcma(true, false),
            };
        }
        if self.cfg.telephone_event {
            let format = FormatParams {
                telephone_event_max: Some(15),
                ..Default::default()
            };
            let cc = b.codec_config();
            if self.cfg.codecs.contains(&WebRtcCodec::Opus) {
                cc.add_config(
                    PT_TELEPHONE_EVENT_48K.into(),
                    None,
                    StrCodec::Tele,
                    Frequency::FORTY_EIGHT_KHZ,
                    None,
                    format,
                );
            }
            if self.cfg.codecs.iter().any(|c| *c != WebRtcCodec::Opus) {
                cc.add_config(
                    PT_TELEPHONE_EVENT_8K.into(),
                    None,
                    StrCodec::Tele,
                    Frequency::EIGHT_KHZ,
                    None,
                    format,
                );
            }
        }
        if self.video.is_some() {
            b = video::configure(b);
        }
        let b = b
            .set_stats_interval(Some(self.cfg.stats_interval))
            .set_reordering_size_audio(self.cfg.jitter_depth)
            .set_reordering_timeout_audio(Some(self.cfg.jitter_max_wait))
            .set_crypto_provider(crypto::provider());
        let mut rtc = b.build(now);
        for addr in candidates.into_iter().filter(|_| !self.cfg.relay_only) {
            let c = Candidate::host(addr, "udp").map_err(|e| rtc_error("host candidate", e))?;
            rtc.add_local_candidate(c);
        }
        self.add_found_candidate(&mut rtc);
        self.add_relay_candidates(&mut rtc);
        Ok(rtc)
    }

    /// Drains str0m's output after a mutation (its single-mutation invariant) into our queue.
    fn drain(&mut self) {
        let mut events = Vec::new();
        let mut failed = None;
        if let Some(rtc) = self.rtc.as_mut() {
            loop {
                match rtc.poll_output() {
                    Ok(Output::Timeout(t)) => {
                        self.rtc_timeout = Some(t);
                        break;
                    }
                    Ok(Output::Transmit(t))
                        if self.relays.iter().any(|r| r.relayed == Some(t.source)) =>
                    {
                        // From our relayed candidate: through its TURN server.
                        let relay = self.relays.iter_mut().find(|r| r.relayed == Some(t.source));
                        if let (Some(r), Some(now)) = (relay, self.now) {
                            r.send(now, t.destination, &t.contents);
                        }
                    }
                    Ok(Output::Transmit(t)) => {
                        self.out.push_back(MediaOutput::Transmit(Transmit {
                            source: self.cfg.local_addr,
                            destination: t.destination,
                            contents: t.contents.into(),
                        }));
                    }
                    Ok(Output::Event(e)) => events.push(e),
                    Err(e) => {
                        failed = Some(rtc_error("engine", e));
                        break;
                    }
                }
            }
            if !rtc.is_alive() {
                self.rtc_timeout = None;
                self.next_frame = None;
                self.connected = false;
            }
        }
        self.flush_turn();
        for e in events {
            self.on_event(e);
        }
        if let Some(e) = failed {
            self.fail(e);
        }
    }

    /// str0m failed for good (a DTLS or SRTP error, say): drop it. Later fallible calls
    /// return the error; [`MediaEvent::Timeout`] tells the runtime once `rtp_timeout`
    /// has passed without media.
    fn fail(&mut self, e: MediaError) {
        self.fatal = Some(e);
        self.rtc = None;
        self.rtc_timeout = None;
        self.next_frame = None;
        self.connected = false;
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                if !self.started {
                    self.started = true;
                    let now = self.now;
                    self.started_at = now;
                    self.next_frame = now;
                    self.out.push_back(MediaOutput::Event(MediaEvent::Started));
                }
            }
            Event::MediaAdded(m) if m.kind == StrKind::Audio && self.mid.is_none() => {
                self.mid = Some(m.mid);
            }
            Event::MediaAdded(m)
                if m.kind == StrKind::Video
                    && let Some(v) = self.video.as_mut()
                    && v.mid.is_none() =>
            {
                v.mid = Some(m.mid);
            }
            Event::MediaData(d) if self.video.as_ref().is_some_and(|v| v.mid == Some(d.mid)) => {
                self.on_video_data(d);
            }
            Event::KeyframeRequest(r) => self.on_keyframe_request(r),
            Event::MediaData(d) => self.on_media(d),
            Event::MediaEgressStats(s) if Some(s.mid) == self.mid => {
                if s.rtt.is_some() {
                    self.stats.rtt = s.rtt;
                }
                if s.loss.is_some() {
                    self.stats.remote_fraction_lost = s.loss;
                }
                if let Some(r) = s.remote {
                    self.stats.remote_packets_lost = Some(r.packets_lost as i64);
                    let clock = self.send.map_or(48000, |c| c.codec.clock_rate());
                    self.stats.remote_jitter = Some(Duration::from_secs_f64(
                        f64::from(r.jitter) / f64::from(clock),
                    ));
                }
            }
            Event::MediaIngressStats(s) if Some(s.mid) == self.mid => {
                self.stats.jitter =
                    Duration::from_secs_f64(f64::from(s.jitter) / f64::from(self.rx_clock.max(1)));
                if self.stats.rtt.is_none() {
                    self.stats.rtt = s.rtt;
                }
            }
            Event::PeerStats(s) => {
                if let Some(rtt) = s.rtt {
                    self.stats.rtt = Some(rtt);
                }
            }
            _ => {}
        }
    }

    fn on_media(&mut self, d: MediaData) {
        if Some(d.mid) != self.mid {
            return;
        }
        let now = self.now.unwrap_or(d.network_time);
        let first = *d.seq_range.start();
        let last = *d.seq_range.end();
        self.stats.packets_received += (*last).saturating_sub(*first) + 1;
        self.stats.bytes_received += d.data.len() as u64;
        self.rx_seq = Some(match self.rx_seq {
            None => (*first, *last),
            Some((lo, hi)) => (lo.min(*first), hi.max(*last)),
        });
        self.last_rx = Some(now);
        self.timeout_reported = false;
        if !self.remote_active {
            self.remote_active = true;
            self.out
                .push_back(MediaOutput::Event(MediaEvent::RemoteActive));
        }
        let spec = d.params.spec();
        let clock = spec.clock_rate.get();
        if spec.codec == StrCodec::Tele {
            let Some(ev) = EventPayload::parse(&d.data) else {
                self.stats.packets_invalid += 1;
                return;
            };
            for (event, units) in self.dtmf_rx.handle(d.time.numer() as u32, ev) {
                if let Some(tone) = DtmfTone::from_event_code(event) {
                    self.stats.dtmf_received += 1;
                    let duration =
                        Duration::from_secs_f64(f64::from(units) / f64::from(clock.max(1)));
                    self.out
                        .push_back(MediaOutput::Event(MediaEvent::DtmfReceived {
                            tone,
                            duration,
                        }));
                }
            }
            return;
        }
        let Some(codec) = WebRtcCodec::of(spec.codec) else {
            return; // Comfort noise and the like: nothing to play.
        };
        self.rx_clock = clock;
        let sink_rate = self.sink.sample_rate();
        let decoded_rate = match codec {
            WebRtcCodec::Opus => opus::codec_rate_for(sink_rate),
            WebRtcCodec::Pcmu | WebRtcCodec::Pcma => 8000,
        };
        if codec == WebRtcCodec::Opus
            && self
                .opus_dec
                .as_ref()
                .is_none_or(|d| d.rate() != decoded_rate)
        {
            match OpusDec::new(decoded_rate) {
                Ok(dec) => self.opus_dec = Some(dec),
                Err(_) => return,
            }
        }
        let time = d.time.numer();
        self.decoded.clear();
        if let Some((next, c)) = self.rx_expect
            && c == clock
            && !d.contiguous
            && time > next
            && time - next <= u64::from(clock) * MAX_CONCEAL.as_millis() as u64 / 1000
        {
            // Lost packets: conceal them (Opus PLC) or fill with silence (G.711). A longer gap
            // is an outage or a pause, not loss: filling it would only delay the audio.
            let lost = ((time - next) * u64::from(decoded_rate) / u64::from(clock)) as usize;
            match (codec, self.opus_dec.as_mut()) {
                (WebRtcCodec::Opus, Some(dec)) => {
                    // The last lost frame comes back from this packet's in-band FEC, if it
                    // has some (RFC 6716 §4.2.4); the decoder conceals the rest (§4.4).
                    if dec.recover(&d.data, lost, &mut self.decoded).is_err() {
                        self.decoded.resize(lost, 0);
                    }
                }
                _ => self.decoded.resize(lost, 0),
            }
            self.play(decoded_rate);
            self.decoded.clear();
        }
        match (codec, self.opus_dec.as_mut()) {
            (WebRtcCodec::Opus, Some(dec)) => {
                if dec.decode(&d.data, &mut self.decoded).is_err() {
                    self.stats.packets_invalid += 1;
                    return;
                }
            }
            (WebRtcCodec::Pcma, _) => g711::decode_alaw(&d.data, &mut self.decoded),
            (WebRtcCodec::Pcmu, _) => g711::decode_ulaw(&d.data, &mut self.decoded),
            (WebRtcCodec::Opus, None) => return,
        }
        let units = self.decoded.len() as u64 * u64::from(clock) / u64::from(decoded_rate);
        self.rx_expect = Some((time + units, clock));
        self.rx_filled = 0;
        self.stats.remote_level_dbov = Some(level_dbov(&self.decoded));
        self.play(decoded_rate);
    }

    /// Resamples `self.decoded` (at `rate`) to the sink's rate and writes it to the sink.
    fn play(&mut self, rate: u32) {
        let sink_rate = self.sink.sample_rate();
        let mut r = match self.rx_resampler.take() {
            Some(r) if r.input_rate() == rate && r.output_rate() == sink_rate => r,
            _ => Resampler::new(rate, sink_rate),
        };
        self.played.clear();
        r.process(&self.decoded, &mut self.played);
        self.rx_resampler = Some(r);
        self.sink.write(&self.played);
    }

    /// Picks the codec to send with from what was negotiated, in our order of preference.
    fn update_send_codec(&mut self) {
        self.send = None;
        let (Some(rtc), Some(mid)) = (self.rtc.as_mut(), self.mid) else {
            return;
        };
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        let params: Vec<_> = writer
            .payload_params()
            .map(|p| (p.pt(), p.spec()))
            .collect();
        for pref in &self.cfg.codecs {
            if let Some((pt, _)) = params.iter().find(|(_, s)| pref.matches(s.codec)) {
                let dtmf = params.iter().any(|(_, s)| {
                    s.codec == StrCodec::Tele && s.clock_rate.get() == pref.clock_rate()
                });
                self.send = Some(SendCodec {
                    pt: *pt,
                    codec: *pref,
                    dtmf,
                });
                break;
            }
        }
    }

    fn sending(&self) -> bool {
        self.connected && self.send.is_some() && self.direction().is_some_and(Direction::sends)
    }

    fn on_frames(&mut self, now: Instant) {
        while let Some(t) = self.next_frame.filter(|t| *t <= now) {
            let behind = now.saturating_duration_since(t);
            if behind > MAX_CATCH_UP {
                let skip = (behind.as_micros() / FRAME.as_micros()) as u32;
                self.media_time_48k += 960 * u64::from(skip);
                self.next_frame = Some(t + FRAME * skip);
                self.talkspurt = true;
                continue;
            }
            self.tick(t);
            self.fill_rx_gap(t);
            self.next_frame = Some(t + FRAME);
        }
        self.video_tick(now);
        self.check_rx_timeout(now);
    }

    /// DTX on the peer's side (RFC 7587 §3.1.3): no Opus packet for [`RX_FILL_AFTER`] means
    /// the peer stopped sending in silence (or a burst was lost); from then on the sink gets
    /// one frame of concealment per frame tick, the decoder's comfort noise fading to
    /// silence, so its timeline keeps pace. The frames filled move the expected media time
    /// on, so the next packet is not taken for a loss of what was already filled. It stops
    /// when `rtp_timeout` is reported or when we are not receiving.
    fn fill_rx_gap(&mut self, at: Instant) {
        let Some(last) = self.last_rx else { return };
        let Some((next, clock)) = self.rx_expect else {
            return;
        };
        if clock != 48000 || self.timeout_reported || !self.remote_active {
            return;
        }
        if self.direction().is_some_and(|d| !d.receives()) {
            return;
        }
        let Some(rate) = self.opus_dec.as_ref().map(OpusDec::rate) else {
            return;
        };
        let since = at.saturating_duration_since(last);
        if since < RX_FILL_AFTER {
            return;
        }
        // Frame k after the last packet is due k frames after it: the first fill catches up
        // with the frames since the last packet, so the sink's timeline stays whole; later
        // ones are one frame per tick.
        let due = (since.as_micros() / FRAME.as_micros()) as u32;
        let frames = due.saturating_sub(self.rx_filled);
        if frames == 0 {
            return;
        }
        let frame = rate as usize / 50;
        self.decoded.clear();
        for _ in 0..frames {
            let Some(dec) = self.opus_dec.as_mut() else {
                return;
            };
            if dec.conceal(frame, &mut self.decoded).is_err() {
                self.decoded.resize(self.decoded.len() + frame, 0);
            }
        }
        let units = u64::from(frames) * 960;
        self.rx_expect = Some((next + units, clock));
        self.rx_filled += frames;
        self.play(rate);
        self.decoded.clear();
    }

    /// When to report [`MediaEvent::Timeout`]: `rtp_timeout` after the last packet, after
    /// the connection, or (if ICE/DTLS never connect) after the first negotiation; only
    /// while the negotiated direction has the peer send to us.
    fn rx_deadline(&self) -> Option<Instant> {
        let t = self.cfg.rtp_timeout?;
        if self.timeout_reported {
            return None;
        }
        if self.connected {
            let receiving = self.direction().is_some_and(Direction::receives);
            if !receiving {
                return None;
            }
        }
        Some(self.last_rx.or(self.started_at).or(self.negotiated_at)? + t)
    }

    fn check_rx_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.rx_deadline().filter(|d| *d <= now) {
            let since = self
                .last_rx
                .or(self.started_at)
                .or(self.negotiated_at)
                .unwrap_or(deadline);
            self.timeout_reported = true;
            self.remote_active = false;
            self.out.push_back(MediaOutput::Event(MediaEvent::Timeout {
                silent_for: now.saturating_duration_since(since),
            }));
        }
    }

    /// One 20 ms frame: pull audio, then send it, or start a queued DTMF event.
    fn tick(&mut self, at: Instant) {
        let source_rate = self.source.sample_rate().max(1);
        let samples = (source_rate / 50) as usize;
        self.frame.resize(samples, 0);
        let n = self.source.read(&mut self.frame);
        self.frame[n.min(samples)..].fill(0);
        if n == 0 && !self.source_ended {
            self.source_ended = true;
            self.out
                .push_back(MediaOutput::Event(MediaEvent::SourceEnded));
        }
        let time_48k = self.media_time_48k;
        self.media_time_48k += 960;

        if !self.sending() {
            self.talkspurt = true;
            return;
        }
        let Some(send) = self.send else { return };
        let (Some(mid), Some(rtc)) = (self.mid, self.rtc.as_mut()) else {
            return;
        };
        let clock = send.codec.clock_rate();
        let media_time = MediaTime::new(
            time_48k * u64::from(clock) / 48000,
            Frequency::new(clock).unwrap_or(Frequency::FORTY_EIGHT_KHZ),
        );

        if self.dtmf_until.is_some_and(|u| at < u) {
            return; // RFC 4733 §2.5.1.1: the event replaces the audio while it lasts.
        }
        if self.dtmf_until.take().is_some() {
            self.talkspurt = true;
        }
        if self.dtmf_next.is_none_or(|t| at >= t)
            && let Some((tone, duration)) = self.dtmf_queue.pop_front()
        {
            let event = TelephoneEvent {
                event: tone.event_code(),
                end: true,
                volume: 10,
                duration,
            };
            if let Some(writer) = rtc.writer(mid) {
                let written =
                    writer
                        .telephone_event(event)
                        .write(send.pt, at, media_time, Vec::new());
                if written.is_ok() {
                    self.stats.dtmf_sent += 1;
                    self.dtmf_until = Some(at + duration + DTMF_TAIL);
                    self.dtmf_next = Some(at + duration + DTMF_GAP);
                }
            }
            self.drain();
            return;
        }

        if self.muted {
            match self.cfg.mute_mode {
                MuteMode::Nothing => {
                    self.talkspurt = true;
                    return;
                }
                MuteMode::Silence => self.frame.fill(0),
            }
        }
        if self.encode(send.codec, source_rate).is_err() {
            return;
        }
        // DTX (RFC 7587 §3.1.3): encoded, but not sent, in silence.
        if send.codec == WebRtcCodec::Opus
            && self.cfg.opus_dtx
            && self.peer_opus.dtx
            && !self.dtx.send(&self.resampled)
        {
            self.talkspurt = true;
            return;
        }
        let Some(rtc) = self.rtc.as_mut() else { return };
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        let payload = self.payload.clone();
        let len = payload.len() as u64;
        let marker = self.talkspurt;
        if writer
            .start_of_talkspurt(marker)
            .write(send.pt, at, media_time, payload)
            .is_ok()
        {
            self.talkspurt = false;
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += len;
        }
        self.drain();
    }

    /// Encodes `self.frame` (at `source_rate`) into `self.payload`.
    fn encode(&mut self, codec: WebRtcCodec, source_rate: u32) -> Result<(), MediaError> {
        let fresh = self.encoder.as_ref().is_none_or(|e| {
            e.codec != codec
                || e.source_rate != source_rate
                || e.opus
                    .as_ref()
                    .is_some_and(|o| o.fec() != self.peer_opus.inband_fec)
        });
        if fresh {
            let (opus, rate) = match codec {
                WebRtcCodec::Opus => {
                    let enc = OpusEnc::new(
                        source_rate,
                        self.cfg.opus_bitrate,
                        self.peer_opus.inband_fec,
                    )?;
                    let rate = enc.rate();
                    (Some(enc), rate)
                }
                WebRtcCodec::Pcmu | WebRtcCodec::Pcma => (None, 8000),
            };
            self.encoder = Some(Encoder {
                codec,
                source_rate,
                opus,
                resampler: Resampler::new(source_rate, rate),
            });
        }
        let Some(enc) = self.encoder.as_mut() else {
            return Err(MediaError::InvalidState("no encoder"));
        };
        self.resampled.clear();
        enc.resampler.process(&self.frame, &mut self.resampled);
        match (codec, enc.opus.as_mut()) {
            (WebRtcCodec::Opus, Some(opus)) => opus.encode(&self.resampled, &mut self.payload),
            (WebRtcCodec::Pcma, _) => {
                self.payload.clear();
                g711::encode_alaw(&self.resampled, &mut self.payload);
                Ok(())
            }
            _ => {
                self.payload.clear();
                g711::encode_ulaw(&self.resampled, &mut self.payload);
                Ok(())
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let video = self.video.as_ref().and_then(|v| v.next_poll);
        [
            self.rtc_timeout,
            self.next_frame,
            self.rx_deadline(),
            self.stun_deadline(),
            self.turn_deadline(),
            video,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// After a failed offer/answer before anything was negotiated, str0m may have shut the
    /// instance down (it does on a missing fingerprint): start over with a fresh one.
    fn reset_if_unused(&mut self) {
        if !self.negotiated {
            self.rtc = None;
            self.mid = None;
            self.fatal = None;
            self.rtc_timeout = None;
        }
    }

    fn after_negotiation(&mut self, now: Instant) {
        self.negotiated = true;
        self.negotiated_at.get_or_insert(now);
        self.update_send_codec();
        self.drain();
        self.on_frames(now);
    }
}

/// `sdp` with the direction attribute of m-line `mline` set to `dir` (replaced, or added at
/// the end of that m-section). Line endings are kept.
fn with_direction(sdp: &str, mline: usize, dir: Direction) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let attr = format!("a={}{eol}", dir.as_str());
    let mut out = String::with_capacity(sdp.len() + 16);
    let mut section: Option<usize> = None;
    let mut done = false;
    for line in sdp.split_inclusive('\n') {
        let text = line.trim_end_matches(['\r', '\n']);
        if text.starts_with("m=") {
            if section == Some(mline) && !done {
                out.push_str(&attr);
                done = true;
            }
            section = Some(section.map_or(0, |i| i + 1));
        }
        let is_dir = text
            .strip_prefix("a=")
            .and_then(Direction::from_attr)
            .is_some();
        if is_dir && section == Some(mline) {
            if !done {
                out.push_str(&attr);
                done = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if section == Some(mline) && !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        out.push_str(&attr);
    }
    out
}

/// Turns a previous SDP of ours into a re-offer: RFC 8842 §5.5 wants `a=setup:actpass` in
/// every offer.
fn as_reoffer(sdp: &str) -> String {
    sdp.replace("a=setup:active", "a=setup:actpass")
        .replace("a=setup:passive", "a=setup:actpass")
}

impl MediaSession for WebRtcMedia {
    /// A JSEP offer (RFC 8829 §5.2.1): one BUNDLEd (RFC 8843) audio m-line over
    /// `UDP/TLS/RTP/SAVPF` with rtcp-mux (RFC 5761), ICE credentials and our host
    /// candidates (RFC 8445, RFC 8839), the DTLS fingerprint and `a=setup:actpass` (RFC 8842),
    /// our codecs and telephone-event at 48 and 8 kHz. A re-offer that changes nothing
    /// repeats our last SDP (with `a=setup:actpass`).
    fn create_offer(&mut self, now: Instant) -> Result<String, MediaError> {
        let dir = to_str0m(self.want_direction);
        let mid = self.mid.filter(|_| self.negotiated);
        let video_wish = self.video_wish();
        let video_mid = self
            .video
            .as_ref()
            .and_then(|v| v.mid)
            .filter(|_| self.negotiated);
        let restart = std::mem::take(&mut self.restart_ice);
        let rtc = self.rtc_at(now)?;
        // str0m changes the media's direction as the offer is made: remember it for
        // cancel_offer.
        let before = mid.and_then(|m| rtc.media(m)).map(|m| m.direction());
        let video_before = video_mid
            .and_then(|m| rtc.media(m))
            .map(|m| (m, m.direction()));
        let video_before = video_before.map(|(m, d)| (m.mid(), d));
        let mut api = rtc.sdp_api();
        if restart {
            // str0m keeps our candidates and gives them the new ufrag.
            api.ice_restart(true);
        }
        let new_mid = match mid {
            Some(mid) => {
                api.set_direction(mid, dir);
                mid
            }
            None => api.add_media(StrKind::Audio, dir, None, None, None),
        };
        let new_video_mid = video_wish.map(|d| Self::video_offer(&mut api, video_mid, d));
        let applied = api.apply();
        self.mid = Some(new_mid);
        if let Some(v) = self.video.as_mut() {
            v.mid = new_video_mid;
            v.direction_before_offer = video_before;
        }
        self.direction_before_offer = before;
        let text = match applied {
            Some((offer, pending)) => {
                self.pending = Some(Pending::Offer(pending));
                offer.to_sdp_string()
            }
            None => {
                let Some(last) = &self.last_local else {
                    return Err(MediaError::InvalidState("nothing to offer"));
                };
                self.pending = Some(Pending::Unchanged);
                as_reoffer(last)
            }
        };
        let text = self.with_relay_address(self.with_related_address(text));
        self.drain();
        self.last_local = Some(text.clone());
        Ok(text)
    }

    /// An offer with new ICE credentials (RFC 8445 §9, RFC 8839 §4.4.1.1.1; JSEP's
    /// `iceRestart`, RFC 8829 §5.2.1): our candidates stay, checks start over when the answer
    /// (with the peer's new credentials) is accepted; DTLS and SRTP keep going over the new
    /// pair. The peer restarting ICE needs nothing: [`MediaSession::accept_offer`] sees its
    /// new credentials and answers with new ones of ours (str0m does this).
    fn create_restart_offer(&mut self, now: Instant) -> Result<String, MediaError> {
        if !self.negotiated {
            return Err(MediaError::InvalidState(
                "ICE restart needs a negotiated session",
            ));
        }
        self.restart_ice = true;
        let offer = self.create_offer(now);
        self.restart_ice = false;
        offer
    }

    /// Answers a browser's offer (RFC 8829 §5.3.1). Only the first audio m-line is used; a
    /// video or other m-line is answered rejected (port 0), and the call goes on.
    fn accept_offer(&mut self, now: Instant, offer: &str) -> Result<String, MediaError> {
        if self.pending.is_some() {
            return Err(MediaError::InvalidState(
                "an offer of ours is pending (glare, RFC 3264 §4)",
            ));
        }
        // Our own parser first: it is strict about the grammar and says what is wrong.
        let parsed = SessionDescription::parse(offer)?;
        self.peer_opus = OpusFmtp::of(&parsed);
        let Some((mline, audio)) = parsed
            .media
            .iter()
            .enumerate()
            .find(|(_, m)| m.media == "audio" && m.port != 0)
        else {
            return Err(MediaError::NoAudio);
        };
        if audio.proto != "UDP/TLS/RTP/SAVPF" {
            // Plain RTP/AVP and friends are RtpMedia's (RFC 8829 §5.1.2 fixes the WebRTC one).
            return Err(MediaError::UnsupportedProfile {
                profile: audio.proto.clone(),
                mline,
            });
        }
        // str0m answers the offered direction reversed; to answer with ours (hold, RFC 3264
        // §6.1, §8.4) show it the offer as seen through our wish.
        let offered_dir = parsed.direction(mline);
        let shown_dir = offered_dir.intersect(self.want_direction.reversed());
        let offer = if shown_dir == offered_dir {
            offer.to_string()
        } else {
            with_direction(offer, mline, shown_dir)
        };
        let offer = self.video_shown_offer(&parsed, offer);
        let sdp =
            SdpOffer::from_sdp_string(&offer).map_err(|e| rtc_error("parsing the offer", e))?;
        // The answer str0m makes says our direction (see above): no narrowing left to apply.
        self.answer_limit = None;
        // A re-offer keeps our audio media; a first offer names it in str0m's MediaAdded.
        self.mid = self.mid.filter(|_| self.negotiated);
        let rtc = self.rtc_at(now)?;
        let answer = match rtc.sdp_api().accept_offer(sdp) {
            Ok(a) => a,
            Err(e) => {
                self.drain();
                self.reset_if_unused();
                return Err(rtc_error("accepting the offer", e));
            }
        };
        self.drain();
        if self.mid.is_none() {
            // str0m announces remote media (MediaAdded) only once DTLS is up: take the mid of
            // the first live audio m-line from the offer (RFC 8843 §7.2 `a=mid`).
            self.mid = parsed
                .media
                .iter()
                .filter(|m| m.media == "audio" && m.port != 0)
                .filter_map(|m| m.attribute("mid"))
                .map(Mid::from)
                .find(|mid| {
                    self.rtc
                        .as_ref()
                        .and_then(|r| r.media(*mid))
                        .is_some_and(|m| m.kind() == StrKind::Audio && !m.disabled())
                });
        }
        self.video_after_offer(&parsed);
        self.after_negotiation(now);
        let text = self.with_relay_address(self.with_related_address(answer.to_sdp_string()));
        if self.send.is_none() {
            let offered = audio.formats.join(" ");
            return Err(MediaError::NoCommonCodec { mline, offered });
        }
        self.last_local = Some(text.clone());
        Ok(text)
    }

    fn accept_answer(&mut self, now: Instant, answer: &str) -> Result<(), MediaError> {
        let Some(pending) = self.pending.take() else {
            return Err(MediaError::InvalidState("no offer pending"));
        };
        let parsed = SessionDescription::parse(answer)?;
        self.peer_opus = OpusFmtp::of(&parsed);
        let sdp =
            SdpAnswer::from_sdp_string(answer).map_err(|e| rtc_error("parsing the answer", e))?;
        // Our audio m-line in the answer: by `a=mid` (RFC 8843), else the first audio one.
        let mid = self.mid.map(|m| m.to_string());
        let index = parsed
            .media
            .iter()
            .position(|m| mid.is_some() && m.attribute("mid") == mid.as_deref())
            .or_else(|| parsed.media.iter().position(|m| m.media == "audio"));
        let limit = index.map(|i| parsed.direction(i).reversed());
        match pending {
            Pending::Unchanged => {}
            Pending::Offer(p) => {
                let rtc = self.rtc_at(now)?;
                if let Err(e) = rtc.sdp_api().accept_answer(p, sdp) {
                    self.drain();
                    return Err(rtc_error("accepting the answer", e));
                }
            }
        }
        self.answer_limit = limit.filter(|l| *l != Direction::SendRecv);
        self.video_after_answer(&parsed);
        self.after_negotiation(now);
        if self.send.is_none() {
            return Err(MediaError::Rejected);
        }
        Ok(())
    }

    /// Forgets the pending offer, and puts back the direction str0m had before it (str0m
    /// applies an offered direction change at once), so a refused hold re-offer leaves the
    /// call as it was.
    fn cancel_offer(&mut self) {
        self.pending = None;
        if !self.negotiated {
            self.mid = None;
        }
        let before = self.direction_before_offer.take();
        if let (Some(dir), Some(mid), Some(rtc)) = (before, self.mid, self.rtc.as_mut()) {
            // Changes the session at once; dropped without apply(), so nothing is offered.
            rtc.sdp_api().set_direction(mid, dir);
            self.drain();
        }
        self.video_cancel_offer();
    }

    fn set_direction(&mut self, direction: Direction) {
        self.want_direction = direction;
    }

    fn set_muted(&mut self, kind: MediaKind, muted: bool) {
        match kind {
            MediaKind::Audio => self.muted = muted,
            MediaKind::Video => {
                if let Some(v) = self.video.as_mut() {
                    v.set_muted(muted);
                }
            }
        }
    }

    /// Queues an RFC 4733 event at the clock rate of the codec we send with (48 kHz for
    /// Opus, 8 kHz for G.711), on the telephone-event payload type negotiated at that rate.
    fn send_dtmf(
        &mut self,
        now: Instant,
        tone: DtmfTone,
        duration: Duration,
    ) -> Result<(), MediaError> {
        if !(Duration::from_millis(40)..=DTMF_MAX).contains(&duration) {
            return Err(MediaError::InvalidDuration(duration));
        }
        if !self.send.is_some_and(|s| s.dtmf) || (self.connected && !self.sending()) {
            return Err(MediaError::DtmfUnavailable);
        }
        self.rtc_at(now)?;
        self.dtmf_queue.push_back((tone, duration));
        self.on_frames(now);
        Ok(())
    }

    fn set_audio_source(&mut self, source: Box<dyn AudioSource>) -> Result<(), MediaError> {
        self.source = source;
        self.source_ended = false;
        self.encoder = None;
        Ok(())
    }

    fn set_audio_sink(&mut self, sink: Box<dyn AudioSink>) -> Result<(), MediaError> {
        self.sink = sink;
        self.rx_resampler = None;
        Ok(())
    }

    /// Replaces the video source. Video must have been configured with
    /// [`WebRtcMedia::with_video`] unless the session has not started yet.
    fn set_video_source(
        &mut self,
        source: Box<dyn crate::video::VideoSource>,
    ) -> Result<(), MediaError> {
        self.replace_video_source(source)
    }

    /// Replaces the video sink; see [`MediaSession::set_video_source`].
    fn set_video_sink(&mut self, sink: Box<dyn crate::video::VideoSink>) -> Result<(), MediaError> {
        self.replace_video_sink(sink)
    }

    fn handle_input(&mut self, now: Instant, input: MediaInput<'_>) {
        let destination = self
            .cfg
            .candidates()
            .first()
            .copied()
            .unwrap_or(self.cfg.local_addr);
        if self.rtc_at(now).is_err() {
            // Failed or never configured: only our own timeout is left to report.
            self.on_frames(now);
            return;
        }
        if let MediaInput::Receive { source, contents } = input
            && self.on_turn_datagram(now, source, contents)
        {
            self.on_frames(now);
            return;
        }
        if let MediaInput::Receive { source, contents } = input
            && self.on_stun_response(source, contents)
        {
            self.trickle_end_after_relays();
            self.on_frames(now);
            return;
        }
        self.poll_stun(now);
        self.poll_turn(now);
        self.trickle_end_after_relays();
        let Some(rtc) = self.rtc.as_mut() else {
            return;
        };
        if let MediaInput::Receive { source, contents } = input {
            let received = Receive::new(Protocol::Udp, source, destination, contents)
                .map(|r| rtc.handle_input(Input::Receive(now, r)));
            if !matches!(received, Ok(Ok(()))) {
                // Not STUN, DTLS, RTP or RTCP, or refused: drop it, the session goes on.
                self.stats.packets_invalid += 1;
            }
            self.drain();
        }
        if let Some(rtc) = self.rtc.as_mut() {
            let result = rtc.handle_input(Input::Timeout(now));
            self.drain();
            if let Err(e) = result {
                self.fail(rtc_error("timeout", e));
            }
        }
        self.on_frames(now);
    }

    /// Sends the STUN Binding request to [`WebRtcConfig::stun_server`] (RFC 8445 §5.1.1.2)
    /// at the first call, and waits [`WebRtcConfig::gather_timeout`] for the response.
    fn gather(&mut self, now: Instant) -> Option<Instant> {
        self.rtc_at(now).ok()?;
        self.poll_stun(now);
        self.poll_turn(now);
        [self.gather_until(now), self.turn_gather_until(now)]
            .into_iter()
            .flatten()
            .max()
    }

    /// Releases our TURN allocations (RFC 8656 §7.3).
    fn close(&mut self, now: Instant) {
        self.close_turn(now);
    }

    /// Adds each `a=candidate` of the fragment to str0m (RFC 8838 §11, RFC 8840 §9); other
    /// lines (`a=mid`, `a=end-of-candidates`) are not needed with one BUNDLEd m-line. A
    /// candidate of another ICE generation than the peer's current credentials (the
    /// fragment's `a=ice-ufrag`, or the candidate's own `ufrag`) is ignored by str0m, as RFC
    /// 8838 §11 wants after an ICE restart.
    fn add_remote_candidates(&mut self, now: Instant, sdpfrag: &str) -> Result<(), MediaError> {
        let ufrag = sdpfrag
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
            .map(str::to_owned);
        let rtc = self.rtc_at(now)?;
        for line in sdpfrag.lines() {
            if let Some(value) = line.trim_end().strip_prefix("a=") {
                if !value.starts_with("candidate:") {
                    continue;
                }
                let value = match &ufrag {
                    Some(u) if !value.contains(" ufrag ") => format!("{value} ufrag {u}"),
                    _ => value.to_owned(),
                };
                let c = Candidate::from_sdp_string(&value)
                    .map_err(|e| rtc_error("a trickled candidate", e))?;
                rtc.add_remote_candidate(c);
            }
        }
        self.drain();
        Ok(())
    }

    fn poll_output(&mut self) -> MediaOutput {
        self.out
            .pop_front()
            .unwrap_or_else(|| MediaOutput::Timeout(self.next_deadline()))
    }

    /// Packets and bytes (RTP payload) sent and received and the loss count are our own
    /// counters; RTT, jitter and the peer's loss figures come from str0m's statistics events
    /// (RTCP reports, every [`WebRtcConfig::stats_interval`]). str0m does its RTCP itself, so
    /// `rtcp_sent`, `rtcp_received`, `packets_reordered`, `packets_late` and
    /// `packets_duplicate` stay 0.
    fn stats(&self) -> MediaStats {
        let packets_lost = self.rx_seq.map_or(0, |(lo, hi)| {
            (hi - lo + 1) as i64 - self.stats.packets_received as i64
        });
        MediaStats {
            packets_lost: packets_lost.max(0),
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
    fn direction_is_replaced_or_added_in_one_section() {
        let sdp = "v=0\r\na=sendrecv\r\nm=audio 9 X 0\r\na=sendrecv\r\na=x\r\nm=video 0 X 0\r\n";
        assert_eq!(
            with_direction(sdp, 0, Direction::RecvOnly),
            "v=0\r\na=sendrecv\r\nm=audio 9 X 0\r\na=recvonly\r\na=x\r\nm=video 0 X 0\r\n"
        );
        assert_eq!(
            with_direction(sdp, 1, Direction::Inactive),
            "v=0\r\na=sendrecv\r\nm=audio 9 X 0\r\na=sendrecv\r\na=x\r\nm=video 0 X 0\r\na=inactive\r\n"
        );
        assert_eq!(
            with_direction("m=audio 9 X 0\nb=1", 0, Direction::SendOnly),
            "m=audio 9 X 0\nb=1\na=sendonly\n"
        );
        let audio_first = "m=audio 9 X 0\r\nm=video 0 X 0\r\n";
        assert_eq!(
            with_direction(audio_first, 0, Direction::Inactive),
            "m=audio 9 X 0\r\na=inactive\r\nm=video 0 X 0\r\n"
        );
    }

    #[test]
    fn reoffer_uses_actpass() {
        let s = "a=setup:active\r\na=setup:passive\r\n";
        assert_eq!(as_reoffer(s), "a=setup:actpass\r\na=setup:actpass\r\n");
    }

    #[test]
    fn wildcard_needs_host_addrs() {
        let mut cfg = WebRtcConfig::new("0.0.0.0:5000".parse().unwrap(), 1);
        assert!(cfg.candidates().is_empty());
        cfg.host_addrs.push("192.0.2.1:5000".parse().unwrap());
        assert_eq!(cfg.candidates(), ["192.0.2.1:5000".parse().unwrap()]);
        let mut m = WebRtcMedia::new(WebRtcConfig::new("0.0.0.0:5000".parse().unwrap(), 1));
        assert!(matches!(
            m.create_offer(Instant::now()),
            Err(MediaError::WebRtc { .. })
        ));
        let cfg = WebRtcConfig::new("127.0.0.1:5000".parse().unwrap(), 1).with_codecs(&[]);
        let mut m = WebRtcMedia::new(cfg);
        assert!(matches!(
            m.create_offer(Instant::now()),
            Err(MediaError::InvalidState(_))
        ));
        // Nothing to do and no deadline until configured properly.
        m.handle_input(Instant::now(), MediaInput::Timeout);
        assert_eq!(m.poll_output(), MediaOutput::Timeout(None));
    }
}
