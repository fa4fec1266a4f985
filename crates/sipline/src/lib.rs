//! # sipline
//!
//! A SIP user agent for Rust with the API of SIP.js's `SIP.Session`: open a [`Ua`], place
//! calls with [`Ua::invite`], answer the [`Session`]s that [`Ua::next_event`] hands over, and
//! follow each call through [`Session::next_event`]. Calls carry real audio (RTP/AVP,
//! G.711, RFC 4733 DTMF). The protocol lives in the sans-IO `sipline-proto`; this crate runs
//! it on tokio.
//!
//! ```
//! use sipline::{AcceptOptions, InviteOptions, SessionEvent, Ua, UaEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let any = "127.0.0.1:0".parse()?;
//! let alice = Ua::builder().uri("sip:alice@127.0.0.1").udp(any).build().await?;
//! let bob = Ua::builder().uri("sip:bob@127.0.0.1").udp(any).build().await?;
//! let bob_addr = bob.local_addr(sipline::TransportKind::Udp).ok_or("no UDP")?;
//!
//! // Bob answers the first call.
//! let answering = tokio::spawn(async move {
//!     let Some(UaEvent::Invite(mut call)) = bob.next_event().await else { return };
//!     call.accept(AcceptOptions::default()).await.ok();
//!     while let Some(e) = call.next_event().await {
//!         if matches!(e, SessionEvent::Terminated { .. }) { break }
//!     }
//! });
//!
//! let mut call = alice.invite(&format!("sip:bob@{bob_addr}"), InviteOptions::default()).await?;
//! while let Some(e) = call.next_event().await {
//!     if let SessionEvent::Accepted { .. } = e {
//!         call.bye(Default::default()).await?;
//!     }
//! }
//! answering.await?;
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
