//! The little STUN (RFC 5389) that server-reflexive candidate gathering needs (RFC 8445
//! §5.1.1.2): a Binding request to a STUN server, with no authentication (§10: a server
//! answers anyone), and the mapped address out of its success response. str0m's own STUN
//! codec is public (`str0m::ice::StunMessage`) but made for ICE checks (it wants MESSAGE-
//! INTEGRITY); this is the part we need and nothing more.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::Candidate;

use super::WebRtcMedia;
use crate::session::{MediaOutput, Transmit};

/// RFC 5389 §6: the magic cookie.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// Binding request and Binding success response (RFC 5389 §6, §18.1).
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
/// MAPPED-ADDRESS (RFC 5389 §15.1) and XOR-MAPPED-ADDRESS (§15.2).
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// A Binding request with transaction id `tid`: a bare header, no attributes (RFC 5389
/// §7.1; FINGERPRINT is optional when STUN is not multiplexed with a protocol that needs
/// it told apart, and RFC 7983 tells it apart by its first byte).
pub(crate) fn binding_request(tid: &[u8; 12]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE);
    m.extend_from_slice(tid);
    m
}

/// The mapped address of a Binding success response to our request `tid`:
/// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC 3489 server (RFC 5389 §12.2). `None`
/// when `msg` is not that response.
pub(crate) fn mapped_address(msg: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    if msg.len() < 20 || msg[4..8] != MAGIC_COOKIE || msg[8..20] != tid[..] {
        return None;
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != BINDING_SUCCESS {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    let body = msg.get(20..20 + len)?;
    let mut plain = None;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + alen)?;
        match kind {
            ATTR_XOR_MAPPED_ADDRESS => return address(value, Some(&msg[4..20])),
            ATTR_MAPPED_ADDRESS => plain = address(value, None),
            _ => {}
        }
        // §15: attributes are padded to 4 bytes.
        at += 4 + alen.div_ceil(4) * 4;
    }
    plain
}

/// An address attribute's value (RFC 5389 §15.1): 0, family, port, address; XORed with the
/// cookie and transaction id (`xor`: bytes 4..20 of the header) for XOR-MAPPED-ADDRESS
/// (§15.2).
fn address(v: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    let x = |i: usize| xor.map_or(0, |k| k[i]);
    let port = u16::from_be_bytes([v.get(2)? ^ x(0), v.get(3)? ^ x(1)]);
    let ip = match v.get(1)? {
        0x01 => {
            let b = v.get(4..8)?;
            IpAddr::V4(Ipv4Addr::new(
                b[0] ^ x(0),
                b[1] ^ x(1),
                b[2] ^ x(2),
                b[3] ^ x(3),
            ))
        }
        0x02 => {
            let b = v.get(4..20)?;
            let mut a = [0u8; 16];
            for (i, byte) in a.iter_mut().enumerate() {
                *byte = b[i] ^ x(i);
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The first retransmission timeout. RFC 5389 §7.2.1 recommends 500 ms, but an offer waits
/// for the answer only up to [`crate::WebRtcConfig::gather_timeout`] (300 ms by default): a
/// request lost once must be sent again well within that.
const FIRST_RTO: Duration = Duration::from_millis(100);
/// Requests sent in all (RFC 5389 §7.2.1's Rc is 7; we give up after about 3 s: a response
/// later than that adds a candidate nobody waits for).
const MAX_SENDS: u32 = 5;

/// Gathering one server-reflexive candidate from one STUN server.
#[derive(Debug)]
pub(crate) struct Gatherer {
    pub(crate) server: SocketAddr,
    pub(crate) tid: [u8; 12],
    started: Option<Instant>,
    sends: u32,
    next_send: Option<Instant>,
    /// The mapped address, once the response came; or given up on.
    pub(crate) done: bool,
    /// The candidate found: mapped address and base.
    pub(crate) found: Option<(SocketAddr, SocketAddr)>,
    /// The end of gathering was reported ([`WebRtcMedia::trickle_end`]).
    trickled: bool,
}

impl Gatherer {
    pub(crate) fn new(server: SocketAddr, tid: [u8; 12]) -> Self {
        Self {
            server,
            tid,
            started: None,
            sends: 0,
            next_send: None,
            done: false,
            found: None,
            trickled: false,
        }
    }

    /// When gathering started (the first request), if it did.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// A request to send now, if one is due (the first one, or a retransmission with
    /// doubling timeout, RFC 5389 §7.2.1).
    pub(crate) fn poll_send(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let started = *self.started.get_or_insert(now);
        if self.next_send.is_some_and(|t| now < t) {
            return None;
        }
        if self.sends >= MAX_SENDS {
            // The last wait has passed: no response, no candidate.
            self.done = true;
            self.next_send = None;
            return None;
        }
        self.sends += 1;
        let rto = FIRST_RTO * (1 << (self.sends - 1));
        self.next_send = Some(now.max(started) + rto);
        Some(binding_request(&self.tid))
    }

    /// The next instant [`Gatherer::poll_send`] has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.done { None } else { self.next_send }
    }

    /// The response, if `msg` from `source` is it.
    pub(crate) fn on_receive(&mut self, source: SocketAddr, msg: &[u8]) -> Option<SocketAddr> {
        if self.done || source != self.server {
            return None;
        }
        let mapped = mapped_address(msg, &self.tid)?;
        self.done = true;
        self.next_send = None;
        Some(mapped)
    }
}

/// The trickle fragment (RFC 8840 §9) after our SDP `last`: its ICE credentials and first
/// m-line with `a=mid` (RFC 8840 §9.1 wants the m-line the candidates belong to), the
/// server-reflexive `candidate` unless `last` already has it, and `a=end-of-candidates`
/// (RFC 8838 §8.2). `None` when `last` has no ICE credentials.
fn trickle_fragment(
    last: &str,
    candidate: Option<&str>,
    found: Option<(SocketAddr, SocketAddr)>,
) -> Option<String> {
    let attr = |name: &str| {
        last.lines()
            .find_map(|l| l.trim_end().strip_prefix(name))
            .map(str::to_owned)
    };
    let ufrag = attr("a=ice-ufrag:")?;
    let pwd = attr("a=ice-pwd:")?;
    let mline = attr("m=")?;
    let mid = attr("a=mid:")?;
    let mut f = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm={mline}\r\na=mid:{mid}\r\n");
    let already =
        found.is_some_and(|(m, _)| last.contains(&format!("{} {} typ srflx", m.ip(), m.port())));
    if let Some(c) = candidate.filter(|_| !already) {
        f.push_str(&format!("a={c}\r\n"));
    }
    f.push_str("a=end-of-candidates\r\n");
    Some(f)
}

/// A transaction id (RFC 5389 §6: random, 96 bits): SipHash under the process's random
/// keys (std's `RandomState`, seeded from the OS) of the seed and the clock. Nobody but the
/// server sees it; it need only be unguessable off-path.
pub(crate) fn new_tid(seed: u64) -> [u8; 12] {
    let mut tid = [0u8; 12];
    let state = RandomState::new();
    for (i, chunk) in tid.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(seed);
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let bytes = h.finish().to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    tid
}

/// Server-reflexive candidate gathering inside [`WebRtcMedia`] (RFC 8445 §5.1.1.2).
impl WebRtcMedia {
    /// Queues the Binding request (or its retransmission) when due.
    pub(super) fn poll_stun(&mut self, now: Instant) {
        let source = self.cfg.local_addr;
        let Some(g) = self.stun.as_mut() else {
            return;
        };
        if let Some(contents) = g.poll_send(now) {
            self.out.push_back(MediaOutput::Transmit(Transmit {
                source,
                destination: g.server,
                contents,
            }));
        }
    }

    /// After gathering ended (the response came, or we gave up) with an SDP of ours already
    /// out: the trickle fragment with what it lacks and `a=end-of-candidates` (RFC 8840 §9),
    /// once.
    pub(super) fn trickle_end(&mut self) {
        let Some(g) = self.stun.as_mut() else {
            return;
        };
        if !g.done || g.trickled {
            return;
        }
        g.trickled = true;
        let found = g.found;
        let Some(last) = self.last_local.as_deref() else {
            return; // Done before any SDP: everything is in it.
        };
        let sdpfrag = trickle_fragment(last, self.srflx_line.as_deref(), found);
        if let Some(sdpfrag) = sdpfrag {
            self.out
                .push_back(MediaOutput::Event(crate::MediaEvent::LocalCandidates {
                    sdpfrag,
                }));
        }
    }

    /// Takes the STUN server's response: adds the `srflx` candidate (base: our first host
    /// candidate, which becomes its `raddr`/`rport`, RFC 8839 §5.1). True when `msg` was it
    /// (and must not go to str0m).
    pub(super) fn on_stun_response(&mut self, source: SocketAddr, msg: &[u8]) -> bool {
        let Some(mapped) = self.stun.as_mut().and_then(|g| g.on_receive(source, msg)) else {
            return false;
        };
        let base = self
            .cfg
            .candidates()
            .into_iter()
            .find(|c| c.is_ipv4() == mapped.is_ipv4());
        let Some(base) = base else {
            return true; // No host candidate of that family: nothing to pair it with.
        };
        // A mapped address no candidate can have (multicast, say) is ignored.
        if let Ok(c) = Candidate::server_reflexive(mapped, base, "udp")
            && let Some(rtc) = self.rtc.as_mut()
        {
            // Dropped by str0m as redundant when equal to the host (no NAT, RFC 8445
            // §5.1.3).
            let line = rtc.add_local_candidate(c).map(|c| c.to_sdp_string());
            self.srflx_line = line.map(|l| {
                l.replace(
                    &format!(
                        "raddr {} rport 0",
                        if base.is_ipv4() { "0.0.0.0" } else { "::" }
                    ),
                    &format!("raddr {} rport {}", base.ip(), base.port()),
                )
            });
            self.drain();
            if let Some(g) = self.stun.as_mut() {
                g.found = Some((mapped, base));
            }
        }
        true
    }

    /// `sdp` with the real `raddr`/`rport` (our host candidate, RFC 8839 §5.1) on our `srflx`
    /// candidate: str0m writes `raddr 0.0.0.0 rport 0` there, as browsers do to keep private
    /// addresses private; they are diagnostic only (RFC 8445 §5.1.1.2), and a SIP peer's
    /// operator wants to see them. Idempotent.
    pub(super) fn with_related_address(&self, sdp: String) -> String {
        let Some((mapped, base)) = self.stun.as_ref().and_then(|g| g.found) else {
            return sdp;
        };
        let hidden = format!(
            "{} {} typ srflx raddr {} rport 0",
            mapped.ip(),
            mapped.port(),
            if base.is_ipv4() { "0.0.0.0" } else { "::" }
        );
        let real = format!(
            "{} {} typ srflx raddr {} rport {}",
            mapped.ip(),
            mapped.port(),
            base.ip(),
            base.port()
        );
        sdp.replace(&hidden, &real)
    }

    /// Puts the server-reflexive candidate found earlier into a fresh str0m instance (one
    /// rebuilt after a failed first offer/answer).
    pub(super) fn add_found_candidate(&self, rtc: &mut str0m::Rtc) {
        if let Some((mapped, base)) = self.stun.as_ref().and_then(|g| g.found)
            && let Ok(c) = Candidate::server_reflexive(mapped, base, "udp")
        {
            rtc.add_local_candidate(c);
        }
    }

    /// Until when offers and answers wait for the response ([`crate::MediaSession::gather`]).
    pub(super) fn gather_until(&self, now: Instant) -> Option<Instant> {
        let g = self.stun.as_ref().filter(|g| !g.done)?;
        let until = g.started()? + self.cfg.gather_timeout;
        (now < until).then_some(until)
    }

    /// The next STUN retransmission or the end of the gathering wait, whichever first.
    pub(super) fn stun_deadline(&self) -> Option<Instant> {
        let g = self.stun.as_ref()?;
        let now = self.now?;
        [g.deadline(), self.gather_until(now)]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding success response as a server would send it (RFC 5389 §15.2).
    fn response(tid: &[u8; 12], addr: SocketAddr, xor: bool) -> Vec<u8> {
        let mut key = MAGIC_COOKIE.to_vec();
        key.extend_from_slice(tid);
        let k = |i: usize| if xor { key[i] } else { 0 };
        let mut v = vec![0, if addr.is_ipv4() { 1 } else { 2 }];
        let p = addr.port().to_be_bytes();
        v.extend([p[0] ^ k(0), p[1] ^ k(1)]);
        let ip: Vec<u8> = match addr.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        v.extend(ip.iter().enumerate().map(|(i, b)| b ^ k(i)));
        let kind = if xor {
            ATTR_XOR_MAPPED_ADDRESS
        } else {
            ATTR_MAPPED_ADDRESS
        };
        // A SOFTWARE attribute of odd length first, to exercise the padding.
        let mut attrs = vec![0x80, 0x22, 0, 5, b'x', b'y', b'z', b'z', b'y', 0, 0, 0];
        attrs.extend(kind.to_be_bytes());
        attrs.extend((v.len() as u16).to_be_bytes());
        attrs.extend(v);
        let mut m = BINDING_SUCCESS.to_be_bytes().to_vec();
        m.extend((attrs.len() as u16).to_be_bytes());
        m.extend(MAGIC_COOKIE);
        m.extend(tid);
        m.extend(attrs);
        m
    }

    #[test]
    fn request_is_a_bare_binding_header() {
        let tid = [7u8; 12];
        let r = binding_request(&tid);
        assert_eq!(r.len(), 20);
        assert_eq!(&r[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
        assert_eq!(&r[8..], &tid);
    }

    #[test]
    fn mapped_addresses_v4_v6_xor_and_plain() {
        let tid = [3u8; 12];
        for addr in ["198.51.100.7:40000", "[2001:db8::7]:40000"] {
            let addr: SocketAddr = addr.parse().unwrap();
            for xor in [true, false] {
                assert_eq!(mapped_address(&response(&tid, addr, xor), &tid), Some(addr));
            }
        }
        let addr: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let good = response(&tid, addr, true);
        assert_eq!(
            mapped_address(&good, &[4u8; 12]),
            None,
            "another transaction"
        );
        assert_eq!(mapped_address(&binding_request(&tid), &tid), None);
        for cut in 0..good.len() {
            let _ = mapped_address(&good[..cut], &tid);
        }
    }

    #[test]
    fn retransmits_with_doubling_timeout_then_gives_up() {
        let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let mut g = Gatherer::new(server, [1; 12]);
        let t0 = Instant::now();
        assert!(g.poll_send(t0).is_some());
        assert!(g.poll_send(t0 + Duration::from_millis(50)).is_none());
        let mut sent_at = vec![0];
        let mut t = t0;
        while let Some(d) = g.deadline() {
            t = d;
            if g.poll_send(t).is_some() {
                sent_at.push((t - t0).as_millis());
            }
        }
        assert_eq!(sent_at, [0, 100, 300, 700, 1500]);
        assert!(g.done);
        assert_eq!(t - t0, Duration::from_millis(3100));
    }

    proptest::proptest! {
        /// Any bytes from the STUN server's address: a mapped address or none, never a panic
        /// (the cookie and transaction id are set so the attribute walk is reached).
        #[test]
        fn random_responses_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let tid = [9u8; 12];
            let _ = mapped_address(&data, &tid);
            let mut m = BINDING_SUCCESS.to_be_bytes().to_vec();
            m.extend((data.len() as u16).to_be_bytes());
            m.extend(MAGIC_COOKIE);
            m.extend(tid);
            m.extend(&data);
            let _ = mapped_address(&m, &tid);
        }
    }
}
