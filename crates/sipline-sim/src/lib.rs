//! # sipline-sim
//!
//! A simulated clock and network for deterministic tests of sans-IO SIP nodes: no sockets, no
//! sleeping, no wall clock. Nodes exchange datagrams over links with latency, jitter, loss,
//! duplication and reordering drawn from a seeded generator, so a run is reproducible from
//! its seed; [`Net::run`] jumps the virtual clock straight to the next delivery or timer and
//! fails, rather than spinning, when a run does not settle ([`SimError::Livelock`]).
//!
//! ```
//! use std::time::Duration;
//! use sipline_proto::{Endpoint, EndpointConfig, Event, TransportKind};
//! use sipline_sim::{Link, Net};
//!
//! let mut net = Net::new(7);
//! let a = net.add_node(Endpoint::new(EndpointConfig::default()));
//! let b = net.add_node(Endpoint::new(EndpointConfig::default()));
//! net.set_link(a, b, Link { latency: Duration::from_millis(20), ..Link::default() });
//! // ... a sends with `net.node_mut(a).send_request(net.now(), request, net.flow(a, b, TransportKind::Udp))`
//! net.run(|_net, _node, _event: Event| {}).unwrap();
//! ```
#![forbid(unsafe_code)]

mod rng;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sipline_proto::{
    Endpoint, Event, Flow, Input, Output, Receive, Transmit, TransportKind, UaCore, UaEvent,
    UaOutput,
};

pub use rng::SimRng;

/// What a simulated node does: the shape of every sans-IO core in sipline.
pub trait Node {
    /// What the node reports to the test.
    type Event;
    /// A message arrives at `now`.
    fn receive(&mut self, now: Instant, r: Receive);
    /// The node's deadline passed (`now` >= the last `Poll::Timeout`).
    fn timeout(&mut self, now: Instant);
    /// The next output; the harness drains until `Poll::Timeout`.
    fn poll(&mut self) -> Poll<Self::Event>;
}

/// One output of a [`Node`].
#[derive(Debug)]
pub enum Poll<E> {
    /// Bytes to send.
    Transmit(Transmit),
    /// An event for the test.
    Event(E),
    /// Idle until this instant (`None`: no timer).
    Timeout(Option<Instant>),
}

impl Node for Endpoint {
    type Event = Event;

    fn receive(&mut self, now: Instant, r: Receive) {
        self.handle_input(now, Input::Receive(r));
    }

    fn timeout(&mut self, now: Instant) {
        self.handle_input(now, Input::Timeout);
    }

    fn poll(&mut self) -> Poll<Event> {
        match self.poll_output() {
            Output::Transmit(t) => Poll::Transmit(t),
            Output::Event(e) => Poll::Event(e),
            Output::Timeout(t) => Poll::Timeout(t),
        }
    }
}

impl Node for UaCore {
    type Event = UaEvent;

    fn receive(&mut self, now: Instant, r: Receive) {
        self.handle_input(now, Input::Receive(r));
    }

    fn timeout(&mut self, now: Instant) {
        self.handle_input(now, Input::Timeout);
    }

    fn poll(&mut self) -> Poll<UaEvent> {
        match self.poll_output() {
            UaOutput::Transmit(t) => Poll::Transmit(t),
            UaOutput::Event(e) => Poll::Event(e),
            UaOutput::Timeout(t) => Poll::Timeout(t),
        }
    }
}

/// The behaviour of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in `0..=jitter` per packet (reorders packets).
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is delivered twice (the copy 1 ms after the original).
    pub duplicate: f64,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// More steps than the bound without settling: the nodes keep each other busy.
    Livelock {
        /// Steps taken.
        steps: usize,
    },
    /// A node sent to an address no node has.
    NoRoute(SocketAddr),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Livelock { steps } => {
                write!(f, "no quiescence after {steps} steps (livelock?)")
            }
            SimError::NoRoute(a) => write!(f, "no node at {a}"),
        }
    }
}

impl std::error::Error for SimError {}

/// One packet the network carried, for assertions on exact instants.
#[derive(Debug, Clone)]
pub struct Packet {
    /// When it was sent (virtual).
    pub sent: Duration,
    /// Sender node.
    pub from: usize,
    /// Receiver node.
    pub to: usize,
    /// Whether the link lost it.
    pub lost: bool,
    /// The bytes.
    pub payload: Bytes,
}

impl Packet {
    /// The first line of the message (`INVITE sip:... SIP/2.0`, `SIP/2.0 200 OK`).
    pub fn first_line(&self) -> String {
        let end = self
            .payload
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(self.payload.len());
        String::from_utf8_lossy(&self.payload[..end]).into_owned()
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    at: Instant,
    seq: u64,
    to: usize,
    transport: TransportKind,
    from_addr: SocketAddr,
    payload: Bytes,
}

struct NodeSlot<N> {
    node: N,
    addr: SocketAddr,
    deadline: Option<Instant>,
}

/// A predicate choosing packets to lose.
type PacketFilter = Box<dyn FnMut(&Packet) -> bool>;

/// A simulated network of nodes and its virtual clock.
pub struct Net<N> {
    start: Instant,
    now: Instant,
    nodes: Vec<NodeSlot<N>>,
    links: HashMap<(usize, usize), Link>,
    default_link: Link,
    queue: BinaryHeap<Reverse<Delivery>>,
    seq: u64,
    rng: SimRng,
    /// Every packet sent, in order.
    pub packets: Vec<Packet>,
    /// Bound on steps of one [`Net::run`] before it reports a livelock.
    pub max_steps: usize,
    filter: Option<PacketFilter>,
}

impl<N: Node> Net<N> {
    /// An empty network whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            nodes: Vec::new(),
            links: HashMap::new(),
            default_link: Link::default(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: SimRng::new(seed),
            packets: Vec::new(),
            max_steps: 1_000_000,
            filter: None,
        }
    }

    /// Adds a node at 10.0.0.N:5060; returns its index.
    pub fn add_node(&mut self, node: N) -> usize {
        let i = self.nodes.len();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i + 1) as u8)), 5060);
        self.nodes.push(NodeSlot {
            node,
            addr,
            deadline: None,
        });
        i
    }

    /// The virtual now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the network was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The instant `d` after the start (for exact-instant assertions).
    pub fn at(&self, d: Duration) -> Instant {
        self.start + d
    }

    /// A node's address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// The flow from node `from` to node `to` over `transport`.
    pub fn flow(&self, _from: usize, to: usize, transport: TransportKind) -> Flow {
        Flow {
            transport,
            remote: self.nodes[to].addr,
            conn: None,
        }
    }

    /// A node.
    pub fn node(&self, i: usize) -> &N {
        &self.nodes[i].node
    }

    /// A node, to give it commands (outputs are collected at the next step).
    pub fn node_mut(&mut self, i: usize) -> &mut N {
        &mut self.nodes[i].node
    }

    /// Sets the link from `from` to `to` (one direction).
    pub fn set_link(&mut self, from: usize, to: usize, link: Link) {
        self.links.insert((from, to), link);
    }

    /// Sets the link used where none was set.
    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// Drops every packet for which `f` returns true (targeted loss: "lose the first ACK"),
    /// on top of the links' random loss.
    pub fn drop_if(&mut self, f: impl FnMut(&Packet) -> bool + 'static) {
        self.filter = Some(Box::new(f));
    }

    fn route(&self, addr: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// Drains every node's outputs: transmits enter the network, events go to `on_event`.
    fn drain(
        &mut self,
        on_event: &mut impl FnMut(&mut Self, usize, N::Event),
    ) -> Result<(), SimError> {
        let mut busy = true;
        while busy {
            busy = false;
            for i in 0..self.nodes.len() {
                loop {
                    match self.nodes[i].node.poll() {
                        Poll::Transmit(t) => {
                            busy = true;
                            self.transmit(i, t)?;
                        }
                        Poll::Event(e) => {
                            busy = true;
                            on_event(self, i, e);
                        }
                        Poll::Timeout(d) => {
                            self.nodes[i].deadline = d;
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn transmit(&mut self, from: usize, t: Transmit) -> Result<(), SimError> {
        let to = self
            .route(t.flow.remote)
            .ok_or(SimError::NoRoute(t.flow.remote))?;
        let link = *self.links.get(&(from, to)).unwrap_or(&self.default_link);
        let mut packet = Packet {
            sent: self.elapsed(),
            from,
            to,
            lost: false,
            payload: t.payload.clone(),
        };
        packet.lost =
            self.rng.chance(link.loss) || self.filter.as_mut().is_some_and(|f| f(&packet));
        let lost = packet.lost;
        self.packets.push(packet);
        if lost {
            return Ok(());
        }
        let copies = if self.rng.chance(link.duplicate) {
            2
        } else {
            1
        };
        for copy in 0..copies {
            // A duplicate trails its original by 1 ms, so the two are distinct arrivals.
            let jitter = link.jitter.mul_f64(self.rng.unit()) + Duration::from_millis(copy);
            self.seq += 1;
            self.queue.push(Reverse(Delivery {
                at: self.now + link.latency + jitter,
                seq: self.seq,
                to,
                transport: t.flow.transport,
                from_addr: self.nodes[from].addr,
                payload: t.payload.clone(),
            }));
        }
        Ok(())
    }

    /// Runs until nothing is in flight and no node has a timer, handing every event to
    /// `on_event` (which may give nodes new commands).
    pub fn run(
        &mut self,
        on_event: impl FnMut(&mut Self, usize, N::Event),
    ) -> Result<(), SimError> {
        self.run_until(Duration::MAX, on_event)
    }

    /// Like [`Net::run`], but stops once virtual time reaches `start + limit`.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut on_event: impl FnMut(&mut Self, usize, N::Event),
    ) -> Result<(), SimError> {
        let end = self.start.checked_add(limit);
        for _ in 0..self.max_steps {
            self.drain(&mut on_event)?;
            let next_delivery = self.queue.peek().map(|Reverse(d)| d.at);
            let next_timer = self.nodes.iter().filter_map(|n| n.deadline).min();
            let Some(next) = [next_delivery, next_timer].into_iter().flatten().min() else {
                // Nothing left to happen: time still reaches the limit, so a test stepping
                // in slices moves forward.
                if let Some(e) = end {
                    self.now = self.now.max(e);
                }
                return Ok(());
            };
            if end.is_some_and(|e| next > e) {
                if let Some(e) = end {
                    self.now = self.now.max(e);
                }
                return Ok(());
            }
            self.now = self.now.max(next);
            while let Some(Reverse(d)) = self.queue.peek() {
                if d.at > self.now {
                    break;
                }
                let Some(Reverse(d)) = self.queue.pop() else {
                    break;
                };
                let flow = Flow {
                    transport: d.transport,
                    remote: d.from_addr,
                    conn: None,
                };
                self.nodes[d.to].node.receive(
                    self.now,
                    Receive {
                        flow,
                        payload: d.payload,
                    },
                );
            }
            for n in &mut self.nodes {
                if n.deadline.is_some_and(|t| t <= self.now) {
                    n.deadline = None;
                    n.node.timeout(self.now);
                }
            }
        }
        Err(SimError::Livelock {
            steps: self.max_steps,
        })
    }

    /// Packets sent by `from` whose first line starts with `prefix`, with their send instants.
    pub fn sent_by(&self, from: usize, prefix: &str) -> Vec<Duration> {
        self.packets
            .iter()
            .filter(|p| p.from == from && p.first_line().starts_with(prefix))
            .map(|p| p.sent)
            .collect()
    }
}
