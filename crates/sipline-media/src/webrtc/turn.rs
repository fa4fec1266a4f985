//! Relayed ICE candidates through a TURN server (RFC 8656; RFC 8445 §5.1.1.2): an
//! allocation over UDP with long-term credentials (RFC 8489 §9.2: the first Allocate is
//! answered 401 with a realm and nonce, the second is authenticated), kept alive with Refresh
//! requests, permissions (CreatePermission, RFC 8656 §9) and channels (ChannelBind, §12) for
//! the peers str0m checks, data wrapped in Send indications until a channel is bound and in
//! ChannelData after (§11, §12.4), and released with a Refresh of lifetime 0 at close (§7.3).
//!
//! The TURN protocol itself is `turn-client-proto`'s (sans-IO, like str0m); this module is
//! the glue: it maps our `std::time::Instant`s to its clock, routes str0m's datagrams from
//! the relayed address through the server and the server's Data back to str0m as if they
//! had arrived at the relayed address, and asks for permissions and channels on demand.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use turn_client_proto::api::{TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::prelude::*;
use turn_client_proto::stun::agent::Transmit as TurnTransmit;
use turn_client_proto::types::{TransportType, TurnCredentials};
use turn_client_proto::udp::TurnClientUdp;

use str0m::Candidate;
use str0m::Input;
use str0m::net::{Protocol, Receive};

use super::WebRtcMedia;
use crate::session::{MediaOutput, Transmit};

/// The `transport` of a TURN URI (RFC 7065 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// TURN over UDP: the only one [`WebRtcMedia`](super::WebRtcMedia) speaks.
    Udp,
    /// TURN over TCP (RFC 6062's client side): parsed, not supported.
    Tcp,
}

/// A TURN URI (RFC 7065 §3.1): `turn:HOST[:PORT][?transport=udp|tcp]`, or `turns:` for TLS.
/// The host is kept as written; resolving it is the runtime's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUrl {
    /// `turns:` (TLS, RFC 7065 §3.2).
    pub secure: bool,
    /// The host name or IP literal (brackets removed from IPv6).
    pub host: String,
    /// The port: 3478 by default, 5349 for `turns:` (RFC 8656 §4).
    pub port: u16,
    /// The transport: UDP unless `?transport=tcp` or `turns:` (RFC 7065 §3.1).
    pub transport: TurnTransport,
}

/// Why a TURN URI does not parse (RFC 7065 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnUrlError {
    /// Not `turn:` or `turns:`.
    #[error("{0:?}: a TURN URI starts with turn: or turns: (RFC 7065 §3.1)")]
    Scheme(String),
    /// No host, or an unclosed IPv6 bracket.
    #[error("{0:?}: no host")]
    Host(String),
    /// A port that is not a number from 1 to 65535.
    #[error("{0:?}: the port is not a number from 1 to 65535")]
    Port(String),
    /// A query other than `transport=udp` or `transport=tcp`.
    #[error("{0:?}: the only query is transport=udp or transport=tcp")]
    Query(String),
}

impl FromStr for TurnUrl {
    type Err = TurnUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (secure, rest) = if let Some(r) = s.strip_prefix("turn:") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("turns:") {
            (true, r)
        } else {
            return Err(TurnUrlError::Scheme(s.to_owned()));
        };
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None => {
                if secure {
                    TurnTransport::Tcp
                } else {
                    TurnTransport::Udp
                }
            }
            Some(q) if q.eq_ignore_ascii_case("transport=udp") => TurnTransport::Udp,
            Some(q) if q.eq_ignore_ascii_case("transport=tcp") => TurnTransport::Tcp,
            Some(_) => return Err(TurnUrlError::Query(s.to_owned())),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| TurnUrlError::Host(s.to_owned()))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(TurnUrlError::Host(s.to_owned()));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| TurnUrlError::Port(s.to_owned()))?,
            None if secure => 5349,
            None => 3478,
        };
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            transport,
        })
    }
}

/// A TURN server to allocate a relayed candidate on (RFC 8656 §7.1), over UDP, with
/// long-term credentials (RFC 8489 §9.2).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's address (resolved).
    pub addr: SocketAddr,
    /// The long-term credential's username.
    pub username: String,
    /// The long-term credential's password.
    pub credential: String,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl TurnServer {
    /// A server at `addr` with these credentials.
    pub fn new(addr: SocketAddr, username: &str, credential: &str) -> Self {
        Self {
            addr,
            username: username.to_owned(),
            credential: credential.to_owned(),
        }
    }
}

/// Permissions (peer IPs) asked for per allocation: str0m checks each remote candidate, and
/// a peer with more addresses than this is not reached through the relay beyond them.
const MAX_PERMISSIONS: usize = 32;
/// Channels bound per allocation (RFC 8656 §12 allows 0x4000..=0x4FFF; we need one per
/// peer transport address in use). Others keep using Send indications.
const MAX_CHANNELS: usize = 32;
/// Datagrams held while their peer's permission is being installed (ICE retransmits its
/// checks, so a datagram dropped beyond this is not lost for good).
const MAX_HELD: usize = 16;
/// How long a relay-only offer or answer waits for the allocation: about the time the two
/// Allocate transactions (100 ms first RTO, 5 sends each) take to give up.
const RELAY_ONLY_GATHER: Duration = Duration::from_secs(4);
/// Rounds of poll/transmit/event per call: each round makes progress or stops.
const MAX_ROUNDS: usize = 16;

/// What a datagram from the TURN server's address was.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Not from this relay's server.
    NotOurs,
    /// A TURN message handled here (a response), or one dropped as invalid.
    Handled,
    /// Data from a peer, through the relay: to str0m, as received at the relayed address.
    Peer { peer: SocketAddr, data: Vec<u8> },
}

/// One allocation on one TURN server.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) server: SocketAddr,
    local: SocketAddr,
    config: TurnConfig,
    client: Option<TurnClientUdp>,
    /// Our clock's instant that is the TURN client's [`ZERO_OFFSET`].
    epoch: Option<Instant>,
    /// When the allocation was asked for.
    started: Option<Instant>,
    /// The relayed transport address, once allocated.
    pub(crate) relayed: Option<SocketAddr>,
    /// Allocation failed or timed out, or the server closed it.
    pub(crate) failed: bool,
    /// The candidate was added to str0m (and trickled if our SDP was out).
    pub(crate) announced: bool,
    /// Released at close.
    closed: bool,
    permissions: Vec<IpAddr>,
    channels: Vec<SocketAddr>,
    held: VecDeque<(SocketAddr, Vec<u8>)>,
    deadline: Option<Instant>,
    /// Datagrams for the server, in order.
    out: VecDeque<Vec<u8>>,
}

/// The TURN client's clock starts at 1 s, not 0, so no instant of ours maps to its zero.
const ZERO_OFFSET: Duration = Duration::from_secs(1);

impl Relay {
    /// A relay to allocate on `server` from our socket at `local`; nothing is sent until the
    /// first [`Relay::poll`].
    pub(crate) fn new(server: &TurnServer, local: SocketAddr) -> Self {
        let credentials = TurnCredentials::new(&server.username, &server.credential);
        let mut config = TurnConfig::new(credentials);
        // RFC 8489 §6.2.1's 500 ms first RTO is too slow for an offer that waits
        // `gather_timeout` for the relayed candidate: 100 ms, doubling, 5 sends.
        config.set_request_retransmits(
            Duration::from_millis(100),
            Duration::from_millis(1600),
            5,
            Duration::from_millis(1600),
        );
        Self {
            server: server.addr,
            local,
            config,
            client: None,
            epoch: None,
            started: None,
            relayed: None,
            failed: false,
            announced: false,
            closed: false,
            permissions: Vec::new(),
            channels: Vec::new(),
            held: VecDeque::new(),
            deadline: None,
            out: VecDeque::new(),
        }
    }

    fn turn_time(&mut self, now: Instant) -> turn_client_proto::stun::Instant {
        let epoch = *self.epoch.get_or_insert(now);
        let d = now.saturating_duration_since(epoch) + ZERO_OFFSET;
        turn_client_proto::stun::Instant::from_nanos(
            i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        )
    }

    fn our_time(&self, t: turn_client_proto::stun::Instant, now: Instant) -> Instant {
        let Some(epoch) = self.epoch else { return now };
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(0);
        let d = Duration::from_nanos(nanos).saturating_sub(ZERO_OFFSET);
        epoch.checked_add(d).unwrap_or(now)
    }

    /// When the allocation was asked for, if it was.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Done gathering: allocated, or failed.
    pub(crate) fn done(&self) -> bool {
        self.relayed.is_some() || self.failed
    }

    /// The next instant [`Relay::poll`] has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.failed || self.closed && self.client.is_none() {
            None
        } else {
            self.deadline
        }
    }

    /// Makes progress at `now`: starts the allocation, sends requests and retransmissions,
    /// refreshes the allocation, permissions and channels before they expire (the client
    /// refreshes 60 s ahead of each expiry), and takes the events. Datagrams for the server
    /// are then in [`Relay::take_transmit`].
    pub(crate) fn poll(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        if self.client.is_none() {
            if self.closed {
                return;
            }
            self.started = Some(now);
            self.client = Some(TurnClientUdp::allocate(
                self.local,
                self.server,
                self.config.clone(),
            ));
        }
        let t = self.turn_time(now);
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            while let Some(e) = self.client.as_mut().and_then(|c| c.poll_event()) {
                progress = true;
                self.on_event(e, t);
            }
            while let Some(tx) = self.client.as_mut().and_then(|c| c.poll_transmit(t)) {
                progress = true;
                self.out.push_back(tx.data.to_vec());
            }
            let Some(client) = self.client.as_mut() else {
                return;
            };
            match client.poll(t) {
                TurnPollRet::WaitUntil(at) => {
                    let at = self.our_time(at, now);
                    self.deadline = Some(at.max(now));
                    if at > now || !progress {
                        // A wait until now with nothing done leaves the rest to the
                        // runtime's next timeout (it arrives at once).
                        break;
                    }
                }
                TurnPollRet::Closed => {
                    self.deadline = None;
                    if !self.closed {
                        self.failed = true;
                    }
                    self.client = None;
                    break;
                }
                // TCP allocations only: we ask for UDP ones.
                TurnPollRet::AllocateTcpSocket { .. } | TurnPollRet::TcpClose { .. } => {}
            }
        }
    }

    fn on_event(&mut self, e: TurnEvent, t: turn_client_proto::stun::Instant) {
        match e {
            TurnEvent::AllocationCreated(TransportType::Udp, relayed) => {
                self.relayed = Some(relayed);
            }
            TurnEvent::AllocationCreateFailed(_) => self.failed = true,
            TurnEvent::PermissionCreated(_, ip) => {
                let Some(client) = self.client.as_mut() else {
                    return;
                };
                // Flush what waited for it; bind a channel to each of those peers.
                let held: Vec<_> = self.held.drain(..).collect();
                for (peer, data) in held {
                    if peer.ip() != ip {
                        self.held.push_back((peer, data));
                        continue;
                    }
                    if let Ok(Some(tx)) = client.send_to(TransportType::Udp, peer, &data[..], t) {
                        self.out.push_back(tx.build().data);
                    }
                }
            }
            TurnEvent::PermissionCreateFailed(_, ip) => {
                self.held.retain(|(p, _)| p.ip() != ip);
                self.permissions.retain(|p| *p != ip);
            }
            TurnEvent::ChannelCreateFailed(_, peer) => self.channels.retain(|p| *p != peer),
            _ => {}
        }
    }

    /// Wraps `data` from the relayed address to `peer` for the server (a Send indication, or
    /// ChannelData once a channel is bound, RFC 8656 §11.1, §12.4). Without a permission for
    /// the peer yet, asks for one (CreatePermission, §9) and holds the datagram until it is
    /// installed. The datagrams are then in [`Relay::take_transmit`].
    pub(crate) fn send(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) {
        if self.relayed.is_none() || self.closed {
            return;
        }
        let t = self.turn_time(now);
        let Some(client) = self.client.as_mut() else {
            return;
        };
        if !client.have_permission(TransportType::Udp, peer.ip()) {
            if !self.permissions.contains(&peer.ip()) {
                if self.permissions.len() >= MAX_PERMISSIONS {
                    return;
                }
                if client
                    .create_permission(TransportType::Udp, peer.ip(), t)
                    .is_err()
                {
                    return;
                }
                self.permissions.push(peer.ip());
            }
            if self.held.len() < MAX_HELD {
                self.held.push_back((peer, data.to_vec()));
            }
            self.poll(now);
            return;
        }
        if !self.channels.contains(&peer) && self.channels.len() < MAX_CHANNELS {
            // The first datagram goes in a Send indication; ChannelData from the bind's
            // success on (the client switches by itself).
            self.channels.push(peer);
            let _ = client.bind_channel(TransportType::Udp, peer, t);
        }
        if let Ok(Some(tx)) = client.send_to(TransportType::Udp, peer, data, t) {
            self.out.push_back(tx.build().data);
        }
        self.poll(now);
    }

    /// Takes a datagram that came from `source` to our socket, if it is from the server.
    pub(crate) fn receive(&mut self, now: Instant, source: SocketAddr, msg: &[u8]) -> Received {
        if source != self.server {
            return Received::NotOurs;
        }
        let t = self.turn_time(now);
        let local = self.local;
        let Some(client) = self.client.as_mut() else {
            // Before the allocation or after its release: nothing to take it.
            return Received::Handled;
        };
        let ret = client.recv(TurnTransmit::new(msg, TransportType::Udp, source, local), t);
        let received = match ret {
            TurnRecvRet::PeerData(d) => Received::Peer {
                peer: d.peer,
                data: d.data().to_vec(),
            },
            // From the server's address but not TURN (or not understood): dropped.
            TurnRecvRet::Handled | TurnRecvRet::Ignored(_) | TurnRecvRet::PeerIcmp { .. } => {
                Received::Handled
            }
        };
        self.poll(now);
        received
    }

    /// Releases the allocation (a Refresh with LIFETIME 0, RFC 8656 §7.3); nothing is sent
    /// for the relay after that.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        let t = self.turn_time(now);
        if self.relayed.is_some()
            && let Some(c) = self.client.as_mut()
            && c.delete(t).is_ok()
        {
            // The client paces requests 50 ms apart, and the release may be queued behind
            // another (a permission or channel refresh); the session is going away: take
            // them all now, as if the pacing had passed (a few rounds, bounded).
            for round in 0..8u32 {
                let at = t + Duration::from_millis(50) * round;
                while let Some(tx) = c.poll_transmit(at) {
                    self.out.push_back(tx.data.to_vec());
                }
            }
        }
        self.client = None;
        self.deadline = None;
        self.held.clear();
    }

    /// The next datagram for the server.
    pub(crate) fn take_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
}

/// Relayed candidates inside [`WebRtcMedia`] (RFC 8445 §5.1.1.2, RFC 8656).
impl WebRtcMedia {
    /// Makes progress on each allocation; a new relayed address becomes a local candidate.
    pub(super) fn poll_turn(&mut self, now: Instant) {
        if self.relays.is_empty() {
            return;
        }
        for r in &mut self.relays {
            r.poll(now);
        }
        self.announce_relays();
        self.flush_turn();
    }

    /// Takes a datagram from a TURN server: a response, or a peer's data relayed to us,
    /// which str0m gets as received at the relayed address. True when it was one (and must
    /// not go to str0m as it is).
    pub(super) fn on_turn_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        msg: &[u8],
    ) -> bool {
        let Some(r) = self.relays.iter_mut().find(|r| r.server == source) else {
            return false;
        };
        let received = r.receive(now, source, msg);
        let relayed = r.relayed;
        match received {
            Received::NotOurs => return false,
            Received::Handled => {}
            Received::Peer { peer, data } => {
                if let (Some(relayed), Some(rtc)) = (relayed, self.rtc.as_mut()) {
                    let received = Receive::new(Protocol::Udp, peer, relayed, &data)
                        .map(|rx| rtc.handle_input(Input::Receive(now, rx)));
                    if !matches!(received, Ok(Ok(()))) {
                        self.stats.packets_invalid += 1;
                    }
                    self.drain();
                }
            }
        }
        self.announce_relays();
        self.flush_turn();
        if let Some(rtc) = self.rtc.as_mut() {
            let result = rtc.handle_input(Input::Timeout(now));
            self.drain();
            if let Err(e) = result {
                self.fail(super::rtc_error("timeout", e));
            }
        }
        true
    }

    /// Adds each new relayed address to str0m as a `relay` candidate (its `local` is our
    /// socket, which the TURN server is reached from), and trickles it (RFC 8840 §9) when our
    /// SDP already went out.
    fn announce_relays(&mut self) {
        if !self
            .relays
            .iter()
            .any(|r| r.relayed.is_some() && !r.announced)
        {
            return;
        }
        let local = self.cfg.local_addr;
        let mut lines = Vec::new();
        for r in &mut self.relays {
            let Some(relayed) = r.relayed.filter(|_| !r.announced) else {
                continue;
            };
            r.announced = true;
            let (Ok(c), Some(rtc)) = (Candidate::relayed(relayed, local, "udp"), self.rtc.as_mut())
            else {
                continue;
            };
            if let Some(c) = rtc.add_local_candidate(c) {
                lines.push(c.to_sdp_string());
            }
        }
        self.drain();
        let Some(last) = self.last_local.as_deref() else {
            return; // Found before any SDP: it will be in it.
        };
        if lines.is_empty() {
            return;
        }
        let attr = |name: &str| {
            last.lines()
                .find_map(|l| l.trim_end().strip_prefix(name))
                .map(str::to_owned)
        };
        let (Some(ufrag), Some(pwd), Some(mline), Some(mid)) = (
            attr("a=ice-ufrag:"),
            attr("a=ice-pwd:"),
            attr("m="),
            attr("a=mid:"),
        ) else {
            return;
        };
        let mut sdpfrag =
            format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm={mline}\r\na=mid:{mid}\r\n");
        for l in lines {
            sdpfrag.push_str(&format!("a={}\r\n", self.with_relay_address(l)));
        }
        self.out
            .push_back(MediaOutput::Event(crate::MediaEvent::LocalCandidates {
                sdpfrag,
            }));
    }

    /// `a=end-of-candidates` (RFC 8838 §8.2, after the STUN server's answer) only once no
    /// relayed candidate can follow it.
    pub(super) fn trickle_end_after_relays(&mut self) {
        if self.relays.iter().all(Relay::done) {
            self.trickle_end();
        }
    }

    /// Moves the relays' datagrams for their servers to our output.
    pub(super) fn flush_turn(&mut self) {
        let source = self.cfg.local_addr;
        for r in &mut self.relays {
            while let Some(contents) = r.take_transmit() {
                self.out.push_back(MediaOutput::Transmit(Transmit {
                    source,
                    destination: r.server,
                    contents,
                }));
            }
        }
    }

    /// Puts the relayed candidates found earlier into a fresh str0m instance.
    pub(super) fn add_relay_candidates(&self, rtc: &mut str0m::Rtc) {
        for relayed in self.relays.iter().filter_map(|r| r.relayed) {
            if let Ok(c) = Candidate::relayed(relayed, self.cfg.local_addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
    }

    /// `sdp` with `raddr`/`rport` of our host socket on our `relay` candidates (RFC 8839
    /// §5.1; str0m hides them as `0.0.0.0 0`). Diagnostic only (RFC 8445 §5.1.1.2).
    pub(super) fn with_relay_address(&self, sdp: String) -> String {
        let base = self.cfg.local_addr;
        let mut sdp = sdp;
        for relayed in self.relays.iter().filter_map(|r| r.relayed) {
            let hidden = format!(
                "{} {} typ relay raddr {} rport 0",
                relayed.ip(),
                relayed.port(),
                if relayed.is_ipv4() { "0.0.0.0" } else { "::" }
            );
            let real = format!(
                "{} {} typ relay raddr {} rport {}",
                relayed.ip(),
                relayed.port(),
                base.ip(),
                base.port()
            );
            sdp = sdp.replace(&hidden, &real);
        }
        sdp
    }

    /// Until when offers and answers wait for the allocations
    /// ([`crate::MediaSession::gather`]): [`crate::WebRtcConfig::gather_timeout`] after
    /// they were asked for, unless all are done.
    pub(super) fn turn_gather_until(&self, now: Instant) -> Option<Instant> {
        let wait = if self.cfg.relay_only {
            // Without the relayed candidate there is none: wait for it or its failure.
            self.cfg.gather_timeout.max(RELAY_ONLY_GATHER)
        } else {
            self.cfg.gather_timeout
        };
        self.relays
            .iter()
            .filter(|r| !r.done())
            .filter_map(|r| Some(r.started()? + wait))
            .filter(|until| now < *until)
            .max()
    }

    /// The next TURN retransmission or refresh, or the end of the gathering wait.
    pub(super) fn turn_deadline(&self) -> Option<Instant> {
        let now = self.now?;
        self.relays
            .iter()
            .filter_map(Relay::deadline)
            .chain(self.turn_gather_until(now))
            .min()
    }

    /// Releases the allocations (RFC 8656 §7.3: Refresh with LIFETIME 0).
    pub(super) fn close_turn(&mut self, now: Instant) {
        for r in &mut self.relays {
            r.close(now);
        }
        self.flush_turn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
    use turn_server_proto::server::TurnServer as Server;
    use turn_server_proto::types::AddressFamily;

    const ALLOCATE_ERROR: u16 = 0x0113;
    const ALLOCATE_SUCCESS: u16 = 0x0103;
    const REFRESH_REQUEST: u16 = 0x0004;
    const REFRESH_SUCCESS: u16 = 0x0104;

    fn kind(msg: &[u8]) -> u16 {
        u16::from_be_bytes([msg[0], msg[1]])
    }

    /// The ERROR-CODE of a STUN error response (RFC 8489 §14.8), if any.
    fn error_code(msg: &[u8]) -> Option<u16> {
        let body = &msg[20..];
        let mut at = 0;
        while at + 4 <= body.len() {
            let t = u16::from_be_bytes([body[at], body[at + 1]]);
            let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
            if t == 0x0009 {
                let v = &body[at + 4..at + 4 + len];
                return Some(u16::from(v[2] & 7) * 100 + u16::from(v[3]));
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        None
    }

    struct Net {
        server: Server,
        relay: Relay,
        client_addr: SocketAddr,
        server_addr: SocketAddr,
        relayed_socket: SocketAddr,
        t0: Instant,
        /// (message type, at) of what the client sent and what the server answered.
        sent: Vec<(u16, Duration)>,
        answered: Vec<(u16, Option<u16>, Duration)>,
    }

    impl Net {
        fn new(user: &str, pass: &str) -> Self {
            let server_addr: SocketAddr = "192.0.2.10:3478".parse().unwrap();
            let client_addr: SocketAddr = "192.0.2.1:40000".parse().unwrap();
            let mut server = Server::new(TransportType::Udp, server_addr, "sipline.test".into());
            server.add_user("u".into(), "p".into());
            let relay = Relay::new(&TurnServer::new(server_addr, user, pass), client_addr);
            Self {
                server,
                relay,
                client_addr,
                server_addr,
                relayed_socket: "192.0.2.10:50000".parse().unwrap(),
                t0: Instant::now(),
                sent: Vec::new(),
                answered: Vec::new(),
            }
        }

        /// Runs both sides at `now` until neither has anything to send.
        fn step(&mut self, now: Instant) {
            let st = self.relay.turn_time(now);
            self.relay.poll(now);
            for _ in 0..20 {
                let mut moved = false;
                while let Some(d) = self.relay.take_transmit() {
                    moved = true;
                    self.sent.push((kind(&d), now - self.t0));
                    let tx = TurnTransmit::new(
                        &d[..],
                        TransportType::Udp,
                        self.client_addr,
                        self.server_addr,
                    );
                    if let Some(reply) = self.server.recv(tx, st) {
                        let reply = reply.build().data;
                        self.deliver(now, reply);
                    }
                }
                if let TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } = self.server.poll(st)
                {
                    assert_eq!(family, AddressFamily::IPV4);
                    self.server.allocated_socket(
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                        Ok(self.relayed_socket),
                        st,
                    );
                    moved = true;
                }
                while let Some(reply) = self.server.poll_transmit(st) {
                    moved = true;
                    self.deliver(now, reply.data);
                }
                if !moved {
                    break;
                }
            }
        }

        /// Steps through the relay's deadlines from `from` for `span` (simulated time); the
        /// instant reached.
        fn settle(&mut self, from: Instant, span: Duration) -> Instant {
            let mut now = from;
            self.step(now);
            while let Some(d) = self.relay.deadline() {
                if d > from + span {
                    break;
                }
                now = d.max(now);
                self.step(now);
                if self.relay.deadline() == Some(now) {
                    now += Duration::from_millis(1);
                }
            }
            now
        }

        /// Runs 400 ms of simulated time, forwarding the relay's datagrams to the server; what
        /// the server sends to `peer`.
        fn exchange(&mut self, from: Instant, peer: SocketAddr) -> (Instant, Vec<Vec<u8>>) {
            let mut to_peer = Vec::new();
            let mut now = from;
            for _ in 0..40 {
                now += Duration::from_millis(10);
                let st = self.relay.turn_time(now);
                self.relay.poll(now);
                while let Some(d) = self.relay.take_transmit() {
                    let tx = TurnTransmit::new(
                        &d[..],
                        TransportType::Udp,
                        self.client_addr,
                        self.server_addr,
                    );
                    if let Some(out) = self.server.recv(tx, st) {
                        let out = out.build();
                        if out.to == peer {
                            to_peer.push(out.data);
                        } else {
                            self.relay.receive(now, self.server_addr, &out.data);
                        }
                    }
                }
            }
            (now, to_peer)
        }

        fn deliver(&mut self, now: Instant, reply: Vec<u8>) {
            let k = kind(&reply);
            if k & 0x0100 != 0 || k & 0x0010 != 0 {
                let code = (k & 0x0110 == 0x0110).then(|| error_code(&reply)).flatten();
                self.answered.push((k, code, now - self.t0));
            }
            let got = self.relay.receive(now, self.server_addr, &reply);
            assert_ne!(got, Received::NotOurs);
        }
    }

    #[test]
    fn turn_urls() {
        let u: TurnUrl = "turn:127.0.0.1:3479?transport=udp".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.transport),
            ("127.0.0.1", 3479, TurnTransport::Udp)
        );
        let u: TurnUrl = "turn:turn.example.net".parse().unwrap();
        assert_eq!((u.port, u.secure), (3478, false));
        let u: TurnUrl = "turns:[2001:db8::1]".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.transport),
            ("2001:db8::1", 5349, TurnTransport::Tcp)
        );
        let u: TurnUrl = "turn:h:1?transport=tcp".parse().unwrap();
        assert_eq!(u.transport, TurnTransport::Tcp);
        for bad in [
            "stun:h:1",
            "turn:",
            "turn::1",
            "turn:h:0",
            "turn:h:x",
            "turn:h?x=y",
            "turn:[::1",
        ] {
            assert!(bad.parse::<TurnUrl>().is_err(), "{bad}");
        }
    }

    /// RFC 8489 §9.2.3 / RFC 8656 §7.1: the first Allocate has no credentials and gets 401;
    /// the second carries them and gets the allocation.
    #[test]
    fn unauthenticated_allocate_gets_401_then_the_authenticated_one_succeeds() {
        let mut net = Net::new("u", "p");
        assert_eq!(net.relay.started(), None);
        net.settle(net.t0, Duration::from_millis(200));
        let kinds: Vec<_> = net.answered.iter().map(|(k, c, _)| (*k, *c)).collect();
        assert_eq!(
            kinds,
            [(ALLOCATE_ERROR, Some(401)), (ALLOCATE_SUCCESS, None)]
        );
        assert_eq!(net.relay.relayed, Some(net.relayed_socket));
        assert!(net.relay.done() && !net.relay.failed);
    }

    #[test]
    fn wrong_password_fails_the_allocation() {
        let mut net = Net::new("u", "wrong");
        net.step(net.t0);
        assert_eq!(net.answered.last().map(|a| a.1), Some(Some(401)));
        // The client gives up on a second 401 (or after its retransmissions).
        let mut now = net.t0;
        for _ in 0..100 {
            if net.relay.failed {
                break;
            }
            let Some(d) = net.relay.deadline() else { break };
            now = d.max(now + Duration::from_millis(1));
            net.step(now);
        }
        assert!(net.relay.failed, "no allocation with a wrong password");
        assert_eq!(net.relay.relayed, None);
    }

    /// The allocation is refreshed before it expires (RFC 8656 §7.3), at the client's
    /// deadline, in simulated time: over an hour passes with the allocation alive, and
    /// closing sends the release.
    #[test]
    fn allocation_is_refreshed_before_expiry_and_released_at_close() {
        let mut net = Net::new("u", "p");
        let mut now = net.settle(net.t0, Duration::from_millis(200));
        assert!(net.relay.relayed.is_some());
        while now - net.t0 < Duration::from_secs(4000) {
            let d = net.relay.deadline().expect("a refresh is always scheduled");
            assert!(d > now, "no busy loop");
            now = d;
            net.step(now);
        }
        let refreshes: Vec<_> = net
            .answered
            .iter()
            .filter(|(k, _, _)| *k == REFRESH_SUCCESS)
            .map(|(_, _, at)| at.as_secs())
            .collect();
        assert!(refreshes.len() >= 2, "{:?}", net.answered);
        // We ask for 1800 s and the client refreshes 60 s ahead of expiry: within 4000 s,
        // two refreshes, each before the allocation expired.
        let mut last = 0;
        for at in &refreshes {
            assert!(*at > last && at - last <= 1800 - 60 + 1, "{refreshes:?}");
            last = *at;
        }
        assert!(!net.relay.failed);
        let before = net.sent.len();
        net.relay.close(now);
        net.step(now);
        assert_eq!(
            net.sent.get(before).map(|s| s.0),
            Some(REFRESH_REQUEST),
            "released with Refresh lifetime 0: {:?} {:?}",
            net.sent,
            net.answered
        );
        assert_eq!(net.relay.deadline(), None);
    }

    /// Data to a peer asks for a permission first, then goes through (Send indication, then
    /// ChannelData once the channel is bound); the server's Data comes back as the peer's.
    #[test]
    fn permission_then_data_both_ways() {
        let mut net = Net::new("u", "p");
        let now = net.settle(net.t0, Duration::from_millis(200));
        assert!(net.relay.relayed.is_some());
        let peer: SocketAddr = "198.51.100.5:7000".parse().unwrap();
        net.relay.send(now, peer, b"check");
        // The datagram is held until CreatePermission succeeds, then sent.
        let (mut now, to_peer) = net.exchange(now, peer);
        assert_eq!(to_peer, [b"check".to_vec()]);
        net.relay.send(now, peer, b"dtls");
        let (later, to_peer) = net.exchange(now, peer);
        now = later;
        assert_eq!(to_peer, [b"dtls".to_vec()]);
        // Once the channel is bound, data goes as ChannelData (RFC 8656 §12.4: first two
        // bits 01).
        net.relay.send(now, peer, b"rtp");
        let wire = net.relay.take_transmit().expect("sent at once");
        assert_eq!(wire[0] & 0xC0, 0x40, "ChannelData");
        let st = net.relay.turn_time(now);
        // Back from the peer to the relayed address, to us through the server.
        let back = TurnTransmit::new(&b"answer"[..], TransportType::Udp, peer, net.relayed_socket);
        let wrapped = net
            .server
            .recv(back, st)
            .expect("relayed to the client")
            .build();
        assert_eq!(wrapped.to, net.client_addr);
        assert_eq!(
            net.relay.receive(now, net.server_addr, &wrapped.data),
            Received::Peer {
                peer,
                data: b"answer".to_vec()
            }
        );
    }

    /// Offers wait `gather_timeout` for the allocation, or 4 s when relay-only (there is no
    /// other candidate); a relay-only session has no host candidate even then.
    #[test]
    fn gathering_waits_longer_when_relay_only() {
        use crate::MediaSession;
        let server = TurnServer::new("192.0.2.10:3478".parse().unwrap(), "u", "p");
        for relay_only in [false, true] {
            let mut cfg = crate::WebRtcConfig::new("127.0.0.1:40000".parse().unwrap(), 1);
            cfg.turn_servers = vec![server.clone()];
            cfg.relay_only = relay_only;
            let mut m = WebRtcMedia::new(cfg);
            let t0 = Instant::now();
            let until = m.gather(t0).expect("waiting for the allocation");
            let want = if relay_only { 4000 } else { 300 };
            assert_eq!((until - t0).as_millis(), want);
            let sent = match m.poll_output() {
                MediaOutput::Transmit(t) => t,
                other => panic!("{other:?}"),
            };
            assert_eq!(sent.destination, server.addr, "the Allocate");
            assert_eq!(m.gather(t0 + Duration::from_millis(want as u64)), None);
            let offer = m.create_offer(t0 + Duration::from_secs(5)).unwrap();
            assert_eq!(offer.contains("typ host"), !relay_only, "{offer}");
        }
    }

    /// A relayed address allocated after our offer went out (no gathering wait) is trickled
    /// (RFC 8840 §9) as a `typ relay` candidate with our host address as raddr, and a fresh
    /// str0m instance would get it too. The WebRtcMedia glue end to end, sans-IO: its
    /// datagrams for the server go to turn-server-proto and the replies come back as input.
    #[test]
    fn late_relayed_candidate_is_trickled() {
        use crate::{MediaEvent, MediaInput, MediaSession};
        let server_addr: SocketAddr = "192.0.2.10:3478".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut server = Server::new(TransportType::Udp, server_addr, "sipline.test".into());
        server.add_user("u".into(), "p".into());
        let mut cfg = crate::WebRtcConfig::new(local, 1);
        cfg.turn_servers = vec![TurnServer::new(server_addr, "u", "p")];
        cfg.gather_timeout = Duration::ZERO;
        let mut m = WebRtcMedia::new(cfg);
        let t0 = Instant::now();
        let st = |now: Instant| {
            turn_client_proto::stun::Instant::from_nanos(
                i64::try_from((now - t0 + ZERO_OFFSET).as_nanos()).unwrap(),
            )
        };
        assert_eq!(m.gather(t0), None, "no wait with gather_timeout 0");
        let offer = m.create_offer(t0).unwrap();
        assert!(!offer.contains("typ relay"), "{offer}");
        let mut fragment = None;
        let mut now = t0;
        for _ in 0..50 {
            now += Duration::from_millis(10);
            m.handle_input(now, MediaInput::Timeout);
            let mut replies = Vec::new();
            loop {
                match m.poll_output() {
                    MediaOutput::Transmit(t) if t.destination == server_addr => {
                        let tx = TurnTransmit::new(
                            &t.contents[..],
                            TransportType::Udp,
                            local,
                            server_addr,
                        );
                        if let Some(r) = server.recv(tx, st(now)) {
                            replies.push(r.build().data);
                        }
                    }
                    MediaOutput::Event(MediaEvent::LocalCandidates { sdpfrag }) => {
                        fragment = Some(sdpfrag);
                    }
                    MediaOutput::Timeout(_) => break,
                    _ => {}
                }
            }
            if let TurnServerPollRet::AllocateSocket {
                transport,
                listen_addr,
                client_addr,
                allocation_transport,
                family,
            } = server.poll(st(now))
            {
                server.allocated_socket(
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                    Ok("192.0.2.10:50000".parse().unwrap()),
                    st(now),
                );
            }
            while let Some(r) = server.poll_transmit(st(now)) {
                replies.push(r.data);
            }
            for r in replies {
                m.handle_input(
                    now,
                    MediaInput::Receive {
                        source: server_addr,
                        contents: &r,
                    },
                );
            }
            if fragment.is_some() {
                break;
            }
        }
        let fragment = fragment.expect("the relayed candidate trickled");
        assert!(
            fragment.contains("192.0.2.10 50000 typ relay raddr 127.0.0.1 rport 40000"),
            "{fragment}"
        );
        assert!(
            fragment.contains("a=ice-ufrag:") && fragment.contains("a=mid:"),
            "{fragment}"
        );
    }

    proptest::proptest! {
        /// Any bytes from the server's address, before and after the allocation: handled or
        /// dropped, never a panic.
        #[test]
        fn hostile_server_datagrams_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            header in 0usize..6,
        ) {
            let mut net = Net::new("u", "p");
            net.relay.poll(net.t0);
            // The pending Allocate's transaction id, so the response parsing is reached.
            let req = net.relay.take_transmit().unwrap_or_default();
            let tid = req.get(8..20).map(<[u8]>::to_vec).unwrap_or_default();
            // Often a STUN-shaped header, so the attribute parsing is reached.
            let mut msg = match header {
                0 => vec![0x01, 0x13],
                1 => vec![0x01, 0x03],
                2 => vec![0x00, 0x17],
                3 => vec![0x40, 0x00],
                _ => Vec::new(),
            };
            if !msg.is_empty() {
                msg.extend(u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
                msg.extend([0x21, 0x12, 0xA4, 0x42]);
                msg.extend(&tid);
                let len = data.len() - data.len() % 4;
                msg[2..4].copy_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
                msg.extend(&data[..len]);
            } else {
                msg.extend(&data);
            }
            let _ = net.relay.receive(net.t0, net.server_addr, &msg);
            net.step(net.t0);
            let _ = net.relay.receive(net.t0, net.server_addr, &msg);
            net.relay.poll(net.t0 + Duration::from_secs(1));
        }
    }
}
