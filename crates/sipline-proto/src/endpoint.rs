//! The [`Endpoint`]: owns the transactions, matches messages to them, and turns inputs into
//! outputs (RFC 3261 §17, §18). Sans-IO: every entry point takes `now`; every effect is an
//! [`Output`] to drain with [`Endpoint::poll_output`].
//!
//! ```
//! use std::time::Instant;
//! use sipline_proto::{Endpoint, EndpointConfig, Output};
//!
//! let mut ep = Endpoint::new(EndpointConfig::default());
//! // ... handle_input(now, Input::Receive(..)), send_request(..), respond(..) ...
//! assert!(matches!(ep.poll_output(), Output::Timeout(None)));
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use hashbrown::HashTable;
use slab::Slab;

use crate::error::{Error, ParseError, ParseErrorKind};
use crate::input::{Flow, Input, Output, Receive, Transmit, TransportFailure, TransportKind};
use crate::message::{HeaderName, Headers, Message, Method, Request, Response, StatusCode, Via};
use crate::parse::{Limits, parse_message, parse_salvage};
use crate::timer::{TimerConfig, TimerQueue};
use crate::transaction::client_invite::ClientInvite;
use crate::transaction::client_non_invite::ClientNonInvite;
use crate::transaction::key::{
    StoredKey, TxKey, client_key_of_request, client_key_of_response, server_key,
};
use crate::transaction::server_invite::ServerInvite;
use crate::transaction::server_non_invite::ServerNonInvite;
use crate::transaction::{ClientTxId, Ctx, Life, TimerEntry, TxId};

pub use crate::transaction::ServerTxId;

/// How much of a request the endpoint checks before creating a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Every known header against its grammar, mandatory and single headers, CSeq method
    /// ([`Request::validate`]). Malformed requests get a stateless 400 saying why.
    Full,
    /// Only what matching needs (top Via, CSeq, Call-ID, From/To); the TU checks the rest.
    Essentials,
}

/// Configuration of an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// T1, T2, T4, D.
    pub timers: TimerConfig,
    /// Parser limits.
    pub limits: Limits,
    /// Most live transactions; past it, new requests get a stateless 503 (RFC 3261 §21.5.4).
    pub max_transactions: usize,
    /// How much of each request to check, default [`Validation::Full`].
    pub validation: Validation,
    /// Send 100 Trying as soon as an INVITE arrives (RFC 3261 §17.2.1), default true.
    pub send_trying: bool,
    /// §18.1.1: a UDP request larger than this many bytes goes over TCP instead (its Via
    /// rewritten). Default `Some(1300)`; `None` keeps UDP whatever the size.
    pub udp_max_request: Option<usize>,
    /// Host written in stateless responses' Warning header (RFC 3261 §20.43).
    pub warning_agent: String,
    /// Seed for branch and tag generation; the runtime gives a random one, tests a fixed one.
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            limits: Limits::default(),
            max_transactions: 100_000,
            validation: Validation::Full,
            send_trying: true,
            udp_max_request: Some(1300),
            warning_agent: "sipline".into(),
            seed: 0x5eed,
        }
    }
}

/// Something the layer above (the TU: dialogs, sessions, registration) must know.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new request created a server transaction; answer it with [`Endpoint::respond`].
    /// A CANCEL carries the INVITE transaction it cancels, if that still exists (§9.2).
    Request {
        /// The server transaction.
        tx: ServerTxId,
        /// The request, its top Via completed with `received`/`rport` (§18.2.1, RFC 3581).
        request: Request,
        /// Where it came from.
        flow: Flow,
        /// For a CANCEL: the INVITE transaction it targets.
        cancels: Option<ServerTxId>,
    },
    /// An ACK that is not for a non-2xx response: the ACK of a 2xx (§13.2.2.4), for the dialog.
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// A response to a request sent with [`Endpoint::send_request`].
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The response.
        response: Response,
    },
    /// A response matching no client transaction, e.g. a 2xx retransmitted after the INVITE
    /// transaction ended (§13.2.2.4: the UA core re-sends the ACK).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        flow: Flow,
    },
    /// Timer B or F fired: no final response came (§17.1.1.2, §17.1.2.2). Treat as 408.
    Timeout {
        /// The client transaction, now terminated.
        tx: ClientTxId,
    },
    /// Timer H fired: the ACK for a non-2xx final response never came (§17.2.1).
    AckTimeout {
        /// The server transaction, now terminated.
        tx: ServerTxId,
    },
    /// The transport failed for a client transaction (§17.1.4); treat as 503.
    TransportError {
        /// The client transaction, now terminated.
        tx: ClientTxId,
        /// Why.
        reason: TransportFailure,
    },
    /// A message was discarded (for logs and metrics); a stateless answer may have been sent.
    Dropped {
        /// Where it came from.
        flow: Flow,
        /// Why.
        reason: DropReason,
    },
}

/// Why a message was discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Unparseable, or a request failing validation (answered with the status of the error,
    /// statelessly, when the headers needed for a response were readable).
    Malformed(ParseError),
    /// A response lacking what matching needs (§18.1.2: silently discarded).
    MalformedResponse(ParseError),
    /// The transaction limit was reached (answered 503).
    Overloaded,
}

/// The four machines. Client INVITEs keep their request (for the ACK of a non-2xx), so they
/// are boxed to keep every slab slot small.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Tx {
    ClientInvite(Box<ClientInvite>),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    /// The hash of the key in the index (removal needs no key hashing).
    hash: u64,
    key: StoredKey,
    tx: Tx,
}

/// The sans-IO SIP endpoint: transactions and their timers.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    txs: Slab<Slot>,
    /// The transactions by key (§17.1.3, §17.2.3): slots, hashed by their [`TxKey`] and
    /// compared with the slot's stored key, so a key is stored once, in its slot.
    index: HashTable<u32>,
    /// Keys come from the network: a randomly seeded hasher (foldhash) keeps lookups fast
    /// without letting a peer choose colliding branches.
    hasher: foldhash::fast::RandomState,
    timers: TimerQueue<TimerEntry>,
    out: VecDeque<Output>,
    generation: u32,
    counter: u64,
    /// Requests moved from UDP to TCP for their size (§18.1.1), by slot, until the TCP
    /// attempt either got a response or failed: on a failed connection they are sent again
    /// over UDP, as §18.1.1 says an element SHOULD. Only large requests have an entry.
    udp_fallback: HashMap<u32, UdpFallback>,
    /// Where the responses of the newest server transaction go, if known without a parse.
    reply_cache: Option<ReplyCache>,
}

/// The response destination (§18.2.2) of the last request that created a server transaction
/// over UDP, computed from the top Via already parsed for matching. `respond` would parse the
/// response's top Via again to find it; a response copies the request's Via
/// (§8.2.6.2), so when its first Via field is the same text the destination is the same, and
/// the parse is skipped. A TU usually answers before the next request arrives; otherwise the
/// general path runs.
#[derive(Debug)]
struct ReplyCache {
    tx: TxId,
    /// The flow `response_flow` would be given.
    request_flow: Flow,
    /// The request's headers (two reference counts, no copy): their first Via field is
    /// compared with the response's.
    headers: Headers,
    /// `response_flow` of a response with that Via.
    flow: Flow,
}

/// What a request moved to TCP needs to go over UDP after all.
#[derive(Debug)]
struct UdpFallback {
    generation: u32,
    flow: Flow,
    request: Request,
    wire: Bytes,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(cfg: EndpointConfig) -> Self {
        Self {
            cfg,
            txs: Slab::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            timers: TimerQueue::default(),
            out: VecDeque::new(),
            generation: 0,
            counter: 0,
            udp_fallback: HashMap::new(),
            reply_cache: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Number of live transactions.
    pub fn transactions(&self) -> usize {
        self.txs.len()
    }

    /// A fresh Via branch with the RFC 3261 magic cookie (§8.1.1.7).
    pub fn new_branch(&mut self) -> String {
        let mut b = String::with_capacity(7 + 16);
        b.push_str("z9hG4bK");
        push_hex64(&mut b, self.next_random());
        b
    }

    /// A fresh tag for From or To (§19.3): 64 random bits, hex.
    pub fn new_tag(&mut self) -> String {
        let mut t = String::with_capacity(16);
        push_hex64(&mut t, self.next_random());
        t
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64 over seed + counter: unique per endpoint, unpredictable enough with a
        // random seed, deterministic in tests.
        self.counter = self.counter.wrapping_add(1);
        let mut z = self
            .cfg
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        // Written as one expression, the output is moved once, straight into the return slot.
        match self.out.pop_front() {
            Some(o) => o,
            None => Output::Timeout(self.timers.peek().map(|e| e.at)),
        }
    }

    /// Feeds an input at `now`. Bad input never fails the endpoint: it is dropped (and
    /// answered statelessly when that is possible), and reported as [`Event::Dropped`].
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Receive(r) => self.handle_receive(now, r),
            Input::Timeout => self.handle_timeout(now),
            Input::TransportFailed(flow, reason) => {
                self.handle_transport_failure(now, flow, reason)
            }
        }
    }

    /// A machine's context for transaction `id`, and the transactions, borrowed apart so a
    /// machine stored in one can be driven with the other.
    fn split(&mut self, now: Instant, id: TxId) -> (Ctx<'_>, &mut Slab<Slot>) {
        let ctx = Ctx {
            now,
            cfg: &self.cfg.timers,
            out: &mut self.out,
            timers: &mut self.timers,
            id,
        };
        (ctx, &mut self.txs)
    }

    /// The hash of `key` in the index, and the transaction it names, if any.
    fn find(&self, key: &TxKey<'_>) -> (u64, Option<u32>) {
        let hash = self.hasher.hash_one(key);
        let txs = &self.txs;
        let slot = self
            .index
            .find(hash, |&s| {
                txs.get(s as usize).is_some_and(|t| t.key.matches(key))
            })
            .copied();
        (hash, slot)
    }

    /// A new transaction under `key`, whose index hash (from [`Endpoint::find`]) is `hash`.
    fn insert(
        &mut self,
        key: StoredKey,
        hash: u64,
        make: impl FnOnce(&mut Ctx<'_>) -> Tx,
        now: Instant,
    ) -> TxId {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let slot = self.txs.vacant_key() as u32;
        let id = TxId { slot, generation };
        let (mut ctx, txs) = self.split(now, id);
        let tx = make(&mut ctx);
        txs.insert(Slot {
            generation,
            hash,
            key,
            tx,
        });
        let txs = &self.txs;
        self.index
            .insert_unique(hash, slot, |&s| txs.get(s as usize).map_or(0, |t| t.hash));
        id
    }

    fn remove(&mut self, slot: u32) {
        if let Some(s) = self.txs.try_remove(slot as usize)
            && let Ok(entry) = self.index.find_entry(s.hash, |&i| i == slot)
        {
            entry.remove();
        }
        if !self.udp_fallback.is_empty() {
            self.udp_fallback.remove(&slot);
        }
        // Stale timer entries of removed transactions are dropped lazily; compact when they
        // dominate, so memory stays proportional to live transactions.
        if self.timers.len() > 4 * self.txs.len() + 1024 {
            let txs = &self.txs;
            self.timers.retain(|e| {
                txs.get(e.tx.slot as usize)
                    .is_some_and(|s| s.generation == e.tx.generation)
            });
        }
    }

    fn lookup(&self, id: TxId) -> Option<&Slot> {
        self.txs
            .get(id.slot as usize)
            .filter(|s| s.generation == id.generation)
    }

    // ---- receiving -------------------------------------------------------------------

    fn handle_receive(&mut self, now: Instant, r: Receive) {
        let flow = r.flow;
        match parse_message(r.payload.clone(), &self.cfg.limits) {
            Ok(Message::Request(req)) => self.handle_request(now, flow, req),
            Ok(Message::Response(resp)) => self.handle_response(now, flow, resp),
            Err(e) => {
                // A request we can still read enough of gets its answer: 505 for a version we
                // do not speak (§21.5.6), 400 for a Content-Length that does not frame the
                // body (§18.3) or a broken Request-Line; anything else is dropped.
                let salvageable = matches!(
                    e.kind,
                    ParseErrorKind::UnsupportedVersion
                        | ParseErrorKind::BodyTooShort
                        | ParseErrorKind::InvalidContentLength
                        | ParseErrorKind::DuplicateHeader(HeaderName::ContentLength)
                        | ParseErrorKind::InvalidStartLine
                        | ParseErrorKind::InvalidUri
                        | ParseErrorKind::InvalidMethod
                );
                if salvageable
                    && let Ok(Message::Request(req)) = parse_salvage(r.payload, &self.cfg.limits)
                {
                    self.reply_stateless(flow, &req, e.status(), Some(&e));
                }
                self.out.push_back(Output::Event(Event::Dropped {
                    flow,
                    reason: DropReason::Malformed(e),
                }));
            }
        }
    }

    fn handle_request(&mut self, now: Instant, flow: Flow, mut req: Request) {
        // One pass checks the message and parses the top Via: the transaction key and the
        // received/rport stamp come from it.
        let checked = match self.cfg.validation {
            Validation::Full => req.validated(),
            Validation::Essentials => req.essentials(),
        };
        // Straight-line bindings rather than one tuple out of a `match`: the keys, the stamp
        // and the reply flow are some 300 bytes that would be built and moved again.
        let ess = match checked {
            Ok(ess) => ess,
            Err(e) => {
                if !matches!(req.method, Method::Ack) {
                    self.reply_stateless(flow, &req, e.status(), Some(&e));
                }
                self.out.push_back(Output::Event(Event::Dropped {
                    flow,
                    reason: DropReason::Malformed(e),
                }));
                return;
            }
        };
        let via = &ess.via;
        let addressing = ViaAddressing::of(via);
        let stamp = Stamp::of(via, &addressing, flow);
        // Where responses go, computed now from the Via parsed anyway; `respond` uses it when
        // the response's top Via is this one, unchanged (see `ReplyCache`).
        let reply = (stamp.is_none() && !flow.transport.is_reliable())
            .then(|| flow_for_via(via, &addressing, flow));
        let Some(key) = server_key(&req, via, None) else {
            let e = ParseError::new(ParseErrorKind::InvalidHeader(HeaderName::Via), 0);
            self.out.push_back(Output::Event(Event::Dropped {
                flow,
                reason: DropReason::Malformed(e),
            }));
            return;
        };
        // Everything the key decides is settled before the stamp changes the Via the key
        // borrows: the transaction it hits, or for a new one its stored key and the INVITE a
        // CANCEL cancels.
        let (hash, hit) = self.find(&key);
        let overloaded = self.txs.len() >= self.cfg.max_transactions;
        let new_tx =
            (hit.is_none() && !matches!(req.method, Method::Ack) && !overloaded).then(|| {
                let cancel_key = matches!(req.method, Method::Cancel)
                    .then(|| server_key(&req, via, Some(Method::Invite)))
                    .flatten();
                let cancels = cancel_key.and_then(|k| self.find(&k).1).map(|slot| {
                    ServerTxId(TxId {
                        slot,
                        generation: self.txs[slot as usize].generation,
                    })
                });
                (StoredKey::of(key), cancels)
            });
        if let Some(stamp) = stamp {
            stamp.apply(&mut req, flow);
        }
        if let Some(slot) = hit {
            // A retransmission, or an ACK for a non-2xx (§17.2.3).
            let generation = self.txs[slot as usize].generation;
            let id = TxId { slot, generation };
            let is_ack = matches!(req.method, Method::Ack);
            let (mut ctx, txs) = self.split(now, id);
            let (life, ack_to_tu) = match &mut txs[slot as usize].tx {
                Tx::ServerInvite(t) if is_ack => t.on_ack(&mut ctx),
                Tx::ServerInvite(t) => {
                    t.on_invite(&mut ctx);
                    (Life::Alive, false)
                }
                Tx::ServerNonInvite(t) => {
                    t.on_request(&mut ctx);
                    (Life::Alive, false)
                }
                _ => (Life::Alive, false),
            };
            if ack_to_tu {
                self.out
                    .push_back(Output::Event(Event::Ack { request: req, flow }));
            }
            if life == Life::Terminated {
                self.remove(slot);
            }
            return;
        }
        if matches!(req.method, Method::Ack) {
            // Matches no transaction: the ACK of a 2xx (new branch, §17.1.1.3).
            self.out
                .push_back(Output::Event(Event::Ack { request: req, flow }));
            return;
        }
        let Some((key, cancels)) = new_tx else {
            // Overloaded.
            self.reply_stateless(flow, &req, StatusCode::SERVICE_UNAVAILABLE, None);
            self.out.push_back(Output::Event(Event::Dropped {
                flow,
                reason: DropReason::Overloaded,
            }));
            return;
        };
        let is_invite = matches!(req.method, Method::Invite);
        let id = self.insert(
            key,
            hash,
            |_| {
                if is_invite {
                    Tx::ServerInvite(ServerInvite::new(flow))
                } else {
                    Tx::ServerNonInvite(ServerNonInvite::new(flow))
                }
            },
            now,
        );
        let tx = ServerTxId(id);
        // Assigned in place: built first and moved in, the 168-byte cache costs a copy.
        match reply {
            Some(to) => {
                self.reply_cache = Some(ReplyCache {
                    tx: id,
                    request_flow: flow,
                    headers: req.headers.clone(),
                    flow: to,
                })
            }
            None => self.reply_cache = None,
        }
        if is_invite && self.cfg.send_trying {
            let trying = Response::from_request(&req, StatusCode::TRYING, None);
            let _ = self.respond(now, tx, trying);
        }
        self.out.push_back(Output::Event(Event::Request {
            tx,
            request: req,
            flow,
            cancels,
        }));
    }

    fn handle_response(&mut self, now: Instant, flow: Flow, resp: Response) {
        let Some(key) = client_key_of_response(&resp) else {
            let e = resp.essentials().err().unwrap_or(ParseError::new(
                ParseErrorKind::MissingHeader(HeaderName::Via),
                0,
            ));
            self.out.push_back(Output::Event(Event::Dropped {
                flow,
                reason: DropReason::MalformedResponse(e),
            }));
            return;
        };
        let Some(slot) = self.find(&key).1 else {
            self.out.push_back(Output::Event(Event::StrayResponse {
                response: resp,
                flow,
            }));
            return;
        };
        let generation = self.txs[slot as usize].generation;
        // A response came: the connection the request was moved to works.
        if !self.udp_fallback.is_empty() {
            self.udp_fallback.remove(&slot);
        }
        let (mut ctx, txs) = self.split(now, TxId { slot, generation });
        let life = match &mut txs[slot as usize].tx {
            Tx::ClientInvite(t) => t.on_response(&mut ctx, resp),
            Tx::ClientNonInvite(t) => t.on_response(&mut ctx, resp),
            _ => Life::Alive,
        };
        if life == Life::Terminated {
            self.remove(slot);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(e) = self.timers.pop_if(|e| e.at <= now) {
            let (mut ctx, txs) = self.split(now, e.tx);
            let Some(slot) = txs
                .get_mut(e.tx.slot as usize)
                .filter(|s| s.generation == e.tx.generation)
            else {
                continue;
            };
            let life = match &mut slot.tx {
                Tx::ClientInvite(t) => t.on_timer(&mut ctx, e.timer, e.at),
                Tx::ClientNonInvite(t) => t.on_timer(&mut ctx, e.timer, e.at),
                Tx::ServerInvite(t) => t.on_timer(&mut ctx, e.timer, e.at),
                Tx::ServerNonInvite(t) => t.on_timer(e.timer, e.at),
            };
            if life == Life::Terminated {
                self.remove(e.tx.slot);
            }
        }
    }

    /// §18.1.1: a request sent over TCP only because of its size, whose connection failed,
    /// goes again over UDP, in the same transaction (fresh timers). True if it did.
    fn retry_over_udp(&mut self, now: Instant, slot: u32, generation: u32) -> bool {
        let Some(fb) = self.udp_fallback.remove(&slot) else {
            return false;
        };
        if fb.generation != generation {
            return false;
        }
        let id = TxId { slot, generation };
        let (mut ctx, txs) = self.split(now, id);
        let Some(s) = txs.get_mut(slot as usize) else {
            return false;
        };
        s.tx = match &s.tx {
            Tx::ClientInvite(_) => Tx::ClientInvite(Box::new(ClientInvite::start(
                &mut ctx, fb.flow, fb.request, fb.wire,
            ))),
            Tx::ClientNonInvite(_) => {
                Tx::ClientNonInvite(ClientNonInvite::start(&mut ctx, fb.flow, fb.wire))
            }
            _ => return false,
        };
        true
    }

    fn handle_transport_failure(&mut self, now: Instant, flow: Flow, reason: TransportFailure) {
        // §17.1.4: client transactions using the flow fail; server transactions just end.
        let hit: Vec<(u32, u32, bool)> = self
            .txs
            .iter()
            .filter_map(|(slot, s)| {
                let (f, client) = match &s.tx {
                    Tx::ClientInvite(t) => (t.flow(), true),
                    Tx::ClientNonInvite(t) => (t.flow(), true),
                    _ => return None,
                };
                let same = f.transport == flow.transport
                    && (f.conn.is_some() && f.conn == flow.conn || f.remote == flow.remote);
                same.then_some((slot as u32, s.generation, client))
            })
            .collect();
        for (slot, generation, client) in hit {
            if self.retry_over_udp(now, slot, generation) {
                continue;
            }
            if client {
                self.out.push_back(Output::Event(Event::TransportError {
                    tx: ClientTxId(TxId { slot, generation }),
                    reason,
                }));
            }
            self.remove(slot);
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Sends a request in a new client transaction (§17.1). The top Via must carry a
    /// magic-cookie branch ([`Endpoint::new_branch`]). ACK is not a transaction: send the ACK
    /// of a 2xx with [`Endpoint::send_stateless`].
    ///
    /// On UDP, a request above [`EndpointConfig::udp_max_request`] goes over TCP (§18.1.1).
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        mut flow: Flow,
    ) -> Result<ClientTxId, Error> {
        if matches!(request.method, Method::Ack) {
            return Err(Error::InvalidArgument(
                "ACK is not sent in a transaction: use send_stateless".into(),
            ));
        }
        // The top Via is parsed once: the key comes from it (its branch and the method do
        // not change if the request moves to TCP below). What the key decides is settled
        // before that move changes the Via the key borrows; nothing after it can fail.
        let (key, hash) = {
            let via = request.top_via().map_err(Error::Parse)?;
            if !via.has_magic_cookie() {
                return Err(Error::InvalidArgument(
                    "the top Via needs a branch starting with z9hG4bK".into(),
                ));
            }
            if self.txs.len() >= self.cfg.max_transactions {
                return Err(Error::TooManyTransactions);
            }
            let key = client_key_of_request(&request, &via).ok_or_else(|| {
                Error::InvalidArgument("the request has no usable top Via".into())
            })?;
            let (hash, hit) = self.find(&key);
            if hit.is_some() {
                return Err(Error::InvalidArgument(
                    "a transaction with this branch exists".into(),
                ));
            }
            (StoredKey::of(key), hash)
        };
        let mut wire = request.to_bytes();
        let mut fallback = None;
        if flow.transport == TransportKind::Udp
            && self.cfg.udp_max_request.is_some_and(|m| wire.len() > m)
        {
            fallback = Some((flow, request.clone(), wire.clone()));
            rewrite_via_transport(&mut request, TransportKind::Tcp);
            flow = Flow {
                transport: TransportKind::Tcp,
                remote: flow.remote,
                conn: None,
            };
            wire = request.to_bytes();
        }
        let id = if matches!(request.method, Method::Invite) {
            self.insert(
                key,
                hash,
                |ctx| Tx::ClientInvite(Box::new(ClientInvite::start(ctx, flow, request, wire))),
                now,
            )
        } else {
            self.insert(
                key,
                hash,
                |ctx| Tx::ClientNonInvite(ClientNonInvite::start(ctx, flow, wire)),
                now,
            )
        };
        if let Some((flow, request, wire)) = fallback {
            self.udp_fallback.insert(
                id.slot,
                UdpFallback {
                    generation: id.generation,
                    flow,
                    request,
                    wire,
                },
            );
        }
        Ok(ClientTxId(id))
    }

    /// Answers a request in its server transaction. The response goes where §18.2.2 says
    /// (the request's connection on stream transports; `received`/`rport` otherwise).
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        response: Response,
    ) -> Result<(), Error> {
        let id = tx.0;
        let slot = self.lookup(id).ok_or(Error::UnknownTransaction)?;
        let request_flow = match &slot.tx {
            Tx::ServerInvite(t) => t.request_flow(),
            Tx::ServerNonInvite(t) => t.flow(),
            _ => return Err(Error::UnknownTransaction),
        };
        let status = response.status;
        let cached = self.reply_cache.as_ref().filter(|c| c.tx == id);
        let flow = match cached {
            Some(c)
                if c.request_flow == request_flow
                    && c.headers.get(HeaderName::Via) == response.headers.get(HeaderName::Via) =>
            {
                c.flow
            }
            _ => response_flow(&response, request_flow),
        };
        if cached.is_some() && status.is_final() {
            self.reply_cache = None;
        }
        let wire = response.to_bytes();
        let (mut ctx, txs) = self.split(now, id);
        let life = match &mut txs[id.slot as usize].tx {
            Tx::ServerInvite(t) => t.respond(&mut ctx, status, flow, wire)?,
            Tx::ServerNonInvite(t) => t.respond(&mut ctx, status, flow, wire)?,
            _ => return Err(Error::UnknownTransaction),
        };
        if life == Life::Terminated {
            self.remove(id.slot);
        }
        Ok(())
    }

    /// Sends a message outside any transaction: the ACK of a 2xx, a 2xx retransmitted by the
    /// UAS core (§13.3.1.4), a stateless answer.
    pub fn send_stateless(&mut self, flow: Flow, message: &Message) {
        self.out.push_back(Output::Transmit(Transmit {
            flow,
            payload: message.to_bytes(),
        }));
    }

    /// Answers `req` without a transaction (§8.2.6), explaining an error in a Warning header
    /// (§20.43, code 399) so the sender learns what was wrong.
    fn reply_stateless(
        &mut self,
        flow: Flow,
        req: &Request,
        status: StatusCode,
        why: Option<&ParseError>,
    ) {
        // Without the headers a response copies, there is nothing to answer.
        if req.headers.get(HeaderName::Via).is_none() || req.headers.get(HeaderName::CSeq).is_none()
        {
            return;
        }
        let tag = self.new_tag();
        let mut resp = Response::from_request(req, status, Some(&tag));
        if let Some(e) = why {
            let text = e.to_string().replace(['"', '\\'], "'");
            resp.headers.push_known(
                HeaderName::Warning,
                format!("399 {} \"{text}\"", self.cfg.warning_agent),
            );
        }
        let to = response_flow(&resp, flow);
        self.out.push_back(Output::Transmit(Transmit {
            flow: to,
            payload: resp.to_bytes(),
        }));
    }
}

/// Appends `n` as 16 lowercase hex digits (`{:016x}`, without the formatting machinery: a
/// client makes a branch per transaction).
fn push_hex64(s: &mut String, n: u64) {
    for i in (0..16).rev() {
        let d = (n >> (i * 4)) & 0xf;
        s.push(char::from(b"0123456789abcdef"[d as usize]));
    }
}

/// §18.2.1: what to note in the top Via about where the request really came from:
/// `received` when the sent-by host is not the source address, and `rport` filled when asked
/// for (RFC 3581 §4).
struct Stamp {
    rport: bool,
}

impl Stamp {
    fn of(via: &Via<'_>, addressing: &ViaAddressing<'_>, flow: Flow) -> Option<Stamp> {
        let rport = matches!(addressing.rport(), Some(None));
        let needed = !host_is(via.host, flow.remote.ip()) || rport;
        (needed && addressing.received().is_none()).then_some(Stamp { rport })
    }

    fn apply(self, req: &mut Request, flow: Flow) {
        let Some(raw) = req.headers.get(HeaderName::Via) else {
            return;
        };
        let (top, rest) = crate::message::headers::split_list_item(raw);
        let mut v = String::with_capacity(raw.len() + 40);
        if self.rport {
            // The bare `;rport` becomes `;rport=PORT`.
            let p = top.find(";rport").map_or(top.len(), |i| i + 6);
            v.push_str(&top[..p]);
            v.push('=');
            v.push_str(&flow.remote.port().to_string());
            v.push_str(&top[p..]);
        } else {
            v.push_str(top);
        }
        v.push_str(";received=");
        v.push_str(&flow.remote.ip().to_string());
        if let Some(rest) = rest {
            v.push(',');
            v.push_str(rest);
        }
        req.headers.replace_first(HeaderName::Via, v);
    }
}

/// Whether a Via's sent-by host (brackets trimmed) is the address `ip`, as parsing it as an
/// [`IpAddr`] and comparing would say. An IPv4 address has one text form that parses to it
/// (dotted decimal, no leading zeros), so the host is compared with that form, octet by octet
/// from a table, instead of being parsed on every request; IPv6 (many forms) is parsed.
fn host_is(host: &str, ip: IpAddr) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let IpAddr::V4(v4) = ip else {
        return host.parse::<IpAddr>().ok() == Some(ip);
    };
    let mut rest = host.as_bytes();
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                Some((b'.', r)) => rest = r,
                _ => return false,
            }
        }
        let [a, b, c, len] = OCTET_TEXT[usize::from(octet)];
        let len = usize::from(len);
        let Some((head, r)) = rest.split_at_checked(len) else {
            return false;
        };
        if !head.iter().zip([a, b, c]).all(|(x, y)| *x == y) {
            return false;
        }
        rest = r;
    }
    rest.is_empty()
}

/// The decimal text of every octet (no leading zeros), its length in the last byte.
const OCTET_TEXT: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let o = n as u8;
        t[n] = if o >= 100 {
            [b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10, 3]
        } else if o >= 10 {
            [b'0' + o / 10, b'0' + o % 10, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        n += 1;
    }
    t
};

/// Where a response goes (§18.2.2, RFC 3581 §4): the request's connection on a reliable
/// transport; else `maddr`, else the source address with `rport`, else `received` and the
/// sent-by port.
fn response_flow(resp: &Response, request_flow: Flow) -> Flow {
    if request_flow.transport.is_reliable() {
        return request_flow;
    }
    let Ok(via) = resp.headers.top_via() else {
        return request_flow;
    };
    flow_for_via(&via, &ViaAddressing::of(&via), request_flow)
}

/// [`response_flow`] on an unreliable transport, given the response's parsed top Via.
fn flow_for_via(via: &Via<'_>, addressing: &ViaAddressing<'_>, request_flow: Flow) -> Flow {
    let default_port = request_flow.transport.default_port();
    if let Some(maddr) = addressing.maddr().and_then(|m| m.parse::<IpAddr>().ok()) {
        return Flow {
            remote: SocketAddr::new(maddr, via.port.unwrap_or(default_port)),
            ..request_flow
        };
    }
    let ip = addressing
        .received()
        .and_then(|r| {
            r.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        })
        .unwrap_or(request_flow.remote.ip());
    let port = match addressing.rport() {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or(default_port),
    };
    Flow {
        remote: SocketAddr::new(ip, port),
        ..request_flow
    }
}

/// The via-params that say where a response goes (RFC 3261 §18.2.1, §18.2.2, RFC 3581 §4):
/// the first `rport`, `received` and `maddr` of a Via, each as [`Params::get`] finds it, read
/// in one pass over the parameters instead of one per name.
///
/// [`Params::get`]: crate::message::Params::get
#[derive(Debug, Default, PartialEq, Eq)]
struct ViaAddressing<'a> {
    rport: Option<Option<&'a str>>,
    received: Option<Option<&'a str>>,
    maddr: Option<Option<&'a str>>,
}

impl<'a> ViaAddressing<'a> {
    fn of(via: &Via<'a>) -> Self {
        let raw = via.params.as_str();
        // Fast path: a UA's Via usually carries nothing but `;branch=...`, and then none of
        // the three is there (a branch is a token: no ';' could start another parameter).
        // The branch the parser found is the rest of the text itself (same address), and the
        // name is compared 8 bytes at once, letters case-folded.
        if let Some(b) = via.branch()
            && let Some((head, rest)) = raw.as_bytes().split_first_chunk::<8>()
            && rest.len() == b.len()
            && std::ptr::eq(rest.as_ptr(), b.as_ptr())
            && u64::from_le_bytes(*head) | LETTERS_1_TO_6 == u64::from_le_bytes(*b";branch=")
            && !has_semicolon(b.as_bytes())
        {
            return Self::default();
        }
        let mut found = Self::default();
        for (name, value) in via.params.iter() {
            let slot = if name.eq_ignore_ascii_case("rport") {
                &mut found.rport
            } else if name.eq_ignore_ascii_case("received") {
                &mut found.received
            } else if name.eq_ignore_ascii_case("maddr") {
                &mut found.maddr
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        found
    }

    /// As [`Via::rport`].
    fn rport(&self) -> Option<Option<u16>> {
        self.rport.map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// As [`Via::received`].
    fn received(&self) -> Option<&'a str> {
        self.received.flatten().map(unquote)
    }

    /// As [`Via::maddr`].
    fn maddr(&self) -> Option<&'a str> {
        self.maddr.flatten().map(unquote)
    }
}

/// Whether `b` holds a `;`, as `b.contains(&b';')` says. A branch is some 20 to 40 bytes:
/// eight at a time (the last word overlapping the one before) costs a third of the general
/// search, which is built for long haystacks.
fn has_semicolon(b: &[u8]) -> bool {
    const SEMI: u64 = u64::from_le_bytes([b';'; 8]);
    const LOW: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // A zero byte of `w ^ SEMI` is a ';' in `w`: the classic has-zero-byte test, exact (it
    // can only misreport a byte above a true zero byte, and then a zero byte exists anyway).
    let semi = |w: &[u8; 8]| {
        let x = u64::from_le_bytes(*w) ^ SEMI;
        x.wrapping_sub(LOW) & !x & HIGH != 0
    };
    let (chunks, rest) = b.as_chunks::<8>();
    if chunks.iter().any(semi) {
        return true;
    }
    match b.last_chunk::<8>() {
        Some(last) => !rest.is_empty() && semi(last),
        None => rest.contains(&b';'),
    }
}

/// The ASCII case bit of bytes 1 to 6 of a little-endian word (the letters of `;branch=`).
const LETTERS_1_TO_6: u64 = 0x0020_2020_2020_2000;

/// A parameter value without its quotes, as [`Params::value`](crate::message::Params::value).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Rewrites the top Via's transport (UDP -> TCP for large requests, §18.1.1).
fn rewrite_via_transport(req: &mut Request, to: TransportKind) {
    let Some(raw) = req.headers.get(HeaderName::Via) else {
        return;
    };
    let Ok(via) = req.headers.top_via() else {
        return;
    };
    let at = via.transport.as_ptr() as usize - raw.as_ptr() as usize;
    let new = format!(
        "{}{}{}",
        &raw[..at],
        to.via_token(),
        &raw[at + via.transport.len()..]
    );
    req.headers.replace_first(HeaderName::Via, new);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use proptest::prelude::*;

    use super::*;

    fn via(s: &str) -> Via<'_> {
        Via::parse(s).unwrap_or_else(|i| panic!("{s}: invalid at {i}"))
    }

    fn same_as_the_lookups(s: &str) {
        let Ok(v) = Via::parse(s) else {
            return;
        };
        let a = ViaAddressing::of(&v);
        assert_eq!(a.rport(), v.rport(), "{s}");
        assert_eq!(a.received(), v.received(), "{s}");
        assert_eq!(a.maddr(), v.maddr(), "{s}");
    }

    #[test]
    fn via_addressing_matches_the_params_lookups() {
        for s in [
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
            "SIP/2.0/UDP 192.0.2.1:5060;BRANCH=z9hG4bK776asdhds",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;rport",
            "SIP/2.0/UDP 192.0.2.1;rport=5070;branch=z9hG4bKx;rport",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;received=192.0.2.7;Received=192.0.2.8",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;maddr=224.0.0.1;ttl=1",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;MADDR=\"224.0.0.1\"",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx ; rport ; maddr = 10.0.0.1",
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;received=[2001:db8::2]",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;branch=y",
            "SIP/2.0/UDP 192.0.2.1",
            "SIP/2.0/UDP 192.0.2.1;BrAnCh=z9hG4bKx",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;maddr",
            "SIP/2.0/UDP 192.0.2.1;Xbranch=z9hG4bKx",
            "SIP/2.0/UDP 192.0.2.1 ;branch=z9hG4bKx",
            "SIP/2.0/UDP 192.0.2.1; branch=z9hG4bKx;rport",
        ] {
            same_as_the_lookups(s);
        }
        // The fast path applies to the plain shape only.
        let plain = via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds");
        assert_eq!(ViaAddressing::of(&plain), ViaAddressing::default());
    }

    proptest! {
        #[test]
        fn via_addressing_agrees_on_mutated_vias(
            params in proptest::collection::vec(
                "(branch|BRANCH|rport|RPort|received|maddr|Maddr|ttl|x)([ ]?=[ ]?(z9hG4bK[a-z0-9]{0,4}|[0-9]{1,5}|192\\.0\\.2\\.[0-9]|\"10\\.0\\.0\\.1\"|[a-z]{1,3}))?",
                0..5,
            ),
            sep in "[ ]?;[ ]?",
        ) {
            let mut s = String::from("SIP/2.0/UDP 192.0.2.1:5060");
            for p in &params {
                s.push_str(&sep);
                s.push_str(p);
            }
            same_as_the_lookups(&s);
        }
    }

    proptest! {
        /// The word-at-a-time `;` search says what `contains` says, at every length and
        /// position (a `;` in each word, at the overlap, in the tail, or nowhere).
        #[test]
        fn has_semicolon_is_contains(
            b in proptest::collection::vec(prop_oneof![Just(b';'), Just(b':'), Just(0xbb), any::<u8>()], 0..48),
        ) {
            prop_assert_eq!(has_semicolon(&b), b.contains(&b';'));
        }
    }

    proptest! {
        #[test]
        fn hex_is_the_formatted_one(n in any::<u64>()) {
            let mut s = String::new();
            push_hex64(&mut s, n);
            prop_assert_eq!(s, format!("{n:016x}"));
        }
    }

    #[test]
    fn branches_and_tags_keep_their_form() {
        let mut ep = Endpoint::new(EndpointConfig::default());
        let mut twin = Endpoint::new(EndpointConfig::default());
        let b = ep.new_branch();
        assert_eq!(b, format!("z9hG4bK{:016x}", twin.next_random()));
        let t = ep.new_tag();
        assert_eq!(t, format!("{:016x}", twin.next_random()));
        for n in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let mut s = String::new();
            push_hex64(&mut s, n);
            assert_eq!(s, format!("{n:016x}"));
        }
    }

    fn host_is_as_parsed(host: &str, ip: IpAddr) {
        let parsed = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        assert_eq!(host_is(host, ip), parsed == Some(ip), "{host} / {ip}");
    }

    #[test]
    fn host_comparison_is_the_parsed_one() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for host in [
            "192.0.2.1",
            "[192.0.2.1]",
            "[[192.0.2.1]]",
            "192.0.2.01",
            "192.0.2.1.",
            "192.000.2.1",
            "0.0.0.0",
            "255.255.255.255",
            "::ffff:192.0.2.1",
            "[2001:db8::1]",
            "2001:DB8:0::1",
            "example.com",
            "",
        ] {
            for ip in [
                v4,
                v6,
                "0.0.0.0".parse().unwrap(),
                "255.255.255.255".parse().unwrap(),
            ] {
                host_is_as_parsed(host, ip);
            }
        }
    }

    proptest! {
        #[test]
        fn host_comparison_agrees_on_mutated_hosts(
            octets in proptest::array::uniform4(0u8..=255),
            host in "\\[?[0-9]{1,3}(\\.[0-9]{1,3}){0,4}\\]?",
            same in any::<bool>(),
        ) {
            let ip = IpAddr::from(octets);
            let host = if same { ip.to_string() } else { host };
            host_is_as_parsed(&host, ip);
            host_is_as_parsed(&format!("0{host}"), ip);
        }
    }

    fn udp_from(port: u16) -> Flow {
        Flow {
            transport: TransportKind::Udp,
            remote: SocketAddr::from(([192, 0, 2, 1], port)),
            conn: None,
        }
    }

    fn options(branch: &str, via_port: u16) -> Bytes {
        Bytes::from(format!(
            "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:{via_port};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             To: <sip:bob@192.0.2.2>\r\n\
             From: <sip:alice@192.0.2.1>;tag=1928301774\r\n\
             Call-ID: {branch}@192.0.2.1\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        ))
    }

    /// Feeds a request; returns its transaction and request.
    fn receive(ep: &mut Endpoint, flow: Flow, bytes: Bytes) -> (ServerTxId, Request) {
        let now = Instant::now();
        ep.handle_input(
            now,
            Input::Receive(Receive {
                flow,
                payload: bytes,
            }),
        );
        loop {
            match ep.poll_output() {
                Output::Event(Event::Request { tx, request, .. }) => return (tx, request),
                Output::Timeout(_) => panic!("no request event"),
                _ => {}
            }
        }
    }

    /// Responds; returns where the response was sent.
    fn sent_to(ep: &mut Endpoint, tx: ServerTxId, resp: Response) -> Flow {
        ep.respond(Instant::now(), tx, resp).unwrap();
        let Output::Transmit(t) = ep.poll_output() else {
            panic!("no transmit");
        };
        t.flow
    }

    /// The destination `respond` finds through the cache is the one `response_flow` computes
    /// from the response: the same Via, a changed Via, a response to an older request, a
    /// provisional then a final response.
    #[test]
    fn cached_response_destination_is_the_computed_one() {
        let mut ep = Endpoint::new(EndpointConfig::default());
        // The sent-by port is not the source port: the response goes to the Via's port.
        let flow = udp_from(5999);
        let (tx, req) = receive(&mut ep, flow, options("z9hG4bKa1", 5070));
        assert!(ep.reply_cache.is_some());
        let resp = Response::from_request(&req, StatusCode::TRYING, None);
        let expected = response_flow(&resp, flow);
        assert_eq!(expected.remote.port(), 5070);
        assert_eq!(sent_to(&mut ep, tx, resp), expected);
        let resp = Response::from_request(&req, StatusCode::OK, Some("t"));
        let expected = response_flow(&resp, flow);
        assert_eq!(sent_to(&mut ep, tx, resp), expected);
        assert!(
            ep.reply_cache.is_none(),
            "a final response ends the cache entry"
        );

        // The TU changes the Via: the general path.
        let (tx, req) = receive(&mut ep, flow, options("z9hG4bKa2", 5070));
        let mut resp = Response::from_request(&req, StatusCode::OK, Some("t"));
        resp.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKa2;maddr=192.0.2.77",
        );
        let expected = response_flow(&resp, flow);
        assert_eq!(expected.remote, SocketAddr::from(([192, 0, 2, 77], 5070)));
        assert_eq!(sent_to(&mut ep, tx, resp), expected);

        // Two requests, the older answered last: the cache is for the newer one.
        let (old, old_req) = receive(&mut ep, flow, options("z9hG4bKa3", 5071));
        let (new, new_req) = receive(&mut ep, udp_from(6000), options("z9hG4bKa4", 5072));
        let resp = Response::from_request(&old_req, StatusCode::OK, Some("t"));
        assert_eq!(
            sent_to(&mut ep, old, resp).remote,
            SocketAddr::from(([192, 0, 2, 1], 5071))
        );
        let resp = Response::from_request(&new_req, StatusCode::OK, Some("t"));
        assert_eq!(
            sent_to(&mut ep, new, resp).remote,
            SocketAddr::from(([192, 0, 2, 1], 5072))
        );
        // The newest transaction answered with another request's Via (same branch, another
        // port): not the cached text, so the general path.
        let (new, _) = receive(&mut ep, udp_from(6001), options("z9hG4bKa5", 5073));
        let Ok(Message::Request(other)) =
            parse_message(options("z9hG4bKa5", 5099), &Limits::default())
        else {
            panic!("options parse")
        };
        let resp = Response::from_request(&other, StatusCode::OK, Some("t"));
        assert_eq!(
            sent_to(&mut ep, new, resp).remote,
            SocketAddr::from(([192, 0, 2, 1], 5099))
        );
    }
}
