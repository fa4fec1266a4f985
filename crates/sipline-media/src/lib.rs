//! # sipline-media
//!
//! Sans-IO media for sipline calls: an SDP model ([`sdp`], RFC 8866), the offer/answer model
//! for one audio stream ([`offer_answer`], RFC 3264), the [`MediaSession`] seam the SIP session
//! layer drives, and [`RtpMedia`], its plain RTP/AVP implementation (RFC 3550/3551) with
//! G.711 ([`g711`]), RFC 4733 DTMF ([`dtmf`]), RTCP sender and receiver reports ([`rtcp`],
//! RFC 3550 §6.4, with rtcp-mux, RFC 5761) and symmetric RTP (RFC 4961). Audio comes from
//! an [`AudioSource`] and goes to an [`AudioSink`] ([`audio`]).
//!
//! [`WebRtcMedia`] ([`webrtc`]) is the second implementation, for browsers (SIP.js, JsSIP):
//! JSEP offer/answer (RFC 8829) over `UDP/TLS/RTP/SAVPF` with ICE (RFC 8445), DTLS-SRTP
//! (RFC 5764), BUNDLE (RFC 8843) and rtcp-mux (RFC 5761) on one socket, built on the sans-IO
//! str0m stack, with Opus (RFC 7587) or G.711 and RFC 4733 DTMF, and optionally VP8/H.264
//! video passthrough: encoded frames from a [`VideoSource`] (IVF or H.264 Annex B files,
//! [`video`]) sent as they are, received frames into a [`VideoSink`].
//!
//! Nothing here opens a socket or reads the clock: the runtime passes datagrams and instants
//! in and sends what [`MediaSession::poll_output`] returns. [`RtpMedia`] refuses a WebRTC
//! offer (`UDP/TLS/RTP/SAVPF`) with [`MediaError::UnsupportedProfile`], and [`WebRtcMedia`]
//! refuses any other, so the caller can hand the offer to the right implementation.
//!
//! Two sessions wired back to back, one second of virtual time:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sipline_media::{
//!     tone_frequency, BufferSink, MediaInput, MediaOutput, MediaSession, RtpConfig, RtpMedia,
//!     ToneSource,
//! };
//!
//! let addr_a = "127.0.0.1:40000".parse()?;
//! let addr_b = "127.0.0.1:40002".parse()?;
//! let mut a = RtpMedia::new(RtpConfig::new(addr_a, 1))
//!     .with_audio(Box::new(ToneSource::new(8000, 440.0, -10.0)), Box::new(BufferSink::new(8000)))?;
//! let sink_b = BufferSink::new(8000);
//! let heard_by_b = sink_b.handle();
//! let mut b = RtpMedia::new(RtpConfig::new(addr_b, 2))
//!     .with_audio(Box::new(ToneSource::new(8000, 880.0, -10.0)), Box::new(sink_b))?;
//!
//! let start = Instant::now();
//! let offer = a.create_offer(start)?;
//! let answer = b.accept_offer(start, &offer)?; // RFC 3264 §6
//! a.accept_answer(start, &answer)?;
//!
//! // The runtime's job, here a loop in memory: drain one side's outputs into the other and
//! // return its next deadline.
//! fn pump(from: &mut RtpMedia, to: &mut RtpMedia, now: Instant) -> Option<Instant> {
//!     loop {
//!         match from.poll_output() {
//!             MediaOutput::Transmit(t) => {
//!                 to.handle_input(now, MediaInput::Receive { source: t.source, contents: &t.contents })
//!             }
//!             MediaOutput::Event(_) => {}
//!             MediaOutput::Timeout(deadline) => return deadline,
//!         }
//!     }
//! }
//!
//! let mut now = start;
//! while now < start + Duration::from_secs(1) {
//!     let da = pump(&mut a, &mut b, now);
//!     let db = pump(&mut b, &mut a, now);
//!     now = [da, db].into_iter().flatten().min().unwrap_or(now).max(now);
//!     a.handle_input(now, MediaInput::Timeout);
//!     b.handle_input(now, MediaInput::Timeout);
//! }
//! let f = tone_frequency(&heard_by_b.samples(), 8000).unwrap_or(0.0);
//! assert!((f - 440.0).abs() < 5.0, "B heard {f} Hz");
//! assert!(a.stats().packets_sent >= 49);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod audio;
pub mod dtmf;
pub mod error;
pub mod g711;
pub mod offer_answer;
pub mod rtcp;
pub mod rtp;
pub mod rtp_media;
pub mod sdp;
pub mod session;
pub mod video;
pub mod webrtc;

pub use audio::{
    AudioError, AudioSink, AudioSource, BufferHandle, BufferSink, ChannelSink, ChannelSource,
    NullSink, SilenceSource, ToneSource, WavRecorder, WavSource, goertzel_power, tone_frequency,
};
pub use dtmf::DtmfTone;
pub use error::MediaError;
pub use offer_answer::{AudioOptions, Codec, Negotiated, is_webrtc};
pub use rtp_media::{MuteMode, RtpConfig, RtpMedia};
pub use sdp::{Direction, SdpError, SdpErrorKind, SessionDescription};
pub use session::{
    MediaEvent, MediaInput, MediaKind, MediaOutput, MediaSession, MediaStats, Transmit,
};
pub use video::{
    AnnexBRecorder, AnnexBSource, ChannelVideoSink, ChannelVideoSource, IvfRecorder, IvfSource,
    VideoCodec, VideoError, VideoFrame, VideoRead, VideoSink, VideoSource, create_video_recorder,
    open_video_source,
};
pub use webrtc::{
    TurnServer, TurnTransport, TurnUrl, TurnUrlError, WebRtcCodec, WebRtcConfig, WebRtcMedia,
};
