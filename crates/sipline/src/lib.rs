//! # sipline
//!
//! A SIP user agent for Rust with the API of SIP.js's `SIP.Session`: open a [`Ua`], place
//! calls with [`Ua::invite`], answer the [`Session`]s that [`Ua::next_event`] hands over, and
//! follow each call through [`Session::next_event`]. Calls carry real audio: plain RTP
//! (G.711, RFC 4733 DTMF) for phones, WebRTC (ICE, DTLS-SRTP, Opus) for browsers. The protocol lives in the sans-IO `sipline-proto`; this crate runs
//! it on tokio.
//!
//! ```
//! use sipline::{AcceptOptions, InviteOptions, SessionEvent, ToneSource, TransportKind, Ua, UaEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let any = "127.0.0.1:0".parse()?;
//! let alice = Ua::builder().uri("sip:alice@127.0.0.1").udp(any).build().await?;
//! let bob = Ua::builder().uri("sip:bob@127.0.0.1").udp(any).build().await?;
//! let bob_at = format!("sip:bob@{}", bob.local_addr(TransportKind::Udp).ok_or("no UDP")?);
//!
//! // alice calls bob with a 440 Hz tone (SIP.js `ua.invite`).
//! let tone = Box::new(ToneSource::new(8000, 440.0, -12.0));
//! let opts = InviteOptions { audio_source: tone, ..InviteOptions::default() };
//! let mut call = alice.invite(&bob_at, opts).await?;
//!
//! // bob answers (SIP.js `ua.on('invite')`, `session.accept()`).
//! let Some(UaEvent::Invite(answer)) = bob.next_event().await else { return Ok(()) };
//! answer.accept(AcceptOptions::default()).await?;
//!
//! // alice's session reports the answer; she sends DTMF and hangs up.
//! while let Some(event) = call.next_event().await {
//!     match event {
//!         SessionEvent::Accepted { .. } => {
//!             call.dtmf("12", Default::default()).await?;
//!             call.bye(Default::default()).await?;
//!         }
//!         SessionEvent::Terminated { cause } => println!("ended: {cause:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod dispatch;
mod error;
mod media;
mod queue;
mod session;
mod trickle;
mod ua;

pub use error::Error;
pub use media::MediaChoice;
pub use session::{
    AcceptOptions, ByeOptions, CancelOptions, DtmfOptions, DtmfTransport, MediaConstraints,
    MediaStream, MediaTrack, MuteOptions, ProgressOptions, ReferOptions, RejectOptions,
    RenegotiateOptions, ReplyOptions, Session, SessionEvent,
};
pub use sipline_media::{
    AnnexBRecorder, AnnexBSource, ChannelVideoSink, ChannelVideoSource, IvfRecorder, IvfSource,
    VideoCodec, VideoError, VideoFrame, VideoRead, VideoSink, VideoSource, create_video_recorder,
    open_video_source,
};
pub use sipline_media::{
    AudioSink, AudioSource, BufferHandle, BufferSink, ChannelSink, ChannelSource, MediaKind,
    MediaStats, NullSink, SilenceSource, ToneSource, WavRecorder, WavSource, tone_frequency,
};
pub use sipline_media::{TurnTransport, TurnUrl, TurnUrlError};
pub use sipline_proto::{
    Body, Cause, HeaderName, Method, Rel100, Request, Response, StatusCode, TransportKind,
};
pub use sipline_tokio::{TlsClientConfig, TlsServerConfig};
pub use trickle::TrickleMode;
pub use ua::{InviteOptions, Ua, UaBuilder, UaEvent};
