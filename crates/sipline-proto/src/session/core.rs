//! The user-agent core (RFC 3261 §8, §12-§15): INVITE sessions on top of the transaction
//! layer, with the timers a TU owns.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;

use super::{Body, Cause, SessionId, SessionRole, SessionState};
use crate::dialog::{Dialog, DialogId, DialogSet, ResponseOutcome};
use crate::endpoint::{DropReason, Endpoint, EndpointConfig, Event};
use crate::error::Error;
use crate::input::{Flow, Input, Output, Transmit, TransportKind};
use crate::message::{HeaderName, Headers, Message, Method, Request, Response, StatusCode, Uri};
use crate::registration::{RegisterParams, Registration, RegistrationStep};
use crate::transaction::{ClientTxId, ServerTxId};

/// The methods this core answers or lets the application answer (RFC 3261 §20.5 Allow).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, NOTIFY, REFER";

/// One transport the user agent listens on: what goes into Via and Contact for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTransport {
    /// The transport.
    pub kind: TransportKind,
    /// The Via sent-by (`host[:port]`, RFC 3261 §18.1.1), e.g. `127.0.0.1:5060`.
    pub sent_by: String,
    /// The Contact value for this transport (§8.1.1.8), e.g.
    /// `<sip:alice@127.0.0.1:5060;transport=tcp>`.
    pub contact: String,
}

/// Reliable provisional responses (RFC 3262), SIP.js's `rel100` UA option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rel100 {
    /// Neither offered nor accepted: an INVITE that requires `100rel` gets 420 (SIP.js's
    /// default).
    #[default]
    None,
    /// Offered (`Supported: 100rel`) and accepted; a UAS sends a provisional response
    /// reliably when [`ReplyParams::rel100`] asks and the INVITE supports it.
    Supported,
    /// Required (`Require: 100rel`): a UAS sends every provisional response reliably and
    /// answers an INVITE that does not support it with 421.
    Required,
}

/// Configuration of a [`UaCore`].
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Our identity, the From of requests outside a dialog (§8.1.1.3), as a name-addr:
    /// `"Alice" <sip:alice@example.com>`.
    pub identity: String,
    /// The transports we can send on; a request goes out on the entry of its flow's kind.
    pub transports: Vec<LocalTransport>,
    /// The User-Agent (requests) and Server (responses) header value, if any.
    pub user_agent: Option<String>,
    /// How long an incoming INVITE may stay unanswered before it is rejected with 480
    /// (SIP.js `noAnswerTimeout`, default 60 s); `None` waits for ever.
    pub no_answer_timeout: Option<Duration>,
    /// Send every request outside a dialog and every in-dialog request whose next hop is not
    /// an IP address here (an outbound proxy, RFC 3261 §8.1.2).
    pub outbound_proxy: Option<Flow>,
    /// Reliable provisional responses (RFC 3262).
    pub rel100: Rel100,
    /// Credentials to answer a 401/407 to our INVITEs and in-dialog requests with (RFC 3261
    /// §22.2, RFC 7616); without them such a response fails the request.
    pub credentials: Option<crate::auth::Credentials>,
    /// The transaction layer's configuration (timers T1/T2/T4, limits, seed).
    pub endpoint: EndpointConfig,
}

impl UaConfig {
    /// A configuration for `identity` with one transport and the defaults.
    pub fn new(identity: impl Into<String>, transport: LocalTransport) -> Self {
        Self {
            identity: identity.into(),
            transports: vec![transport],
            user_agent: Some(concat!("sipline/", env!("CARGO_PKG_VERSION")).to_owned()),
            no_answer_timeout: Some(Duration::from_secs(60)),
            outbound_proxy: None,
            rel100: Rel100::default(),
            credentials: None,
            endpoint: EndpointConfig::default(),
        }
    }
}

/// What [`UaCore::invite`] needs: the callee, where to send the INVITE, the offer.
#[derive(Debug, Clone)]
pub struct InviteParams {
    /// The Request-URI and To (§8.1.1.1, §8.1.1.2).
    pub target: Uri,
    /// Where to send it: the outbound proxy, or the target resolved by the caller (RFC 3263).
    pub flow: Flow,
    /// The SDP offer; without one, the 2xx carries the offer and [`UaCore::ack`] the answer.
    pub offer: Option<Body>,
    /// Extra header fields, `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// 100rel for this call (SIP.js's `rel100` invite option), instead of
    /// [`UaConfig::rel100`].
    pub rel100: Option<Rel100>,
}

/// A response the application sends on a session: [`UaCore::progress`], [`UaCore::accept`],
/// [`UaCore::reject`].
#[derive(Debug, Clone)]
pub struct ReplyParams {
    /// The status code.
    pub status: StatusCode,
    /// A reason phrase; the canonical one if `None`.
    pub reason: Option<String>,
    /// Extra header fields, `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// A body (the SDP answer, early media SDP, ...).
    pub body: Option<Body>,
    /// For a provisional response: send it reliably (RFC 3262) if the INVITE supports it and
    /// [`UaConfig::rel100`] is not [`Rel100::None`]. With [`Rel100::Required`] every
    /// provisional response is reliable anyway.
    pub rel100: bool,
}

impl ReplyParams {
    /// A reply with this status and nothing else.
    pub fn status(status: StatusCode) -> Self {
        Self {
            status,
            reason: None,
            headers: Vec::new(),
            body: None,
            rel100: false,
        }
    }

    /// Sent reliably (RFC 3262), see [`ReplyParams::rel100`].
    pub fn reliable(mut self) -> Self {
        self.rel100 = true;
        self
    }

    /// With a body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }
}

/// What a [`UaCore`] tells the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum UaEvent {
    /// A new INVITE arrived: a session in state [`SessionState::Incoming`]. Answer it with
    /// [`UaCore::progress`], [`UaCore::accept`] or [`UaCore::reject`].
    Incoming {
        /// The new session.
        session: SessionId,
        /// The INVITE (shared with the session, which keeps it).
        request: Arc<Request>,
    },
    /// A provisional response to our INVITE (UAC).
    Progress {
        /// The session.
        session: SessionId,
        /// The 1xx.
        response: Response,
    },
    /// The INVITE was answered with a 2xx: received (UAC, `response` is it) or sent (UAS).
    Accepted {
        /// The session.
        session: SessionId,
        /// The 2xx received, for a UAC.
        response: Option<Response>,
    },
    /// The ACK was sent (UAC) or received (UAS, `ack` is it): the session is established.
    Confirmed {
        /// The session.
        session: SessionId,
        /// The ACK received, for a UAS (it carries the answer when the 2xx had the offer).
        ack: Option<Request>,
    },
    /// The session failed before it was established: a final non-2xx response (UAC), a
    /// timeout, a transport error.
    Failed {
        /// The session.
        session: SessionId,
        /// Why.
        cause: Cause,
        /// The final response, if one came.
        response: Option<Response>,
    },
    /// The caller canceled the INVITE (UAS, §9.2); a 487 was sent.
    Canceled {
        /// The session.
        session: SessionId,
        /// The CANCEL.
        request: Request,
    },
    /// The peer ended the session with a BYE, answered 200 (§15.1.2).
    Bye {
        /// The session.
        session: SessionId,
        /// The BYE.
        request: Request,
    },
    /// The session ended. Always the last event of a session.
    Terminated {
        /// The session.
        session: SessionId,
        /// Why.
        cause: Cause,
    },
    /// The peer sent a re-INVITE (RFC 3261 §14.2): answer it with [`UaCore::accept_reinvite`]
    /// (the body is the answer to its offer, or our offer if it had none) or
    /// [`UaCore::reject_reinvite`]. The session goes on either way.
    Reinvite {
        /// The session.
        session: SessionId,
        /// The re-INVITE.
        request: Request,
    },
    /// Our re-INVITE was accepted (2xx, ACKed): its body is the answer.
    ReinviteAccepted {
        /// The session.
        session: SessionId,
        /// The 2xx.
        response: Response,
    },
    /// Our re-INVITE failed (§14.1): the session goes on as it was, except after a 481 or
    /// 408, which end it. A 491 is retried by the core and not reported, unless the
    /// re-INVITE was sent with [`UaCore::reinvite_once`].
    ReinviteFailed {
        /// The session.
        session: SessionId,
        /// The final status (408 for a timeout, 503 for a transport failure).
        status: StatusCode,
    },
    /// A request inside a session the core does not handle itself (INFO, REFER, NOTIFY,
    /// UPDATE, MESSAGE, OPTIONS): answer it with [`UaCore::respond`].
    InDialogRequest {
        /// The session.
        session: SessionId,
        /// The server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
    },
    /// A request outside any dialog that is not an INVITE or OPTIONS (MESSAGE, NOTIFY,
    /// REFER, ...): answer it with [`UaCore::respond`].
    Request {
        /// The server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// The response to a request sent with [`UaCore::send_request`] (or its timeout as a
    /// synthesized 408, transport failure as 503).
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The response.
        response: Result<Response, StatusCode>,
    },
    /// A registration is in place (RFC 3261 §10.2.4); it is refreshed before it expires.
    Registered {
        /// The registration.
        registration: RegistrationId,
        /// The granted expiry, in seconds.
        expires: u32,
    },
    /// [`UaCore::unregister`] succeeded (§10.2.2).
    Unregistered {
        /// The registration.
        registration: RegistrationId,
    },
    /// Registering (or refreshing) failed: a final failure response, a timeout, a transport
    /// error, a challenge that could not be answered.
    RegistrationFailed {
        /// The registration.
        registration: RegistrationId,
        /// The final status, if a response came.
        status: Option<StatusCode>,
        /// Why, in words.
        reason: String,
    },
    /// A message was discarded (for logs and metrics).
    Dropped {
        /// Where it came from.
        flow: Flow,
        /// Why.
        reason: DropReason,
    },
}

/// Identifies a registration of a [`UaCore`] ([`UaCore::register`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(u64);

/// A REGISTER client and where its requests go.
#[derive(Debug)]
struct Reg {
    reg: Registration,
    flow: Flow,
    /// The refresh instant armed in the heap (an entry counts only if it matches).
    refresh: Option<Instant>,
    /// Unregistering was asked: no refresh.
    stopping: bool,
}

/// How to send a request again with credentials after a 401/407 (RFC 3261 §22.2).
#[derive(Debug, Clone)]
enum Resend {
    /// A request of a session's dialog: rebuilt from the dialog (a new CSeq there).
    InDialog {
        sid: SessionId,
        method: Method,
        headers: Vec<(String, String)>,
        body: Option<Body>,
        purpose: Option<Purpose>,
    },
    /// A request outside any dialog: the same one, CSeq + 1, a new branch.
    Standalone { flow: Flow },
}

/// A request we sent that a 401/407 may challenge: what it was, how to rebuild it, and the
/// transaction the application knows it by (the first one).
#[derive(Debug, Clone)]
struct Sent {
    request: Request,
    how: Resend,
    original: ClientTxId,
}

/// What [`UaCore::poll_output`] returns: drain it until [`UaOutput::Timeout`].
#[derive(Debug)]
pub enum UaOutput {
    /// Bytes to send.
    Transmit(Transmit),
    /// Something for the application.
    Event(UaEvent),
    /// Nothing more now; call [`UaCore::handle_input`] with [`Input::Timeout`] at this
    /// instant (or earlier, with a received message).
    Timeout(Option<Instant>),
}

/// Which request of a session a client transaction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    Cancel,
    Bye,
    Prack,
    Reinvite,
}

/// The session timers of the TU (RFC 3261 §13.3.1.4, SIP.js `noAnswerTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SessionTimer {
    /// Retransmit our 2xx (T1, doubling up to T2).
    Retransmit2xx,
    /// 64*T1 without ACK: BYE.
    AckWait,
    /// The incoming INVITE was not answered in time: 480.
    NoAnswer,
    /// Forget a terminated session once late retransmissions can no longer come.
    Linger,
    /// Retransmit our reliable provisional response (T1, doubling; RFC 3262 §3).
    Retransmit1xx,
    /// 64*T1 without PRACK: reject the INVITE with a 5xx (RFC 3262 §3).
    PrackWait,
    /// Send our re-INVITE again after a 491 (§14.1).
    ReinviteRetry,
}

/// Number of [`SessionTimer`] kinds.
const TIMERS: usize = 7;

/// Our re-INVITE (RFC 3261 §14.1): in flight, or waiting to be retried after a 491.
#[derive(Debug, Clone)]
struct ReinviteOut {
    offer: Option<Body>,
    headers: Vec<(String, String)>,
    /// The client transaction while in flight.
    tx: Option<ClientTxId>,
    /// Retry after a 491 ([`UaCore::reinvite`]) or report it ([`UaCore::reinvite_once`]).
    retry_glare: bool,
}

/// UAS: a reliable provisional response waiting for its PRACK (RFC 3262 §3).
#[derive(Debug, Clone)]
struct Unacked {
    rseq: u32,
    flow: Flow,
    message: Message,
    interval: Duration,
    has_body: bool,
}

/// A UAC session's lists (three empty Vecs would take 72 B in every session).
#[derive(Debug, Default)]
struct UacLists {
    /// Extra header fields for the CANCEL.
    cancel_headers: Vec<(String, String)>,
    /// Extra forks already sent a BYE (§13.2.2.4).
    forks_ended: Vec<DialogId>,
    /// The last RSeq acknowledged per early dialog (RFC 3262 §4).
    racked: Vec<(DialogId, u32)>,
}

/// One INVITE session.
#[derive(Debug)]
struct Session {
    role: SessionRole,
    state: SessionState,
    /// The INVITE we sent or received; shared with [`UaEvent::Incoming`], whose receiver
    /// keeps it as long as the call (one copy per call, not two).
    invite: Arc<Request>,
    /// Where the INVITE went (UAC) or came from (UAS).
    flow: Flow,
    /// Our tag: From tag as UAC, To tag as UAS.
    local_tag: String,
    /// UAS: the INVITE's transaction.
    server_tx: Option<ServerTxId>,
    /// The confirmed dialog.
    dialog: Option<DialogId>,
    /// UAC: a provisional response came (a CANCEL may go, §9.1).
    provisional: bool,
    /// UAC: cancel() was called; the CANCEL goes when a provisional response comes.
    cancel_pending: bool,
    /// UAC: the CANCEL was sent.
    canceled: bool,
    /// UAC: the offer went in the INVITE (the ACK carries no body).
    offer_sent: bool,
    /// UAC: the ACK of the 2xx, re-sent on every retransmission of it.
    ack: Option<Box<(Flow, Message)>>,
    /// UAS: our 2xx, retransmitted until the ACK.
    ok: Option<Box<(Flow, Message)>>,
    /// UAS: the current 2xx retransmission interval.
    interval: Duration,
    /// UAS: the next RSeq (RFC 3262 §3), the reliable 1xx waiting for its PRACK, and an
    /// accept() held until that PRACK comes (the 1xx carried SDP).
    next_rseq: u32,
    unacked: Option<Box<Unacked>>,
    deferred_accept: Option<Box<ReplyParams>>,
    /// UAC: lists most calls never fill, boxed when first needed.
    uac: Option<Box<UacLists>>,
    /// UAS: our 2xx (to the INVITE or a re-INVITE) waits for its ACK.
    awaiting_ack: bool,
    /// Our re-INVITE, and the ACK of its 2xx (re-sent on retransmissions of that 2xx).
    reinvite_out: Option<Box<ReinviteOut>>,
    reinvite_ack: Option<Box<(Flow, Message)>>,
    /// The peer's re-INVITE we have not answered yet.
    reinvite_in: Option<Box<(ServerTxId, Request)>>,
    /// The arming of each timer, 0 when disarmed: a heap entry counts only if it carries
    /// the same number (4 B a timer rather than the 16 B of its deadline).
    timers: [u32; TIMERS],
}

impl Session {
    fn timer(&mut self, t: SessionTimer) -> &mut u32 {
        &mut self.timers[t as usize]
    }
}

/// The user-agent core: sessions over an [`Endpoint`]. See the [module docs](super).
#[derive(Debug)]
pub struct UaCore {
    ep: Endpoint,
    cfg: UaConfig,
    /// Boxed: a session is large and the table grows by doubling, so inline it would cost
    /// several times its size per call.
    sessions: HashMap<SessionId, Box<Session>>,
    next_session: u64,
    dialogs: DialogSet,
    by_dialog: HashMap<DialogId, SessionId>,
    by_client_tx: HashMap<ClientTxId, (SessionId, Purpose)>,
    by_server_tx: HashMap<ServerTxId, SessionId>,
    /// UAC sessions by (Call-ID, From tag), for 2xx retransmissions after the INVITE
    /// transaction ended (§13.2.2.4).
    by_call: HashMap<(String, String), SessionId>,
    /// UAC: 2xx responses that carried the offer, waiting for [`UaCore::ack`].
    pending_2xx: HashMap<SessionId, Response>,
    /// Our Contact values as put in dialogs, shared by all of them (a copy per call
    /// otherwise); a few at most, one per transport.
    contacts: Vec<ByteString>,
    /// Answers 401/407 to INVITEs (RFC 3261 §22.2); remembers realms for later requests.
    digest: Option<crate::auth::DigestClient>,
    /// Requests other than INVITE and REGISTER that a challenge may ask to send again.
    sent: HashMap<ClientTxId, Sent>,
    /// REGISTER clients (§10.2), their transactions and refresh timers.
    regs: HashMap<RegistrationId, Reg>,
    reg_by_tx: HashMap<ClientTxId, RegistrationId>,
    reg_timers: BinaryHeap<Reverse<(Instant, RegistrationId)>>,
    next_reg: u64,
    /// Session timers: deadline, session, kind, and the arming it belongs to.
    timers: BinaryHeap<Reverse<(Instant, SessionId, SessionTimer, u32)>>,
    /// The number of the last timer armed (never 0, which means disarmed).
    timer_seq: u32,
    out: VecDeque<UaOutput>,
    ep_deadline: Option<Instant>,
}

impl UaCore {
    /// A core with this configuration.
    pub fn new(cfg: UaConfig) -> Self {
        let mut ep = Endpoint::new(cfg.endpoint.clone());
        let digest = cfg
            .credentials
            .clone()
            .map(|c| crate::auth::DigestClient::new(c, ep.new_tag().as_bytes()));
        Self {
            digest,
            sent: HashMap::new(),
            ep,
            cfg,
            sessions: HashMap::new(),
            next_session: 1,
            dialogs: DialogSet::new(),
            by_dialog: HashMap::new(),
            by_client_tx: HashMap::new(),
            by_server_tx: HashMap::new(),
            by_call: HashMap::new(),
            pending_2xx: HashMap::new(),
            contacts: Vec::new(),
            regs: HashMap::new(),
            reg_by_tx: HashMap::new(),
            reg_timers: BinaryHeap::new(),
            next_reg: 1,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
            ep_deadline: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &UaConfig {
        &self.cfg
    }

    /// The transaction layer underneath.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The state of a session, `None` once it is forgotten (64*T1 after it ended).
    pub fn state(&self, id: SessionId) -> Option<SessionState> {
        self.sessions.get(&id).map(|s| s.state)
    }

    /// Which side of the INVITE we are on.
    pub fn role(&self, id: SessionId) -> Option<SessionRole> {
        self.sessions.get(&id).map(|s| s.role)
    }

    /// The INVITE that created the session.
    pub fn invite_request(&self, id: SessionId) -> Option<&Request> {
        self.sessions.get(&id).map(|s| &*s.invite)
    }

    /// The confirmed dialog of the session, if any.
    pub fn dialog(&self, id: SessionId) -> Option<&Dialog> {
        let d = self.sessions.get(&id)?.dialog.as_ref()?;
        self.dialogs.get(d)
    }

    /// Number of sessions held (including terminated ones not yet forgotten).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    // ---- inputs and outputs ----------------------------------------------------------

    /// Feeds a received message, a timeout or a transport failure.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        let is_timeout = matches!(input, Input::Timeout);
        self.ep.handle_input(now, input);
        self.pump(now);
        if is_timeout {
            self.fire_timers(now);
        }
    }

    /// The next output. Drain until [`UaOutput::Timeout`].
    pub fn poll_output(&mut self) -> UaOutput {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        // Stale heap entries (re-armed or disarmed timers) are dropped here.
        while let Some(Reverse((_, sid, t, seq))) = self.timers.peek().copied() {
            let live = self
                .sessions
                .get_mut(&sid)
                .is_some_and(|s| *s.timer(t) == seq);
            if live {
                break;
            }
            self.timers.pop();
        }
        while let Some(Reverse((at, id))) = self.reg_timers.peek().copied() {
            if self.regs.get(&id).is_some_and(|r| r.refresh == Some(at)) {
                break;
            }
            self.reg_timers.pop();
        }
        let regs = self.reg_timers.peek().map(|Reverse((at, _))| *at);
        let ours = match (self.timers.peek().map(|Reverse((at, ..))| *at), regs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        UaOutput::Timeout(match (ours, self.ep_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Moves the endpoint's outputs into ours, handling its events as they come.
    fn pump(&mut self, now: Instant) {
        loop {
            match self.ep.poll_output() {
                Output::Transmit(t) => self.out.push_back(UaOutput::Transmit(t)),
                Output::Event(e) => self.on_event(now, e),
                Output::Timeout(d) => {
                    self.ep_deadline = d;
                    return;
                }
            }
        }
    }

    fn emit(&mut self, e: UaEvent) {
        self.out.push_back(UaOutput::Event(e));
    }

    fn arm(&mut self, sid: SessionId, t: SessionTimer, at: Instant) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            self.timer_seq = self.timer_seq.wrapping_add(1).max(1);
            *s.timer(t) = self.timer_seq;
            self.timers.push(Reverse((at, sid, t, self.timer_seq)));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.reg_timers.peek().copied() {
            if at > now {
                break;
            }
            self.reg_timers.pop();
            let due = self.regs.get_mut(&id).is_some_and(|r| {
                let live = r.refresh == Some(at) && !r.stopping;
                if live {
                    r.refresh = None;
                }
                live
            });
            if due && let Err(e) = self.send_register(now, id, false) {
                self.emit(UaEvent::RegistrationFailed {
                    registration: id,
                    status: None,
                    reason: e.to_string(),
                });
            }
        }
        while let Some(Reverse((at, sid, t, seq))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = self
                .sessions
                .get_mut(&sid)
                .is_some_and(|s| *s.timer(t) == seq);
            if !live {
                continue;
            }
            if let Some(s) = self.sessions.get_mut(&sid) {
                *s.timer(t) = 0;
            }
            self.on_timer(now, sid, t);
        }
        self.pump(now);
    }

    fn on_timer(&mut self, now: Instant, sid: SessionId, t: SessionTimer) {
        let t2 = self.cfg.endpoint.timers.t2;
        match t {
            SessionTimer::Retransmit2xx => {
                let Some(s) = self.sessions.get_mut(&sid) else {
                    return;
                };
                if !s.awaiting_ack || s.state == SessionState::Terminated {
                    return;
                }
                if let Some((flow, msg)) = s.ok.as_deref() {
                    let (flow, msg) = (*flow, msg.clone());
                    s.interval = (s.interval * 2).min(t2);
                    let next = now + s.interval;
                    self.ep.send_stateless(flow, &msg);
                    self.arm(sid, SessionTimer::Retransmit2xx, next);
                }
            }
            SessionTimer::AckWait => {
                // §13.3.1.4: no ACK in 64*T1: confirm the dialog, then end it with a BYE.
                let waiting = self
                    .sessions
                    .get(&sid)
                    .is_some_and(|s| s.awaiting_ack && s.state != SessionState::Terminated);
                if waiting {
                    let _ = self.send_bye(now, sid, &[]);
                    self.terminate(now, sid, Cause::NoAck);
                }
            }
            SessionTimer::NoAnswer => {
                if matches!(
                    self.state(sid),
                    Some(SessionState::Incoming | SessionState::Early)
                ) {
                    let _ = self.reply(
                        now,
                        sid,
                        ReplyParams::status(StatusCode::TEMPORARILY_UNAVAILABLE),
                    );
                    self.terminate(now, sid, Cause::NoAnswer);
                }
            }
            SessionTimer::Linger => {
                self.forget(sid);
            }
            SessionTimer::Retransmit1xx => {
                let Some(s) = self.sessions.get_mut(&sid) else {
                    return;
                };
                if let Some(u) = &mut s.unacked {
                    // RFC 3262 §3: T1, doubling each time (no T2 cap).
                    u.interval *= 2;
                    let (flow, msg, next) = (u.flow, u.message.clone(), now + u.interval);
                    self.ep.send_stateless(flow, &msg);
                    self.arm(sid, SessionTimer::Retransmit1xx, next);
                }
            }
            SessionTimer::ReinviteRetry => {
                if self.state(sid) == Some(SessionState::Confirmed)
                    && self.send_reinvite(now, sid).is_err()
                {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        s.reinvite_out = None;
                    }
                    self.emit(UaEvent::ReinviteFailed {
                        session: sid,
                        status: StatusCode::SERVER_INTERNAL_ERROR,
                    });
                }
            }
            SessionTimer::PrackWait => {
                let waiting = self.sessions.get(&sid).is_some_and(|s| s.unacked.is_some());
                if waiting {
                    let mut r = ReplyParams::status(StatusCode::SERVER_INTERNAL_ERROR);
                    r.reason = Some("No PRACK".to_owned());
                    let _ = self.reply(now, sid, r);
                    self.emit(UaEvent::Failed {
                        session: sid,
                        cause: Cause::NoPrack,
                        response: None,
                    });
                    self.terminate(now, sid, Cause::NoPrack);
                }
            }
        }
    }

    /// A PRACK in the early dialog (RFC 3262 §3): 200 if its RAck names our unacknowledged
    /// reliable 1xx, else 481; then a held accept() goes out.
    fn on_prack(&mut self, now: Instant, tx: ServerTxId, sid: SessionId, request: Request) {
        let rack = request.headers.rack().ok().flatten();
        let matched = self.sessions.get(&sid).and_then(|s| {
            let u = s.unacked.as_ref()?;
            let cseq = s.invite.headers.cseq().ok()?;
            rack.filter(|r| r.rseq == u.rseq && r.cseq == cseq.seq && r.method == Method::Invite)
                .map(|_| ())
        });
        if matched.is_none() {
            let r = Response::from_request(
                &request,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                None,
            );
            let _ = self.ep.respond(now, tx, r);
            return;
        }
        let ok = Response::from_request(&request, StatusCode::OK, None);
        let _ = self.ep.respond(now, tx, ok);
        let deferred = self.sessions.get_mut(&sid).and_then(|s| {
            s.unacked = None;
            *s.timer(SessionTimer::Retransmit1xx) = 0;
            *s.timer(SessionTimer::PrackWait) = 0;
            s.deferred_accept.take().map(|p| *p)
        });
        if let Some(params) = deferred
            && let Err(e) = self.accept(now, sid, params)
        {
            self.fail_internal(now, sid, &e);
        }
    }

    /// UAC: a reliable provisional response (RFC 3262 §4): PRACK it once, in RSeq order.
    /// Returns false for a retransmission or an out-of-order one, which is discarded.
    fn prack(&mut self, now: Instant, sid: SessionId, id: &DialogId, response: &Response) -> bool {
        let Ok(Some(rseq)) = response.headers.rseq() else {
            return true;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return false;
        };
        let racked = &mut s.uac.get_or_insert_with(Box::default).racked;
        let last = racked.iter().find(|(d, _)| d == id).map(|(_, n)| *n);
        match last {
            Some(l) if rseq <= l || rseq > l.saturating_add(1) => return false,
            Some(_) => {
                for (d, n) in racked.iter_mut() {
                    if d == id {
                        *n = rseq;
                    }
                }
            }
            None => racked.push((id.clone(), rseq)),
        }
        let Ok(cseq) = s.invite.headers.cseq() else {
            return true;
        };
        let fallback = s.flow;
        let Some(dialog) = self.dialogs.get_mut(id) else {
            return true;
        };
        let next_hop = dialog.next_hop().clone();
        let built = dialog
            .request(Method::Prack)
            .map(|b| b.header("RAck", &format!("{rseq} {} INVITE", cseq.seq)));
        let flow = self.resolve(&next_hop, fallback);
        if let Ok(b) = built
            && let Ok(prack) = Self::build(b, "PRACK")
            && let Ok(tx) = self.send_in_tx(now, prack, flow)
        {
            self.by_client_tx.insert(tx, (sid, Purpose::Prack));
        }
        true
    }

    /// Ends a session: state Terminated, the Terminated event, timers disarmed, and the
    /// session kept 64*T1 to absorb late retransmissions.
    fn terminate(&mut self, now: Instant, sid: SessionId, cause: Cause) {
        let linger = 64 * self.cfg.endpoint.timers.t1;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.state == SessionState::Terminated {
            return;
        }
        s.state = SessionState::Terminated;
        s.timers = [0; TIMERS];
        self.emit(UaEvent::Terminated {
            session: sid,
            cause,
        });
        self.arm(sid, SessionTimer::Linger, now + linger);
    }

    fn forget(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.remove(&sid) else {
            return;
        };
        if let Some(d) = &s.dialog {
            self.by_dialog.remove(d);
            self.dialogs.remove(d);
        }
        if let Ok(call_id) = s.invite.headers.call_id() {
            for id in self.dialogs.remove_early(call_id, &s.local_tag) {
                self.by_dialog.remove(&id);
            }
            self.by_call
                .remove(&(call_id.to_owned(), s.local_tag.clone()));
        }
        self.by_client_tx.retain(|_, (x, _)| *x != sid);
        self.by_server_tx.retain(|_, x| *x != sid);
    }

    // ---- helpers ---------------------------------------------------------------------

    /// `contact` as a shared string: one copy of each of our Contact values for all dialogs.
    fn shared_contact(&mut self, contact: &str) -> ByteString {
        if let Some(c) = self.contacts.iter().find(|c| &***c == contact) {
            return c.clone();
        }
        // Transports are few; a changed configuration only replaces the oldest values.
        if self.contacts.len() >= 8 {
            self.contacts.remove(0);
        }
        let c = ByteString::from(contact);
        self.contacts.push(c.clone());
        c
    }

    /// Our transport of `kind`, for the Via sent-by and the Contact.
    ///
    /// A request can go over TCP without a TCP listener of ours: the endpoint moves a large
    /// UDP request to TCP (RFC 3261 §18.1.1), and a route set may name `transport=tcp`. Its
    /// responses come back over the connection we open (§18.2.2), so the UDP transport's
    /// sent-by and Contact serve: the Contact then tells the peer to reach us over UDP.
    fn local(&self, kind: TransportKind) -> Result<&LocalTransport, Error> {
        let find = |k: TransportKind| self.cfg.transports.iter().find(|t| t.kind == k);
        find(kind)
            .or_else(|| {
                (kind == TransportKind::Tcp)
                    .then(|| find(TransportKind::Udp))
                    .flatten()
            })
            .ok_or_else(|| Error::InvalidArgument(format!("no local {kind} transport")))
    }

    /// Where a request for `uri` goes: an IP address in it as is, else the outbound proxy,
    /// else `fallback` (the flow the dialog started on). Names are resolved by the runtime
    /// (RFC 3263) before they reach the core.
    ///
    /// On a stream transport, a request of the dialog goes back over the connection the
    /// dialog was set up on when the next hop uses that same transport (RFC 5923-style
    /// reuse; RFC 7118 §5 makes it the only way to reach a WebSocket client, whose Contact
    /// is not reachable, and it spares a TLS peer from needing to trust our certificate).
    fn resolve(&self, uri: &Uri, fallback: Flow) -> Flow {
        let uri_transport = uri
            .as_ref()
            .transport()
            .and_then(TransportKind::from_via)
            .unwrap_or(TransportKind::Udp);
        if fallback.conn.is_some()
            && fallback.transport.is_reliable()
            && uri_transport == fallback.transport
        {
            return fallback;
        }
        let host = uri.host().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            let transport = uri
                .as_ref()
                .transport()
                .and_then(TransportKind::from_via)
                .unwrap_or(fallback.transport);
            let port = uri.port().unwrap_or(transport.default_port());
            let remote = SocketAddr::new(ip, port);
            let conn = (remote == fallback.remote && transport == fallback.transport)
                .then_some(fallback.conn)
                .flatten();
            return Flow {
                transport,
                remote,
                conn,
            };
        }
        self.cfg.outbound_proxy.unwrap_or(fallback)
    }

    fn add_headers(headers: &mut Headers, extra: &[(String, String)]) -> Result<(), Error> {
        for (n, v) in extra {
            headers
                .push(n, v)
                .map_err(|e| Error::InvalidArgument(format!("header {n}: {e}")))?;
        }
        Ok(())
    }

    /// Adds our Via (a new branch, `rport`, RFC 3261 §8.1.1.7, RFC 3581) and User-Agent.
    fn with_via(&mut self, mut request: Request, flow: Flow) -> Result<Request, Error> {
        let sent_by = self.local(flow.transport)?.sent_by.clone();
        let via = format!(
            "SIP/2.0/{} {sent_by};branch={};rport",
            flow.transport.via_token(),
            self.ep.new_branch()
        );
        request.headers.remove(HeaderName::Via);
        request.headers.push_front(HeaderName::Via, via);
        if let Some(ua) = &self.cfg.user_agent
            && !request.headers.contains(HeaderName::UserAgent)
        {
            request
                .headers
                .push_known(HeaderName::UserAgent, ua.as_str());
        }
        Ok(request)
    }

    /// Sends `request` (its Via added here) in a new client transaction, keeping it to answer
    /// a challenge to it when credentials are configured.
    fn send_tracked(
        &mut self,
        now: Instant,
        request: Request,
        flow: Flow,
        how: Resend,
        original: Option<ClientTxId>,
    ) -> Result<ClientTxId, Error> {
        let request = self.with_via(request, flow)?;
        let kept = self.digest.is_some().then(|| request.clone());
        let tx = self.ep.send_request(now, request, flow)?;
        if let Some(request) = kept {
            self.sent.insert(
                tx,
                Sent {
                    request,
                    how,
                    original: original.unwrap_or(tx),
                },
            );
        }
        Ok(tx)
    }

    /// Answers a 401/407 to a request kept by [`Self::send_tracked`]: the request again with
    /// Authorization/Proxy-Authorization (§22.2). Returns the new transaction, or `None` when
    /// the credentials were refused or none fit (the challenge then reaches the caller).
    fn resend_with_credentials(
        &mut self,
        now: Instant,
        tx: ClientTxId,
        challenge: &Response,
    ) -> Option<ClientTxId> {
        let sent = self.sent.remove(&tx)?;
        let headers = self
            .digest
            .as_mut()?
            .handle_challenge(&sent.request, challenge)
            .ok()?;
        let (request, flow) = match &sent.how {
            Resend::Standalone { flow } => {
                let mut again = sent.request.clone();
                let cseq = again.headers.cseq().ok()?;
                again.headers.set(
                    HeaderName::CSeq,
                    format!("{} {}", cseq.seq.saturating_add(1), cseq.method),
                );
                (again, *flow)
            }
            Resend::InDialog {
                sid,
                method,
                headers,
                body,
                ..
            } => {
                let (req, flow) = self
                    .build_in_dialog(*sid, method.clone(), headers, body.clone())
                    .ok()?;
                (req, flow)
            }
        };
        let mut request = request;
        crate::auth::apply_auth_headers(&mut request, &headers);
        let new_tx = self
            .send_tracked(now, request, flow, sent.how.clone(), Some(sent.original))
            .ok()?;
        if let Resend::InDialog {
            sid,
            purpose: Some(p),
            ..
        } = sent.how
        {
            self.by_client_tx.insert(new_tx, (sid, p));
            if p == Purpose::Reinvite
                && let Some(o) = self
                    .sessions
                    .get_mut(&sid)
                    .and_then(|s| s.reinvite_out.as_mut())
            {
                o.tx = Some(new_tx);
            }
        }
        self.pump(now);
        Some(new_tx)
    }

    /// Sends `request` (its Via added here) in a new client transaction.
    fn send_in_tx(
        &mut self,
        now: Instant,
        request: Request,
        flow: Flow,
    ) -> Result<ClientTxId, Error> {
        let request = self.with_via(request, flow)?;
        self.ep.send_request(now, request, flow)
    }

    /// Finishes a request from a builder: the builder needs a Via to build, [`Self::with_via`]
    /// replaces it.
    fn build(b: crate::message::RequestBuilder, what: &str) -> Result<Request, Error> {
        b.via("UDP", "invalid.invalid", "z9hG4bKplaceholder")
            .build()
            .map_err(|e| Error::InvalidArgument(format!("{what}: {e}")))
    }

    // ---- UAC ---------------------------------------------------------------------------

    /// Starts an outgoing session: sends the INVITE (RFC 3261 §13.2.1).
    pub fn invite(&mut self, now: Instant, params: InviteParams) -> Result<SessionId, Error> {
        let local = self.local(params.flow.transport)?;
        let contact = local.contact.clone();
        let tag = self.ep.new_tag();
        let call_id = format!("{}{}", self.ep.new_tag(), self.ep.new_tag());
        let mut b = Request::builder(Method::Invite, params.target.clone())
            .from(&self.cfg.identity, &tag)
            .to(&format!("<{}>", params.target.as_str()), None)
            .call_id(&call_id)
            .cseq(1)
            .contact(&contact)
            .header("Allow", ALLOW);
        b = match params.rel100.unwrap_or(self.cfg.rel100) {
            Rel100::None => b.header("Supported", "replaces"),
            Rel100::Supported => b.header("Supported", "100rel, replaces"),
            Rel100::Required => b
                .header("Supported", "replaces")
                .header("Require", "100rel"),
        };
        for (n, v) in &params.headers {
            b = b.header(n, v);
        }
        if let Some(body) = &params.offer {
            b = b.body(&body.content_type, body.bytes.clone());
        }
        let invite = Self::build(b, "INVITE")?;
        let sid = SessionId(self.next_session);
        self.next_session += 1;
        // The INVITE as sent (with its Via): CANCEL copies it (§9.1).
        let sent = self.with_via(invite, params.flow)?;
        let tx = self.ep.send_request(now, sent.clone(), params.flow)?;
        self.by_client_tx.insert(tx, (sid, Purpose::Invite));
        self.by_call.insert((call_id, tag.clone()), sid);
        self.sessions.insert(
            sid,
            Box::new(Session {
                role: SessionRole::Uac,
                state: SessionState::Calling,
                invite: Arc::new(sent),
                flow: params.flow,
                local_tag: tag,
                server_tx: None,
                dialog: None,
                provisional: false,
                cancel_pending: false,
                canceled: false,
                offer_sent: params.offer.is_some(),
                ack: None,
                ok: None,
                interval: self.cfg.endpoint.timers.t1,
                next_rseq: 1,
                unacked: None,
                deferred_accept: None,
                uac: None,
                awaiting_ack: false,
                reinvite_out: None,
                reinvite_ack: None,
                reinvite_in: None,
                timers: [0; TIMERS],
            }),
        );
        self.pump(now);
        Ok(sid)
    }

    /// Cancels an outgoing INVITE (RFC 3261 §9.1): the CANCEL goes now if a provisional
    /// response came, else as soon as one comes. A 2xx that crosses it is ACKed and ended
    /// with a BYE.
    pub fn cancel(&mut self, now: Instant, sid: SessionId) -> Result<(), Error> {
        self.cancel_with(now, sid, &[])
    }

    /// [`UaCore::cancel`] with extra header fields in the CANCEL (a Reason, RFC 3326).
    pub fn cancel_with(
        &mut self,
        now: Instant,
        sid: SessionId,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        if s.role != SessionRole::Uac
            || !matches!(s.state, SessionState::Calling | SessionState::Early)
        {
            return Err(Error::InvalidState(
                "cancel needs an outgoing session not yet answered",
            ));
        }
        if s.canceled || s.cancel_pending {
            return Ok(());
        }
        s.uac.get_or_insert_with(Box::default).cancel_headers = headers.to_vec();
        if s.provisional {
            self.send_cancel(now, sid)?;
        } else {
            s.cancel_pending = true;
        }
        Ok(())
    }

    fn send_cancel(&mut self, now: Instant, sid: SessionId) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        s.canceled = true;
        s.cancel_pending = false;
        let mut cancel = cancel_for(&s.invite)?;
        let extra = s.uac.as_ref().map_or(&[][..], |u| &u.cancel_headers[..]);
        Self::add_headers(&mut cancel.headers, extra)?;
        let flow = s.flow;
        // The CANCEL carries the INVITE's Via (same branch, §9.1): not send_in_tx.
        let tx = self.ep.send_request(now, cancel, flow)?;
        self.by_client_tx.insert(tx, (sid, Purpose::Cancel));
        self.pump(now);
        Ok(())
    }

    /// Sends the ACK for a 2xx that carried the offer, with our answer (RFC 3261 §13.2.2.4,
    /// RFC 3264 §4): only when the INVITE had no offer.
    pub fn ack(&mut self, now: Instant, sid: SessionId, answer: Body) -> Result<(), Error> {
        let s = self
            .sessions
            .get(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        if s.role != SessionRole::Uac || s.state != SessionState::Connecting || s.ack.is_some() {
            return Err(Error::InvalidState(
                "ack() is for an outgoing session whose 2xx carried the offer",
            ));
        }
        let pending = self
            .pending_2xx
            .remove(&sid)
            .ok_or(Error::InvalidState("no 2xx waiting for its ACK"))?;
        self.send_ack(now, sid, &pending, Some(answer))
    }

    fn send_ack(
        &mut self,
        now: Instant,
        sid: SessionId,
        ok: &Response,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let id = DialogId::from_response_as_uac(ok)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let fallback = self
            .sessions
            .get(&sid)
            .map(|s| s.flow)
            .ok_or(Error::InvalidState("no such session"))?;
        let dialog = self
            .dialogs
            .get(&id)
            .ok_or(Error::InvalidState("no dialog for the 2xx"))?;
        let next_hop = dialog.next_hop().clone();
        let mut b = dialog
            .ack(ok)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if let Some(body) = body {
            b = b.body(&body.content_type, body.bytes);
        }
        let (flow, msg) = self.send_ack_builder(b, &next_hop, fallback)?;
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.ack = Some(Box::new((flow, msg)));
            if s.state == SessionState::Connecting {
                s.state = SessionState::Confirmed;
                self.emit(UaEvent::Confirmed {
                    session: sid,
                    ack: None,
                });
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Sends an ACK of a 2xx built by a dialog (§13.2.2.4): a Via with a new branch, outside
    /// any transaction, to the dialog's next hop. Returns where it went and the message, to
    /// send again when the 2xx is retransmitted.
    fn send_ack_builder(
        &mut self,
        b: crate::message::RequestBuilder,
        next_hop: &Uri,
        fallback: Flow,
    ) -> Result<(Flow, Message), Error> {
        let flow = self.resolve(next_hop, fallback);
        let sent_by = self.local(flow.transport)?.sent_by.clone();
        let branch = self.ep.new_branch();
        let ack = b
            .via_rport(flow.transport.via_token(), &sent_by, &branch)
            .build()
            .map_err(|e| Error::InvalidArgument(format!("ACK: {e}")))?;
        let msg = Message::Request(ack);
        self.ep.send_stateless(flow, &msg);
        Ok((flow, msg))
    }

    fn on_invite_response(&mut self, now: Instant, sid: SessionId, response: Response) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let invite = s.invite.clone();
        let status = response.status;
        let outcome = self.dialogs.handle_response(&invite, &response);
        if status.is_provisional() {
            if let Ok(ResponseOutcome::Early { id, .. }) = &outcome {
                self.by_dialog.insert(id.clone(), sid);
                if requires_100rel_response(&response) && !self.prack(now, sid, id, &response) {
                    return;
                }
            }
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            if s.state == SessionState::Terminated {
                return;
            }
            if status != StatusCode::TRYING {
                s.provisional = true;
                if matches!(outcome, Ok(ResponseOutcome::Early { .. })) {
                    s.state = SessionState::Early;
                }
            } else {
                // §9.1: a 100 also lets a CANCEL go.
                s.provisional = true;
            }
            let send_cancel = s.cancel_pending;
            if send_cancel {
                let _ = self.send_cancel(now, sid);
            }
            self.emit(UaEvent::Progress {
                session: sid,
                response,
            });
            return;
        }
        if status.is_success() {
            match outcome {
                Ok(ResponseOutcome::Confirmed { id, .. }) => {
                    self.by_dialog.insert(id.clone(), sid);
                    let Some(s) = self.sessions.get_mut(&sid) else {
                        return;
                    };
                    s.dialog = Some(id);
                    let late = s.canceled || s.state == SessionState::Terminated;
                    let offer_sent = s.offer_sent;
                    s.state = SessionState::Connecting;
                    if late {
                        // CANCEL crossed the 2xx (§9.1, §15): ACK it, then BYE.
                        let _ = self.send_ack(now, sid, &response, None);
                        let _ = self.send_bye(now, sid, &[]);
                        self.terminate(now, sid, Cause::Canceled);
                        return;
                    }
                    self.emit(UaEvent::Accepted {
                        session: sid,
                        response: Some(response.clone()),
                    });
                    if offer_sent {
                        if let Err(e) = self.send_ack(now, sid, &response, None) {
                            self.fail_internal(now, sid, &e);
                        }
                    } else {
                        self.pending_2xx.insert(sid, response);
                    }
                }
                Ok(ResponseOutcome::Retransmission { .. }) => {
                    // §13.2.2.4: every retransmission of the 2xx gets the same ACK.
                    if let Some((flow, msg)) = self
                        .sessions
                        .get(&sid)
                        .and_then(|s| s.ack.as_deref().cloned())
                    {
                        self.ep.send_stateless(flow, &msg);
                    }
                }
                Ok(ResponseOutcome::ExtraFork(dialog)) => {
                    self.end_fork(now, sid, *dialog, &response)
                }
                _ => {
                    // A 2xx that cannot make a dialog (no Contact, no To tag): the session
                    // cannot go on.
                    let Some(s) = self.sessions.get(&sid) else {
                        return;
                    };
                    if s.dialog.is_none() && s.state != SessionState::Terminated {
                        self.emit(UaEvent::Failed {
                            session: sid,
                            cause: Cause::DialogError,
                            response: Some(response),
                        });
                        self.terminate(now, sid, Cause::DialogError);
                    }
                }
            }
            return;
        }
        // 401/407 (§22.2): the same INVITE again with credentials, CSeq + 1, a new branch.
        if (status == StatusCode::UNAUTHORIZED
            || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
            && self.retry_with_credentials(now, sid, &response)
        {
            return;
        }
        // 3xx-6xx (§13.2.2.3): the session fails; the transaction ACKs it.
        if let Ok(ResponseOutcome::Terminated { ids }) = &outcome {
            for id in ids {
                self.by_dialog.remove(id);
            }
        }
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        if s.state == SessionState::Terminated {
            return;
        }
        let cause = if s.canceled && status == StatusCode::REQUEST_TERMINATED {
            Cause::Canceled
        } else {
            Cause::from_status(status)
        };
        self.emit(UaEvent::Failed {
            session: sid,
            cause,
            response: Some(response),
        });
        self.terminate(now, sid, cause);
    }

    /// Answers a challenge to our INVITE: re-sends it with Authorization/Proxy-Authorization
    /// (RFC 3261 §22.2; same Call-ID and From tag, CSeq + 1, new branch). False when there
    /// are no credentials, the session is being canceled or ended, or the credentials were
    /// already refused ([`crate::AuthError::Rejected`]): the caller then fails the session.
    fn retry_with_credentials(
        &mut self,
        now: Instant,
        sid: SessionId,
        challenge: &Response,
    ) -> bool {
        let Some(s) = self.sessions.get(&sid) else {
            return false;
        };
        if s.canceled || s.cancel_pending || s.state == SessionState::Terminated {
            return false;
        }
        let (sent, flow) = (Request::clone(&s.invite), s.flow);
        let Some(digest) = self.digest.as_mut() else {
            return false;
        };
        let Ok(headers) = digest.handle_challenge(&sent, challenge) else {
            return false;
        };
        let mut again = sent;
        crate::auth::apply_auth_headers(&mut again, &headers);
        let Ok(cseq) = again.headers.cseq() else {
            return false;
        };
        let next = format!("{} INVITE", cseq.seq.saturating_add(1));
        again.headers.set(HeaderName::CSeq, next);
        let Ok(again) = self.with_via(again, flow) else {
            return false;
        };
        let Ok(tx) = self.ep.send_request(now, again.clone(), flow) else {
            return false;
        };
        self.by_client_tx.insert(tx, (sid, Purpose::Invite));
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.invite = Arc::new(again);
        }
        self.pump(now);
        true
    }

    /// A 2xx from a second fork (§13.2.2.4): ACK it and end it with a BYE, once.
    fn end_fork(&mut self, now: Instant, sid: SessionId, mut dialog: Dialog, ok: &Response) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let fallback = s.flow;
        let first = !s
            .uac
            .as_ref()
            .is_some_and(|u| u.forks_ended.contains(dialog.id()));
        let next_hop = dialog.next_hop().clone();
        let flow = self.resolve(&next_hop, fallback);
        if let Ok(b) = dialog.ack(ok) {
            let _ = self.send_ack_builder(b, &next_hop, fallback);
        }
        if first {
            if let Ok(b) = dialog.request(Method::Bye)
                && let Ok(bye) = Self::build(b, "BYE")
                && let Ok(tx) = self.send_in_tx(now, bye, flow)
            {
                self.by_client_tx.insert(tx, (sid, Purpose::Bye));
            }
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.uac
                    .get_or_insert_with(Box::default)
                    .forks_ended
                    .push(dialog.id().clone());
            }
        }
        self.pump(now);
    }

    fn fail_internal(&mut self, now: Instant, sid: SessionId, _e: &Error) {
        self.emit(UaEvent::Failed {
            session: sid,
            cause: Cause::InternalError,
            response: None,
        });
        self.terminate(now, sid, Cause::InternalError);
    }

    // ---- UAS ---------------------------------------------------------------------------

    /// Sends a provisional response (101-199) to an incoming INVITE (§13.3.1.1); with a To
    /// tag it creates the early dialog.
    pub fn progress(
        &mut self,
        now: Instant,
        sid: SessionId,
        params: ReplyParams,
    ) -> Result<(), Error> {
        status_in(params.status, 101..=199, "progress")?;
        self.check_answerable(sid)?;
        self.reply(now, sid, params)?;
        if let Some(s) = self.sessions.get_mut(&sid)
            && s.state == SessionState::Incoming
        {
            s.state = SessionState::Early;
        }
        Ok(())
    }

    /// Accepts an incoming INVITE with a 2xx (§13.3.1.4): the body is the answer (or the
    /// offer, if the INVITE had none). The 2xx is retransmitted until the ACK; without one in
    /// 64*T1 the session ends with a BYE.
    pub fn accept(
        &mut self,
        now: Instant,
        sid: SessionId,
        params: ReplyParams,
    ) -> Result<(), Error> {
        status_in(params.status, 200..=299, "accept")?;
        self.check_answerable(sid)?;
        // RFC 3262 §3: no 2xx before the PRACK of a reliable 1xx that carried SDP.
        if let Some(s) = self.sessions.get_mut(&sid)
            && s.unacked.as_ref().is_some_and(|u| u.has_body)
        {
            s.deferred_accept = Some(Box::new(params));
            return Ok(());
        }
        let msg = self.reply(now, sid, params)?;
        let t1 = self.cfg.endpoint.timers.t1;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Err(Error::InvalidState("no such session"));
        };
        s.state = SessionState::Connecting;
        s.interval = t1;
        s.awaiting_ack = true;
        *s.timer(SessionTimer::NoAnswer) = 0;
        s.ok = Some(Box::new((s.flow, msg)));
        if let Some(id) = &s.dialog
            && let Some(d) = self.dialogs.get_mut(id)
        {
            d.confirm();
        }
        self.arm(sid, SessionTimer::Retransmit2xx, now + t1);
        self.arm(sid, SessionTimer::AckWait, now + 64 * t1);
        self.emit(UaEvent::Accepted {
            session: sid,
            response: None,
        });
        Ok(())
    }

    /// Rejects an incoming INVITE with a final status of 300-699 (§13.3.1.3).
    pub fn reject(
        &mut self,
        now: Instant,
        sid: SessionId,
        params: ReplyParams,
    ) -> Result<(), Error> {
        status_in(params.status, 300..=699, "reject")?;
        self.check_answerable(sid)?;
        self.reply(now, sid, params)?;
        self.terminate(now, sid, Cause::Rejected);
        Ok(())
    }

    fn check_answerable(&self, sid: SessionId) -> Result<(), Error> {
        let s = self
            .sessions
            .get(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        if s.role != SessionRole::Uas
            || !matches!(s.state, SessionState::Incoming | SessionState::Early)
        {
            return Err(Error::InvalidState(
                "the INVITE is already answered, or this is not an incoming session",
            ));
        }
        Ok(())
    }

    /// Sends a response to the session's INVITE; creates the UAS dialog on the first 1xx/2xx
    /// with a tag. Returns the response as sent.
    fn reply(
        &mut self,
        now: Instant,
        sid: SessionId,
        params: ReplyParams,
    ) -> Result<Message, Error> {
        let s = self
            .sessions
            .get(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        let tx = s
            .server_tx
            .ok_or(Error::InvalidState("no INVITE transaction"))?;
        let contact = self.local(s.flow.transport)?.contact.clone();
        let mut resp = Response::from_request(&s.invite, params.status, Some(&s.local_tag));
        if let Some(r) = &params.reason {
            resp.reason = ByteString::from(r.replace(['\r', '\n'], " "));
        }
        let dialog_creating = params.status.as_u16() > 100 && params.status.as_u16() < 300;
        if dialog_creating {
            // The caller builds its route set from these (RFC 3261 §12.1.1): without them
            // its in-dialog requests would bypass the record-routing proxies.
            resp.headers
                .copy_from(&s.invite.headers, HeaderName::RecordRoute);
            resp.headers
                .push_known(HeaderName::Contact, contact.as_str());
            resp.headers.push_known(HeaderName::Allow, ALLOW);
        }
        if let Some(ua) = &self.cfg.user_agent {
            resp.headers.push_known(HeaderName::Server, ua.as_str());
        }
        Self::add_headers(&mut resp.headers, &params.headers)?;
        if let Some(b) = &params.body {
            resp.set_body(&b.content_type, b.bytes.clone());
        }
        // RFC 3262 §3: a reliable provisional response carries Require: 100rel and an RSeq.
        let st = params.status.as_u16();
        let reliable = (101..200).contains(&st)
            && match self.cfg.rel100 {
                Rel100::None => false,
                Rel100::Required => true,
                Rel100::Supported => {
                    requires_100rel(&s.invite) || (params.rel100 && offers_100rel(&s.invite))
                }
            };
        let mut rseq = None;
        if reliable {
            if s.unacked.is_some() {
                return Err(Error::InvalidState(
                    "a reliable provisional response still waits for its PRACK",
                ));
            }
            resp.headers.push_known(HeaderName::Require, "100rel");
            resp.headers
                .push_known(HeaderName::RSeq, s.next_rseq.to_string());
            rseq = Some(s.next_rseq);
        }
        let need_dialog = dialog_creating && s.dialog.is_none();
        let invite = s.invite.clone();
        let local_tag = s.local_tag.clone();
        if need_dialog {
            let mut d = Dialog::new_uas(&invite, &local_tag, &contact)
                .map_err(|e| Error::InvalidArgument(format!("dialog: {e}")))?;
            d.share_local_contact(self.shared_contact(d.local_contact()));
            let id = d.id().clone();
            self.dialogs.insert(d);
            self.by_dialog.insert(id.clone(), sid);
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.dialog = Some(id);
            }
        }
        let has_body = !resp.body.is_empty();
        let msg = Message::Response(resp.clone());
        self.ep.respond(now, tx, resp)?;
        let t1 = self.cfg.endpoint.timers.t1;
        if let Some(s) = self.sessions.get_mut(&sid) {
            if let Some(rseq) = rseq {
                s.next_rseq = rseq.wrapping_add(1).max(1);
                s.unacked = Some(Box::new(Unacked {
                    rseq,
                    flow: s.flow,
                    message: msg.clone(),
                    interval: t1,
                    has_body,
                }));
                self.arm(sid, SessionTimer::Retransmit1xx, now + t1);
                self.arm(sid, SessionTimer::PrackWait, now + 64 * t1);
            } else if st >= 200 {
                // A final response ends the reliable 1xx retransmissions.
                s.unacked = None;
                *s.timer(SessionTimer::Retransmit1xx) = 0;
                *s.timer(SessionTimer::PrackWait) = 0;
            }
        }
        self.pump(now);
        Ok(msg)
    }

    fn on_invite(&mut self, now: Instant, tx: ServerTxId, request: Request, flow: Flow) {
        // §8.2.2.3: extensions we do not support.
        let rel100 = self.cfg.rel100;
        let unsupported: Vec<&str> = request
            .headers
            .tokens(HeaderName::Require)
            .filter(|t| {
                let known = t.eq_ignore_ascii_case("replaces")
                    || (t.eq_ignore_ascii_case("100rel") && rel100 != Rel100::None);
                !known
            })
            .collect();
        if !unsupported.is_empty() {
            let mut r = Response::from_request(&request, StatusCode::BAD_EXTENSION, None);
            r.headers
                .push_known(HeaderName::Unsupported, unsupported.join(", "));
            let _ = self.ep.respond(now, tx, r);
            return;
        }
        // RFC 3262 §3: we require reliable provisional responses; the caller cannot do them.
        if rel100 == Rel100::Required && !offers_100rel(&request) {
            let mut r = Response::from_request(&request, StatusCode::EXTENSION_REQUIRED, None);
            r.headers.push_known(HeaderName::Require, "100rel");
            let _ = self.ep.respond(now, tx, r);
            return;
        }
        // §8.2.3: a body we cannot read.
        if !request.body.is_empty() {
            let sdp = request
                .headers
                .content_type()
                .ok()
                .flatten()
                .is_some_and(|t| t.is("application", "sdp"));
            if !sdp {
                let mut r =
                    Response::from_request(&request, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
                r.headers.push_known(HeaderName::Accept, "application/sdp");
                let _ = self.ep.respond(now, tx, r);
                return;
            }
        }
        let sid = SessionId(self.next_session);
        self.next_session += 1;
        let tag = self.ep.new_tag();
        // RFC 3262 §3: the first RSeq is random in 1..2^31-1 (kept small enough to count up).
        let next_rseq = u32::from_str_radix(&self.ep.new_tag()[..7], 16).unwrap_or(0) + 1;
        self.by_server_tx.insert(tx, sid);
        let request = Arc::new(request);
        self.sessions.insert(
            sid,
            Box::new(Session {
                role: SessionRole::Uas,
                state: SessionState::Incoming,
                invite: Arc::clone(&request),
                flow,
                local_tag: tag,
                server_tx: Some(tx),
                dialog: None,
                provisional: false,
                cancel_pending: false,
                canceled: false,
                offer_sent: false,
                ack: None,
                ok: None,
                interval: self.cfg.endpoint.timers.t1,
                next_rseq,
                unacked: None,
                deferred_accept: None,
                uac: None,
                awaiting_ack: false,
                reinvite_out: None,
                reinvite_ack: None,
                reinvite_in: None,
                timers: [0; TIMERS],
            }),
        );
        if let Some(d) = self.cfg.no_answer_timeout {
            self.arm(sid, SessionTimer::NoAnswer, now + d);
        }
        self.emit(UaEvent::Incoming {
            session: sid,
            request,
        });
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        request: Request,
        cancels: Option<ServerTxId>,
    ) {
        let sid = cancels.and_then(|t| self.by_server_tx.get(&t).copied());
        let Some(sid) = sid else {
            // §9.2: no matching transaction.
            let r = Response::from_request(
                &request,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                None,
            );
            let _ = self.ep.respond(now, tx, r);
            return;
        };
        let tag = self.sessions.get(&sid).map(|s| s.local_tag.clone());
        let ok = Response::from_request(&request, StatusCode::OK, tag.as_deref());
        let _ = self.ep.respond(now, tx, ok);
        if matches!(
            self.state(sid),
            Some(SessionState::Incoming | SessionState::Early)
        ) {
            let _ = self.reply(
                now,
                sid,
                ReplyParams::status(StatusCode::REQUEST_TERMINATED),
            );
            self.emit(UaEvent::Canceled {
                session: sid,
                request,
            });
            self.terminate(now, sid, Cause::Canceled);
        }
    }

    fn on_ack(&mut self, request: Request) {
        let Ok(id) = DialogId::from_request_as_uas(&request) else {
            return;
        };
        let Some(&sid) = self.by_dialog.get(&id) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if !s.awaiting_ack || s.state == SessionState::Terminated {
            return;
        }
        // The ACK of the 2xx we are retransmitting: to the INVITE, or to a re-INVITE.
        let acked_cseq = match s.ok.as_deref() {
            Some((_, Message::Response(r))) => r.headers.cseq().ok().map(|c| c.seq),
            _ => None,
        };
        if request.headers.cseq().ok().map(|c| c.seq) != acked_cseq {
            return;
        }
        s.awaiting_ack = false;
        // The 2xx was kept only to retransmit it until this ACK (§13.3.1.4).
        s.ok = None;
        *s.timer(SessionTimer::Retransmit2xx) = 0;
        *s.timer(SessionTimer::AckWait) = 0;
        if s.state == SessionState::Connecting {
            s.state = SessionState::Confirmed;
            self.emit(UaEvent::Confirmed {
                session: sid,
                ack: Some(request),
            });
        }
    }

    // ---- re-INVITE (§14) ---------------------------------------------------------------

    /// Sends a re-INVITE in an established session (RFC 3261 §14.1): a new offer (hold,
    /// resume, new media), or none to ask the peer for one. A 491 (glare) is retried after
    /// the random wait §14.1 prescribes; the result comes as [`UaEvent::ReinviteAccepted`]
    /// or [`UaEvent::ReinviteFailed`].
    pub fn reinvite(
        &mut self,
        now: Instant,
        sid: SessionId,
        offer: Option<Body>,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        self.start_reinvite(now, sid, offer, headers, true)
    }

    /// Sends a re-INVITE as [`UaCore::reinvite`] does, but a 491 (glare, §14.1) is reported
    /// as [`UaEvent::ReinviteFailed`] with status 491 instead of retried: for an application
    /// whose offer must not be sent again as it was (an ICE restart or any re-offer whose
    /// media state it rolls back on failure), and which decides itself whether to try again
    /// with a fresh offer. The session goes on unchanged.
    pub fn reinvite_once(
        &mut self,
        now: Instant,
        sid: SessionId,
        offer: Option<Body>,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        self.start_reinvite(now, sid, offer, headers, false)
    }

    fn start_reinvite(
        &mut self,
        now: Instant,
        sid: SessionId,
        offer: Option<Body>,
        headers: &[(String, String)],
        retry_glare: bool,
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        if s.state != SessionState::Confirmed {
            return Err(Error::InvalidState(
                "re-INVITE needs an established session",
            ));
        }
        if s.reinvite_out.is_some() || s.reinvite_in.is_some() || s.awaiting_ack {
            return Err(Error::InvalidState(
                "another INVITE transaction is in progress",
            ));
        }
        s.reinvite_out = Some(Box::new(ReinviteOut {
            offer,
            headers: headers.to_vec(),
            tx: None,
            retry_glare,
        }));
        self.send_reinvite(now, sid)
    }

    fn send_reinvite(&mut self, now: Instant, sid: SessionId) -> Result<(), Error> {
        let out = self
            .sessions
            .get(&sid)
            .and_then(|s| s.reinvite_out.clone())
            .ok_or(Error::InvalidState("no re-INVITE to send"))?;
        let mut headers = vec![("Allow".to_owned(), ALLOW.to_owned())];
        headers.extend(out.headers);
        let tx = self.send_in_dialog(
            now,
            sid,
            Method::Invite,
            &headers,
            out.offer,
            Some(Purpose::Reinvite),
        )?;
        if let Some(o) = self
            .sessions
            .get_mut(&sid)
            .and_then(|s| s.reinvite_out.as_mut())
        {
            o.tx = Some(tx);
        }
        Ok(())
    }

    /// A response to our re-INVITE (§14.1).
    fn on_reinvite_response(
        &mut self,
        now: Instant,
        sid: SessionId,
        tx: ClientTxId,
        response: Response,
    ) {
        let status = response.status;
        if status.is_provisional() {
            return;
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let current = s.reinvite_out.as_ref().and_then(|o| o.tx) == Some(tx);
        if status.is_success() {
            if !current {
                // A retransmission of a 2xx already ACKed (§13.2.2.4).
                if let Some((flow, msg)) = s.reinvite_ack.as_deref().cloned() {
                    self.ep.send_stateless(flow, &msg);
                }
                return;
            }
            s.reinvite_out = None;
            let Some(id) = s.dialog.clone() else {
                return;
            };
            let fallback = s.flow;
            let Some(dialog) = self.dialogs.get_mut(&id) else {
                return;
            };
            let _ = dialog.refresh_target_from_response(&response);
            let next_hop = dialog.next_hop().clone();
            let ack = dialog.ack(&response);
            if let Ok(b) = ack
                && let Ok((flow, msg)) = self.send_ack_builder(b, &next_hop, fallback)
                && let Some(s) = self.sessions.get_mut(&sid)
            {
                s.reinvite_ack = Some(Box::new((flow, msg)));
            }
            self.emit(UaEvent::ReinviteAccepted {
                session: sid,
                response,
            });
            return;
        }
        if !current {
            return;
        }
        let retry = s.reinvite_out.as_ref().is_some_and(|o| o.retry_glare);
        if status == StatusCode::REQUEST_PENDING && retry {
            // §14.1 glare: the owner of the Call-ID (the UAC of the dialog) waits 2.1-4 s,
            // the other side 0-2 s, in units of 10 ms.
            let r = u64::from_str_radix(&self.ep.new_tag()[..4], 16).unwrap_or(0);
            let owner = s.role == SessionRole::Uac;
            let wait = if owner {
                Duration::from_millis(2100 + (r % 191) * 10)
            } else {
                Duration::from_millis((r % 201) * 10)
            };
            if let Some(o) = s.reinvite_out.as_mut() {
                o.tx = None;
            }
            self.arm(sid, SessionTimer::ReinviteRetry, now + wait);
            return;
        }
        s.reinvite_out = None;
        self.emit(UaEvent::ReinviteFailed {
            session: sid,
            status,
        });
        if status == StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST
            || status == StatusCode::REQUEST_TIMEOUT
        {
            // §14.1: the dialog is gone.
            let _ = self.send_bye(now, sid, &[]);
            self.terminate(now, sid, Cause::DialogError);
        }
    }

    /// The peer's re-INVITE (§14.2): 491 if ours is in flight, 500 with Retry-After if
    /// another of theirs is not answered yet, else handed to the application.
    fn on_reinvite(&mut self, now: Instant, tx: ServerTxId, sid: SessionId, request: Request) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let ours_in_flight = s.reinvite_out.as_ref().is_some_and(|o| o.tx.is_some())
            || (s.role == SessionRole::Uac && s.state != SessionState::Confirmed);
        if ours_in_flight {
            let r = Response::from_request(&request, StatusCode::REQUEST_PENDING, None);
            let _ = self.ep.respond(now, tx, r);
            return;
        }
        if s.reinvite_in.is_some() || s.awaiting_ack || s.state != SessionState::Confirmed {
            let mut r = Response::from_request(&request, StatusCode::SERVER_INTERNAL_ERROR, None);
            r.headers.push_known(HeaderName::RetryAfter, "3");
            let _ = self.ep.respond(now, tx, r);
            return;
        }
        s.reinvite_in = Some(Box::new((tx, request.clone())));
        self.emit(UaEvent::Reinvite {
            session: sid,
            request,
        });
    }

    /// Accepts the peer's re-INVITE with a 2xx carrying `body` (the answer, or our offer when
    /// the re-INVITE had none); retransmitted until the ACK like the first 2xx (§14.2).
    pub fn accept_reinvite(
        &mut self,
        now: Instant,
        sid: SessionId,
        body: Option<Body>,
    ) -> Result<(), Error> {
        let (tx, request, flow) = {
            let s = self
                .sessions
                .get_mut(&sid)
                .ok_or(Error::InvalidState("no such session"))?;
            let (tx, request) = *s
                .reinvite_in
                .take()
                .ok_or(Error::InvalidState("no re-INVITE to answer"))?;
            (tx, request, s.flow)
        };
        let contact = self.local(flow.transport)?.contact.clone();
        let mut resp = Response::from_request(&request, StatusCode::OK, None);
        resp.headers
            .push_known(HeaderName::Contact, contact.as_str());
        resp.headers.push_known(HeaderName::Allow, ALLOW);
        if let Some(b) = body {
            resp.set_body(&b.content_type, b.bytes);
        }
        let msg = Message::Response(resp.clone());
        self.ep.respond(now, tx, resp)?;
        let t1 = self.cfg.endpoint.timers.t1;
        if let Some(s) = self.sessions.get_mut(&sid) {
            if let Some(id) = &s.dialog
                && let Some(d) = self.dialogs.get_mut(id)
            {
                let _ = d.refresh_target_from_request(&request);
            }
            s.ok = Some(Box::new((s.flow, msg)));
            s.awaiting_ack = true;
            s.interval = t1;
        }
        self.arm(sid, SessionTimer::Retransmit2xx, now + t1);
        self.arm(sid, SessionTimer::AckWait, now + 64 * t1);
        self.pump(now);
        Ok(())
    }

    /// Rejects the peer's re-INVITE (e.g. 488); the session goes on unchanged (§14.2).
    pub fn reject_reinvite(
        &mut self,
        now: Instant,
        sid: SessionId,
        params: ReplyParams,
    ) -> Result<(), Error> {
        status_in(params.status, 300..=699, "reject_reinvite")?;
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        let (tx, request) = *s
            .reinvite_in
            .take()
            .ok_or(Error::InvalidState("no re-INVITE to answer"))?;
        let mut resp = Response::from_request(&request, params.status, None);
        if let Some(r) = &params.reason {
            resp.reason = ByteString::from(r.replace(['\r', '\n'], " "));
        }
        Self::add_headers(&mut resp.headers, &params.headers)?;
        self.ep.respond(now, tx, resp)?;
        self.pump(now);
        Ok(())
    }

    // ---- both sides --------------------------------------------------------------------

    /// Ends an established session with a BYE (§15.1.1). Extra headers (a Reason, RFC 3326)
    /// go in it.
    pub fn bye(
        &mut self,
        now: Instant,
        sid: SessionId,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        self.bye_with_body(now, sid, headers, None)
    }

    /// [`UaCore::bye`] with a body in the BYE.
    pub fn bye_with_body(
        &mut self,
        now: Instant,
        sid: SessionId,
        headers: &[(String, String)],
        body: Option<Body>,
    ) -> Result<(), Error> {
        match self.state(sid) {
            Some(SessionState::Confirmed | SessionState::Connecting) => {}
            Some(_) => {
                return Err(Error::InvalidState("bye needs an established session"));
            }
            None => return Err(Error::InvalidState("no such session")),
        }
        self.send_bye_body(now, sid, headers, body)?;
        self.terminate(now, sid, Cause::Bye);
        Ok(())
    }

    fn send_bye(
        &mut self,
        now: Instant,
        sid: SessionId,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        self.send_bye_body(now, sid, headers, None)
    }

    fn send_bye_body(
        &mut self,
        now: Instant,
        sid: SessionId,
        headers: &[(String, String)],
        body: Option<Body>,
    ) -> Result<(), Error> {
        self.send_in_dialog(now, sid, Method::Bye, headers, body, Some(Purpose::Bye))
            .map(drop)
    }

    /// Builds a request of the session's dialog (§12.2.1.1: route set, CSeq, tags, Contact
    /// for target refreshes) with `headers` and `body`, and sends it in a new transaction to
    /// the dialog's next hop; `purpose` routes its responses back to the session.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        sid: SessionId,
        method: Method,
        headers: &[(String, String)],
        body: Option<Body>,
        purpose: Option<Purpose>,
    ) -> Result<ClientTxId, Error> {
        let (req, flow) = self.build_in_dialog(sid, method.clone(), headers, body.clone())?;
        let how = Resend::InDialog {
            sid,
            method,
            headers: headers.to_vec(),
            body,
            purpose,
        };
        let tx = self.send_tracked(now, req, flow, how, None)?;
        if let Some(p) = purpose {
            self.by_client_tx.insert(tx, (sid, p));
        }
        self.pump(now);
        Ok(tx)
    }

    /// Builds a request of the session's dialog and says where it goes (see
    /// [`Self::send_in_dialog`]).
    fn build_in_dialog(
        &mut self,
        sid: SessionId,
        method: Method,
        headers: &[(String, String)],
        body: Option<Body>,
    ) -> Result<(Request, Flow), Error> {
        let s = self
            .sessions
            .get(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        let fallback = s.flow;
        // Before a 2xx, an early dialog of a 18x with a To tag (RFC 3261 §12.1; RFC 8840
        // §5.1 sends INFO in it); with forked 18xs, one of them.
        let early = || {
            self.by_dialog
                .iter()
                .find(|(_, owner)| **owner == sid)
                .map(|(id, _)| id.clone())
        };
        let id = match s.dialog.clone() {
            Some(id) => id,
            None if s.state == SessionState::Early => {
                early().ok_or(Error::InvalidState("no dialog"))?
            }
            None => return Err(Error::InvalidState("no dialog")),
        };
        let dialog = self
            .dialogs
            .get_mut(&id)
            .ok_or(Error::InvalidState("no dialog"))?;
        let mut b = dialog
            .request(method)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let next_hop = dialog.next_hop().clone();
        for (n, v) in headers {
            b = b.header(n, v);
        }
        if let Some(body) = body {
            b = b.body(&body.content_type, body.bytes);
        }
        let flow = self.resolve(&next_hop, fallback);
        Ok((Self::build(b, "request")?, flow))
    }

    /// Sends a request inside the session's dialog (SIP.js `sendRequest`): INFO (DTMF,
    /// RFC 6086), REFER (RFC 3515), NOTIFY, MESSAGE, UPDATE... The answer comes as
    /// [`UaEvent::Response`]. INVITE, ACK, CANCEL, BYE and PRACK have their own commands.
    pub fn request_in_dialog(
        &mut self,
        now: Instant,
        sid: SessionId,
        method: Method,
        headers: &[(String, String)],
        body: Option<Body>,
    ) -> Result<ClientTxId, Error> {
        if matches!(
            method,
            Method::Invite | Method::Ack | Method::Cancel | Method::Bye | Method::Prack
        ) {
            return Err(Error::InvalidArgument(format!(
                "{method} has its own command (reinvite, bye, cancel)"
            )));
        }
        let s = self
            .sessions
            .get(&sid)
            .ok_or(Error::InvalidState("no such session"))?;
        if !matches!(
            s.state,
            SessionState::Confirmed | SessionState::Connecting | SessionState::Early
        ) {
            return Err(Error::InvalidState("the session has no dialog to send in"));
        }
        self.send_in_dialog(now, sid, method, headers, body, None)
    }

    /// Answers a request handed over in [`UaEvent::InDialogRequest`] or [`UaEvent::Request`].
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        response: Response,
    ) -> Result<(), Error> {
        self.ep.respond(now, tx, response)?;
        self.pump(now);
        Ok(())
    }

    /// Sends a request outside any session (MESSAGE, OPTIONS, ...) from our identity; the
    /// answer comes as [`UaEvent::Response`].
    pub fn send_request(
        &mut self,
        now: Instant,
        method: Method,
        target: Uri,
        flow: Flow,
        headers: &[(String, String)],
        body: Option<Body>,
    ) -> Result<ClientTxId, Error> {
        let tag = self.ep.new_tag();
        let call_id = format!("{}{}", self.ep.new_tag(), self.ep.new_tag());
        let mut b = Request::builder(method, target.clone())
            .from(&self.cfg.identity, &tag)
            .to(&format!("<{}>", target.as_str()), None)
            .call_id(&call_id)
            .cseq(1);
        for (n, v) in headers {
            b = b.header(n, v);
        }
        if let Some(body) = body {
            b = b.body(&body.content_type, body.bytes);
        }
        let req = Self::build(b, "request")?;
        let tx = self.send_tracked(now, req, flow, Resend::Standalone { flow }, None)?;
        self.pump(now);
        Ok(tx)
    }

    // ---- registration (§10.2) -----------------------------------------------------------

    /// Registers a contact with a registrar (RFC 3261 §10.2), answering digest challenges
    /// with the credentials of `params` and refreshing before expiry; `flow` is where the
    /// registrar is. The outcome comes as [`UaEvent::Registered`] or
    /// [`UaEvent::RegistrationFailed`].
    pub fn register(
        &mut self,
        now: Instant,
        params: RegisterParams,
        flow: Flow,
    ) -> Result<RegistrationId, Error> {
        let call_id = format!("{}{}", self.ep.new_tag(), self.ep.new_tag());
        let tag = self.ep.new_tag();
        // The digest client is seeded from the Call-ID and tag, both from our generator.
        let reg = Registration::new(params, call_id, tag)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let id = RegistrationId(self.next_reg);
        self.next_reg += 1;
        self.regs.insert(
            id,
            Reg {
                reg,
                flow,
                refresh: None,
                stopping: false,
            },
        );
        self.send_register(now, id, false)?;
        Ok(id)
    }

    /// Removes the registration's binding (REGISTER with expires 0, §10.2.2); reported as
    /// [`UaEvent::Unregistered`]. No refresh follows.
    pub fn unregister(&mut self, now: Instant, id: RegistrationId) -> Result<(), Error> {
        let r = self
            .regs
            .get_mut(&id)
            .ok_or(Error::InvalidState("no such registration"))?;
        r.stopping = true;
        r.refresh = None;
        self.send_register(now, id, true)
    }

    fn send_register(
        &mut self,
        now: Instant,
        id: RegistrationId,
        remove: bool,
    ) -> Result<(), Error> {
        let r = self
            .regs
            .get_mut(&id)
            .ok_or(Error::InvalidState("no such registration"))?;
        let req = if remove {
            r.reg.unregister(now)
        } else {
            r.reg.register(now)
        }
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let flow = r.flow;
        self.send_register_request(now, id, req, flow)
    }

    fn send_register_request(
        &mut self,
        now: Instant,
        id: RegistrationId,
        req: Request,
        flow: Flow,
    ) -> Result<(), Error> {
        let tx = self.send_in_tx(now, req, flow)?;
        self.reg_by_tx.insert(tx, id);
        self.pump(now);
        Ok(())
    }

    fn on_register_step(&mut self, now: Instant, id: RegistrationId, step: RegistrationStep) {
        match step {
            RegistrationStep::Registered { expires, .. } => {
                if let Some(r) = self.regs.get_mut(&id)
                    && !r.stopping
                    && let Some(at) = r.reg.refresh_at()
                {
                    r.refresh = Some(at);
                    self.reg_timers.push(Reverse((at, id)));
                }
                self.emit(UaEvent::Registered {
                    registration: id,
                    expires,
                });
            }
            RegistrationStep::Unregistered => {
                self.regs.remove(&id);
                self.emit(UaEvent::Unregistered { registration: id });
            }
            RegistrationStep::Retry(req) => {
                let Some(flow) = self.regs.get(&id).map(|r| r.flow) else {
                    return;
                };
                if let Err(e) = self.send_register_request(now, id, req, flow) {
                    self.emit(UaEvent::RegistrationFailed {
                        registration: id,
                        status: None,
                        reason: e.to_string(),
                    });
                }
            }
            RegistrationStep::Failed { status, reason, .. } => {
                self.emit(UaEvent::RegistrationFailed {
                    registration: id,
                    status,
                    reason: reason.to_string(),
                });
            }
            RegistrationStep::Ignore => {}
        }
    }

    // ---- endpoint events ---------------------------------------------------------------

    fn on_event(&mut self, now: Instant, e: Event) {
        // A transaction that ends can no longer be challenged: forget its request.
        let finished = match &e {
            Event::Response { tx, response } if response.status.is_final() => Some(*tx),
            Event::Timeout { tx } | Event::TransportError { tx, .. } => Some(*tx),
            _ => None,
        };
        self.on_event_inner(now, e);
        if let Some(tx) = finished {
            self.sent.remove(&tx);
        }
    }

    fn on_event_inner(&mut self, now: Instant, e: Event) {
        match e {
            Event::Request {
                tx,
                request,
                flow,
                cancels,
            } => self.on_request(now, tx, request, flow, cancels),
            Event::Ack { request, .. } => self.on_ack(request),
            Event::Response { tx, response } if self.reg_by_tx.contains_key(&tx) => {
                let Some(&id) = self.reg_by_tx.get(&tx) else {
                    return;
                };
                if response.status.is_final() {
                    self.reg_by_tx.remove(&tx);
                }
                let step = match self.regs.get_mut(&id) {
                    Some(r) => r.reg.on_response(now, &response),
                    None => return,
                };
                self.on_register_step(now, id, step);
            }
            Event::Timeout { tx } | Event::TransportError { tx, .. }
                if self.reg_by_tx.contains_key(&tx) =>
            {
                let Some(id) = self.reg_by_tx.remove(&tx) else {
                    return;
                };
                let timeout = matches!(e, Event::Timeout { .. });
                let step = match self.regs.get_mut(&id) {
                    Some(r) if timeout => r.reg.on_timeout(now),
                    Some(r) => r.reg.on_failure(now, "transport failure"),
                    None => return,
                };
                self.on_register_step(now, id, step);
            }
            Event::Response { tx, response }
                if (response.status == StatusCode::UNAUTHORIZED
                    || response.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
                    && self.sent.contains_key(&tx)
                    && self.resend_with_credentials(now, tx, &response).is_some() =>
            {
                // Sent again with credentials; the challenge is not the answer.
                self.by_client_tx.remove(&tx);
            }
            Event::Response { tx, response } => match self.by_client_tx.get(&tx).copied() {
                Some((sid, Purpose::Invite)) => self.on_invite_response(now, sid, response),
                Some((sid, Purpose::Reinvite)) => {
                    self.on_reinvite_response(now, sid, tx, response);
                }
                Some((_, Purpose::Cancel | Purpose::Bye | Purpose::Prack)) => {
                    if response.status.is_final() {
                        self.by_client_tx.remove(&tx);
                    }
                }
                None => {
                    let original = self.sent.get(&tx).map_or(tx, |s| s.original);
                    if response.status.is_final() {
                        self.sent.remove(&tx);
                    }
                    self.emit(UaEvent::Response {
                        tx: original,
                        response: Ok(response),
                    });
                }
            },
            Event::StrayResponse { response, .. } => self.on_stray(now, response),
            Event::Timeout { tx } | Event::TransportError { tx, .. } => {
                let timeout = matches!(e, Event::Timeout { .. });
                match self.by_client_tx.remove(&tx) {
                    Some((sid, Purpose::Invite)) => {
                        if matches!(
                            self.state(sid),
                            Some(SessionState::Calling | SessionState::Early)
                        ) {
                            let cause = if timeout {
                                Cause::RequestTimeout
                            } else {
                                Cause::ConnectionError
                            };
                            self.emit(UaEvent::Failed {
                                session: sid,
                                cause,
                                response: None,
                            });
                            self.terminate(now, sid, cause);
                        }
                    }
                    Some((sid, Purpose::Reinvite)) => {
                        let status = if timeout {
                            StatusCode::REQUEST_TIMEOUT
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        };
                        // A final status with no response: synthesized from our INVITE.
                        if let Some(s) = self.sessions.get(&sid) {
                            let r = Response::from_request(&s.invite, status, None);
                            self.on_reinvite_response(now, sid, tx, r);
                        }
                    }
                    Some(_) => {}
                    None => {
                        let original = self.sent.remove(&tx).map_or(tx, |s| s.original);
                        self.emit(UaEvent::Response {
                            tx: original,
                            response: Err(if timeout {
                                StatusCode::REQUEST_TIMEOUT
                            } else {
                                StatusCode::SERVICE_UNAVAILABLE
                            }),
                        });
                    }
                }
            }
            Event::AckTimeout { .. } => {}
            Event::Dropped { flow, reason } => self.emit(UaEvent::Dropped { flow, reason }),
        }
    }

    fn on_stray(&mut self, now: Instant, response: Response) {
        // A 2xx retransmitted after the INVITE transaction ended (§13.2.2.4).
        if !response.status.is_success() {
            return;
        }
        let Ok(ess) = response.essentials() else {
            return;
        };
        if ess.cseq.method != Method::Invite {
            return;
        }
        let Some(tag) = ess.from_tag else {
            return;
        };
        let key = (ess.call_id.to_owned(), tag.to_owned());
        if let Some(&sid) = self.by_call.get(&key) {
            self.on_invite_response(now, sid, response);
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        request: Request,
        flow: Flow,
        cancels: Option<ServerTxId>,
    ) {
        if request.method == Method::Cancel {
            return self.on_cancel(now, tx, request, cancels);
        }
        let in_dialog = request.headers.to().ok().is_some_and(|t| t.tag().is_some());
        if !in_dialog {
            match request.method {
                Method::Invite => return self.on_invite(now, tx, request, flow),
                Method::Options => {
                    let mut r = Response::from_request(&request, StatusCode::OK, None);
                    r.headers.push_known(HeaderName::Allow, ALLOW);
                    r.headers.push_known(HeaderName::Accept, "application/sdp");
                    r.headers.push_known(HeaderName::Supported, "replaces");
                    let _ = self.ep.respond(now, tx, r);
                }
                Method::Bye | Method::Prack | Method::Update => {
                    let r = Response::from_request(
                        &request,
                        StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                        None,
                    );
                    let _ = self.ep.respond(now, tx, r);
                }
                _ => self.emit(UaEvent::Request { tx, request, flow }),
            }
            return;
        }
        // In a dialog (§12.2.2).
        let sid = DialogId::from_request_as_uas(&request)
            .ok()
            .and_then(|id| self.by_dialog.get(&id).copied().map(|sid| (id, sid)));
        let Some((id, sid)) = sid else {
            let r = Response::from_request(
                &request,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                None,
            );
            let _ = self.ep.respond(now, tx, r);
            return;
        };
        if let Some(d) = self.dialogs.get_mut(&id)
            && let Err(reject) = d.check_request(&request)
        {
            let _ = self.ep.respond(now, tx, reject.response(&request, 5));
            return;
        }
        match request.method {
            Method::Prack => self.on_prack(now, tx, sid, request),
            Method::Bye => {
                let ok = Response::from_request(&request, StatusCode::OK, None);
                let _ = self.ep.respond(now, tx, ok);
                if self.state(sid) != Some(SessionState::Terminated) {
                    self.emit(UaEvent::Bye {
                        session: sid,
                        request,
                    });
                    self.terminate(now, sid, Cause::Bye);
                }
            }
            Method::Invite => self.on_reinvite(now, tx, sid, request),
            _ => self.emit(UaEvent::InDialogRequest {
                session: sid,
                tx,
                request,
            }),
        }
    }
}

/// Whether a request offers reliable provisional responses (Supported or Require: 100rel).
fn offers_100rel(request: &Request) -> bool {
    request
        .headers
        .has_option_tag(HeaderName::Supported, "100rel")
        || requires_100rel(request)
}

/// Whether a request requires them.
fn requires_100rel(request: &Request) -> bool {
    request
        .headers
        .has_option_tag(HeaderName::Require, "100rel")
}

/// Whether a provisional response is reliable (RFC 3262 §4: Require: 100rel and an RSeq).
fn requires_100rel_response(response: &Response) -> bool {
    response
        .headers
        .has_option_tag(HeaderName::Require, "100rel")
        && response.headers.contains(HeaderName::RSeq)
}

/// Checks that a reply's status fits the command (SIP.js throws a TypeError otherwise).
fn status_in(
    status: StatusCode,
    range: std::ops::RangeInclusive<u16>,
    what: &str,
) -> Result<(), Error> {
    if range.contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} needs a status in {}..={}, not {}",
            range.start(),
            range.end(),
            status.as_u16()
        )))
    }
}

/// The CANCEL of an INVITE we sent (RFC 3261 §9.1): same Request-URI, Call-ID, To, From,
/// CSeq number and top Via, and the INVITE's Route headers.
fn cancel_for(invite: &Request) -> Result<Request, Error> {
    let h = &invite.headers;
    let cseq = h.cseq().map_err(Error::Parse)?;
    let mut headers = Headers::with_capacity(8);
    let via = h
        .get(HeaderName::Via)
        .ok_or(Error::InvalidState("the INVITE has no Via"))?;
    headers.push_known(HeaderName::Via, via);
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = h.get(name) {
            headers.push_known(name, v);
        }
    }
    for r in h.values(HeaderName::Route) {
        headers.push_known(HeaderName::Route, r);
    }
    headers.push_known(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
    headers.push_static(HeaderName::MaxForwards, "70");
    headers.push_static(HeaderName::ContentLength, "0");
    Ok(Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: bytes::Bytes::new(),
    })
}
