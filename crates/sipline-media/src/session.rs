//! The media seam: what the SIP session layer calls, whatever the media implementation.
//!
//! [`MediaSession`] is sans-IO in the style of quinn-proto and str0m: the runtime owns the UDP
//! socket and the clock. It feeds received datagrams and expired timeouts with
//! [`MediaSession::handle_input`], then drains [`MediaSession::poll_output`] until it returns
//! [`MediaOutput::Timeout`], sending each [`Transmit`] and handling each [`MediaEvent`], and
//! sleeps until the returned instant (or until the next datagram).
//!
//! Offer/answer (RFC 3264 §4): the SIP layer calls [`MediaSession::create_offer`] and later
//! [`MediaSession::accept_answer`] when it sends the offer, or [`MediaSession::accept_offer`]
//! when the peer offers. Hold is a re-offer after [`MediaSession::set_direction`] (RFC 3264
//! §8.4). Media starts flowing once an answer is produced or accepted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::audio::{AudioSink, AudioSource};
use crate::dtmf::DtmfTone;
use crate::error::MediaError;
use crate::sdp::Direction;
use crate::video::{VideoSink, VideoSource};

/// A media session: one offer/answer negotiated set of streams and their transport.
/// Object-safe and `Send`, so the SIP layer can hold `Box<dyn MediaSession>` and choose the
/// implementation by the offer's profile (plain RTP/AVP or WebRTC).
pub trait MediaSession: Send {
    /// Creates an SDP offer (RFC 3264 §5), or a re-offer (§8) that keeps the m-line count and
    /// order of the previous SDP. A pending offer is replaced.
    fn create_offer(&mut self, now: Instant) -> Result<String, MediaError>;

    /// Creates a re-offer (RFC 3264 §8) that restarts ICE (RFC 8445 §9): new `ice-ufrag` and
    /// `ice-pwd` (RFC 8839 §4.4.1.1.1), so connectivity checks start over once the answer is
    /// accepted, for example after a network change. Media without ICE has nothing to
    /// restart: the default is a plain [`MediaSession::create_offer`].
    fn create_restart_offer(&mut self, now: Instant) -> Result<String, MediaError> {
        self.create_offer(now)
    }

    /// Starts gathering ICE candidates (RFC 8445 §5.1.1) if it has not started, and says until
    /// when an offer or answer should wait for them to be in it: `None` when nothing is
    /// being gathered (or the wait is over). A runtime calls it when the session is created
    /// and before [`MediaSession::create_offer`] or [`MediaSession::accept_offer`], and
    /// defers those calls while it returns an instant (feeding datagrams and timeouts
    /// meanwhile). Candidates found later are still used for connectivity checks, they are
    /// only missing from the SDP. The default gathers nothing.
    fn gather(&mut self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }

    /// The session ends: releases what it holds on servers (a TURN allocation, RFC 8656
    /// §7.3). The runtime sends the datagrams [`MediaSession::poll_output`] then gives and
    /// drops the session. The default holds nothing.
    fn close(&mut self, now: Instant) {
        let _ = now;
    }

    /// Takes ICE candidates the peer trickled (RFC 8838) in an SDP fragment: its
    /// `a=candidate` lines (RFC 8839 §5.1), as in the body of a SIP INFO of the
    /// `trickle-ice` package (RFC 8840 §9). Media without ICE has none to take: the default
    /// refuses them.
    fn add_remote_candidates(&mut self, now: Instant, sdpfrag: &str) -> Result<(), MediaError> {
        let _ = (now, sdpfrag);
        Err(MediaError::InvalidState("this media has no ICE"))
    }

    /// Accepts the peer's offer and returns our answer (RFC 3264 §6). Media starts.
    fn accept_offer(&mut self, now: Instant, offer: &str) -> Result<String, MediaError>;

    /// Accepts the peer's answer to our pending offer (RFC 3264 §7). Media starts.
    fn accept_answer(&mut self, now: Instant, answer: &str) -> Result<(), MediaError>;

    /// Forgets a pending offer that was refused (for example a 488 to a re-INVITE, RFC 3261
    /// §14.1): the previous negotiated state stays in force.
    fn cancel_offer(&mut self);

    /// Sets the direction we want for the next offer or answer: `SendOnly` or `Inactive` to put
    /// the peer on hold, `SendRecv` to resume (RFC 3264 §8.4). Takes effect at the next
    /// exchange.
    fn set_direction(&mut self, direction: Direction);

    /// Mutes or unmutes what we send of one kind. What a muted stream sends is up to the
    /// implementation and documented there.
    fn set_muted(&mut self, kind: MediaKind, muted: bool);

    /// Queues a DTMF tone (RFC 4733 §2.5 for RTP); tones are sent one after the other.
    fn send_dtmf(
        &mut self,
        now: Instant,
        tone: DtmfTone,
        duration: Duration,
    ) -> Result<(), MediaError>;

    /// Replaces the audio we send.
    fn set_audio_source(&mut self, source: Box<dyn AudioSource>) -> Result<(), MediaError>;

    /// Replaces where received audio goes.
    fn set_audio_sink(&mut self, sink: Box<dyn AudioSink>) -> Result<(), MediaError>;

    /// Replaces the encoded video we send. Implementations without video (plain
    /// [`crate::RtpMedia`]) return [`MediaError::VideoUnsupported`], the default.
    fn set_video_source(&mut self, source: Box<dyn VideoSource>) -> Result<(), MediaError> {
        drop(source);
        Err(MediaError::VideoUnsupported(
            "this media implementation carries no video",
        ))
    }

    /// Replaces where received encoded video goes; see [`MediaSession::set_video_source`].
    fn set_video_sink(&mut self, sink: Box<dyn VideoSink>) -> Result<(), MediaError> {
        drop(sink);
        Err(MediaError::VideoUnsupported(
            "this media implementation carries no video",
        ))
    }

    /// Feeds a datagram received on our media socket, or tells that a timeout has expired.
    fn handle_input(&mut self, now: Instant, input: MediaInput<'_>);

    /// The next output; drain until [`MediaOutput::Timeout`].
    fn poll_output(&mut self) -> MediaOutput;

    /// Counters so far.
    fn stats(&self) -> MediaStats;

    /// The local address of the media socket (the one the runtime bound).
    fn local_addr(&self) -> SocketAddr;
}

/// The kind of a media stream (RFC 8866 §5.14 `<media>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
}

/// An input to [`MediaSession::handle_input`].
#[derive(Debug, Clone, Copy)]
pub enum MediaInput<'a> {
    /// A datagram received on the media socket.
    Receive {
        /// Where it came from (used for symmetric RTP, RFC 4961).
        source: SocketAddr,
        /// Its bytes.
        contents: &'a [u8],
    },
    /// The instant returned by [`MediaOutput::Timeout`] has passed.
    Timeout,
}

/// A datagram to send from the media socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local socket to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// An output of [`MediaSession::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum MediaOutput {
    /// Send this datagram.
    Transmit(Transmit),
    /// Something happened.
    Event(MediaEvent),
    /// Nothing more now: call [`MediaSession::handle_input`] with [`MediaInput::Timeout`] at
    /// this instant (`None`: only when a datagram arrives or a method is called).
    Timeout(Option<Instant>),
}

/// Something the application may want to know.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// Offer/answer completed for the first time; media flows from now on.
    Started,
    /// A DTMF tone was received (RFC 4733 §2.5.2): once per event, at its end.
    DtmfReceived {
        /// The tone.
        tone: DtmfTone,
        /// How long it lasted.
        duration: Duration,
    },
    /// Media from the peer started to arrive (first packet, or the first after a timeout).
    RemoteActive,
    /// No media from the peer for the configured time (while we expect to receive).
    Timeout {
        /// Time since the last packet (or since media started).
        silent_for: Duration,
    },
    /// Symmetric RTP (RFC 4961) switched the destination to where the peer's packets come
    /// from.
    RemoteAddressLatched {
        /// The new destination.
        address: SocketAddr,
    },
    /// The audio source has no more samples; silence is sent from now on.
    SourceEnded,
    /// Trickle ICE (RFC 8838): candidates gathered after our last SDP went out, and the end
    /// of gathering, as an SDP fragment for the peer (RFC 8840 §9: `a=ice-ufrag`,
    /// `a=ice-pwd`, the m-line with its `a=mid`, `a=candidate` lines,
    /// `a=end-of-candidates`). Reported once, when gathering ends after our first SDP went
    /// out (not when everything was in it).
    LocalCandidates {
        /// The fragment (`application/trickle-ice-sdpfrag`, RFC 8840 §9.1).
        sdpfrag: String,
    },
}

/// Counters of one media session (RFC 3550 §6.4 for the receiver figures).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload octets sent (as the RTCP SR's sender octet count, RFC 3550 §6.4.1).
    pub bytes_sent: u64,
    /// RTP packets received and accepted (duplicates excluded).
    pub packets_received: u64,
    /// RTP payload octets received.
    pub bytes_received: u64,
    /// Cumulative packets lost: expected minus received (RFC 3550 §6.4.1, A.3).
    pub packets_lost: i64,
    /// Packets that arrived after a later sequence number (reordered).
    pub packets_reordered: u64,
    /// Packets that arrived too late for the jitter buffer (already played out or skipped).
    pub packets_late: u64,
    /// Duplicate packets dropped.
    pub packets_duplicate: u64,
    /// Datagrams that were neither RTP (malformed or unknown payload type) nor well-formed
    /// RTCP.
    pub packets_invalid: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1, A.8).
    pub jitter: Duration,
    /// DTMF events sent (RFC 4733).
    pub dtmf_sent: u64,
    /// DTMF events received (RFC 4733).
    pub dtmf_received: u64,
    /// Level of the last decoded audio frame in dBov (0 = full scale), if any.
    pub remote_level_dbov: Option<f32>,
    /// RTCP compound packets sent (RFC 3550 §6.4).
    pub rtcp_sent: u64,
    /// Well-formed RTCP compound packets received.
    pub rtcp_received: u64,
    /// The last round-trip time computed from the peer's report block about us: arrival
    /// minus LSR minus DLSR (RFC 3550 §6.4.1). `None` until a report echoes one of our SRs.
    pub rtt: Option<Duration>,
    /// The fraction of our packets the peer lost over its last report interval, 0.0..1.0
    /// (its report block's fraction lost / 256, RFC 3550 §6.4.1, A.3).
    pub remote_fraction_lost: Option<f32>,
    /// Video frames handed to the RTP packetiser (VP8, RFC 7741; H.264, RFC 6184). The
    /// packet and byte counters above are those of audio.
    pub video_frames_sent: u64,
    /// Complete video frames received and given to the video sink.
    pub video_frames_received: u64,
    /// Video frames of the source not sent: muted, waiting for a keyframe, or a codec the
    /// peer did not accept.
    pub video_frames_dropped: u64,
    /// Keyframe requests (PLI, RFC 4585 §6.3.1; FIR, RFC 5104 §4.3.1) from the peer.
    pub video_keyframe_requests: u64,
    /// The peer's cumulative count of our packets lost (RFC 3550 §6.4.1, A.3).
    pub remote_packets_lost: Option<i64>,
    /// The interarrival jitter of our packets as the peer measures it (RFC 3550 A.8).
    pub remote_jitter: Option<Duration>,
}
