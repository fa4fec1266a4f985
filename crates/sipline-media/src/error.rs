//! The error of media sessions and offer/answer.

use crate::sdp::SdpError;

/// Why a media operation failed. Each variant is a distinct kind the SIP layer can map to a
/// response: [`MediaError::UnsupportedProfile`] means "try another media implementation"
/// (WebRTC), [`MediaError::NoCommonCodec`] and [`MediaError::NoAudio`] mean 488 Not Acceptable
/// Here (RFC 3261 §21.4.26), [`MediaError::Sdp`] means 400 or 488.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SDP does not parse.
    #[error("invalid SDP: {0}")]
    Sdp(#[from] SdpError),
    /// An active m-line uses a transport profile this implementation does not speak, such as
    /// `RTP/SAVP`, `RTP/SAVPF` or `UDP/TLS/RTP/SAVPF` (a WebRTC offer, RFC 8829 §5.1.2).
    #[error("unsupported profile {profile:?} in m-line {mline}")]
    UnsupportedProfile {
        /// The `<proto>` field.
        profile: String,
        /// The index of the m-line.
        mline: usize,
    },
    /// The SDP has no usable `m=audio` line over `RTP/AVP`.
    #[error("no audio stream over RTP/AVP in the SDP")]
    NoAudio,
    /// The offer's audio line lists no codec we support (RFC 3264 §6: answer with port 0, or
    /// reject the offer).
    #[error("no common codec in m-line {mline} (offered: {offered})")]
    NoCommonCodec {
        /// The index of the audio m-line.
        mline: usize,
        /// The offered formats, space-separated.
        offered: String,
    },
    /// The answer does not answer our offer (RFC 3264 §6: same m-line count and order, formats
    /// from the offer).
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(String),
    /// The answer rejected our audio stream with port 0 (RFC 3264 §6).
    #[error("the answer rejected the audio stream")]
    Rejected,
    /// The call is not valid in the current offer/answer state (RFC 3264 §4).
    #[error("invalid offer/answer state: {0}")]
    InvalidState(&'static str),
    /// DTMF cannot be sent: telephone-event was not negotiated or we do not send media.
    #[error("telephone-event (RFC 4733) not negotiated or not sending")]
    DtmfUnavailable,
    /// A DTMF duration outside 40 ms..=8 s.
    #[error("DTMF duration {0:?} outside 40 ms..=8 s")]
    InvalidDuration(std::time::Duration),
    /// The audio source or sink runs at another rate than the codec's clock.
    #[error("audio at {got} Hz, the codec needs {want} Hz")]
    SampleRate {
        /// The source's or sink's rate.
        got: u32,
        /// The codec's rate.
        want: u32,
    },
    /// An audio codec failed to set up, encode or decode.
    #[error("{codec}: {detail}")]
    Codec {
        /// The codec (`opus`).
        codec: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Video is not available here: plain RTP media, or video was not configured before the
    /// session started.
    #[error("video unsupported: {0}")]
    VideoUnsupported(&'static str),
    /// The WebRTC stack (str0m: ICE, DTLS-SRTP, SDP) refused an operation.
    #[error("WebRTC {context}: {detail}")]
    WebRtc {
        /// What we were doing.
        context: &'static str,
        /// str0m's error.
        detail: String,
    },
}
