//! The media task of a session: owns the media socket (for plain RTP also the RTCP socket
//! at the next port when it can be bound, RFC 3550 §11; WebRTC bundles everything on one
//! socket, RFC 8843, RFC 5761) and a [`MediaSession`] (sans-IO); feeds it datagrams and
//! instants, sends what it asks from the socket each [`sipline_media::Transmit`] names, and
//! carries out the session's media commands (offer/answer, mute, RFC 4733 DTMF, stats).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use sipline_media::{
    AudioSink, AudioSource, DtmfTone, MediaEvent, MediaInput, MediaKind, MediaOutput, MediaSession,
    MediaStats, RtpConfig, RtpMedia, SessionDescription, VideoSink, VideoSource, WebRtcConfig,
    WebRtcMedia,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::Error;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Which media a call uses (the issue's `media: webrtc | rtp | auto`).
///
/// Browsers (SIP.js, JsSIP) only speak WebRTC media: ICE, DTLS-SRTP, usually Opus
/// (`UDP/TLS/RTP/SAVPF`, RFC 8829). Classic SIP phones and servers speak plain RTP/AVP
/// (G.711). An incoming call always gets the kind its offer asks for; this chooses what our
/// own offers carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MediaChoice {
    /// WebRTC when the call goes over WebSocket (`transport=ws`/`wss`: browsers sit behind
    /// WebSocket connections, RFC 7118), plain RTP otherwise.
    #[default]
    Auto,
    /// Plain RTP/AVP: G.711, RFC 4733 events (RFC 3550, RFC 3551).
    Rtp,
    /// WebRTC: ICE, DTLS-SRTP, Opus, G.711 and RFC 4733 events, BUNDLE and rtcp-mux.
    WebRtc,
}

/// The media implementation a session runs, once [`MediaChoice::Auto`] is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Rtp,
    WebRtc,
}

impl Backend {
    /// What answers `offer`: WebRTC for a secure/WebRTC profile (RFC 8829), RTP otherwise
    /// (an unparsable offer goes to RTP, whose error then says what is wrong).
    pub(crate) fn for_offer(offer: &[u8]) -> Backend {
        match SessionDescription::parse_bytes(offer) {
            Ok(sdp) if sipline_media::is_webrtc(&sdp) => Backend::WebRtc,
            _ => Backend::Rtp,
        }
    }

    /// What our offer carries for `choice` on a call over `transport`.
    pub(crate) fn for_choice(choice: MediaChoice, transport: sipline_proto::TransportKind) -> Self {
        use sipline_proto::TransportKind as T;
        match choice {
            MediaChoice::Rtp => Backend::Rtp,
            MediaChoice::WebRtc => Backend::WebRtc,
            MediaChoice::Auto if matches!(transport, T::Ws | T::Wss) => Backend::WebRtc,
            MediaChoice::Auto => Backend::Rtp,
        }
    }
}

/// The encoded video of a call (passthrough, no codec): what we send and where what we
/// receive goes. Only WebRTC media carries video; plain RTP answers video m-lines rejected
/// and drops these.
#[derive(Default)]
pub(crate) struct VideoIo {
    pub(crate) source: Option<Box<dyn VideoSource>>,
    pub(crate) sink: Option<Box<dyn VideoSink>>,
}

/// ICE candidate gathering of WebRTC media.
#[derive(Debug, Clone, Default)]
pub(crate) struct IceOptions {
    /// A STUN server to ask for a server-reflexive candidate (RFC 8445 §5.1.1.2).
    pub(crate) stun: Option<SocketAddr>,
    /// TURN servers to allocate relayed candidates on (RFC 8656).
    pub(crate) turn: Vec<sipline_media::TurnServer>,
    /// Relayed candidates only (JSEP's `iceTransportPolicy: "relay"`).
    pub(crate) relay_only: bool,
    /// Our SDP does not wait for it: it is trickled (RFC 8840).
    pub(crate) trickle: bool,
}

/// What a session asks of its media task.
pub(crate) enum MediaCommand {
    CreateOffer(Reply<String>),
    CreateRestartOffer(Reply<String>),
    CancelOffer,
    AddRemoteCandidates(String, Reply<()>),
    AcceptOffer(String, Reply<String>),
    AcceptAnswer(String, Reply<()>),
    Mute(MediaKind, bool),
    SetAudio(Box<dyn AudioSource>, Box<dyn AudioSink>, Reply<()>),
    Dtmf(DtmfTone, Duration, Reply<()>),
    Stats(oneshot::Sender<MediaStats>),
}

/// A handle on a session's media task; the task stops when every handle is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Media {
    cmd: mpsc::Sender<MediaCommand>,
}

impl Media {
    /// Binds the media socket on `ip` (any port) and starts the task with a `backend`
    /// session playing `source` and recording into `sink` (and for WebRTC, `video`); media
    /// events go to `events`. WebRTC media gathers candidates as `ice` says.
    ///
    /// Plain RTP also binds an RTCP socket on the next port if it is free (best effort:
    /// without it RTCP leaves from the RTP socket and only rtcp-mux, RFC 5761, is received).
    pub(crate) async fn start(
        backend: Backend,
        ip: IpAddr,
        ice: IceOptions,
        seed: u64,
        (source, sink): (Box<dyn AudioSource>, Box<dyn AudioSink>),
        video: VideoIo,
        events: crate::queue::Tx<MediaEvent>,
    ) -> Result<Media, Error> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| Error::Media(format!("binding the media socket on {ip}: {e}")))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::Media(format!("media socket address: {e}")))?;
        let (cmd, rx) = mpsc::channel(16);
        if backend == Backend::WebRtc {
            let mut cfg = WebRtcConfig::new(local, seed);
            cfg.stun_server = ice.stun;
            cfg.turn_servers = ice.turn;
            cfg.relay_only = ice.relay_only;
            if ice.trickle {
                cfg.gather_timeout = Duration::ZERO;
            }
            let media = WebRtcMedia::new(cfg)
                .with_audio(source, sink)
                .map_err(media_err)?
                .with_video(video.source, video.sink);
            tokio::spawn(run(Box::new(media), socket, None, rx, events));
            return Ok(Media { cmd });
        }
        let rtcp = match local.port().checked_add(1) {
            Some(port) => UdpSocket::bind(SocketAddr::new(local.ip(), port))
                .await
                .ok(),
            None => None,
        };
        let rtcp = rtcp.and_then(|s| Some((s.local_addr().ok()?, s)));
        let mut cfg = RtpConfig::new(local, seed);
        cfg.rtcp_addr = rtcp.as_ref().map(|(addr, _)| *addr);
        cfg.ntp_base = SystemTime::now();
        let media = RtpMedia::new(cfg)
            .with_audio(source, sink)
            .map_err(media_err)?;
        tokio::spawn(run(Box::new(media), socket, rtcp, rx, events));
        Ok(Media { cmd })
    }

    async fn ask<T>(&self, f: impl FnOnce(Reply<T>) -> MediaCommand) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(f(tx)).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    pub(crate) async fn create_offer(&self) -> Result<String, Error> {
        self.ask(MediaCommand::CreateOffer).await
    }

    /// A re-offer that restarts ICE (RFC 8445 §9); a plain re-offer for RTP media.
    pub(crate) async fn create_restart_offer(&self) -> Result<String, Error> {
        self.ask(MediaCommand::CreateRestartOffer).await
    }

    /// Forgets our pending offer (the re-INVITE carrying it failed, RFC 3261 §14.1).
    pub(crate) async fn cancel_offer(&self) -> Result<(), Error> {
        self.cmd
            .send(MediaCommand::CancelOffer)
            .await
            .map_err(|_| Error::Closed)
    }

    /// The peer's trickled candidates (RFC 8840 §9 sdpfrag).
    pub(crate) async fn add_remote_candidates(&self, sdpfrag: String) -> Result<(), Error> {
        self.ask(|r| MediaCommand::AddRemoteCandidates(sdpfrag, r))
            .await
    }

    pub(crate) async fn accept_offer(&self, offer: String) -> Result<String, Error> {
        self.ask(|r| MediaCommand::AcceptOffer(offer, r)).await
    }

    pub(crate) async fn accept_answer(&self, answer: String) -> Result<(), Error> {
        self.ask(|r| MediaCommand::AcceptAnswer(answer, r)).await
    }

    pub(crate) async fn mute(&self, kind: MediaKind, muted: bool) -> Result<(), Error> {
        self.cmd
            .send(MediaCommand::Mute(kind, muted))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Replaces what the call plays and where what it hears goes (the early media's by the
    /// answer's, RFC 3960 §3).
    pub(crate) async fn set_audio(
        &self,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
    ) -> Result<(), Error> {
        self.ask(|r| MediaCommand::SetAudio(source, sink, r)).await
    }

    pub(crate) async fn dtmf(&self, tone: DtmfTone, duration: Duration) -> Result<(), Error> {
        self.ask(|r| MediaCommand::Dtmf(tone, duration, r)).await
    }

    pub(crate) async fn stats(&self) -> Result<MediaStats, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(MediaCommand::Stats(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }
}

fn media_err(e: sipline_media::MediaError) -> Error {
    Error::Media(e.to_string())
}

/// Carries out one command.
fn execute(media: &mut dyn MediaSession, cmd: MediaCommand, now: Instant) {
    match cmd {
        MediaCommand::CreateOffer(r) => {
            let _ = r.send(media.create_offer(now).map_err(media_err));
        }
        MediaCommand::CreateRestartOffer(r) => {
            let _ = r.send(media.create_restart_offer(now).map_err(media_err));
        }
        MediaCommand::CancelOffer => media.cancel_offer(),
        MediaCommand::AddRemoteCandidates(f, r) => {
            let _ = r.send(media.add_remote_candidates(now, &f).map_err(media_err));
        }
        MediaCommand::AcceptOffer(o, r) => {
            let _ = r.send(media.accept_offer(now, &o).map_err(media_err));
        }
        MediaCommand::AcceptAnswer(a, r) => {
            let _ = r.send(media.accept_answer(now, &a).map_err(media_err));
        }
        MediaCommand::Mute(kind, muted) => media.set_muted(kind, muted),
        MediaCommand::SetAudio(source, sink, r) => {
            let set = media
                .set_audio_source(source)
                .and_then(|()| media.set_audio_sink(sink));
            let _ = r.send(set.map_err(media_err));
        }
        MediaCommand::Dtmf(tone, d, r) => {
            let _ = r.send(media.send_dtmf(now, tone, d).map_err(media_err));
        }
        MediaCommand::Stats(r) => {
            let _ = r.send(media.stats());
        }
    }
}

async fn run(
    mut media: Box<dyn MediaSession>,
    socket: UdpSocket,
    rtcp: Option<(SocketAddr, UdpSocket)>,
    mut cmds: mpsc::Receiver<MediaCommand>,
    events: crate::queue::Tx<MediaEvent>,
) {
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut deadline: Option<Instant> = None;
    let now = || tokio::time::Instant::now().into_std();
    // Offers and answers wait for candidate gathering (a STUN response, RFC 8445 §5.1.1.2),
    // bounded by the media session; everything else goes on meanwhile. Gathering starts now.
    let mut deferred: VecDeque<MediaCommand> = VecDeque::new();
    media.gather(now());
    loop {
        while !deferred.is_empty() && media.gather(now()).is_none() {
            if let Some(cmd) = deferred.pop_front() {
                execute(media.as_mut(), cmd, now());
            }
        }
        // Drain the media session's outputs; arm the one timer at its deadline.
        loop {
            match media.poll_output() {
                MediaOutput::Transmit(t) => {
                    let from = match &rtcp {
                        Some((addr, s)) if *addr == t.source => s,
                        _ => &socket,
                    };
                    let _ = from.send_to(&t.contents, t.destination).await;
                }
                MediaOutput::Event(e) => {
                    let _ = events.send(e);
                }
                MediaOutput::Timeout(d) => {
                    if d != deadline {
                        if let Some(at) = d {
                            sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                        }
                        deadline = d;
                    }
                    break;
                }
            }
        }
        tokio::select! {
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else {
                    // The session is over: release what the media holds on servers (a TURN
                    // allocation, RFC 8656 §7.3) before the socket goes.
                    media.close(now());
                    loop {
                        match media.poll_output() {
                            MediaOutput::Transmit(t) => {
                                let _ = socket.send_to(&t.contents, t.destination).await;
                            }
                            MediaOutput::Event(_) => {}
                            MediaOutput::Timeout(_) => return,
                        }
                    }
                };
                let describes = matches!(
                    cmd,
                    MediaCommand::CreateOffer(_)
                        | MediaCommand::CreateRestartOffer(_)
                        | MediaCommand::AcceptOffer(..)
                );
                if describes && (!deferred.is_empty() || media.gather(now()).is_some()) {
                    deferred.push_back(cmd);
                } else {
                    execute(media.as_mut(), cmd, now());
                }
            }
            recv = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = recv {
                    media.handle_input(now(), MediaInput::Receive { source, contents: &buf[..n] });
                }
            }
            recv = async {
                match &rtcp {
                    Some((_, s)) => s.recv_from(&mut rtcp_buf).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Ok((n, source)) = recv {
                    media.handle_input(now(), MediaInput::Receive { source, contents: &rtcp_buf[..n] });
                }
            }
            () = &mut sleep, if deadline.is_some() => {
                deadline = None;
                media.handle_input(now(), MediaInput::Timeout);
            }
        }
    }
}
