//! A call: SIP.js's `SIP.Session`, its methods, options, events and attributes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sipline_media::{
    AudioSink, AudioSource, MediaKind, MediaStats, NullSink, SilenceSource, VideoSink, VideoSource,
};
use sipline_proto::{
    Body, Cause, DtmfInfo, Method, Request, Response, SessionId, StatusCode, ToneQueue,
    TransportKind, UaCore,
};

use crate::Error;
use crate::media::{Backend, Media, MediaChoice};
use crate::ua::{InviteOptions, Ua, lock, reply};

/// Which side of the call we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Uac,
    Uas,
}

/// Where a session is, as the API sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// UAC: INVITE sent; UAS: INVITE received, unanswered.
    Initial,
    /// A provisional response went or came.
    Early,
    /// A 2xx went or came.
    Answered,
    /// Ended.
    Terminated,
}

/// Application data of a session, one value per type.
pub(crate) type DataMap = HashMap<TypeId, Box<dyn Any + Send>>;

/// What a session's handle and the dispatcher share.
pub(crate) struct Shared {
    pub(crate) role: Role,
    pub(crate) state: Mutex<State>,
    /// The INVITE; for an inbound call, the same allocation the core's session keeps.
    pub(crate) request: Mutex<Option<Arc<Request>>>,
    pub(crate) media: Mutex<Option<Media>>,
    /// The SDP offer/answer exchange completed (RFC 3264).
    pub(crate) negotiated: AtomicBool,
    /// The last SDP of each side, for the streams they describe.
    pub(crate) local_sdp: Mutex<Option<String>>,
    pub(crate) remote_sdp: Mutex<Option<String>>,
    /// Audio muted by [`Session::mute`].
    pub(crate) audio_muted: AtomicBool,
    /// Video muted by [`Session::mute`].
    pub(crate) video_muted: AtomicBool,
    pub(crate) start_time: Mutex<Option<SystemTime>>,
    pub(crate) end_time: Mutex<Option<SystemTime>>,
    /// Application data (SIP.js `data`), one value per type.
    /// Boxed when first set: most sessions have none (an empty map is 48 B).
    pub(crate) data: Mutex<Option<Box<DataMap>>>,
    /// The peer announced trickle ICE over SIP (RFC 8840 §4.1).
    pub(crate) peer_trickle: AtomicBool,
    /// Whoever waits in [`Session::renegotiate`] for the outcome of our re-INVITE.
    pub(crate) reoffer: Mutex<Option<tokio::sync::oneshot::Sender<Result<(), Error>>>>,
}

impl Shared {
    pub(crate) fn new(role: Role, media: Option<Media>) -> Self {
        Self {
            role,
            state: Mutex::new(State::Initial),
            request: Mutex::new(None),
            media: Mutex::new(media),
            negotiated: AtomicBool::new(false),
            local_sdp: Mutex::new(None),
            remote_sdp: Mutex::new(None),
            audio_muted: AtomicBool::new(false),
            video_muted: AtomicBool::new(false),
            start_time: Mutex::new(None),
            end_time: Mutex::new(None),
            data: Mutex::new(None),
            peer_trickle: AtomicBool::new(false),
            reoffer: Mutex::new(None),
        }
    }

    pub(crate) fn set_request(&self, r: impl Into<Arc<Request>>) {
        *lock(&self.request) = Some(r.into());
    }

    pub(crate) fn set_state(&self, s: State) {
        let mut st = lock(&self.state);
        if *st != State::Terminated {
            *st = s;
        }
    }

    pub(crate) fn state(&self) -> State {
        *lock(&self.state)
    }

    pub(crate) fn media(&self) -> Option<Media> {
        lock(&self.media).clone()
    }
}

/// What a [`Session`] reports, from [`Session::next_event`] (SIP.js's Session events).
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A provisional response arrived (outbound).
    Progress {
        /// The 1xx.
        response: Response,
    },
    /// Media is being set up for the answered call: inbound, when [`Session::accept`] starts;
    /// outbound, when the 2xx arrives (SIP.js fires it when ICE starts; with plain RTP there
    /// is no ICE, the media simply starts). With WebRTC media that is when ICE starts: our
    /// connectivity checks begin as the offer is answered (inbound) or the 2xx's answer is
    /// applied (outbound), just after this event; ICE and DTLS are up at
    /// [`SessionEvent::Accepted`] only if they were quick. Exceptions: with early media
    /// (a 183 with SDP) ICE starts at the 183, before this event; an ICE restart
    /// ([`Session::renegotiate`]) does not fire it again.
    Connecting,
    /// The call was answered: a 2xx arrived (outbound), or the ACK of ours (inbound).
    Accepted {
        /// The 2xx status.
        code: StatusCode,
        /// The 2xx, for an outbound session.
        response: Option<Response>,
    },
    /// A final failure response arrived (outbound); [`SessionEvent::Failed`] follows.
    Rejected {
        /// The response.
        response: Response,
        /// Its reason phrase.
        cause: String,
    },
    /// The call could not be set up.
    Failed {
        /// The final status, if a response came.
        code: Option<StatusCode>,
        /// The response, if one came.
        response: Option<Response>,
        /// Why (SIP.js `SIP.C.causes`).
        cause: Cause,
    },
    /// The caller canceled the call (inbound).
    Cancel,
    /// The peer asked us to call someone else (REFER, RFC 3515); answered 202.
    Refer {
        /// The REFER.
        request: Request,
    },
    /// How the call we asked the peer to make with [`Session::refer`] goes: the status of a
    /// NOTIFY's `message/sipfrag` (RFC 3515 §2.4.5): 100, 180, 200, or the failure.
    ReferProgress {
        /// The referred call's status.
        status: StatusCode,
        /// The NOTIFY.
        request: Request,
    },
    /// A DTMF tone, received by INFO (`request` is it) or RFC 4733 (`request` is `None`).
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        tone: char,
        /// Its duration.
        duration: Duration,
        /// The INFO that carried it.
        request: Option<Request>,
    },
    /// [`Session::mute`] took effect.
    Muted {
        /// Audio is muted.
        audio: bool,
        /// Video is muted.
        video: bool,
    },
    /// [`Session::unmute`] took effect.
    Unmuted {
        /// Audio is unmuted.
        audio: bool,
        /// Video is unmuted.
        video: bool,
    },
    /// The peer hung up (BYE received, answered 200).
    Bye {
        /// The BYE.
        request: Request,
    },
    /// The session ended; always the last event.
    Terminated {
        /// Why.
        cause: Cause,
    },
}

/// A media stream of a session (SIP.js `getLocalStreams`/`getRemoteStreams` return WebRTC
/// `MediaStream`s): the tracks one side sends, as negotiated in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStream {
    /// `local` or `remote`, and the m-line index: `local-0`.
    pub id: String,
    /// Its tracks.
    pub tracks: Vec<MediaTrack>,
}

/// A track of a [`MediaStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTrack {
    /// Audio or video.
    pub kind: MediaKind,
    /// Codec names negotiated for it (`PCMU/8000`, `telephone-event/8000`, ...).
    pub codecs: Vec<String>,
    /// Whether it carries media now: not muted (local), and sending per the SDP direction.
    pub enabled: bool,
}

/// The streams an SDP says its sender sends: one per accepted m-line that is not
/// `recvonly`/`inactive`.
/// `muted` is (audio, video).
fn streams(sdp: Option<&str>, side: &str, muted: (bool, bool)) -> Vec<MediaStream> {
    let Some(sdp) = sdp.and_then(|s| sipline_media::SessionDescription::parse(s).ok()) else {
        return Vec::new();
    };
    sdp.media
        .iter()
        .enumerate()
        .filter(|(_, m)| m.port != 0)
        .filter_map(|(i, m)| {
            let kind = match m.media.as_str() {
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                _ => return None,
            };
            let sends = sdp.direction(i).sends();
            Some(MediaStream {
                id: format!("{side}-{i}"),
                tracks: vec![MediaTrack {
                    kind,
                    codecs: m
                        .rtpmaps()
                        .map(|r| match r.params {
                            Some(channels) => {
                                format!("{}/{}/{channels}", r.encoding, r.clock_rate)
                            }
                            None => format!("{}/{}", r.encoding, r.clock_rate),
                        })
                        .collect(),
                    enabled: sends
                        && !match kind {
                            MediaKind::Audio => muted.0,
                            MediaKind::Video => muted.1,
                        },
                }],
            })
        })
        .collect()
}

/// Options of [`Session::progress`] (SIP.js `progress(options)`).
#[derive(Debug, Clone)]
pub struct ProgressOptions {
    /// 101-199; default 180.
    pub status_code: StatusCode,
    /// A reason phrase other than the canonical one.
    pub reason_phrase: Option<String>,
    /// Extra header fields.
    pub extra_headers: Vec<(String, String)>,
    /// Send it reliably (RFC 3262) if the UA's `rel100` and the INVITE allow.
    pub rel100: bool,
    /// Early media: the SDP answer goes in this response (183 Session Progress).
    pub media: bool,
    /// A body of the application's (ignored with `media`).
    pub body: Option<Body>,
}

impl Default for ProgressOptions {
    fn default() -> Self {
        Self {
            status_code: StatusCode::RINGING,
            reason_phrase: None,
            extra_headers: Vec::new(),
            rel100: false,
            media: false,
            body: None,
        }
    }
}

/// Which media a session takes (SIP.js's `media.constraints`): a kind turned off is declined
/// in the SDP answer (port 0, RFC 3264 §6) and no RTP is sent or received for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConstraints {
    /// Audio.
    pub audio: bool,
    /// Video: an offered video stream is accepted when this is set and
    /// [`AcceptOptions::video_source`] or [`AcceptOptions::video_sink`] is given, with
    /// WebRTC media (sipline's plain RTP media carries no video: there it is always
    /// declined). Video is passed through encoded (VP8, H.264), never decoded.
    pub video: bool,
}

impl Default for MediaConstraints {
    fn default() -> Self {
        Self {
            audio: true,
            video: false,
        }
    }
}

/// Options of [`Session::accept`] (SIP.js `accept(options)`): the media to play and record.
pub struct AcceptOptions {
    /// Extra header fields for the 2xx.
    pub extra_headers: Vec<(String, String)>,
    /// The media to take; with `audio: false` the call is signalling only (no RTP task at
    /// all, e.g. for load tests).
    pub media: MediaConstraints,
    /// What we send (default: silence).
    pub audio_source: Box<dyn AudioSource>,
    /// Where what we hear goes (default: nowhere).
    pub audio_sink: Box<dyn AudioSink>,
    /// Encoded video to send (VP8 or H.264 frames, e.g. from
    /// [`sipline_media::open_video_source`]); default none. Used only with
    /// [`MediaConstraints::video`].
    pub video_source: Option<Box<dyn VideoSource>>,
    /// Where received encoded video frames go (e.g. an IVF recorder); default none. Used
    /// only with [`MediaConstraints::video`]. The video m-line is answered `sendrecv`,
    /// `sendonly` or `recvonly` per which of the two are given (within the offer).
    pub video_sink: Option<Box<dyn VideoSink>>,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        Self {
            extra_headers: Vec::new(),
            media: MediaConstraints::default(),
            audio_source: Box::new(SilenceSource::new(8000)),
            audio_sink: Box::new(NullSink::new(8000)),
            video_source: None,
            video_sink: None,
        }
    }
}

impl std::fmt::Debug for AcceptOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptOptions")
            .field("extra_headers", &self.extra_headers)
            .field("media", &self.media)
            .field("video_source", &self.video_source.is_some())
            .field("video_sink", &self.video_sink.is_some())
            .finish_non_exhaustive()
    }
}

/// Options of [`Session::reject`] (SIP.js `reject(options)`).
#[derive(Debug, Clone)]
pub struct RejectOptions {
    /// 300-699; default 480.
    pub status_code: StatusCode,
    /// A reason phrase other than the canonical one.
    pub reason_phrase: Option<String>,
    /// Extra header fields.
    pub extra_headers: Vec<(String, String)>,
    /// A body (e.g. an explanation page).
    pub body: Option<Body>,
}

impl Default for RejectOptions {
    fn default() -> Self {
        Self {
            status_code: StatusCode::TEMPORARILY_UNAVAILABLE,
            reason_phrase: None,
            extra_headers: Vec::new(),
            body: None,
        }
    }
}

/// Options of [`Session::reply`] (SIP.js ServerContext `reply(options)`).
#[derive(Debug, Clone)]
pub struct ReplyOptions {
    /// The status to send; required (no default in SIP.js either).
    pub status_code: StatusCode,
    /// A reason phrase other than the canonical one.
    pub reason_phrase: Option<String>,
    /// Extra header fields.
    pub extra_headers: Vec<(String, String)>,
    /// A body (for 1xx and 3xx-6xx; a 2xx carries the SDP answer).
    pub body: Option<Body>,
}

impl ReplyOptions {
    /// A reply with this status and nothing else.
    pub fn status(status_code: StatusCode) -> Self {
        Self {
            status_code,
            reason_phrase: None,
            extra_headers: Vec::new(),
            body: None,
        }
    }
}

/// Options of [`Session::cancel`] (SIP.js ClientContext `cancel(options)`): a status code
/// and reason go into a Reason header of the CANCEL (RFC 3326).
#[derive(Debug, Clone, Default)]
pub struct CancelOptions {
    /// The status code for the Reason header.
    pub status_code: Option<StatusCode>,
    /// The reason text.
    pub reason_phrase: Option<String>,
    /// Extra header fields.
    pub extra_headers: Vec<(String, String)>,
}

/// Options of [`Session::bye`] (SIP.js `bye(options)`): a status code and reason go into a
/// Reason header (RFC 3326).
#[derive(Debug, Clone, Default)]
pub struct ByeOptions {
    /// The status code for the Reason header.
    pub status_code: Option<StatusCode>,
    /// The reason text.
    pub reason_phrase: Option<String>,
    /// Extra header fields.
    pub extra_headers: Vec<(String, String)>,
    /// A body, with its Content-Type.
    pub body: Option<Body>,
}

/// `Reason: SIP;cause=<code>;text="<phrase>"` (RFC 3326) for a BYE or CANCEL; SIP.js
/// accepts codes 200-699 only (a TypeError otherwise).
fn reason_header(code: StatusCode, phrase: Option<String>) -> Result<String, Error> {
    if !(200..700).contains(&code.as_u16()) {
        return Err(Error::InvalidArgument(format!(
            "status code must be 200-699, not {}",
            code.as_u16()
        )));
    }
    let text = phrase
        .unwrap_or_else(|| code.canonical_reason().to_owned())
        .replace(['"', '\\', '\r', '\n'], "");
    Ok(format!("SIP;cause={};text=\"{text}\"", code.as_u16()))
}

/// How [`Session::dtmf`] sends tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfTransport {
    /// SIP INFO with `application/dtmf-relay` (SIP.js's way).
    #[default]
    Info,
    /// RFC 4733 telephone-event packets in the RTP stream.
    Rtp,
}

/// Options of [`Session::dtmf`] (SIP.js `dtmf(tone, options)`).
#[derive(Debug, Clone)]
pub struct DtmfOptions {
    /// Tone duration: default 100 ms, clamped to 70-6000 ms.
    pub duration: Duration,
    /// Gap between tones: default 500 ms, at least 50 ms.
    pub inter_tone_gap: Duration,
    /// Extra header fields for each INFO.
    pub extra_headers: Vec<(String, String)>,
    /// INFO or RFC 4733.
    pub transport: DtmfTransport,
}

impl Default for DtmfOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(100),
            inter_tone_gap: Duration::from_millis(500),
            extra_headers: Vec::new(),
            transport: DtmfTransport::Info,
        }
    }
}

/// Options of [`Session::mute`] and [`Session::unmute`].
#[derive(Debug, Clone, Copy)]
pub struct MuteOptions {
    /// Mute (unmute) audio.
    pub audio: bool,
    /// Mute (unmute) video.
    pub video: bool,
}

impl Default for MuteOptions {
    fn default() -> Self {
        Self {
            audio: true,
            video: true,
        }
    }
}

/// Options of [`Session::renegotiate`].
#[derive(Debug, Clone, Default)]
pub struct RenegotiateOptions {
    /// Restart ICE (RFC 8445 §9): the re-offer carries new `ice-ufrag`/`ice-pwd` (RFC 8839
    /// §4.4.1.1.1) and connectivity checks start over, e.g. after a network change (SIP.js
    /// `sessionDescriptionHandlerOptions.iceRestart`). Plain RTP media has no ICE: it makes a
    /// plain re-offer.
    pub ice_restart: bool,
    /// Extra header fields for the re-INVITE.
    pub extra_headers: Vec<(String, String)>,
}

/// Options of [`Session::refer`].
#[derive(Debug, Clone, Default)]
pub struct ReferOptions {
    /// Extra header fields for the REFER.
    pub extra_headers: Vec<(String, String)>,
}

/// A call (SIP.js `SIP.Session`). Events come from [`Session::next_event`]; an incoming
/// session dropped unanswered is rejected with 480.
pub struct Session {
    ua: Ua,
    id: SessionId,
    shared: Arc<Shared>,
    events: crate::queue::Rx<SessionEvent>,
    own: crate::queue::Tx<SessionEvent>,
    done: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("role", &self.shared.role)
            .field("state", &self.shared.state())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        ua: Ua,
        id: SessionId,
        shared: Arc<Shared>,
        events: crate::queue::Rx<SessionEvent>,
        own: crate::queue::Tx<SessionEvent>,
    ) -> Self {
        Self {
            ua,
            id,
            shared,
            events,
            own,
            done: false,
        }
    }

    /// The next event; `None` after [`SessionEvent::Terminated`].
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        if self.done {
            return None;
        }
        let e = self.events.recv().await;
        if matches!(e, Some(SessionEvent::Terminated { .. }) | None) {
            self.done = true;
        }
        e
    }

    // ---- attributes --------------------------------------------------------------------

    /// The user agent (SIP.js `ua`).
    pub fn ua(&self) -> &Ua {
        &self.ua
    }

    /// The core's id for this session.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Always INVITE (SIP.js `method`).
    pub fn method(&self) -> Method {
        Method::Invite
    }

    /// The INVITE, sent or received (SIP.js `request`).
    pub fn request(&self) -> Option<Request> {
        lock(&self.shared.request).as_deref().cloned()
    }

    /// Our identity: the From of our INVITE, the To of theirs (SIP.js `localIdentity`).
    pub fn local_identity(&self) -> Option<String> {
        let r = self.request()?;
        let h = match self.shared.role {
            Role::Uac => r.headers.from().ok()?,
            Role::Uas => r.headers.to().ok()?,
        };
        Some(h.uri.as_str().to_owned())
    }

    /// The peer's identity (SIP.js `remoteIdentity`).
    pub fn remote_identity(&self) -> Option<String> {
        let r = self.request()?;
        let h = match self.shared.role {
            Role::Uac => r.headers.to().ok()?,
            Role::Uas => r.headers.from().ok()?,
        };
        Some(h.uri.as_str().to_owned())
    }

    /// When the call was answered (SIP.js `startTime`).
    pub fn start_time(&self) -> Option<SystemTime> {
        *lock(&self.shared.start_time)
    }

    /// When it ended (SIP.js `endTime`).
    pub fn end_time(&self) -> Option<SystemTime> {
        *lock(&self.shared.end_time)
    }

    /// Stores application data on the session (SIP.js `data`): one value per type, replacing
    /// any earlier value of that type.
    pub fn set_data<T: Any + Send>(&self, value: T) {
        lock(&self.shared.data)
            .get_or_insert_with(Box::default)
            .insert(TypeId::of::<T>(), Box::new(value));
    }

    /// A copy of the application data of type `T`, if set (SIP.js `data`).
    pub fn data<T: Any + Send + Clone>(&self) -> Option<T> {
        lock(&self.shared.data)
            .as_ref()?
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .cloned()
    }

    /// What we send (SIP.js `getLocalStreams`): from our last SDP, an audio and (when video
    /// was negotiated) a video track with their codecs; a muted track is not enabled. Empty
    /// before the offer/answer or when the call took no media.
    pub fn local_streams(&self) -> Vec<MediaStream> {
        let sdp = lock(&self.shared.local_sdp).clone();
        let muted = (
            self.shared.audio_muted.load(Ordering::Relaxed),
            self.shared.video_muted.load(Ordering::Relaxed),
        );
        streams(sdp.as_deref(), "local", muted)
    }

    /// What the peer sends (SIP.js `getRemoteStreams`): from its last SDP.
    pub fn remote_streams(&self) -> Vec<MediaStream> {
        let mut sdp = lock(&self.shared.remote_sdp).clone();
        // A call accepted without media keeps the offer only in its INVITE (declined_answer).
        if sdp.is_none()
            && self.shared.role == Role::Uas
            && self.shared.negotiated.load(Ordering::Relaxed)
        {
            sdp = self
                .request()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned());
        }
        streams(sdp.as_deref(), "remote", (false, false))
    }

    /// Our last SDP (offer or answer, RFC 3264), as sent; `None` before there is one.
    pub fn local_description(&self) -> Option<String> {
        lock(&self.shared.local_sdp).clone()
    }

    /// The peer's last SDP (offer or answer, RFC 3264) we applied; `None` before.
    pub fn remote_description(&self) -> Option<String> {
        lock(&self.shared.remote_sdp).clone()
    }

    /// RTP statistics of the call, if media started.
    pub async fn stats(&self) -> Option<MediaStats> {
        self.shared.media()?.stats().await.ok()
    }

    // ---- inbound -----------------------------------------------------------------------

    fn require_inbound(&self) -> Result<(), Error> {
        if self.shared.role != Role::Uas {
            return Err(Error::InvalidState(
                "only an incoming session can be answered".into(),
            ));
        }
        match self.shared.state() {
            State::Initial | State::Early => Ok(()),
            _ => Err(Error::InvalidState(
                "the session is already answered or ended".into(),
            )),
        }
    }

    /// Creates the media (if not yet) and answers the INVITE's offer, or makes an offer if
    /// the INVITE had none.
    async fn local_sdp(
        &self,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
        video: crate::media::VideoIo,
    ) -> Result<String, Error> {
        let media = match self.shared.media() {
            Some(m) => m,
            None => {
                let trickle = self.ua.shared.trickle_ice
                    && self
                        .request()
                        .is_some_and(|r| crate::trickle::peer_supports(&r.headers));
                self.shared.peer_trickle.store(trickle, Ordering::Relaxed);
                let (tx, rx) = crate::queue::queue();
                let m = Media::start(
                    self.backend(),
                    self.ua.shared.media_ip,
                    crate::media::IceOptions {
                        stun: self.ua.shared.stun_server,
                        trickle,
                        turn: self.ua.shared.turn_servers.clone(),
                        relay_only: self.ua.shared.relay_only,
                    },
                    self.ua.shared.next_seed(),
                    (source, sink),
                    video,
                    tx,
                )
                .await?;
                let target = self.ua.shared.trickle_ice.then(|| crate::trickle::Target {
                    ua: Arc::downgrade(&self.ua.shared),
                    session: self.id,
                    shared: Arc::downgrade(&self.shared),
                    full: false,
                });
                crate::dispatch::forward_media_events(rx, self.own.clone(), target);
                *lock(&self.shared.media) = Some(m.clone());
                m
            }
        };
        let offer = self.request().map(|r| r.body).filter(|b| !b.is_empty());
        match offer {
            Some(o) if !self.shared.negotiated.load(Ordering::Relaxed) => {
                let offer = String::from_utf8_lossy(&o).into_owned();
                let answer = media.accept_offer(offer.clone()).await?;
                self.shared.negotiated.store(true, Ordering::Relaxed);
                *lock(&self.shared.remote_sdp) = Some(offer);
                *lock(&self.shared.local_sdp) = Some(answer.clone());
                Ok(answer)
            }
            Some(_) => media.create_offer().await,
            None => media.create_offer().await,
        }
    }

    /// The media implementation for this incoming call: what the INVITE's offer asks for, or
    /// without an offer what [`MediaChoice::Auto`] picks for the transport it came over.
    fn backend(&self) -> Backend {
        let Some(request) = self.request() else {
            return Backend::Rtp;
        };
        if !request.body.is_empty() {
            return Backend::for_offer(&request.body);
        }
        let transport = request
            .top_via()
            .ok()
            .and_then(|v| TransportKind::from_via(v.transport))
            .unwrap_or(TransportKind::Udp);
        Backend::for_choice(MediaChoice::Auto, transport)
    }

    /// An SDP answer declining every offered stream (RFC 3264 §6: port 0), for a call
    /// accepted without media.
    fn declined_answer(&self) -> Result<String, Error> {
        let offer = self
            .request()
            .map(|r| r.body)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                Error::InvalidState("no offer to decline: the INVITE carried no SDP".into())
            })?;
        let mut sdp = sipline_media::SessionDescription::parse_bytes(&offer)
            .map_err(|e| Error::Media(format!("the offer: {e}")))?;
        sdp.origin.username = "sipline".into();
        sdp.origin.address = self.ua.shared.media_ip.to_string();
        sdp.origin.addr_type = sipline_media::sdp::AddrType::of(self.ua.shared.media_ip);
        sdp.connection = None;
        sdp.attributes.clear();
        sdp.media = sdp
            .media
            .iter()
            .map(sipline_media::offer_answer::rejected)
            .collect();
        self.shared.negotiated.store(true, Ordering::Relaxed);
        // Neither SDP is copied into the session (~250 B a call under load): the streams of
        // an answer declining every stream are none, and remote_streams() reads the offer
        // from the INVITE.
        Ok(sdp.to_string())
    }

    /// Sends a provisional response (SIP.js `progress`); with `media`, the SDP answer goes
    /// in it (early media) and the early media plays silence (see
    /// [`Session::progress_with_audio`] to play something).
    pub async fn progress(&self, opts: ProgressOptions) -> Result<(), Error> {
        self.progress_with_audio(
            opts,
            Box::new(SilenceSource::new(8000)),
            Box::new(NullSink::new(8000)),
        )
        .await
    }

    /// [`Session::progress`] whose early media (with [`ProgressOptions::media`]: the SDP
    /// answer in a 18x, RFC 3262 reliable with `rel100`, the early-session model of RFC 3960
    /// §3) plays `source` and records what the caller sends into `sink`, e.g. a ringback
    /// tone or an announcement. [`Session::accept`] later replaces both by its own. Without
    /// `media` (or when the media exists already) `source` and `sink` are unused.
    pub async fn progress_with_audio(
        &self,
        opts: ProgressOptions,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<(), Error> {
        self.require_inbound()?;
        let body = if opts.media {
            Some(Body::sdp(
                // Early media is audio only: video given to a later accept is not added.
                self.local_sdp(source, sink, crate::media::VideoIo::default())
                    .await?,
            ))
        } else {
            opts.body
        };
        let id = self.id;
        let p = reply(
            opts.status_code,
            opts.reason_phrase,
            opts.extra_headers,
            body,
            opts.rel100,
        );
        self.ua
            .core(move |c: &mut UaCore, now| c.progress(now, id, p))
            .await?;
        self.shared.set_state(State::Early);
        Ok(())
    }

    /// Answers the call (SIP.js `accept`): 200 with the SDP answer; media starts.
    pub async fn accept(&self, opts: AcceptOptions) -> Result<(), Error> {
        self.require_inbound()?;
        let _ = self.own.send(SessionEvent::Connecting);
        let video = if opts.media.video {
            crate::media::VideoIo {
                source: opts.video_source,
                sink: opts.video_sink,
            }
        } else {
            crate::media::VideoIo::default()
        };
        let sdp = if opts.media.audio {
            match self.shared.media() {
                // Early media runs (RFC 3960 §3): the answer's audio replaces its own.
                Some(media) => {
                    media.set_audio(opts.audio_source, opts.audio_sink).await?;
                    self.local_sdp(
                        Box::new(SilenceSource::new(8000)),
                        Box::new(NullSink::new(8000)),
                        video,
                    )
                    .await?
                }
                None => {
                    self.local_sdp(opts.audio_source, opts.audio_sink, video)
                        .await?
                }
            }
        } else {
            self.declined_answer()?
        };
        let id = self.id;
        let mut headers = opts.extra_headers;
        if self.ua.shared.trickle_ice {
            headers.extend(crate::trickle::announce());
        }
        let p = reply(StatusCode::OK, None, headers, Some(Body::sdp(sdp)), false);
        self.ua
            .core(move |c: &mut UaCore, now| c.accept(now, id, p))
            .await?;
        self.shared.set_state(State::Answered);
        Ok(())
    }

    /// Declines the call (SIP.js `reject`), 480 by default.
    pub async fn reject(&self, opts: RejectOptions) -> Result<(), Error> {
        self.require_inbound()?;
        let id = self.id;
        let p = reply(
            opts.status_code,
            opts.reason_phrase,
            opts.extra_headers,
            None,
            false,
        );
        self.ua
            .core(move |c: &mut UaCore, now| c.reject(now, id, p))
            .await?;
        self.shared.set_state(State::Terminated);
        Ok(())
    }

    /// Sends any response to the INVITE (SIP.js `reply`): 1xx as [`Session::progress`], 2xx
    /// as [`Session::accept`] (with silence), else as [`Session::reject`].
    pub async fn reply(&self, opts: ReplyOptions) -> Result<(), Error> {
        let ReplyOptions {
            status_code,
            reason_phrase,
            extra_headers,
            body,
        } = opts;
        match status_code.as_u16() {
            101..=199 => {
                self.progress(ProgressOptions {
                    status_code,
                    reason_phrase,
                    extra_headers,
                    body,
                    ..ProgressOptions::default()
                })
                .await
            }
            200..=299 => {
                self.accept(AcceptOptions {
                    extra_headers,
                    ..AcceptOptions::default()
                })
                .await
            }
            300..=699 => {
                self.reject(RejectOptions {
                    status_code,
                    reason_phrase,
                    extra_headers,
                    body,
                })
                .await
            }
            other => Err(Error::InvalidArgument(format!(
                "reply needs a status in 101..=699, not {other}"
            ))),
        }
    }

    // ---- outbound ----------------------------------------------------------------------

    /// Cancels an outgoing call not yet answered (SIP.js `cancel`); a status code and
    /// reason go into a Reason header (RFC 3326).
    pub async fn cancel(&self, opts: CancelOptions) -> Result<(), Error> {
        if self.shared.role != Role::Uac {
            return Err(Error::InvalidState(
                "only an outgoing session can be canceled".into(),
            ));
        }
        let mut headers = opts.extra_headers;
        if let Some(code) = opts.status_code {
            headers.push(("Reason".into(), reason_header(code, opts.reason_phrase)?));
        }
        let id = self.id;
        self.ua
            .core(move |c: &mut UaCore, now| c.cancel_with(now, id, &headers))
            .await
    }

    // ---- both --------------------------------------------------------------------------

    /// Hangs up an established call (SIP.js `bye`).
    pub async fn bye(&self, opts: ByeOptions) -> Result<(), Error> {
        let mut headers = opts.extra_headers;
        if let Some(code) = opts.status_code {
            headers.push(("Reason".into(), reason_header(code, opts.reason_phrase)?));
        }
        let id = self.id;
        let body = opts.body;
        self.ua
            .core(move |c: &mut UaCore, now| c.bye_with_body(now, id, &headers, body))
            .await
    }

    /// Ends the call whatever its state (SIP.js `terminate`): cancel, reject or bye.
    pub async fn terminate(&self) -> Result<(), Error> {
        match (self.shared.role, self.shared.state()) {
            (_, State::Terminated) => Ok(()),
            (Role::Uac, State::Initial | State::Early) => {
                self.cancel(CancelOptions::default()).await
            }
            (Role::Uas, State::Initial | State::Early) => {
                self.reject(RejectOptions::default()).await
            }
            (_, State::Answered) => self.bye(ByeOptions::default()).await,
        }
    }

    /// Sends DTMF tones one after another (SIP.js `dtmf`): `tones` holds `0-9 * # A-D`
    /// (and `,` for a 2 s pause); by INFO (default) or RFC 4733.
    pub async fn dtmf(&self, tones: &str, opts: DtmfOptions) -> Result<(), Error> {
        if self.shared.state() != State::Answered {
            return Err(Error::InvalidState("DTMF needs an established call".into()));
        }
        let mut queue = ToneQueue::new();
        let start = std::time::Instant::now();
        queue
            .dtmf(start, tones, Some(opts.duration), Some(opts.inter_tone_gap))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        loop {
            let now = std::time::Instant::now();
            if let Some((tone, duration)) = queue.next_tone(now) {
                match opts.transport {
                    DtmfTransport::Info => {
                        let body = DtmfInfo::new(tone, duration).to_body();
                        self.ua
                            .request_in_dialog(
                                self.id,
                                Method::Info,
                                opts.extra_headers.clone(),
                                Some(body),
                            )
                            .await?;
                    }
                    DtmfTransport::Rtp => {
                        let media = self
                            .shared
                            .media()
                            .ok_or_else(|| Error::InvalidState("no media".into()))?;
                        let t = sipline_media::DtmfTone::from_char(tone.as_char())
                            .ok_or_else(|| Error::InvalidArgument(format!("tone {tone:?}")))?;
                        media.dtmf(t, duration).await?;
                    }
                }
                continue;
            }
            match queue.next_deadline() {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => return Ok(()),
            }
        }
    }

    /// Mutes our audio (SIP.js `mute`); emits [`SessionEvent::Muted`].
    pub async fn mute(&self, opts: MuteOptions) -> Result<(), Error> {
        self.set_muted(opts, true).await
    }

    /// Unmutes (SIP.js `unmute`); emits [`SessionEvent::Unmuted`].
    pub async fn unmute(&self, opts: MuteOptions) -> Result<(), Error> {
        self.set_muted(opts, false).await
    }

    async fn set_muted(&self, opts: MuteOptions, muted: bool) -> Result<(), Error> {
        let media = self
            .shared
            .media()
            .ok_or_else(|| Error::InvalidState("the call has no media yet".into()))?;
        if opts.audio {
            media.mute(MediaKind::Audio, muted).await?;
            self.shared.audio_muted.store(muted, Ordering::Relaxed);
        }
        if opts.video {
            media.mute(MediaKind::Video, muted).await?;
            self.shared.video_muted.store(muted, Ordering::Relaxed);
        }
        let e = if muted {
            SessionEvent::Muted {
                audio: opts.audio,
                video: opts.video,
            }
        } else {
            SessionEvent::Unmuted {
                audio: opts.audio,
                video: opts.video,
            }
        };
        let _ = self.own.send(e);
        Ok(())
    }

    /// Renegotiates the media (SIP.js `invite()` on an established session): sends a
    /// re-INVITE (RFC 3261 §14.1) with a fresh offer (RFC 3264 §8), with
    /// [`RenegotiateOptions::ice_restart`] one that restarts ICE (RFC 8445 §9). Resolves once
    /// the 2xx has arrived and its answer is applied; media keeps flowing meanwhile.
    ///
    /// # Errors
    /// - [`Error::Rejected`] with the status when the peer refuses the re-INVITE; the call
    ///   goes on as before (our offer is withdrawn). A **491 Request Pending** (both sides
    ///   re-INVITEd at once, glare) is reported this way and not retried: call again after
    ///   the wait RFC 3261 §14.1 suggests (2.1-4 s for the caller of the dialog, 0-2 s for
    ///   the callee). A 481 or 408 also ends the call (§14.1).
    /// - [`Error::InvalidState`] when the call is not established, or another INVITE
    ///   transaction (ours or the peer's) is in progress: retry later as for a 491.
    /// - [`Error::Media`] when the offer cannot be made or the answer is unusable.
    /// - [`Error::Closed`] when the call ends meanwhile.
    pub async fn renegotiate(&self, opts: RenegotiateOptions) -> Result<(), Error> {
        if self.shared.state() != State::Answered {
            return Err(Error::InvalidState(
                "renegotiation needs an established call".into(),
            ));
        }
        let media = self
            .shared
            .media()
            .ok_or_else(|| Error::InvalidState("the call has no media to renegotiate".into()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut waiter = lock(&self.shared.reoffer);
            if waiter.is_some() {
                return Err(Error::InvalidState(
                    "a renegotiation is already in progress".into(),
                ));
            }
            *waiter = Some(tx);
        }
        let offer = if opts.ice_restart {
            media.create_restart_offer().await
        } else {
            media.create_offer().await
        };
        let offer = match offer {
            Ok(o) => o,
            Err(e) => {
                lock(&self.shared.reoffer).take();
                return Err(e);
            }
        };
        let id = self.id;
        let headers = opts.extra_headers;
        let body = Body::sdp(offer.clone());
        let sent = self
            .ua
            .core(move |c: &mut UaCore, now| c.reinvite_once(now, id, Some(body), &headers))
            .await;
        if let Err(e) = sent {
            lock(&self.shared.reoffer).take();
            let _ = media.cancel_offer().await;
            return Err(e);
        }
        // The dispatcher applies the answer (or withdraws the offer) and wakes us.
        rx.await.map_err(|_| Error::Closed)??;
        *lock(&self.shared.local_sdp) = Some(offer);
        Ok(())
    }

    /// Asks the peer to call `target` (SIP.js `refer`, blind transfer, RFC 3515); resolves
    /// when the REFER is accepted (202).
    pub async fn refer(&self, target: &str, opts: ReferOptions) -> Result<(), Error> {
        if self.shared.state() != State::Answered {
            return Err(Error::InvalidState(
                "REFER needs an established call".into(),
            ));
        }
        let uri = sipline_proto::Uri::parse(target.trim_start_matches('<').trim_end_matches('>'))
            .map_err(|e| Error::InvalidArgument(format!("refer target {target}: {e}")))?;
        let mut headers = opts.extra_headers;
        headers.push(("Refer-To".into(), format!("<{}>", uri.as_str())));
        headers.push(("Referred-By".into(), self.ua.identity().to_owned()));
        self.ua
            .request_in_dialog(self.id, Method::Refer, headers, None)
            .await
            .map(drop)
    }
}

impl Session {
    /// Follows a REFER received in this session (SIP.js `followRefer`, RFC 3515): calls its
    /// Refer-To target and reports that call's progress to the referrer in NOTIFYs (100
    /// now, then the 18x, 200 or failure). Returns the new session.
    pub async fn follow_refer(
        &self,
        refer: &Request,
        opts: InviteOptions,
    ) -> Result<Session, Error> {
        if refer.method != Method::Refer {
            return Err(Error::InvalidArgument(
                "follow_refer takes the REFER request".into(),
            ));
        }
        let to = sipline_proto::ReferTo::from_request(refer)
            .map_err(|e| Error::InvalidArgument(format!("Refer-To: {e}")))?;
        // RFC 3515 §2.4.4: the first NOTIFY says the REFER is being acted on.
        let n = sipline_proto::ReferNotify::for_status(StatusCode::TRYING, None, 60);
        let headers = n
            .headers()
            .into_iter()
            .map(|(h, v)| (h.as_str().to_owned(), v))
            .collect();
        self.ua
            .request_in_dialog(self.id, Method::Notify, headers, Some(n.body()))
            .await?;
        self.ua
            .invite_notifying(to.uri.as_str(), opts, Some(self.id))
            .await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // An incoming call nobody answered is declined, never left ringing.
        if self.shared.role == Role::Uas
            && matches!(self.shared.state(), State::Initial | State::Early)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let handle = self.ua.shared.handle.clone();
            let id = self.id;
            rt.spawn(async move {
                let _ = handle
                    .with_nowait(move |c: &mut UaCore, now| {
                        let p = reply(
                            StatusCode::TEMPORARILY_UNAVAILABLE,
                            None,
                            Vec::new(),
                            None,
                            false,
                        );
                        let _ = c.reject(now, id, p);
                    })
                    .await;
            });
        }
    }
}
