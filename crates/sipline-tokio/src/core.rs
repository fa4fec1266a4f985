//! The sans-IO cores a runtime can drive: the [`Core`] trait, implemented here for the
//! transaction layer ([`Endpoint`]) and the user-agent core ([`UaCore`]), and
//! [`BoundAddrs`], what a core built after the sockets are bound learns about them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sipline_proto::{
    Endpoint, Event, Input, Limits, LocalTransport, Output, Transmit, TransportKind, UaConfig,
    UaCore, UaEvent, UaOutput,
};

/// A sans-IO protocol core the driver task runs: it takes inputs with the time they happen
/// and is drained of outputs until it names its next deadline. The driver feeds it received
/// messages, transport failures and timeouts, carries out its transmits and forwards its
/// events to the [`EventStream`](crate::EventStream).
///
/// Implemented for [`Endpoint`] (transactions only, [`Runtime`](crate::Runtime)'s default)
/// and [`UaCore`] (INVITE sessions); commands specific to a core run on it through
/// [`Handle::with`](crate::Handle::with).
pub trait Core: Send + 'static {
    /// What the core tells the application.
    type Event: Send + 'static;

    /// Feeds a received message, a transport failure or a timeout at `now`.
    fn handle_input(&mut self, now: Instant, input: Input);

    /// The next output; the driver calls it until [`CoreOutput::Timeout`].
    fn poll_output(&mut self) -> CoreOutput<Self::Event>;

    /// Live transactions, for [`Stats::transactions`](crate::Stats::transactions).
    fn transactions(&self) -> usize;

    /// The parser limits: the runtime reads and frames no message larger than
    /// `max_message_size`.
    fn limits(&self) -> Limits;
}

/// What [`Core::poll_output`] returns.
#[derive(Debug)]
pub enum CoreOutput<E> {
    /// Bytes to send on a flow.
    Transmit(Transmit),
    /// Something for the application.
    Event(E),
    /// Nothing more now: call again after an input, or at this deadline with
    /// [`Input::Timeout`].
    Timeout(Option<Instant>),
}

impl Core for Endpoint {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input) {
        Endpoint::handle_input(self, now, input);
    }

    fn poll_output(&mut self) -> CoreOutput<Event> {
        match Endpoint::poll_output(self) {
            Output::Transmit(t) => CoreOutput::Transmit(t),
            Output::Event(ev) => {
                if let Event::Dropped { flow, reason } = &ev {
                    tracing::debug!(transport = %flow.transport, remote = %flow.remote, ?reason, "message dropped");
                }
                CoreOutput::Event(ev)
            }
            Output::Timeout(at) => CoreOutput::Timeout(at),
        }
    }

    fn transactions(&self) -> usize {
        Endpoint::transactions(self)
    }

    fn limits(&self) -> Limits {
        self.config().limits
    }
}

impl Core for UaCore {
    type Event = UaEvent;

    fn handle_input(&mut self, now: Instant, input: Input) {
        UaCore::handle_input(self, now, input);
    }

    fn poll_output(&mut self) -> CoreOutput<UaEvent> {
        match UaCore::poll_output(self) {
            UaOutput::Transmit(t) => CoreOutput::Transmit(t),
            UaOutput::Event(ev) => {
                if let UaEvent::Dropped { flow, reason } = &ev {
                    tracing::debug!(transport = %flow.transport, remote = %flow.remote, ?reason, "message dropped");
                }
                CoreOutput::Event(ev)
            }
            UaOutput::Timeout(at) => CoreOutput::Timeout(at),
        }
    }

    fn transactions(&self) -> usize {
        self.endpoint().transactions()
    }

    fn limits(&self) -> Limits {
        self.config().endpoint.limits
    }
}

/// The listeners of a runtime once bound, with their real ports (also for port 0), and the
/// seed for branches and tags. [`RuntimeBuilder::start_with`](crate::RuntimeBuilder::start_with)
/// hands it to the closure that builds the core, so the core can put these addresses in its
/// Via and Contact header fields.
#[derive(Debug, Clone)]
pub struct BoundAddrs {
    pub(crate) local: Arc<[(TransportKind, SocketAddr)]>,
    pub(crate) seed: u64,
}

impl BoundAddrs {
    /// The address of the first listener of `kind`.
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.local_addrs(kind).next()
    }

    /// The addresses of every listener of `kind`, in the order they were added.
    pub fn local_addrs(&self, kind: TransportKind) -> impl Iterator<Item = SocketAddr> + '_ {
        self.local
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|&(_, a)| a)
    }

    /// Every listener, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (TransportKind, SocketAddr)> + '_ {
        self.local.iter().copied()
    }

    /// The seed for the core's branches and tags (`EndpointConfig::seed`): the one given to
    /// [`RuntimeBuilder::seed`](crate::RuntimeBuilder::seed), else a random one.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// One [`LocalTransport`] for the first listener of each transport: the Via sent-by is
    /// the bound address, the Contact `<sip:user@address>` with a `transport` parameter
    /// for transports other than UDP (RFC 3261 §18.1.1, §19.1.1; RFC 7118 §5).
    ///
    /// A listener on an unspecified address (`0.0.0.0`, `::`) is not reachable at that
    /// address: build the `LocalTransport`s yourself with an address peers can reach.
    pub fn local_transports(&self, user: &str) -> Vec<LocalTransport> {
        let mut out: Vec<LocalTransport> = Vec::new();
        for (kind, addr) in self.iter() {
            if out.iter().any(|t| t.kind == kind) {
                continue;
            }
            let contact = if kind == TransportKind::Udp {
                format!("<sip:{user}@{addr}>")
            } else {
                format!("<sip:{user}@{addr};transport={}>", kind.uri_param())
            };
            out.push(LocalTransport {
                kind,
                sent_by: addr.to_string(),
                contact,
            });
        }
        out
    }

    /// A [`UaConfig`] for `identity` (a name-addr, the From of our requests) with the
    /// defaults, [`BoundAddrs::local_transports`]`(user)` and [`BoundAddrs::seed`]: what
    /// [`RuntimeBuilder::start_with`](crate::RuntimeBuilder::start_with) needs to start a
    /// [`UaCore`] on the listeners just bound.
    pub fn ua_config(&self, identity: impl Into<String>, user: &str) -> UaConfig {
        // `UaConfig::new` wants one transport; the real list replaces it.
        let placeholder = LocalTransport {
            kind: TransportKind::Udp,
            sent_by: String::new(),
            contact: String::new(),
        };
        let mut cfg = UaConfig::new(identity, placeholder);
        cfg.transports = self.local_transports(user);
        cfg.endpoint.seed = self.seed;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> BoundAddrs {
        let local: Vec<(TransportKind, SocketAddr)> = vec![
            (TransportKind::Udp, "127.0.0.1:5062".parse().unwrap()),
            (TransportKind::Tcp, "[::1]:5063".parse().unwrap()),
            (TransportKind::Udp, "127.0.0.1:5064".parse().unwrap()),
            (TransportKind::Tls, "127.0.0.1:5065".parse().unwrap()),
        ];
        BoundAddrs {
            local: local.into(),
            seed: 7,
        }
    }

    #[test]
    fn local_transports_take_the_first_listener_of_each_kind() {
        let ts = bound().local_transports("bob");
        let got: Vec<(TransportKind, &str, &str)> = ts
            .iter()
            .map(|t| (t.kind, t.sent_by.as_str(), t.contact.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    TransportKind::Udp,
                    "127.0.0.1:5062",
                    "<sip:bob@127.0.0.1:5062>"
                ),
                (
                    TransportKind::Tcp,
                    "[::1]:5063",
                    "<sip:bob@[::1]:5063;transport=tcp>"
                ),
                (
                    TransportKind::Tls,
                    "127.0.0.1:5065",
                    "<sip:bob@127.0.0.1:5065;transport=tls>"
                ),
            ]
        );
    }

    #[test]
    fn ua_config_carries_the_transports_and_the_seed() {
        let b = bound();
        let cfg = b.ua_config("<sip:bob@example.com>", "bob");
        assert_eq!(cfg.identity, "<sip:bob@example.com>");
        assert_eq!(cfg.transports, b.local_transports("bob"));
        assert_eq!(cfg.endpoint.seed, 7);
        let none = BoundAddrs {
            local: Vec::new().into(),
            seed: 1,
        };
        assert!(none.ua_config("<sip:x@y>", "x").transports.is_empty());
        assert_eq!(b.local_addrs(TransportKind::Udp).count(), 2);
        assert_eq!(b.local_addr(TransportKind::Ws), None);
    }
}
