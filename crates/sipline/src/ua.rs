//! The user agent: configuration, transports, `invite`, and the incoming-invite event.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sipline_media::{
    AudioSink, AudioSource, MediaEvent, NullSink, SilenceSource, VideoSink, VideoSource,
};
use sipline_proto::{
    Body, ClientTxId, Flow, InviteParams, Method, RegistrationId, Rel100, ReplyParams, Request,
    Response, SessionId, StatusCode, TransportKind, UaCore, Uri,
};
use sipline_tokio::{Handle, Runtime, TlsClientConfig, TlsServerConfig};
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::media::{Backend, Media, MediaChoice};
use crate::session::{Role, Session, SessionEvent, Shared};
use crate::trickle::TrickleMode;

/// The answer to a request sent inside a session, as the core reports it.
pub(crate) type TxResult = Result<Response, StatusCode>;

/// What the dispatcher keeps per session.
pub(crate) struct Entry {
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: crate::queue::Tx<SessionEvent>,
    /// A session made by [`Session::follow_refer`]: its progress goes to the task that
    /// sends the referrer's NOTIFYs in order (RFC 3515 §2.4.4).
    pub(crate) notify: Option<mpsc::UnboundedSender<StatusCode>>,
}

/// State shared by the [`Ua`] handles, its sessions and the dispatcher task.
pub(crate) struct UaShared {
    pub(crate) handle: Handle<UaCore>,
    pub(crate) sessions: Mutex<HashMap<SessionId, Entry>>,
    pub(crate) pending: Mutex<HashMap<ClientTxId, oneshot::Sender<TxResult>>>,
    pub(crate) media_ip: IpAddr,
    /// A STUN server for WebRTC's server-reflexive candidates ([`UaBuilder::stun_server`]).
    pub(crate) stun_server: Option<SocketAddr>,
    /// TURN servers for WebRTC's relayed candidates ([`UaBuilder::turn_server`]), resolved.
    pub(crate) turn_servers: Vec<sipline_media::TurnServer>,
    /// Relayed candidates only ([`UaBuilder::relay_only`]).
    pub(crate) relay_only: bool,
    /// Trickle ICE over SIP ([`UaBuilder::trickle_ice`]), half or full.
    pub(crate) trickle_ice: bool,
    /// Full trickle as the caller ([`TrickleMode::Full`]).
    pub(crate) trickle_full: bool,
    pub(crate) seed: AtomicU64,
    pub(crate) identity: String,
    pub(crate) events: tokio::sync::Mutex<mpsc::UnboundedReceiver<UaEvent>>,
    pub(crate) registration: Mutex<Option<RegistrationId>>,
    /// Callers of register()/unregister() waiting for the outcome.
    pub(crate) reg_waiters: Mutex<Vec<oneshot::Sender<Result<(), Error>>>>,
    /// Where requests outside a dialog go (INVITE, REGISTER), if not to their target.
    outbound_proxy: Option<Flow>,
    /// Registrar, credentials, expiry, address of record.
    reg_config: Option<(Uri, Option<sipline_proto::Credentials>, u32, String)>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl UaShared {
    pub(crate) fn next_seed(&self) -> u64 {
        self.seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }
}

/// What a [`Ua`] reports (SIP.js's UA events).
#[derive(Debug)]
#[non_exhaustive]
pub enum UaEvent {
    /// An incoming call (SIP.js `ua.on('invite', fn(session))`). Answer it with
    /// [`Session::progress`], [`Session::accept`] or [`Session::reject`]; a `Session` dropped
    /// unanswered is rejected with 480.
    Invite(Session),
    /// The registration is in place (and after each refresh).
    Registered {
        /// The granted expiry, in seconds.
        expires: u32,
    },
    /// [`Ua::unregister`] succeeded.
    Unregistered,
    /// Registering or refreshing failed.
    RegistrationFailed {
        /// The final status, if a response came.
        status: Option<StatusCode>,
        /// Why.
        reason: String,
    },
}

/// Where to listen and who we are: the SIP.js UA configuration. Build with [`Ua::builder`].
#[derive(Debug, Clone)]
pub struct UaBuilder {
    uri: Option<String>,
    display_name: Option<String>,
    listen: Vec<(TransportKind, SocketAddr, Option<TlsServerConfig>)>,
    tls_client: Option<TlsClientConfig>,
    user_agent: Option<String>,
    no_answer_timeout: Duration,
    rel100: Rel100,
    seed: Option<u64>,
    registrar: Option<String>,
    max_transactions: Option<usize>,
    udp_max_request: Option<Option<usize>>,
    authorization_user: Option<String>,
    password: Option<String>,
    register: bool,
    register_expires: u32,
    outbound_proxy: Option<String>,
    stun_server: Option<SocketAddr>,
    /// (URI, username, password) of each TURN server, resolved at build.
    turn_servers: Vec<(String, String, String)>,
    relay_only: bool,
    trickle: TrickleMode,
}

impl Default for UaBuilder {
    fn default() -> Self {
        Self {
            uri: None,
            display_name: None,
            listen: Vec::new(),
            tls_client: None,
            user_agent: None,
            no_answer_timeout: Duration::from_secs(60),
            rel100: Rel100::None,
            seed: None,
            registrar: None,
            max_transactions: None,
            udp_max_request: None,
            authorization_user: None,
            password: None,
            register: true,
            register_expires: 600,
            outbound_proxy: None,
            stun_server: None,
            turn_servers: Vec::new(),
            relay_only: false,
            trickle: TrickleMode::Off,
        }
    }
}

impl UaBuilder {
    /// Our address of record (SIP.js `uri`), e.g. `sip:alice@example.com`.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    /// The display name in From (SIP.js `displayName`).
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Listens on UDP at `addr` (port 0 picks one).
    pub fn udp(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Udp, addr, None));
        self
    }

    /// Listens on TCP at `addr`.
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Tcp, addr, None));
        self
    }

    /// Listens on TLS at `addr`, presenting `cfg`'s certificate.
    pub fn tls(mut self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen.push((TransportKind::Tls, addr, Some(cfg)));
        self
    }

    /// Listens on WebSocket at `addr` (RFC 7118).
    pub fn ws(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Ws, addr, None));
        self
    }

    /// Listens on secure WebSocket at `addr`, presenting `cfg`'s certificate.
    pub fn wss(mut self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen.push((TransportKind::Wss, addr, Some(cfg)));
        self
    }

    /// How our TLS and WSS connections verify servers (a CA, or a pinned certificate);
    /// without it, they fail: nothing trusts any certificate by default.
    pub fn tls_client(mut self, cfg: TlsClientConfig) -> Self {
        self.tls_client = Some(cfg);
        self
    }

    /// The User-Agent / Server header value (SIP.js `userAgentString`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// How long an incoming call may ring unanswered before it is rejected with 480 (SIP.js
    /// `noAnswerTimeout`, default 60 s).
    pub fn no_answer_timeout(mut self, d: Duration) -> Self {
        self.no_answer_timeout = d;
        self
    }

    /// Reliable provisional responses (SIP.js `rel100`; default [`Rel100::None`]).
    pub fn rel100(mut self, rel100: Rel100) -> Self {
        self.rel100 = rel100;
        self
    }

    /// A fixed seed for tags, branches and RTP identifiers (reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Most live SIP transactions (default 100,000); beyond it new requests get 503. A call
    /// keeps its INVITE and BYE server transactions 32 s after it ends (RFC 3261 §17, RFC
    /// 6026), so sustained load needs about 64 per call/s.
    pub fn max_transactions(mut self, n: usize) -> Self {
        self.max_transactions = Some(n);
        self
    }

    /// The largest request sent over UDP (default 1300 bytes); a larger one goes over TCP,
    /// as RFC 3261 §18.1.1 asks when the path MTU is unknown. `None` keeps UDP whatever the
    /// size: for paths known to carry large datagrams, such as the loopback interface.
    pub fn udp_max_request(mut self, bytes: Option<usize>) -> Self {
        self.udp_max_request = Some(bytes);
        self
    }

    /// The registrar (SIP.js `registrarServer`), e.g. `sip:127.0.0.1:5060`; without one, the
    /// UA does not register.
    pub fn registrar(mut self, uri: impl Into<String>) -> Self {
        self.registrar = Some(uri.into());
        self
    }

    /// The digest username (SIP.js `authorizationUser`; default: the user part of the uri).
    pub fn authorization_user(mut self, user: impl Into<String>) -> Self {
        self.authorization_user = Some(user.into());
        self
    }

    /// The digest password (SIP.js `password`).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Whether [`UaBuilder::build`] registers at once (SIP.js `register`, default true; only
    /// with a registrar).
    pub fn register(mut self, register: bool) -> Self {
        self.register = register;
        self
    }

    /// The expiry asked for, in seconds (SIP.js `registerExpires`, default 600).
    pub fn register_expires(mut self, secs: u32) -> Self {
        self.register_expires = secs;
        self
    }

    /// Sends every request outside a dialog (INVITE, REGISTER) to this outbound proxy
    /// (RFC 3261 §8.1.2) instead of its target, e.g. `sip:proxy.example.com:5060` or
    /// `sip:127.0.0.1:8089;transport=ws`; in-dialog requests whose next hop is a name go
    /// there too. The host is an IP address or a name resolved once, at
    /// [`UaBuilder::build`], with the system resolver; the transport (the URI's `transport`
    /// parameter, UDP by default) needs a listener of that kind.
    pub fn outbound_proxy(mut self, uri: impl Into<String>) -> Self {
        self.outbound_proxy = Some(uri.into());
        self
    }

    /// A STUN server (RFC 5389) for WebRTC media: each call asks it for our public address
    /// and offers it as a server-reflexive ICE candidate (RFC 8445 §5.1.1.2) beside the host
    /// one, so a browser outside our NAT can reach us. An offer or answer waits up to 300 ms
    /// for the STUN response; without one it goes out with host candidates only. Plain RTP
    /// calls do not use it.
    pub fn stun_server(mut self, addr: SocketAddr) -> Self {
        self.stun_server = Some(addr);
        self
    }

    /// A TURN server (RFC 8656) for WebRTC media, as a TURN URI (RFC 7065 §3.1:
    /// `turn:HOST[:PORT][?transport=udp]`) with long-term credentials (RFC 8489 §9.2): each
    /// call allocates a relayed address on it and offers it as a `typ relay` ICE candidate
    /// (RFC 8445 §5.1.1.2), reachable by a peer that can reach nothing else of ours. TURN
    /// over UDP only; the name is resolved by [`UaBuilder::build`], which fails on a URI it
    /// cannot use. An offer or answer waits up to 300 ms for the allocation (4 s with
    /// [`UaBuilder::relay_only`], which has no other candidate), as for the
    /// STUN response. Plain RTP calls do not use it. May be called more than once.
    pub fn turn_server(
        mut self,
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.turn_servers
            .push((url.into(), username.into(), password.into()));
        self
    }

    /// WebRTC media offers and checks relayed candidates only ([`UaBuilder::turn_server`]),
    /// as a browser's `iceTransportPolicy: "relay"` (RFC 8829 §4.1.1): the peer never learns
    /// our addresses and all media goes through the TURN server. Off by default.
    pub fn relay_only(mut self, on: bool) -> Self {
        self.relay_only = on;
        self
    }

    /// Trickle ICE over SIP (RFC 8840; off by default): `Supported: trickle-ice` and
    /// `Recv-Info: trickle-ice` in our INVITEs and 2xx, ICE candidates found after our SDP
    /// went out sent in INFO requests of the `trickle-ice` Info Package (RFC 8840 §9) to a
    /// peer that announced it, and the peer's fed to our ICE agent. As the callee of such a
    /// peer, our answer does not wait for the STUN server ([`UaBuilder::stun_server`]); as
    /// the caller, the offer still waits (the callee's support is unknown until it answers,
    /// RFC 8840 §4.2 "half trickle"). `trickle_ice(true)` is
    /// `trickle_ice_mode(TrickleMode::Half)`.
    pub fn trickle_ice(mut self, on: bool) -> Self {
        self.trickle = if on {
            TrickleMode::Half
        } else {
            TrickleMode::Off
        };
        self
    }

    /// Trickle ICE over SIP (RFC 8840) in the given mode: [`TrickleMode::Full`] when the
    /// application knows its callees do trickle ICE, so our INVITEs leave at once with host
    /// candidates and the others follow by INFO (RFC 8840 §4.2, §5.1); see [`TrickleMode`].
    pub fn trickle_ice_mode(mut self, mode: TrickleMode) -> Self {
        self.trickle = mode;
        self
    }

    /// Binds the transports and starts the user agent (and registers, see
    /// [`UaBuilder::register`]).
    pub async fn build(self) -> Result<Ua, Error> {
        let uri = self
            .uri
            .ok_or_else(|| Error::InvalidArgument("the UA needs a uri (sip:user@host)".into()))?;
        let parsed =
            Uri::parse(&uri).map_err(|e| Error::InvalidArgument(format!("uri {uri}: {e}")))?;
        let user = parsed.user().unwrap_or("sipline").to_owned();
        let registrar = match &self.registrar {
            Some(r) => Some(
                Uri::parse(r).map_err(|e| Error::InvalidArgument(format!("registrar {r}: {e}")))?,
            ),
            None => None,
        };
        let credentials = self.password.clone().map(|p| {
            sipline_proto::Credentials::new(
                self.authorization_user
                    .clone()
                    .unwrap_or_else(|| user.clone()),
                p,
            )
        });
        let identity = match &self.display_name {
            Some(n) => format!("\"{}\" <{uri}>", n.replace(['"', '\\', '\r', '\n'], "")),
            None => format!("<{uri}>"),
        };
        if self.listen.is_empty() {
            return Err(Error::InvalidArgument(
                "the UA needs at least one transport (udp or tcp)".into(),
            ));
        }
        let outbound_proxy = match &self.outbound_proxy {
            Some(p) => {
                let uri = Uri::parse(p.trim_start_matches('<').trim_end_matches('>'))
                    .map_err(|e| Error::InvalidArgument(format!("outbound proxy {p}: {e}")))?;
                let flow = resolve_uri(&uri).await?;
                if !self.listen.iter().any(|(k, _, _)| *k == flow.transport) {
                    return Err(Error::InvalidArgument(format!(
                        "no {} transport configured for the outbound proxy {p}",
                        flow.transport
                    )));
                }
                Some(flow)
            }
            None => None,
        };
        let mut rt = Runtime::builder();
        for (kind, addr, tls) in &self.listen {
            rt = match (kind, tls.clone()) {
                (TransportKind::Tcp, _) => rt.tcp(*addr),
                (TransportKind::Ws, _) => rt.ws(*addr),
                (TransportKind::Tls, Some(cfg)) => rt.tls(*addr, cfg),
                (TransportKind::Wss, Some(cfg)) => rt.wss(*addr, cfg),
                _ => rt.udp(*addr),
            };
        }
        if let Some(c) = self.tls_client.clone() {
            rt = rt.tls_client(c);
        }
        if let Some(seed) = self.seed {
            rt = rt.seed(seed);
        }
        let media_ip = self.listen[0].1.ip();
        let (user_agent, no_answer, rel100) =
            (self.user_agent.clone(), self.no_answer_timeout, self.rel100);
        let id2 = identity.clone();
        let core_credentials = credentials.clone();
        let max_transactions = self.max_transactions;
        let udp_max_request = self.udp_max_request;
        let (handle, events) = rt
            .start_with(move |bound| {
                let mut cfg = bound.ua_config(id2, &user);
                if let Some(ua) = user_agent {
                    cfg.user_agent = Some(ua);
                }
                cfg.no_answer_timeout = Some(no_answer);
                cfg.rel100 = rel100;
                cfg.credentials = core_credentials;
                if let Some(n) = max_transactions {
                    cfg.endpoint.max_transactions = n;
                }
                if let Some(m) = udp_max_request {
                    cfg.endpoint.udp_max_request = m;
                }
                cfg.outbound_proxy = outbound_proxy;
                UaCore::new(cfg)
            })
            .await?;
        let seed = self.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        let (ua_tx, ua_rx) = mpsc::unbounded_channel();
        let mut turn_servers = Vec::new();
        for (url, user, password) in &self.turn_servers {
            turn_servers.push(resolve_turn(url, user, password).await?);
        }
        let shared = Arc::new(UaShared {
            handle,
            sessions: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            media_ip,
            stun_server: self.stun_server,
            turn_servers,
            relay_only: self.relay_only,
            trickle_ice: self.trickle.is_on(),
            trickle_full: self.trickle == TrickleMode::Full,
            seed: AtomicU64::new(seed),
            identity,
            events: tokio::sync::Mutex::new(ua_rx),
            registration: Mutex::new(None),
            reg_waiters: Mutex::new(Vec::new()),
            outbound_proxy,
            reg_config: registrar.map(|r| (r, credentials, self.register_expires, uri.clone())),
        });
        // The dispatcher holds the user agent weakly: when the application drops every Ua
        // and Session, the runtime and the dispatcher stop.
        tokio::spawn(crate::dispatch::run(Arc::downgrade(&shared), events, ua_tx));
        let ua = Ua { shared };
        if self.register && ua.shared.reg_config.is_some() {
            ua.register().await?;
        }
        Ok(ua)
    }
}

/// Options of [`Ua::invite`] (SIP.js `ua.invite(target, options)`).
pub struct InviteOptions {
    /// Extra header fields for the INVITE.
    pub extra_headers: Vec<(String, String)>,
    /// 100rel for this call (SIP.js `rel100`); the UA's setting if `None`.
    pub rel100: Option<Rel100>,
    /// What we send: a tone, a WAV file, silence (default).
    pub audio_source: Box<dyn AudioSource>,
    /// Where what we hear goes (default: nowhere).
    pub audio_sink: Box<dyn AudioSink>,
    /// The media our offer carries: WebRTC or plain RTP; by default WebRTC over WebSocket
    /// and plain RTP otherwise.
    pub media: MediaChoice,
    /// Encoded video to send (VP8 or H.264 frames, e.g. from
    /// [`sipline_media::open_video_source`]); default none. With a source or a
    /// [`InviteOptions::video_sink`], a WebRTC offer has a video m-line (`sendonly`,
    /// `recvonly` or `sendrecv` per which are given). Plain RTP carries no video: ignored.
    pub video_source: Option<Box<dyn VideoSource>>,
    /// Where received encoded video frames go (e.g. an IVF recorder); default none.
    pub video_sink: Option<Box<dyn VideoSink>>,
}

impl Default for InviteOptions {
    fn default() -> Self {
        Self {
            extra_headers: Vec::new(),
            rel100: None,
            audio_source: Box::new(SilenceSource::new(8000)),
            audio_sink: Box::new(NullSink::new(8000)),
            media: MediaChoice::Auto,
            video_source: None,
            video_sink: None,
        }
    }
}

impl std::fmt::Debug for InviteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteOptions")
            .field("extra_headers", &self.extra_headers)
            .field("media", &self.media)
            .field("video_source", &self.video_source.is_some())
            .field("video_sink", &self.video_sink.is_some())
            .finish_non_exhaustive()
    }
}

/// A SIP user agent (SIP.js `SIP.UA`): cheap to clone; stops when the last clone and every
/// session are dropped, or with [`Ua::stop`].
#[derive(Clone)]
pub struct Ua {
    pub(crate) shared: Arc<UaShared>,
}

impl std::fmt::Debug for Ua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ua")
            .field("identity", &self.shared.identity)
            .finish_non_exhaustive()
    }
}

impl Ua {
    /// Starts configuring a user agent.
    pub fn builder() -> UaBuilder {
        UaBuilder::default()
    }

    /// The address a transport listens on.
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.shared.handle.local_addr(kind)
    }

    /// Our identity (the From of our requests).
    pub fn identity(&self) -> &str {
        &self.shared.identity
    }

    /// The next event (an incoming call); `None` once the user agent has stopped.
    pub async fn next_event(&self) -> Option<UaEvent> {
        self.shared.events.lock().await.recv().await
    }

    /// Calls `target` (SIP.js `ua.invite`): a `sip:` URI whose host is an IP address or a
    /// name resolved with the system resolver (A/AAAA; RFC 3263 SRV/NAPTR is not done), on
    /// the URI's `transport` (UDP by default). The INVITE carries a WebRTC or a plain RTP/AVP
    /// offer as [`InviteOptions::media`] says.
    pub async fn invite(&self, target: &str, opts: InviteOptions) -> Result<Session, Error> {
        self.invite_notifying(target, opts, None).await
    }

    /// [`Ua::invite`], reporting the call's progress to the session `notify` (a REFER's
    /// sender) when set.
    pub(crate) async fn invite_notifying(
        &self,
        target: &str,
        opts: InviteOptions,
        notify: Option<SessionId>,
    ) -> Result<Session, Error> {
        let uri = Uri::parse(target.trim_start_matches('<').trim_end_matches('>'))
            .map_err(|e| Error::InvalidArgument(format!("target {target}: {e}")))?;
        let flow = match self.shared.outbound_proxy {
            Some(proxy) => proxy,
            None => self.resolve(&uri).await?,
        };
        let (ev_tx, ev_rx) = crate::queue::queue();
        let (media_tx, media_rx) = crate::queue::queue();
        let media = Media::start(
            Backend::for_choice(opts.media, flow.transport),
            self.shared.media_ip,
            crate::media::IceOptions {
                stun: self.shared.stun_server,
                // Full trickle: the offer does not wait for the STUN server (RFC 8840 §4.2).
                trickle: self.shared.trickle_full,
                turn: self.shared.turn_servers.clone(),
                relay_only: self.shared.relay_only,
            },
            self.shared.next_seed(),
            (opts.audio_source, opts.audio_sink),
            crate::media::VideoIo {
                source: opts.video_source,
                sink: opts.video_sink,
            },
            media_tx,
        )
        .await?;
        let offer = media.create_offer().await?;
        let shared = Arc::new(Shared::new(Role::Uac, Some(media)));
        *lock(&shared.local_sdp) = Some(offer.clone());
        let mut headers = opts.extra_headers;
        if self.shared.trickle_ice {
            headers.extend(crate::trickle::announce());
        }
        let params = InviteParams {
            target: uri,
            flow,
            offer: Some(Body::sdp(offer)),
            headers,
            rel100: opts.rel100,
        };
        let notify =
            notify.map(|referrer| crate::dispatch::referrer_notifier(self.clone(), referrer));
        let ua = Arc::clone(&self.shared);
        let entry_shared = Arc::clone(&shared);
        let ev_tx2 = ev_tx.clone();
        // Registered while the core runs the command, so no event of the session can reach
        // the dispatcher before it knows the session.
        let (id, request) = self
            .shared
            .handle
            .with(move |core: &mut UaCore, now| {
                let id = core.invite(now, params)?;
                lock(&ua.sessions).insert(
                    id,
                    Entry {
                        shared: entry_shared,
                        events: ev_tx2,
                        notify,
                    },
                );
                let request = core.invite_request(id).cloned();
                Ok::<_, sipline_proto::Error>((id, request))
            })
            .await??;
        let request = request.ok_or(Error::Closed)?;
        shared.set_request(request);
        let target = self.shared.trickle_ice.then(|| crate::trickle::Target {
            ua: Arc::downgrade(&self.shared),
            session: id,
            shared: Arc::downgrade(&shared),
            full: self.shared.trickle_full,
        });
        crate::dispatch::forward_media_events(media_rx, ev_tx.clone(), target);
        Ok(Session::new(self.clone(), id, shared, ev_rx, ev_tx))
    }

    async fn resolve(&self, uri: &Uri) -> Result<Flow, Error> {
        let transport = uri
            .as_ref()
            .transport()
            .and_then(TransportKind::from_via)
            .unwrap_or(TransportKind::Udp);
        if self.local_addr(transport).is_none() {
            return Err(Error::InvalidArgument(format!(
                "no {transport} transport configured for {}",
                uri.as_str()
            )));
        }
        resolve_uri(uri).await
    }

    /// Registers with the configured registrar (REGISTER with digest authentication,
    /// refreshed before expiry); resolves when the registrar accepted it.
    pub async fn register(&self) -> Result<(), Error> {
        let (registrar, credentials, expires, aor) = self
            .shared
            .reg_config
            .clone()
            .ok_or_else(|| Error::InvalidState("no registrar configured".into()))?;
        let flow = match self.shared.outbound_proxy {
            Some(proxy) => proxy,
            None => self.resolve(&registrar).await?,
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.reg_waiters).push(tx);
        let ua = Arc::clone(&self.shared);
        self.core(move |c: &mut UaCore, now| {
            let contact = c
                .config()
                .transports
                .iter()
                .find(|t| t.kind == flow.transport)
                .map(|t| t.contact.clone())
                .ok_or(sipline_proto::Error::InvalidState(
                    "no transport for the registrar",
                ))?;
            let mut params =
                sipline_proto::RegisterParams::new(registrar, format!("<{aor}>"), contact);
            params.expires = expires;
            params.credentials = credentials;
            let id = c.register(now, params, flow)?;
            *lock(&ua.registration) = Some(id);
            Ok(())
        })
        .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Removes our registration (REGISTER with expires 0); resolves when it is done.
    pub async fn unregister(&self) -> Result<(), Error> {
        let id = lock(&self.shared.registration)
            .take()
            .ok_or_else(|| Error::InvalidState("not registered".into()))?;
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.reg_waiters).push(tx);
        self.core(move |c: &mut UaCore, now| c.unregister(now, id))
            .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops the transports; every session ends.
    pub async fn stop(&self) {
        self.shared.handle.shutdown().await;
    }

    /// Runs a command on the core and waits for it.
    pub(crate) async fn core<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut UaCore, std::time::Instant) -> Result<R, sipline_proto::Error>
            + Send
            + 'static,
        R: Send + 'static,
    {
        Ok(self.shared.handle.with(f).await??)
    }

    /// Sends a request in a session's dialog and waits for its final response.
    pub(crate) async fn request_in_dialog(
        &self,
        id: SessionId,
        method: Method,
        headers: Vec<(String, String)>,
        body: Option<Body>,
    ) -> Result<Response, Error> {
        let (tx, rx) = oneshot::channel();
        let ua = Arc::clone(&self.shared);
        self.core(move |core, now| {
            let t = core.request_in_dialog(now, id, method, &headers, body)?;
            lock(&ua.pending).insert(t, tx);
            Ok(())
        })
        .await?;
        match rx.await.map_err(|_| Error::Closed)? {
            Ok(r) if r.status.is_success() => Ok(r),
            Ok(r) => Err(Error::Rejected(r.status)),
            Err(status) => Err(Error::Rejected(status)),
        }
    }

    /// Answers a request the dispatcher received in a session, queued to the core before
    /// this returns: what is sent after it (a NOTIFY of a followed REFER) goes out after it.
    pub(crate) async fn reply_first(
        &self,
        tx: sipline_proto::ServerTxId,
        request: &Request,
        status: StatusCode,
    ) {
        let resp = Response::from_request(request, status, None);
        let _ = self
            .shared
            .handle
            .with_nowait(move |core: &mut UaCore, now| {
                let _ = core.respond(now, tx, resp);
            })
            .await;
    }

    /// Answers a request the dispatcher received in a session.
    pub(crate) fn reply_later(
        &self,
        tx: sipline_proto::ServerTxId,
        request: &Request,
        status: StatusCode,
    ) {
        let resp = Response::from_request(request, status, None);
        let handle = self.shared.handle.clone();
        tokio::spawn(async move {
            let _ = handle
                .with_nowait(move |core: &mut UaCore, now| {
                    let _ = core.respond(now, tx, resp);
                })
                .await;
        });
    }
}

/// Where a request for `uri` goes: its host (an IP address, or a name resolved with the
/// system resolver, A/AAAA), its port or the transport's default, on its `transport` (UDP by
/// default).
/// A TURN URI (RFC 7065 §3.1) resolved to the server's address (IPv4 first: media sockets
/// usually are), with its credentials.
async fn resolve_turn(
    url: &str,
    user: &str,
    password: &str,
) -> Result<sipline_media::TurnServer, Error> {
    let bad = |why: String| Error::InvalidArgument(format!("TURN server {url:?}: {why}"));
    let parsed: sipline_media::TurnUrl = url.parse().map_err(|e| bad(format!("{e}")))?;
    if parsed.secure || parsed.transport != sipline_media::TurnTransport::Udp {
        return Err(bad("only TURN over UDP is supported".into()));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((parsed.host.as_str(), parsed.port))
        .await
        .map_err(|e| bad(format!("resolving {}: {e}", parsed.host)))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| bad("the name has no address".into()))?;
    Ok(sipline_media::TurnServer::new(addr, user, password))
}

async fn resolve_uri(uri: &Uri) -> Result<Flow, Error> {
    let transport = uri
        .as_ref()
        .transport()
        .and_then(TransportKind::from_via)
        .unwrap_or(TransportKind::Udp);
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    let port = uri.port().unwrap_or(transport.default_port());
    let remote = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::InvalidArgument(format!("resolving {host}: {e}")))?
            .next()
            .ok_or_else(|| Error::InvalidArgument(format!("{host} has no address")))?,
    };
    Ok(Flow {
        transport,
        remote,
        conn: None,
    })
}

/// A reply to an incoming INVITE, for the core.
pub(crate) fn reply(
    status: StatusCode,
    reason: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Body>,
    rel100: bool,
) -> ReplyParams {
    ReplyParams {
        status,
        reason,
        headers,
        body,
        rel100,
    }
}

/// Media events of a session become session events (RFC 4733 DTMF received).
pub(crate) fn media_event(e: MediaEvent) -> Option<SessionEvent> {
    match e {
        MediaEvent::DtmfReceived { tone, duration } => Some(SessionEvent::Dtmf {
            tone: tone.to_char(),
            duration,
            request: None,
        }),
        _ => None,
    }
}
