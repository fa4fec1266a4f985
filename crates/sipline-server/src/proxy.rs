//! The stateful proxy core (RFC 3261 §16): request validation (§16.3), Route processing
//! and loose routing (§16.4, §16.12), target determination by the [`Location`] service or
//! the Request-URI (§16.5), forwarding with Via, Max-Forwards and Record-Route (§16.6),
//! parallel forking with a response context and best-response selection (§16.7), Timer C
//! (§16.8), CANCEL (§16.10); the registrar (§10.3) and OPTIONS keep-alives to the server
//! itself. Sans-IO: it sits on [`Endpoint`] and is driven with explicit instants.
//!
//! ```text
//!   request --> Endpoint (server tx) --> ServerCore --+-- ours: REGISTER / OPTIONS --> response
//!                                                     +-- location / Route / R-URI --> branches
//!   branch responses --> response context --> best final / 1xx / every 2xx --> server tx
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use sipline_proto::{
    ClientTxId, DigestServer, Endpoint, EndpointConfig, Event, Flow, HeaderName, Headers, Input,
    Limits, Message, Method, NameAddr, Output, Request, Response, ServerTxId, StatusCode,
    TransportKind, Uri,
};
use sipline_tokio::{Core, CoreOutput};

use crate::location::{Location, Registration};
use crate::record_route::{Locals, decode_token, uri_flow};
use crate::registrar::{self, BindingChange, RegisterCtx, RegistrarConfig};
use crate::users::Users;

/// Limits and timers of the proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Most requests being proxied at once (response contexts); past it, 503 with
    /// `Retry-After` (RFC 3261 §21.5.4). Default 10,000.
    pub max_proxied: usize,
    /// Most branches one request forks to (§16.6). Default 10.
    pub max_branches: usize,
    /// Timer C: how long an INVITE branch may stay without a final response after its last
    /// provisional one (§16.8, more than 3 minutes). Default 181 s.
    pub timer_c: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_proxied: 10_000,
            max_branches: 10,
            timer_c: Duration::from_secs(181),
        }
    }
}

/// Everything the [`ServerCore`] needs.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Our domain: requests for it (or for our listener addresses) are ours.
    pub domain: Option<String>,
    /// Who may register; `None` for open registration.
    pub users: Option<Users>,
    /// Registrar policy and limits.
    pub registrar: RegistrarConfig,
    /// Proxy limits and timers.
    pub proxy: ProxyConfig,
    /// The transaction layer's configuration (its `max_transactions` also bounds load).
    pub endpoint: EndpointConfig,
}

/// What the server reports: one event per registration change and per request routed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A binding was added or refreshed (§10.3).
    Registered {
        /// The AOR user.
        aor: String,
        /// The contact URI.
        contact: String,
        /// Granted seconds.
        expires: u32,
        /// The flow it is bound to.
        flow: Flow,
    },
    /// A binding went away.
    Unregistered {
        /// The AOR user.
        aor: String,
        /// The contact URI.
        contact: String,
        /// Why.
        reason: UnregisterReason,
    },
    /// A request outside a dialog was forwarded (an INVITE: a call routed).
    Routed {
        /// The method.
        method: Method,
        /// The From URI.
        from: String,
        /// The Request-URI as received.
        target: String,
        /// Where it went: one Request-URI per branch.
        branches: Vec<String>,
    },
    /// A request outside a dialog was answered by the server itself with an error (404,
    /// 480, 483, 503, ...).
    Refused {
        /// The method.
        method: Method,
        /// The Request-URI.
        target: String,
        /// The status sent.
        status: StatusCode,
    },
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnregisterReason {
    /// The client removed it (`expires=0`, `Contact: *`).
    Client,
    /// It expired.
    Expired,
    /// Its connection closed (RFC 5626 §5.4).
    ConnectionClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    /// Sent, nothing back yet.
    Trying,
    /// A provisional response came.
    Proceeding,
    /// A final response came (or the branch failed).
    Done,
}

#[derive(Debug)]
struct Branch {
    tx: Option<ClientTxId>,
    /// The request as forwarded (the CANCEL copies it, §9.1).
    request: Request,
    flow: Flow,
    state: BranchState,
    /// A CANCEL is due once a provisional response arrives (§9.1).
    cancel_pending: bool,
    cancelled: bool,
}

/// The response context of one proxied request (§16.7).
#[derive(Debug)]
struct Context {
    server_tx: ServerTxId,
    /// The request as received.
    request: Request,
    flow: Flow,
    branches: Vec<Branch>,
    /// A final response (or a 2xx) was forwarded.
    final_sent: bool,
    /// The best final non-2xx response so far, our Via removed.
    best: Option<Response>,
    timer_c: Option<Instant>,
}

/// The sans-IO registrar and proxy: an [`Endpoint`] for transactions, the [`Location`]
/// service, and the response contexts of the requests being proxied. A
/// [`sipline_tokio::Core`] for the sipline runtime.
#[derive(Debug)]
pub struct ServerCore {
    ep: Endpoint,
    cfg: ServerConfig,
    locals: Locals,
    location: Location,
    digest: Option<DigestServer>,
    /// AORs ever registered (open registration: 480 rather than 404 for them).
    known: std::collections::HashSet<String>,
    contexts: HashMap<u64, Context>,
    by_server: HashMap<ServerTxId, u64>,
    by_client: HashMap<ClientTxId, (u64, usize)>,
    timer_c: BinaryHeap<Reverse<(Instant, u64)>>,
    next_ctx: u64,
    epoch: Option<Instant>,
    ep_deadline: Option<Instant>,
    out: VecDeque<CoreOutput<ServerEvent>>,
}

impl ServerCore {
    /// A core serving on `listeners` (their bound addresses go in Via and Record-Route).
    pub fn new(cfg: ServerConfig, listeners: Vec<(TransportKind, std::net::SocketAddr)>) -> Self {
        let realm = cfg.domain.clone().unwrap_or_else(|| "sipline".to_owned());
        let secret = cfg.endpoint.seed.to_le_bytes().to_vec();
        let digest = cfg.users.as_ref().map(|_| DigestServer::new(realm, secret));
        let locals = Locals {
            addrs: listeners,
            domain: cfg.domain.clone(),
        };
        Self {
            ep: Endpoint::new(cfg.endpoint.clone()),
            cfg,
            locals,
            location: Location::default(),
            digest,
            known: Default::default(),
            contexts: HashMap::new(),
            by_server: HashMap::new(),
            by_client: HashMap::new(),
            timer_c: BinaryHeap::new(),
            next_ctx: 0,
            epoch: None,
            ep_deadline: None,
            out: VecDeque::new(),
        }
    }

    /// The live bindings at `now`.
    pub fn registrations(&self, now: Instant) -> Vec<Registration> {
        self.location.registrations(now)
    }

    /// Requests being proxied (response contexts).
    pub fn proxied(&self) -> usize {
        self.contexts.len()
    }

    /// The transaction layer.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// Feeds an input at `now` (see [`Endpoint::handle_input`]).
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.epoch.get_or_insert(now);
        match &input {
            Input::TransportFailed(flow, _) => {
                if let Some(conn) = flow.conn {
                    for (aor, b) in self.location.remove_conn(conn) {
                        self.emit(ServerEvent::Unregistered {
                            aor,
                            contact: b.contact,
                            reason: UnregisterReason::ConnectionClosed,
                        });
                    }
                }
            }
            Input::Timeout => self.on_timeout(now),
            Input::Receive(_) => {}
        }
        self.ep.handle_input(now, input);
        self.pump(now);
    }

    /// The next output: transmits and events, then the next deadline.
    pub fn poll_output(&mut self) -> CoreOutput<ServerEvent> {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let mut at = self.ep_deadline;
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        earliest(self.timer_c.peek().map(|Reverse((t, _))| *t));
        earliest(self.location.next_expiry());
        CoreOutput::Timeout(at)
    }

    fn emit(&mut self, ev: ServerEvent) {
        tracing::info!(?ev, "server");
        self.out.push_back(CoreOutput::Event(ev));
    }

    /// Drains the endpoint: transmits go out, events are handled (which may queue more).
    fn pump(&mut self, now: Instant) {
        loop {
            match self.ep.poll_output() {
                Output::Transmit(t) => self.out.push_back(CoreOutput::Transmit(t)),
                Output::Event(ev) => self.on_event(now, ev),
                Output::Timeout(t) => {
                    self.ep_deadline = t;
                    return;
                }
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        for (aor, b) in self.location.expire(now) {
            self.emit(ServerEvent::Unregistered {
                aor,
                contact: b.contact,
                reason: UnregisterReason::Expired,
            });
        }
        while let Some(&Reverse((at, id))) = self.timer_c.peek() {
            if at > now {
                break;
            }
            self.timer_c.pop();
            if self
                .contexts
                .get(&id)
                .is_some_and(|c| c.timer_c == Some(at))
            {
                self.on_timer_c(now, id);
            }
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Request {
                tx,
                request,
                flow,
                cancels,
            } => self.on_request(now, tx, request, flow, cancels),
            Event::Ack { request, flow } => self.forward_ack(request, flow, now),
            Event::Response { tx, response } => self.on_response(now, tx, response),
            Event::StrayResponse { response, .. } => self.forward_stray(response),
            Event::Timeout { tx } => self.on_branch_failed(now, tx, StatusCode::REQUEST_TIMEOUT),
            Event::TransportError { tx, .. } => {
                self.on_branch_failed(now, tx, StatusCode::SERVICE_UNAVAILABLE)
            }
            Event::Dropped { flow, reason } => {
                tracing::debug!(transport = %flow.transport, remote = %flow.remote, ?reason, "message dropped");
            }
            _ => {}
        }
    }

    fn respond(&mut self, now: Instant, tx: ServerTxId, resp: Response) {
        if let Err(e) = self.ep.respond(now, tx, resp) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    fn refuse(&mut self, now: Instant, tx: ServerTxId, req: &Request, status: StatusCode) {
        let tag = self.ep.new_tag();
        let mut r = Response::from_request(req, status, Some(&tag));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers.push_static(HeaderName::RetryAfter, "5");
        }
        self.respond(now, tx, r);
        if req.headers.to().is_ok_and(|t| t.tag().is_none()) {
            self.emit(ServerEvent::Refused {
                method: req.method.clone(),
                target: req.uri.as_str().to_owned(),
                status,
            });
        }
    }

    // ---- requests (§16.3 - §16.6) ---------------------------------------------------------

    fn on_request(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        mut req: Request,
        flow: Flow,
        cancels: Option<ServerTxId>,
    ) {
        if req.method == Method::Cancel {
            return self.on_cancel(now, tx, &req, cancels);
        }
        // §16.3 step 3: Max-Forwards.
        let mf = req.headers.max_forwards().ok().flatten();
        let ours = self.locals.is_ours(&req.uri.as_ref());
        let to_server = ours && req.uri.user().is_none_or(str::is_empty);
        // §16.4: our own Route entries go; a flow token in one names the next hop's flow.
        let (routes, token) = self.pop_our_routes(&req.headers);
        let for_us = routes.is_empty() && to_server && req.method == Method::Options;
        if mf == Some(0) && !for_us {
            return self.refuse(now, tx, &req, StatusCode::TOO_MANY_HOPS);
        }
        set_list(&mut req.headers, HeaderName::Route, &routes);
        if let Some(next) = routes.first() {
            // Loose routing (§16.12): the next hop is the next Route, the R-URI stays.
            let Some(flow_out) = NameAddr::parse(next).ok().and_then(|n| uri_flow(&n.uri)) else {
                return self.refuse(now, tx, &req, StatusCode::BAD_GATEWAY);
            };
            let uri = req.uri.clone();
            return self.forward(now, tx, req, flow, mf, vec![(uri, flow_out)]);
        }
        if !ours || token.is_some() {
            let target = token.or_else(|| uri_flow(&req.uri.as_ref()));
            let Some(flow_out) = target else {
                // A name we cannot resolve without I/O (RFC 3263 is not done here).
                return self.refuse(now, tx, &req, StatusCode::BAD_GATEWAY);
            };
            let uri = req.uri.clone();
            return self.forward(now, tx, req, flow, mf, vec![(uri, flow_out)]);
        }
        if req.method == Method::Register {
            return self.on_register(now, tx, &req, flow);
        }
        if to_server {
            if req.method == Method::Options {
                // Keep-alive pings and capability queries to the server itself (§11.2).
                let tag = self.ep.new_tag();
                let mut r = Response::from_request(&req, StatusCode::OK, Some(&tag));
                r.headers
                    .push_static(HeaderName::Allow, "REGISTER, OPTIONS");
                return self.respond(now, tx, r);
            }
            if req.method == Method::Ack {
                return;
            }
            let tag = self.ep.new_tag();
            let mut r = Response::from_request(&req, StatusCode::METHOD_NOT_ALLOWED, Some(&tag));
            r.headers
                .push_static(HeaderName::Allow, "REGISTER, OPTIONS");
            return self.respond(now, tx, r);
        }
        // §16.5: the location service.
        let user = req.uri.user().unwrap_or_default().to_owned();
        let bindings = self.location.lookup(&user, now);
        if bindings.is_empty() {
            let known = match &self.cfg.users {
                Some(u) => u.contains(&user),
                None => self.known.contains(&user),
            };
            let status = if known {
                StatusCode::TEMPORARILY_UNAVAILABLE
            } else {
                StatusCode::NOT_FOUND
            };
            return self.refuse(now, tx, &req, status);
        }
        let mut targets: Vec<(Uri, Flow)> = Vec::new();
        for b in bindings.iter().take(self.cfg.proxy.max_branches) {
            let Ok(uri) = Uri::parse(&b.contact) else {
                continue;
            };
            // RFC 5626 §5.3 / RFC 7118 §5: a connection-bound client is reached on the
            // connection it registered over; a UDP one at its Contact (unless unroutable).
            let flow_out = if b.flow.transport.is_reliable() {
                Some(b.flow)
            } else {
                uri_flow(&uri.as_ref()).or(Some(b.flow))
            };
            if let Some(f) = flow_out {
                targets.push((uri, f));
            }
        }
        self.forward(now, tx, req, flow, mf, targets)
    }

    /// Our Route entries at the top (§16.4), removed; the remaining ones, and the flow a
    /// token in the last of ours names.
    fn pop_our_routes(&self, headers: &Headers) -> (Vec<String>, Option<Flow>) {
        let mut routes: Vec<String> = headers
            .values(HeaderName::Route)
            .map(str::to_owned)
            .collect();
        let mut token = None;
        while let Some(first) = routes.first() {
            let Ok(na) = NameAddr::parse(first) else {
                break;
            };
            if !self.locals.is_ours(&na.uri) {
                break;
            }
            let kind = crate::record_route::uri_transport(&na.uri).unwrap_or(TransportKind::Udp);
            token = na.uri.user().and_then(|u| decode_token(u, kind));
            routes.remove(0);
        }
        (routes, token)
    }

    fn on_register(&mut self, now: Instant, tx: ServerTxId, req: &Request, flow: Flow) {
        let tag = self.ep.new_tag();
        let now_secs = self
            .epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_secs());
        let auth = match (&self.digest, &self.cfg.users) {
            (Some(d), Some(u)) => Some((d, u)),
            _ => None,
        };
        let (resp, changes) = registrar::register(
            RegisterCtx {
                now,
                now_secs,
                location: &mut self.location,
                auth,
                cfg: &self.cfg.registrar,
                tag,
            },
            req,
            flow,
        );
        self.respond(now, tx, resp);
        for c in changes {
            match c {
                BindingChange::Bound {
                    aor,
                    contact,
                    expires,
                    flow,
                } => {
                    if self.known.len() < self.cfg.registrar.max_registrations {
                        self.known.insert(aor.clone());
                    }
                    self.emit(ServerEvent::Registered {
                        aor,
                        contact,
                        expires,
                        flow,
                    });
                }
                BindingChange::Unbound { aor, contact } => self.emit(ServerEvent::Unregistered {
                    aor,
                    contact,
                    reason: UnregisterReason::Client,
                }),
            }
        }
    }

    /// §16.6: one copy of `req` per target, each with our Via, Max-Forwards decremented and,
    /// for a dialog-creating request, Record-Route; sent in a client transaction each.
    fn forward(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        req: Request,
        flow: Flow,
        mf: Option<u8>,
        targets: Vec<(Uri, Flow)>,
    ) {
        if self.contexts.len() >= self.cfg.proxy.max_proxied {
            return self.refuse(now, tx, &req, StatusCode::SERVICE_UNAVAILABLE);
        }
        // Loop safety (§16.3 step 4): never forward to ourselves.
        let targets: Vec<(Uri, Flow)> = targets
            .into_iter()
            .filter(|(_, f)| !self.locals.is_local_addr(f.remote))
            .collect();
        if targets.is_empty() {
            return self.refuse(now, tx, &req, StatusCode::LOOP_DETECTED);
        }
        let dialog_creating = matches!(
            req.method,
            Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
        ) && req.headers.to().is_ok_and(|t| t.tag().is_none());
        let id = self.next_ctx;
        self.next_ctx += 1;
        let mut branches = Vec::with_capacity(targets.len());
        let mut routed = Vec::new();
        for (uri, flow_out) in targets {
            let mut f = req.clone();
            f.uri = uri;
            f.headers.set(
                HeaderName::MaxForwards,
                mf.map_or(70, |m| m.saturating_sub(1)).to_string(),
            );
            if dialog_creating {
                // RFC 5658 §3.2: two entries when the transports differ, or when a side is
                // a connection (its entry carries the flow token); the one facing the next
                // hop goes on top.
                let double = flow.transport != flow_out.transport
                    || flow.conn.is_some()
                    || flow_out.transport.is_reliable();
                if double {
                    if let Some(v) = self.locals.record_route(flow.transport, Some(flow)) {
                        f.headers.push_front(HeaderName::RecordRoute, v);
                    }
                    let out_token = flow_out.conn.map(|_| flow_out);
                    if let Some(v) = self.locals.record_route(flow_out.transport, out_token) {
                        f.headers.push_front(HeaderName::RecordRoute, v);
                    }
                } else if let Some(v) = self.locals.record_route(flow_out.transport, None) {
                    f.headers.push_front(HeaderName::RecordRoute, v);
                }
            }
            let Some(local) = self.locals.addr(flow_out.transport) else {
                tracing::debug!(transport = %flow_out.transport, "no listener for the branch transport");
                continue;
            };
            let branch = self.ep.new_branch();
            f.headers.push_front(
                HeaderName::Via,
                format!(
                    "SIP/2.0/{} {local};branch={branch};rport",
                    flow_out.transport.via_token()
                ),
            );
            routed.push(f.uri.as_str().to_owned());
            match self.ep.send_request(now, f.clone(), flow_out) {
                Ok(ctx) => {
                    self.by_client.insert(ctx, (id, branches.len()));
                    branches.push(Branch {
                        tx: Some(ctx),
                        request: f,
                        flow: flow_out,
                        state: BranchState::Trying,
                        cancel_pending: false,
                        cancelled: false,
                    });
                }
                Err(e) => tracing::debug!(error = %e, "branch not sent"),
            }
        }
        if branches.is_empty() {
            return self.refuse(now, tx, &req, StatusCode::SERVICE_UNAVAILABLE);
        }
        if req.headers.to().is_ok_and(|t| t.tag().is_none()) {
            self.emit(ServerEvent::Routed {
                method: req.method.clone(),
                from: req
                    .headers
                    .from()
                    .map(|f| f.uri.as_str().to_owned())
                    .unwrap_or_default(),
                target: req.uri.as_str().to_owned(),
                branches: routed,
            });
        }
        let timer_c = (req.method == Method::Invite).then(|| now + self.cfg.proxy.timer_c);
        if let Some(at) = timer_c {
            self.timer_c.push(Reverse((at, id)));
        }
        self.by_server.insert(tx, id);
        self.contexts.insert(
            id,
            Context {
                server_tx: tx,
                request: req,
                flow,
                branches,
                final_sent: false,
                best: None,
                timer_c,
            },
        );
    }

    /// The ACK of a 2xx: forwarded statelessly along its Route (§16.11 for stateless
    /// forwarding; the transaction layer absorbed ACKs of non-2xx).
    fn forward_ack(&mut self, mut req: Request, _flow: Flow, now: Instant) {
        let (routes, token) = self.pop_our_routes(&req.headers);
        set_list(&mut req.headers, HeaderName::Route, &routes);
        let flows: Vec<Flow> = match routes.first() {
            Some(next) => NameAddr::parse(next)
                .ok()
                .and_then(|n| uri_flow(&n.uri))
                .into_iter()
                .collect(),
            None if token.is_some() => token.into_iter().collect(),
            None if self.locals.is_ours(&req.uri.as_ref()) => {
                // An ACK sent to us by Request-URI (a peer ignoring Record-Route or a
                // strict UAC): to the user's bindings; those without the dialog drop it.
                let user = req.uri.user().unwrap_or_default();
                self.location
                    .lookup(user, now)
                    .iter()
                    .filter_map(|b| {
                        if b.flow.transport.is_reliable() {
                            Some(b.flow)
                        } else {
                            Uri::parse(&b.contact)
                                .ok()
                                .and_then(|u| uri_flow(&u.as_ref()))
                        }
                    })
                    .collect()
            }
            None => uri_flow(&req.uri.as_ref()).into_iter().collect(),
        };
        for flow_out in flows {
            self.send_ack(req.clone(), flow_out);
        }
    }

    fn send_ack(&mut self, mut req: Request, flow_out: Flow) {
        if self.locals.is_local_addr(flow_out.remote) {
            return;
        }
        let Some(local) = self.locals.addr(flow_out.transport) else {
            return;
        };
        let mf = req.headers.max_forwards().ok().flatten();
        if mf == Some(0) {
            return;
        }
        req.headers.set(
            HeaderName::MaxForwards,
            mf.map_or(70, |m| m.saturating_sub(1)).to_string(),
        );
        let branch = self.ep.new_branch();
        req.headers.push_front(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {local};branch={branch};rport",
                flow_out.transport.via_token()
            ),
        );
        self.ep.send_stateless(flow_out, &Message::Request(req));
    }

    // ---- CANCEL (§16.10) ------------------------------------------------------------------

    fn on_cancel(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        req: &Request,
        cancels: Option<ServerTxId>,
    ) {
        let Some(id) = cancels.and_then(|inv| self.by_server.get(&inv).copied()) else {
            return self.refuse(now, tx, req, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
        };
        let ok = Response::from_request(req, StatusCode::OK, None);
        self.respond(now, tx, ok);
        self.cancel_all(now, id, None);
    }

    /// CANCELs every pending branch of context `id` but `except` (§16.7 step 10, §16.10).
    fn cancel_all(&mut self, now: Instant, id: u64, except: Option<usize>) {
        let n = self.contexts.get(&id).map_or(0, |c| c.branches.len());
        for i in 0..n {
            if Some(i) != except {
                self.cancel_branch(now, id, i);
            }
        }
    }

    fn cancel_branch(&mut self, now: Instant, id: u64, i: usize) {
        let Some(b) = self
            .contexts
            .get_mut(&id)
            .and_then(|c| c.branches.get_mut(i))
        else {
            return;
        };
        if b.state == BranchState::Done || b.cancelled || b.request.method != Method::Invite {
            return;
        }
        if b.state == BranchState::Trying {
            // §9.1: no CANCEL before a provisional response; it goes when one comes.
            b.cancel_pending = true;
            return;
        }
        b.cancelled = true;
        let cancel = cancel_for(&b.request);
        let flow = b.flow;
        if let Some(cancel) = cancel
            && let Err(e) = self.ep.send_request(now, cancel, flow)
        {
            tracing::debug!(error = %e, "CANCEL not sent");
        }
    }

    // ---- responses (§16.7) ----------------------------------------------------------------

    fn on_response(&mut self, now: Instant, tx: ClientTxId, mut resp: Response) {
        let Some(&(id, i)) = self.by_client.get(&tx) else {
            // A retransmitted 2xx of a branch already answered (the client transaction
            // passes them up, RFC 6026 §8.4): forwarded, so the caller ACKs again (§16.7
            // step 5). Anything else is the response to one of our CANCELs.
            if resp.status.is_success() {
                self.forward_stray(resp);
            }
            return;
        };
        // Step 3: our Via goes.
        if !pop_via(&mut resp.headers) {
            return;
        }
        let status = resp.status;
        let Some(ctx) = self.contexts.get_mut(&id) else {
            return;
        };
        let server_tx = ctx.server_tx;
        if status.is_provisional() {
            let mut send_cancel = false;
            if let Some(b) = ctx.branches.get_mut(i)
                && b.state == BranchState::Trying
            {
                b.state = BranchState::Proceeding;
                send_cancel = b.cancel_pending;
            }
            // §16.8: a provisional response restarts Timer C.
            if let Some(at) = ctx.timer_c.as_mut() {
                *at = now + self.cfg.proxy.timer_c;
                let at = *at;
                self.timer_c.push(Reverse((at, id)));
            }
            // 100 is hop by hop (§16.7 step 5) but, like any provisional, it lets a
            // pending CANCEL go (§9.1).
            let forward = !ctx.final_sent && status != StatusCode::TRYING;
            if send_cancel {
                self.cancel_branch(now, id, i);
            }
            if forward {
                self.respond(now, server_tx, resp);
            }
            return;
        }
        let was_done = ctx
            .branches
            .get(i)
            .is_some_and(|b| b.state == BranchState::Done);
        if let Some(b) = ctx.branches.get_mut(i) {
            b.state = BranchState::Done;
            b.tx = None;
        }
        self.by_client.remove(&tx);
        if status.is_success() {
            // Step 9: every 2xx is forwarded at once; the other branches are cancelled.
            let first = !ctx.final_sent;
            ctx.final_sent = true;
            let flow = ctx.flow;
            if first {
                self.respond(now, server_tx, resp);
            } else if let Err(e) = self.ep.respond(now, server_tx, resp.clone()) {
                tracing::debug!(error = %e, "later 2xx forwarded statelessly");
                forward_by_via(&mut self.ep, resp, Some(flow));
            }
            self.cancel_all(now, id, Some(i));
        } else if !was_done {
            if status.class() == 6 {
                self.cancel_all(now, id, Some(i));
            }
            if let Some(ctx) = self.contexts.get_mut(&id) {
                ctx.best = Some(better(ctx.best.take(), resp));
            }
        }
        self.check_complete(now, id);
    }

    /// A branch failed without a response: it counts as `status` (408 for Timer B/F, 503
    /// for a transport error, §16.7 step 6 / §16.9).
    fn on_branch_failed(&mut self, now: Instant, tx: ClientTxId, status: StatusCode) {
        let Some((id, i)) = self.by_client.remove(&tx) else {
            return;
        };
        self.fail_branch(id, i, status);
        self.check_complete(now, id);
    }

    fn fail_branch(&mut self, id: u64, i: usize, status: StatusCode) {
        let Some(ctx) = self.contexts.get_mut(&id) else {
            return;
        };
        let Some(b) = ctx.branches.get_mut(i) else {
            return;
        };
        if b.state == BranchState::Done {
            return;
        }
        b.state = BranchState::Done;
        let r = Response::from_request(&ctx.request, status, None);
        ctx.best = Some(better(ctx.best.take(), r));
    }

    /// §16.8: Timer C fired. Branches with a provisional response are cancelled, and Timer C
    /// runs once more (64*T1) for their final response; a branch already cancelled, or
    /// without any response, counts as 408, so no context outlives its branches' silence.
    fn on_timer_c(&mut self, now: Instant, id: u64) {
        let Some(ctx) = self.contexts.get_mut(&id) else {
            return;
        };
        ctx.timer_c = None;
        let states: Vec<(BranchState, bool)> = ctx
            .branches
            .iter()
            .map(|b| (b.state, b.cancelled))
            .collect();
        let mut cancelled_now = false;
        for (i, (s, cancelled)) in states.into_iter().enumerate() {
            match s {
                BranchState::Proceeding if !cancelled => {
                    self.cancel_branch(now, id, i);
                    cancelled_now = true;
                }
                BranchState::Proceeding | BranchState::Trying => {
                    self.fail_branch(id, i, StatusCode::REQUEST_TIMEOUT)
                }
                BranchState::Done => {}
            }
        }
        if cancelled_now {
            let at = now + 64 * self.cfg.endpoint.timers.t1;
            if let Some(ctx) = self.contexts.get_mut(&id) {
                ctx.timer_c = Some(at);
                self.timer_c.push(Reverse((at, id)));
            }
        }
        self.check_complete(now, id);
    }

    /// When every branch is done: the best response goes if no final one went yet (§16.7
    /// step 6), and the context ends.
    fn check_complete(&mut self, now: Instant, id: u64) {
        let Some(ctx) = self.contexts.get(&id) else {
            return;
        };
        if ctx.branches.iter().any(|b| b.state != BranchState::Done) {
            return;
        }
        let Some(mut ctx) = self.contexts.remove(&id) else {
            return;
        };
        self.by_server.remove(&ctx.server_tx);
        for b in &ctx.branches {
            if let Some(tx) = b.tx {
                self.by_client.remove(&tx);
            }
        }
        if !ctx.final_sent {
            let mut best = ctx.best.take().unwrap_or_else(|| {
                Response::from_request(&ctx.request, StatusCode::REQUEST_TIMEOUT, None)
            });
            if best.status == StatusCode::SERVICE_UNAVAILABLE {
                // §16.7 step 6: a 503 from downstream becomes 500.
                best.status = StatusCode::SERVER_INTERNAL_ERROR;
                best.reason = StatusCode::SERVER_INTERNAL_ERROR.canonical_reason().into();
            }
            if best.headers.to().is_ok_and(|t| t.tag().is_none()) {
                // A response we made up needs a To tag.
                let tag = self.ep.new_tag();
                best = Response::from_request(&ctx.request, best.status, Some(&tag));
            }
            self.respond(now, ctx.server_tx, best);
        }
    }

    /// A response no transaction matched (a 2xx retransmitted after the INVITE client
    /// transaction ended, §13.3.1.4): forwarded statelessly if it passed through us.
    fn forward_stray(&mut self, mut resp: Response) {
        let Ok(via) = resp.headers.top_via() else {
            return;
        };
        let ours = TransportKind::from_via(via.transport).is_some_and(|k| {
            self.locals
                .addr(k)
                .is_some_and(|a| via.host == a.ip().to_string() && via.port == Some(a.port()))
        });
        if !ours || !resp.status.is_success() || !pop_via(&mut resp.headers) {
            return;
        }
        forward_by_via(&mut self.ep, resp, None);
    }
}

impl Core for ServerCore {
    type Event = ServerEvent;

    fn handle_input(&mut self, now: Instant, input: Input) {
        ServerCore::handle_input(self, now, input);
    }

    fn poll_output(&mut self) -> CoreOutput<ServerEvent> {
        ServerCore::poll_output(self)
    }

    fn transactions(&self) -> usize {
        self.ep.transactions()
    }

    fn limits(&self) -> Limits {
        self.cfg.endpoint.limits
    }
}

/// §16.7 step 6: any 6xx, else the lowest response class (3xx, then 4xx, then 5xx); the
/// first one of that class to arrive.
fn better(old: Option<Response>, new: Response) -> Response {
    let Some(old) = old else {
        return new;
    };
    let rank = |s: StatusCode| match s.class() {
        6 => 0,
        c => c,
    };
    if rank(new.status) < rank(old.status) {
        new
    } else {
        old
    }
}

/// Removes the top Via (ours); false when no Via would remain (the response was for us).
fn pop_via(headers: &mut Headers) -> bool {
    let vias: Vec<String> = headers.values(HeaderName::Via).map(str::to_owned).collect();
    if vias.len() < 2 {
        return false;
    }
    set_list(headers, HeaderName::Via, &vias[1..]);
    true
}

/// Replaces every `name` field by one holding `values` (none: removed).
fn set_list(headers: &mut Headers, name: HeaderName, values: &[String]) {
    if values.is_empty() {
        headers.remove(name);
    } else if headers.values(name).count() != values.len() {
        headers.set(name, values.join(", "));
    }
}

/// Sends a response without a transaction to where its top Via says (§18.2.2), or on
/// `flow` for a reliable transport.
fn forward_by_via(ep: &mut Endpoint, resp: Response, flow: Option<Flow>) {
    let to = match flow {
        Some(f) if f.transport.is_reliable() => Some(f),
        _ => resp.headers.top_via().ok().and_then(|via| {
            let transport = TransportKind::from_via(via.transport)?;
            let host = via.received().unwrap_or(via.host);
            let ip = crate::record_route::parse_ip(host)?;
            let port = match via.rport() {
                Some(Some(p)) => p,
                _ => via.port.unwrap_or(transport.default_port()),
            };
            Some(Flow {
                transport,
                remote: std::net::SocketAddr::new(ip, port),
                conn: None,
            })
        }),
    };
    if let Some(to) = to {
        ep.send_stateless(to, &Message::Response(resp));
    }
}

/// The CANCEL of a forwarded INVITE (§9.1): same Request-URI, top Via, Call-ID, From, To,
/// CSeq number and Route.
fn cancel_for(invite: &Request) -> Option<Request> {
    let via = invite.headers.values(HeaderName::Via).next()?.to_owned();
    let cseq = invite.headers.cseq().ok()?.seq;
    let mut h = Headers::new();
    h.push_known(HeaderName::Via, via);
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        h.push_known(name, invite.headers.get(name)?.to_owned());
    }
    h.push_known(HeaderName::CSeq, format!("{cseq} CANCEL"));
    h.push_static(HeaderName::MaxForwards, "70");
    for r in invite.headers.get_all(HeaderName::Route) {
        h.push_known(HeaderName::Route, r.to_owned());
    }
    h.push_static(HeaderName::ContentLength, "0");
    Some(Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers: h,
        body: Default::default(),
    })
}
